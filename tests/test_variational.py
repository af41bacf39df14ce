"""Variational JKO: f / f* table vs numerical sup, variational energies at the optimal dual vs
closed forms, interaction gradient vs autograd, and short flows (the scheme run by the one runner)
against exact references."""

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from wgf_core import pde
from wgf_core.energies import MMD
from wgf_core.energies import variational as vj
from wgf_core.errors import FlowDivergedError, ParameterError
from wgf_core.experiments.variational import count_density_modes, pulse_timeline, quadrant_spread, run_variational
from wgf_core.kernels import get_kernel
from wgf_core.measures import Particles
from wgf_core.metrics import fit_gaussian, gaussian_symkl
from wgf_core.random import stream
from wgf_core.runner import run
from wgf_core.schemes import Euler
from wgf_core.schemes.variational import DualConfig, MapConfig, PoolConfig, TrainConfig, VariationalJKO


@pytest.mark.parametrize("name", ["kl", "entropy2", "entropy3", "jsd"])
def test_conjugates_match_numerical_sup(name):
    xs = torch.linspace(1e-6, 60, 400001, dtype=torch.float64)
    f, fs, ys = {
        "kl": (vj.f_kl, vj.f_kl_conjugate, [-1.0, 0.0, 1.5]),
        "entropy2": (lambda x: vj.f_entropy(x, 2.0), lambda y: vj.f_entropy_conjugate(y, 2.0), [0.0, 1.0, 3.0]),
        "entropy3": (lambda x: vj.f_entropy(x, 3.0), lambda y: vj.f_entropy_conjugate(y, 3.0), [0.0, 1.0, 3.0]),
        "jsd": (vj.f_jsd, vj.f_jsd_conjugate, [-1.0, 0.0, 0.5]),
    }[name]
    for y in ys:
        num = float((xs * y - f(xs)).max())
        assert abs(num - float(fs(torch.tensor(y, dtype=torch.float64)))) < 1e-6


def _gauss_logpdf(x, m, s):
    return -0.5 * ((x - m) / s) ** 2 - math.log(s * math.sqrt(2 * math.pi))


def test_kl_variational_value_at_optimal_dual():
    # P = N(0.3, 0.8^2), Q = N(-0.2, 1.3^2) given unnormalised (log Z = 0.7); mu = N(0, 1)
    g = torch.Generator().manual_seed(0)
    x = 0.3 + 0.8 * torch.randn(400000, 1, generator=g, dtype=torch.float64)
    ref = vj.GaussianReference(torch.zeros(1, dtype=torch.float64), torch.eye(1, dtype=torch.float64))
    z = ref.sample(400000, g)
    log_q = lambda y: _gauss_logpdf(y[:, 0], -0.2, 1.3) + 0.7
    h_opt = lambda y: _gauss_logpdf(y[:, 0], 0.3, 0.8) - ref.log_prob(y)  # log(P / mu)
    energy = vj.KLDivergence(log_q)
    v = float(energy.value(h_opt(x), h_opt(z), x, ref))
    kl = math.log(1.3 / 0.8) + (0.8**2 + 0.5**2) / (2 * 1.3**2) - 0.5
    assert abs(v - (kl - 0.7)) < 0.01
    # any other h gives a lower value (it is a sup)
    v_bad = float(energy.value(h_opt(x) + 0.3, h_opt(z) + 0.3, x, ref))
    assert v_bad < v


@pytest.mark.parametrize("m", [2.0, 3.0])
def test_generalized_entropy_value_at_optimal_dual(m):
    g = torch.Generator().manual_seed(1)
    s = 0.7
    x = s * torch.randn(400000, 1, generator=g, dtype=torch.float64)
    ref = vj.BoxReference(torch.tensor([-6.0], dtype=torch.float64), torch.tensor([6.0], dtype=torch.float64))
    z = ref.sample(400000, g)
    omega = 12.0
    dens = lambda y: torch.exp(_gauss_logpdf(y[:, 0], 0.0, s))
    inv_softplus = lambda h: h + torch.log(-torch.expm1(-h))
    h_raw = lambda y: inv_softplus(dens(y) * omega)
    energy = vj.GeneralizedEntropy(m)
    v = float(energy.value(h_raw(x), h_raw(z), x, ref))
    # int p^m for N(0, s^2): (2 pi s^2)^{(1-m)/2} m^{-1/2}
    exact = (2 * math.pi * s * s) ** ((1 - m) / 2) / math.sqrt(m) / (m - 1)
    assert abs(v / exact - 1) < 0.02


