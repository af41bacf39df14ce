"""The three Riesz-flow schemes on the one API: exact interaction-energy flow, descent, reproducibility;
the Riesz fast path of the MMD energy; what the neural schemes need from an energy."""

import math

import pytest
import torch

from wgf_core import backends
from wgf_core import riesz as R
from wgf_core.energies import MMD
from wgf_core.flows.riesz import SCHEME_CLASSES, riesz_mmd_energy, run_experiment
from wgf_core.kernels import get_kernel
from wgf_core.measures import Particles
from wgf_core.metrics import energy_distance, mmd2
from wgf_core.random import stream
from wgf_core.runner import run
from wgf_core.schemes import NeuralBackward, NeuralForward, RieszEuler
from wgf_core.validation import ParameterError

F64 = torch.float64


def _gen(s):
    """Test draw ``s``: the stream (0, "tests/flows_riesz", s) of the one seeding (wgf_core.random)."""
    return stream(0, "tests/flows_riesz", s)


def test_particle_flow_from_a_jittered_dirac_matches_exact_solution():
    # issue 14: the scheme must earn the profile. From delta_0 plus the paper's 1e-9 jitter (float64),
    # r = 1, d = 2, tau = 0.05, t = 1.2, 2000 particles: mean |x| within the registry's tolerance
    from wgf_core.claims import riesz as C

    x0 = R.jittered_diracs([[0.0, 0.0]], [2000], generator=_gen(0))
    assert x0.dtype == F64 and float(x0.abs().max()) <= 0.5e-9
    x1 = RieszEuler().step(riesz_mmd_energy(None, 1.0), Particles.of(x0), 0.05, 0).x[0]
    # the first step is the scheme's own: not the exact profile that split_diracs would place
    placed = R.split_diracs(torch.zeros(2000, 2, dtype=F64), 0.05)
    assert float((x1.norm(dim=-1).sort().values - placed.norm(dim=-1).sort().values).abs().max()) > 1e-3
    res = run_experiment("particle", x0, tau=0.05, steps=24, log_every=24)
    exact = R.exact_interaction_mean_norm(1.2)
    out = C.interaction_mean(float(res.x[0].norm(dim=-1).mean()), exact, 2000, 0.05, 1.2)
    assert out.passed, out.text
    assert abs(out.value / exact - 1) > 1e-4  # not the placed profile's exact value: a real error budget is used
    gen = _gen(0)
    ex = R.sample_exact_interaction(2000, 1.2, generator=gen, dtype=F64)
    # energy distance to exact samples at the level of two independent exact samples
    floor = float(energy_distance(R.sample_exact_interaction(2000, 1.2, generator=gen, dtype=F64), ex))
    assert float(energy_distance(res.x[0], ex)) < 3 * floor + 1e-3
    energy = res.metrics["energy"][0]
    assert energy[-1] < energy[0] and "mmd" not in res.metrics


def test_particle_flow_does_not_split_diracs_by_default():
    # issue 14: the default particle flow is the paper's plain explicit Euler; the old default placed the
    # particles on the exact profile at the first step (a circular start for the interaction claim)
    e, mu = riesz_mmd_energy(None, 1.0), Particles.of(torch.zeros(20, 2))
    assert not RieszEuler().split_diracs_first and RieszEuler().needs == {"gradient"}
    assert torch.equal(RieszEuler().step(e, mu, 0.1, 0).x, torch.zeros(1, 20, 2))  # coincident points do not move
    split = RieszEuler(split_diracs_first=True)
    assert split.step(e, mu, 0.1, 0).x.abs().max() > 0
    assert torch.equal(split.step(e, mu, 0.1, 1).x, mu.x)  # only the first step of a run splits


def test_split_diracs_first_moves_each_run_as_alone():
    e = riesz_mmd_energy(None, 1.0)
    x = torch.stack([torch.zeros(30, 2, dtype=F64), torch.ones(30, 2, dtype=F64)])
    both = RieszEuler(split_diracs_first=True).step(e, Particles(x), 0.1, 0).x
    for r in range(2):
        assert torch.equal(both[r], RieszEuler(split_diracs_first=True).step(e, Particles(x[r:r + 1]), 0.1, 0).x[0])


