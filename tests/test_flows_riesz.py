"""The three Riesz-flow schemes: exact interaction-energy flow, descent, reproducibility."""

import math

import pytest
import torch

from wgf_core import riesz as R
from wgf_core.flows.riesz import RieszProblem, make_scheme, run_riesz_flow, run_schemes
from wgf_core.metrics import energy_distance
from wgf_core.validation import ParameterError


def test_particle_flow_from_a_jittered_dirac_matches_exact_solution():
    # issue 14: the scheme must earn the profile. From delta_0 plus the paper's 1e-9 jitter (float64),
    # r = 1, d = 2, tau = 0.05, t = 1.2, 2000 particles: mean |x| within the registry's tolerance
    from wgf_core.claims import riesz as C

    prob = RieszProblem(None, 1.0)
    x0 = R.jittered_diracs([[0.0, 0.0]], [2000], generator=torch.Generator().manual_seed(0))
    assert x0.dtype == torch.float64 and float(x0.abs().max()) <= 0.5e-9
    sch = make_scheme("particle", prob, 2)
    x1 = sch.step(x0, 0.05)
    # the first step is the scheme's own: not the exact profile that split_diracs would place
    placed = R.split_diracs(torch.zeros(2000, 2, dtype=torch.float64), 0.05)
    assert float((x1.norm(dim=-1).sort().values - placed.norm(dim=-1).sort().values).abs().max()) > 1e-3
    res = run_riesz_flow(x0, prob, make_scheme("particle", prob, 2), tau=0.05, steps=24, log_every=24)
    exact = R.exact_interaction_mean_norm(1.2)
    out = C.interaction_mean(float(res.x.norm(dim=-1).mean()), exact, 2000, 0.05, 1.2)
    assert out.passed, out.text
    assert abs(out.value / exact - 1) > 1e-4  # not the placed profile's exact value: a real error budget is used
    gen = torch.Generator().manual_seed(0)
    ex = R.sample_exact_interaction(2000, 1.2, generator=gen, dtype=torch.float64)
    # energy distance to exact samples at the level of two independent exact samples
    floor = float(energy_distance(R.sample_exact_interaction(2000, 1.2, generator=gen, dtype=torch.float64), ex))
    assert float(energy_distance(res.x, ex)) < 3 * floor + 1e-3
    assert res.energy[-1] < res.energy[0]


def test_particle_flow_does_not_split_diracs_by_default():
    # issue 14: the default particle flow is the paper's plain explicit Euler; the old default placed the
    # particles on the exact profile at the first step (a circular start for the interaction claim)
    prob = RieszProblem(None, 1.0)
    sch = make_scheme("particle", prob, 2)
    assert not sch.split
    assert torch.equal(sch.step(torch.zeros(20, 2), 0.1), torch.zeros(20, 2))  # exact: coincident points do not move
    assert make_scheme("particle", prob, 2, split_diracs_first=True).step(torch.zeros(20, 2), 0.1).abs().max() > 0


def test_schedule_and_notes():
    from wgf_core.flows.riesz import paper_mnist_tau, paper_mnist_taus, scheme_notes

    taus = paper_mnist_taus(48000)
    assert sum(taus) == pytest.approx(48000) and len(taus) == 10 + 20 + 13 + 1983 + 7000
    assert [paper_mnist_tau(t) for t in (0, 4.5, 5, 24, 25, 50, 51, 5999, 6000)] == [0.5, 0.5, 1, 1, 2, 2, 3, 3, 6]
    prob = RieszProblem(torch.zeros(1, 2), 1.0)
    res = run_riesz_flow(torch.ones(4, 2), prob, make_scheme("particle", prob, 2), taus=[0.5, 0.5, 1.0], log_every=1)
    assert res.times == pytest.approx([0.0, 0.5, 1.0, 2.0])
    with pytest.raises(ParameterError):
        run_riesz_flow(torch.ones(4, 2), prob, make_scheme("particle", prob, 2), tau=0.5)
    notes = scheme_notes("neural_backward", dict(estimator="svrg", fourier_features=64))
    assert len(notes) == 2 and "svrg" in notes[0] and "not in the paper" in notes[0] and "Fourier" in notes[1]
    assert scheme_notes("neural_backward", dict(estimator="minibatch", fourier_features=0)) == []
    assert scheme_notes("particle", {}) == [] and scheme_notes("neural_forward", dict(batch_size=5)) == []