def test_jsd_value_at_optimal_dual():
    g = torch.Generator().manual_seed(2)
    x = 0.5 + torch.randn(400000, 1, generator=g, dtype=torch.float64)
    z = torch.randn(400000, 1, generator=g, dtype=torch.float64)
    lp = lambda y: _gauss_logpdf(y[:, 0], 0.5, 1.0)
    lq = lambda y: _gauss_logpdf(y[:, 0], 0.0, 1.0)
    # optimal g = f'(p/q) = log(2 r / (1 + r)); h_raw = softplus^{-1}(log 2 - g)
    def h_raw(y):
        r = torch.exp(lp(y) - lq(y))
        gopt = torch.log(2 * r / (1 + r))
        u = math.log(2) - gopt
        return u + torch.log(-torch.expm1(-u))
    energy = vj.JensenShannon(lambda n, gen: None)
    v = float(energy.value(h_raw(x), h_raw(z), x, None))
    grid = torch.linspace(-10, 10, 200001, dtype=torch.float64)[:, None]
    p, q = lp(grid).exp(), lq(grid).exp()
    mix = 0.5 * (p + q)
    jsd = float(torch.trapezoid(p * torch.log(p / mix) + q * torch.log(q / mix), grid[:, 0]))
    assert abs(v - jsd) < 5e-3


def test_interaction_gradient_and_forward_step_decrease():
    W = vj.gaussian_attraction()
    z = torch.randn(20, 2, dtype=torch.float64, requires_grad=True)
    (gz,) = torch.autograd.grad(W.potential(z).sum(), z)
    assert torch.allclose(gz, W.grad_potential(z.detach()), atol=1e-12)
    g = torch.Generator().manual_seed(3)
    x = 3 * (2 * torch.rand(500, 2, generator=g, dtype=torch.float64) - 1)
    x1 = W.forward_step(x, x, 0.5)
    assert float(W.energy(x1)) < float(W.energy(x))


def test_interaction_value_and_wasserstein_gradient_against_autograd():
    # W(mu) = 1/2 sum_ij w_i w_j W(x_i - x_j); its Wasserstein gradient at x_i is (dW / dx_i) / w_i
    W = vj.gaussian_attraction(mass=2.0)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 7, 2, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.rand(2, 7, generator=g, dtype=torch.float64) + 0.1
    w = w / w.sum(-1, keepdim=True)
    mu = Particles(x, w)
    val = W.value(mu)
    assert val.shape == (2,)
    pot = W.potential(x.detach()[0, :, None, :] - x.detach()[0, None, :, :])
    assert torch.allclose(val[0], 0.5 * w[0] @ pot @ w[0])
    (gx,) = torch.autograd.grad(val.sum(), x)
    assert torch.allclose(W.gradient(Particles(x.detach(), w)), gx / w[..., None], atol=1e-12)
    assert "gradient" in W.provides and "value" in W.provides


def _p0(d=2):
    return lambda n, g: torch.randn(n, d, generator=g)


def test_parameter_errors_and_refused_pairs():
    energy = vj.KLDivergence(lambda x: -(x**2).sum(-1))
    # mode "fb" needs an interaction energy: the runner refuses the pair
    with pytest.raises(ParameterError, match="interaction"):
        sch = VariationalJKO(2, _p0(), mode="fb", pool=PoolConfig(16), generator=torch.Generator().manual_seed(0))
        run_variational(energy, sch, 0.1, 1, show_progress=False)
    with pytest.raises(ParameterError, match="'mode'"):
        VariationalJKO(2, _p0(), mode="forward")
    with pytest.raises(ParameterError, match="map_type"):
        MapConfig("spline")
    with pytest.raises(ParameterError, match="'outer'"):
        TrainConfig(outer=0)
    with pytest.raises(ParameterError, match="'pool_size'"):
        PoolConfig(1)
    with pytest.raises(ParameterError, match="'train'"):
        VariationalJKO(2, _p0(), train=dict(outer=3))
    sch = VariationalJKO(2, _p0(), pool=PoolConfig(16), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ParameterError, match="tau"):
        run_variational(energy, sch, -0.1, 1, show_progress=False)
    # mode "jko" takes no interaction
    with pytest.raises(ParameterError, match="no interaction"):
        run_variational(vj.WithInteraction(vj.GeneralizedEntropy(2.0), vj.gaussian_attraction()), sch, 0.1, 1,
                        show_progress=False)
    with pytest.raises(ParameterError, match="'energy'"):
        vj.WithInteraction(vj.gaussian_attraction(), vj.gaussian_attraction())
    # the variational JKO needs the samples-and-dual form: an MMD energy is refused ...
    y = torch.randn(1, 20, 2, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ParameterError, match=r"needs the variational \(samples and dual network\) form"):
        run(MMD(get_kernel("gauss", 1.0), y), sch, sch.initial(), 0.1, 1, show_progress=False)
    # ... and a particle scheme needs a gradient, which a variational energy does not provide
    with pytest.raises(ParameterError, match="gradient"):
        run(energy, Euler(), Particles.of(torch.randn(20, 2)), 0.1, 1, show_progress=False)
    # the pool is one uniform sample
    with pytest.raises(ParameterError, match="one uniform sample pool"):
        sch.step(energy, Particles(torch.randn(2, 16, 2)), 0.1, 0)


def _ou_flow(seed, d=2, outer=60):
    g = torch.Generator().manual_seed(seed)
    A, b = pde.random_ou_problem(d, torch.Generator().manual_seed(0))
    A32, b32 = A.float(), b.float()
    log_q = lambda x: -0.5 * (((x - b32) @ A32) * (x - b32)).sum(-1)
    flow = VariationalJKO(d, _p0(d), map=MapConfig("linear", 16, 1), dual=DualConfig(32, 2),
                          train=TrainConfig(outer, 2, 256, 5e-3, 5e-3), pool=PoolConfig(2048), generator=g)
    return flow, vj.KLDivergence(log_q), A, b


