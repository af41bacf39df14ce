"""Ground truths of wgf_core.pde: OU closed form and exact JKO, Barenblatt, 1-D Lagrangian JKO."""

import math

import numpy as np
import pytest
import torch

from wgf_core import pde
from wgf_core.diagnostics import FlowDivergedError
from wgf_core.metrics import gaussian_symkl
from wgf_core.validation import ParameterError


def _problem(d=3, seed=0):
    return pde.random_ou_problem(d, torch.Generator().manual_seed(seed))


def test_ou_solution_solves_moment_odes():
    A, b = _problem()
    t, h = 0.4, 1e-5
    m0, S0 = pde.ou_solution(A, b, t - h)
    m1, S1 = pde.ou_solution(A, b, t + h)
    m, S = pde.ou_solution(A, b, t)
    assert torch.allclose((m1 - m0) / (2 * h), -A @ (m - b), atol=1e-6)
    eye = torch.eye(3, dtype=A.dtype)
    assert torch.allclose((S1 - S0) / (2 * h), -A @ S - S @ A + 2 * eye, atol=1e-6)
    m_inf, S_inf = pde.ou_solution(A, b, 60.0)
    assert torch.allclose(m_inf, b) and torch.allclose(S_inf, torch.linalg.inv(A), atol=1e-10)
    m_0, S_0 = pde.ou_solution(A, b, 0.0)
    assert torch.allclose(m_0, torch.zeros(3, dtype=A.dtype)) and torch.allclose(S_0, eye)


def test_ou_jko_converges_to_flow_first_order():
    A, b = _problem()
    mt, St = pde.ou_solution(A, b, 0.8)
    errs = []
    for k in (8, 16, 32):
        m, S = pde.ou_jko_gaussian(A, b, 0.8 / k, k)
        errs.append(float(gaussian_symkl(m, S, mt, St)))
    # SymKL ~ (error)^2 ~ a^2: halving the step divides it by about 4
    assert errs[0] > errs[1] > errs[2]
    assert 2.5 < errs[0] / errs[1] < 5.5 and 2.5 < errs[1] / errs[2] < 5.5


def test_ou_jko_variance_step_is_the_minimiser_1d():
    from scipy.optimize import minimize_scalar

    lam, a, s_k = 1.7, 0.3, 0.8
    A = torch.tensor([[lam]], dtype=torch.float64)
    b = torch.zeros(1, dtype=torch.float64)
    # one step from variance 1: objective (sqrt s - 1)^2/(2a) + (lam s - log s)/2
    obj = lambda s: (math.sqrt(s) - 1.0) ** 2 / (2 * a) + 0.5 * (lam * s - math.log(s))
    s_star = minimize_scalar(obj, bounds=(1e-4, 10), method="bounded", options={"xatol": 1e-12}).x
    _, S = pde.ou_jko_gaussian(A, b, a, 1)
    assert abs(float(S[0, 0]) - s_star) < 1e-6
    del s_k


@pytest.mark.parametrize("n,m", [(1, 2.0), (3, 2.0), (6, 2.0), (2, 3.0)])
def test_barenblatt_unit_mass(n, m):
    mass = pde.barenblatt_mass_radial(0.01, n, m=m, t0=0.002) if n > 1 else pde.barenblatt_mass_1d(0.01, m=m, t0=0.002)
    assert abs(mass - 1) < 1e-6


def test_paper_constant_has_mass_two():
    assert abs(pde.barenblatt_unit_mass_C(2.0, 1) - (3 / 64) ** (1 / 3)) < 1e-12
    assert abs(pde.barenblatt_mass_1d(0.0, C=(3 / 16) ** (1 / 3), t0=0.002) - 2.0) < 1e-6


def test_barenblatt_solves_pme_1d():
    m, t0, t, h = 2.0, 0.002, 0.003, 1e-7
    x = np.linspace(-0.05, 0.05, 11)[:, None].astype(np.float64)  # inside the support
    dt = (pde.barenblatt(x, t + h, m=m, t0=t0) - pde.barenblatt(x, t - h, m=m, t0=t0)) / (2 * h)
    dx = 1e-4
    pm = lambda y: pde.barenblatt(y, t, m=m, t0=t0) ** m
    lap = (pm(x + dx) - 2 * pm(x) + pm(x - dx)) / dx**2
    assert np.allclose(dt, lap, rtol=1e-4, atol=1e-3)


def test_barenblatt_samples_second_moment():
    g = torch.Generator().manual_seed(1)
    for n in (1, 3, 6):
        x = pde.barenblatt_sample(200000, n, 0.01, t0=0.002, generator=g, dtype=torch.float64)
        ref = pde.barenblatt_second_moment(0.01, n, t0=0.002)
        assert abs(float((x**2).sum(-1).mean()) / ref - 1) < 0.01


