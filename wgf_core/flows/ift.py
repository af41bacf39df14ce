r"""Particle schemes for the MMD energy: MMD flow (with noise), IFT particle GD, WFR particle GD.

Gladin, Dvurechensky, Mielke, Zhu, "Interaction-Force Transport gradient flows",
NeurIPS 2024 (arXiv:2405.17075), section 3.3, section 4 and appendix (Algorithm 1, eq. 23-24,
the WFR scheme). All schemes act on weighted particle measures
:math:`\mu = \sum_i \alpha_i \delta_{x_i}`, :math:`\alpha \in \Delta_n`, batched over independent
runs: positions ``(runs, n, d)``, weights ``(runs, n)``, target samples ``(runs, m, d)``.

Energy (``book/conventions.md``): :math:`F(\mu) = c\,\mathrm{MMD}^2(\mu, \pi)` with
:math:`c = 1/2` (default, as in the paper) or :math:`c = 1` (a convention the sweep tests), so

.. math::

    \frac{\delta F}{\delta\mu}[\mu](z) = 2c\Big(\sum_i \alpha_i k(z, x_i) - \frac1m\sum_j k(z, y_j)\Big)
    = 2c\, h_\mu(z).

Schemes (one *iteration* each; IFT and WFR iterations do two sub-steps and count as **2 steps**
in plots, as in the paper):

* MMD flow (Arbel et al. 2019), paper eq. (15) with uniform weights:
  :math:`x_i \leftarrow x_i - \tau \nabla \tfrac{\delta F}{\delta\mu}[\mu](x_i + \beta u_i)`,
  :math:`u_i \sim \mathcal N(0, I)` (noise injection; :math:`\beta = 0` after ``noise_off`` steps).
* IFT particle GD (Algorithm 1): the same Wasserstein step, then the MMD step on the weights at
  the new positions, eq. (23):

  .. math::

      \alpha^{\ell+1} = \operatorname*{argmin}_{\beta \in \Delta_n}
      F\Big(\sum_i \beta_i \delta_{x_i^{\ell+1}}\Big)
      + \frac1{2\eta}\mathrm{MMD}^2\Big(\sum_i \beta_i\delta_{x_i^{\ell+1}}, \sum_i \alpha^\ell_i\delta_{x_i^{\ell+1}}\Big),

  a convex QP on the simplex (eq. 24) :math:`\min_\beta \tfrac12\beta^\top A\beta - c^\top\beta`
  with :math:`A = (2c + 1/\eta) K_{XX}`, :math:`c = 2c\,K_{XY}\mathbf 1/m + K_{XX}\alpha^\ell/\eta`.
  (Eq. 24 in the paper writes the reference measure on the old positions, :math:`K_{X\bar X}`,
  and a factor :math:`\tau` where :math:`\eta` is meant; we follow the text of Algorithm 1 and
  eq. 23, where the reference measure sits on the new positions.) ``weight_step="qp"`` solves it
  with :func:`solve_simplex_qp` to a Frank-Wolfe gap ``qp_tol``; ``weight_step="pgd"`` is the
  paper's cheap variant, a single projected-gradient step on (23) from :math:`\beta = \alpha^\ell`
  with step :math:`\eta`: :math:`\alpha^{\ell+1} = P_{\Delta_n}(\alpha^\ell - \eta\,
  \tfrac{\delta F}{\delta\mu}[\mu^{\ell+1/2}](x^{\ell+1}))` (the gradient of (23) at
  :math:`\beta = \alpha^\ell` is the first variation; the step size is our reading of the paper).
* WFR particle GD (appendix): the same Wasserstein step, then the entropic mirror-descent (KL)
  step :math:`\alpha_i \leftarrow \alpha_i \exp(-\eta\,\tfrac{\delta F}{\delta\mu}[\mu^\ell](x_i^{\ell+1}))`,
  normalised to the simplex.

The driver :func:`run_flow` (any scheme) logs :math:`\mathrm{MMD}^2` for all runs every
``log_every`` steps against a fixed evaluation sample, checks for NaN with the step number,
stores snapshots for animations and shows a progress bar. :func:`run_experiment` builds the
initial particles / targets per run from the seed and applies a :class:`Convention`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from ..diagnostics import check_finite
from ..gmm import GaussianMixture
from ..kernels import Kernel, get_kernel, pairwise_distances
from ..metrics import mmd2, mmd2_noise_floor, mmd_witness, mmd_witness_grad
from ..progress import progress
from ..random import make_generator
from ..validation import (
    ParameterError,
    check_choice,
    check_device,
    check_dtype,
    check_int,
    check_positive,
)

__all__ = [
    "Convention",
    "MMDEnergy",
    "MMDFlow",
    "IFTFlow",
    "WFRFlow",
    "FlowResult",
    "METHODS",
    "project_simplex",
    "solve_simplex_qp",
    "ift_weight_qp",
    "run_flow",
    "make_scheme",
    "run_experiment",
    "target_noise_floor",
    "convention_grid",
    "convention_neighbours",
    "far_from_target",
    "stuck_mass",
    "run_measurements",
    "run_seeds",
    "standard_normal_like",
    "fresh_target_sampler",
    "target_noise_floors",
    "mmd2_to_law",
]


# ---------------------------------------------------------------------------------------------
# Conventions left open by the paper


@dataclass(frozen=True)
class Convention:
    r"""The choices the paper leaves open (swept in the 2-D notebooks).

    Parameters
    ----------
    bandwidth : {"2sigma2", "sigma2"}
        Gaussian kernel :math:`\exp(-|x-y|^2/(2\sigma^2))` (``gauss`` with ``s = sigma**2``) or
        :math:`\exp(-|x-y|^2/\sigma^2)` (``s = sigma**2 / 2``).
    step_scale : {"none", "1/n"}
        Particle step :math:`\tau` or :math:`\tau / n` (the authors' 100-D code uses ``lr / n``).
    energy : {"half", "full"}
        :math:`F = \tfrac12\mathrm{MMD}^2` or :math:`F = \mathrm{MMD}^2` (doubles every gradient).
    target : {"fixed", "fresh"}
        One target sample per run for the whole flow, or a fresh sample each iteration.
    """

    bandwidth: str = "2sigma2"
    step_scale: str = "none"
    energy: str = "half"
    target: str = "fixed"

    def __post_init__(self):
        check_choice("bandwidth", self.bandwidth, ("2sigma2", "sigma2"))
        check_choice("step_scale", self.step_scale, ("none", "1/n"))
        check_choice("energy", self.energy, ("half", "full"))
        check_choice("target", self.target, ("fixed", "fresh"))

    def kernel(self, sigma: float) -> Kernel:
        """The Gaussian kernel with bandwidth ``sigma`` under this convention."""
        sigma = check_positive("sigma", sigma)
        return get_kernel("gauss", sigma**2 if self.bandwidth == "2sigma2" else sigma**2 / 2)

    def step(self, tau: float, n: int) -> float:
        """The particle step actually applied: ``tau`` or ``tau / n``."""
        return float(tau) / n if self.step_scale == "1/n" else float(tau)

    @property
    def energy_scale(self) -> float:
        """:math:`c` in :math:`F = c\\,\\mathrm{MMD}^2`."""
        return 0.5 if self.energy == "half" else 1.0

    @property
    def label(self) -> str:
        bw = "exp(-r²/2σ²)" if self.bandwidth == "2sigma2" else "exp(-r²/σ²)"
        st = "τ" if self.step_scale == "none" else "τ/n"
        en = "½MMD²" if self.energy == "half" else "MMD²"
        return f"{bw}, step {st}, F={en}, {self.target} target"


# ---------------------------------------------------------------------------------------------
# Energy


@dataclass(frozen=True)
class MMDEnergy:
    r""":math:`F(\mu) = c\,\mathrm{MMD}^2(\mu, \pi)` with :math:`\pi = \frac1m\sum_j \delta_{y_j}`.

    ``scale`` is :math:`c` (1/2 in the paper).
    """

    kernel: Kernel
    scale: float = 0.5
    max_block: int = 2**24  # entries of the (batch, rows, n + m) kernel block formed at once

    def first_variation(self, z, x, w, y, *, with_grad: bool = True):
        r"""First variation :math:`\tfrac{\delta F}{\delta\mu}` of :math:`\mu = \sum_i w_i\delta_{x_i}`
        at points ``z`` and (optionally) its gradient.

        Parameters
        ----------
        z : Tensor ``(..., P, d)``; x : ``(..., n, d)``; w : ``(..., n)``; y : ``(..., m, d)``

        Returns
        -------
        h : Tensor ``(..., P)``; g : Tensor ``(..., P, d)`` or None.

        The ``(..., P, n + m)`` kernel matrix is formed in row blocks of at most ``max_block``
        entries (one block for the small problems of the 2-D experiments); the Gaussian kernel uses
        squared distances and one ``exp`` (:math:`c(r) = -k/s`). Non-radial kernels use the blocked
        sums of :mod:`wgf_core.metrics`.
        """
        f = 2.0 * self.scale
        if not self.kernel.is_radial:
            h = mmd_witness(self.kernel, z, x, y, w)
            g = mmd_witness_grad(self.kernel, z, x, y, w) if with_grad else None
            return f * h, (f * g if g is not None else None)
        m = y.shape[-2]
        pts = torch.cat([x, y], dim=-2)
        v = torch.cat([w, torch.full(y.shape[:-1], -1.0 / m, dtype=w.dtype, device=w.device)], dim=-1) * f
        batch = math.prod(z.shape[:-2]) if z.dim() > 2 else 1
        rows = max(1, self.max_block // max(1, batch * pts.shape[-2]))
        if rows < z.shape[-2]:  # large problems: row blocks keep memory at O(block * (n + m))
            hs, gs = [], []
            for i in range(0, z.shape[-2], rows):
                h_b, g_b = self._terms(z[..., i:i + rows, :], pts, v, with_grad)
                hs.append(h_b), gs.append(g_b)
            return torch.cat(hs, -1), (torch.cat(gs, -2) if with_grad else None)
        return self._terms(z, pts, v, with_grad)

    def _terms(self, z, pts, v, with_grad):
        if self.kernel.name == "gauss":
            # fast path: k = exp(-r^2 / (2s)) from squared distances (in place, one exp); since
            # c(r) = -k / s, one product K [v, v * p] gives both h = K v and
            # g = sum_j v_j c_ij (z_i - p_j) = -(z * (K v) - K (v * p)) / s.
            s = self.kernel.param
            kmat = _sq_distances(z, pts).mul_(-0.5 / s).exp_()
            if not with_grad:
                return (kmat @ v.unsqueeze(-1)).squeeze(-1), None
            out = kmat @ torch.cat([v.unsqueeze(-1), v.unsqueeze(-1) * pts], dim=-1)
            h = out[..., 0]
            return h, (out[..., 1:] - z * out[..., :1]) / s
        else:
            r = pairwise_distances(z, pts)
            h = (self.kernel.profile(r) @ v.unsqueeze(-1)).squeeze(-1)
            if not with_grad:
                return h, None
            c = self.kernel.coefficient(r)
        g = z * (c @ v.unsqueeze(-1)) - c @ (v.unsqueeze(-1) * pts)
        return h, g


def _sq_distances(z: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``|z_i - p_j|^2`` ``(..., P, M)`` by the ``|z|^2 + |p|^2 - 2 z.p`` expansion, clamped at 0.

    Used only for the Gaussian kernel, which is smooth at 0, so the round-off of the expansion
    near coincident points (about ``eps * |z|^2``) is harmless there.
    """
    zz = (z * z).sum(-1, keepdim=True)
    pp = (p * p).sum(-1).unsqueeze(-2)
    return (z @ p.transpose(-1, -2)).mul_(-2.0).add_(zz).add_(pp).clamp_(min=0.0)


# ---------------------------------------------------------------------------------------------
# Simplex projection and the QP of the MMD step


def project_simplex(v: torch.Tensor) -> torch.Tensor:
    r"""Euclidean projection onto the probability simplex along the last axis (sort-based).

    .. math::

        P_\Delta(v) = (v - \theta)_+,\quad \theta = \frac{\sum_{j\le\rho} u_j - 1}{\rho},\quad
        \rho = \max\{j : u_j - (\textstyle\sum_{k\le j} u_k - 1)/j > 0\},

    with :math:`u` the entries of :math:`v` sorted in decreasing order (Held, Wolfe, Crowder 1974;
    Duchi et al. 2008). Shape ``(..., n)`` to ``(..., n)``; :math:`O(n\log n)`, no Python loop.
    """
    n = v.shape[-1]
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = u.cumsum(-1) - 1.0
    k = torch.arange(1, n + 1, dtype=v.dtype, device=v.device)
    rho = (u - css / k > 0).sum(-1, keepdim=True)  # >= 1 always
    theta = css.gather(-1, rho - 1) / rho.to(v.dtype)
    return torch.clamp(v - theta, min=0.0)


def _qp_grad(A, c, b):
    return (A @ b.unsqueeze(-1)).squeeze(-1) - c


def frank_wolfe_gap(A, c, b) -> torch.Tensor:
    r"""Frank-Wolfe gap :math:`\nabla q(\beta)^\top\beta - \min_i \nabla q(\beta)_i \ge q(\beta) - q^*`
    of :math:`q(\beta) = \tfrac12\beta^\top A\beta - c^\top\beta` on the simplex; shape ``(...)``."""
    gr = _qp_grad(A, c, b)
    return (gr * b).sum(-1) - gr.min(-1).values


def solve_simplex_qp(A: torch.Tensor, c: torch.Tensor, x0: Optional[torch.Tensor] = None, *,
                     tol: float = 1e-7, max_iter: int = 1000, check_every: int = 10):
    r"""Solve :math:`\min_{\beta\in\Delta_n} \tfrac12\beta^\top A\beta - c^\top\beta` (A symmetric PSD),
    batched over leading dimensions, by accelerated projected gradient (FISTA) with adaptive restart.

    Iteration (Beck & Teboulle 2009; restart of O'Donoghue & Candès 2015):
    :math:`\beta^{k+1} = P_\Delta(z^k - \nabla q(z^k)/L)`,
    :math:`z^{k+1} = \beta^{k+1} + \frac{t_k - 1}{t_{k+1}}(\beta^{k+1} - \beta^k)`, momentum reset
    (:math:`t = 1`) where :math:`(z^k - \beta^{k+1})^\top(\beta^{k+1} - \beta^k) > 0`.
    :math:`1/L` with :math:`L = \min(\operatorname{tr} A, \max_i\sum_j|A_{ij}|) \ge \lambda_{\max}(A)`
    (cheap bounds, tight for the nearly rank-one Gram matrices of wide kernels). Stops when the Frank-Wolfe gap, an upper bound
    on :math:`q(\beta) - q^*`, is ``<= tol`` for every problem in the batch (checked every
    ``check_every`` iterations, the only host syncs), or after ``max_iter`` iterations.

    Parameters
    ----------
    A : Tensor ``(..., n, n)``; c : Tensor ``(..., n)``; x0 : Tensor ``(..., n)``, optional start
        (projected onto the simplex; uniform if omitted).

    Returns
    -------
    beta : Tensor ``(..., n)``, on the simplex.
    info : dict with ``iterations`` (int) and ``gap`` (Tensor ``(...)``, the final Frank-Wolfe gap).
    """
    n = c.shape[-1]
    beta = torch.full_like(c, 1.0 / n) if x0 is None else project_simplex(x0)
    # upper bounds on lambda_max(A) for a PSD A: the trace and the largest absolute row sum
    trace = torch.diagonal(A, dim1=-2, dim2=-1).sum(-1)
    L = torch.minimum(trace, A.abs().sum(-1).max(-1).values).clamp(min=torch.finfo(A.dtype).tiny)
    inv_l = (1.0 / L).unsqueeze(-1)
    z = beta.clone()
    t = torch.ones_like(L).unsqueeze(-1)
    it = 0
    gap = frank_wolfe_gap(A, c, beta)
    for it in range(1, max_iter + 1):
        new = project_simplex(z - inv_l * _qp_grad(A, c, z))
        restart = ((z - new) * (new - beta)).sum(-1, keepdim=True) > 0
        t_new = 0.5 * (1 + torch.sqrt(1 + 4 * t * t))
        mom = torch.where(restart, torch.zeros_like(t), (t - 1) / t_new)
        z = new + mom * (new - beta)
        t = torch.where(restart, torch.ones_like(t), t_new)
        beta = new
        if it % check_every == 0:
            gap = frank_wolfe_gap(A, c, beta)
            if bool((gap <= tol).all()):
                break
    gap = frank_wolfe_gap(A, c, beta)
    return beta, {"iterations": it, "gap": gap}


def ift_weight_qp(kernel: Kernel, x, alpha, y, *, eta: float, scale: float = 0.5):
    r"""The QP (eq. 23/24) of the IFT MMD step at positions ``x`` ``(..., n, d)``.

    Returns ``(A, c)`` with :math:`A = (2c_F + 1/\eta) K_{XX}` and
    :math:`c = 2c_F K_{XY}\mathbf 1/m + K_{XX}\alpha/\eta` (``c_F = scale``), so that the objective
    :math:`\tfrac12\beta^\top A\beta - c^\top\beta` equals (23) up to a constant.
    """
    kxx = kernel.profile(pairwise_distances(x, x))
    kxy1 = kernel.profile(pairwise_distances(x, y)).mean(-1)
    A = (2 * scale + 1.0 / eta) * kxx
    c = 2 * scale * kxy1 + (kxx @ alpha.unsqueeze(-1)).squeeze(-1) / eta
    return A, c


# ---------------------------------------------------------------------------------------------
# Per-run random draws


def standard_normal_like(x: torch.Tensor, generator=None) -> torch.Tensor:
    """Standard normal draws shaped like ``x`` ``(runs, n, d)``.

    ``generator``: one :class:`torch.Generator` for the whole batch, or a sequence of one generator
    per run; then run ``r``'s draws come from its own generator only, so they do not depend on how
    many runs share the batch (run ``r`` alone gives the same numbers as row ``r`` of the batch).
    """
    if isinstance(generator, (list, tuple)):
        if len(generator) != x.shape[0]:
            raise ParameterError(f"one generator per run: got {len(generator)} generators for {x.shape[0]} runs")
        return torch.stack([torch.randn(x.shape[1:], generator=g, dtype=x.dtype, device=x.device) for g in generator])
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def fresh_target_sampler(target: GaussianMixture, m: int) -> Callable:
    """``sampler(generators) -> (runs, m, d)``: a fresh ``m``-point sample of ``target`` per run.

    Run ``r`` draws its component labels and its normal vectors from ``generators[r]`` in the
    order :meth:`GaussianMixture.sample` uses (labels, then normals), so its sample equals
    ``target.sample(m, generators[r])`` and does not depend on the other runs. The Cholesky factors
    are computed once; each component's affine map is one product over the points of all runs that
    drew it.
    """
    chol_t = torch.linalg.cholesky(target.covs).transpose(-1, -2).contiguous()  # (K, d, d), once
    d = target.dim

    def sampler(generators):
        comp = torch.stack([torch.multinomial(target.weights, m, replacement=True, generator=g) for g in generators])
        z = torch.stack([torch.randn(m, d, generator=g, dtype=target.means.dtype, device=target.means.device)
                         for g in generators])
        out = target.means[comp]  # (runs, m, d)
        for k in range(chol_t.shape[0]):
            mask = comp == k
            out[mask] += z[mask] @ chol_t[k]
        return out

    return sampler


# ---------------------------------------------------------------------------------------------
# Schemes


@dataclass(frozen=True)
class MMDFlow:
    r"""MMD flow (Arbel et al. 2019), explicit Euler, with optional noise injection.

    ``tau``: particle step (already scaled by the convention); ``noise``: :math:`\beta`;
    ``noise_off``: the step from which the noise is 0 (None: never switched off).
    """

    tau: float
    noise: float = 0.0
    noise_off: Optional[int] = None
    steps_per_iteration: int = field(default=1, init=False)

    def __post_init__(self):
        check_positive("tau", self.tau)
        check_positive("noise", self.noise, strict=False)

    def iterate(self, energy: MMDEnergy, x, w, y, step: int, generator):
        noisy = self.noise > 0 and (self.noise_off is None or step < self.noise_off)
        z = x + self.noise * standard_normal_like(x, generator) if noisy else x
        _, g = energy.first_variation(z, x, w, y)
        return x - self.tau * g, w


@dataclass(frozen=True)
class IFTFlow:
    r"""IFT particle gradient descent (Algorithm 1): Wasserstein step + MMD step on the weights.

    ``weight_step``: ``"pgd"`` (one projected-gradient step with step ``eta``, the paper's fast
    variant) or ``"qp"`` (the QP (23) solved by :func:`solve_simplex_qp` to Frank-Wolfe gap
    ``qp_tol``, warm-started at the current weights).
    """

    tau: float
    eta: float
    weight_step: str = "pgd"
    qp_tol: float = 1e-7
    qp_max_iter: int = 1000
    steps_per_iteration: int = field(default=2, init=False)

    def __post_init__(self):
        check_positive("tau", self.tau)
        check_positive("eta", self.eta)
        check_choice("weight_step", self.weight_step, ("pgd", "qp"))
        check_positive("qp_tol", self.qp_tol)

    def iterate(self, energy: MMDEnergy, x, w, y, step: int, generator):
        _, g = energy.first_variation(x, x, w, y)
        x = x - self.tau * g
        if self.weight_step == "pgd":
            h, _ = energy.first_variation(x, x, w, y, with_grad=False)
            return x, project_simplex(w - self.eta * h)
        A, c = ift_weight_qp(energy.kernel, x, w, y, eta=self.eta, scale=energy.scale)
        beta, _ = solve_simplex_qp(A, c, w, tol=self.qp_tol, max_iter=self.qp_max_iter)
        return x, beta


@dataclass(frozen=True)
class WFRFlow:
    r"""WFR particle gradient descent of the MMD (appendix): Wasserstein step + KL (entropic
    mirror descent) step :math:`\alpha_i \propto \alpha_i\exp(-\eta\,\delta F/\delta\mu[\mu^\ell](x^{\ell+1}_i))`."""

    tau: float
    eta: float
    steps_per_iteration: int = field(default=2, init=False)

    def __post_init__(self):
        check_positive("tau", self.tau)
        check_positive("eta", self.eta)

    def iterate(self, energy: MMDEnergy, x, w, y, step: int, generator):
        _, g = energy.first_variation(x, x, w, y)
        xn = x - self.tau * g
        h, _ = energy.first_variation(xn, x, w, y, with_grad=False)
        logw = torch.log(w.clamp(min=torch.finfo(w.dtype).tiny)) - self.eta * h
        return xn, torch.softmax(logw, dim=-1)


METHODS = ("mmd", "mmd_noise", "ift", "ift_qp", "wfr")
METHOD_LABELS = {"mmd": "MMD flow", "mmd_noise": "MMD flow + noise", "ift": "IFT GD (1 PG weight step)",
                 "ift_qp": "IFT GD (exact QP)", "wfr": "WFR GD"}


def make_scheme(method: str, *, tau: float, eta: float = 0.1, noise: float = 0.0, noise_off=None,
                qp_tol: float = 1e-7, qp_max_iter: int = 1000):
    """The scheme object for ``method`` in :data:`METHODS` (``tau`` already scaled)."""
    check_choice("method", method, METHODS)
    if method == "mmd":
        return MMDFlow(tau)
    if method == "mmd_noise":
        return MMDFlow(tau, noise=check_positive("noise", noise), noise_off=noise_off)
    if method == "ift":
        return IFTFlow(tau, eta, "pgd")
    if method == "ift_qp":
        return IFTFlow(tau, eta, "qp", qp_tol=qp_tol, qp_max_iter=qp_max_iter)
    return WFRFlow(tau, eta)


# ---------------------------------------------------------------------------------------------
# Driver


@dataclass
class FlowResult:
    """Output of :func:`run_flow` (numpy arrays on the host).

    ``steps`` ``(T,)``: logged step counts (an IFT/WFR iteration is 2 steps); ``mmd2``
    ``(runs, T)``; ``snapshot_steps`` ``(S,)``; ``x_snapshots`` ``(S, runs, n, d)``;
    ``w_snapshots`` ``(S, runs, n)``; ``x``/``w``: final state (tensors); ``seconds``: wall time;
    ``iterations``: scheme iterations done.
    """

    steps: np.ndarray
    mmd2: np.ndarray
    snapshot_steps: np.ndarray
    x_snapshots: np.ndarray
    w_snapshots: np.ndarray
    x: torch.Tensor
    w: torch.Tensor
    seconds: float
    iterations: int
    y: Optional[torch.Tensor] = None

    def mmd2_at(self, step: int) -> np.ndarray:
        """MMD² ``(runs,)`` at the last logged step ``<= step``."""
        i = int(np.searchsorted(self.steps, step, side="right")) - 1
        return self.mmd2[:, max(i, 0)]

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(1, int(self.steps[-1]) if len(self.steps) else 1)


def run_flow(scheme, energy: MMDEnergy, x0: torch.Tensor, y: torch.Tensor, *, steps: int,
             w0: Optional[torch.Tensor] = None, target_sampler: Optional[Callable] = None,
             eval_y: Optional[torch.Tensor] = None, log_every: int = 10, snapshot_every: Optional[int] = None,
             generator: Optional[torch.Generator] = None, show_progress: bool = True, desc: str = "",
             check_every: Optional[int] = None, num_threads: Optional[int] = None) -> FlowResult:
    r"""Run ``scheme`` for ``steps`` steps (``steps // scheme.steps_per_iteration`` iterations).

    Parameters
    ----------
    scheme : MMDFlow | IFTFlow | WFRFlow
    energy : MMDEnergy
    x0 : Tensor ``(runs, n, d)``; w0 : Tensor ``(runs, n)`` (uniform if None)
    y : Tensor ``(runs, m, d)``, the target sample used by the flow (and for logging if
        ``eval_y`` is None).
    target_sampler : callable ``(generator) -> (runs, m, d)``, optional
        If given, a fresh target sample is drawn every iteration (the "fresh target" convention),
        from ``generator`` (e.g. :func:`fresh_target_sampler`, which takes one generator per run).
    eval_y : Tensor ``(runs, m', d)``, optional; the fixed sample :math:`\mathrm{MMD}^2` is logged against.
    log_every : int
        Log :math:`\mathrm{MMD}^2(\mu, \hat\pi)` (all runs, one tensor op) every ``log_every`` steps.
    snapshot_every : int, optional
        Store positions and weights every ``snapshot_every`` steps (for animations).
    generator : torch.Generator or sequence of them, optional
        For the in-loop noise and fresh target samples: one generator for the batch, or one per run
        (then run ``r``'s draws do not depend on the other runs; :func:`standard_normal_like`).
    check_every : int, optional
        NaN check (:func:`wgf_core.diagnostics.check_finite`, a host sync) period in steps
        (default: every log).
    num_threads : int, optional
        CPU threads for the loop (restored afterwards). Default: 1 when the per-iteration kernel
        block ``runs * n * (n + m)`` has fewer than ``2**22`` entries, else unchanged. The ops are
        small (50 runs x 100 x 200 in the 2-D experiments): measured on a shared 2-core machine,
        2 threads took 5x the CPU time of 1 thread per step (spin-waits). Ignored on GPUs.

    Returns
    -------
    FlowResult
    """
    steps = check_int("steps", steps, minimum=0)
    log_every = check_int("log_every", log_every)
    spi = scheme.steps_per_iteration
    iters = steps // spi
    w = torch.full(x0.shape[:-1], 1.0 / x0.shape[-2], dtype=x0.dtype, device=x0.device) if w0 is None else w0
    eval_y = y if eval_y is None else eval_y
    log_it = max(1, log_every // spi)
    snap_it = None if snapshot_every is None else max(1, check_int("snapshot_every", snapshot_every) // spi)
    chk_it = log_it if check_every is None else max(1, check_int("check_every", check_every) // spi)
    threads_before = torch.get_num_threads()
    if x0.device.type == "cpu":
        small = x0.shape[:-1].numel() * (x0.shape[-2] + y.shape[-2]) < 2**22
        want = num_threads if num_threads is not None else (1 if small else threads_before)
        torch.set_num_threads(check_int("num_threads", want))
    try:
        return _run_loop(scheme, energy, x0, w, y, iters, spi, log_it, snap_it, chk_it, target_sampler, eval_y,
                         generator, show_progress, desc)
    finally:
        torch.set_num_threads(threads_before)


def _run_loop(scheme, energy, x, w, y, iters, spi, log_it, snap_it, chk_it, target_sampler, eval_y, generator,
              show_progress, desc) -> FlowResult:
    log_steps, logs, snap_steps, xs, ws = [], [], [], [], []

    def log(it):
        log_steps.append(it * spi)
        logs.append(mmd2(energy.kernel, x, eval_y, w))

    t0 = time.perf_counter()
    log(0)
    if snap_it is not None:
        snap_steps.append(0), xs.append(x.clone()), ws.append(w.clone())
    for it in progress(range(1, iters + 1), total=iters, desc=desc, enabled=None if show_progress else False):
        if target_sampler is not None:
            y = target_sampler(generator)
        x, w = scheme.iterate(energy, x, w, y, (it - 1) * spi, generator)
        if it % log_it == 0 or it == iters:
            log(it)
        if it % chk_it == 0 or it == iters:
            check_finite(it * spi, mmd2=logs[-1] if log_steps[-1] == it * spi else None, positions=x, weights=w)
        if snap_it is not None and (it % snap_it == 0 or it == iters):
            snap_steps.append(it * spi), xs.append(x.clone()), ws.append(w.clone())
    mm = torch.stack(logs, dim=-1).detach().cpu().numpy()
    seconds = time.perf_counter() - t0
    if snap_it is None:
        xs_np = np.zeros((0,) + tuple(x.shape))
        ws_np = np.zeros((0,) + tuple(w.shape))
    else:
        xs_np = torch.stack(xs).cpu().numpy()
        ws_np = torch.stack(ws).cpu().numpy()
    return FlowResult(np.asarray(log_steps), mm, np.asarray(snap_steps, dtype=int), xs_np, ws_np, x, w, seconds, iters,
                      eval_y)


def run_experiment(method: str, init: GaussianMixture, target: GaussianMixture, *, n: int,
                   runs: Optional[int] = None, steps: int, sigma: float, tau: float, eta: float = 0.1,
                   noise: float = 0.0, noise_off: Optional[int] = None, convention: Convention = Convention(),
                   m: Optional[int] = None, seed: int = 0, seeds: Optional[Sequence[int]] = None, device="cpu",
                   dtype=torch.float64, log_every: int = 10, snapshot_every: Optional[int] = None,
                   qp_tol: float = 1e-7, qp_max_iter: int = 1000, kernel: Optional[str] = None,
                   show_progress: bool = True) -> FlowResult:
    r"""One method of the IFT experiments on independent runs in one batch, one run per seed.

    Run ``r`` has the seed ``seeds[r]`` (default ``seed + r`` for ``r < runs``): it draws its ``n``
    initial particles and its ``m`` (default ``n``) target points from the generator seeded
    ``seeds[r]``, and its in-loop randomness (noise injection, fresh target samples) from its own
    generator seeded ``seeds[r] + 1_000_003``. So every method sees the same samples, and run ``r``
    alone (``seeds=[seeds[r]]``) gives the same numbers as row ``r`` of the batch: one run is one
    member of a seed ensemble (:func:`wgf_core.claims.seed_list`), all members in one tensor pass.
    The MMD² is logged against the run's initial target sample. ``tau`` is the paper's step; the
    convention may divide it by ``n``. ``kernel``: a name from :data:`wgf_core.kernels.KERNELS`
    other than ``"gauss"`` replaces the Gaussian kernel, with shape parameter ``s = sigma`` (the
    bandwidth convention then does not apply).
    """
    check_choice("method", method, METHODS)
    n = check_int("n", n)
    seeds = run_seeds(seed, runs, seeds)
    runs = len(seeds)
    m = n if m is None else check_int("m", m)
    dev = check_device(device)
    dtype = check_dtype(dtype)
    init, target = init.to(dev, dtype), target.to(dev, dtype)
    gens = [make_generator(s, dev) for s in seeds]
    x0 = torch.stack([init.sample(n, g) for g in gens])
    y = torch.stack([target.sample(m, g) for g in gens])
    kern = convention.kernel(sigma) if kernel in (None, "gauss") else get_kernel(kernel, sigma)
    energy = MMDEnergy(kern, convention.energy_scale)
    scheme = make_scheme(method, tau=convention.step(check_positive("tau", tau), n), eta=eta, noise=noise,
                         noise_off=noise_off, qp_tol=qp_tol, qp_max_iter=qp_max_iter)
    loop_gens = [make_generator(s + LOOP_SEED_OFFSET, dev) for s in seeds]
    sampler = fresh_target_sampler(target, m) if convention.target == "fresh" else None
    return run_flow(scheme, energy, x0, y, steps=steps, target_sampler=sampler, eval_y=y, log_every=log_every,
                    snapshot_every=snapshot_every, generator=loop_gens, show_progress=show_progress,
                    desc=METHOD_LABELS[method])


#: Offset of run ``r``'s in-loop generator seed from its seed (noise, fresh target samples).
LOOP_SEED_OFFSET = 1_000_003
#: Offset of the seed of a run's noise-floor samples from its seed.
FLOOR_SEED_OFFSET = 2_000_003


def run_seeds(seed: int = 0, runs: Optional[int] = None, seeds: Optional[Sequence[int]] = None) -> list[int]:
    """The seeds of the runs: ``seeds`` if given (``runs``, if also given, must match), else
    ``seed, seed + 1, ..., seed + runs - 1``."""
    if seeds is None:
        if runs is None:
            raise ParameterError("give 'runs' or 'seeds'")
        return [int(seed) + r for r in range(check_int("runs", runs))]
    seeds = [check_int("seeds", s, minimum=0) for s in seeds]
    if not seeds:
        raise ParameterError("'seeds' is empty")
    if len(set(seeds)) != len(seeds):
        raise ParameterError(f"'seeds' has repeated entries: {seeds}")
    if runs is not None and check_int("runs", runs) != len(seeds):
        raise ParameterError(f"'runs' = {runs} but {len(seeds)} seeds")
    return seeds


def target_noise_floor(target: GaussianMixture, kernel: Kernel, n: int, *, repeats: int = 20, seed: int = 0,
                       device="cpu", dtype=torch.float64) -> float:
    """MMD² between two independent ``n``-point target samples, averaged over ``repeats`` pairs
    (the curves' noise floor), drawn from the generator seeded ``seed + FLOOR_SEED_OFFSET``."""
    target = target.to(check_device(device), check_dtype(dtype))
    g = make_generator(seed + FLOOR_SEED_OFFSET, device)
    return mmd2_noise_floor(kernel, lambda k, gen: target.sample(k, gen), n, repeats=repeats, generator=g)


def target_noise_floors(target: GaussianMixture, kernel: Kernel, n: int, seeds: Sequence[int], *,
                        repeats: int = 20, device="cpu", dtype=torch.float64) -> list[float]:
    """:func:`target_noise_floor` of each run, from that run's seed (one value per seed)."""
    return [target_noise_floor(target, kernel, n, repeats=repeats, seed=s, device=device, dtype=dtype)
            for s in run_seeds(seeds=seeds)]


def mmd2_to_law(result: "FlowResult", kernel: Kernel, target: GaussianMixture, seeds: Sequence[int], *,
                size: int = 2000) -> list[float]:
    r"""Final :math:`\mathrm{MMD}^2` of each run against a large independent target sample of ``size``
    points drawn from the generator seeded ``seeds[r] + 17`` (the flows with a fixed target sample
    fit that sample, not the law: this is the distance to the law)."""
    seeds = run_seeds(seeds=seeds)
    x, w = result.x, result.w
    if len(seeds) != x.shape[0]:
        raise ParameterError(f"{len(seeds)} seeds for {x.shape[0]} runs")
    target = target.to(x.device, x.dtype)
    out = []
    for r, s in enumerate(seeds):
        big = target.sample(check_int("size", size), make_generator(s + 17, x.device))
        out.append(float(mmd2(kernel, x[r], big, w[r])))
    return out


# ---------------------------------------------------------------------------------------------
# Diagnostics used by the notebooks


def convention_grid() -> list[Convention]:
    """All 16 combinations of the :class:`Convention` choices (the sweep of the 2-D notebooks)."""
    out = []
    for bw in ("2sigma2", "sigma2"):
        for st in ("none", "1/n"):
            for en in ("half", "full"):
                for tg in ("fixed", "fresh"):
                    out.append(Convention(bw, st, en, tg))
    return out


def convention_neighbours(base: Convention = Convention()) -> list[Convention]:
    """``base`` and the 4 conventions that differ from it in exactly one field (5 in all).

    A one-at-a-time sensitivity sweep: each row changes one choice the paper leaves open.
    """
    out = [base]
    options = {"bandwidth": ("2sigma2", "sigma2"), "step_scale": ("none", "1/n"), "energy": ("half", "full"),
               "target": ("fixed", "fresh")}
    for name, values in options.items():
        other = values[1] if getattr(base, name) == values[0] else values[0]
        out.append(Convention(**{**{k: getattr(base, k) for k in options}, name: other}))
    return out


def far_from_target(x: torch.Tensor, target: GaussianMixture, *, threshold: float = 4.0) -> torch.Tensor:
    r"""Whether each particle is *far* from the target: its Mahalanobis distance
    :math:`\sqrt{(x-m_k)^\top\Sigma_k^{-1}(x-m_k)}` to every component is above ``threshold``.

    ``x`` ``(..., n, d)`` to a bool tensor ``(..., n)``. With ``threshold = 4`` in 2-D a draw of a
    component lies that far with probability :math:`e^{-8} \approx 3\cdot10^{-4}` (the squared
    distance is :math:`\chi^2_2`).
    """
    check_positive("threshold", threshold)
    target = target.to(x.device, x.dtype)
    L = torch.linalg.cholesky(target.covs)
    diff = x.unsqueeze(-2) - target.means  # (..., n, K, d)
    sol = torch.linalg.solve_triangular(L, diff.unsqueeze(-1), upper=False).squeeze(-1)
    maha = (sol * sol).sum(-1).sqrt().min(-1).values  # (..., n)
    return maha > threshold


#: A particle whose weight is below ``VANISHED / n`` (a thousandth of the uniform weight) has
#: vanished: the trajectory plots draw it hollow, as the paper's Fig. 4 and 5 do.
VANISHED = 1e-3


def stuck_mass(x: torch.Tensor, w: torch.Tensor, target: GaussianMixture, *, threshold: float = 4.0):
    r"""Mass and count of particles far from every target component (:func:`far_from_target`).

    Returns ``(mass (runs,), count (runs,))``: the total weight of the far particles, and the number
    of far particles that have not vanished (weight above ``VANISHED / n``).
    """
    far = far_from_target(x, target, threshold=threshold)
    alive = w > VANISHED / x.shape[-2]
    return (w * far).sum(-1), (far & alive).sum(-1)


def run_measurements(results: dict, *, target: Optional[GaussianMixture] = None, noise_off: Optional[int] = None,
                     early_step: Optional[int] = None, threshold: float = 4.0) -> list[dict]:
    r"""What each run measured, for the claims of :mod:`wgf_core.claims.ift` (one dict per run).

    Measurement only: no threshold of a claim is applied here.

    Parameters
    ----------
    results : dict
        Method name (``"mmd"``, ``"mmd_noise"``, ``"ift"``, ``"wfr"``, ...) to :class:`FlowResult`,
        all over the same runs.
    target : GaussianMixture, optional
        If given, the stuck-particle numbers (:func:`stuck_mass`) at the final step.
    noise_off : int, optional
        If given, :math:`\mathrm{MMD}^2` just before the noise is switched off (the last log before
        step ``noise_off``).
    early_step : int, optional
        If given, :math:`\mathrm{MMD}^2` at step ``early_step`` (last log at or before it).

    Returns
    -------
    list of dict
        Per run, for each method ``m``: ``{m}_final`` (:math:`\mathrm{MMD}^2` at the last step);
        ``{m}_before_off`` and ``{m}_early`` if asked; with ``target``: ``{m}_stuck_mass`` (weight
        of the far particles), ``{m}_stuck_count`` (far particles that have not vanished) and
        ``{m}_far_count`` (all far particles); and ``n``, the number of particles.
    """
    if not results:
        raise ParameterError("'results' is empty")
    runs = {r.mmd2.shape[0] for r in results.values()}
    if len(runs) != 1:
        raise ParameterError(f"the results have different numbers of runs: {sorted(runs)}")
    runs = runs.pop()
    out = [dict() for _ in range(runs)]
    for key, r in results.items():
        cols = {f"{key}_final": r.mmd2[:, -1]}
        if noise_off is not None:
            cols[f"{key}_before_off"] = r.mmd2_at(max(0, check_int("noise_off", noise_off, minimum=0) - 1))
        if early_step is not None:
            cols[f"{key}_early"] = r.mmd2_at(check_int("early_step", early_step, minimum=0))
        if target is not None:
            mass, count = stuck_mass(r.x, r.w, target, threshold=threshold)
            cols[f"{key}_stuck_mass"] = mass.detach().cpu().numpy()
            cols[f"{key}_stuck_count"] = count.cpu().numpy()
            cols[f"{key}_far_count"] = far_from_target(r.x, target, threshold=threshold).sum(-1).cpu().numpy()
        for name, col in cols.items():
            for i in range(runs):
                v = col[i]
                out[i][name] = int(v) if name.endswith("_count") else float(v)
        for i in range(runs):
            out[i]["n"] = int(r.x.shape[-2])
    return out
