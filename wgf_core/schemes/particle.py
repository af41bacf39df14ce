"""Schemes: one step of a discretised gradient flow, for the one runner (:func:`wgf_core.runner.run`).

A scheme declares what it needs from an energy (:attr:`Scheme.needs`, a subset of
:data:`wgf_core.energies.CAPABILITIES` plus scheme-specific structure) and moves a
:class:`~wgf_core.measures.Particles` by one iteration:

``mu_next = scheme.step(energy, mu, tau, k, generator)``

where ``tau`` is the step size, ``k`` the number of steps done so far and ``generator`` the
in-loop randomness (one :class:`torch.Generator` for the batch, or one per run). An iteration
counts :attr:`Scheme.steps_per_iteration` steps (2 for the IFT and WFR splittings: a Wasserstein
step and a weight step, as Gladin et al. count them).

Schemes here (more move in with the One-API issue):

* :class:`Euler`: explicit Euler in the Wasserstein geometry, :math:`x \\mapsto x - \\tau\\nabla
  \\frac{\\delta F}{\\delta\\mu}`, with optional noise injection (Arbel et al. 2019: the gradient is
  evaluated at :math:`x + \\beta\\xi`, :math:`\\xi\\sim N(0, I)`).
* :class:`IFT`: the interaction-force transport splitting (Gladin et al. 2024, Algorithm 1): an
  Euler step of the positions, then an MMD (Hilbert) step of the weights, by one projected
  gradient step (``"pgd"``) or the exact simplex QP (23) (``"qp"``).
* :class:`WFR`: the Wasserstein-Fisher-Rao splitting: an Euler step of the positions, then an
  entropic mirror step of the weights.
"""

from __future__ import annotations

import torch

from .. import backends
from ..fista import project_simplex, solve_simplex_qp
from ..kernels import Kernel, pairwise_distances
from ..measures import Particles
from ..random import standard_normal_like
from ..validation import check_choice, check_int, check_positive
from .base import Scheme

__all__ = ["Euler", "IFT", "WFR", "ift_weight_qp"]


class Euler(Scheme):
    r"""Explicit Euler: :math:`x_i \leftarrow x_i - \tau\,\nabla\frac{\delta F}{\delta\mu}[\mu](z_i)`.

    ``noise`` :math:`\beta \ge 0`: :math:`z_i = x_i + \beta\xi_i` (noise injection) until the step
    ``noise_off`` (None: never switched off); without noise :math:`z_i = x_i`. Weights unchanged.
    """

    name = "euler"

    def __init__(self, noise: float = 0.0, noise_off=None):
        self.noise = check_positive("noise", noise, strict=False)
        self.noise_off = None if noise_off is None else check_int("noise_off", noise_off, minimum=0)
        self.needs = frozenset({"first_variation"} if self.noise > 0 else {"gradient"})

    def step(self, energy, mu, tau, k, generator=None):
        x = mu.x
        noisy = self.noise > 0 and (self.noise_off is None or k < self.noise_off)
        if noisy:
            z = x + self.noise * standard_normal_like(x, generator)
            _, g = energy.first_variation(mu, z)
        else:
            g = energy.gradient(mu)
        return Particles(x - tau * g, mu.w)


def ift_weight_qp(kernel: Kernel, x, alpha, y, *, eta: float, scale: float = 0.5):
    r"""The QP (eq. 23/24 of Gladin et al.) of the IFT MMD step at positions ``x`` ``(..., n, d)``.

    Returns ``(A, c)`` with :math:`A = (2c_F + 1/\eta) K_{XX}` and
    :math:`c = 2c_F K_{XY}\mathbf 1/m + K_{XX}\alpha/\eta` (``c_F = scale``), so that the objective
    :math:`\tfrac12\beta^\top A\beta - c^\top\beta` equals (23) up to a constant.
    """
    kxx = kernel.profile(pairwise_distances(x, x))
    kxy1 = kernel.profile(pairwise_distances(x, y)).mean(-1)
    A = (2 * scale + 1.0 / eta) * kxx
    c = 2 * scale * kxy1 + (kxx @ alpha.unsqueeze(-1)).squeeze(-1) / eta
    return A, c


