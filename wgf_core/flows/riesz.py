r"""Three schemes for Wasserstein flows of Riesz-kernel energies, behind one interface.

Altekrüger, Hertrich, Steidl, "Neural Wasserstein gradient flows for discrepancies with Riesz
kernels", ICML 2023 (arXiv:2301.11624), sections 3 (neural backward scheme), 5 (neural forward
scheme) and 6. Energies: :mod:`wgf_core.riesz` (the interaction energy :math:`\mathcal E_K` when
there is no target, else :math:`\mathcal F_\nu = \tfrac12\mathrm{MMD}_K^2(\cdot,\nu)`).

Each scheme maps the particles ``x`` (N, d) of :math:`\mu_n = \frac1N\sum_i\delta_{x_i}` to those of
:math:`\mu_{n+1}` with ``scheme.step(x, tau)``:

* :class:`ParticleFlow` -- explicit Euler :math:`x_i \leftarrow x_i - \tau\nabla\Phi(x_i)` with the
  one-sided gradient 0 between coincident particles (:func:`wgf_core.riesz.riesz_gradient`).
  Coincident particles therefore never separate by themselves, while the exact flow spreads a
  Dirac at once. As in the authors' scripts, a Dirac start is given to the particle flow as
  :func:`wgf_core.riesz.jittered_diracs` (the Diracs plus a uniform 1e-9 jitter, float64): the
  first Euler step then spreads each Dirac over a region of size :math:`\tau`, shaped by the
  scheme itself. (``split_diracs_first=True`` instead places every group of coincident particles
  on the exact short-time profile at the first step, :func:`wgf_core.riesz.split_diracs`; that
  start already *is* the exact solution of the interaction energy at :math:`t = \tau`, so no
  claim about the scheme is decided from it at r = 1.) For :math:`r \ne 1` the jittered start does
  not work: the one-sided gradient :math:`r|x|^{r-1}` at a 1e-9 separation is about 3e4 at
  r = 0.5 (the first step explodes) and 3e-5 at r = 1.5 (the Dirac barely moves), so there the
  split start (the exact :math:`\rho_\tau` for that r) is the way to leave a Dirac. Explicit Euler
  follows the self-similar flow exactly only at r = 1 (its radius is linear in t); at r = 1.5 its
  first-order error is about 12 % at t = 1.2 with :math:`\tau` = 0.05 and 1.3 % with 0.0025 (tested).
* :class:`NeuralBackward` -- a generative Markov kernel :math:`T_\theta(x, z) = x + g_\theta(x, z)`,
  :math:`z\sim\mathcal N(0, I_{d_z})`, trained at every step on the JKO objective (paper section 3)

  .. math::

      \mathcal L(\theta) = \frac{1}{2\tau}\,\mathbb E_{x\sim\mu_n, z}|x - T_\theta(x, z)|^2
      + \mathcal F\big(T_{\theta\#}(\mu_n\otimes\mathcal N(0, I))\big),

  estimated on a minibatch of particles (and of the target), warm-started from the previous
  step's network; then :math:`x_i \leftarrow T_\theta(x_i, z_i)` with fresh :math:`z_i`.
  :math:`\mathcal F` is back-propagated with the one-sided gradient
  (:class:`wgf_core.riesz.DifferentiableRieszEnergy`).
  Options beyond the paper (off by default): ``estimator="svrg"`` estimates the gradient of the
  same objective with a full-gradient control variate (unbiased, far less noisy than a batch of
  the target), and ``fourier_features`` feeds :math:`\sin/\cos(2\pi Bx)` to the network so it can
  represent displacement fields that vary on the scale of the particle spacing.
* :class:`NeuralForward` -- a network :math:`v_\theta(x, z)` for the disintegration of the
  steepest-descent velocity plan. Normalised loss (the slope: the most negative one-sided
  directional derivative per unit :math:`L^2(\mu)` norm)

  .. math::

      \mathcal L(\theta) = \frac{D_{v_\theta}\mathcal F(\mu_n)}{\|v_\theta\|_{L^2}},\qquad
      \|v\|_{L^2}^2 = \mathbb E|v_\theta(x, z)|^2,

  with the exact one-sided derivative (:func:`wgf_core.riesz.riesz_directional_derivative`,
  which includes the Dirac-splitting term :math:`-\tfrac12\sum_{x_i=x_j}|v_i - v_j|/N^2`),
  and the normalised step :math:`x_i \leftarrow x_i + \tau\,|\mathcal L|\, v_i / \|v\|_{L^2}`
  (speed = slope :math:`|\partial\mathcal F|(\mu_n)`, direction = the learned unit direction).
  For smooth energies this is the explicit Euler step :math:`-\tau\nabla\Phi`. (Our reading of
  the paper's "normalised" forward scheme; its Theorem on the interaction energy is checked in
  the tests: from :math:`\delta_0` the optimal plan is :math:`\rho_1` and the step lands on
  :math:`\rho_\tau`.)

:func:`run_riesz_flow` is the driver for any scheme: steps, energy/MMD logging, snapshots, NaN
checks (:func:`wgf_core.diagnostics.check_finite`) and a progress bar.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from torch import nn

from ..diagnostics import check_finite
from ..networks import mlp
from ..progress import progress
from ..riesz import (
    DifferentiableRieszEnergy,
    directional_derivative_parts,
    interaction_energy,
    riesz_directional_derivative,
    riesz_energy,
    riesz_gradient,
    riesz_mmd2,
    split_diracs,
)
from ..validation import ParameterError, check_choice, check_int, check_positive, check_range

__all__ = ["RieszProblem", "ParticleFlow", "NeuralBackward", "NeuralForward", "make_scheme", "SCHEMES", "run_schemes",
           "RieszFlowResult", "run_riesz_flow", "paper_mnist_tau", "paper_mnist_taus", "scheme_notes"]

SCHEMES = ("particle", "neural_backward", "neural_forward")


@dataclass
class RieszProblem:
    r"""What is minimised: :math:`\mathcal E_K` (``target=None``) or :math:`\tfrac12\mathrm{MMD}_K^2(\cdot,\nu)`.

    target : Tensor (M, d) or None; r : Riesz exponent in (0, 2) (1 = energy distance);
    block_size : row block of the kernel sums (None: automatic); backend : "torch" or "keops".
    """

    target: Optional[torch.Tensor] = None
    r: float = 1.0
    block_size: Optional[int] = None
    backend: str = "torch"
    _target_energy: Optional[torch.Tensor] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.r = check_range("r", self.r, 0.0, 2.0)
        check_choice("backend", self.backend, ("torch", "keops"))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        if self.target is None:
            return riesz_energy(x, None, self.r, block_size=self.block_size)
        return 0.5 * self.mmd2(x)  # riesz_energy's formula, with the target's self term computed once

    def mmd2(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        r""":math:`\mathrm{MMD}_K^2(\mu,\nu)` (:func:`riesz_mmd2`), None without target."""
        if self.target is None:
            return None
        if self._target_energy is None:  # E_K(nu), computed once per problem
            self._target_energy = interaction_energy(self.target, self.r, block_size=self.block_size)
        return riesz_mmd2(x, self.target, self.r, block_size=self.block_size, target_energy=self._target_energy)

    def mmd(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        r""":math:`\mathrm{MMD}_K(\mu,\nu)` (the square root of :func:`riesz_mmd2`), None without target."""
        m2 = self.mmd2(x)
        return None if m2 is None else m2.sqrt()

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        return riesz_gradient(x, self.target, self.r, block_size=self.block_size, backend=self.backend)


def _init_(net: nn.Module, generator: Optional[torch.Generator], scale_last: float = 1.0) -> nn.Module:
    """Seeded re-initialisation of every Linear layer (PyTorch's default uniform law), last layer scaled."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for i, lin in enumerate(linears):
            bound = 1.0 / math.sqrt(lin.in_features)
            s = scale_last if i == len(linears) - 1 else 1.0
            lin.weight.uniform_(-bound, bound, generator=generator).mul_(s)
            lin.bias.uniform_(-bound, bound, generator=generator).mul_(s)
    return net


class _LatentNet(nn.Module):
    r"""``(x, z) -> mlp([x, z])`` with z of ``latent_dim`` standard normal coordinates.

    With ``fourier_features = m > 0`` the input also holds :math:`\sin(2\pi Bx), \cos(2\pi Bx)`
    for a fixed random :math:`B \in \mathbb R^{m\times d}`, :math:`B_{ij}\sim\mathcal N(0, s^2)`,
    ``s = fourier_scale`` (Tancik et al., NeurIPS 2020): an MLP learns functions of x that vary on
    the scale :math:`1/s` far faster with these features (plain MLPs learn high frequencies last).
    """

    def __init__(self, dim, latent_dim, width, depth, activation, fourier_features=0, fourier_scale=10.0,
                 generator=None):
        super().__init__()
        self.latent_dim = latent_dim
        B = torch.zeros(0, dim)
        if fourier_features:  # drawn only when asked, so the generator's stream is otherwise unchanged
            B = torch.randn(fourier_features, dim, generator=generator,
                            device=generator.device if generator is not None else None).cpu()
        self.register_buffer("B", (2 * math.pi * fourier_scale) * B)
        self.net = mlp(dim + 2 * fourier_features + latent_dim, dim, width=width, depth=depth, activation=activation)

    def forward(self, x, z):
        if self.B.shape[0] == 0:
            return self.net(torch.cat([x, z], -1))
        p = x @ self.B.T
        return self.net(torch.cat([x, torch.sin(p), torch.cos(p), z], -1))


class ParticleFlow:
    """Explicit Euler particle flow with one-sided gradients (see the module docstring)."""

    name = "particle"

    def __init__(self, problem: RieszProblem, *, split_diracs_first: bool = False,
                 generator: Optional[torch.Generator] = None):
        self.problem, self.split, self.generator, self._first = problem, split_diracs_first, generator, True

    def step(self, x: torch.Tensor, tau: float) -> torch.Tensor:
        g = self.problem.gradient(x)
        if self._first and self.split:
            x = split_diracs(x, tau, r=self.problem.r, generator=self.generator)
        self._first = False
        return x - tau * g


class _NeuralScheme:
    def __init__(self, problem: RieszProblem, dim: int, *, latent_dim: int = 2, width: int = 64, depth: int = 3,
                 activation: str = "relu", iters: int = 100, first_iters: Optional[int] = None, lr: float = 1e-3,
                 batch_size: Optional[int] = None, fourier_features: int = 0, fourier_scale: float = 10.0,
                 standardize: bool = False, generator: Optional[torch.Generator] = None, device="cpu",
                 dtype=torch.float32):
        self.problem = problem
        self.standardize = check_choice("standardize", standardize, (False, True))
        self._centre, self._scale = None, None
        self.dim = check_int("dim", dim)
        self.latent_dim = check_int("latent_dim", latent_dim)
        self.iters = check_int("iters", iters)
        self.first_iters = check_int("first_iters", first_iters if first_iters is not None else iters)
        self.lr = check_positive("lr", lr)
        self.batch_size = None if batch_size is None else check_int("batch_size", batch_size)
        self.generator = generator
        ff = check_int("fourier_features", fourier_features, minimum=0)
        self.net = _init_(_LatentNet(dim, latent_dim, width, depth, activation, ff,
                                     check_positive("fourier_scale", fourier_scale), generator), generator,
                          scale_last=self._last_scale).to(device=device, dtype=dtype)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        self._steps = 0
        self.last_loss = float("nan")

    _last_scale = 1.0

    def _frame(self, x: torch.Tensor) -> None:
        r"""Fix this step's frame: with ``standardize``, the centre :math:`m` and the scale
        :math:`s = (\frac1{Nd}\sum_i |x_i - m|^2)^{1/2}` of the particles at the start of the step."""
        if not self.standardize:
            self._centre, self._scale = None, None
            return
        with torch.no_grad():
            m = x.mean(0)
            sc = ((x - m) ** 2).mean().sqrt()
        if not torch.isfinite(sc) or float(sc) <= 0.0:
            raise ParameterError(f"standardize=True needs particles with a positive spread, got scale {float(sc):g} "
                                 "(start from a spread-out measure, e.g. the exact first step, not a Dirac)")
        self._centre, self._scale = m, sc

    def _g(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        r"""The network's output at particles ``x`` (B, d) and latents ``z`` (B, d_z).

        With ``standardize``, the network sees the particles in the frame of the step,
        :math:`g(x, z) = s\,\mathrm{net}((x - m)/s, z)`: a measure that shrinks or grows by a factor
        (the self-similar flows of the Riesz interaction energy at r != 1 spread as
        :math:`t^{1/(2-r)}`, from radius 1e-3 to 1) looks the same to the network, whose
        initialisation and learning rate are tuned for inputs and outputs of order one.
        """
        if self._scale is None:
            return self.net(x, z)
        return self._scale * self.net((x - self._centre) / self._scale, z)

    def _z(self, n, like):
        return torch.randn(n, self.latent_dim, generator=self.generator, device=like.device, dtype=like.dtype)

    def _batch(self, t: torch.Tensor) -> torch.Tensor:
        if self.batch_size is None or t.shape[0] <= self.batch_size:
            return t
        idx = torch.randperm(t.shape[0], generator=self.generator, device=t.device)[: self.batch_size]
        return t[idx]

    def _n_iters(self):
        return self.first_iters if self._steps == 0 else self.iters


class NeuralBackward(_NeuralScheme):
    r"""Neural backward (JKO) scheme with a generative residual network :math:`T(x,z) = x + g(x,z)`.

    Extra parameters
    ----------------
    estimator : "minibatch" (default) or "svrg" -- how the gradient of :math:`\mathcal F` in the
        loss is estimated on a batch (see :meth:`step`).
    refresh : with ``estimator="svrg"``, iterations between two full-gradient snapshots (default:
        one snapshot per step, at its start).
    """

    name = "neural_backward"
    _last_scale = 0.1

    def __init__(self, *args, estimator: str = "minibatch", refresh: Optional[int] = None, **kw):
        super().__init__(*args, **kw)
        self.estimator = check_choice("estimator", estimator, ("minibatch", "svrg"))
        self.refresh = None if refresh is None else check_int("refresh", refresh)

    def step(self, x: torch.Tensor, tau: float) -> torch.Tensor:
        r"""Train the network on the JKO objective of this step, then move every particle by it.

        ``estimator="minibatch"``: the loss is the objective with :math:`\mathcal F` evaluated on a
        batch of pushed particles and a batch of the target (``batch_size`` each), as in the paper.

        ``estimator="svrg"``: the same objective, its gradient estimated with a control variate
        (stochastic variance-reduced gradient, Johnson & Zhang 2013). Each particle keeps one
        latent :math:`z_i` for the whole step. At a snapshot :math:`\tilde y = T_{\tilde\theta}(x, z)`
        the exact Wasserstein gradient :math:`\nabla\Phi(\tilde y_i)` is computed for all particles;
        a batch :math:`b` (rows = columns, and a target batch :math:`c`) then uses

        .. math::

            \hat g_i = \nabla\Phi(\tilde y_i) + \hat\nabla\Phi_b(y_i) - \hat\nabla\Phi_b(\tilde y_i),
            \qquad \hat\nabla\Phi_b(y_i) = \frac{1}{|b|-1}\sum_{j\in b}\nabla_1K(y_i, y_j)
            - \frac1{|c|}\sum_{j\in c}\nabla_1K(y_i, t_j),

        and the surrogate :math:`\frac1{|b|}\sum_{i\in b}\big(\frac{|y_i - x_i|^2}{2\tau}
        + \hat g_i\cdot y_i\big)` (:math:`\hat g` detached), whose parameter gradient is an
        unbiased estimate of the full objective's (:math:`\partial\mathcal F/\partial y_i =
        \nabla\Phi(y_i)/N`). Its variance vanishes as :math:`y \to \tilde y`, so fine-scale
        structure of :math:`\nabla\Phi` (which a batch of a few hundred points cannot resolve)
        reaches the network. Cost: one full gradient per snapshot plus twice the batch kernel sums.
        """
        self._frame(x)
        if self.estimator == "svrg":
            return self._step_svrg(x, tau)
        target = self.problem.target
        for _ in range(self._n_iters()):
            xb = self._batch(x)
            tb = None if target is None else self._batch(target)
            y = xb + self._g(xb, self._z(xb.shape[0], xb))
            loss = ((y - xb) ** 2).sum(-1).mean() / (2 * tau) + DifferentiableRieszEnergy.apply(y, tb, self.problem.r)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        self.last_loss = float(loss.detach())
        self._steps += 1
        with torch.no_grad():
            return x + self._g(x, self._z(x.shape[0], x))

    def svrg_surrogate(self, x, z, idx, tb, snap, snap_grad, tau):
        """The surrogate loss of the "svrg" estimator on the batch ``idx`` (rows of ``x`` (N, d), latents
        ``z`` (N, d_z)) with target batch ``tb`` (C, d) or None, snapshot positions ``snap`` (N, d) and
        their exact gradients ``snap_grad`` (N, d) (see :meth:`step`)."""
        r = self.problem.r
        xb = x[idx]
        y = xb + self._g(xb, z[idx])
        with torch.no_grad():
            g = (snap_grad[idx] + riesz_gradient(y, tb, r, unbiased=True)
                 - riesz_gradient(snap[idx], tb, r, unbiased=True))
        return ((y - xb) ** 2).sum(-1).mean() / (2 * tau) + (g * y).sum(-1).mean()

    def _step_svrg(self, x: torch.Tensor, tau: float) -> torch.Tensor:
        target = self.problem.target
        n = x.shape[0]
        z = self._z(n, x)
        n_iters = self._n_iters()
        refresh = self.refresh or n_iters
        bsz = min(n, self.batch_size or n)
        snap = snap_grad = None
        for it in range(n_iters):
            if it % refresh == 0:
                with torch.no_grad():
                    snap = x + self._g(x, z)
                    snap_grad = self.problem.gradient(snap)
            idx = torch.randperm(n, generator=self.generator, device=x.device)[:bsz]
            tb = None if target is None else self._batch(target)
            loss = self.svrg_surrogate(x, z, idx, tb, snap, snap_grad, tau)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        self._steps += 1
        with torch.no_grad():
            x_new = x + self._g(x, z)
        self.last_loss = float(loss.detach())  # the surrogate's value (its gradient, not its value, is the objective's)
        return x_new


class NeuralForward(_NeuralScheme):
    r"""Neural forward scheme: learned unit steepest-descent velocity plan, normalised step."""

    name = "neural_forward"

    def __init__(self, *args, max_group: int = 512, **kw):
        super().__init__(*args, **kw)
        self.max_group = check_int("max_group", max_group, minimum=2)

    def _loss(self, parts, v):
        d = riesz_directional_derivative(None, v, r=self.problem.r, parts=parts, max_group=self.max_group)
        return d / (v * v).sum(-1).mean().clamp_min(1e-30).sqrt()

    def _sub_parts(self, parts, x):
        """Parts restricted to a random minibatch of rows (all rows if no ``batch_size``)."""
        n = x.shape[0]
        if self.batch_size is None or n <= self.batch_size:
            return parts, x
        idx = torch.randperm(n, generator=self.generator, device=x.device)[: self.batch_size]
        pos = torch.full((n,), -1, dtype=torch.long, device=x.device)
        pos[idx] = torch.arange(idx.numel(), device=x.device)
        groups = []
        for gidx in parts["groups"]:
            sub = pos[gidx]
            sub = sub[sub >= 0]
            if sub.numel() > 1:
                groups.append(sub)
        hits = None if parts["hits"] is None else parts["hits"][idx]
        return {"n": idx.numel(), "grad": parts["grad"][idx], "groups": groups, "hits": hits, "m": parts["m"]}, x[idx]

    def step(self, x: torch.Tensor, tau: float) -> torch.Tensor:
        self._frame(x)
        parts = directional_derivative_parts(x, self.problem.target, self.problem.r,
                                             block_size=self.problem.block_size)
        for _ in range(self._n_iters()):
            sub, xb = self._sub_parts(parts, x)
            loss = self._loss(sub, self._g(xb, self._z(xb.shape[0], xb)))
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        self._steps += 1
        with torch.no_grad():
            v = self._g(x, self._z(x.shape[0], x))
            slope = -self._loss(parts, v)
            self.last_loss = float(-slope)
            if slope <= 0:  # the learned direction does not descend: stay (stationary to the net's precision)
                return x
            return x + tau * slope * v / (v * v).sum(-1).mean().sqrt()


def make_scheme(name: str, problem: RieszProblem, dim: int, *, generator: Optional[torch.Generator] = None,
                device="cpu", dtype=torch.float32, **options):
    """Build a scheme by name (``"particle"``, ``"neural_backward"``, ``"neural_forward"``).

    ``options`` go to the scheme (neural: ``latent_dim, width, depth, activation, iters,
    first_iters, lr, batch_size, fourier_features, fourier_scale``; neural backward also
    ``estimator, refresh``; particle: ``split_diracs_first``).
    """
    check_choice("scheme", name, SCHEMES)
    if name == "particle":
        return ParticleFlow(problem, generator=generator, **options)
    cls = NeuralBackward if name == "neural_backward" else NeuralForward
    return cls(problem, dim, generator=generator, device=device, dtype=dtype, **options)


@dataclass
class RieszFlowResult:
    """History of one run: ``times`` (T,), ``energy`` (T,), ``mmd`` (T,) or None, ``snapshots``
    (S, N, d) at ``snapshot_times``, final particles ``x`` (N, d), ``wall`` seconds, ``scheme``."""

    scheme: str
    times: list = field(default_factory=list)
    energy: list = field(default_factory=list)
    mmd: Optional[list] = None
    snapshot_times: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)
    x: Optional[torch.Tensor] = None
    wall: float = 0.0


def run_riesz_flow(x0: torch.Tensor, problem: RieszProblem, scheme, *, tau: Optional[float] = None,
                   steps: Optional[int] = None, taus: Optional[Sequence[float]] = None, log_every: int = 1,
                   snapshot_every: Optional[int] = None, desc: str = "") -> RieszFlowResult:
    r"""Run ``scheme`` from the particles ``x0`` (N, d): ``steps`` steps of size ``tau``, or one step
    per entry of ``taus`` (a step-size schedule, e.g. :func:`paper_mnist_taus`).

    Logs the energy (and :math:`\mathrm{MMD}_K` to the target) at t = 0 and every ``log_every``
    steps, keeps CPU snapshots every ``snapshot_every`` steps (and the last), checks for NaN.
    """
    if taus is None:
        if tau is None or steps is None:
            raise ParameterError("run_riesz_flow needs tau and steps, or taus")
        tau = check_positive("tau", tau)
        steps = check_int("steps", steps)
        taus = [tau] * steps
    else:
        taus = [check_positive("taus", t) for t in taus]
        steps = check_int("steps", len(taus))
    log_every = check_int("log_every", log_every)
    snapshot_every = check_int("snapshot_every", snapshot_every or max(1, steps // 20))
    res = RieszFlowResult(scheme=scheme.name, mmd=[] if problem.target is not None else None)

    def log(t, x):
        with torch.no_grad():
            res.times.append(t)
            if res.mmd is None:
                res.energy.append(float(problem.energy(x)))
            else:  # one MMD pass for both: F = MMD^2 / 2
                m2 = problem.mmd2(x)
                res.energy.append(float(0.5 * m2))
                res.mmd.append(float(m2.sqrt()))

    x = x0.clone()
    log(0.0, x)
    res.snapshot_times.append(0.0)
    res.snapshots.append(x.detach().cpu().clone())
    t0 = time.perf_counter()
    t = 0.0
    for k in progress(range(1, steps + 1), total=steps, desc=desc or scheme.name):
        x = scheme.step(x, taus[k - 1]).detach()
        t += taus[k - 1]
        if k % 5 == 0 or k == steps:
            check_finite(k, x=x)
        if k % log_every == 0 or k == steps:
            log(t, x)
        if k % snapshot_every == 0 or k == steps:
            res.snapshot_times.append(t)
            res.snapshots.append(x.cpu().clone())
    res.wall = time.perf_counter() - t0
    res.x = x
    return res


def paper_mnist_tau(t: float) -> float:
    """The MNIST step size of the authors' ``run_mnist.py`` at time ``t``: 0.5 before t = 5, 1 before
    25, 2 up to 50, 3 before 6000, then 6."""
    if t >= 6000:
        return 6.0
    if t > 50:
        return 3.0
    if t >= 25:
        return 2.0
    if t >= 5:
        return 1.0
    return 0.5


def paper_mnist_taus(end_time: float) -> list:
    """The step sizes of :func:`paper_mnist_tau` from t = 0 until ``end_time`` is reached (48000 in
    the paper: 9026 steps; the script's loop count overshoots to t = 48204)."""
    end_time = check_positive("end_time", end_time)
    taus, t = [], 0.0
    while t < end_time - 1e-9:
        taus.append(paper_mnist_tau(t))
        t += taus[-1]
    return taus


def scheme_notes(name: str, options: Optional[dict] = None) -> list:
    """What a scheme's ``options`` change against the paper's scheme, as configuration notes
    (:func:`wgf_core.claims.configuration`): the svrg estimator and Fourier features of the neural
    backward scheme, and a particle flow started on the exact short-time profile."""
    options = options or {}
    notes = []
    if name == "neural_backward" and options.get("estimator", "minibatch") == "svrg":
        notes.append("neural backward scheme with the svrg gradient estimator (a full-gradient control variate "
                     "of the same JKO objective): not in the paper, which uses plain (mini)batches")
    if name in ("neural_backward", "neural_forward") and int(options.get("fourier_features", 0) or 0) > 0:
        notes.append(f"{name.replace('_', ' ')} network fed {int(options['fourier_features'])} Fourier features of x "
                     f"(scale {options.get('fourier_scale', 10.0):g}): not in the paper, whose networks see x itself")
    if name == "particle" and options.get("split_diracs_first"):
        notes.append("particle flow started on the exact short-time profile of each Dirac (not the paper's jitter)")
    return notes


def run_schemes(x0: torch.Tensor, problem: RieszProblem, *, tau: Optional[float] = None,
                steps: Optional[int] = None, taus: Optional[Sequence[float]] = None, options: Optional[dict] = None,
                schemes=SCHEMES, seed: int = 0, log_every: int = 1, snapshot_every: Optional[int] = None, device="cpu",
                dtype=torch.float32) -> dict:
    """Run several schemes from the same ``x0`` with the same ``tau``/``steps`` (or ``taus``).

    ``options`` maps a scheme name to its keyword options (see :func:`make_scheme`). Each scheme
    gets its own generator seeded from ``seed``: scheme ``SCHEMES[k]`` uses ``seed + 1000 k``, so a
    run is reproducible and the same whether it runs alone or with other schemes, in any order.
    Returns ``{name: RieszFlowResult}``.
    """
    from ..random import make_generator

    options = options or {}
    out = {}
    for name in schemes:
        gen = make_generator(seed + 1000 * SCHEMES.index(check_choice("scheme", name, SCHEMES)), device)
        sch = make_scheme(name, problem, x0.shape[-1], generator=gen, device=device, dtype=dtype,
                          **options.get(name, {}))
        out[name] = run_riesz_flow(x0, problem, sch, tau=tau, steps=steps, taus=taus, log_every=log_every,
                                   snapshot_every=snapshot_every, desc=name)
    return out