def test_schedule_and_notes():
    from wgf_core.flows.riesz import paper_mnist_tau, paper_mnist_taus, scheme_notes

    taus = paper_mnist_taus(48000)
    assert sum(taus) == pytest.approx(48000) and len(taus) == 10 + 20 + 13 + 1983 + 7000
    assert [paper_mnist_tau(t) for t in (0, 4.5, 5, 24, 25, 50, 51, 5999, 6000)] == [0.5, 0.5, 1, 1, 2, 2, 3, 3, 6]
    res = run_experiment("particle", torch.ones(4, 2), torch.zeros(1, 2), taus=[0.5, 0.5, 1.0], log_every=1)
    assert list(res.times) == pytest.approx([0.0, 0.5, 1.0, 2.0])
    assert res.metrics["mmd"].shape == res.metrics["energy"].shape == (1, 4)
    with pytest.raises(ParameterError, match="'tau' and 'steps'"):
        run_experiment("particle", torch.ones(4, 2), torch.zeros(1, 2), tau=0.5)
    notes = scheme_notes("neural_backward", dict(estimator="svrg", fourier_features=64))
    assert len(notes) == 2 and "svrg" in notes[0] and "not in the paper" in notes[0] and "Fourier" in notes[1]
    assert scheme_notes("neural_backward", dict(estimator="minibatch", fourier_features=0)) == []
    assert scheme_notes("particle", {}) == [] and scheme_notes("neural_forward", dict(batch_size=5)) == []


def test_neural_forward_first_step_from_dirac():
    # from delta_0 the steepest-descent plan is rho_1; one normalised step of length tau lands near rho_tau
    sch = NeuralForward(iters=250, lr=5e-3, width=32, depth=2)
    x = sch.step(riesz_mmd_energy(None, 1.0), Particles.of(torch.zeros(300, 2)), 0.1, 0, _gen(0)).x[0]
    assert float(x.norm(dim=-1).mean()) == pytest.approx(R.exact_interaction_mean_norm(0.1), rel=0.15)


@pytest.mark.parametrize("name", ["particle", "neural_backward", "neural_forward"])
def test_mmd_to_target_decreases_and_is_reproducible(name):
    gen = _gen(1)
    target = torch.randn(200, 2, generator=gen) * 0.3 + torch.tensor([0.5, 0.0])
    x0 = torch.cat([torch.full((100, 2), -0.5), torch.full((100, 2), 0.5)])
    opts = {} if name == "particle" else dict(iters=10, first_iters=60, width=32, depth=2, lr=5e-3, batch_size=100)
    runs = [run_experiment(name, x0, target, tau=0.3, steps=6, options=opts, seed=3) for _ in range(2)]
    assert torch.equal(runs[0].x, runs[1].x)
    mmd = runs[0].metrics["mmd"][0]
    assert mmd[-1] < 0.5 * mmd[0] and runs[0].extra["scheme"] == name
    assert all(math.isfinite(e) for e in runs[0].metrics["energy"][0])
    # one scheme object, two runs: the network is rebuilt from the run's generator at its first step
    if name != "particle":
        sch, e = SCHEME_CLASSES[name](**opts), riesz_mmd_energy(target, 1.0)
        a = run(e, sch, Particles.of(x0), 0.3, 2, seed=5, show_progress=False)
        b = run(e, sch, Particles.of(x0), 0.3, 2, seed=5, show_progress=False)
        assert torch.equal(a.x, b.x)


def test_bad_parameters():
    with pytest.raises(ParameterError, match="'scheme'"):
        run_experiment("euler", torch.zeros(3, 2), tau=0.1, steps=1)
    with pytest.raises(ParameterError, match="'r'"):
        riesz_mmd_energy(None, 2.5)
    with pytest.raises(ParameterError, match="'tau'"):
        run_experiment("particle", torch.zeros(3, 2), tau=-1, steps=1)
    with pytest.raises(ParameterError, match="'x0'"):
        run_experiment("particle", torch.zeros(1, 3, 2), tau=0.1, steps=1)
    with pytest.raises(ParameterError, match="'split_diracs_first'"):
        RieszEuler(split_diracs_first="yes")
    with pytest.raises(ParameterError, match="'activation'"):
        NeuralForward(activation="swish")
    with pytest.raises(ParameterError, match="'backend'"):
        MMD(get_kernel("gauss", 1.0), None, backend="cuda")