def test_lagrangian_jko_mass_and_convergence():
    grid = np.linspace(-0.6, 0.6, 24001)
    errs = []
    for a, K in ((0.004, 2), (0.002, 4), (0.001, 8)):
        xs = pde.porous_medium_jko_1d(400, a, K)
        p = pde.lagrangian_density(xs[-1], grid)
        assert abs(np.trapezoid(p, grid) - 1) < 1e-3
        errs.append(pde.l1_distance_1d(p, pde.barenblatt(grid[:, None], a * K, t0=0.002), grid))
    assert errs[0] > errs[1] > errs[2]


def test_lagrangian_jko_step_is_stationary():
    from scipy.optimize import approx_fprime

    xs = pde.porous_medium_jko_1d(30, 0.001, 1)
    x0, x1 = xs
    N = 30
    wq = np.ones(N + 1)
    wq[0] = wq[-1] = 0.5
    f = lambda x: pde._pme_objective(x, x0, 0.001, 2.0, N, wq)
    grad = approx_fprime(x1, f, 1e-9)
    scale = np.abs(approx_fprime(x0, f, 1e-9)).max()
    assert np.abs(grad).max() < 1e-3 * scale


def test_random_ou_problem_follows_sklearn_make_spd_matrix():
    # the "mokrov" law is scikit-learn's make_spd_matrix for the stationary covariance A^{-1}:
    # feed sklearn the same uniforms and compare
    sk = pytest.importorskip("sklearn.datasets")
    d = 7
    A, b = pde.random_ou_problem(d, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    W = torch.rand(d, d, generator=g, dtype=torch.float64).numpy()
    u = torch.rand(d, generator=g, dtype=torch.float64).numpy()

    class Fixed(np.random.RandomState):
        draws = [W, u]

        def uniform(self, low=0.0, high=1.0, size=None):
            return self.draws.pop(0)

    cov = sk.make_spd_matrix(d, random_state=Fixed(0))
    torch.testing.assert_close(torch.linalg.inv(A), torch.as_tensor(cov), rtol=1e-9, atol=1e-9)
    ev = torch.linalg.eigvalsh(torch.linalg.inv(A))
    assert float(ev[-1]) > d - 1 and float(ev[:-1].max()) < 1.0 and float(ev.min()) > 0
    assert b.shape == (d,)
    A2, _ = pde.random_ou_problem(d, torch.Generator().manual_seed(5), law="wishart")
    assert float(torch.linalg.eigvalsh(A2).min()) >= 0.5 - 1e-9
    with pytest.raises(Exception, match="law"):
        pde.random_ou_problem(d, law="gamma")


# --------------------------------------------------------------------------------------------
# Aggregation-diffusion finite-volume reference
# --------------------------------------------------------------------------------------------
def test_fv_porous_medium_matches_barenblatt_and_converges():
    """With the attraction off the scheme solves dP/dt = Delta P^m: compare with the 2-D Barenblatt."""
    t0, t1, m = 0.02, 0.1, 2.0
    errs = []
    for n in (60, 120):
        fv = pde.AggregationDiffusionFV(n=n, extent=1.5, nu=1.0, m=m, strength=0.0)
        X, Y = fv.grid()
        xy = np.stack([X, Y], -1)
        rho0 = pde.barenblatt(xy, 0.0, m=m, t0=t0)
        rho0 *= 1.0 / (rho0.sum() * fv.h ** 2)
        rho1 = fv.solve(rho0, [t1 - t0])[0]
        exact = pde.barenblatt(xy, t1 - t0, m=m, t0=t0)
        errs.append(float(np.abs(rho1 - exact).sum() * fv.h ** 2))
    assert errs[1] < 0.025, errs
    assert errs[1] < 0.7 * errs[0], errs  # refining the grid reduces the error


def test_fv_convolution_is_the_direct_quadrature():
    fv = pde.AggregationDiffusionFV(n=10, extent=2.0, strength=0.7, width=1.3)
    rho = np.random.default_rng(0).random((10, 10))
    X, Y = fv.grid()
    pts = np.stack([X.ravel(), Y.ravel()], 1)
    W = -0.7 * np.exp(-((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1) / 1.3 ** 2)
    direct = (W @ rho.ravel()) * fv.h ** 2
    assert np.allclose(fv.convolve(rho).ravel(), direct, rtol=1e-12, atol=1e-14)


def test_fv_potential_is_the_first_variation_of_the_energy():
    fv = pde.AggregationDiffusionFV(n=16, extent=2.0)
    rng = np.random.default_rng(1)
    rho = 0.2 + rng.random((16, 16))
    eta = rng.standard_normal((16, 16))
    eps = 1e-6
    fd = (fv.energy(rho + eps * eta) - fv.energy(rho - eps * eta)) / (2 * eps)
    assert abs(fd - fv.h ** 2 * (fv.potential(rho) * eta).sum()) < 1e-7 * max(1.0, abs(fd))


def test_fv_conserves_mass_keeps_symmetry_and_dissipates_energy():
    fv = pde.AggregationDiffusionFV(n=48, extent=4.5)
    rho0 = fv.uniform_square(3.0, mass=1.0)
    assert abs(rho0.sum() * fv.h ** 2 - 1.0) < 1e-12
    out = fv.solve(rho0, np.linspace(0, 40, 9))
    masses = out.sum((1, 2)) * fv.h ** 2
    assert np.abs(masses - 1.0).max() < 1e-12
    assert out.min() >= 0
    energies = [fv.energy(r) for r in out]
    assert all(b < a for a, b in zip(energies, energies[1:])), energies
    last = out[-1]
    assert np.allclose(last, last[::-1, :], atol=1e-12) and np.allclose(last, last.T, atol=1e-12)


def test_fv_parameter_errors():
    with pytest.raises(ValueError, match="nu"):
        pde.AggregationDiffusionFV(nu=-1.0)
    with pytest.raises(ValueError, match="cfl"):
        pde.AggregationDiffusionFV(cfl=2.0)
    with pytest.raises(ValueError, match="m - 1"):
        pde.AggregationDiffusionFV(m=1.0)
    fv = pde.AggregationDiffusionFV(n=8)
    with pytest.raises(ValueError, match="shape"):
        fv.solve(np.zeros((4, 4)), [1.0])
    with pytest.raises(ValueError, match="times"):
        fv.solve(np.zeros((8, 8)), [2.0, 1.0])


@pytest.mark.parametrize("rho0, times, name", [
    (np.zeros((4, 4)), [1.0], "rho0"),
    (np.zeros((8, 8)), [2.0, 1.0], "times"),
    (np.zeros((8, 8)), [[1.0]], "times"),
])
def test_fv_solve_bad_parameters_are_parameter_errors(rho0, times, name):
    with pytest.raises(ParameterError, match=rf"parameter '{name}'"):
        pde.AggregationDiffusionFV(n=8).solve(rho0, times)


def test_fv_solve_breakdown_is_flow_diverged():
    fv = pde.AggregationDiffusionFV(n=8)
    rho0 = np.full((8, 8), 1.0)
    with pytest.raises(FlowDivergedError, match="max_steps=2 reached"):
        fv.solve(rho0, [10.0], max_steps=2)
    with pytest.raises(FlowDivergedError, match="not finite"):
        fv.solve(np.full((8, 8), np.nan), [0.0])
    with pytest.raises(RuntimeError):  # FlowDivergedError is a RuntimeError: old handlers still catch it
        fv.solve(rho0, [10.0], max_steps=2)


def test_fv_aggregation_square_forms_four_pulses_then_one():
    """The paper's Sec. 4.4 problem on a coarse grid: four pulses, later one (the behaviour of Fig. 5)."""
    from wgf_core.experiments.variational import count_density_modes, pulse_timeline

    fv = pde.AggregationDiffusionFV(n=48, extent=4.0, nu=0.1, m=3.0)
    ks = np.arange(1, 401)
    out = fv.solve(fv.uniform_square(3.0, mass=1.0), 0.5 * ks)
    X, Y = fv.grid()
    pts = np.stack([X.ravel(), Y.ravel()], 1)
    modes = [count_density_modes(pts, weights=r.ravel() * fv.h ** 2) for r in out]
    tl = pulse_timeline(modes)
    assert tl["first"] is not None and 40 <= tl["first"] <= 90, tl
    assert tl["one_from"] is not None and tl["last"] < tl["one_from"] <= 400, tl


def test_ou_floor_law_is_reproducible_and_matches_single_draws():
    g = lambda: torch.Generator().manual_seed(4)
    a = pde.ou_floor_law(6, 0.05, 18, 5, g())
    assert a.shape == (5,) and np.isfinite(a).all()
    assert np.array_equal(a, pde.ou_floor_law(6, 0.05, 18, 5, g()))  # same generator: bitwise (the property)
    gen = g()
    A, b = pde.random_ou_problem(6, gen)
    assert math.isclose(a[0], math.log10(pde.ou_jko_floor(A, b, 0.05, 18)), rel_tol=1e-12)
    # a smaller step has a smaller time-discretisation floor
    assert pde.ou_jko_floor(A, b, 0.01, 90) < pde.ou_jko_floor(A, b, 0.05, 18)
