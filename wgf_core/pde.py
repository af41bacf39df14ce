r"""Ground truths for the variational JKO experiments (Fan, Zhang, Taghvaei, Chen, ICML 2022).

* Ornstein-Uhlenbeck / Fokker-Planck with a quadratic potential: the exact Gaussian solution
  :func:`ou_solution` and the *exact* discrete JKO recursion :func:`ou_jko_gaussian` (which
  isolates the time-discretisation error of a JKO scheme with step ``a``).
* Porous medium equation :math:`\partial_t P = \Delta P^m`: the Barenblatt profile
  :func:`barenblatt` with the unit-mass constant :func:`barenblatt_unit_mass_C`, its numerical mass
  :func:`barenblatt_mass_1d` / :func:`barenblatt_mass_radial`, samples :func:`barenblatt_sample`,
  and a discrete 1-D JKO reference :func:`porous_medium_jko_1d`.
* Aggregation-diffusion :math:`\partial_t P = \nabla\cdot(P\nabla W*P) + \nu\Delta P^m` in 2-D (paper Sec. 4.4):
  the finite-volume reference :class:`AggregationDiffusionFV` (the paper compares with a finite-difference
  solution of Carrillo et al. 2021 but does not show it).

The 1-D JKO reference is **not** the paper's CVXOPT coupling program (appendix C.3, eq. 18); it
is the equivalent Lagrangian (quantile) formulation of the same JKO step: in 1-D,
:math:`W_2^2(P, P_k) = \int_0^1 |X(s) - X_k(s)|^2 ds` for the quantile functions, so with ``N``
cells of equal mass :math:`1/N` bounded by points :math:`x_0 < \dots < x_N`,

.. math::

    x^{k+1} = \arg\min_x \frac{1}{2a}\,\frac1N \sum_{i=0}^{N} w_i (x_i - x_i^k)^2
    + \frac{1}{m-1} \sum_{i=1}^{N} \Delta x_i \Big(\frac{1}{N\,\Delta x_i}\Big)^m,
    \qquad \Delta x_i = x_i - x_{i-1},

(trapezoid weights :math:`w_0 = w_N = 1/2`, else 1), a strictly convex problem on
:math:`\{\Delta x > 0\}` solved to machine precision by damped Newton steps with a tridiagonal
Hessian (``scipy.linalg.solve_banded``).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from .diagnostics import FlowDivergedError
from .validation import ParameterError, check_choice, check_int, check_positive, check_range


# --------------------------------------------------------------------------------------------
# Ornstein-Uhlenbeck
# --------------------------------------------------------------------------------------------
def _sym_fun(A: torch.Tensor, fun) -> torch.Tensor:
    evals, evecs = torch.linalg.eigh(A)
    return evecs @ torch.diag_embed(fun(evals)) @ evecs.transpose(-1, -2)


def ou_solution(A: torch.Tensor, b: torch.Tensor, t: float, m0: Optional[torch.Tensor] = None,
                S0: Optional[torch.Tensor] = None):
    r"""Exact law :math:`P_t` of the OU process started from :math:`N(m_0, S_0)` (default :math:`N(0, I)`).

    The flow is the Wasserstein gradient flow of :math:`D(P\|Q)` with
    :math:`Q \propto e^{-(x-b)^\top A (x-b)/2}` (paper Sec. 4.2), i.e.
    :math:`dX = -A(X-b)\,dt + \sqrt2\, dW`. For symmetric positive definite ``A``,

    .. math::

        \mu_t = e^{-At} m_0 + (I - e^{-At}) b, \qquad
        \Sigma_t = A^{-1}(I - e^{-2At}) + e^{-At} S_0 e^{-At},

    which for :math:`m_0 = 0, S_0 = I` is the paper's formula.

    Parameters
    ----------
    A : (d, d) symmetric positive definite. b : (d,). t : time >= 0.

    Returns
    -------
    mean (d,), cov (d, d)
    """
    d = A.shape[-1]
    m0 = torch.zeros(d, dtype=A.dtype, device=A.device) if m0 is None else m0
    S0 = torch.eye(d, dtype=A.dtype, device=A.device) if S0 is None else S0
    E = _sym_fun(A, lambda l: torch.exp(-l * t))
    Ainv_1mE2 = _sym_fun(A, lambda l: -torch.expm1(-2 * l * t) / l)
    mean = E @ m0 + b - E @ b
    cov = Ainv_1mE2 + E @ S0 @ E
    return mean, 0.5 * (cov + cov.T)


def ou_jko_gaussian(A: torch.Tensor, b: torch.Tensor, step: float, k: int):
    r"""Exact JKO iterate :math:`P_k` for the OU problem from :math:`N(0, I)` (time-discretisation only).

    The JKO step :math:`\min_P \frac1{2a} W_2^2(P, P_k) + D(P\|Q)` keeps Gaussians Gaussian, and from
    :math:`N(0, I)` every covariance commutes with ``A``. In the eigenbasis of ``A`` (eigenvalue
    :math:`\lambda`), the mean solves :math:`(I + aA)\mu_{k+1} = \mu_k + aAb` and each variance
    :math:`s = r^2` solves :math:`\frac{r - r_k}{a\,r} + \lambda - \frac1{r^2} = 0`, i.e.

    .. math::

        r_{k+1} = \frac{r_k/a + \sqrt{r_k^2/a^2 + 4(1/a + \lambda)}}{2(1/a + \lambda)}.

    Returns
    -------
    mean (d,), cov (d, d)
    """
    check_positive("step", step)
    k = check_int("k", k, minimum=0)
    evals, U = torch.linalg.eigh(A)
    d = A.shape[-1]
    mean = torch.zeros(d, dtype=A.dtype, device=A.device)
    r = torch.ones(d, dtype=A.dtype, device=A.device)
    M = torch.eye(d, dtype=A.dtype, device=A.device) + step * A
    for _ in range(k):
        mean = torch.linalg.solve(M, mean + step * A @ b)
        c = 1.0 / step + evals
        r = (r / step + torch.sqrt(r * r / step**2 + 4 * c)) / (2 * c)
    cov = U @ torch.diag_embed(r * r) @ U.T
    return mean, 0.5 * (cov + cov.T)


def random_ou_problem(d: int, generator: Optional[torch.Generator] = None, *, law: str = "mokrov",
                      dtype=torch.float64, device="cpu"):
    r"""A random OU problem ``(A, b)``: target :math:`Q = N(b, A^{-1})`, ``b ~ N(0, I)``.

    ``law="mokrov"`` (default): the law of Mokrov et al. (NeurIPS 2021, appendix A.2 and their
    code), from which Fan et al. (2022, Sec. 4.2) take their OU problems: the stationary covariance
    :math:`\Sigma = A^{-1}` is drawn as scikit-learn's ``make_spd_matrix`` draws it,
    :math:`\Sigma = U(\mathbf 1\mathbf 1^\top + \mathrm{diag}(u))U^\top` with :math:`U` the singular vectors
    of :math:`W^\top W`, :math:`W, u` uniform on [0, 1] (the all-ones matrix is that function's
    ``1.0 + np.diag(u)``, which adds 1 to every entry; so :math:`\Sigma` has one eigenvalue near
    :math:`d` and the others in (0, 1)). Re-implemented in torch on ``generator`` so that the draw is
    reproducible and does not change with the scikit-learn version. With it the exact-JKO floor of
    SymKL at t = 0.9 (a = 0.05) is close to the values the paper reports for its solver.
    ``law="wishart"``: :math:`A = WW^\top/d + I/2`, ``W ~ N(0, 1)`` (eigenvalues about in [0.5, 4.5]).

    Returns ``A`` (d, d) symmetric positive definite and ``b`` (d,).
    """
    d = check_int("d", d)
    check_choice("law", law, ("mokrov", "wishart"))
    if law == "wishart":
        W = torch.randn(d, d, generator=generator, dtype=dtype, device=device)
        A = W @ W.T / d + 0.5 * torch.eye(d, dtype=dtype, device=device)
    else:
        W = torch.rand(d, d, generator=generator, dtype=dtype, device=device)
        U, _, Vh = torch.linalg.svd(W.T @ W)
        u = torch.rand(d, generator=generator, dtype=dtype, device=device)
        cov = U @ (torch.ones(d, d, dtype=dtype, device=device) + torch.diag(u)) @ Vh
        A = torch.linalg.inv(0.5 * (cov + cov.T))
    b = torch.randn(d, generator=generator, dtype=dtype, device=device)
    return 0.5 * (A + A.T), b


def ou_jko_floor(A: torch.Tensor, b: torch.Tensor, step: float, k: int) -> float:
    r"""SymKL between the exact discrete JKO iterate :math:`P_k` and the exact law :math:`P_{ak}`.

    The time-discretisation error of any JKO scheme with step ``a`` that solves each step exactly
    (the *floor* of a JKO solver), for the OU problem ``(A, b)`` from :math:`N(0, I)`.
    """
    from .metrics import gaussian_symkl

    mj, Sj = ou_jko_gaussian(A, b, step, k)
    mt, St = ou_solution(A, b, step * k)
    return float(gaussian_symkl(mj, Sj, mt, St))


def ou_floor_law(d: int, step: float, k: int, draws: int, generator: Optional[torch.Generator] = None, *,
                 law: str = "mokrov") -> np.ndarray:
    r"""``log10`` of :func:`ou_jko_floor` for ``draws`` problems drawn by :func:`random_ou_problem`.

    Its spread is how much one draw of the problem moves the error of an exact JKO solver: the
    precision with which one draw can be compared with a mean over draws (the paper's Fig. 3 averages
    15 repeats, each on a new draw). Returns ``(draws,)`` float64.
    """
    draws = check_int("draws", draws)
    out = np.empty(draws)
    for i in range(draws):
        A, b = random_ou_problem(d, generator, law=law)
        out[i] = math.log10(ou_jko_floor(A, b, step, k))
    return out


# --------------------------------------------------------------------------------------------
# Barenblatt profile
# --------------------------------------------------------------------------------------------
def barenblatt_exponents(m: float, n: int):
    r""":math:`\alpha = n / (n(m-1) + 2)`, :math:`\beta = (m-1)\alpha / (2mn)` (paper Sec. 4.3)."""
    alpha = n / (n * (m - 1) + 2)
    beta = (m - 1) * alpha / (2 * m * n)
    return alpha, beta


def barenblatt_unit_mass_C(m: float, n: int) -> float:
    r"""The constant ``C`` making the Barenblatt profile a probability density.

    Substituting :math:`x = s^{\alpha/n} u` (mass is conserved in time),

    .. math::

        \int P = \int (C - \beta|u|^2)_+^{p} du
        = C^{p + n/2}\, \beta^{-n/2}\, \pi^{n/2}\, \frac{\Gamma(p+1)}{\Gamma(p+1+n/2)},
        \qquad p = \frac{1}{m-1}.

    For ``m = 2, n = 1`` this gives :math:`C = (3/64)^{1/3}`; the paper's :math:`C = (3/16)^{1/3}`
    gives mass 2 (see :func:`barenblatt_mass_1d`).
    """
    check_positive("m - 1", m - 1)
    n = check_int("n", n)
    _, beta = barenblatt_exponents(m, n)
    p = 1.0 / (m - 1)
    log_k = (-n / 2) * math.log(beta) + (n / 2) * math.log(math.pi) + math.lgamma(p + 1) - math.lgamma(p + 1 + n / 2)
    return math.exp(-log_k / (p + n / 2))


def barenblatt_support_radius(t: float, m: float, n: int, C: float, t0: float = 0.0) -> float:
    """Radius of the support of the Barenblatt profile at time ``t``."""
    alpha, beta = barenblatt_exponents(m, n)
    return math.sqrt(C / beta) * (t + t0) ** (alpha / n)


def barenblatt(x, t: float, *, m: float = 2.0, C: Optional[float] = None, t0: float = 0.0, x0=0.0):
    r"""Barenblatt solution of :math:`\partial_t P = \Delta P^m` in :math:`\mathbb R^n` (paper Sec. 4.3).

    .. math::

        P(t, x) = (t + t_0)^{-\alpha}\Big(C - \beta |x - x_0|^2 (t + t_0)^{-2\alpha/n}\Big)_+^{1/(m-1)}.

    Parameters
    ----------
    x : (..., n) tensor or array.
    C : the free constant; ``None`` selects the unit-mass value :func:`barenblatt_unit_mass_C`.

    Returns
    -------
    density (...), same type as ``x``.
    """
    is_np = isinstance(x, np.ndarray)
    xt = torch.as_tensor(x)
    n = xt.shape[-1]
    C = barenblatt_unit_mass_C(m, n) if C is None else C
    alpha, beta = barenblatt_exponents(m, n)
    s = t + t0
    r2 = ((xt - torch.as_tensor(x0, dtype=xt.dtype)) ** 2).sum(-1)
    core = torch.clamp(C - beta * r2 * s ** (-2 * alpha / n), min=0.0)
    out = s ** (-alpha) * core ** (1.0 / (m - 1))
    return out.numpy() if is_np else out


def barenblatt_mass_1d(t: float, *, m: float = 2.0, C: Optional[float] = None, t0: float = 0.0,
                       n_grid: int = 200001) -> float:
    """Numerical mass of the 1-D profile (trapezoid rule on its support)."""
    C = barenblatt_unit_mass_C(m, 1) if C is None else C
    R = barenblatt_support_radius(t, m, 1, C, t0)
    xs = np.linspace(-R, R, n_grid)
    p = barenblatt(xs[:, None].astype(np.float64), t, m=m, C=C, t0=t0)
    return float(np.trapezoid(p, xs))


def barenblatt_mass_radial(t: float, n: int, *, m: float = 2.0, C: Optional[float] = None, t0: float = 0.0,
                           n_grid: int = 200001) -> float:
    r"""Numerical mass in :math:`\mathbb R^n` by the radial integral :math:`|S^{n-1}| \int P(r) r^{n-1} dr`."""
    C = barenblatt_unit_mass_C(m, n) if C is None else C
    R = barenblatt_support_radius(t, m, n, C, t0)
    r = np.linspace(0, R, n_grid)
    x = np.zeros((n_grid, n))
    x[:, 0] = r
    p = barenblatt(x, t, m=m, C=C, t0=t0)
    sphere = 2 * math.pi ** (n / 2) / math.gamma(n / 2)
    return float(sphere * np.trapezoid(p * r ** (n - 1), r))


def barenblatt_second_moment(t: float, n: int, *, m: float = 2.0, t0: float = 0.0) -> float:
    r""":math:`E|X|^2` of the unit-mass profile: :math:`\frac{C}{\beta} s^{2\alpha/n}\, n/(n + 2p + 2)` with :math:`p = 1/(m-1)`.

    (For :math:`|V|^2 \sim \mathrm{Beta}(n/2, p+1)`, :math:`E|V|^2 = n / (n + 2p + 2)`.)
    """
    C = barenblatt_unit_mass_C(m, n)
    R2 = barenblatt_support_radius(t, m, n, C, t0) ** 2
    p = 1.0 / (m - 1)
    return R2 * n / (n + 2 * p + 2)


def barenblatt_sample(n_samples: int, n: int, t: float, *, m: float = 2.0, t0: float = 0.0,
                      generator: Optional[torch.Generator] = None, dtype=torch.float32, device="cpu"):
    r"""Samples ``(n_samples, n)`` of the unit-mass profile: :math:`x = R\,|V|\,\theta` with
    :math:`|V|^2 \sim \mathrm{Beta}(n/2, 1/(m-1) + 1)` and :math:`\theta` uniform on the sphere."""
    C = barenblatt_unit_mass_C(m, n)
    R = barenblatt_support_radius(t, m, n, C, t0)
    p = 1.0 / (m - 1)
    g1 = _gamma(n_samples, n / 2, generator, device)
    g2 = _gamma(n_samples, p + 1, generator, device)
    v2 = g1 / (g1 + g2)
    theta = torch.randn(n_samples, n, generator=generator, dtype=torch.float64, device=device)
    theta = theta / theta.norm(dim=-1, keepdim=True)
    return (R * v2.sqrt().unsqueeze(-1) * theta).to(dtype)


def _gamma(n: int, shape: float, generator, device) -> torch.Tensor:
    """Gamma(shape, 1) samples by Marsaglia-Tsang (seeded by ``generator``; float64)."""
    boost = shape < 1
    k = shape + 1 if boost else shape
    d = k - 1.0 / 3
    c = 1.0 / math.sqrt(9 * d)
    out = torch.empty(0, dtype=torch.float64, device=device)
    while out.numel() < n:
        z = torch.randn(2 * n, generator=generator, dtype=torch.float64, device=device)
        u = torch.rand(2 * n, generator=generator, dtype=torch.float64, device=device)
        v = (1 + c * z) ** 3
        ok = (v > 0) & (torch.log(u.clamp_min(1e-300)) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        out = torch.cat([out, (d * v)[ok]])
    out = out[:n]
    if boost:
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=device)
        out = out * u ** (1.0 / shape)
    return out


# --------------------------------------------------------------------------------------------
# Discrete JKO reference for the 1-D porous medium equation (Lagrangian coordinates)
# --------------------------------------------------------------------------------------------
def _pme_objective(x, xk, a, m, N, wq):
    dx = np.diff(x)
    if np.any(dx <= 0):
        return np.inf
    return (wq * (x - xk) ** 2).sum() / (2 * a * N) + (N ** (-m) * dx ** (1 - m)).sum() / (m - 1)


def porous_medium_jko_step_1d(xk: np.ndarray, a: float, m: float = 2.0, *, tol: float = 1e-12,
                              max_iter: int = 100) -> np.ndarray:
    """One Lagrangian JKO step (see module docstring); ``xk`` are the ``N+1`` cell boundaries."""
    from scipy.linalg import solve_banded

    N = len(xk) - 1
    wq = np.ones(N + 1)
    wq[0] = wq[-1] = 0.5
    x = xk.copy()
    for _ in range(max_iter):
        dx = np.diff(x)
        e1 = -(N ** (-m)) * dx ** (-m)          # d/d(dx) of energy term / (m-1) * (1-m)
        e2 = m * N ** (-m) * dx ** (-m - 1)     # second derivative
        g = wq * (x - xk) / (a * N)
        g[1:] += e1
        g[:-1] -= e1
        diag = wq / (a * N)
        diag = diag.copy()
        diag[1:] += e2
        diag[:-1] += e2
        off = -e2
        ab = np.zeros((3, N + 1))
        ab[0, 1:] = off
        ab[1] = diag
        ab[2, :-1] = off
        step = solve_banded((1, 1), ab, -g)
        f0 = _pme_objective(x, xk, a, m, N, wq)
        t = 1.0
        while t > 1e-12:
            xn = x + t * step
            if np.all(np.diff(xn) > 0) and _pme_objective(xn, xk, a, m, N, wq) <= f0 + 1e-4 * t * (g @ step):
                break
            t *= 0.5
        x = xn
        if np.max(np.abs(t * step)) < tol * max(1.0, np.max(np.abs(x))):
            break
    return x


def porous_medium_jko_1d(n_cells: int, a: float, n_steps: int, *, m: float = 2.0, t0: float = 0.002):
    r"""Discrete JKO reference for the 1-D porous medium equation from the unit-mass Barenblatt at ``t0``.

    Returns
    -------
    list of ``n_steps + 1`` arrays of cell boundaries ``(n_cells + 1,)`` (equal mass ``1/n_cells``
    per cell); use :func:`lagrangian_density` to get the piecewise-constant density.
    """
    n_cells = check_int("n_cells", n_cells, minimum=2)
    check_positive("a", a)
    # equal-mass quantiles of the initial profile (CDF inverted on a fine grid)
    C = barenblatt_unit_mass_C(m, 1)
    R = barenblatt_support_radius(0.0, m, 1, C, t0)
    grid = np.linspace(-R, R, 400001)
    pdf = barenblatt(grid[:, None], 0.0, m=m, t0=t0)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    x = np.interp(np.linspace(0, 1, n_cells + 1), cdf, grid)
    out = [x]
    for _ in range(check_int("n_steps", n_steps, minimum=0)):
        x = porous_medium_jko_step_1d(x, a, m)
        out.append(x)
    return out


def lagrangian_density(boundaries: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Piecewise-constant density of equal-mass cells with ``boundaries`` evaluated at ``xs``."""
    N = len(boundaries) - 1
    dens = 1.0 / (N * np.diff(boundaries))
    idx = np.searchsorted(boundaries, xs, side="right") - 1
    out = np.zeros_like(xs, dtype=float)
    inside = (idx >= 0) & (idx < N)
    out[inside] = dens[idx[inside]]
    return out


