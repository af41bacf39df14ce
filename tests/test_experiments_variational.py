"""Drivers of the variational JKO paper (wgf_core.experiments.variational) at unit level, small sizes."""

import math

import numpy as np
import pytest
import torch

from wgf_core.errors import ParameterError
from wgf_core.experiments import variational as ev
from wgf_core.schemes.variational import TrainConfig

OU_SZ = dict(outer=3, inner=1, batch=64, width=8, depth=1, n_eval=300, n_eval_final=400, pool=512, reference="pushed")


def test_run_ou_small_records_curves_floors_and_times():
    r = ev.run_ou(2, 0, OU_SZ, step=0.1, t_eval=(0.2, 0.3), keep_frames=True)
    assert r["diverged"] is None and r["diverged_msg"] is None
    assert r["curve"].shape == (3,) and np.isfinite(r["curve"]).all()
    assert set(r["at"]) == {0.2, 0.3} and all(math.isfinite(v) for v in r["at"][0.3].values())
    assert len(r["frames"]) == 3 and r["frames"][0].shape == (300, 2)
    assert r["step_time"] >= 0 and r["d"] == 2 and r["seed"] == 0
    # the same seed is the same flow
    again = ev.run_ou(2, 0, OU_SZ, step=0.1, t_eval=(0.2, 0.3))
    assert np.array_equal(r["curve"], again["curve"])
    A, b = ev.ou_problem(2, 0)
    assert A.shape == (2, 2) and b.shape == (2,)


def test_run_ou_records_a_diverged_seed_instead_of_raising(monkeypatch):
    # learning rates of 50 make the affine map explode at the first step: the runner stops the flow and the
    # driver records the seed as diverged, with NaN errors (the claims over seeds see NaN)
    monkeypatch.setattr(ev, "TrainConfig", lambda o, i, b, lm, ld: TrainConfig(o, i, b, 50.0, 50.0))
    monkeypatch.setattr(ev, "ou_problem", lambda d, s: (torch.diag(torch.tensor([1.0, 1000.0], dtype=torch.float64)),
                                                        torch.zeros(2, dtype=torch.float64)))
    r = ev.run_ou(2, 0, dict(OU_SZ, outer=60, reference="start"), step=0.05, t_eval=(0.1, 0.2))
    assert r["diverged"] == 1 and r["diverged_msg"].startswith("step 1:")
    assert r["curve"].shape == (4,) and np.isnan(r["curve"]).all()
    assert all(math.isnan(v) for t in (0.1, 0.2) for v in r["at"][t].values())


def test_kl_targets_and_run():
    moons = ev.make_target("moons")
    assert moons.means.shape == (16, 2)
    g8 = ev.make_target("gmm8", 8)
    assert g8.means.shape == (9, 8) and torch.equal(g8.means, ev.make_target("gmm8", 8).means)
    with pytest.raises(ParameterError, match="'name'"):
        ev.make_target("swiss")
    sz = dict(d=2, K=2, outer=3, inner=1, batch=32, T=(8, 1), h=(8, 1))
    scheme, target, traj = ev.run_kl("moons", sz, 0)
    assert traj.iterations == 2 and len(scheme.maps) == 2 and traj.final.x.shape == (1, 320, 2)
    fr = ev.component_fractions(target, scheme.sample(200))
    assert fr.shape == (16,) and abs(float(fr.sum()) - 1) < 1e-12


def test_porous_scheme_runs():
    sz = dict(inner=1, batch=32, lr=5e-3, width=6, depth=1, pool=256, lr_final_factor=0.1)
    energy, scheme = ev.porous_scheme(1, sz, 3, 0)
    traj = ev.run_variational(energy, scheme, 0.001, 2, show_progress=False)
    assert traj.iterations == 2 and torch.isfinite(scheme.sample(100)).all()


def test_run_aggregation_and_push_cache():
    sz = dict(outer=2, inner=1, batch=32, pool=200, lr=5e-3, width=6, depth=1)
    out = ev.run_aggregation("fb", 3, 0, sz, keep=True, energy_points=100)
    assert out["modes"].shape == (3,) and out["spread"].shape == (3,) and np.isfinite(out["energy"]).all()
    assert set(out["timeline"]) == {"first", "last", "one_from"}
    cache = ev.PushCache(out["flow"], out["x0"][:50])
    x2 = cache.get(2)
    assert np.allclose(x2, out["flow"].push(out["x0"][:50], 2).numpy(), atol=1e-6)
    assert np.allclose(cache.get(3), out["flow"].push(out["x0"][:50], 3).numpy(), atol=1e-6)
    with pytest.raises(ParameterError, match="'k'"):
        cache.get(4)
    with pytest.raises(ParameterError, match="'mode'"):
        ev.aggregation_scheme("jko", sz, 0)