def test_neural_schemes_refuse_energies_without_what_they_need():
    # the forward scheme needs the exact one-sided derivative (Riesz kernel); the svrg estimator a batch
    # gradient (radial kernels); the split start the Riesz exponent; minibatches an unweighted target
    y = torch.randn(20, 2, generator=_gen(0))
    gauss, x0 = MMD(get_kernel("gauss", 1.0), y), Particles.of(torch.randn(20, 2, generator=_gen(1)))
    with pytest.raises(ParameterError, match="neural_forward.*directional_derivative"):
        run(gauss, NeuralForward(iters=1), x0, 0.1, 1, show_progress=False)
    with pytest.raises(ParameterError, match="particle.*riesz"):
        run(gauss, RieszEuler(split_diracs_first=True), x0, 0.1, 1, show_progress=False)
    with pytest.raises(ParameterError, match="minibatch_gradient"):
        run(MMD(get_kernel("W2_1", 1.0), y), NeuralBackward(iters=1, estimator="svrg"), x0, 0.1, 1, show_progress=False)
    weighted = MMD(get_kernel("riesz", 1.0), y, target_weights=torch.full((20,), 0.05))
    with pytest.raises(ParameterError, match="minibatch_value"):
        run(weighted, NeuralBackward(iters=1), x0, 0.1, 1, show_progress=False)
    # one run at a time, uniform weights
    two = Particles(torch.randn(2, 20, 2, generator=_gen(2)))
    for sch in (NeuralBackward(iters=1), NeuralForward(iters=1)):
        with pytest.raises(ParameterError, match="runs = 2"):
            sch.step(riesz_mmd_energy(y, 1.0), two, 0.1, 0, _gen(3))


# ----------------------------------------------------------------------------- the energy: MMD with the Riesz kernel
@pytest.mark.parametrize("r", [0.5, 1.0, 1.5])
@pytest.mark.parametrize("with_target", [True, False])
def test_riesz_mmd_gradient_matches_autograd_of_its_value(r, with_target):
    # F = 1/2 MMD_K^2 (or E_K): at distinct points dF/dx_i = gradient_i / n, per run (runs = 2, uniform weights)
    g = _gen(4)
    x = torch.randn(2, 9, 3, generator=g, dtype=F64)
    y = torch.randn(2, 6, 3, generator=g, dtype=F64) if with_target else None
    for scale in (0.5, 1.0):
        e = MMD(get_kernel("riesz", r), y, scale=scale)
        xr = x.clone().requires_grad_(True)
        (auto,) = torch.autograd.grad(e.value(Particles(xr)).sum(), xr)
        assert torch.allclose(e.gradient(Particles(x)) / 9, auto, atol=1e-12)
        assert torch.allclose(e.gradient(Particles(x)), e.first_variation(Particles(x), x)[1], atol=1e-12)


@pytest.mark.parametrize("r", [0.5, 1.0, 1.5])
def test_riesz_mmd_default_backend_is_the_torch_sums_to_round_off(r):
    # the default backend ("auto": numba's fused sums here) against the blocked torch loop: value, mmd2, gradient,
    # minibatch gradient and directional-derivative parts, float64, with coincident particles (one-sided values)
    g = _gen(6)
    target, x = torch.randn(300, 2, generator=g, dtype=F64), torch.randn(1, 200, 2, generator=g, dtype=F64)
    x[0, :10] = x[0, 10:20]
    auto, ref = riesz_mmd_energy(target, r), riesz_mmd_energy(target, r, backend="torch")
    assert auto.backend == "auto"
    mu = Particles(x)
    for f in (lambda e: e.value(mu), lambda e: e.mmd2(mu), lambda e: e.gradient(mu),
              lambda e: e.minibatch_gradient(x[0], target[:150], unbiased=True),
              *([lambda e: e.directional_derivative_parts(mu)["grad"]] if r >= 1 else [])):
        a, b = f(auto), f(ref)
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-13 * float(b.abs().max())), float((a - b).abs().max())
        assert not torch.equal(a, torch.zeros_like(a))