def _run(energy, flow, tau, steps, **kw):
    return run_variational(energy, flow, tau, steps, show_progress=False, **kw)


def test_ou_flow_tracks_exact_jko_and_is_reproducible():
    flow, energy, A, b = _ou_flow(0)
    traj = _run(energy, flow, 0.05, 6)
    assert traj.iterations == 6 and traj.metrics["loss"].shape == (1, 7 - 1)
    x = flow.sample(100000, generator=torch.Generator().manual_seed(9)).double()
    m, S = fit_gaussian(x)
    mj, Sj = pde.ou_jko_gaussian(A, b, 0.05, 6)
    m0, S0 = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    err, moved = float(gaussian_symkl(m, S, mj, Sj)), float(gaussian_symkl(m0, S0, mj, Sj))
    assert err < 0.05 * moved
    flow2, e2, _, _ = _ou_flow(0)
    _run(e2, flow2, 0.05, 2)
    flow3, e3, _, _ = _ou_flow(0)
    _run(e3, flow3, 0.05, 2)
    gen = lambda: torch.Generator().manual_seed(5)
    assert torch.equal(flow2.sample(10, generator=gen()), flow3.sample(10, generator=gen()))


@pytest.mark.parametrize("autograd", [False, True])
def test_ou_flow_with_torch_adam_is_the_same_bit_for_bit(autograd):
    """The scheme's optimiser (wgf_core.optim.Adam) against torch.optim.Adam(foreach=True): the same pools after
    two steps with a decaying learning rate, bit for bit, on both training paths; a third optimiser (other betas)
    gives other pools."""

    def flow_with(optimizer):
        flow, energy, _, _ = _ou_flow(0, outer=12)
        flow.autograd = autograd
        flow.train = TrainConfig(12, 2, 256, 5e-3, 5e-3, lr_final_factor=0.3)
        flow.optimizer = optimizer
        _run(energy, flow, 0.05, 2)
        return flow.sample(64, generator=torch.Generator().manual_seed(3))

    ours = flow_with(VariationalJKO.optimizer)
    assert torch.equal(ours, flow_with(lambda ps, lr: torch.optim.Adam(ps, lr=lr, foreach=True)))
    assert not torch.equal(ours, flow_with(lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(0.8, 0.99))))


def test_porous_medium_icnn_step_spreads_like_barenblatt():
    g = torch.Generator().manual_seed(0)
    p0 = lambda n, gen: pde.barenblatt_sample(n, 1, 0.0, t0=0.002, generator=gen)
    flow = VariationalJKO(1, p0, map=MapConfig("icnn", 10, 2), dual=DualConfig(16, 2),
                          train=TrainConfig(150, 3, 256, 5e-3, 5e-3), pool=PoolConfig(4096), generator=g)
    _run(vj.GeneralizedEntropy(2.0), flow, 0.001, 2)
    x = flow.sample(20000).double()
    m2 = float((x**2).mean())
    lo, hi = pde.barenblatt_second_moment(0.0, 1, t0=0.002), pde.barenblatt_second_moment(0.002, 1, t0=0.002)
    assert lo * 1.05 < m2 < hi * 1.3


def test_fb_and_non_fb_aggregation_contract():
    g = torch.Generator().manual_seed(0)
    p0 = lambda n, gen: 3 * (2 * torch.rand(n, 2, generator=gen) - 1)
    for scheme in ("fb", "non_fb"):
        flow = VariationalJKO(2, p0, mode=scheme, map=MapConfig("icnn", 8, 2), dual=DualConfig(16, 2),
                              train=TrainConfig(30, 1, 128, 5e-3, 5e-3), pool=PoolConfig(512), generator=g)
        _run(vj.WithInteraction(vj.GeneralizedEntropy(3.0, weight=0.1), vj.gaussian_attraction()), flow, 0.5, 2)
        x = flow.sample(512, generator=torch.Generator().manual_seed(1))
        assert torch.isfinite(x).all()
        assert float(flow.interaction.energy(x)) < float(flow.interaction.energy(p0(512, torch.Generator().manual_seed(1))))


def test_residual_maps_start_at_identity_and_linear_is_affine(device):
    from wgf_core.networks import DualMLP, ResidualMLP

    x = torch.randn(7, 3, device=device)
    for act in ("prelu", "identity"):
        T = ResidualMLP(3, width=8, depth=2, activation=act).to(device)
        assert torch.equal(T(x), x)
    T = ResidualMLP(3, width=8, depth=3, activation="identity").to(device)
    torch.nn.init.normal_(T.net[-1].weight)
    y = torch.randn(7, 3, device=device)
    # affine: T(x + y) - T(y) = T(x) - T(0)
    zero = torch.zeros(1, 3, device=device)
    assert torch.allclose(T(x + y) - T(y), T(x) - T(zero), atol=1e-5)
    h = DualMLP(3, width=8, depth=2, dropout=0.1).to(device)
    assert h(x).shape == (7,)


