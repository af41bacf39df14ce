"""The three Riesz-flow schemes: exact interaction-energy flow, descent, reproducibility."""

import math

import pytest
import torch

from wgf_core import riesz as R
from wgf_core.flows.riesz import RieszProblem, make_scheme, run_riesz_flow, run_schemes
from wgf_core.metrics import energy_distance
from wgf_core.validation import ParameterError


def test_particle_flow_from_dirac_matches_exact_solution():
    # issue 4: r = 1, d = 2, delta_0, tau = 0.05, t = 1.2, 2000 particles -> mean |x| within 1%
    prob = RieszProblem(None, 1.0)
    x0 = torch.zeros(2000, 2)
    res = run_riesz_flow(x0, prob, make_scheme("particle", prob, 2), tau=0.05, steps=24, log_every=24)
    exact = R.exact_interaction_mean_norm(1.2)
    assert float(res.x.norm(dim=-1).mean()) == pytest.approx(exact, rel=0.01)
    gen = torch.Generator().manual_seed(0)
    ex = R.sample_exact_interaction(2000, 1.2, generator=gen)
    # energy distance to exact samples at the level of two independent exact samples
    floor = float(energy_distance(R.sample_exact_interaction(2000, 1.2, generator=gen), ex))
    assert float(energy_distance(res.x, ex)) < 3 * floor + 1e-3
    assert res.energy[-1] < res.energy[0]


def test_particle_flow_without_split_stays_a_dirac():
    # the one-sided gradient is 0 at coincident points: without the split nothing moves
    prob = RieszProblem(None, 1.0)
    sch = make_scheme("particle", prob, 2, split_diracs_first=False)
    res = run_riesz_flow(torch.zeros(50, 2), prob, sch, tau=0.1, steps=3)
    assert torch.equal(res.x, torch.zeros(50, 2))


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