@pytest.mark.parametrize("r", [0.5, 1.0, 1.5])
def test_riesz_mmd_is_the_riesz_functions_bit_for_bit(r):
    # the fast path: value, mmd2 and gradient are wgf_core.riesz's functions run by run, exactly (both on torch)
    g = _gen(5)
    target, x = torch.randn(300, 2, generator=g, dtype=F64), torch.randn(2, 200, 2, generator=g, dtype=F64)
    x[0, :10] = x[0, 10:20]  # coincident particles: the one-sided gradient
    e, free = riesz_mmd_energy(target, r, backend="torch"), riesz_mmd_energy(None, r, backend="torch")
    for _ in range(2):  # the cached target self term changes nothing
        assert torch.equal(e.value(Particles(x)), torch.stack([R.riesz_energy(x[k], target, r, backend="torch") for k in range(2)]))
        assert torch.equal(e.mmd2(Particles(x)), torch.stack([R.riesz_mmd2(x[k], target, r, backend="torch") for k in range(2)]))
    assert torch.equal(e.gradient(Particles(x)), torch.stack([R.riesz_gradient(x[k], target, r, backend="torch") for k in range(2)]))
    assert torch.equal(free.value(Particles(x)), torch.stack([R.riesz_energy(x[k], None, r, backend="torch") for k in range(2)]))
    assert torch.equal(free.gradient(Particles(x)), torch.stack([R.riesz_gradient(x[k], None, r, backend="torch") for k in range(2)]))
    # per-run targets (runs, m, d) are each run's own
    y2 = torch.stack([target, target + 1])
    e2 = riesz_mmd_energy(y2, r, backend="torch")
    assert torch.equal(e2.mmd2(Particles(x))[1], R.riesz_mmd2(x[1], target + 1, r, backend="torch"))
    assert torch.allclose(e2.mmd2(Particles(x))[1], mmd2(get_kernel("riesz", r), x[1], target + 1))
    with pytest.raises(ParameterError, match="needs a target"):
        free.mmd2(Particles(x))
    res = run_experiment("particle", x[0], target, r=r, tau=0.1, steps=2, backend="torch")
    assert res.metrics["energy"][0, -1] == float(R.riesz_energy(res.x[0], target, r, backend="torch"))
    assert res.metrics["mmd"][0, -1] == float(R.riesz_mmd2(res.x[0], target, r, backend="torch").sqrt())
    draws = [torch.randn(200, 2, generator=g, dtype=F64) for _ in range(3)]
    fine = get_kernel("gauss", 0.05)
    assert R.null_mmds(lambda k: draws[k], target, draws=3) == [float(R.riesz_mmd2(d, target).sqrt()) for d in draws]
    assert R.null_mmds(lambda k: draws[k], target, draws=3, kernel=fine) == [float(mmd2(fine, d, target).sqrt()) for d in draws]


@pytest.mark.parametrize("name,param", [("riesz", 0.5), ("riesz", 1.0), ("riesz", 1.5), ("gauss", 0.5), ("imq", 1.0)])
@pytest.mark.parametrize("with_target", [True, False])
def test_minibatch_value_and_gradient_agree(name, param, with_target):
    # the neural backward scheme's F on a batch: its autograd gradient is the batch Wasserstein gradient / B, and
    # the unbiased (U-statistic) gradient rescales the interaction term by B / (B - 1)
    g = _gen(6)
    x = torch.randn(12, 2, generator=g, dtype=F64)
    tb = torch.randn(7, 2, generator=g, dtype=F64) if with_target else None
    e = MMD(get_kernel(name, param), tb if tb is None else torch.randn(30, 2, generator=g, dtype=F64), scale=0.7)
    xr = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(e.minibatch_value(xr, tb), xr)
    assert torch.allclose(e.minibatch_gradient(x, tb) / 12, auto, atol=1e-12)
    assert torch.allclose(e.minibatch_value(x, tb), e.with_target(tb).value(Particles.of(x))[0] if with_target
                          else e.value(Particles.of(x))[0], atol=1e-12)
    inter = MMD(get_kernel(name, param), None, scale=0.7).minibatch_gradient(x)
    want = e.minibatch_gradient(x, tb) + (12 / 11 - 1) * inter
    assert torch.allclose(e.minibatch_gradient(x, tb, unbiased=True), want, atol=1e-12)
    with pytest.raises(ParameterError, match="minibatch"):
        e.minibatch_value(x, None if with_target else x)


