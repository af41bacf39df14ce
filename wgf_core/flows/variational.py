r"""Variational (primal-dual) JKO scheme of Fan, Zhang, Taghvaei, Chen (ICML 2022).

One JKO step (paper eq. 4-5, 9)

.. math::

    T_k = \arg\min_T \; \frac{1}{2a}\,\mathbb E_{P_k}\|X - T(X)\|^2 + \sup_h V(T, h), \qquad
    P_{k+1} = T_{k\sharp} P_k,

where :math:`V(T,h) = \mathbb E_{P_k}[A(T,h)] - \mathbb E_\Gamma[B(h)]` is the variational
(f-divergence) form of the energy (Table 1), so that no density of :math:`P_k` is ever needed.
Algorithm 1: outer Adam on the map :math:`T_\theta` (``outer`` = :math:`J_1` iterations), for each
of them ``inner`` = :math:`J_2` Adam steps on the dual function :math:`h_\lambda`, batches of size
``batch`` = :math:`M`; :math:`T_\theta` is warm-started from :math:`T_{k-1}` and :math:`h_\lambda`
from the previous step.

Energies (the f / f* table is implemented as ``f_kl``, ``f_entropy``, ``f_jsd`` and their ``*_conjugate``):

* :class:`KLDivergence` (Prop. 1, eq. 10): :math:`D(P\|Q)` for an unnormalised :math:`Q`,
  :math:`A = \log h(T) + \log\mu(T) - \log Q(T)`, :math:`B = h`, :math:`\Gamma = \mu_k` the Gaussian
  with the mean and covariance of :math:`P_k` (refitted each step). The formula holds for *any*
  :math:`\mu` with a density, so ``KLDivergence(..., reference="pushed")`` may instead refit
  :math:`\mu` to the pushed samples :math:`T_\sharp P_k` at every map iteration (a fixed subsample of
  the pool, pushed through the current map, detached): the dual then only has to learn
  :math:`\log(T_\sharp P_k/\mu) \approx 0` instead of :math:`\log(T_\sharp P_k/P_k)`, which a piecewise
  linear network cannot follow when :math:`T` contracts a stiff direction (measured: the OU problem in
  d = 12 and 32 diverges on such draws with ``reference="start"``). Not the paper's choice.
* :class:`GeneralizedEntropy` (Prop. 2, eq. 11): :math:`\frac1{m-1}\int P^m`,
  :math:`A = \Omega^{1-m}\frac{m}{m-1}h(T)^{m-1}`, :math:`B = \Omega^{1-m}h^m`, :math:`\Gamma` uniform
  on a box of volume :math:`\Omega` around the support of :math:`P_k` (refitted each step).
* :class:`JensenShannon` (slides): :math:`f(x) = -(x+1)\log\frac{1+x}2 + x\log x`,
  :math:`f^*(y) = -\log(2 - e^y)`, :math:`\Gamma = Q` (samples of the target).

Interaction energy :math:`\mathcal W(P) = \frac12\iint W(x-y)\,dP\,dP` (:class:`Interaction`) either
as an explicit forward step before the JKO step, :math:`P \leftarrow (I - a\nabla W * P)_\sharp P`
(``scheme="fb"``, eq. 12-13), or inside the JKO objective as :math:`\frac12\mathbb E[W(T(X) - T(Y))]`
(``scheme="non_fb"``, App. B.3). The paper writes :math:`\mathbb E_{X,Y}[W(T(X)-T(Y))]` without the
1/2 in the non-FB objective; with the 1/2 both schemes discretise the same PDE
:math:`\partial_t P = \nabla\cdot(P\,\nabla W * P) + \dots` (the gradient of
:math:`\frac12\iint W` is :math:`\nabla W * P` for even :math:`W`), which we use.

Sampling :math:`P_k`: fresh :math:`P_0` samples are pushed through the stored stages (forward step
with its stored particle cloud, then :math:`T_i`), :meth:`VariationalJKO.sample`. Each JKO step
draws a fresh pool of ``pool_size`` such samples and takes its mini-batches from it.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import torch
from torch import nn
from torch.nn import functional as F

from ..diagnostics import check_finite
from ..icnn import StronglyConvexICNN
from ..networks import DualMLP, ResidualMLP
from ..plotting import to_numpy
from ..progress import progress
from ..validation import ParameterError, check_choice, check_int, check_positive

SCHEMES = ("jko", "fb", "non_fb")
MAPS = ("residual", "linear", "icnn")
# reference="pushed": the Gaussian reference is refitted to this many pool points pushed by the current map
REFIT_POINTS = 20000


# --------------------------------------------------------------------------------------------
# f-divergence table (paper Table 1 / slides): f and its convex conjugate f*
# --------------------------------------------------------------------------------------------
def f_kl(x):
    r""":math:`f(x) = x\log x`."""
    return x * torch.log(x)


def f_kl_conjugate(y):
    r""":math:`f^*(y) = e^{y-1}`."""
    return torch.exp(y - 1)


def f_entropy(x, m: float):
    r""":math:`f(x) = (x^m - x)/(m-1)` (generalized entropy)."""
    return (x**m - x) / (m - 1)


def f_entropy_conjugate(y, m: float):
    r""":math:`f^*(y) = \big(((m-1)y + 1)/m\big)^{m/(m-1)}` for :math:`(m-1)y + 1 \ge 0`."""
    return (((m - 1) * y + 1) / m) ** (m / (m - 1))


def f_jsd(x):
    r""":math:`f(x) = -(x+1)\log\frac{1+x}{2} + x\log x` (Jensen-Shannon)."""
    return -(x + 1) * torch.log((1 + x) / 2) + x * torch.log(x)


def f_jsd_conjugate(y):
    r""":math:`f^*(y) = -\log(2 - e^y)` for :math:`y < \log 2`."""
    return -torch.log(2 - torch.exp(y))


# --------------------------------------------------------------------------------------------
# Reference distributions Gamma
# --------------------------------------------------------------------------------------------
@dataclass
class GaussianReference:
    """:math:`\\mu_k = N(m, \\Sigma)` fitted to samples of :math:`P_k` (mean ``(d,)``, cov ``(d, d)``)."""

    mean: torch.Tensor
    cov: torch.Tensor
    chol: torch.Tensor = field(init=False)

    def __post_init__(self):
        d = self.mean.shape[-1]
        jitter = 1e-6 * torch.eye(d, dtype=self.cov.dtype, device=self.cov.device) * self.cov.diagonal().mean()
        self.chol = torch.linalg.cholesky(self.cov + jitter)

    @classmethod
    def fit(cls, x: torch.Tensor) -> "GaussianReference":
        m = x.mean(0)
        xc = x - m
        return cls(m, xc.T @ xc / (x.shape[0] - 1))

    def sample(self, n: int, generator=None) -> torch.Tensor:
        z = torch.randn(n, self.mean.shape[-1], generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + z @ self.chol.T

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        d = self.mean.shape[-1]
        sol = torch.linalg.solve_triangular(self.chol, (x - self.mean).unsqueeze(-1), upper=False).squeeze(-1)
        logdet = 2 * torch.log(torch.diagonal(self.chol)).sum()
        return -0.5 * ((sol * sol).sum(-1) + logdet + d * math.log(2 * math.pi))


@dataclass
class BoxReference:
    """Uniform distribution on the box ``[low, high]`` (each ``(d,)``) of volume :math:`\\Omega`."""

    low: torch.Tensor
    high: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor, margin: float = 0.5, min_side: float = 1e-2) -> "BoxReference":
        """Bounding box of ``x`` widened by ``margin`` x its side length on each side; a side shorter than
        ``min_side`` is widened to it about its centre (a cloud collapsing to a point, as the pulses of the
        aggregation experiment can, would otherwise give a box of volume 0 and a non-finite energy)."""
        lo, hi = x.min(0).values, x.max(0).values
        w = hi - lo
        short = w < min_side
        if bool(short.any()):
            mid = 0.5 * (lo + hi)
            lo = torch.where(short, mid - 0.5 * min_side, lo)
            hi = torch.where(short, mid + 0.5 * min_side, hi)
            w = torch.clamp(w, min=min_side)
        return cls(lo - margin * w, hi + margin * w)

    @property
    def log_volume(self) -> float:
        return float(torch.log(self.high - self.low).sum())

    def sample(self, n: int, generator=None) -> torch.Tensor:
        u = torch.rand(n, self.low.shape[-1], generator=generator, dtype=self.low.dtype, device=self.low.device)
        return self.low + u * (self.high - self.low)


class SampleReference:
    """Reference given by a sampler ``(n, generator) -> (n, d)`` (e.g. the target for JSD)."""

    def __init__(self, sampler: Callable):
        self._sampler = sampler

    def sample(self, n: int, generator=None) -> torch.Tensor:
        return self._sampler(n, generator)


# --------------------------------------------------------------------------------------------
# Energies in variational form
# --------------------------------------------------------------------------------------------
class VariationalEnergy:
    r"""Base class: ``value(h_raw_ty, h_raw_z, ty, ref)`` returns :math:`V(T, h)` (a scalar)
    whose sup over ``h`` is the energy of :math:`T_\sharp P_k` (up to an additive constant).
    ``refit_pushed``: refit the reference to the pushed samples at every map iteration."""

    weight: float = 1.0
    refit_pushed: bool = False

    def reference(self, x: torch.Tensor):  # pragma: no cover - interface
        raise NotImplementedError

    def value(self, h_ty, h_z, ty, ref) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class KLDivergence(VariationalEnergy):
    r""":math:`D(P\|Q)` for :math:`Q \propto e^{\log q}` (Prop. 1, eq. 10), with ``h = exp(h_raw)``:

    .. math::

        D(P\|Q) = 1 + \sup_h \mathbb E_P\big[\log h(X) + \log\mu(X) - \log q(X)\big] - \mathbb E_\mu[h(Z)]
        \;(+\log Z_Q \text{ if } q \text{ is unnormalised}),

    optimal :math:`h = P/\mu`; :math:`\mu = \mu_k` is the Gaussian fitted to :math:`P_k`.

    Parameters
    ----------
    log_target : ``(B, d) -> (B,)`` unnormalised :math:`\log q`, differentiable.

    reference : "start" (the paper: :math:`\mu_k` fitted to :math:`P_k` once per step) or "pushed"
        (refitted to :math:`T_\sharp P_k` at every map iteration; see the module docstring).
    """

    REFERENCES = ("start", "pushed")

    def __init__(self, log_target: Callable[[torch.Tensor], torch.Tensor], weight: float = 1.0,
                 reference: str = "start"):
        self.log_target = log_target
        self.weight = check_positive("weight", weight)
        self.refit_pushed = check_choice("reference", reference, self.REFERENCES) == "pushed"

    def reference(self, x):
        return GaussianReference.fit(x.detach())

    def value(self, h_ty, h_z, ty, ref):
        return 1 + (h_ty + ref.log_prob(ty) - self.log_target(ty)).mean() - torch.exp(h_z).mean()


class GeneralizedEntropy(VariationalEnergy):
    r""":math:`\mathcal G(P) = \frac1{m-1}\int P^m` (Prop. 2, eq. 11), with ``h = softplus(h_raw)``:

    .. math::

        \mathcal G(P) = \Omega^{1-m}\sup_h \Big(\mathbb E_P\big[\tfrac{m}{m-1}h^{m-1}(X)\big]
        - \mathbb E_{U_\Omega}[h^m(Z)]\Big),

    optimal :math:`h = P\,\Omega`; :math:`U_\Omega` is uniform on a box around the support of
    :math:`P_k`, refitted every step (``margin`` x side length added on each side).
    """

    def __init__(self, m: float = 2.0, weight: float = 1.0, margin: float = 0.5):
        self.m = check_positive("m - 1", m - 1) + 1
        self.weight = check_positive("weight", weight)
        self.margin = check_positive("margin", margin, strict=False)

    def reference(self, x):
        return BoxReference.fit(x.detach(), self.margin)

    def value(self, h_ty, h_z, ty, ref):
        m = self.m
        scale = math.exp((1 - m) * ref.log_volume)
        hty, hz = F.softplus(h_ty), F.softplus(h_z)
        return scale * ((m / (m - 1)) * hty ** (m - 1)).mean() - scale * (hz**m).mean()


class JensenShannon(VariationalEnergy):
    r"""JSD as the f-divergence with :math:`f(x) = -(x+1)\log\frac{1+x}2 + x\log x` (slides):

    .. math::

        D_f(P\|Q) = \sup_g \mathbb E_P[g(X)] + \mathbb E_Q[\log(2 - e^{g(Z)})], \qquad g < \log 2,

    with ``g = log 2 - softplus(h_raw)``. This is :math:`D(P\|M) + D(Q\|M)`, :math:`M = (P+Q)/2`
    (the slides' JSD, twice the "1/2 + 1/2" convention). ``target_sampler(n, generator)`` gives Q.
    """

    def __init__(self, target_sampler: Callable, weight: float = 1.0):
        self.target_sampler = target_sampler
        self.weight = check_positive("weight", weight)

    def reference(self, x):
        return SampleReference(self.target_sampler)

    def value(self, h_ty, h_z, ty, ref):
        g_ty = math.log(2) - F.softplus(h_ty)
        g_z = math.log(2) - F.softplus(h_z)
        return g_ty.mean() + torch.log(2 - torch.exp(g_z)).mean()


class Interaction:
    r"""Interaction energy :math:`\mathcal W(P) = \frac12\iint W(x - y)\,dP(x)\,dP(y)` for an even ``W``.

    Parameters
    ----------
    potential : ``(..., d) -> (...)`` the kernel :math:`W`.
    gradient : ``(..., d) -> (..., d)`` :math:`\nabla W` (checked against autograd in the tests).
    substeps : the forward step of size :math:`a` is taken as ``substeps`` explicit Euler steps of size
        :math:`a/n`, the cloud moving with them (1 = the paper's single step, eq. 12). An explicit step
        is stable only while :math:`a\,\|\nabla^2 W * P\| < 2`; a concentrated pulse of mass :math:`M` under
        :math:`W = -e^{-|x|^2}/\pi` has :math:`\|\nabla^2 W * P\| \approx 2M/\pi`.
    """

    def __init__(self, potential: Callable, gradient: Callable, substeps: int = 1):
        self.potential = potential
        self.gradient = gradient
        self.substeps = check_int("substeps", substeps)

    def field(self, x: torch.Tensor, cloud: torch.Tensor, block: int = 2048) -> torch.Tensor:
        r""":math:`(\nabla W * P)(x) = \frac1N\sum_j \nabla W(x_i - y_j)`, ``(B, d)``, blockwise in ``x``."""
        out = []
        for i in range(0, x.shape[0], block):
            out.append(self.gradient(x[i:i + block, None, :] - cloud[None, :, :]).mean(1))
        return torch.cat(out)

    def cloud_path(self, cloud: torch.Tensor, step: float) -> List[torch.Tensor]:
        """The cloud at the start of each of the ``substeps`` substeps, then the cloud after the step
        (``substeps + 1`` tensors); the cloud moves by its own field."""
        h = step / self.substeps
        path = [cloud]
        for _ in range(self.substeps):
            cloud = cloud - h * self.field(cloud, cloud)
            path.append(cloud)
        return path

    def forward_step(self, x: torch.Tensor, cloud, step: float) -> torch.Tensor:
        r"""Explicit step :math:`x \mapsto x - a(\nabla W * P)(x)` with :math:`P` = ``cloud`` (eq. 12).

        ``cloud`` is a tensor (its path is computed) or a path from :meth:`cloud_path` (as stored by
        the FB scheme); with ``substeps = n`` the step is n substeps of size a/n along the path."""
        path = self.cloud_path(cloud, step) if torch.is_tensor(cloud) else cloud
        h = step / self.substeps
        for c in path[:self.substeps]:
            x = x - h * self.field(x, c)
        return x

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        r"""U-statistic of :math:`\frac12\mathbb E[W(X - Y)]`, :math:`X \ne Y` from the batch ``(B, d)``."""
        B = x.shape[0]
        Wm = self.potential(x[:, None, :] - x[None, :, :])
        return 0.5 * (Wm.sum() - torch.diagonal(Wm).sum()) / (B * (B - 1))


def gaussian_attraction(mass: float = 1.0, substeps: int = 1) -> Interaction:
    r""":math:`W(x) = -M e^{-|x|^2}/\pi`, :math:`\nabla W(x) = \frac{2M}{\pi} x e^{-|x|^2}` (paper Sec. 4.4).

    ``mass`` = :math:`M`: the flow of a density of mass :math:`M` written for the probability
    :math:`P/M` (the interaction then scales by :math:`M`, an entropy :math:`\int P^m` by :math:`M^{m-1}`).
    """
    M = check_positive("mass", mass)
    return Interaction(lambda z: -M * torch.exp(-(z * z).sum(-1)) / math.pi,
                       lambda z: (2 * M / math.pi) * z * torch.exp(-(z * z).sum(-1, keepdim=True)), substeps=substeps)


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------
class VariationalJKO:
    r"""Primal-dual JKO flow (Algorithm 1) with stored maps.

    Parameters
    ----------
    energy : a :class:`VariationalEnergy` (KL, generalized entropy, JSD), or ``None`` for a pure
        interaction flow.
    sample_p0 : ``(n, generator) -> (n, d)`` sampler of :math:`P_0`.
    dim : dimension ``d``. step : JKO step size ``a``.
    interaction : optional :class:`Interaction`; ``scheme`` says how it enters ("fb": forward step
        before each JKO step; "non_fb": inside the JKO objective; "jko": no interaction allowed).
    map_type : "residual" (:class:`~wgf_core.networks.ResidualMLP`), "linear" (affine residual map)
        or "icnn" (:math:`\nabla\varphi`, :class:`~wgf_core.icnn.StronglyConvexICNN`).
    outer, inner, batch : :math:`J_1, J_2, M`. lr_map, lr_dual : Adam learning rates.
    map_width, map_depth, dual_width, dual_depth, activation : network sizes.
    pool_size : fresh samples of :math:`P_k` drawn per step (batches are taken from them); for
        "fb" this pool is also the particle cloud of the forward step.
    fresh_pool : if True (default) each step's pool is ``pool_size`` fresh :math:`P_0` samples pushed
        through all stored stages (cost O(k) per step); if False the pool is carried from step to step
        (pushed through the new stage only; O(1) per step), as needed for long FB runs. :meth:`sample`
        always pushes fresh samples.
    lr_final_factor : the map's learning rate decays linearly within each JKO step from ``lr_map`` to
        ``lr_map * lr_final_factor`` (1.0 = constant, the paper's choice).
    lr_dual_final_factor : the same for the dual's learning rate (default: ``lr_final_factor``).
    cpu_threads : torch intra-op threads used *during* a step on CPU (restored afterwards); the
        networks are tiny, and on a loaded 2-core machine one thread was measured 8x faster than two.
        ``None`` leaves the setting alone.
    """

    def __init__(self, energy: Optional[VariationalEnergy], sample_p0: Callable, dim: int, step: float, *,
                 interaction: Optional[Interaction] = None, scheme: str = "jko", map_type: str = "residual",
                 outer: int = 600, inner: int = 3, batch: int = 100, lr_map: float = 1e-3, lr_dual: float = 1e-3,
                 map_width: int = 16, map_depth: int = 5, dual_width: int = 16, dual_depth: int = 4,
                 activation: str = "prelu", dual_dropout: float = 0.0, pool_size: int = 10000,
                 device="cpu", dtype=torch.float32, generator: Optional[torch.Generator] = None,
                 cpu_threads: Optional[int] = 1, fresh_pool: bool = True, lr_final_factor: float = 1.0,
                 lr_dual_final_factor: Optional[float] = None):
        self.scheme = check_choice("scheme", scheme, SCHEMES)
        self.map_type = check_choice("map_type", map_type, MAPS)
        if scheme in ("fb", "non_fb") and interaction is None:
            raise ParameterError(f"parameter 'scheme' = {scheme!r} needs an interaction energy")
        if scheme == "jko" and interaction is not None:
            raise ParameterError("parameter 'scheme' = 'jko' takes no interaction: use 'fb' or 'non_fb'")
        if energy is None and interaction is None:
            raise ParameterError("parameter 'energy' = None needs an interaction energy")
        self.energy, self.interaction, self.sample_p0 = energy, interaction, sample_p0
        self.dim = check_int("dim", dim)
        self.step_size = check_positive("step", step)
        self.outer, self.inner, self.batch = check_int("outer", outer), check_int("inner", inner), check_int("batch", batch)
        self.pool_size = check_int("pool_size", pool_size, minimum=2)
        self.lr_map, self.lr_dual = check_positive("lr_map", lr_map), check_positive("lr_dual", lr_dual)
        self.device, self.dtype, self.generator = torch.device(device), dtype, generator
        self.fresh_pool = bool(fresh_pool)
        self.lr_final_factor = check_positive("lr_final_factor", lr_final_factor)
        self.lr_dual_final_factor = self.lr_final_factor if lr_dual_final_factor is None else \
            check_positive("lr_dual_final_factor", lr_dual_final_factor)
        self._pool: Optional[torch.Tensor] = None
        self.cpu_threads = None if cpu_threads is None else check_int("cpu_threads", cpu_threads)
        self._map_kw = dict(width=check_int("map_width", map_width), depth=check_int("map_depth", map_depth))
        self._activation = activation
        self.maps: List[nn.Module] = []
        self.clouds: List[Optional[List[torch.Tensor]]] = []  # FB: the forward step's cloud path
        self._affine: List[Optional[tuple]] = []  # map_type "linear": each stored map as (W, c), x @ W + c
        self.history: List[dict] = []
        # network initialisation is seeded from ``generator`` without touching the global RNG
        init_seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=self.device)) if generator is not None \
            else int(torch.randint(0, 2**62, (1,)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self._current = self._new_map()
            self.dual = DualMLP(dim, check_int("dual_width", dual_width), check_int("dual_depth", dual_depth),
                                activation, dual_dropout).to(self.device, dtype) if energy is not None else None

    # -- networks ------------------------------------------------------------------------------
    def _new_map(self) -> nn.Module:
        if self.map_type == "icnn":
            net = StronglyConvexICNN(self.dim, **self._map_kw)
        else:
            act = "identity" if self.map_type == "linear" else self._activation
            net = ResidualMLP(self.dim, activation=act, **self._map_kw)
        return net.to(self.device, self.dtype)

    def _apply_map(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net.grad_map(x) if isinstance(net, StronglyConvexICNN) else net(x)

    # -- sampling ------------------------------------------------------------------------------
    @property
    def particles(self) -> Optional[torch.Tensor]:
        """The carried particle pool ``(pool_size, d)`` of :math:`P_k` when ``fresh_pool=False`` (else None)."""
        return self._pool

    def push(self, x: torch.Tensor, k: Optional[int] = None, start: int = 0) -> torch.Tensor:
        """Push samples of :math:`P_{start}` ``(n, d)`` through the stored stages ``start, ..., k - 1``
        (from :math:`P_0` through all of them by default)."""
        k = len(self.maps) if k is None else k
        with torch.no_grad(), self._threads():
            for i in range(start, k):
                if self.clouds[i] is not None:
                    x = self.interaction.forward_step(x, self.clouds[i], self.step_size)
                x = self._apply_stage(i, x)
        return x

    def _apply_stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Stored map ``i`` applied to ``x`` (no gradient); an affine map as one ``(d, d)`` product."""
        if self._affine[i] is not None:
            W, c = self._affine[i]
            return torch.addmm(c, x, W)
        return self._apply_map(self.maps[i], x).detach()

    def affine_moments(self, mean0: torch.Tensor, cov0: torch.Tensor, k: Optional[int] = None):
        r"""Exact mean and covariance of :math:`P_k` for affine maps (``map_type="linear"``), float64.

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
        r"""``(W, c)`` with ``net(x) = x @ W + c`` for an affine map ``net`` (``map_type="linear"``).

        Read off the map at 0 and the unit vectors, in float64: :math:`c = T(0)`, row ``i`` of ``W`` is
        :math:`T(e_i) - T(0)`. A stack of linear layers is one ``(d, d)`` matrix, so pushing samples
        costs ``O(d^2)`` per sample instead of the layers' ``O(d \cdot width + width^2)``.
        """
        p = next(net.parameters())
        with torch.no_grad():
            net64 = copy.deepcopy(net).to(torch.float64)
            basis = torch.cat([torch.zeros(1, dim, dtype=torch.float64, device=p.device),
                               torch.eye(dim, dtype=torch.float64, device=p.device)])
            out = net64(basis)
        c = out[0]
        return (out[1:] - c).to(p.dtype), c.to(p.dtype)

    def sample(self, n: int, k: Optional[int] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``(n, d)`` fresh samples of :math:`P_k` (``k`` = number of steps done, by default)."""
        g = self.generator if generator is None else generator
        x0 = self.sample_p0(n, g).to(self.device, self.dtype)
        return self.push(x0, k)

    # -- one JKO step --------------------------------------------------------------------------
    def step(self) -> dict:
        """Train :math:`T_{k}` (Algorithm 1, one outer iteration over ``k``) and store it; returns diagnostics.

        The diagnostics: ``k``; ``time_s`` (wall time of the whole step: pool, forward step, reference,
        training, pool push); ``train_s`` and ``train_cpu_s``, the wall and CPU (this thread's) time of the
        training loop alone (the :math:`J_1` map iterations, the paper's "training time"; the device is
        synchronised around it on a GPU, where the CPU time means nothing); ``loss``, ``transport`` and
        ``dual_value`` at the last iteration. Wall-clock numbers vary from run to run.
        """
        with self._threads():
            return self._step()

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

    def _step(self) -> dict:
        k = len(self.maps)
        t_start = time.perf_counter()
        g = self.generator
        if self.fresh_pool or self._pool is None:
            pool = self.sample(self.pool_size)
        else:
            pool = self._pool
        cloud = None
        if self.scheme == "fb":
            cloud = self.interaction.cloud_path(pool, self.step_size)  # stored: fresh samples follow it
            pool = cloud[-1]
        T = self._current
        ref, ref_points = None, None
        if self.energy is not None and self.energy.refit_pushed:   # a fixed subsample, pushed by the current map
            ref_points = pool[torch.randperm(pool.shape[0], generator=g, device=self.device)[:REFIT_POINTS]]
        elif self.energy is not None:
            ref = self.energy.reference(pool)
        opt_T = torch.optim.Adam(T.parameters(), lr=self.lr_map, foreach=True)
        opt_h = torch.optim.Adam(self.dual.parameters(), lr=self.lr_dual, foreach=True) if self.dual is not None else None
        a = self.step_size
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t_train, c_train = time.perf_counter(), time.thread_time()
        for j1 in range(self.outer):
            progress_j = j1 / max(1, self.outer - 1)
            for opt, lr, fac in ((opt_T, self.lr_map, self.lr_final_factor),
                                 (opt_h, self.lr_dual, self.lr_dual_final_factor)):
                if opt is not None and fac != 1.0:
                    for group in opt.param_groups:
                        group["lr"] = lr * (1.0 + (fac - 1.0) * progress_j)
            idx = torch.randint(0, pool.shape[0], (self.batch,), generator=g, device=self.device)
            y = pool[idx]
            if self.energy is not None:
                if ref_points is not None:
                    with torch.no_grad():
                        ref = self.energy.reference(self._apply_map(T, ref_points))
                z = ref.sample(self.batch, g)
                with torch.no_grad():
                    ty = self._apply_map(T, y).detach()
                for _ in range(self.inner):
                    v = self.energy.value(self.dual(ty), self.dual(z), ty, ref)
                    opt_h.zero_grad(set_to_none=True)
                    (-v).backward()
                    opt_h.step()
            ty = self._apply_map(T, y)
            transport = ((y - ty) ** 2).sum(-1).mean() / (2 * a)
            loss = transport
            if self.energy is not None:
                with torch.no_grad():
                    h_z = self.dual(z)
                v = self.energy.value(self.dual(ty), h_z, ty, ref)
                loss = loss + self.energy.weight * v
            if self.scheme == "non_fb":
                loss = loss + self.interaction.energy(ty)
            opt_T.zero_grad(set_to_none=True)
            if self.dual is not None:
                self.dual.zero_grad(set_to_none=True)
            loss.backward()
            opt_T.step()
            if isinstance(T, StronglyConvexICNN):
                T.clamp_weights()
            if j1 % 50 == 0 or j1 == self.outer - 1:
                check_finite(k, loss=loss.detach())
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        train_s, train_cpu_s = time.perf_counter() - t_train, time.thread_time() - c_train
        frozen = copy.deepcopy(T)
        for p in frozen.parameters():
            p.requires_grad_(False)
        self.maps.append(frozen)
        self.clouds.append(cloud)
        self._affine.append(self.affine_form(frozen, self.dim) if self.map_type == "linear" else None)
        if not self.fresh_pool:
            with torch.no_grad():
                self._pool = self._apply_stage(k, pool)
        info = {"k": k + 1, "time_s": time.perf_counter() - t_start, "train_s": train_s, "train_cpu_s": train_cpu_s,
                "loss": float(loss.detach()),
                "transport": float(transport.detach())}
        if self.energy is not None:
            info["dual_value"] = float(v.detach())
        self.history.append(info)
        return info

    def run(self, n_steps: int, *, callback: Optional[Callable[["VariationalJKO", dict], None]] = None,
            desc: str = "JKO steps") -> List[dict]:
        """Do ``n_steps`` JKO steps; ``callback(flow, info)`` after each."""
        out = []
        for _ in progress(range(check_int("n_steps", n_steps, minimum=0)), total=n_steps, desc=desc):
            info = self.step()
            out.append(info)
            if callback is not None:
                callback(self, info)
        return out


def pulse_timeline(modes, pulses: int = 4) -> dict:
    """Steps of a mode-count series ``modes[k - 1]`` = modes of :math:`P_k`, ``k = 1..K``.

    Returns ``first`` (first k with ``pulses`` modes), ``last`` (last such k) and ``one_from`` (the k
    from which the count is 1 up to K), each ``None`` when it does not occur.
    """
    import numpy as np

    m = np.asarray(modes)
    hits = np.flatnonzero(m == pulses)
    not_one = np.flatnonzero(m != 1)
    one_from = None
    if len(m) and m[-1] == 1:
        one_from = int(not_one[-1]) + 2 if len(not_one) else 1
    return {"first": int(hits[0]) + 1 if len(hits) else None, "last": int(hits[-1]) + 1 if len(hits) else None,
            "one_from": one_from}


def quadrant_spread(x, weights=None) -> float:
    r"""Width of four pulses centred one per quadrant: the mass-weighted mean over the quadrants of
    :math:`\big(\mathbb E_q|X - \mathbb E_q X|^2\big)^{1/2}`, ``E_q`` the (weighted) mean over the points of
    quadrant ``q`` (a point on an axis counts to the positive side).

    ``x`` is ``(n, 2)`` (tensor or array); ``weights`` ``(n,)`` as in :func:`count_density_modes`. For a
    symmetric four-pulse state this is the pulses' RMS radius; for one pulse at the origin, its RMS radius
    restricted to each quadrant.
    """
    import numpy as np

    x = to_numpy(x)
    w = np.ones(len(x)) if weights is None else to_numpy(weights)
    q = (x[:, 0] >= 0).astype(int) + 2 * (x[:, 1] >= 0).astype(int)
    total, acc = 0.0, 0.0
    for i in range(4):
        sel = (q == i) & (w > 0)
        wq = w[sel]
        if wq.sum() <= 0:
            continue
        mu = (wq[:, None] * x[sel]).sum(0) / wq.sum()
        acc += wq.sum() * math.sqrt((wq * ((x[sel] - mu) ** 2).sum(1)).sum() / wq.sum())
        total += wq.sum()
    return acc / total


def count_density_modes(x, *, weights=None, bins: int = 48, extent: float = 4.0, smooth: float = 1.5,
                        contrast: float = 3.0, relative: float = 0.2) -> int:
    """Number of concentrated modes ("pulses") of a 2-D sample cloud ``(n, 2)``.

    The histogram on ``[-extent, extent]^2`` is smoothed by a Gaussian filter of ``smooth`` bins; the
    modes are the connected regions where it exceeds both ``contrast`` x the mean of the occupied
    smoothed bins and ``relative`` x its maximum. A flat (e.g. uniform) cloud has 0 modes, four
    separated pulses have 4, and a flat-topped pulse counts once (its plateau is one region, however
    rippled). ``x`` is a tensor or array; ``weights`` ``(n,)`` weighs the points (e.g. the cell centres
    of a grid density with weights density x cell area, so a grid solution is counted like a sample
    cloud; use cells that tile the bins, else the histogram aliases).
    """
    import numpy as np
    from scipy import ndimage

    x = to_numpy(x)
    w = None if weights is None else to_numpy(weights)
    h, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=bins, range=[[-extent, extent], [-extent, extent]], weights=w)
    hs = ndimage.gaussian_filter(h, smooth)
    occupied = hs[hs > 1e-3 * hs.max()]
    level = max(contrast * occupied.mean(), relative * hs.max())
    return int(ndimage.label(hs > level)[1])