def test_neural_forward_first_step_from_dirac():
    # from delta_0 the steepest-descent plan is rho_1; one normalised step of length tau lands near rho_tau
    prob = RieszProblem(None, 1.0)
    sch = make_scheme("neural_forward", prob, 2, iters=250, lr=5e-3, width=32, depth=2,
                      generator=torch.Generator().manual_seed(0))
    x = sch.step(torch.zeros(300, 2), 0.1)
    assert float(x.norm(dim=-1).mean()) == pytest.approx(R.exact_interaction_mean_norm(0.1), rel=0.15)


@pytest.mark.parametrize("name", ["particle", "neural_backward", "neural_forward"])
def test_mmd_to_target_decreases_and_is_reproducible(name):
    gen = torch.Generator().manual_seed(1)
    target = torch.randn(200, 2, generator=gen) * 0.3 + torch.tensor([0.5, 0.0])
    x0 = torch.cat([torch.full((100, 2), -0.5), torch.full((100, 2), 0.5)])
    prob = RieszProblem(target, 1.0)
    opts = {} if name == "particle" else dict(iters=10, first_iters=60, width=32, depth=2, lr=5e-3, batch_size=100)
    runs = [run_schemes(x0, prob, tau=0.3, steps=6, schemes=(name,), options={name: opts}, seed=3)[name]
            for _ in range(2)]
    assert torch.equal(runs[0].x, runs[1].x)
    assert runs[0].mmd[-1] < 0.5 * runs[0].mmd[0]
    assert all(math.isfinite(e) for e in runs[0].energy)


def test_bad_parameters():
    with pytest.raises(ParameterError, match="'scheme'"):
        make_scheme("euler", RieszProblem(), 2)
    with pytest.raises(ParameterError, match="'r'"):
        RieszProblem(None, 2.5)
    with pytest.raises(ParameterError, match="'tau'"):
        run_riesz_flow(torch.zeros(3, 2), RieszProblem(), make_scheme("particle", RieszProblem(), 2), tau=-1, steps=1)


@pytest.mark.parametrize("with_target", [True, False])
def test_svrg_estimator_is_unbiased_and_quieter_than_minibatch(with_target):
    # the mean of the "svrg" surrogate's parameter gradients over batches is the gradient of the full
    # JKO objective (1/2tau) E|x - T(x,z)|^2 + F(T#mu), also with the snapshot away from the current net;
    # with a target the plain minibatch estimate is far noisier (and biased: its interaction term is a V-statistic)
    from wgf_core.riesz import DifferentiableRieszEnergy

    gen = torch.Generator().manual_seed(0)
    n, bsz, tau = 300, 60, 0.5
    target = torch.rand(n, 2, generator=gen) if with_target else None
    x = torch.rand(n, 2, generator=gen) * 1.2 - 0.1
    prob = RieszProblem(target, 1.0)
    sch = make_scheme("neural_backward", prob, 2, width=16, depth=2, batch_size=bsz, estimator="svrg",
                      generator=torch.Generator().manual_seed(1))
    z = torch.randn(n, 2, generator=gen)
    params = list(sch.net.parameters())

    def grad_of(loss):
        sch.net.zero_grad()
        loss.backward()
        return torch.cat([p.grad.flatten() for p in params])

    y = x + sch.net(x, z)
    exact = grad_of(((y - x) ** 2).sum(-1).mean() / (2 * tau) + DifferentiableRieszEnergy.apply(y, target, 1.0))
    with torch.no_grad():
        snap = 1.3 * (x + sch.net(x, z)) + 0.05 * torch.randn(n, 2, generator=gen)  # a snapshot far away
        snap_grad = prob.gradient(snap)
    svrg, mini = [], []
    for _ in range(300):
        idx = torch.randperm(n, generator=gen)[:bsz]
        tb = None if target is None else target[torch.randperm(n, generator=gen)[:bsz]]
        svrg.append(grad_of(sch.svrg_surrogate(x, z, idx, tb, snap, snap_grad, tau)))
        xb = x[idx]
        yb = xb + sch.net(xb, z[idx])
        mini.append(grad_of(((yb - xb) ** 2).sum(-1).mean() / (2 * tau) + DifferentiableRieszEnergy.apply(yb, tb, 1.0)))
    svrg, mini = torch.stack(svrg), torch.stack(mini)
    scale = float(exact.norm())
    sem = float(((svrg - exact) ** 2).sum(1).mean().sqrt()) / math.sqrt(len(svrg))
    assert float((svrg.mean(0) - exact).norm()) < 3 * sem + 1e-3 * scale
    rms = lambda e: float(((e - exact) ** 2).sum(1).mean().sqrt())
    if with_target:  # a target batch is what makes the plain estimate noisy; alone, the interaction
        assert rms(svrg) < 0.5 * rms(mini)  # term's batch estimate is already a U-statistic-like average