def test_neural_backward_on_the_gaussian_mmd():
    # the neural backward scheme needs only a differentiable F on minibatches: it runs on the Gaussian MMD, lowers it
    # and is reproducible; the svrg estimator works there too
    g = _gen(7)
    target = torch.randn(200, 2, generator=g) * 0.3 + torch.tensor([0.5, 0.0])
    x0 = Particles.of(torch.randn(200, 2, generator=g) * 0.3 - torch.tensor([0.5, 0.0]))
    e = MMD(get_kernel("gauss", 0.5), target, scale=0.5)
    logs = {"mmd2": lambda mu, en: en.mmd2(mu)}
    for est in ("minibatch", "svrg"):
        trajs = [run(e, NeuralBackward(iters=10, first_iters=80, width=32, depth=2, lr=5e-3, batch_size=100, estimator=est),
                     x0, 0.5, 6, log=logs, seed=11, show_progress=False) for _ in range(2)]
        assert torch.equal(trajs[0].x, trajs[1].x)
        m = trajs[0].metrics["mmd2"][0]
        assert m[-1] < 0.3 * m[0], (est, m)


@pytest.mark.parametrize("with_target", [True, False])
def test_svrg_estimator_is_unbiased_and_quieter_than_minibatch(with_target):
    # the mean of the "svrg" surrogate's parameter gradients over batches is the gradient of the full
    # JKO objective (1/2tau) E|x - T(x,z)|^2 + F(T#mu), also with the snapshot away from the current net;
    # with a target the plain minibatch estimate is far noisier (and biased: its interaction term is a V-statistic)
    from wgf_core.riesz import DifferentiableRieszEnergy

    gen = _gen(0)
    n, bsz, tau = 300, 60, 0.5
    target = torch.rand(n, 2, generator=gen) if with_target else None
    x = torch.rand(n, 2, generator=gen) * 1.2 - 0.1
    energy = riesz_mmd_energy(target, 1.0)
    sch = NeuralBackward(width=16, depth=2, batch_size=bsz, estimator="svrg")
    sch.build(2, _gen(1))
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
        snap_grad = energy.gradient(Particles.of(snap))[0]
    svrg, mini = [], []
    for _ in range(300):
        idx = torch.randperm(n, generator=gen)[:bsz]
        tb = None if target is None else target[torch.randperm(n, generator=gen)[:bsz]]
        svrg.append(grad_of(sch.svrg_surrogate(energy, x, z, idx, tb, snap, snap_grad, tau)))
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
    # over five draws (data and network streams of members 0-4): the svrg step ends below the minibatch step
    # every time, on average by more than 5 % of the minibatch step's descent (measured: 5-18 %, mean 11 %)
    extra = []
    for m in range(5):
        gen = stream(0, "tests/flows_riesz/svrg_data", m)
        target = torch.randn(400, 2, generator=gen) * 0.3
        x = torch.randn(400, 2, generator=gen) * 0.3 + torch.tensor([0.1, 0.0])  # close: batch noise matters
        energy = riesz_mmd_energy(target, 1.0)
        tau = 0.5
        objective = lambda y: float(((y - x) ** 2).sum(-1).mean() / (2 * tau) + energy.value(Particles.of(y))[0])
        ends = {}
        for est in ("minibatch", "svrg"):
            sch = NeuralBackward(width=32, depth=2, iters=150, lr=3e-3, batch_size=50, estimator=est, refresh=50)
            ends[est] = objective(sch.step(energy, Particles.of(x), tau, 0,
                                           stream(0, "tests/flows_riesz/svrg_net", m)).x[0])
        start = objective(x)
        assert ends["minibatch"] < start
        extra.append((ends["minibatch"] - ends["svrg"]) / (start - ends["minibatch"]))
    assert min(extra) > 0 and sum(extra) / len(extra) > 0.05, extra
    with pytest.raises(ParameterError, match="'estimator'"):
        NeuralBackward(estimator="saga")


