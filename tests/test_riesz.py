"""Riesz energies, one-sided derivatives and the exact interaction-energy solution."""

import math

import pytest
import torch

from wgf_core import riesz as R
from wgf_core.kernels import get_kernel
from wgf_core.metrics import energy_distance
from wgf_core.random import stream
from wgf_core.validation import ParameterError


def _gen(s):
    """Test draw ``s``: the stream (0, "tests/riesz", s) of the one seeding (wgf_core.random)."""
    return stream(0, "tests/riesz", s)


def _dist(a, b):
    return (a.unsqueeze(-2) - b.unsqueeze(-3)).norm(dim=-1)


def _dense_mmd2(x, y, r):
    d = lambda a, b: _dist(a, b) ** r
    return 2 * d(x, y).mean() - d(x, x).mean() - d(y, y).mean()


@pytest.mark.parametrize("r", [0.5, 1.0, 1.5])
def test_energies_match_double_sums(r, device):
    g = _gen(0)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64).to(device)
    y = torch.randn(30, 3, generator=g, dtype=torch.float64).to(device) + 0.5
    assert torch.allclose(R.interaction_energy(x, r), -0.5 * (_dist(x, x) ** r).mean())
    assert torch.allclose(R.potential_energy(x, y, r), (_dist(x, y) ** r).mean())
    assert torch.allclose(R.riesz_mmd2(x, y, r), _dense_mmd2(x, y, r))
    assert torch.allclose(R.riesz_energy(x, y, r), 0.5 * _dense_mmd2(x, y, r))


def test_mmd_r1_is_energy_distance():
    g = _gen(1)
    x, y = torch.randn(50, 2, generator=g, dtype=torch.float64), torch.randn(60, 2, generator=g, dtype=torch.float64)
    assert torch.allclose(R.riesz_mmd2(x, y, 1.0), energy_distance(x, y), rtol=1e-6)


@pytest.mark.parametrize("r", [0.7, 1.0, 1.6])
@pytest.mark.parametrize("with_target", [False, True])
def test_gradient_matches_autograd(r, with_target):
    g = _gen(2)
    x = torch.randn(25, 2, generator=g, dtype=torch.float64).requires_grad_(True)
    y = torch.randn(20, 2, generator=g, dtype=torch.float64) if with_target else None
    F = R.riesz_energy(x, y, r)
    (auto,) = torch.autograd.grad(F, x)
    assert torch.allclose(R.riesz_gradient(x.detach(), y, r) / 25, auto, atol=1e-10)
    # custom autograd function: same gradient where points are distinct
    x2 = x.detach().clone().requires_grad_(True)
    R.DifferentiableRieszEnergy.apply(x2, y, r).backward()
    assert torch.allclose(x2.grad, auto, atol=1e-10)


def test_one_sided_gradient_at_coincident_points_is_finite():
    x = torch.zeros(10, 2, dtype=torch.float64, requires_grad=True)
    R.DifferentiableRieszEnergy.apply(x, None, 1.0).backward()
    assert torch.isfinite(x.grad).all() and (x.grad == 0).all()


def test_directional_derivative_matches_one_sided_difference():
    g = _gen(3)
    # two clusters of coincident particles, one particle sitting on a target point, others generic
    x = torch.cat([torch.zeros(6, 2), torch.ones(5, 2), torch.randn(8, 2, generator=g)]).double()
    y = torch.cat([torch.randn(9, 2, generator=g).double(), x[-1:].clone()])
    v = torch.randn(x.shape, generator=g, dtype=torch.float64)
    for target in (None, y):
        d = R.riesz_directional_derivative(x, v, target, 1.0)
        h = 1e-7
        fd = (R.riesz_energy(x + h * v, target, 1.0) - R.riesz_energy(x, target, 1.0)) / h
        assert abs(float(d - fd)) < 1e-5 * max(1.0, abs(float(fd)))
    # differentiable in v, finite gradient even when v coincide within a group
    v0 = torch.zeros_like(v).requires_grad_(True)
    R.riesz_directional_derivative(x, v0, y, 1.0).backward()
    assert torch.isfinite(v0.grad).all()
    with pytest.raises(ParameterError, match="'r'"):
        R.riesz_directional_derivative(x, v, None, 0.5)