def test_svrg_backward_step_lowers_the_objective_more_than_minibatch():
    gen = torch.Generator().manual_seed(2)
    target = torch.randn(400, 2, generator=gen) * 0.3
    x = torch.randn(400, 2, generator=gen) * 0.3 + torch.tensor([0.1, 0.0])  # close: batch noise matters
    prob = RieszProblem(target, 1.0)
    tau = 0.5
    objective = lambda y: float(((y - x) ** 2).sum(-1).mean() / (2 * tau) + prob.energy(y))
    ends = {}
    for est in ("minibatch", "svrg"):
        sch = make_scheme("neural_backward", prob, 2, width=32, depth=2, iters=150, lr=3e-3, batch_size=50,
                          estimator=est, refresh=50, generator=torch.Generator().manual_seed(3))
        ends[est] = objective(sch.step(x, tau))
    start = objective(x)
    assert ends["minibatch"] < start
    assert ends["svrg"] < ends["minibatch"] - 0.1 * (start - ends["minibatch"])  # measured: 25 % further
    with pytest.raises(ParameterError, match="'estimator'"):
        make_scheme("neural_backward", prob, 2, estimator="saga")


def test_fourier_features_learn_fine_scale_fields_faster():
    # regressing a displacement field that varies on the scale 1/16: with Fourier features the same
    # MLP and Adam budget fit it; without them (spectral bias) it stays close to the mean
    from wgf_core.flows.riesz import _LatentNet

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2000, 2, generator=gen)
    field = torch.stack([torch.sin(16 * math.pi * x[:, 0]), torch.cos(16 * math.pi * x[:, 1])], -1) * 0.01
    z = torch.zeros(2000, 2)
    errs = {}
    for ff in (0, 64):
        torch.manual_seed(0)
        net = _LatentNet(2, 2, 64, 3, "relu", ff, 10.0, torch.Generator().manual_seed(1))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(300):
            loss = ((net(x, z) - field) ** 2).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            errs[ff] = float(((net(x, z) - field) ** 2).sum(-1).mean() / (field**2).sum(-1).mean())
    assert errs[64] < 0.3 and errs[0] > 0.8  # measured: 0.10 and 0.99
    with pytest.raises(ParameterError, match="'fourier_features'"):
        make_scheme("neural_backward", RieszProblem(), 2, fourier_features=-1)


def test_problem_energy_and_mmd_are_the_riesz_functions():
    # the cached target self term and the shared MMD pass of the log change no value: exact equality is the property
    from wgf_core.kernels import get_kernel
    from wgf_core.metrics import mmd2

    gen = torch.Generator().manual_seed(5)
    target, x = torch.randn(300, 2, generator=gen, dtype=torch.float64), torch.randn(200, 2, generator=gen, dtype=torch.float64)
    prob = RieszProblem(target, 1.0)
    for _ in range(2):
        assert torch.equal(prob.energy(x), R.riesz_energy(x, target, 1.0))
        assert torch.equal(prob.mmd(x), R.riesz_mmd2(x, target, 1.0).sqrt())
    res = run_riesz_flow(x, prob, make_scheme("particle", prob, 2), tau=0.1, steps=2)
    assert res.energy[-1] == float(R.riesz_energy(res.x, target, 1.0))
    assert res.mmd[-1] == float(R.riesz_mmd2(res.x, target, 1.0).sqrt())
    draws = [torch.randn(200, 2, generator=gen, dtype=torch.float64) for _ in range(3)]
    fine = get_kernel("gauss", 0.05)
    assert R.null_mmds(lambda k: draws[k], target, draws=3) == [float(R.riesz_mmd2(d, target).sqrt()) for d in draws]
    assert R.null_mmds(lambda k: draws[k], target, draws=3, kernel=fine) == [float(mmd2(fine, d, target).sqrt()) for d in draws]