def test_fourier_features_learn_fine_scale_fields_faster():
    # regressing a displacement field that varies on the scale 1/16: with Fourier features the same
    # MLP and Adam budget fit it; without them (spectral bias) it stays close to the mean
    from wgf_core.schemes.neural import _LatentNet

    gen = _gen(0)
    x = torch.rand(2000, 2, generator=gen)
    field = torch.stack([torch.sin(16 * math.pi * x[:, 0]), torch.cos(16 * math.pi * x[:, 1])], -1) * 0.01
    z = torch.zeros(2000, 2)
    errs = {}
    for ff in (0, 64):
        net = _LatentNet(2, 2, 64, 3, "relu", ff, 10.0, _gen(1))
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
        NeuralBackward(fourier_features=-1)


@pytest.mark.parametrize("r", [0.5, 1.0, 1.5])
def test_particle_flow_from_a_split_dirac_matches_the_exact_solution_for_every_r(r):
    # issue 18: from delta_0 (placed on the exact rho_tau at the first step) the explicit Euler particle flow
    # matches the closed-form support radius and mean |x| at t = 1.2 within 2 %. Euler is exact for the
    # self-similar flow only at r = 1 (R linear in t); its first-order error at r = 1.5 is about 12 % at
    # tau = 0.05 and 1.3 % at tau = 0.0025 (measured), hence the small step.
    tau, n = 0.0025, 500
    split = dict(split_diracs_first=True)
    res = run_experiment("particle", torch.zeros(n, 2, dtype=F64), r=r, tau=tau, steps=round(1.2 / tau), options=split,
                         log_every=round(1.2 / tau), show_progress=False)
    norms = res.x[0].norm(dim=-1)
    assert float(norms.mean()) == pytest.approx(R.exact_interaction_mean_norm(1.2, r), rel=0.02)
    assert float(norms.max()) == pytest.approx(R.exact_interaction_radius(1.2, r), rel=0.02)
    # the paper's step at r = 1.5 is outside 2 %: the check can fail
    if r == 1.5:
        coarse = run_experiment("particle", torch.zeros(n, 2, dtype=F64), r=r, tau=0.05, steps=24, options=split,
                                log_every=24)
        assert float(coarse.x[0].norm(dim=-1).mean()) < 0.95 * R.exact_interaction_mean_norm(1.2, r)


_NEURAL = dict(iters=60, first_iters=300, width=64, depth=2, latent_dim=2, lr=3e-3, batch_size=300)


def _neural_from_exact(name, r, *, t0, tau, standardize, n=300, t_end=1.2):
    x0 = R.spiral_exact_interaction(n, t0, r=r)  # the closed form up to t0 (a regularised Dirac)
    sch = SCHEME_CLASSES[name](standardize=standardize, **_NEURAL)
    steps = round((t_end - t0) / tau)
    res = run(riesz_mmd_energy(None, r), sch, Particles.of(x0), tau, steps, log_every=steps, generator=_gen(0),
              show_progress=False)
    norms = res.x[0].norm(dim=-1)
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
    # networks cannot resolve the cloud (measured -29 % backward, -79 % forward mean |x|); standardized, the same
    # start is within 15 % at tau = 0.05 (measured +14 %, -12 %)
    exact = R.exact_interaction_mean_norm(1.2, 1.5)
    raw, _ = _neural_from_exact(name, 1.5, t0=0.05, tau=0.05, standardize=False)
    std, _ = _neural_from_exact(name, 1.5, t0=0.05, tau=0.05, standardize=True)
    assert abs(raw / exact - 1) > 0.25 and abs(raw / exact - 1) > 1.5 * abs(std / exact - 1)
    assert abs(std / exact - 1) < 0.2