def test_exact_mean_norm_number_and_sampler():
    # E|x| = pi R / 4 = pi^2 t / 16; at t = 1.2: 0.74022 (issue value 0.7402)
    assert R.exact_interaction_mean_norm(1.2) == pytest.approx(0.74022, abs=5e-6)
    assert R.exact_interaction_radius(1.2) == pytest.approx(math.pi * 1.2 / 4, rel=1e-14)
    assert R.interaction_profile_constant(1.0) == pytest.approx(math.pi / 4, rel=1e-14)


@pytest.mark.parametrize("r", [0.5, 1.0, 1.5])
def test_exact_density_sampler_and_spiral_agree_for_every_r(r):
    # quadrature of the density in polar coordinates: mass 1 and the closed-form mean
    t, Rr = 1.2, R.exact_interaction_radius(1.2, r)
    mean = R.exact_interaction_mean_norm(t, r)
    # substitution s = Rr (1 - (1 - v)^2) removes the (1 - s^2/Rr^2)^(-r/2) edge singularity enough for a midpoint rule
    v = (torch.arange(400000, dtype=torch.float64) + 0.5) / 400000
    s = Rr * (1 - (1 - v) ** 2)
    jac = Rr * 2 * (1 - v) / 400000
    dens = R.exact_interaction_density(torch.stack([s, 0 * s], -1), t, r)
    assert float((2 * math.pi * s * dens * jac).sum()) == pytest.approx(1.0, abs=2e-3)
    assert float((2 * math.pi * s * s * dens * jac).sum()) == pytest.approx(mean, rel=2e-3)
    gen = _gen(4)
    xs = R.sample_exact_interaction(200000, t, r=r, generator=gen, dtype=torch.float64)
    assert float(xs.norm(dim=-1).mean()) == pytest.approx(mean, rel=3e-3)
    assert float(xs.norm(dim=-1).max()) <= Rr * (1 + 1e-12)  # up to the rounding of R cos, R sin
    sp = R.spiral_exact_interaction(20000, t, r=r, dtype=torch.float64)
    assert float(sp.norm(dim=-1).mean()) == pytest.approx(mean, rel=1e-3)
    assert float(sp.mean(0).norm()) < 1e-3
    with pytest.raises(ParameterError, match="'r'"):
        R.exact_interaction_radius(1.0, 2.0)


@pytest.mark.parametrize("r", [0.5, 1.0, 1.5])
def test_exact_solution_is_a_flow_velocity_x_over_2_minus_r_t(r):
    # self-similar with R ~ t^(1/(2-r)): the velocity -grad Phi(x) = grad (|.|^r * rho_t)(x) must be x / ((2-r) t);
    # checked by Monte Carlo over exact samples (standard error about 0.002 here)
    gen = _gen(5)
    t = 0.8
    xs = R.sample_exact_interaction(40000, t, r=r, generator=gen, dtype=torch.float64)
    q = R.spiral_exact_interaction(50, t, r=r, dtype=torch.float64) * 0.95
    from wgf_core.backends import kernel_grad_sum
    from wgf_core.kernels import get_kernel

    vel = -kernel_grad_sum(get_kernel("riesz", r), q, xs)   # uniform weights 1/M
    assert torch.allclose(vel, q / ((2 - r) * t), atol=0.02)
    # a wrong exponent of the profile fails the same check
    wrong = R.spiral_exact_interaction(40000, t, r=1.0 if r != 1.0 else 0.5, dtype=torch.float64)
    wrong = wrong * R.exact_interaction_radius(t, r) / float(wrong.norm(dim=-1).max())
    vel_w = -kernel_grad_sum(get_kernel("riesz", r), q, wrong)
    assert not torch.allclose(vel_w, q / ((2 - r) * t), atol=0.02)


def test_split_diracs_is_deterministic_in_2d_and_scales_with_mass():
    x = torch.cat([torch.zeros(300, 2), torch.full((100, 2), 3.0), torch.tensor([[5.0, 5.0]])])
    a, b = R.split_diracs(x, 0.1), R.split_diracs(x, 0.1)
    assert torch.equal(a, b)
    assert torch.equal(a[-1], x[-1])
    m0 = float(a[:300].norm(dim=-1).mean())
    assert m0 == pytest.approx(math.pi * R.exact_interaction_radius(0.1 * 300 / 401) / 4, rel=1e-2)
    assert torch.unique(a, dim=0).shape[0] == 401


