import math

import numpy as np
import pytest
import torch

from wgf_core.energies import MMD
from wgf_core.errors import FlowDivergedError, ParameterError
from wgf_core.kernels import get_kernel
from wgf_core.measures import Particles
from wgf_core.runner import Trajectory, run
from wgf_core.schemes import IFT, WFR, Euler, Scheme

F64 = torch.float64


def _problem(runs=2, n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(runs, n, 2, generator=g, dtype=F64)
    y = 3.0 + torch.randn(runs, 10, 2, generator=g, dtype=F64)
    return MMD(get_kernel("gauss", 1.0), y), Particles(x0)


def test_run_logs_snapshots_times_and_decreases_the_energy():
    energy, mu0 = _problem()
    traj = run(energy, Euler(), mu0, 0.5, 40, log_every=10, snapshot_every=20, show_progress=False)
    assert isinstance(traj, Trajectory) and traj.iterations == 40 and traj.diverged is None
    assert list(traj.steps) == [0, 10, 20, 30, 40]
    assert np.allclose(traj.times, 0.5 * traj.steps)
    assert traj.metrics["energy"].shape == (2, 5)
    assert (np.diff(traj.metrics["energy"], axis=1) < 0).all()  # a gradient flow with a small step descends
    assert traj.x_snapshots.shape == (3, 2, 8, 2) and list(traj.snapshot_steps) == [0, 20, 40]
    assert np.array_equal(traj.x_snapshots[-1], traj.x.numpy())
    assert traj.metric_at("energy", 25).tolist() == traj.metrics["energy"][:, 2].tolist()


def test_a_step_size_schedule_sets_the_iterations_and_the_times():
    energy, mu0 = _problem()
    traj = run(energy, Euler(), mu0, [0.1, 0.2, 0.3], 0, show_progress=False)
    assert traj.iterations == 3 and np.allclose(traj.times, [0.0, 0.1, 0.3, 0.6])


def test_splitting_schemes_count_two_steps_per_iteration():
    energy, mu0 = _problem()
    traj = run(energy, IFT(0.1), mu0, 0.5, 20, log_every=4, show_progress=False)
    assert traj.iterations == 10 and list(traj.steps) == [0, 4, 8, 12, 16, 20]
    assert torch.allclose(traj.w.sum(-1), torch.ones(2, dtype=F64))


def test_seeded_noise_is_reproducible_and_per_run_generators_are_independent_of_the_batch():
    energy, mu0 = _problem(runs=3)
    a = run(energy, Euler(noise=0.5), mu0, 0.2, 10, seed=7, show_progress=False)
    b = run(energy, Euler(noise=0.5), mu0, 0.2, 10, seed=7, show_progress=False)
    assert torch.equal(a.x, b.x)
    gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    batch = run(energy, Euler(noise=0.5), mu0, 0.2, 10, generator=gens, show_progress=False)
    alone = run(MMD(energy.kernel, energy.target[1:2]), Euler(noise=0.5), mu0.run(1), 0.2, 10,
                generator=[torch.Generator().manual_seed(2)], show_progress=False)
    assert torch.allclose(batch.x[1], alone.x[0], atol=1e-12)


@pytest.mark.parametrize("scheme", [Euler(), Euler(noise=1.0), IFT(0.1), IFT(0.1, "qp"), WFR(0.1)],
                         ids=["euler", "euler-noise", "ift", "ift-qp", "wfr"])
def test_a_blow_up_of_every_particle_scheme_stops_naming_the_step(scheme):
    # a step of 1e9 throws the particles 1e8 away: beyond 1e3 times their reference extent at the first check
    energy, mu0 = _problem()
    steps_per_it = scheme.steps_per_iteration
    with pytest.raises(FlowDivergedError, match=rf"step {steps_per_it}: positions spread .* try a smaller step size"):
        run(energy, scheme, mu0, 1e9, 10 * steps_per_it, show_progress=False)
    # the same run with the paper's kind of step passes every check
    traj = run(energy, scheme, mu0, 0.5, 10 * steps_per_it, seed=0, show_progress=False)
    assert traj.diverged is None


def test_non_finite_start_is_named_with_its_step():
    energy, mu0 = _problem()
    x = mu0.x.clone()
    x[1, 2, 0] = float("nan")
    with pytest.raises(FlowDivergedError, match="step 1: non-finite positions"):
        run(energy, Euler(), Particles(x), 0.1, 5, show_progress=False)


class _Loss(Scheme):
    """A fake learned step whose training loss explodes at iteration ``at``."""

    name = "fake-training"
    needs = frozenset()

    def __init__(self, at):
        self.at = at

    def step(self, energy, mu, tau, k, generator=None):
        self.last_loss = 1.0 if k + 1 < self.at else -7.9e7 * 1e3
        return mu


class _Cholesky(Scheme):
    """A fake step that factorises a matrix that stops being positive definite at iteration ``at``."""

    name = "fake-cholesky"
    needs = frozenset()

    def __init__(self, at):
        self.at = at

    def step(self, energy, mu, tau, k, generator=None):
        a = torch.eye(2, dtype=F64) * (1.0 if k + 1 < self.at else -1.0)
        torch.linalg.cholesky(a)
        return mu


def test_a_training_loss_blow_up_and_a_linear_algebra_failure_stop_with_the_step():
    energy, mu0 = _problem()
    with pytest.raises(FlowDivergedError, match="step 4: the training loss grew"):
        run(energy, _Loss(4), mu0, 0.1, 10, show_progress=False)
    with pytest.raises(FlowDivergedError, match="step 5: a linear-algebra failure inside the step"):
        run(energy, _Cholesky(5), mu0, 0.1, 10, show_progress=False)


def test_on_divergence_stop_returns_the_last_good_state():
    energy, mu0 = _problem()
    traj = run(energy, _Cholesky(5), mu0, 0.1, 10, on_divergence="stop", show_progress=False)
    assert traj.diverged.startswith("step 5:") and traj.iterations == 4
    assert torch.equal(traj.x, mu0.x)


def test_a_rising_metric_is_a_blow_up():
    energy, mu0 = _problem()
    calls = {"n": 0}

    def exploding(mu, e):
        calls["n"] += 1
        return torch.full((mu.runs,), 1.0 if calls["n"] < 3 else 1e9, dtype=F64)

    with pytest.raises(FlowDivergedError, match="step 2: exploding grew to 1e\\+09"):
        run(energy, Euler(), mu0, 0.1, 5, log={"exploding": exploding}, show_progress=False)


def test_a_pair_that_cannot_work_is_refused_before_any_step():
    class NoGradient:
        name = "value-only"
        provides = frozenset({"value"})

        def value(self, mu):
            return mu.x.sum((-1, -2))

    mu0 = Particles(torch.zeros(1, 3, 2))
    with pytest.raises(ParameterError, match="scheme 'euler' needs its Wasserstein gradient .* 'value-only'"):
        run(NoGradient(), Euler(), mu0, 0.1, 2, show_progress=False)
    with pytest.raises(ParameterError, match="scheme 'ift' needs its first variation"):
        run(NoGradient(), IFT(0.1), mu0, 0.1, 2, show_progress=False)


@pytest.mark.parametrize("kw,name", [(dict(tau=-1.0), "tau"), (dict(steps=-1), "steps"),
                                     (dict(log_every=0), "log_every"), (dict(on_divergence="ignore"), "on_divergence"),
                                     (dict(max_growth=0.0), "max_growth")])
def test_bad_runner_parameters_are_named(kw, name):
    energy, mu0 = _problem()
    args = dict(tau=0.1, steps=2)
    args.update(kw)
    with pytest.raises(ParameterError, match=name):
        run(energy, Euler(), mu0, args.pop("tau"), args.pop("steps"), show_progress=False, **args)


def test_threads_are_restored():
    energy, mu0 = _problem()
    before = torch.get_num_threads()
    run(energy, Euler(), mu0, 0.1, 2, num_threads=1, show_progress=False)
    assert torch.get_num_threads() == before
    assert math.isfinite(float(energy.value(mu0).sum()))


def _riesz_problem(n=40):
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(1, n, 2, generator=g)
    y = torch.randn(1, n, 2, generator=g) + 2.0
    return MMD(get_kernel("riesz", 1.0), y), Particles(x0)


def _blow_up_cases():
    from wgf_core.schemes import NeuralBackward, NeuralForward, RieszEuler, StepControlledEuler
    small = dict(iters=3, first_iters=3, width=8, depth=1)
    return {
        # a step of 1e9 throws the particles 1e8 away (the Riesz gradient is bounded by 1): position growth
        "riesz-euler": (RieszEuler(), 1e9, "positions spread"),
        "step-controlled-euler": (StepControlledEuler(1e12, max_substeps=1), 1e9, "positions spread"),
        "neural-forward": (NeuralForward(**dict(small, iters=40, first_iters=40)), 1e9, "positions spread"),
        # a learning rate of 1e30 makes the network's weights, then its loss, non-finite
        "neural-backward": (NeuralBackward(lr=1e30, **small), 0.1, "non-finite|training loss grew|positions spread"),
    }


@pytest.mark.parametrize("name", ["riesz-euler", "step-controlled-euler", "neural-forward", "neural-backward"])
def test_a_blow_up_of_the_riesz_moreau_and_neural_schemes_stops_naming_the_step(name):
    # issue 18: every scheme's blow-up stops with FlowDivergedError naming the step (the variational JKO's
    # is tested in tests/test_variational.py, the particle schemes' above)
    scheme, tau, what = _blow_up_cases()[name]
    energy, mu0 = _riesz_problem()
    with pytest.raises(FlowDivergedError, match=rf"step \d+: ({what})"):
        run(energy, scheme, mu0, tau, 6, seed=0, show_progress=False)


@pytest.mark.parametrize("name", ["riesz-euler", "step-controlled-euler", "neural-forward"])
def test_the_same_schemes_with_a_small_step_do_not_diverge(name):
    scheme, _, _ = _blow_up_cases()[name]
    energy, mu0 = _riesz_problem()
    traj = run(energy, scheme, mu0, 0.01, 6, seed=0, show_progress=False)
    assert traj.diverged is None and traj.iterations == 6


def test_positions_check_tells_overflow_from_non_finite():
    # the check reads the positions once (their extent); an extent of inf from a finite position whose square
    # overflows is a spread, an inf position is non-finite (a scheme that puts one position there at its first step)
    class _Jump(_Loss):
        def __init__(self, value):
            super().__init__(at=100)
            self.value = value

        def step(self, energy, mu, tau, k, generator=None):
            x = mu.x.clone()
            x[0, 3, 1] = self.value
            self.last_loss = 1.0
            return Particles(x)

    energy, mu0 = _problem()
    for value, message in ((1e200, "step 1: positions spread to inf"), (float("inf"), "step 1: non-finite positions")):
        with pytest.raises(FlowDivergedError, match=message):
            run(energy, _Jump(value), mu0, 0.1, 5, show_progress=False)