def test_standardize_refuses_a_dirac_and_a_non_bool():
    sch = NeuralBackward(standardize=True, iters=2, width=8, depth=1)
    with pytest.raises(ParameterError, match="positive spread"):
        sch.step(riesz_mmd_energy(None, 1.5), Particles.of(torch.zeros(10, 2)), 0.05, 0)
    with pytest.raises(ParameterError, match="standardize"):
        NeuralForward(standardize="yes")


@pytest.mark.parametrize("r", [1.0, 1.5])
@pytest.mark.parametrize("with_target", [True, False])
def test_minibatch_value_surrogate_has_the_gradient_of_the_value_bit_for_bit(r, with_target):
    # the neural backward scheme's loss before its last iteration: the same gradient, no energy value
    g = _gen(7)
    x = torch.randn(40, 2, generator=g)
    x[:5] = x[5:10]  # coincident points: the one-sided gradient in both
    tb = torch.randn(30, 2, generator=g) if with_target else None
    e = riesz_mmd_energy(torch.randn(50, 2, generator=g) if with_target else None, r)
    grads = []
    for fn in (e.minibatch_value, e.minibatch_value_surrogate):
        xr = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(3.0 * fn(xr, tb), xr)
        grads.append(gx)
    assert torch.equal(grads[0], grads[1]) and float(grads[0].abs().max()) > 0
    assert not torch.equal(e.minibatch_value(x, tb), e.minibatch_value_surrogate(x, tb))  # not the value
    gauss = MMD(get_kernel("gauss", 1.0), torch.randn(50, 2, generator=g))  # other kernels: the value itself
    assert torch.equal(gauss.minibatch_value_surrogate(x, x[:30]), gauss.minibatch_value(x, x[:30]))


# -- backends: explicit (default) and autograd bit for bit; numba to round-off -----------------------------------

def _steps(cls, energy, x, steps=3, **options):
    sch = cls(**options)
    g, mu = _gen(5), Particles.of(x)
    for k in range(steps):
        mu = sch.step(energy, mu, 0.3, k, g)
    return mu.x[0], sch


def _backend_cases():
    g = _gen(3)
    x = torch.randn(160, 2, generator=g)
    target = torch.randn(120, 2, generator=g) * 0.5 + 0.3
    xc = x.clone()
    xc[:30] = xc[0]            # a coincident group and particles on target points: the forward loss's extra terms
    xc[30:36] = target[:6]
    base = dict(iters=20, first_iters=30, width=16, depth=2, batch_size=60, lr=3e-3)
    return {
        "interaction": (NeuralBackward, riesz_mmd_energy(None, 1.0), x, base),
        "target_scale": (NeuralBackward, MMD(get_kernel("riesz", 1.0), target, scale=0.7, backend="auto"), x, base),
        "svrg_fourier_standardize": (NeuralBackward, riesz_mmd_energy(target, 1.0), x,
                                     dict(base, estimator="svrg", refresh=7, fourier_features=4, standardize=True,
                                          activation="tanh")),
        "gauss_elu": (NeuralBackward, MMD(get_kernel("gauss", 0.5), target, scale=0.5), x,
                      dict(base, activation="elu", depth=3)),
        "forward": (NeuralForward, riesz_mmd_energy(target, 1.0), x, base),
        "forward_coincident": (NeuralForward, riesz_mmd_energy(target, 1.0), xc, dict(base, standardize=True)),
    }


@pytest.mark.parametrize("case", ["interaction", "target_scale", "svrg_fourier_standardize", "gauss_elu", "forward",
                                  "forward_coincident"])