def test_learning_rates_decay_linearly_within_each_step(monkeypatch):
    # map: lr -> lr * lr_final_factor over the J1 map updates of every step; dual: its own factor
    seen = []
    orig = VariationalJKO.optimizer.step

    def spy(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return orig(self, *a, **k)

    monkeypatch.setattr(VariationalJKO.optimizer, "step", spy)
    log_q = lambda x: -0.5 * (x**2).sum(-1)
    flow = VariationalJKO(2, _p0(), map=MapConfig("linear"),
                          train=TrainConfig(5, 1, 32, 1e-2, 2e-3, lr_final_factor=0.1, lr_dual_final_factor=0.5),
                          pool=PoolConfig(64), generator=torch.Generator().manual_seed(0))
    _run(vj.KLDivergence(log_q), flow, 0.1, 2)
    # per outer iteration: one dual step, then one map step
    dual, maps = seen[0::2], seen[1::2]
    expect_map = [1e-2 * (1 + (0.1 - 1) * j / 4) for j in range(5)] * 2
    expect_dual = [2e-3 * (1 + (0.5 - 1) * j / 4) for j in range(5)] * 2
    assert maps == pytest.approx(expect_map) and dual == pytest.approx(expect_dual)
    with pytest.raises(ParameterError, match="'lr_dual_final_factor'"):
        TrainConfig(lr_dual_final_factor=0.0)


def test_forward_substeps_follow_the_ode_and_stay_stable_for_heavy_pulses():
    g = torch.Generator().manual_seed(4)
    M = 36.0
    W = vj.gaussian_attraction(mass=M)
    z = torch.randn(20, 2, dtype=torch.float64, requires_grad=True)
    (gz,) = torch.autograd.grad(W.potential(z).sum(), z)
    assert torch.allclose(gz, W.grad_potential(z.detach()), atol=1e-10)
    assert torch.allclose(W.grad_potential(z.detach()), M * vj.gaussian_attraction().grad_potential(z.detach()))
    # a pulse of mass 36 and width 0.1: one explicit step of a = 0.5 overshoots (a * 2M/pi ~ 11.5 > 2)
    x = 0.1 * torch.randn(400, 2, generator=g, dtype=torch.float64)
    one = W.forward_step(x, x, 0.5)
    assert float(one.std()) > 5 * float(x.std())
    sub = vj.gaussian_attraction(mass=M, substeps=16)
    x16 = sub.forward_step(x, x, 0.5)
    assert float(x16.std()) < float(x.std()) and float(sub.energy(x16)) < float(sub.energy(x))
    # substeps converge to the flow of the aggregation ODE, first order in a / n (uniform square, mass 4)
    u = 3 * (2 * torch.rand(400, 2, generator=g, dtype=torch.float64) - 1)
    fine = vj.gaussian_attraction(mass=4.0, substeps=512).forward_step(u, u, 0.5)
    e8, e32 = (float((vj.gaussian_attraction(mass=4.0, substeps=n).forward_step(u, u, 0.5) - fine).abs().max())
               for n in (8, 32))
    assert e32 < 0.35 * e8
    # fresh samples moved along a stored cloud path land where the cloud's own points land
    path = sub.cloud_path(x, 0.5)
    assert torch.allclose(sub.forward_step(x, path, 0.5), path[-1], atol=1e-12)


def test_push_from_an_intermediate_stage():
    p0 = lambda n, g: 3 * (2 * torch.rand(n, 2, generator=g) - 1)
    flow = VariationalJKO(2, p0, mode="fb", map=MapConfig("icnn", 8, 2), dual=DualConfig(8, 2),
                          train=TrainConfig(3, 1, 64), pool=PoolConfig(200, fresh=False),
                          generator=torch.Generator().manual_seed(0))
    traj = _run(vj.WithInteraction(vj.GeneralizedEntropy(3.0, weight=0.1), vj.gaussian_attraction(substeps=2)), flow,
                0.5, 3)
    assert traj.final.x.shape == (1, 200, 2) and len(flow.maps) == 3
    x0 = p0(50, torch.Generator().manual_seed(1))
    assert torch.allclose(flow.push(flow.push(x0, 1), 3, start=1), flow.push(x0, 3), atol=1e-6)


def _four_pulses(n, s, c=1.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[c, c], [-c, c], [c, -c], [-c, -c]])
    return centres[torch.arange(n) % 4] + s * torch.randn(n, 2, generator=g)