def test_unbiased_gradient_is_the_u_statistic():
    # unbiased=True: the interaction term averages over the N - 1 other particles (explicit sum)
    g = _gen(5)
    x = torch.randn(12, 2, generator=g, dtype=torch.float64)
    t = torch.randn(9, 2, generator=g, dtype=torch.float64)
    r = 1.3
    grad1 = lambda a, b: -r * (a - b).norm() ** (r - 2) * (a - b)
    want = torch.stack([sum(grad1(x[i], x[j]) for j in range(12) if j != i) / 11
                        - sum(grad1(x[i], t[j]) for j in range(9)) / 9 for i in range(12)])
    assert torch.allclose(R.riesz_gradient(x, t, r, unbiased=True), want, atol=1e-12)
    assert not torch.allclose(R.riesz_gradient(x, t, r), want, atol=1e-6)


def test_jittered_diracs_is_the_scripts_start():
    g = lambda: _gen(4)
    x = R.jittered_diracs([[-0.5, 0.0], [0.5, 0.0]], [3, 5], generator=g())
    assert x.shape == (8, 2) and x.dtype == torch.float64
    centres = torch.tensor([[-0.5, 0.0]] * 3 + [[0.5, 0.0]] * 5, dtype=torch.float64)
    dev = (x - centres).abs()
    assert float(dev.max()) <= 0.5e-9 and float(dev.min()) >= 0 and len(set(x[:, 1].tolist())) == 8  # all distinct
    assert torch.equal(x, R.jittered_diracs([[-0.5, 0.0], [0.5, 0.0]], [3, 5], generator=g()))  # exact: same seed
    with pytest.raises(ParameterError, match="'counts'"):
        R.jittered_diracs([[0.0, 0.0]], [3, 4])


def test_null_mmds_match_the_closed_form_of_iid_samples():
    # E MMD^2(nu_n, nu) = E|Y - Y'| / n for i.i.d. samples of size n (r = 1, V-statistic): the typed
    # 0.02 floor of the Dirac notebook replaced by this computed one (issue 14)
    atoms = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    n, gen = 600, _gen(0)
    vals = R.null_mmds(lambda k: R.sample_atoms(atoms, n, generator=gen), atoms, draws=400)
    expected = (0.5 * 2 * math.sqrt(8.0)) / 2 / n    # E|Y - Y'| = P(Y != Y') |a - b| = 0.5 * 2 sqrt 2
    assert sum(v * v for v in vals) / len(vals) == pytest.approx(expected, rel=0.15)
    assert 0.0 < max(vals) < 0.2 and len(vals) == 400
    fine = R.null_mmds(lambda k: R.sample_atoms(atoms, n, generator=gen), atoms, draws=3,
                       kernel=get_kernel("gauss", 0.1))
    assert len(fine) == 3 and all(v >= 0 for v in fine)


def test_mean_nearest_distance():
    t = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    assert R.mean_nearest_distance(torch.tensor([[1.0, 0.0], [7.0, 0.0]]), t) == pytest.approx(2.0)


@pytest.mark.parametrize("unbiased", [False, True])
def test_fused_gradient_equals_the_two_sums(unbiased):
    # riesz_gradient with a target makes one pass over [x, target] with signed weights
    from wgf_core.backends import kernel_grad_sum

    gen = _gen(3)
    x, t = torch.randn(40, 5, generator=gen, dtype=torch.float64), torch.randn(70, 5, generator=gen, dtype=torch.float64)
    x[3] = x[7]   # coincident particles
    t[0] = x[1]   # a particle on a target point
    k = get_kernel("riesz", 1.0)
    two = kernel_grad_sum(k, x, x) * (40 / 39 if unbiased else 1.0) - kernel_grad_sum(k, x, t)
    assert torch.allclose(R.riesz_gradient(x, t, 1.0, unbiased=unbiased), two, rtol=1e-12, atol=1e-14)
    xb = torch.stack([x, x + 1])   # batched
    assert torch.allclose(R.riesz_gradient(xb, t, 1.0)[1], R.riesz_gradient(x + 1, t, 1.0), rtol=1e-12, atol=1e-14)


