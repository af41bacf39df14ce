r"""The MMD-regularised f-divergence (a Moreau envelope in an RKHS) as an energy of the one runner.

Stein, Neumayer, Rux, Steidl, "Wasserstein gradient flows for Moreau envelopes of f-divergences in
reproducing kernel Hilbert spaces", arXiv:2402.04613 (2024). For a kernel :math:`k` with RKHS
:math:`H`, mean embeddings :math:`m_\sigma` and an entropy :math:`f` (:mod:`wgf_core.divergences`),

.. math::

    D^\lambda_{f,\nu}(\mu) = \min_{\sigma \ge 0}\; D_f(\sigma \mid \nu)
        + \frac{1}{2\lambda} \|m_\sigma - m_\mu\|_H^2 ,

with first variation the optimal witness :math:`h^* = (m_\mu - m_{\hat\sigma})/\lambda` and
Wasserstein gradient :math:`\nabla h^*(x_i)`. The finite problem, its dual, the certified duality gap
and the solver are those of :mod:`wgf_core.moreau` (:class:`MoreauProblem`,
:func:`solve_moreau`); this module holds the solver state of a flow: the solution at the current
particles, reused by the step and the logs, and the warm start of the next solve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch

from ..backends import kernel_grad_sum, kernel_sum
from ..divergences import Entropy
from ..errors import ParameterError
from ..kernels import Kernel, coefficient_grad_sum, kernel_matrix, pairwise_distances
from ..measures import Particles
from ..moreau import LINE_SEARCHES, MoreauProblem, MoreauSolution, solve_moreau, witness_grad
from ..validation import check_choice, check_int, check_positive
from .base import CAPABILITIES

__all__ = ["MoreauFDivergence", "MoreauState"]


@dataclass
class MoreauState:
    r"""The inner problem solved at one particle set ``x`` ``(N, d)`` for one :math:`\lambda`.

    Attributes
    ----------
    x : Tensor ``(N, d)``
        The particles (as given; the cache key).
    lam : float
        :math:`\lambda` of this solve.
    sol : MoreauSolution
        Weights of :math:`\hat\sigma` on the free atoms, primal / dual values, relative gap, iterations.
    atoms : Tensor ``(M + N, d)``
        :math:`Z = (y, x)` in the solver dtype.
    coef : Tensor ``(M + N,)``
        Witness coefficients :math:`h^* = \sum_a c_a k(\cdot, z_a)`:
        :math:`c = (-q/\lambda,\ 1/(N\lambda) - p/\lambda)`.
    grad : Tensor ``(N, d)``
        :math:`\nabla h^*(x_i)` in the particles' dtype.
    kxy_mean, c0 : Tensor ``()``
        :math:`\frac1{NM}\sum k(x_i, y_j)` and :math:`\|m_\mu\|_H^2` (for :math:`\mathrm{MMD}^2`).
    """

    x: torch.Tensor
    lam: float
    sol: MoreauSolution
    atoms: torch.Tensor
    coef: torch.Tensor
    grad: torch.Tensor
    kxy_mean: torch.Tensor
    c0: torch.Tensor

    @property
    def primal(self) -> float:
        return self.sol.primal

    @property
    def dual(self) -> float:
        return self.sol.dual

    @property
    def gap(self) -> float:
        return self.sol.gap

    @property
    def iterations(self) -> int:
        return self.sol.iterations


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a is b or (a.shape == b.shape and a.dtype == b.dtype and a.device == b.device and bool(torch.equal(a, b)))


class MoreauFDivergence:
    r""":math:`F(\mu) = D^\lambda_{f,\nu}(\mu)`, the MMD-regularised f-divergence to :math:`\nu = \frac1M\sum_j\delta_{y_j}`.

    Parameters
    ----------
    kernel : Kernel
        :func:`wgf_core.kernels.get_kernel` (the paper: inverse multiquadric, :math:`s = 0.1`); any registry
        kernel but ``riesz``, which is only conditionally positive definite (no RKHS norm).
    entropy : Entropy
        :func:`wgf_core.divergences.get_entropy` (KL there is :math:`x\log x - x + 1`).
    lambd : float or sequence of float
        :math:`\lambda > 0`, or one :math:`\lambda_j` per iteration count :math:`j = 0, 1, \dots` (an
        annealing schedule, :func:`wgf_core.flows.mmd_fdiv.lambda_schedule`; the last value holds
        beyond its end).
    tight : bool
        :math:`\sigma` a probability measure (mirror descent on the simplex).
    target : Tensor ``(M, d)`` or ``(1, M, d)``
        The target sample :math:`y`.
    line_search : {"armijo", "polyak", "const"}
        Step rule of the tight variant's mirror descent.
    tol : float
        Relative duality gap at which each inner solve stops.
    max_inner : int
        Iteration cap of each inner solve.
    solver_dtype : torch.dtype
        Dtype of the inner problem, float64 or float32 (float64: gaps of 1e-4 need it).

    Notes
    -----
    **Mutable solver state** (one instance drives one flow; :meth:`reset` clears it). The energy
    keeps the solution at the last accepted particles (the *anchor*) and warm-starts every solve
    from it (weights and power-iteration vector), as the reference flow does. The runner calls
    :meth:`next` before every iteration; after ``j`` calls, :meth:`value` and :meth:`state` (what
    the runner logs after iteration ``j``) use :math:`\lambda_j`, and :meth:`gradient` /
    :meth:`first_variation` (what the step of iteration ``j`` uses) use :math:`\lambda_{j-1}`, so the
    particles after iteration ``j`` are logged and moved on with the same :math:`\lambda_j`. A new
    particle set is first solved with the :math:`\lambda` of the step that produced it, then, where
    the schedule switches, re-solved from that solution with the next one. Schemes that try
    positions (the step control of :class:`wgf_core.schemes.StepControlledEuler`) use
    :meth:`trial_gradient`, which solves without moving the anchor, and :meth:`accept`.

    The particles are one uniform measure (``runs == 1``, ``w`` None). Counters: ``total_inner``
    (inner iterations of every solve, trials included) and ``solves``.
    """

    name = "moreau"
    provides = frozenset(CAPABILITIES + ("trial",))

    def __init__(self, kernel: Kernel, entropy: Entropy, lambd: Union[float, Sequence[float]], tight: bool = False,
                 target: Optional[torch.Tensor] = None, *, line_search: str = "armijo", tol: float = 5e-4,
                 max_inner: int = 2000, solver_dtype: torch.dtype = torch.float64):
        if not isinstance(kernel, Kernel):
            raise ParameterError(f"MoreauFDivergence: kernel must be a wgf_core.kernels.Kernel, got {type(kernel).__name__}")
        if kernel.name == "riesz":  # -|x - y|^r is only conditionally positive definite: no RKHS, no envelope
            raise ParameterError("parameter 'kernel' = 'riesz' is not allowed: the Moreau envelope needs a positive "
                                 "definite kernel (an RKHS norm), any other of wgf_core.kernels.KERNELS")
        if not isinstance(entropy, Entropy):
            raise ParameterError("MoreauFDivergence: entropy must be a wgf_core.divergences.Entropy "
                                 f"(get_entropy), got {type(entropy).__name__}")
        if isinstance(lambd, (list, tuple, np.ndarray)):
            lams = [check_positive("lambd", float(v)) for v in lambd]
            if not lams:
                raise ParameterError("parameter 'lambd' = [] is not allowed: a number > 0 or a nonempty schedule")
        else:
            lams = [check_positive("lambd", lambd)]
        if not all(math.isfinite(v) for v in lams):
            raise ParameterError(f"parameter 'lambd' = {lambd!r} is not allowed: finite numbers > 0")
        check_choice("tight", tight, (True, False))
        if not isinstance(target, torch.Tensor) or not (target.dim() == 2 or (target.dim() == 3 and target.shape[0] == 1)):
            shape = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
            raise ParameterError(f"MoreauFDivergence: target must be a tensor (M, d) or (1, M, d), got {shape}")
        self.kernel, self.entropy, self.tight = kernel, entropy, bool(tight)
        self.lambdas = np.asarray(lams, dtype=float)
        self.target = target if target.dim() == 2 else target[0]
        self.line_search = check_choice("line_search", line_search, LINE_SEARCHES)
        self.tol = check_positive("tol", tol)
        self.max_inner = check_int("max_inner", max_inner)
        self.solver_dtype = check_choice("solver_dtype", solver_dtype, (torch.float64, torch.float32))
        self._ys = self.target.to(solver_dtype)
        self._Kyy = kernel_matrix(kernel, self._ys, self._ys)
        self._kyy_mean = self._Kyy.mean()
        self.singular = math.isfinite(entropy.recession)
        self._lip_yy = None if self.singular else float(torch.linalg.eigvalsh(self._Kyy)[-1])
        self.reset()

    # -- solver state ------------------------------------------------------------------------
    def reset(self) -> "MoreauFDivergence":
        """Forget the solver state (anchor, trial, iteration count, counters)."""
        self._it = 0
        self._anchor: Optional[MoreauState] = None
        self._trial: Optional[MoreauState] = None
        self.total_inner = 0
        self.solves = 0
        return self

    @property
    def lambd(self) -> float:
        """The last :math:`\\lambda` of the schedule (the nominal one)."""
        return float(self.lambdas[-1])

    def lam_at(self, j: int) -> float:
        r""":math:`\lambda_j`, the :math:`\lambda` after ``j`` iterations."""
        return float(self.lambdas[min(max(j, 0), len(self.lambdas) - 1)])

    def next(self, generator=None) -> "MoreauFDivergence":
        """Called by the runner before every iteration: advances the schedule's clock (itself)."""
        self._it += 1
        self._trial = None
        return self

    @property
    def anchor(self) -> Optional[MoreauState]:
        """The solution at the last accepted particles (None before the first solve)."""
        return self._anchor

    def _x(self, mu: Particles) -> torch.Tensor:
        if not isinstance(mu, Particles):
            raise ParameterError(f"MoreauFDivergence: expected Particles, got {type(mu).__name__}")
        if mu.runs != 1 or mu.w is not None or mu.d != self.target.shape[-1]:
            raise ParameterError(f"MoreauFDivergence: the Moreau solver moves one uniform measure in "
                                 f"d = {self.target.shape[-1]}: Particles with runs = 1 and w None, got runs = {mu.runs}, "
                                 f"d = {mu.d}, w {'None' if mu.w is None else 'given'} (run seeds one after another)")
        return mu.x[0]

    def _solve(self, x: torch.Tensor, lam: float, warm: Optional[MoreauState]) -> MoreauState:
        """Assemble and solve the problem at ``x`` ``(N, d)``, warm-started from ``warm``."""
        kern, sd = self.kernel, self.solver_dtype
        M, N = self._ys.shape[0], x.shape[0]
        xs = x.to(sd)
        z = torch.cat([self._ys, xs], 0)
        if kern.is_radial:  # one distance matrix serves the Gram blocks and the witness gradient
            Kxz, C = kern.profile_and_coefficient(pairwise_distances(xs, z))  # (N, M + N) each
        else:
            C, Kxz = None, kernel_matrix(kern, xs, z)
        Kxy, Kxx = Kxz[:, :M], Kxz[:, M:]
        c0 = Kxx.mean()
        if self.singular:
            K = torch.cat([torch.cat([self._Kyy, Kxy.T], 1), torch.cat([Kxy, Kxx], 1)], 0)
            b = torch.cat([Kxy.mean(0), Kxx.mean(1)])
        else:
            K, b = self._Kyy, Kxy.mean(0)
        prob = MoreauProblem(K, b, c0, M, N, self.entropy, float(lam), self.tight)
        sol = solve_moreau(prob, None if warm is None else warm.sol.w, tol=self.tol, max_iter=self.max_inner,
                           line_search=self.line_search, power_vec=None if warm is None else warm.sol.power_vec,
                           lipschitz=self._lip_yy)
        self.total_inner += sol.iterations
        self.solves += 1
        # h* = (m_mu - m_sigma) / lambda: coefficients -w/lambda on sigma's atoms, 1/(N lambda) on x
        coef_x = torch.full((N,), 1.0 / (N * prob.lambd), dtype=sd, device=x.device)
        if self.singular:
            coef_x = coef_x - sol.w[M:] / prob.lambd
        coef = torch.cat([-sol.w[:M] / prob.lambd, coef_x])
        grad = witness_grad(kern, xs, z, coef) if C is None else coefficient_grad_sum(C, xs, z, coef)
        return MoreauState(x, float(lam), sol, z, coef, grad.to(x.dtype), Kxy.mean(), c0)

    def _state_at(self, mu: Particles, need: int, origin: int) -> MoreauState:
        x = self._x(mu)
        st = self._anchor
        if st is None or not _same(st.x, x):
            st = self._anchor = self._solve(x, self.lam_at(origin), st)
        if st.lam != self.lam_at(need):
            st = self._anchor = self._solve(x, self.lam_at(need), st)
        return st

    def state(self, mu: Particles) -> MoreauState:
        r"""The solution at ``mu`` as logged after the current iteration (:math:`\lambda_j`, ``j`` = calls of :meth:`next`)."""
        return self._state_at(mu, self._it, self._it - 1)

    def _step_state(self, mu: Particles) -> MoreauState:
        return self._state_at(mu, self._it - 1, self._it - 2)

    # -- what it provides ----------------------------------------------------------------------
    def value(self, mu: Particles) -> torch.Tensor:
        r"""The primal value :math:`P(\hat w) \ge D^\lambda_{f,\nu}(\mu)` of the solve (certified to the
        relative gap ``tol``), shape ``(1,)``, in the solver dtype (not differentiable)."""
        return torch.tensor([self.state(mu).primal], dtype=self.solver_dtype, device=mu.x.device)

    def gradient(self, mu: Particles) -> torch.Tensor:
        r"""Wasserstein gradient :math:`\nabla h^*(x_i)` at the particles, ``(1, N, d)``."""
        return self._step_state(mu).grad.unsqueeze(0)

    def first_variation(self, mu: Particles, z: torch.Tensor, *, with_grad: bool = True):
        r"""The witness :math:`h^*(z) = \frac1\lambda\big(\frac1N\sum_i k(z, x_i) - \sum_a w_a k(z, z_a)\big)`
        and its gradient at points ``z`` ``(1, P, d)`` or ``(P, d)``.

        :math:`h^*` is the first variation of :math:`D^\lambda_{f,\nu}` (for the tight variant up to
        the additive mass multiplier, which no gradient sees). Returns ``h`` ``(1, P)`` and ``g``
        ``(1, P, d)`` (or None), in the dtype of ``z``.
        """
        st = self._step_state(mu)
        zz = (z[0] if z.dim() == 3 else z).to(self.solver_dtype)
        h = kernel_sum(self.kernel, zz, st.atoms, st.coef).to(z.dtype).unsqueeze(0)
        g = kernel_grad_sum(self.kernel, zz, st.atoms, st.coef).to(z.dtype).unsqueeze(0) if with_grad else None
        return h, g

    # -- trial positions (step control) ----------------------------------------------------------
    def trial_gradient(self, mu: Particles) -> torch.Tensor:
        r""":math:`\nabla h^*` ``(1, N, d)`` at trial particles, solved with the current step's
        :math:`\lambda` from the anchor without moving it (:meth:`accept` makes the trial the anchor)."""
        self._trial = self._solve(self._x(mu), self.lam_at(self._it - 1), self._anchor)
        return self._trial.grad.unsqueeze(0)

    def accept(self, mu: Particles) -> None:
        """Make the last trial (at the particles of ``mu``) the anchor: the next solves start from it."""
        if self._trial is None or not _same(self._trial.x, self._x(mu)):
            raise ParameterError("MoreauFDivergence.accept: mu is not the last trial of trial_gradient")
        self._anchor, self._trial = self._trial, None

    def mmd2(self, mu: Particles) -> float:
        r""":math:`\mathrm{MMD}^2(\mu, \nu)` with the energy's kernel (no 1/2), clamped at 0."""
        st = self.state(mu)
        return max(float(self._kyy_mean - 2 * st.kxy_mean + st.c0), 0.0)