def test_count_density_modes_on_samples_and_weighted_grids():
    g = torch.Generator().manual_seed(1)
    assert count_density_modes(_four_pulses(8000, 0.2)) == 4
    assert count_density_modes(0.2 * torch.randn(8000, 2, generator=g)) == 1
    assert count_density_modes(3 * (2 * torch.rand(8000, 2, generator=g) - 1)) == 0
    # the same four-pulse density given as a grid with weights counts the same
    xs = np.linspace(-4, 4, 161)
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    dens = sum(np.exp(-((X - a) ** 2 + (Y - b) ** 2) / (2 * 0.2 ** 2)) for a in (-1.5, 1.5) for b in (-1.5, 1.5))
    pts = np.stack([X.ravel(), Y.ravel()], 1)
    assert count_density_modes(pts, weights=dens.ravel()) == 4
    assert count_density_modes(pts, weights=np.exp(-(X ** 2 + Y ** 2) / 0.08).ravel()) == 1
    # a flat-topped pulse with a rippled plateau (as the m = 3 entropy makes) is one mode
    plateau = np.clip(1 - (X ** 2 + Y ** 2), 0, None) ** (1 / 8) * (1 + 0.03 * np.cos(12 * X) * np.cos(12 * Y))
    assert count_density_modes(pts, weights=plateau.ravel()) == 1


def test_quadrant_spread_is_the_pulse_rms_radius():
    for s in (0.05, 0.3):
        x = _four_pulses(40000, s)
        assert abs(quadrant_spread(x) - s * math.sqrt(2)) < 0.03 * s * math.sqrt(2)
    xs = np.linspace(-4, 4, 201)
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    dens = sum(np.exp(-((X - a) ** 2 + (Y - b) ** 2) / (2 * 0.3 ** 2)) for a in (-2, 2) for b in (-2, 2))
    pts = np.stack([X.ravel(), Y.ravel()], 1)
    assert abs(quadrant_spread(pts, weights=dens.ravel()) - 0.3 * math.sqrt(2)) < 0.01


def test_pulse_timeline():
    assert pulse_timeline([0, 0, 4, 4, 3, 1, 1]) == {"first": 3, "last": 4, "one_from": 6}
    assert pulse_timeline([0, 1, 4, 4]) == {"first": 3, "last": 4, "one_from": None}
    assert pulse_timeline([1, 1]) == {"first": None, "last": None, "one_from": 1}
    assert pulse_timeline([]) == {"first": None, "last": None, "one_from": None}


def test_gaussian_reference_is_the_unbiased_fit():
    x = 1.0 + 2.0 * torch.randn(200, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = vj.GaussianReference.fit(x)
    m, S = fit_gaussian(x, ddof=1)
    assert torch.equal(ref.mean, m) and torch.equal(ref.cov, S)   # the same function, so the same bits
    torch.testing.assert_close(ref.cov, torch.cov(x.T))


@pytest.mark.parametrize("d", [1, 3, 32])
def test_gaussian_reference_log_prob_is_the_multivariate_normal_density(d):
    # one triangular solve with the points as right-hand sides: the closed-form density of N(m, L L^T)
    g = torch.Generator().manual_seed(d)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    ref = vj.GaussianReference(torch.randn(d, generator=g, dtype=torch.float64), a @ a.T + 0.5 * torch.eye(d, dtype=torch.float64))
    x = torch.randn(500, d, generator=g, dtype=torch.float64)
    exact = torch.distributions.MultivariateNormal(ref.mean, scale_tril=ref.chol).log_prob(x)
    torch.testing.assert_close(ref.log_prob(x), exact, rtol=1e-12, atol=1e-10)
    assert ref.log_prob(x).shape == (500,)


def test_box_reference_of_a_collapsed_cloud_has_a_positive_volume():
    x = torch.tensor([[0.5, -1.0]] * 10 + [[0.5, 2.0]])
    ref = vj.BoxReference.fit(x, margin=0.5, min_side=0.01)
    assert torch.allclose(ref.high - ref.low, torch.tensor([0.02, 6.0]))
    assert torch.allclose(0.5 * (ref.high + ref.low), torch.tensor([0.5, 0.5]))
    assert math.isfinite(ref.log_volume)
    # a cloud wider than min_side is untouched: bounding box plus margin
    y = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    r2 = vj.BoxReference.fit(y, margin=0.5)
    assert torch.allclose(r2.low, torch.tensor([-0.5, -1.0])) and torch.allclose(r2.high, torch.tensor([1.5, 3.0]))


def test_linear_maps_push_as_one_affine_product():
    # map_type="linear": the stored maps are pushed as x @ W + c (one (d, d) product), equal to the layers
    flow, energy, _, _ = _ou_flow(3, d=3, outer=5)
    _run(energy, flow, 0.05, 2)
    for net in flow.maps:
        torch.nn.init.normal_(net.net[-1].weight, std=0.3)  # a map far from the identity
    flow._affine = [VariationalJKO.affine_form(net, 3) for net in flow.maps]
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(1))
    layers = x
    for net in flow.maps:
        layers = net(layers)
    assert torch.allclose(flow.push(x), layers, atol=1e-5)
    assert torch.allclose(flow.push(flow.push(x, 1), start=1), layers, atol=1e-5)


def test_step_reports_the_training_time_apart():
    flow, energy, _, _ = _ou_flow(0, outer=3)
    mu = flow.step(energy, flow.initial(), 0.05, 0)
    assert mu.x.shape == (1, 2048, 2) and flow.last_loss == flow.history[-1]["loss"]
    info = flow.history[-1]
    assert {"time_s", "train_s", "train_cpu_s"} <= set(info)
    assert 0 <= info["train_s"] <= info["time_s"] and info["train_cpu_s"] >= 0