# --- the step rule of the interaction page at r != 1 --------------------------------------------------------------
def _euler_radius(r: float, growth: float, steps: int, implicit: bool) -> float:
    """Euler on the scalar velocity x' = x / ((2 - r) t) (the exact flow's, per particle), geometric grid."""
    t1 = R.interaction_time_unit(r)
    t0 = t1 * growth ** -(2 - r)
    x, t = R.exact_interaction_radius(t0, r), t0
    for tau in R.geometric_time_steps(t0, t1, steps):
        x = x / (1 - tau / ((2 - r) * (t + tau))) if implicit else x + tau * x / ((2 - r) * t)
        t += tau
    return x


@pytest.mark.parametrize("r", [0.05, 0.3, 0.7, 1.0, 1.4, 1.9, 1.999])
@pytest.mark.parametrize("implicit", [False, True])
def test_step_error_is_euler_on_the_exact_velocity_field(r, implicit):
    """The closed form of the grid's Euler error equals stepping the exact velocity field (radius 1 at the end),
    is 0 at r = 1 (radius linear in t), decreases like 1/K, and its sign is the convexity's."""
    for steps in (24, 100):
        e = R.self_similar_step_error(r, 10.0, steps, implicit=implicit)
        assert e == pytest.approx(_euler_radius(r, 10.0, steps, implicit) - 1, rel=1e-9, abs=1e-12)
    e24, e100 = (R.self_similar_step_error(r, 10.0, k, implicit=implicit) for k in (24, 100))
    if r == 1.0:
        assert abs(e24) < 1e-12 and abs(e100) < 1e-12
    else:
        assert abs(e100) < abs(e24) and (e100 < 0) == ((r > 1) != implicit)
        assert abs(e100) == pytest.approx(abs(r - 1) * math.log(10.0) ** 2 / 200, rel=0.25)


def test_steps_for_accuracy_is_the_fewest_and_refuses_beyond_its_maximum():
    for r, acc in ((0.3, 0.01), (1.9, 0.01), (1.9, 0.025), (1.5, 0.002)):
        k = R.steps_for_accuracy(r, 10.0, acc, minimum=5)
        assert abs(R.self_similar_step_error(r, 10.0, k)) <= acc < abs(R.self_similar_step_error(r, 10.0, k - 1))
    assert R.steps_for_accuracy(1.0, 10.0, 1e-9, minimum=24) == 24   # exact at r = 1: the minimum
    with pytest.raises(ParameterError, match="'r' = 1.9"):
        R.steps_for_accuracy(1.9, 10.0, 1e-6, maximum=1000)


def test_time_unit_and_geometric_steps():
    for r in (0.3, 1.0, 1.9, 1.99):
        assert R.exact_interaction_radius(R.interaction_time_unit(r), r) == pytest.approx(1.0, rel=1e-12)
    taus = R.geometric_time_steps(0.1, 1.2, 7)
    assert sum(taus) == pytest.approx(1.1, rel=1e-12)
    assert all(b / a == pytest.approx((1.2 / 0.1) ** (1 / 7)) for a, b in zip(taus, taus[1:]))
    with pytest.raises(ParameterError, match="'t1'"):
        R.geometric_time_steps(1.0, 0.5, 3)


def test_the_particle_flow_on_the_rules_steps_meets_the_accuracy_and_uniform_steps_do_not():
    """r = 1.9 at n = 200: on the rule's geometric steps (1 % for the grid) the particle flow ends within 2 % of
    the closed form; the page's former uniform steps (tau = 0.05 from the Dirac split at tau) end 99 % off."""
    from wgf_core.flows.riesz import run_experiment

    r, n = 1.9, 200
    t1 = R.interaction_time_unit(r)
    t0 = t1 * 10.0 ** -(2 - r)
    steps = R.steps_for_accuracy(r, 10.0, 0.01, minimum=24)
    x0 = R.spiral_exact_interaction(n, t0, r=r, dtype=torch.float64)
    tr = run_experiment("particle", x0, r=r, taus=R.geometric_time_steps(t0, t1, steps), show_progress=False)
    assert float(tr.x[0].norm(dim=-1).mean()) == pytest.approx(R.exact_interaction_mean_norm(t1, r), rel=0.02)
    uniform = run_experiment("particle", torch.zeros(n, 2, dtype=torch.float64), r=r, tau=0.05, steps=24,
                             options=dict(split_diracs_first=True), show_progress=False)
    assert float(uniform.x[0].norm(dim=-1).mean()) < 0.1 * R.exact_interaction_mean_norm(1.2, r)
