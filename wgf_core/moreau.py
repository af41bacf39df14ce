r"""Wasserstein flows of MMD-regularised f-divergences (Moreau envelopes in an RKHS).

Stein, Neumayer, Rux, Steidl, "Wasserstein gradient flows for Moreau envelopes of
f-divergences in reproducing kernel Hilbert spaces", arXiv:2402.04613 (2024). For a kernel
:math:`k` with RKHS :math:`H`, mean embedding :math:`m_\sigma = \int k(\cdot, z)\,d\sigma(z)` and
an entropy :math:`f` (:mod:`wgf_core.divergences`), the functional is the Moreau envelope

.. math::

    D^\lambda_{f,\nu}(\mu) = \min_{\sigma \ge 0}\; D_f(\sigma \mid \nu)
        + \frac{1}{2\lambda} \|m_\sigma - m_\mu\|_H^2
    = \max_{h \in H,\; h \le f'_\infty} \; \mathbb E_\mu[h] - \mathbb E_\nu[f^*\circ h]
        - \frac\lambda2 \|h\|_H^2 ,

with optimal witness :math:`h^* = (m_\mu - m_{\hat\sigma}) / \lambda`; its first variation is
:math:`h^*` and the Wasserstein gradient flow moves particles by :math:`\dot x_i = -\nabla h^*(x_i)`.

**Finite-dimensional problem.** For :math:`\nu = \frac1M\sum_j \delta_{y_j}`,
:math:`\mu = \frac1N \sum_i \delta_{x_i}` write :math:`Z = (y_1..y_M, x_1..x_N)`, the Gram
matrix :math:`K = (k(z_a, z_b))`, :math:`u = (0_M, \tfrac1N 1_N)` (the weights of :math:`\mu`) and
:math:`w = (q, p)` the weights of :math:`\sigma = \sum_j q_j \delta_{y_j} + \sum_i p_i \delta_{x_i}`:
:math:`q` is the part absolutely continuous w.r.t. :math:`\nu` (density :math:`M q_j`), :math:`p`
a singular part on the particles, allowed only when :math:`f'_\infty < \infty` (otherwise
:math:`p = 0`). The primal

.. math::

    P(w) = \frac1M \sum_j f(M q_j) + f'_\infty \sum_i p_i + \frac1{2\lambda}(w - u)^\top K (w - u),
    \qquad w \ge 0,

has the Fenchel dual, in the witness :math:`h = \frac1\lambda \sum_a (u - w)_a k(z_a, \cdot)`,

.. math::

    D(h) = \frac1N \sum_i h(x_i) - \frac1M \sum_j f^*(h(y_j)) - \frac\lambda2 \|h\|_H^2,
    \qquad h(x_i) \le f'_\infty,

(weak duality: Fenchel-Young on each atom plus Cauchy-Schwarz in :math:`H`). With
:math:`f'_\infty = \infty` the minimiser is supported on the target atoms and this is the exact
envelope; with :math:`f'_\infty < \infty` the true minimiser may put singular mass wherever
:math:`h^*` attains :math:`f'_\infty`, and restricting it to the particles (as the reference
method does) gives an upper bound of the envelope. The optimality (KKT) conditions are
:math:`f'(M q_j) = h(y_j)` where :math:`q_j > 0`, :math:`h(y_j) \le f'(0^+)` where
:math:`q_j = 0`, and :math:`h(x_i) \le f'_\infty` with equality where :math:`p_i > 0`.

**Solver** (:func:`solve_moreau`): FISTA with Nesterov momentum, adaptive (gradient) restart and
backtracking on the Lipschitz constant :math:`\|K\|_2/\lambda` (estimated by warm-started power
iterations), prox of :math:`\tfrac1M f(M\cdot)` via :meth:`Entropy.prox`, warm start across
flow steps, and a stopping rule on the **relative duality gap**
:math:`(P(w) - D(h_w)) / \max(|P(w)|, \epsilon)` with :math:`h_w` the witness of the current
primal point, scaled into the dual-feasible set when it violates :math:`h \le f'_\infty`.

**Tight variant** (``tight=True``): :math:`\sigma` a probability measure
(:math:`\sum_a w_a = 1`). Mirror descent in the entropic geometry of the simplex,
:math:`w \leftarrow w \odot e^{-\eta \nabla P(w)} / Z`, with the step chosen by Armijo
backtracking in the mirror geometry (:math:`P(w^+) \le P(w) + \langle \nabla P, w^+ - w\rangle +
\tfrac1\eta \mathrm{KL}(w^+\|w)`, then enlarged by 1.5 for the next iteration), Polyak
(:math:`\eta = (P(w) - D_{best}) / \|\nabla P - \overline{\nabla P}\|_\infty^2`) or a constant.
Its dual adds a scalar :math:`c` for the mass constraint:
:math:`D(h) = \frac1N\sum_i h(x_i) - \frac\lambda2\|h\|^2 - \min_c \big[c + \frac1M\sum_j
f^*(h(y_j) - c)\big]` subject to :math:`h(x_i) - c \le f'_\infty`.

**Annealing** (:func:`wgf_core.flows.mmd_fdiv.lambda_schedule`): our reading of the reference heuristic: the flow starts
with :math:`\lambda_0 = \lambda\,a^{S}` (``a = annealing_factor``, ``S = annealing_stages``) and
divides it by ``a`` at ``S`` equally spaced times in the first half of the horizon, ending at
:math:`\lambda`; a large :math:`\lambda` first moves the particles like an MMD flow (long range),
a small one later sharpens the f-divergence behaviour.

**The flow** runs on the one runner: the energy :class:`wgf_core.energies.MoreauFDivergence` (the
solver state of a flow: warm starts, the :math:`\lambda` schedule), explicit Euler
(:class:`wgf_core.schemes.Euler`) or Euler with step control
(:class:`wgf_core.schemes.StepControlledEuler`), set up by :func:`wgf_core.experiments.mmd_fdiv.run_flow`.
This module keeps the solver and the measurements (:func:`moreau_envelope`, :func:`envelope_along`), below the
energies; :mod:`wgf_core.flows.mmd_fdiv` adds the annealing schedule.

Conventions: ``book/conventions.md`` (MMD without 1/2; a flow step is
:math:`x_i \leftarrow x_i - \tau \nabla h^*(x_i)`; KL is :math:`x\log x - x + 1`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .backends import kernel_grad_sum
from .divergences import Entropy, get_entropy
from .kernels import Kernel, get_kernel, kernel_matrix
from .validation import ParameterError, check_choice, check_positive

__all__ = [
    "MoreauProblem",
    "MoreauSolution",
    "solve_moreau",
    "moreau_envelope",
    "EnvelopeValue",
    "envelope_along",
    "primal_value",
    "dual_value",
    "witness_grad",
    "LINE_SEARCHES",
]

LINE_SEARCHES = ("armijo", "polyak", "const")
_C_GRID, _C_ROUNDS = 48, 5  # tight dual: grid search for the mass multiplier c (bracket / 47^5 ~ 4e-9)


@dataclass
class MoreauProblem:
    r"""The finite-dimensional problem of one flow step, reduced to the atoms sigma may use.

    The free atoms are ``F = y`` (``f'_inf = inf``) or ``F = (y, x)`` (``f'_inf < inf``); with
    ``v = w_F`` the quadratic term is :math:`\frac1{2\lambda}(v^\top K_{FF} v - 2 b^\top v + c_0)`,
    :math:`b = (K u)_F`, :math:`c_0 = u^\top K u = \|m_\mu\|_H^2`.

    Attributes
    ----------
    K : Tensor ``(F, F)``;  b : Tensor ``(F,)``;  c0 : Tensor ``()``
    M, N : int;  entropy : Entropy;  lambd : float;  tight : bool
    """

    K: torch.Tensor
    b: torch.Tensor
    c0: torch.Tensor
    M: int
    N: int
    entropy: Entropy
    lambd: float
    tight: bool = False

    @property
    def singular(self) -> bool:
        """Whether sigma may put mass on the particles (:math:`f'_\\infty < \\infty`)."""
        return self.K.shape[0] > self.M

    @staticmethod
    def from_full(K: torch.Tensor, M: int, N: int, entropy: Entropy, lambd: float, tight: bool = False):
        """Build from the Gram matrix on ``Z = (y, x)``, shape ``(M + N, M + N)``."""
        u = torch.cat([K.new_zeros(M), K.new_full((N,), 1.0 / N)])
        Ku = K @ u
        F = M + N if math.isfinite(entropy.recession) else M
        return MoreauProblem(K[:F, :F], Ku[:F], u @ Ku, M, N, entropy, float(lambd), tight)


@dataclass
class MoreauSolution:
    """Solver output: weights ``w`` on the free atoms, witness ``h`` there, and the log."""

    w: torch.Tensor
    h: torch.Tensor
    primal: float
    dual: float
    gap: float
    iterations: int
    power_vec: Optional[torch.Tensor] = None
    lipschitz: float = float("nan")
    eta: float = float("nan")


def _f_term(prob: MoreauProblem, w: torch.Tensor) -> torch.Tensor:
    e, M = prob.entropy, prob.M
    val = e.f(M * w[:M]).sum() / M
    if prob.singular and e.recession != 0:
        val = val + e.recession * w[M:].sum()
    return val


def _quad(prob: MoreauProblem, w: torch.Tensor, Kw: torch.Tensor) -> torch.Tensor:
    r""":math:`\|m_\sigma - m_\mu\|_H^2 = w^\top K w - 2 b^\top w + c_0` (clamped at 0)."""
    return torch.clamp(w @ Kw - 2 * (prob.b @ w) + prob.c0, min=0)


def primal_value(prob: MoreauProblem, w: torch.Tensor) -> torch.Tensor:
    r""":math:`P(w) = \frac1M\sum_j f(Mq_j) + f'_\infty \sum_i p_i + \frac1{2\lambda}\|m_\sigma - m_\mu\|^2`."""
    return _f_term(prob, w) + 0.5 / prob.lambd * _quad(prob, w, prob.K @ w)


def _tight_conj_term(prob: MoreauProblem, hY: torch.Tensor, hX_max) -> torch.Tensor:
    r""":math:`\min_c c + \frac1M \sum_j f^*(h_j - c)` s.t. :math:`h(x_i) - c \le f'_\infty` (bisection on c)."""
    e = prob.entropy
    lo_parts = []
    if math.isfinite(e.recession):
        lo_parts.append(hY.max() - e.recession)
        if hX_max is not None:
            lo_parts.append(hX_max - e.recession)
    c_lo = torch.stack(lo_parts).max() if lo_parts else hY.min() - 50.0
    c_hi = hY.max() - (e.df0 if math.isfinite(e.df0) else -50.0) + 1.0
    c_hi = torch.maximum(c_hi, c_lo + 1.0)
    lo, hi = c_lo.clone(), c_hi.clone()
    if bool(1 - e.conj_grad(hY - lo).mean() >= 0):  # derivative already >= 0 at the lower end
        c = lo
    else:
        # the derivative 1 - mean (f*)'(h - c) increases in c: shrink the bracket [lo, hi] on a grid of
        # _C_GRID points per round (one batched evaluation each; the bracket shrinks by _C_GRID - 1 per
        # round). Any feasible c gives a valid lower bound; the value's error is second order in c's.
        frac = torch.linspace(0, 1, _C_GRID, dtype=hY.dtype, device=hY.device)
        for _ in range(_C_ROUNDS):
            grid = lo + (hi - lo) * frac
            deriv = 1 - e.conj_grad(hY[None, :] - grid[:, None]).mean(dim=1)
            first = int(torch.searchsorted((deriv > 0).to(torch.int8), torch.ones((), dtype=torch.int8)))
            first = min(max(first, 1), _C_GRID - 1)  # deriv(lo) < 0 <= deriv(hi) by construction
            lo, hi = grid[first - 1], grid[first]
        c = hi
    return c + e.conj(hY - c).mean()


def dual_value(prob: MoreauProblem, hF: torch.Tensor, mean_hX: torch.Tensor, hnorm2: torch.Tensor) -> torch.Tensor:
    r"""Dual objective :math:`D(h)` of a witness with values ``hF`` on the free atoms,
    :math:`\mathbb E_\mu h` = ``mean_hX`` and :math:`\|h\|_H^2` = ``hnorm2``.

    ``h`` is scaled by :math:`t \in [0, 1]` into the feasible set (``h(x_i) <= f'_inf``, ``h(y_j)``
    in the domain of :math:`f^*`) first, so the value is always a valid lower bound.
    """
    e, M = prob.entropy, prob.M
    hY = hF[:M]
    hX_max = hF[M:].max() if prob.singular else None
    t = torch.ones((), dtype=hF.dtype, device=hF.device)
    if not prob.tight and math.isfinite(e.recession):
        mx = hF.max()
        if e.recession > 0:
            lim = e.recession * (1.0 if e.conj_closed_at_recession else (1 - 1e-12))
            t = torch.where(mx > lim, lim / mx, t)
        else:
            t = torch.where(mx > 0, torch.zeros_like(t), t)
    if prob.tight:
        conj_term = _tight_conj_term(prob, hY, hX_max)
    else:
        conj_term = e.conj(t * hY).mean()
    return t * mean_hX - conj_term - 0.5 * prob.lambd * t * t * hnorm2


def _prox(prob: MoreauProblem, v: torch.Tensor, step: float) -> torch.Tensor:
    r"""prox of ``step * G``, :math:`G(w) = \frac1M\sum f(Mq_j) + f'_\infty \sum p_i + \iota_{w\ge0}`:
    :math:`q = \operatorname{prox}_{M\,\mathrm{step}\, f}(M v_q) / M`, :math:`p = (v_p - \mathrm{step}\, f'_\infty)_+`."""
    M = prob.M
    q = prob.entropy.prox(M * v[:M], M * step) / M
    if not prob.singular:
        return q
    return torch.cat([q, torch.clamp(v[M:] - step * prob.entropy.recession, min=0)])


def _power_iteration(K: torch.Tensor, v: Optional[torch.Tensor], iters: int = 6):
    if v is None or v.shape[0] != K.shape[0]:
        v = torch.ones(K.shape[0], dtype=K.dtype, device=K.device)
    v = v / v.norm()
    lam = torch.zeros((), dtype=K.dtype, device=K.device)
    for _ in range(iters):
        Kv = K @ v
        lam = v @ Kv
        v = Kv / Kv.norm().clamp_min(1e-300)
    return float(lam), v


def _evaluate(prob: MoreauProblem, w: torch.Tensor, Kw: torch.Tensor):
    lam = prob.lambd
    h = (prob.b - Kw) / lam
    if not prob.tight and not prob.singular and math.isinf(prob.entropy.recession):
        # the common case (f'_inf = inf, sigma on the target atoms): the same P and D as below with
        # fewer tensor operations (w >= 0 after the prox, no scaling into dom f*): P = F(w) + quad / (2 lam),
        # D = E_mu h - mean f*(h(y)) - lam / 2 ||h||^2 with ||h||^2 = quad / lam^2
        e, M = prob.entropy, prob.M
        bw = float(prob.b @ w)
        quad = max(float(w @ Kw) - 2 * bw + float(prob.c0), 0.0)
        P = float(e.f_(M * w).sum()) / M + 0.5 / lam * quad
        D = (float(prob.c0) - bw) / lam - float(e.conj(h).mean()) - 0.5 * quad / lam
        return P, D, h
    quad = _quad(prob, w, Kw)
    P = _f_term(prob, w) + 0.5 / lam * quad
    mean_hX = (prob.c0 - prob.b @ w) / lam
    D = dual_value(prob, h, mean_hX, quad / lam**2)
    return float(P), float(D), h


def solve_moreau(
    prob: MoreauProblem,
    w0: Optional[torch.Tensor] = None,
    *,
    tol: float = 5e-4,
    max_iter: int = 2000,
    check_every: int = 5,
    line_search: str = "armijo",
    eta0: float = 1.0,
    power_vec: Optional[torch.Tensor] = None,
    lipschitz: Optional[float] = None,
) -> MoreauSolution:
    r"""Solve the primal of :class:`MoreauProblem` to relative duality gap ``tol``.

    Parameters
    ----------
    prob : MoreauProblem
    w0 : Tensor ``(F,)``, optional
        Warm start (the previous flow step's weights); default ``q = 1/M``, ``p = 0``.
    tol : float
        Stop when :math:`(P - D)/\max(|P|, 10^{-12}) \le` ``tol`` (checked every ``check_every``
        iterations).
    max_iter : int
    line_search, eta0 : tight variant only: mirror-descent step rule and initial / constant step.
    power_vec, lipschitz : warm start for the power-iteration estimate of :math:`\|K\|_2`, or its
        value (an upper bound: the backtracking test is then skipped).

    Returns
    -------
    MoreauSolution
    """
    F = prob.K.shape[0]
    if w0 is None or w0.shape[0] != F:
        w0 = prob.K.new_zeros(F)
        w0[: prob.M] = 1.0 / prob.M
    if prob.tight:
        return _solve_tight(prob, w0, tol=tol, max_iter=max_iter, check_every=check_every,
                            line_search=line_search, eta0=eta0)
    K, lam = prob.K, prob.lambd
    w = torch.clamp(w0, min=0)
    exact_L = lipschitz is not None
    if lipschitz is None:
        Lk, power_vec = _power_iteration(K, power_vec)
    else:
        Lk = lipschitz
    L = 1.02 * Lk / lam
    Kw = K @ w
    w_prev, Kw_prev = w, Kw
    beta_t = 1.0
    it = 0
    P, D, h = _evaluate(prob, w, Kw)
    gap = (P - D) / max(abs(P), 1e-12)
    while gap > tol and it < max_iter:
        for _ in range(check_every):
            it += 1
            t_next = 0.5 * (1 + math.sqrt(1 + 4 * beta_t * beta_t))
            mom = (beta_t - 1) / t_next
            y = w + mom * (w - w_prev)
            Ky = Kw + mom * (Kw - Kw_prev)
            grad = (Ky - prob.b) / lam
            while True:
                w_new = _prox(prob, y - grad / L, 1.0 / L)
                Kw_new = K @ w_new
                dlt = w_new - y
                # quadratic upper bound d^T K d / lam <= L |d|^2 (exact test: the smooth part is quadratic);
                # it holds by construction when ||K|| was given exactly (``lipschitz``)
                if exact_L or float(dlt @ (Kw_new - Ky)) <= lam * L * float(dlt @ dlt) * (1 + 1e-9) + 1e-300:
                    break
                L *= 2.0
            # gradient-based adaptive restart (O'Donoghue & Candes 2015)
            beta_t = 1.0 if float((y - w_new) @ (w_new - w)) > 0 else t_next
            w_prev, Kw_prev, w, Kw = w, Kw, w_new, Kw_new
            if it >= max_iter:
                break
        P, D, h = _evaluate(prob, w, Kw)
        gap = (P - D) / max(abs(P), 1e-12)
    return MoreauSolution(w=w, h=h, primal=P, dual=D, gap=gap, iterations=it, power_vec=power_vec, lipschitz=L * lam / 1.02)


def _solve_tight(prob, w0, *, tol, max_iter, check_every, line_search, eta0):
    check_choice("line_search", line_search, LINE_SEARCHES)
    K, lam, M, e = prob.K, prob.lambd, prob.M, prob.entropy
    F = K.shape[0]
    w = torch.clamp(w0, min=0)
    if prob.singular:
        w[M:] = torch.clamp(w[M:], min=1e-3 / prob.N)  # mass on the particles must be able to move
    w = torch.clamp(w, min=1e-300)
    w = w / w.sum()
    rec_vec = K.new_full((F - M,), e.recession if prob.singular else 0.0)

    def value_grad(w):
        Kw = K @ w
        quad = _quad(prob, w, Kw)
        P = float(_f_term(prob, w) + 0.5 / lam * quad)
        h = (prob.b - Kw) / lam
        g = -h + torch.cat([e.df(M * w[:M]), rec_vec])
        g = torch.where(torch.isfinite(g), g, torch.zeros_like(g))
        return P, g, h, quad, Kw

    def dual_of(w, h, quad):
        return float(dual_value(prob, h, (prob.c0 - prob.b @ w) / lam, quad / lam**2))

    P, g, h, quad, Kw = value_grad(w)
    D_best = dual_of(w, h, quad)
    gap = (P - D_best) / max(abs(P), 1e-12)
    eta = eta0
    it = 0
    while gap > tol and it < max_iter:
        it += 1
        if line_search == "polyak":
            spread = float((g - (g * w).sum()).abs().max())
            eta = max((P - D_best) / max(spread**2, 1e-300), 1e-12)
        while True:
            w_new = torch.softmax(torch.log(w) - eta * g, dim=0).clamp_min(1e-300)
            P_new, g_new, h_new, quad_new, Kw_new = value_grad(w_new)
            if line_search != "armijo":
                break
            kl = float((w_new * (torch.log(w_new) - torch.log(w))).sum())
            # Armijo in the mirror geometry: P(w+) <= P(w) + <g, w+ - w> + KL(w+|w) / eta
            if P_new <= P + float(g @ (w_new - w)) + kl / eta + 1e-13 * abs(P) or eta < 1e-14:
                break
            eta *= 0.5
        w, P, g, h, quad = w_new, P_new, g_new, h_new, quad_new
        if line_search == "armijo":
            eta *= 1.5
        if it % check_every == 0 or it >= max_iter:
            D_best = max(D_best, dual_of(w, h, quad))
            gap = (P - D_best) / max(abs(P), 1e-12)
    return MoreauSolution(w=w, h=h, primal=P, dual=D_best, gap=gap, iterations=it, eta=eta)



@dataclass
class EnvelopeValue:
    r""":math:`D^\lambda_{f,\nu}(\mu)` at one :math:`\mu`, certified: ``dual <= value <= primal``.

    Attributes
    ----------
    primal, dual, gap : float
        Upper bound (a feasible :math:`\sigma`), lower bound (a feasible witness), relative gap.
    mmd2 : float
        :math:`\mathrm{MMD}^2(\mu, \nu) = \|m_\mu - m_\nu\|_H^2` with the same kernel (no 1/2).
    op_norm : float
        :math:`\|K_{yy}\|_2 / M`, the norm of the kernel integral operator of :math:`\nu`.
    sigma_mass : float
        Mass of the minimiser :math:`\hat\sigma` (1 for the tight variant).
    iterations : int
    """

    primal: float
    dual: float
    gap: float
    mmd2: float
    op_norm: float
    sigma_mass: float
    iterations: int


def moreau_envelope(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    kernel: str | Kernel = "imq",
    s: Optional[float] = None,
    divergence: str | Entropy = "tsallis",
    alpha: Optional[float] = None,
    lambd: float = 0.01,
    tight: bool = False,
    line_search: str = "armijo",
    tol: float = 5e-4,
    max_iter: int = 2000,
    solver_dtype: torch.dtype = torch.float64,
) -> EnvelopeValue:
    r"""The Moreau envelope :math:`D^\lambda_{f,\nu}(\mu)` of :math:`\mu = \frac1N\sum_i\delta_{x_i}`
    for :math:`\nu = \frac1M\sum_j \delta_{y_j}`, solved by :func:`solve_moreau` (cold start) to the
    relative duality gap ``tol``; ``tight=True``: :math:`\sigma` a probability measure.

    Parameters
    ----------
    x : Tensor ``(N, d)``;  y : Tensor ``(M, d)``
    kernel, s : kernel name (or :class:`Kernel`) and its parameter
    divergence, alpha : entropy name (or :class:`Entropy`) and parameter
    lambd, tight, line_search : :math:`\lambda`, the tight variant and its mirror-descent step rule
    tol, max_iter : the solver's relative duality gap and iteration cap

    Returns
    -------
    EnvelopeValue (certified bounds ``dual <= D <= primal``)
    """
    kern = kernel if isinstance(kernel, Kernel) else get_kernel(kernel, s)
    ent = divergence if isinstance(divergence, Entropy) else get_entropy(divergence, alpha)
    lambd = check_positive("lambd", lambd)
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ParameterError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must be (N, d) and (M, d)")
    N, M = x.shape[0], y.shape[0]
    z = torch.cat([y, x], 0).to(solver_dtype)
    K = kernel_matrix(kern, z, z)
    prob = MoreauProblem.from_full(K, M, N, ent, lambd, tight)
    sol = solve_moreau(prob, tol=tol, max_iter=max_iter, line_search=line_search)
    q_nu = K.new_zeros(prob.K.shape[0])
    q_nu[:M] = 1.0 / M
    mmd2 = float(_quad(prob, q_nu, prob.K @ q_nu))
    op_norm = float(torch.linalg.eigvalsh(K[:M, :M])[-1]) / M
    return EnvelopeValue(primal=sol.primal, dual=sol.dual, gap=sol.gap, mmd2=mmd2, op_norm=op_norm,
                         sigma_mass=float(sol.w.sum()), iterations=sol.iterations)


def envelope_along(snapshots, y: torch.Tensor, **kw) -> dict:
    """:func:`moreau_envelope` at every stored particle set of a flow (snapshots ``(T, N, d)``, e.g.
    ``Trajectory.x_snapshots[:, 0]``); returns numpy arrays ``primal``, ``dual``, ``gap``,
    ``sigma_mass`` of length ``T``."""
    vals = [moreau_envelope(torch.as_tensor(np.asarray(xs), dtype=y.dtype, device=y.device), y, **kw)
            for xs in snapshots]
    return {k: np.array([getattr(v, k) for v in vals]) for k in ("primal", "dual", "gap", "sigma_mass")}


def witness_grad(kernel: Kernel, x: torch.Tensor, z: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    r""":math:`\nabla h(x_i) = \sum_a c_a \nabla_1 k(x_i, z_a)` with :math:`c = (u - w)/\lambda`, shape ``(N, d)``.

    Uses :func:`wgf_core.backends.kernel_grad_sum` (never ``N x (M+N) x d``).
    """
    return kernel_grad_sum(kernel, x, z, coef)