def test_two_sample_null_ranks_a_matching_sample_inside_and_a_shifted_one_outside():
    from wgf_core.diagnostics import two_sample_null
    from wgf_core.metrics import energy_distance

    sampler = lambda n, g: torch.randn(n, 2, generator=g)
    g = torch.Generator().manual_seed(0)
    y = sampler(300, g)
    null = two_sample_null(energy_distance, sampler, y, 19, g)
    assert len(null) == 19 and all(v > -1e-9 for v in null)
    assert float(energy_distance(sampler(300, g) + 1.0, y)) > max(null)
    again = two_sample_null(energy_distance, sampler, y, 19, torch.Generator().manual_seed(7))
    assert again == two_sample_null(energy_distance, sampler, y, 19, torch.Generator().manual_seed(7))


def test_affine_moments_are_the_law_of_the_pushed_samples():
    flow, energy, _, _ = _ou_flow(2, d=3, outer=5)
    _run(energy, flow, 0.05, 2)
    m, S = flow.affine_moments(torch.zeros(3), torch.eye(3))
    x = flow.sample(200000, generator=torch.Generator().manual_seed(3)).double()
    mf, Sf = fit_gaussian(x)
    assert torch.allclose(m, mf, atol=0.02) and torch.allclose(S, Sf, atol=0.03)
    m1, _ = flow.affine_moments(torch.zeros(3), torch.eye(3), k=1)
    assert torch.allclose(m1, fit_gaussian(flow.sample(200000, k=1, generator=torch.Generator().manual_seed(4)).double())[0],
                          atol=0.02)
    with pytest.raises(ParameterError, match="linear"):
        VariationalJKO(2, _p0(), map=MapConfig("residual")).affine_moments(torch.zeros(2), torch.eye(2))


def test_kl_reference_refitted_to_pushed_samples_tracks_a_stiff_exact_jko():
    """reference="pushed" (the KL formula holds for any reference): on a stiff Gaussian target
    (step x largest eigenvalue = 4) the affine flow follows the exact discrete JKO (closed form),
    where the paper's reference (fitted once per step to P_k) diverged or ended far off."""
    d, K = 4, 6
    A = torch.diag(torch.tensor([1.0, 1.0, 2.0, 80.0], dtype=torch.float64))
    b = torch.tensor([1.0, -1.0, 0.5, 0.0], dtype=torch.float64)
    A32, b32 = A.float(), b.float()
    log_q = lambda x: -0.5 * (((x - b32) @ A32) * (x - b32)).sum(-1)
    mj, Sj = pde.ou_jko_gaussian(A, b, 0.05, K)
    m0, S0 = torch.zeros(d, dtype=torch.float64), torch.eye(d, dtype=torch.float64)
    moved = float(gaussian_symkl(m0, S0, mj, Sj))

    def error(reference):
        flow = VariationalJKO(d, _p0(d), map=MapConfig("linear", 16, 1), dual=DualConfig(32, 2),
                              train=TrainConfig(40, 2, 256, 5e-3, 5e-3), pool=PoolConfig(4096),
                              generator=torch.Generator().manual_seed(0))
        try:
            _run(vj.KLDivergence(log_q, reference=reference), flow, 0.05, K)
        except FlowDivergedError:
            return math.inf
        mo, So = flow.affine_moments(torch.zeros(d), torch.eye(d), K)
        return float(gaussian_symkl(mo, So, mj, Sj))

    pushed = error("pushed")
    assert pushed < 1e-3 * moved          # measured 1.5e-5 x moved
    assert error("start") > 10 * pushed   # measured: diverges at step 3
    with pytest.raises(ParameterError, match="reference"):
        vj.KLDivergence(log_q, reference="target")


@pytest.mark.parametrize("reference", ["start", "pushed"])
def test_a_blow_up_of_the_variational_jko_is_stopped_by_the_runner_naming_the_step(reference):
    """A huge learning rate on a stiff Gaussian target (a * lambda_max = 50): the map explodes, the runner
    stops the flow with FlowDivergedError naming the step (a non-finite loss or pool, a loss blow-up, or the
    Cholesky factorisation of the Gaussian reference failing inside the step), or returns a truncated
    trajectory with on_divergence="stop"."""
    d = 3
    A = torch.diag(torch.tensor([1.0, 10.0, 1000.0]))
    log_q = lambda x: -0.5 * ((x @ A) * x).sum(-1)

    def flow():
        return VariationalJKO(d, _p0(d), map=MapConfig("linear", 8, 1), dual=DualConfig(8, 2),
                              train=TrainConfig(60, 1, 64, 50.0, 50.0), pool=PoolConfig(512, fresh=False),
                              generator=torch.Generator().manual_seed(0))

    energy = vj.KLDivergence(log_q, reference=reference)
    with pytest.raises(FlowDivergedError, match=r"step \d+: .*diverged \(scheme 'variational JKO'\)"):
        _run(energy, flow(), 0.05, 6)
    traj = _run(energy, flow(), 0.05, 6, on_divergence="stop")
    assert traj.diverged is not None and traj.diverged.startswith(f"step {traj.iterations + 1}:")
    assert traj.iterations < 6 and torch.isfinite(traj.final.x).all()