def test_explicit_backend_moves_as_autograd_bit_for_bit(case):
    # torch training (explicit network passes, one flat Adam tensor) is the autograd path, bit for bit, float32
    cls, energy, x, opts = _backend_cases()[case]
    a, sa = _steps(cls, energy, x, backend="torch", **opts)
    b, sb = _steps(cls, energy, x, backend="torch", autograd=True, **opts)
    assert sa.explicit is not None and sb.explicit is None
    assert torch.equal(a, b) and sa.last_loss == sb.last_loss
    c, _ = _steps(cls, energy, x, backend="torch", **dict(opts, lr=opts["lr"] * (1 + 1e-3)))
    assert not torch.equal(a, c)  # a failing input: the comparison sees a change of the learning rate by 1e-3


@pytest.mark.parametrize("case", ["interaction", "target_scale", "svrg_fourier_standardize", "gauss_elu", "forward",
                                  "forward_coincident"])
def test_numba_backend_trains_the_same_network_to_round_off(case):
    # float64: the same batches, latents, initialisation and objective; particles and loss agree to round-off
    pytest.importorskip("numba")
    cls, energy, x, opts = _backend_cases()[case]
    x = x.double()
    if getattr(energy, "target", None) is not None:
        energy = energy.with_target(energy.target.double())
    a, sa = _steps(cls, energy, x, backend="numba", **opts)
    b, sb = _steps(cls, energy, x, backend="torch", autograd=True, **opts)
    assert sa.numba is not None
    assert float((a - b).abs().max()) < 1e-9
    assert abs(sa.last_loss - sb.last_loss) < 1e-9 * max(1.0, abs(sb.last_loss))
    c, _ = _steps(cls, energy, x, backend="torch", autograd=True, **dict(opts, lr=opts["lr"] * (1 + 1e-3)))
    assert float((a - c).abs().max()) > 1e-7


def test_forward_loss_gradient_closed_form_equals_autograd():
    g = _gen(4)
    x = torch.randn(60, 2, generator=g, dtype=F64)
    sch = NeuralForward(width=8, depth=1)
    parts = riesz_mmd_energy(None, 1.0).directional_derivative_parts(Particles.of(x))
    assert not parts["groups"] and parts["hits"] is None  # the closed-form branch
    v = torch.randn(60, 2, generator=g, dtype=F64)
    vl = v.clone().requires_grad_(True)
    ref = torch.autograd.grad(sch._loss(parts, vl), vl)[0]
    assert torch.allclose(sch._loss_gradient(parts, v), ref, rtol=1e-12, atol=1e-15)
    assert not torch.allclose(sch._loss_gradient(parts, 2 * v), ref, rtol=1e-3, atol=0)  # scale-invariant loss


def test_minibatch_value_gradient_equals_autograd():
    g = _gen(6)
    x = torch.randn(40, 2, generator=g, dtype=F64)
    t = torch.randn(30, 2, generator=g, dtype=F64)
    for energy, tb in ((riesz_mmd_energy(t, 1.0), t), (riesz_mmd_energy(None, 1.5), None),
                       (MMD(get_kernel("gauss", 0.7), t, scale=0.5), t)):
        xl = x.clone().requires_grad_(True)
        ref = torch.autograd.grad(energy.minibatch_value(xl, tb), xl)[0]
        got = energy.minibatch_value_gradient(x, tb)
        assert not got.requires_grad
        assert torch.allclose(got, ref, rtol=1e-10, atol=1e-14)


def test_neural_backend_choice_and_refusals():
    with pytest.raises(ParameterError, match="'backend' = 'numba' trains the activations"):
        NeuralBackward(backend="numba", activation="prelu")
    with pytest.raises(ParameterError, match="'backend'"):
        NeuralForward(backend="keops")
    with pytest.raises(ParameterError, match="'autograd'"):
        NeuralForward(autograd="yes")
    sch = NeuralBackward(activation="prelu")  # auto: torch with autograd where numba and the explicit passes cannot
    sch.build(2, _gen(0))
    assert sch.explicit is None and sch.numba is None
    sch = NeuralBackward(backend="torch")
    sch.build(2, _gen(0))
    assert sch.explicit is not None and sch.numba is None
    if backends.resolve("mlp_train", "cpu", torch.float32, 0) == "numba":  # auto: numba on the CPU where installed
        sch = NeuralBackward()
        sch.build(2, _gen(0))
        assert sch.numba is not None