class IFT(Scheme):
    r"""IFT particle gradient descent (Gladin et al. 2024, Algorithm 1).

    A Wasserstein (Euler) step of the positions with step ``tau``, then a step of the weights:
    ``weight_step="pgd"``: :math:`\alpha \leftarrow P_\Delta(\alpha - \eta\,\frac{\delta F}{\delta\mu})`
    at the new positions (the paper's fast variant); ``"qp"``: the QP (23) solved by
    :func:`wgf_core.fista.solve_simplex_qp` to Frank-Wolfe gap ``qp_tol``, warm-started at the
    current weights (needs an :class:`~wgf_core.energies.MMD` energy with uniform target weights).

    ``backend`` (:mod:`wgf_core.backends`, operation ``"ift_pgd_gauss"``): ``"numba"`` runs each iteration as one
    compiled call (:func:`wgf_core.backends.numba_ift.ift_pgd_gauss`: the same iteration up to round-off, about 3x
    faster for n = 100, where the sixty small tensor operations of the generic path cost more than their
    arithmetic) where it applies: the PGD weight step, an :class:`~wgf_core.energies.MMD` energy with the
    Gaussian kernel and a target, CPU tensors; anything else takes the generic path. ``"auto"`` (the default):
    the fused iteration where it applies and the dimension is at most :attr:`AUTO_MAX_DIM`. ``"torch"``: the
    generic path. ``"keops"`` is refused (no implementation of the iteration).
    """

    #: Largest dimension at which ``backend="auto"`` takes the fused iteration (:data:`wgf_core.backends.IFT_AUTO_MAX_DIM`).
    AUTO_MAX_DIM = backends.IFT_AUTO_MAX_DIM

    name = "ift"
    steps_per_iteration = 2

    def __init__(self, eta: float, weight_step: str = "pgd", qp_tol: float = 1e-7, qp_max_iter: int = 1000,
                 backend: str = "auto"):
        self.eta = check_positive("eta", eta)
        self.weight_step = check_choice("weight_step", weight_step, ("pgd", "qp"))
        self.qp_tol = check_positive("qp_tol", qp_tol)
        self.qp_max_iter = check_int("qp_max_iter", qp_max_iter)
        self.backend = backends.check_backend(backend, "ift_pgd_gauss")
        self.needs = frozenset({"first_variation"} | ({"kernel_quadratic"} if weight_step == "qp" else set()))

    def _fused(self, energy, mu):
        """The compiled iteration that runs for ``energy`` and ``mu`` (:func:`wgf_core.backends.implementation`),
        or None for the generic path."""
        kernel = getattr(energy, "kernel", None)
        applicable = (self.weight_step == "pgd" and isinstance(kernel, Kernel) and kernel.name == "gauss"
                      and getattr(energy, "target", None) is not None and hasattr(energy, "_y")
                      and mu.x.device.type == "cpu")
        return backends.implementation("ift_pgd_gauss", self.backend, mu.x.device, mu.x.dtype, mu.x.shape[-1],
                                       applicable=applicable)

    def fused(self, energy, mu) -> bool:
        """Whether the fused iteration runs for ``energy`` and ``mu`` (see the class)."""
        return self._fused(energy, mu) is not None

    def step(self, energy, mu, tau, k, generator=None):
        w = mu.weights()
        fused = self._fused(energy, mu)
        if fused is not None:
            y, wy = energy._y(mu)
            x, beta = fused(mu.x, w, y, wy, s=energy.kernel.param, c=2.0 * energy.scale, tau=float(tau), eta=self.eta)
            return Particles(x, beta)
        _, g = energy.first_variation(mu, mu.x)
        x = mu.x - tau * g
        if self.weight_step == "pgd":
            h, _ = energy.first_variation(Particles(x, w), x, with_grad=False)
            return Particles(x, project_simplex(w - self.eta * h))
        y = energy.target if energy.target.dim() == 3 else energy.target.expand(mu.runs, -1, -1)
        A, c = ift_weight_qp(energy.kernel, x, w, y, eta=self.eta, scale=energy.scale)
        beta, _ = solve_simplex_qp(A, c, w, tol=self.qp_tol, max_iter=self.qp_max_iter)
        return Particles(x, beta)


class WFR(Scheme):
    r"""WFR particle gradient descent: an Euler step of the positions, then the entropic mirror step
    :math:`\alpha_i \propto \alpha_i\exp(-\eta\,\frac{\delta F}{\delta\mu}[\mu^\ell](x^{\ell+1}_i))`."""

    name = "wfr"
    steps_per_iteration = 2
    needs = frozenset({"first_variation"})

    def __init__(self, eta: float):
        self.eta = check_positive("eta", eta)

    def step(self, energy, mu, tau, k, generator=None):
        w = mu.weights()
        _, g = energy.first_variation(mu, mu.x)
        xn = mu.x - tau * g
        h, _ = energy.first_variation(mu, xn, with_grad=False)
        logw = torch.log(w.clamp(min=torch.finfo(w.dtype).tiny)) - self.eta * h
        return Particles(xn, torch.softmax(logw, dim=-1))