def test_affine_reference_is_the_fit_of_the_pushed_samples():
    """The closed-form refit for an affine map (what reference="pushed" uses with linear maps) equals the
    Gaussian fitted to the pushed samples, and affine_form64 reads the same map as affine_form."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3000, 4, generator=g, dtype=torch.float64) @ torch.randn(4, 4, generator=g, dtype=torch.float64)
    W, c = torch.randn(4, 4, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    ref = vj.KLDivergence.affine_reference(fit_gaussian(x, ddof=1), W, c, torch.float64)
    fitted = vj.GaussianReference.fit(x @ W + c)
    assert torch.allclose(ref.mean, fitted.mean, rtol=0, atol=1e-12)
    assert torch.allclose(ref.cov, fitted.cov, rtol=1e-10, atol=1e-12)
    # a map that is not the pushed one gives another reference (the check can fail)
    other = vj.KLDivergence.affine_reference(fit_gaussian(x, ddof=1), 1.01 * W, c, torch.float64)
    assert not torch.allclose(other.cov, fitted.cov, rtol=1e-3)
    flow, energy, _, _ = _ou_flow(1, d=3, outer=5)
    _run(energy, flow, 0.05, 1)
    net = flow.maps[0]
    W64, c64 = VariationalJKO.affine_form64(net, 3)
    W32, c32 = VariationalJKO.affine_form(net, 3)
    assert W64.dtype == torch.float64 and torch.allclose(W64.float(), W32, atol=1e-6) and torch.allclose(c64.float(), c32, atol=1e-6)
    x3 = torch.randn(10, 3, generator=g)
    assert torch.allclose(x3.double() @ W64 + c64, net(x3).double(), atol=1e-5)


def test_pushed_reference_closed_form_gives_the_flow_of_the_pushed_fit():
    """reference="pushed" with linear maps: the closed-form refit (each map iteration) and the fit of the
    pushed subsample (the energy without ``affine_reference``) train the same flow up to float32 round-off:
    the same draws, maps equal to 5e-4 after 3 steps (Adam amplifies the round-off: 3e-8 to 1.5e-4 over the
    initialisations of generators 2-6), while the paper's reference gives maps farther than 2e-3 away."""
    class PushedFit(vj.KLDivergence):
        affine_reference = None   # forces the generic path: push the subsample and fit it

    def flow_maps(energy_cls):
        flow, energy, _, _ = _ou_flow(2, d=3, outer=20)
        energy = energy_cls(energy.log_target, reference="pushed")
        _run(energy, flow, 0.05, 3)
        return [VariationalJKO.affine_form64(m, 3) for m in flow.maps]

    fast, slow = flow_maps(vj.KLDivergence), flow_maps(PushedFit)
    assert len(fast) == len(slow) == 3
    for (Wf, cf), (Ws, cs) in zip(fast, slow):
        assert torch.allclose(Wf, Ws, atol=5e-4) and torch.allclose(cf, cs, atol=5e-4)
    # the reference matters: with the paper's reference fitted once per step the maps are others
    flow, energy, _, _ = _ou_flow(2, d=3, outer=20)
    _run(vj.KLDivergence(energy.log_target, reference="start"), flow, 0.05, 3)
    Wp, _ = VariationalJKO.affine_form64(flow.maps[-1], 3)
    assert not torch.allclose(Wp, fast[-1][0], atol=2e-3)


def test_skipping_the_unread_dual_term_gives_the_same_maps_bit_for_bit():
    """The map iterations whose loss value is not read skip h(Z) (E_Gamma[B(h(Z))] does not depend on T):
    the trained maps, the logged loss and the dual value are identical, bit for bit (exactness is the
    property: the same gradients), to evaluating h(Z) at every iteration."""
    def train(skip):
        flow, energy, _, _ = _ou_flow(3, d=2, outer=120)
        flow.autograd = True   # the flag of the autograd path (the explicit path always skips h(Z) there)
        flow.skip_unread_dual = skip
        _run(energy, flow, 0.05, 2)
        return flow

    a, b = train(True), train(False)
    for ma, mb in zip(a.maps, b.maps):
        for pa, pb in zip(ma.parameters(), mb.parameters()):
            assert torch.equal(pa, pb)
    assert a.history[-1]["loss"] == b.history[-1]["loss"] and a.history[-1]["dual_value"] == b.history[-1]["dual_value"]
    assert len(a.maps) == 2 and not torch.equal(next(a.maps[0].parameters()), next(a.maps[1].parameters()))


