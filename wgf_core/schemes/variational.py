r"""The variational (primal-dual) JKO scheme of Fan, Zhang, Taghvaei, Chen (ICML 2022), for the one runner.

One JKO step (paper eq. 4-5, 9)

.. math::

    T_k = \arg\min_T \; \frac{1}{2a}\,\mathbb E_{P_k}\|X - T(X)\|^2 + \sup_h V(T, h), \qquad
    P_{k+1} = T_{k\sharp} P_k,

where :math:`V(T,h) = \mathbb E_{P_k}[A(T,h)] - \mathbb E_\Gamma[B(h)]` is the variational (f-divergence)
form of the energy (Table 1; :mod:`wgf_core.energies.variational`), so that no density of :math:`P_k` is
ever needed. Algorithm 1: outer Adam on the map :math:`T_\theta` (``outer`` = :math:`J_1` iterations),
for each of them ``inner`` = :math:`J_2` Adam steps on the dual function :math:`h_\lambda`, batches of
size ``batch`` = :math:`M`; :math:`T_\theta` is warm-started from :math:`T_{k-1}` and :math:`h_\lambda`
from the previous step. The step size :math:`a` is the runner's ``tau``.

The measure the runner carries is the sample pool of :math:`P_k`, ``Particles`` of shape
``(1, pool_size, d)``: the scheme trains :math:`T_k` on batches of it and returns the pushed pool
:math:`T_k(\text{pool})`, a sample of :math:`P_{k+1}`. With ``PoolConfig(fresh=True)`` (default) every
step after the first draws instead a fresh pool: ``pool_size`` fresh :math:`P_0` samples pushed through
all stored stages (the carried pool is then only what the runner checks and snapshots). The trained
maps are kept (:attr:`VariationalJKO.maps`): :meth:`~VariationalJKO.sample` and
:meth:`~VariationalJKO.push` push fresh samples through them, :meth:`~VariationalJKO.affine_moments`
gives the exact law of affine flows.

Interaction (:class:`~wgf_core.energies.variational.Interaction`,
:class:`~wgf_core.energies.variational.WithInteraction`): ``mode="fb"`` takes an explicit forward step
:math:`P \leftarrow (I - a\nabla W * P)_\sharp P` of the pool before the JKO step (eq. 12-13; fresh samples
follow the stored cloud path), ``mode="non_fb"`` adds :math:`\frac12\mathbb E[W(T(X) - T(Y))]` to the JKO
objective (App. B.3).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import torch
from torch import nn

from ..energies.variational import REFIT_POINTS, split_energy
from ..errors import ParameterError
from ..icnn import StronglyConvexICNN
from ..measures import Particles
from ..metrics import fit_gaussian
from ..networks import DualMLP, ExplicitMLP, ResidualMLP, explicit_supported, flatten_linears
from ..optim import Adam
from ..random import stream
from ..validation import check_choice, check_int, check_positive, check_range
from .base import Scheme

__all__ = ["MapConfig", "DualConfig", "TrainConfig", "PoolConfig", "VariationalJKO", "ExplicitAffineMap", "MODES",
           "MAPS"]

MODES = ("jko", "fb", "non_fb")
MAPS = ("residual", "linear", "icnn")


@dataclass(frozen=True)
class MapConfig:
    """The map network :math:`T_\\theta`.

    ``kind``: "residual" (:class:`~wgf_core.networks.ResidualMLP`, :math:`x + \\mathrm{MLP}(x)`),
    "linear" (the same with the identity activation: an affine map, stored as one ``(d, d)`` product)
    or "icnn" (:math:`\\nabla\\varphi`, :class:`~wgf_core.icnn.StronglyConvexICNN`); ``width``, ``depth``
    (hidden layers); ``activation`` of the residual MLP.
    """

    kind: str = "residual"
    width: int = 16
    depth: int = 5
    activation: str = "prelu"

    def __post_init__(self):
        check_choice("map_type", self.kind, MAPS)
        check_int("map_width", self.width), check_int("map_depth", self.depth)


@dataclass(frozen=True)
class DualConfig:
    """The dual network :math:`h_\\lambda` (:class:`~wgf_core.networks.DualMLP`, ``(B, d) -> (B,)``)."""

    width: int = 16
    depth: int = 4
    activation: str = "prelu"
    dropout: float = 0.0

    def __post_init__(self):
        check_int("dual_width", self.width), check_int("dual_depth", self.depth)
        check_range("dual_dropout", self.dropout, 0.0, 1.0, closed="left")  # 1 would drop every unit


@dataclass(frozen=True)
class TrainConfig:
    """Algorithm 1's optimisation: ``outer`` = :math:`J_1`, ``inner`` = :math:`J_2`, ``batch`` = :math:`M`,
    Adam learning rates ``lr_map``, ``lr_dual``; within each JKO step the map's rate decays linearly to
    ``lr_map * lr_final_factor`` (1.0 = constant, the paper's choice), the dual's to
    ``lr_dual * lr_dual_final_factor`` (default: ``lr_final_factor``)."""

    outer: int = 600
    inner: int = 3
    batch: int = 100
    lr_map: float = 1e-3
    lr_dual: float = 1e-3
    lr_final_factor: float = 1.0
    lr_dual_final_factor: Optional[float] = None

    def __post_init__(self):
        check_int("outer", self.outer), check_int("inner", self.inner), check_int("batch", self.batch)
        check_positive("lr_map", self.lr_map), check_positive("lr_dual", self.lr_dual)
        check_positive("lr_final_factor", self.lr_final_factor)
        if self.lr_dual_final_factor is not None:
            check_positive("lr_dual_final_factor", self.lr_dual_final_factor)

    @property
    def dual_final_factor(self) -> float:
        return self.lr_final_factor if self.lr_dual_final_factor is None else float(self.lr_dual_final_factor)


@dataclass(frozen=True)
class PoolConfig:
    """Samples of :math:`P_k` per step: ``size`` (the batches are drawn from them; for "fb" also the
    forward step's particle cloud); ``fresh``: a fresh pool of pushed :math:`P_0` samples every step
    (cost O(k) per step) instead of the carried one (O(1) per step, as long FB runs need)."""

    size: int = 10000
    fresh: bool = True

    def __post_init__(self):
        check_int("pool_size", self.size, minimum=2)
        if not isinstance(self.fresh, bool):
            raise ParameterError(f"parameter 'fresh' must be True or False, got {self.fresh!r}")


class ExplicitAffineMap:
    r"""An affine residual map (map kind "linear": :class:`~wgf_core.networks.ResidualMLP` with the identity
    activation) as one ``(d, d)`` product, with its parameters' gradient in closed form.

    The layers :math:`h \mapsto W_l h + b_l`, :math:`l = 1, \dots, L`, compose to :math:`x \mapsto Mx + c`, so the
    map :math:`T(x) = x + Mx + c` is ``x @ A + c`` for rows ``x`` ``(B, d)``, :math:`A = I + M^\top`. :meth:`form`
    computes :math:`[M \,|\, c] = H_L` from :math:`H_0 = [I \,|\, 0]`, :math:`H_l = W_l H_{l-1} + [0 \,|\, b_l]`;
    :meth:`backward` takes :math:`G_L = [\partial\mathcal L/\partial M \,|\, \partial\mathcal L/\partial c]` back:
    :math:`\partial\mathcal L/\partial W_l = G_l H_{l-1}^\top`, :math:`\partial\mathcal L/\partial b_l` the last
    column of :math:`G_l`, :math:`G_{l-1} = W_l^\top G_l`. Both in float64 (products of ``(width, d + 1)``
    matrices), whatever the map's dtype; a batch then costs one ``(B, d) x (d, d)`` product instead of the layers'
    ``(B, width)`` ones. The map's parameters become views of one flat buffer :attr:`flat` whose ``grad`` is
    :attr:`grad` (:func:`~wgf_core.networks.flatten_linears`); the module keeps working.

    Parameters
    ----------
    net : ResidualMLP
        With linear layers only (each with a bias).
    """

    def __init__(self, net: nn.Module):
        layers = list(net.net) if isinstance(net, ResidualMLP) else []
        if not layers or not all(type(m) is nn.Linear and m.bias is not None for m in layers):
            raise ParameterError(f"ExplicitAffineMap takes an affine ResidualMLP (map kind 'linear'), got {net}")
        self.net, self.linears, self.dim = net, layers, layers[0].in_features
        self.flat, offsets = flatten_linears(layers)
        self.grad = torch.zeros_like(self.flat)
        self._views = [(self.grad[wo:bo].view(lin.weight.shape), self.grad[bo:bo + lin.bias.numel()])
                       for (wo, bo), lin in zip(offsets, layers)]
        self.flat.requires_grad_(True)
        self.flat.grad = self.grad
        self._eye = torch.eye(self.dim, self.dim + 1, dtype=torch.float64, device=self.flat.device)
        self._saved = None

    def form(self):
        """``(A (d, d), c (d,))``, float64, with ``T(x) = x @ A + c``; keeps what :meth:`backward` needs."""
        d = self.dim
        with torch.no_grad():
            H, Hs, Ws = self._eye, [self._eye], []
            for lin in self.linears:
                W = lin.weight.double()
                H = torch.mm(W, H)
                H[:, d] += lin.bias.double()
                Hs.append(H)
                Ws.append(W)
            A = H[:, :d].t() + self._eye[:, :d]
        self._saved = (Hs, Ws)
        return A, H[:, d]

    def backward(self, grad_M: torch.Tensor, grad_c: torch.Tensor) -> None:
        r"""The parameters' gradient into :attr:`grad` from :math:`\partial\mathcal L/\partial M` ``(d, d)`` (the
        transpose of :math:`\partial\mathcal L/\partial A`) and :math:`\partial\mathcal L/\partial c` ``(d,)`` at
        the last :meth:`form`."""
        Hs, Ws = self._saved
        d = self.dim
        with torch.no_grad():
            G = torch.cat([grad_M.double(), grad_c.double()[:, None]], 1)
            for l in range(len(self.linears) - 1, -1, -1):
                gw, gb = self._views[l]
                gw.copy_(torch.mm(G, Hs[l].t()))
                gb.copy_(G[:, d])
                if l > 0:
                    G = torch.mm(Ws[l].t(), G)


class VariationalJKO(Scheme):
    r"""Primal-dual JKO step (Algorithm 1) with stored maps; a :class:`~wgf_core.schemes.Scheme`.

    Parameters
    ----------
    dim : int
        Dimension ``d``.
    sample_p0 : callable ``(n, generator) -> (n, d)``
        Sampler of :math:`P_0` (fresh pools, :meth:`sample`).
    mode : {"jko", "fb", "non_fb"}
        How an interaction energy enters ("jko": none; see the module docstring).
    map, dual, train, pool : MapConfig, DualConfig, TrainConfig, PoolConfig
    device, dtype
    generator : torch.Generator, optional
        Its first draw seeds the stream ``(draw, "schemes/variational/networks")`` of
        :func:`wgf_core.random.stream` from which the initial weights are drawn (the networks' ``generator``);
        it is then the default generator of :meth:`sample`; pass the same generator to the runner so
        that every draw of the flow comes from one stream. None: the first draw comes from torch's
        global generator (an unseeded run).
    cpu_threads : int or None
        Torch intra-op threads *during* a step on CPU (restored afterwards); the networks are tiny, and
        on a loaded 2-core machine one thread was measured 8x faster than two. None: unchanged.
    autograd : bool
        How a map iteration is differentiated. True: autograd through the map and the dual
        (:meth:`_train_torch`). False (default): where it applies, :meth:`_train_explicit`: the dual's forward
        and backward passes written out
        (:class:`~wgf_core.networks.ExplicitMLP`, PReLU included), its two batches in one pass, an affine map as
        one ``(d, d)`` product with its gradient in closed form (:class:`ExplicitAffineMap`), one flat Adam tensor
        per network; only autograd of the energy's few elementwise terms is left. It needs map kind "linear", a
        dual without dropout, mode "jko" or "fb" and a variational energy; the same mathematics in another order
        of float operations (in float64 the maps agree to rounding, ``tests/test_variational_fast.py``). Measured
        1.5x the torch path's training time on the OU page's default step (d = 2, one thread, a shared 2-core CPU;
        ``benchmarks/bench_variational.py --explicit``); elsewhere autograd.

    Notes
    -----
    ``needs``: ``"samples_dual"`` for ``mode="jko"``, ``"interaction"`` for "fb" / "non_fb" (the
    variational part is then optional: a pure interaction flow). :attr:`last_loss` is the training loss
    at the last map iteration (``+inf`` when it became non-finite, and the step then stops early);
    :attr:`history` holds one dict per step: ``k``, ``time_s`` (the whole step), ``train_s`` /
    ``train_cpu_s`` (wall / this thread's CPU time of the :math:`J_1` map iterations, the paper's
    "training time"), ``loss``, ``transport``, ``dual_value``.
    """

    name = "variational JKO"
    steps_per_iteration = 1
    #: Skip :math:`h(Z)` at the map iterations whose loss value is not read (the map's gradient does not
    #: depend on it; False evaluates it at every iteration, as before: the same maps, bit for bit, tested).
    skip_unread_dual = True
    #: Push each map iteration's batch once (its graph kept for the map's step) instead of once without a graph for
    #: the dual's steps and again for the map's (False: as before; the same maps, bit for bit, tested).
    reuse_pushed_batch = True
    #: The optimiser of the map and the dual, ``optimizer(params, lr=...)``: :class:`wgf_core.optim.Adam`,
    #: torch's Adam updates bit for bit with less Python per step (``torch.optim.Adam`` gives the same maps).
    optimizer = Adam

    def __init__(self, dim: int, sample_p0: Callable, *, mode: str = "jko", map: MapConfig = MapConfig(),
                 dual: DualConfig = DualConfig(), train: TrainConfig = TrainConfig(), pool: PoolConfig = PoolConfig(),
                 device="cpu", dtype=torch.float32, generator: Optional[torch.Generator] = None,
                 cpu_threads: Optional[int] = 1, autograd: bool = False):
        self.mode = check_choice("mode", mode, MODES)
        self.autograd = check_choice("autograd", autograd, (False, True))
        for pname, val, cls in (("map", map, MapConfig), ("dual", dual, DualConfig), ("train", train, TrainConfig),
                                ("pool", pool, PoolConfig)):
            if not isinstance(val, cls):
                raise ParameterError(f"parameter {pname!r} must be a {cls.__name__}, got {type(val).__name__}")
        self.needs = frozenset({"samples_dual"}) if self.mode == "jko" else frozenset({"interaction"})
        self.dim = check_int("dim", dim)
        self.sample_p0 = sample_p0
        self.map_cfg, self.dual_cfg, self.train, self.pool = map, dual, train, pool
        self.map_type = map.kind
        self.device, self.dtype, self.generator = torch.device(device), dtype, generator
        self.cpu_threads = None if cpu_threads is None else check_int("cpu_threads", cpu_threads)
        self.last_loss = float("nan")
        self.interaction = None
        self.maps: List[nn.Module] = []
        self.taus: List[float] = []
        self.clouds: List[Optional[List[torch.Tensor]]] = []  # FB: the forward step's cloud path
        self._affine: List[Optional[tuple]] = []  # map kind "linear": each stored map as (W, c), x @ W + c
        self.history: List[dict] = []
        self._xmap: Optional[ExplicitAffineMap] = None
        self._xdual: Optional[ExplicitMLP] = None
        # the initial weights are drawn from a stream derived from ``generator`` (one draw of it); the
        # constructors' own draws from the global generator are undone by fork_rng
        init_seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)) \
            if generator is not None else int(torch.randint(0, 2**62, (1,)))
        g_init = stream(init_seed, "schemes/variational/networks", 0)
        with torch.random.fork_rng(devices=[]):
            self._current = self._new_map(g_init)
            self.dual = DualMLP(dim, dual.width, dual.depth, dual.activation, dual.dropout,
                                generator=g_init).to(self.device, dtype)

    # -- networks ------------------------------------------------------------------------------
    def _new_map(self, generator: torch.Generator) -> nn.Module:
        if self.map_type == "icnn":
            net = StronglyConvexICNN(self.dim, width=self.map_cfg.width, depth=self.map_cfg.depth, generator=generator)
        else:
            act = "identity" if self.map_type == "linear" else self.map_cfg.activation
            net = ResidualMLP(self.dim, activation=act, width=self.map_cfg.width, depth=self.map_cfg.depth,
                              generator=generator)
        return net.to(self.device, self.dtype)

    def _explicit_configured(self) -> bool:
        """Whether the configuration allows the explicit path: map kind "linear", mode "jko" or "fb", a dual
        without dropout whose activation :class:`~wgf_core.networks.ExplicitMLP` differentiates."""
        return (self.map_type == "linear" and self.mode != "non_fb" and self.dual_cfg.dropout == 0
                and explicit_supported(self.dual.net, parametric=True))

    def _explicit_for(self, var) -> bool:
        """Whether a step with the variational energy ``var`` (None: none) takes :meth:`_train_explicit`."""
        return not self.autograd and var is not None and self._explicit_configured()

    def _schedule(self, opt_T, opt_h, j1: int) -> None:
        """The learning rates at map iteration ``j1`` (linear decay to the final factors)."""
        tr = self.train
        progress_j = j1 / max(1, tr.outer - 1)
        for opt, lr, fac in ((opt_T, tr.lr_map, tr.lr_final_factor), (opt_h, tr.lr_dual, tr.dual_final_factor)):
            if opt is not None and fac != 1.0:
                for group in opt.param_groups:
                    group["lr"] = lr * (1.0 + (fac - 1.0) * progress_j)

    @staticmethod
    def _apply_map(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net.grad_map(x) if isinstance(net, StronglyConvexICNN) else net(x)

    # -- sampling ------------------------------------------------------------------------------
    def initial(self, n: Optional[int] = None) -> Particles:
        """The first pool: ``n`` (default ``pool.size``) samples of :math:`P_0` from the scheme's generator,
        ``(1, n, d)``: the ``mu0`` of :func:`~wgf_core.runner.run` (the draw the first step trains on)."""
        return Particles(self.sample(self.pool.size if n is None else check_int("n", n), k=0)[None])

    def push(self, x: torch.Tensor, k: Optional[int] = None, start: int = 0) -> torch.Tensor:
        """Push samples of :math:`P_{start}` ``(n, d)`` through the stored stages ``start, ..., k - 1``
        (from :math:`P_0` through all of them by default); ``(n, d)``."""
        k = len(self.maps) if k is None else k
        with torch.no_grad(), self._threads():
            for i in range(start, k):
                if self.clouds[i] is not None:
                    x = self.interaction.forward_step(x, self.clouds[i], self.taus[i])
                x = self._apply_stage(i, x)
        return x

    def _apply_stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Stored map ``i`` applied to ``x`` (no gradient); an affine map as one ``(d, d)`` product."""
        if self._affine[i] is not None:
            W, c = self._affine[i]
            return torch.addmm(c, x, W)
        return self._apply_map(self.maps[i], x).detach()

    def affine_moments(self, mean0: torch.Tensor, cov0: torch.Tensor, k: Optional[int] = None):
        r"""Exact mean ``(d,)`` and covariance ``(d, d)`` of :math:`P_k` for affine maps (kind "linear"), float64.

        If :math:`P_0` has mean ``mean0`` ``(d,)`` and covariance ``cov0`` ``(d, d)``, the stored maps
        :math:`x \mapsto xW_i + c_i` give :math:`m \leftarrow mW_i + c_i`, :math:`S \leftarrow W_i^\top S W_i`
        (for a Gaussian :math:`P_0`, :math:`P_k` is exactly :math:`N(m, S)`): the law of the flow without the
        sampling error of a fit to samples.
        """
        if self.map_type != "linear":
            raise ParameterError(f"affine_moments needs map_type='linear', not {self.map_type!r}")
        k = len(self.maps) if k is None else check_int("k", k, minimum=0)
        m = torch.as_tensor(mean0, dtype=torch.float64).reshape(-1).cpu()
        S = torch.as_tensor(cov0, dtype=torch.float64).cpu()
        for W, c in self._affine[:k]:
            W64, c64 = W.double().cpu(), c.double().cpu()
            m = m @ W64 + c64
            S = W64.T @ S @ W64
        return m, 0.5 * (S + S.T)

    @staticmethod
    def affine_form(net: nn.Module, dim: int):
        r"""``(W, c)`` with ``net(x) = x @ W + c`` for an affine map ``net`` (kind "linear").

        Read off the map at 0 and the unit vectors, in float64: :math:`c = T(0)`, row ``i`` of ``W`` is
        :math:`T(e_i) - T(0)`. A stack of linear layers is one ``(d, d)`` matrix, so pushing samples
        costs ``O(d^2)`` per sample instead of the layers' ``O(d \cdot width + width^2)``.
        """
        p = next(net.parameters())
        with torch.no_grad():
            W, c = VariationalJKO.affine_form64(net, dim)   # the same float64 evaluation, without copying the network
        return W.to(p.dtype), c.to(p.dtype)

    @staticmethod
    def affine_form64(net: nn.Module, dim: int):
        r""":meth:`affine_form` in float64, without copying the network: ``(W (d, d), c (d,))``, float64.

        The network is evaluated at 0 and the unit vectors with its parameters cast to float64
        (``torch.func.functional_call``), so the training loop can read the current affine map at every
        iteration.
        """
        p = next(net.parameters())
        basis = torch.cat([torch.zeros(1, dim, dtype=torch.float64, device=p.device),
                           torch.eye(dim, dtype=torch.float64, device=p.device)])
        layers = list(net.net) if isinstance(net, ResidualMLP) else []
        if layers and all(type(m) is nn.Linear for m in layers):
            # the residual affine map's own forward (x + Linear(...Linear(x))), the same calls as
            # functional_call makes, without its parameter swapping (measured: 0.24 ms against 0.43-0.50 ms a call
            # for the OU map, 64 x 2; under 1 % of a map iteration)
            h = basis
            for lin in layers:
                h = torch.nn.functional.linear(h, lin.weight.detach().double(),
                                               None if lin.bias is None else lin.bias.detach().double())
            out = basis + h
        else:
            params = {name: t.detach().double() for name, t in net.named_parameters()}
            out = torch.func.functional_call(net, params, (basis,))
        c = out[0]
        return out[1:] - c, c

    def sample(self, n: int, k: Optional[int] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``(n, d)`` fresh samples of :math:`P_k` (``k`` = number of steps done, by default); the
        scheme's generator when ``generator`` is None."""
        g = self.generator if generator is None else generator
        x0 = self.sample_p0(n, g).to(self.device, self.dtype)
        return self.push(x0, k)

    @contextlib.contextmanager
    def _threads(self):
        """Limit torch's CPU threads to ``cpu_threads`` inside the block (restored afterwards)."""
        if self.device.type != "cpu" or self.cpu_threads is None:
            yield
            return
        old = torch.get_num_threads()
        torch.set_num_threads(self.cpu_threads)
        try:
            yield
        finally:
            torch.set_num_threads(old)

    # -- one JKO step --------------------------------------------------------------------------
    def step(self, energy, mu: Particles, tau: float, k: int, generator=None) -> Particles:
        """Train :math:`T_k` on the pool ``mu`` ``(1, n, d)`` (Algorithm 1, one outer iteration), store it and
        return the pushed pool ``(1, n, d)``; ``k`` (steps done) is the number of stored maps here."""
        var, inter = split_energy(energy)
        if self.mode == "jko" and inter is not None:
            raise ParameterError("scheme 'variational JKO' with mode='jko' takes no interaction energy: use "
                                 "mode='fb' or 'non_fb'")
        if mu.runs != 1 or mu.w is not None:
            raise ParameterError(f"the variational JKO moves one uniform sample pool, shape (1, n, d); got runs = "
                                 f"{mu.runs}{' with weights' if mu.w is not None else ''}")
        with self._threads():
            return self._step(var, inter, mu, float(tau), self.generator if generator is None else generator)

    def _step(self, var, inter, mu: Particles, a: float, g) -> Particles:
        k = len(self.maps)
        t_start = time.perf_counter()
        self.interaction = inter if inter is not None else self.interaction
        if self.pool.fresh and k > 0:
            pool = self.sample(self.pool.size, generator=g)
        else:
            pool = mu.x[0]
        cloud = None
        if self.mode == "fb":
            cloud = inter.cloud_path(pool, a)  # stored: fresh samples follow it
            pool = cloud[-1]
        T = self._current
        ref, ref_points, ref_moments = None, None, None
        if var is not None and var.refit_pushed:   # a fixed subsample, pushed by the current map
            ref_points = pool[torch.randperm(pool.shape[0], generator=g, device=self.device)[:REFIT_POINTS]]
            if self.map_type == "linear" and getattr(var, "affine_reference", None) is not None:
                # an affine map pushes the subsample's moments in closed form: no push of the subsample per iteration
                ref_moments = fit_gaussian(ref_points.double(), ddof=1)
        elif var is not None:
            ref = var.reference(pool)
        explicit = self._explicit_for(var)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t_train, c_train = time.perf_counter(), time.thread_time()
        train = self._train_explicit if explicit else self._train_torch
        loss, transport, v, finite = train(var, inter, T, pool, a, g, ref, ref_points, ref_moments)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        train_s, train_cpu_s = time.perf_counter() - t_train, time.thread_time() - c_train
        if not finite:
            self.last_loss = math.inf
            return Particles(pool[None])
        frozen = copy.deepcopy(T)
        for p in frozen.parameters():
            p.requires_grad_(False)
        self.maps.append(frozen)
        self.taus.append(a)
        self.clouds.append(cloud)
        self._affine.append(self.affine_form(frozen, self.dim) if self.map_type == "linear" else None)
        with torch.no_grad():
            new_pool = self._apply_stage(k, pool)
        info = {"k": k + 1, "time_s": time.perf_counter() - t_start, "train_s": train_s, "train_cpu_s": train_cpu_s,
                "loss": float(loss.detach()), "transport": float(transport.detach()),
                "path": "explicit" if explicit else "autograd"}
        if var is not None:
            info["dual_value"] = float(v.detach())
        self.history.append(info)
        self.last_loss = info["loss"]
        return Particles(new_pool[None])

    def _train_torch(self, var, inter, T, pool, a, g, ref, ref_points, ref_moments):
        """The map iterations of Algorithm 1 through autograd (``autograd=True``): ``(loss, transport, v, finite)``
        at the last iteration run (``v`` None without a variational energy)."""
        tr = self.train
        T_params = [p for p in T.parameters() if p.requires_grad]
        opt_T = self.optimizer(T_params, lr=tr.lr_map)
        opt_h = self.optimizer(self.dual.parameters(), lr=tr.lr_dual) if var is not None else None
        finite, v = True, None
        for j1 in range(tr.outer):
            self._schedule(opt_T, opt_h, j1)
            idx = torch.randint(0, pool.shape[0], (tr.batch,), generator=g, device=self.device)
            y = pool[idx]
            # T(y) once per map iteration, with its graph: the dual's steps read it detached (T does not change
            # before the map's step), the map's step differentiates it (the same maps, bit for bit, as pushing
            # the batch twice, tested); an ICNN's T = grad phi is pushed twice (its graph is another computation)
            reuse = self.reuse_pushed_batch and not isinstance(T, StronglyConvexICNN)
            ty = self._apply_map(T, y) if reuse else None
            if var is not None:
                if ref_moments is not None:
                    with torch.no_grad():
                        ref = var.affine_reference(ref_moments, *self.affine_form64(T, self.dim), pool.dtype)
                elif ref_points is not None:
                    with torch.no_grad():
                        ref = var.reference(self._apply_map(T, ref_points))
                z = ref.sample(tr.batch, g)
                if reuse:
                    ty_h = ty.detach()
                else:
                    with torch.no_grad():
                        ty_h = self._apply_map(T, y).detach()
                for _ in range(tr.inner):
                    v = var.value(self.dual(ty_h), self.dual(z), ty_h, ref)
                    opt_h.zero_grad(set_to_none=True)
                    (-v).backward()
                    opt_h.step()
            if not reuse:
                ty = self._apply_map(T, y)
            transport = ((y - ty) ** 2).sum(-1).mean() / (2 * a)
            loss = transport
            if var is not None:
                # h at the reference samples enters V only through the term E_Gamma[B(h(Z))], which does not
                # depend on T: the map's gradient is the same without it, so it is evaluated only where the
                # loss value is read (the finiteness checks, the last iteration), unless dropout draws from
                # the global generator in every forward pass
                if j1 % 50 == 0 or j1 == tr.outer - 1 or self.dual_cfg.dropout > 0 or not self.skip_unread_dual:
                    with torch.no_grad():
                        h_z = self.dual(z)
                else:
                    h_z = torch.zeros_like(ty[:, 0])
                v = var.value(self.dual(ty), h_z, ty, ref)
                loss = loss + var.weight * v
            if self.mode == "non_fb":
                loss = loss + inter.energy(ty)
            # the map's gradient only: the dual's weight gradients of this pass (a third of its backward) are
            # never read (the dual's own step recomputes them), so autograd.grad skips them; T's gradients are
            # the same, bit for bit, as from loss.backward() (checked: the same OU and KL records, bit for bit)
            grads = torch.autograd.grad(loss, T_params, allow_unused=True)
            for p, gp in zip(T_params, grads):
                p.grad = gp
            opt_T.step()
            if isinstance(T, StronglyConvexICNN):
                T.clamp_weights()
            if (j1 % 50 == 0 or j1 == tr.outer - 1) and not bool(torch.isfinite(loss.detach())):
                finite = False   # the runner stops the flow at this step (a non-finite training loss)
                break
        return loss, transport, v, finite

    def _train_explicit(self, var, inter, T, pool, a, g, ref, ref_points, ref_moments):
        r"""The map iterations of Algorithm 1 with the gradients written out (``autograd=False``), on the same
        draws as :meth:`_train_torch`: ``(loss, transport, v, finite)`` at the last iteration run.

        Per map iteration: the affine map's ``(A, c)`` (float64, :class:`ExplicitAffineMap`), the reference,
        ``ty = y A + c``; ``inner`` dual steps, each one forward and backward pass of the dual
        (:class:`~wgf_core.networks.ExplicitMLP`) on the batch and the reference samples stacked, the gradient in
        the dual's values from :meth:`~wgf_core.energies.variational.VariationalEnergy.dual_grads`; then the map's
        step: the dual at ``ty`` and its input gradient, autograd only through the transport cost and the energy's
        terms in ``(h(ty), ty)``, the map's gradient in closed form. :math:`h(Z)` is evaluated only where the loss
        value is read (as :attr:`skip_unread_dual`).
        """
        tr, B = self.train, self.train.batch
        if self._xmap is None or self._xmap.net is not T:
            self._xmap = ExplicitAffineMap(T)
        if self._xdual is None:
            self._xdual = ExplicitMLP(self.dual.net, parametric=True, narrow=True)
        xT, xh = self._xmap, self._xdual
        opt_T = self.optimizer([xT.flat], lr=tr.lr_map)
        opt_h = self.optimizer([xh.flat], lr=tr.lr_dual)
        finite = True
        for j1 in range(tr.outer):
            self._schedule(opt_T, opt_h, j1)
            idx = torch.randint(0, pool.shape[0], (B,), generator=g, device=self.device)
            y = pool[idx]
            A64, c64 = xT.form()
            A, c = A64.to(pool.dtype), c64.to(pool.dtype)
            if ref_moments is not None:
                ref = var.affine_reference(ref_moments, A64, c64, pool.dtype)
            elif ref_points is not None:
                ref = var.reference(torch.addmm(c, ref_points, A))
            z = ref.sample(B, g)
            ty = torch.addmm(c, y, A)
            u = torch.cat([ty, z])
            for _ in range(tr.inner):
                h = xh.forward(u)[:, 0]
                d_ty, d_z = var.dual_grads(h[:B], h[B:], ty, ref)
                xh.backward(torch.cat([d_ty, d_z]).neg_()[:, None])   # ascent on V
                opt_h.step()
            read = j1 % 50 == 0 or j1 == tr.outer - 1
            h_z = xh.forward(z)[:, 0] if read else torch.zeros_like(ty[:, 0])
            h_ty = xh.forward(ty)[:, 0]
            with torch.enable_grad():
                ty.requires_grad_(True)
                h_ty.requires_grad_(True)
                transport = ((y - ty) ** 2).sum(-1).mean() / (2 * a)
                v = var.value(h_ty, h_z, ty, ref)
                loss = transport + var.weight * v
                g_ty, g_h = torch.autograd.grad(loss, (ty, h_ty))
            G = g_ty + xh.input_grad(g_h[:, None])
            xT.backward(torch.mm(G.t(), y), G.sum(0))
            opt_T.step()
            if read and not bool(torch.isfinite(loss.detach())):
                finite = False   # the runner stops the flow at this step (a non-finite training loss)
                break
        return loss.detach(), transport.detach(), v.detach(), finite