def l1_distance_1d(p: np.ndarray, q: np.ndarray, xs: np.ndarray) -> float:
    """:math:`\\int |p - q| dx` on the grid ``xs`` (trapezoid rule)."""
    return float(np.trapezoid(np.abs(p - q), xs))


# --------------------------------------------------------------------------------------------
# Aggregation-diffusion: finite-volume reference on a grid
# --------------------------------------------------------------------------------------------
class AggregationDiffusionFV:
    r"""Finite-volume reference for :math:`\partial_t\rho = \nabla\cdot(\rho\,\nabla W * \rho) + \nu\,\Delta\rho^m` in 2-D.

    The equation is the Wasserstein gradient flow of
    :math:`\frac12\iint W(x-y)\,d\rho\,d\rho + \frac{\nu}{m-1}\int\rho^m`, written as
    :math:`\partial_t\rho = -\nabla\cdot(\rho u)` with :math:`u = -\nabla\xi`,
    :math:`\xi = \frac{\nu m}{m-1}\rho^{m-1} + W * \rho`. This is the first-order version of the
    positivity-preserving, energy-decreasing finite-volume scheme of Carrillo, Chertock & Huang
    (Commun. Comput. Phys. 17, 2015): cell averages on a uniform grid, face velocities
    :math:`u_{i+1/2} = -(\xi_{i+1} - \xi_i)/h`, upwind fluxes :math:`u^+\rho_i + u^-\rho_{i+1}`,
    no flux through the outer boundary (mass is conserved exactly), and Heun's method (SSP-RK2) in
    time with :math:`\Delta t = \mathrm{cfl}\cdot\min\big(h/(4\max|u|),\ h^2/(4\max D)\big)`,
    :math:`D = \nu m\rho^{m-1}` (the transport and the explicit-diffusion stability limits).

    The attraction is the Gaussian :math:`W(x) = -s\,e^{-|x|^2/\ell^2}` (paper of Fan et al., Sec. 4.4:
    :math:`s = 1/\pi`, :math:`\ell = 1`). It is separable, so the discrete convolution
    :math:`(W*\rho)_{ij} = h^2\sum_{kl} W(x_{ij} - x_{kl})\rho_{kl} = -s h^2 (G\rho G)_{ij}`,
    :math:`G_{ik} = e^{-(x_i - x_k)^2/\ell^2}`, costs two ``(n, n)`` matrix products.

    Parameters
    ----------
    n : cells per axis on the square ``[-extent, extent]^2`` (cell width :math:`h = 2\,\mathrm{extent}/n`).
    nu, m : diffusion weight :math:`\nu \ge 0` and exponent :math:`m > 1`.
    strength, width : :math:`s \ge 0` and :math:`\ell > 0` of the attraction (``strength=0``: pure porous medium).
    cfl : safety factor in (0, 1].
    """

    def __init__(self, n: int = 120, extent: float = 4.5, *, nu: float = 0.1, m: float = 3.0,
                 strength: float = 1 / math.pi, width: float = 1.0, cfl: float = 0.5):
        self.n = check_int("n", n, minimum=4)
        self.extent = check_positive("extent", extent)
        self.nu = check_positive("nu", nu, strict=False)
        self.m = 1 + check_positive("m - 1", m - 1)
        self.strength = check_positive("strength", strength, strict=False)
        self.width = check_positive("width", width)
        self.cfl = check_range("cfl", cfl, 0.0, 1.0, closed="right")
        edges = np.linspace(-extent, extent, n + 1)
        self.centers = 0.5 * (edges[1:] + edges[:-1])
        self.h = float(edges[1] - edges[0])
        self._G = np.exp(-((self.centers[:, None] - self.centers[None, :]) / self.width) ** 2)

    def grid(self):
        """Cell centres ``(X, Y)``, each ``(n, n)``, ``X[i, j] = x_i``, ``Y[i, j] = x_j``."""
        return np.meshgrid(self.centers, self.centers, indexing="ij")

    def uniform_square(self, half_width: float = 3.0, mass: float = 1.0) -> np.ndarray:
        """Cell averages of ``mass`` spread uniformly on ``[-half_width, half_width]^2`` (exact cell overlaps)."""
        edges = np.linspace(-self.extent, self.extent, self.n + 1)
        overlap = np.clip(np.minimum(edges[1:], half_width) - np.maximum(edges[:-1], -half_width), 0, None) / self.h
        rho = np.outer(overlap, overlap)
        return rho * (check_positive("mass", mass) / (rho.sum() * self.h ** 2))

    def convolve(self, rho: np.ndarray) -> np.ndarray:
        r""":math:`(W*\rho)` at the cell centres (midpoint quadrature), ``(n, n)``."""
        return -self.strength * self.h ** 2 * (self._G @ rho @ self._G)

    def potential(self, rho: np.ndarray) -> np.ndarray:
        r""":math:`\xi = \frac{\nu m}{m-1}\rho^{m-1} + W*\rho`, the first variation of :meth:`energy`."""
        return self.nu * self.m / (self.m - 1) * rho ** (self.m - 1) + self.convolve(rho)

    def energy(self, rho: np.ndarray) -> float:
        r""":math:`h^2\sum \big(\frac{\nu}{m-1}\rho^m + \frac12\rho\,(W*\rho)\big)`."""
        return float(self.h ** 2 * (self.nu / (self.m - 1) * (rho ** self.m).sum() + 0.5 * (rho * self.convolve(rho)).sum()))

    def rate(self, rho: np.ndarray):
        """:math:`d\\rho/dt` of the semi-discrete scheme and the largest stable step."""
        h = self.h
        xi = self.potential(rho)
        ux = -(xi[1:, :] - xi[:-1, :]) / h
        uy = -(xi[:, 1:] - xi[:, :-1]) / h
        fx = np.maximum(ux, 0) * rho[:-1, :] + np.minimum(ux, 0) * rho[1:, :]
        fy = np.maximum(uy, 0) * rho[:, :-1] + np.minimum(uy, 0) * rho[:, 1:]
        d = np.zeros_like(rho)
        d[:-1, :] -= fx
        d[1:, :] += fx
        d[:, :-1] -= fy
        d[:, 1:] += fy
        umax = max(float(np.abs(ux).max()), float(np.abs(uy).max()), 1e-300)
        dmax = self.nu * self.m * float(rho.max()) ** (self.m - 1)
        dt = self.cfl * min(h / (4 * umax), h * h / (4 * dmax) if dmax > 0 else math.inf)
        return d / h, dt

    def solve(self, rho0: np.ndarray, times, *, max_steps: int = 10_000_000):
        r"""Densities at the increasing ``times`` (``(len(times), n, n)``) from ``rho0`` at time 0.

        The steps are shortened to land on every requested time. Raises
        :class:`~wgf_core.diagnostics.FlowDivergedError` on a non-finite or negative density (with the
        step number and time), or when ``max_steps`` steps do not reach the last time."""
        times = np.asarray(times, dtype=float)
        if times.ndim != 1 or np.any(np.diff(times) < 0) or (times.size and times[0] < 0):
            raise ParameterError(f"parameter 'times' = {times!r} is not allowed: a non-decreasing 1-D sequence of times >= 0")
        rho = np.array(rho0, dtype=float, copy=True)
        if rho.shape != (self.n, self.n):
            raise ParameterError(f"parameter 'rho0' has shape {rho.shape}; it must have shape ({self.n}, {self.n})")
        out = np.empty((len(times),) + rho.shape)
        t, step = 0.0, 0
        for i, target in enumerate(times):
            while t < target:
                d1, dt = self.rate(rho)
                dt = min(dt, target - t)
                r1 = rho + dt * d1
                d2, _ = self.rate(r1)
                rho = 0.5 * (rho + r1 + dt * d2)
                t = target if target - t - dt <= 1e-12 * max(1.0, target) else t + dt
                step += 1
                if step % 1000 == 0 and not (np.isfinite(rho).all() and rho.min() > -1e-12 * rho.max()):
                    raise FlowDivergedError(f"finite-volume solution broke down at step {step} (t = {t:.4g})")
                if step >= max_steps:
                    raise FlowDivergedError(f"max_steps={max_steps} reached at t = {t:.4g} before time {target} "
                                            "(raise max_steps; if it is already large, the CFL steps collapsed: "
                                            "the solution blows up)")
            out[i] = rho
        if not np.isfinite(out).all():
            raise FlowDivergedError(f"finite-volume solution is not finite after step {step}")
        return out