def _kl_residual_flow(seed, mode="jko"):
    """A KL flow with a residual PReLU map (the KL-sampling notebook's kind), or an aggregation flow with one."""
    g = torch.Generator().manual_seed(seed)
    if mode == "jko":
        log_q = lambda x: -0.5 * ((x - 1.0) ** 2).sum(-1)
        energy = vj.KLDivergence(log_q)
    else:
        energy = vj.WithInteraction(vj.GeneralizedEntropy(3.0, weight=0.1), vj.gaussian_attraction())
    flow = VariationalJKO(2, _p0(2), mode=mode, map=MapConfig("residual", 16, 2), dual=DualConfig(16, 3),
                          train=TrainConfig(40, 3, 128, 5e-3, 5e-3), pool=PoolConfig(1024), generator=g)
    return flow, energy


@pytest.mark.parametrize("case", ["ou_pushed", "kl_residual", "fb", "non_fb"])
def test_pushing_each_batch_once_gives_the_same_maps_bit_for_bit(case):
    """reuse_pushed_batch: T(y) computed once per map iteration (graph kept, read detached by the dual's steps) trains
    the same maps, bit for bit (exactness is the property: the same values enter the same operations), as pushing
    the batch once without a graph for the dual and again for the map; a changed learning rate gives other maps."""
    def train(reuse, lr=5e-3):
        if case == "ou_pushed":
            flow, energy, _, _ = _ou_flow(4, d=3, outer=30)
            flow.autograd = True   # the flag of the autograd path
            energy = vj.KLDivergence(energy.log_target, reference="pushed")
        else:
            flow, energy = _kl_residual_flow(4, "jko" if case == "kl_residual" else case)
        flow.train = replace(flow.train, lr_map=lr)
        flow.reuse_pushed_batch = reuse
        _run(energy, flow, 0.05 if case != "fb" else 0.5, 2)
        return flow

    a, b = train(True), train(False)
    for ma, mb in zip(a.maps, b.maps):
        for pa, pb in zip(ma.parameters(), mb.parameters()):
            assert torch.equal(pa, pb)
    assert a.history[-1]["loss"] == b.history[-1]["loss"]
    c = train(True, lr=5.001e-3)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.maps[-1].parameters(), c.maps[-1].parameters()))


def test_affine_form64_is_the_functional_call_of_the_map_bit_for_bit():
    """affine_form64 evaluates a residual affine map layer by layer in float64: the same numbers, bit for bit, as
    torch.func.functional_call of the module with float64 parameters (what it did before), and the map it reads
    pushes samples as the module does."""
    flow, energy, _, _ = _ou_flow(6, d=4, outer=10)
    _run(energy, flow, 0.05, 1)
    net = flow.maps[0]
    W, c = VariationalJKO.affine_form64(net, 4)
    basis = torch.cat([torch.zeros(1, 4, dtype=torch.float64), torch.eye(4, dtype=torch.float64)])
    out = torch.func.functional_call(net, {k: t.detach().double() for k, t in net.named_parameters()}, (basis,))
    assert torch.equal(c, out[0]) and torch.equal(W, out[1:] - out[0])
    # affine_form (the stored maps' form) is that evaluation cast back: the module's own float64 forward, bit for bit
    with torch.no_grad():
        out64 = copy.deepcopy(net).to(torch.float64)(basis)
    W32, c32 = VariationalJKO.affine_form(net, 4)
    assert torch.equal(W32, (out64[1:] - out64[0]).float()) and torch.equal(c32, out64[0].float())
    x = torch.randn(20, 4, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(x.double() @ W + c, net(x).double(), atol=1e-5)


def test_network_initialisation_draws_from_the_schemes_generator_only():
    """The initial weights come from a stream derived from the scheme's generator (the networks'
    ``generator``), with the constructors' laws; torch's global generator is neither read for them nor advanced."""
    from wgf_core.networks import init_linear_

    def build(kind, seed):
        return VariationalJKO(3, _p0(3), map=MapConfig(kind, 8, 2), dual=DualConfig(8, 2),
                              generator=torch.Generator().manual_seed(seed))

    state = torch.get_rng_state()
    for kind in ("icnn", "residual", "linear"):
        a, b, c = build(kind, 1), build(kind, 1), build(kind, 2)
        pa, pb, pc = [list(x._current.parameters()) + list(x.dual.parameters()) for x in (a, b, c)]
        assert all(torch.equal(u, v) for u, v in zip(pa, pb))
        assert not all(torch.equal(u, v) for u, v in zip(pa, pc))
        if kind == "icnn":
            assert all(float(W.weight.detach().min()) >= 0 and float(W.weight.detach().max()) <= 1 / 8 for W in a._current.W)
        else:
            assert float(a._current.net[-1].weight.detach().abs().max()) == 0   # T = id before training
    assert torch.equal(state, torch.get_rng_state())
    torch.manual_seed(123)
    x1 = build("icnn", 1)
    torch.manual_seed(456)
    x2 = build("icnn", 1)
    assert all(torch.equal(u, v) for u, v in zip(x1._current.parameters(), x2._current.parameters()))
    # the laws: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for every linear layer
    net = init_linear_(torch.nn.Linear(400, 300), stream(0, "tests/init_linear"))
    w = net.weight.detach()
    assert float(w.abs().max()) <= 0.05 and abs(float(w.std()) - 0.05 / 3**0.5) < 1e-3