@pytest.mark.parametrize("r", [0.5, 1.0, 1.5])
def test_particle_flow_from_a_split_dirac_matches_the_exact_solution_for_every_r(r):
    # issue 18: from delta_0 (placed on the exact rho_tau at the first step) the explicit Euler particle flow
    # matches the closed-form support radius and mean |x| at t = 1.2 within 2 %. Euler is exact for the
    # self-similar flow only at r = 1 (R linear in t); its first-order error at r = 1.5 is about 12 % at
    # tau = 0.05 and 1.3 % at tau = 0.0025 (measured), hence the small step.
    tau, n = 0.0025, 500
    prob = RieszProblem(None, r)
    sch = make_scheme("particle", prob, 2, split_diracs_first=True)
    res = run_riesz_flow(torch.zeros(n, 2, dtype=torch.float64), prob, sch, tau=tau, steps=round(1.2 / tau),
                         log_every=round(1.2 / tau))
    norms = res.x.norm(dim=-1)
    assert float(norms.mean()) == pytest.approx(R.exact_interaction_mean_norm(1.2, r), rel=0.02)
    assert float(norms.max()) == pytest.approx(R.exact_interaction_radius(1.2, r), rel=0.02)
    # the paper's step at r = 1.5 is outside 2 %: the check can fail
    if r == 1.5:
        coarse = run_riesz_flow(torch.zeros(n, 2, dtype=torch.float64), prob,
                                make_scheme("particle", prob, 2, split_diracs_first=True), tau=0.05, steps=24,
                                log_every=24)
        assert float(coarse.x.norm(dim=-1).mean()) < 0.95 * R.exact_interaction_mean_norm(1.2, r)


_NEURAL = dict(iters=60, first_iters=300, width=64, depth=2, latent_dim=2, lr=3e-3, batch_size=300)


def _neural_from_exact(name, r, *, t0, tau, standardize, n=300, t_end=1.2):
    prob = RieszProblem(None, r)
    x0 = R.spiral_exact_interaction(n, t0, r=r)  # the closed form up to t0 (a regularised Dirac)
    sch = make_scheme(name, prob, 2, generator=torch.Generator().manual_seed(0), standardize=standardize,
                      **_NEURAL)
    steps = round((t_end - t0) / tau)
    res = run_riesz_flow(x0, prob, sch, tau=tau, steps=steps, log_every=steps)
    norms = res.x.norm(dim=-1)
    return float(norms.mean()), float(norms.quantile(0.99))


@pytest.mark.parametrize("name", ["neural_backward", "neural_forward"])
@pytest.mark.parametrize("r", [0.5, 1.0, 1.5])
def test_neural_schemes_match_the_exact_solution_for_every_r(name, r):
    # issue 18: started from the closed form at t0 = 0.2 and run with standardized network inputs, both
    # neural schemes match the exact mean |x| and support radius at t = 1.2 within 5 % for r = 0.5, 1, 1.5
    # (measured: at most 3.0 % / 4.4 % at r = 1.5, 0.3 % at r = 0.5 and 1, with 500 particles). The radius
    # is the 99 % quantile of |x|, which for the exact law is R (1 - 0.01^(2/(2-r)))^(1/2) >= 0.9999 R.
    mean, q99 = _neural_from_exact(name, r, t0=0.2, tau=0.02, standardize=True)
    assert mean == pytest.approx(R.exact_interaction_mean_norm(1.2, r), rel=0.05)
    assert q99 == pytest.approx(R.exact_interaction_radius(1.2, r), rel=0.05)


@pytest.mark.parametrize("name", ["neural_backward", "neural_forward"])
def test_unstandardized_networks_miss_the_exact_solution_at_r_1_5(name):
    # the failing input of the check above: from the exact rho_tau (radius 2e-4 at r = 1.5) with raw inputs the
    # networks cannot resolve the cloud (measured -43 % and -92 % mean |x|); standardized, the same start is
    # within 15 % at tau = 0.05
    exact = R.exact_interaction_mean_norm(1.2, 1.5)
    raw, _ = _neural_from_exact(name, 1.5, t0=0.05, tau=0.05, standardize=False)
    std, _ = _neural_from_exact(name, 1.5, t0=0.05, tau=0.05, standardize=True)
    assert abs(raw / exact - 1) > 0.3
    assert abs(std / exact - 1) < 0.2


def test_standardize_refuses_a_dirac_and_a_non_bool():
    prob = RieszProblem(None, 1.5)
    sch = make_scheme("neural_backward", prob, 2, standardize=True, iters=2, width=8, depth=1)
    with pytest.raises(ParameterError, match="positive spread"):
        sch.step(torch.zeros(10, 2), 0.05)
    with pytest.raises(ParameterError, match="standardize"):
        make_scheme("neural_forward", prob, 2, standardize="yes")
