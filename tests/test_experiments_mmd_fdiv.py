"""The experiment setup of the MMD-regularised f-divergence flows (wgf_core.experiments.mmd_fdiv)."""

import numpy as np
import pytest
import torch

from wgf_core.energies import MoreauFDivergence
from wgf_core.errors import ParameterError
from wgf_core.experiments.mmd_fdiv import LOGGED, flow_log, make_energy, make_scheme, run_flow
from wgf_core.schemes import Euler, StepControlledEuler
from wgf_core.targets import target_and_prior

D = torch.float64


def test_make_energy_builds_the_problem_and_the_schedule():
    _, y = target_and_prior("bananas", 5, 7, seed=0, dtype=D)
    e = make_energy(y, kernel="imq", s=0.1, divergence="tsallis", alpha=0.5, lambd=0.01, annealing=True,
                    annealing_factor=10.0, annealing_stages=2, n_steps=60, tol=1e-3, max_inner=50)
    assert isinstance(e, MoreauFDivergence) and e.kernel.name == "imq" and e.kernel.param == 0.1
    assert e.entropy.name == "tsallis" and e.entropy.alpha == 0.5 and e.singular  # f'_inf = 1 < inf
    assert len(e.lambdas) == 61 and e.lam_at(0) == pytest.approx(1.0) and e.lam_at(60) == 0.01
    assert np.all(np.diff(e.lambdas) <= 0) and e.tol == 1e-3 and e.max_inner == 50
    assert np.all(make_energy(y, lambd=0.3, n_steps=4).lambdas == 0.3)


def test_make_scheme():
    assert isinstance(make_scheme(None), Euler)
    s = make_scheme(1e-3, 7)
    assert isinstance(s, StepControlledEuler) and s.error_tol == 1e-3 and s.max_substeps == 7


def test_run_flow_logs_by_name_at_the_cadence():
    x0, y = target_and_prior("bananas", 10, 12, seed=1, dtype=D)
    r = run_flow(x0, y, s=0.1, lambd=0.05, step_size=1e-3, n_steps=7, log_every=3, snapshot_every=5,
                 show_progress=False, max_inner=200)
    assert set(r.metrics) == set(LOGGED) - {"w2"}
    assert r.steps.tolist() == [0, 3, 6, 7] and all(v.shape == (1, 4) for v in r.metrics.values())
    assert r.snapshot_steps.tolist() == [0, 5, 7] and r.x_snapshots.shape == (3, 1, 10, 2)
    assert np.all(r.metrics["dual"] <= r.metrics["functional"]) and np.all(r.metrics["lambda"] == 0.05)
    assert r.extra["substeps"].tolist() == [1] * 7 and r.extra["rejected"] == 0
    assert r.extra["total_inner"] >= r.metrics["inner"].sum() and r.extra["sigma_weights"].shape == (12,)
    assert r.times[-1] == pytest.approx(7e-3) and r.x.shape == (1, 10, 2)
    assert set(flow_log(y, compute_w2=True)) == set(LOGGED)


def test_run_flow_is_deterministic_with_step_control_and_annealing():
    """Two small runs with step control, one annealed: the same draw gives the same numbers bit for bit, the
    step control's counters are consistent, and every logged value is certified (dual <= primal)."""
    x0, y = target_and_prior("bananas", 25, 20, 1, dtype=D)
    args = dict(kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.01, show_progress=False)
    for kw in (dict(step_size=0.01, n_steps=6, error_tol=3e-3, log_every=2),
               dict(step_size=0.01, n_steps=12, annealing=True, error_tol=3e-3, log_every=4)):
        r, again = run_flow(x0, y, **args, **kw), run_flow(x0, y, **args, **kw)
        assert torch.equal(r.x, again.x) and np.array_equal(r.metrics["functional"], again.metrics["functional"])
        assert (r.extra["total_inner"], r.extra["substeps"].tolist(), r.extra["rejected"]) == \
            (again.extra["total_inner"], again.extra["substeps"].tolist(), again.extra["rejected"])
        assert r.extra["substeps"].shape == (kw["n_steps"],) and (r.extra["substeps"] >= 1).all()
        assert r.extra["total_inner"] >= r.metrics["inner"].sum() and r.extra["rejected"] >= 0
        assert np.all(r.metrics["dual"] <= r.metrics["functional"] * (1 + 1e-12))
        assert r.metrics["mmd2"][0, -1] < r.metrics["mmd2"][0, 0]
        assert r.metrics["lambda"][0, -1] == 0.01 and (r.metrics["lambda"][0, 0] > 0.01) == kw.get("annealing", False)


@pytest.mark.parametrize("kw,match", [
    (dict(step_size=0.0), "step_size"), (dict(n_steps=0), "n_steps"), (dict(log_every=0), "log_every"),
    (dict(snapshot_every=0), "snapshot_every"), (dict(lambd=-1.0), "lambd"), (dict(divergence="nope"), "divergence"),
    (dict(kernel="nope"), "kernel"), (dict(line_search="wolfe"), "line_search"), (dict(annealing="yes"), "annealing"),
    (dict(annealing=True, annealing_factor=0.0), "annealing_factor"),
    (dict(annealing=True, annealing_stages=-1), "annealing_stages"), (dict(error_tol=0.0), "error_tol"),
    (dict(error_tol=1e-3, max_substeps=0), "max_substeps"), (dict(tol=-1.0), "tol"), (dict(max_inner=0), "max_inner"),
])
def test_run_flow_parameter_errors(kw, match):
    x0, y = target_and_prior("bananas", 5, 5, dtype=D)
    with pytest.raises(ParameterError, match=match):
        run_flow(x0, y, show_progress=False, **kw)


def test_run_flow_shape_errors():
    x0, y = target_and_prior("bananas", 5, 5, dtype=D)
    for a, b in ((x0[:, :1], y), (x0[None], y), (x0, y.numpy())):
        with pytest.raises(ParameterError, match="must be tensors"):
            run_flow(a, b, show_progress=False)


# --- the notebooks' setup, runs, figures and records ------------------------------------------------------------

def _small_flow_setup(profile="ci", **kw):
    from wgf_core.experiments.mmd_fdiv import setup_flow

    S = setup_flow(profile, N=12, M=12, max_time=0.004, **kw)
    S.sizes.update(ref_N=10, ref_steps=3, grid_N=8, grid_steps=2, frames=2)
    return S


def test_setup_flow_defaults_and_overrides():
    from wgf_core.claims.mmd_fdiv import FLOW_PLAN
    from wgf_core.experiments.mmd_fdiv import FLOW_PROFILES, setup_flow

    S = setup_flow("ci")
    assert S.members == [0] and S.first is None and S.n_steps == 60 and S.cfg["N"] == FLOW_PROFILES["ci"]["N"]
    assert S.device.type == "cpu"
    S = setup_flow("default", seed=4)
    assert S.members == list(range(FLOW_PLAN.default[0])) and S.seed == 4
    S = setup_flow("default", seed=4, n_seeds=4, lambd=0.1, error_tol=1e-3)
    assert S.members == [0, 1, 2, 3] and S.first == 4 and S.cfg["lambd"] == 0.1 and S.options["error_tol"] == 1e-3
    assert "base seed=4 members=[0, 1, 2, 3]" in str(S)


@pytest.mark.parametrize("kw,name", [
    (dict(profile="fast"), "profile"), (dict(seed=-1), "seed"), (dict(n_seeds=0), "n_seeds"), (dict(target="x"), "target"),
    (dict(kernel="x"), "kernel"), (dict(divergence="x"), "divergence"), (dict(lambd=0.0), "lambd"),
    (dict(max_time=-1.0), "max_time"), (dict(N=0), "N"), (dict(tight="no"), "tight"), (dict(error_tol=0.0), "error_tol"),
    (dict(device="cuda:99"), "device"),
])
def test_setup_flow_refuses_bad_parameters(kw, name):
    from wgf_core.experiments.mmd_fdiv import setup_flow

    kw = {"profile": "ci", **kw}
    with pytest.raises(ParameterError, match=f"'{name}'"):
        setup_flow(kw.pop("profile"), **kw)


def test_draws_are_streams_per_purpose_and_member():
    from wgf_core.experiments.mmd_fdiv import PURPOSES, draw

    a0 = draw("bananas", 6, 7, 0, PURPOSES["reference"], 0)
    assert a0[0].shape == (6, 2) and a0[1].shape == (7, 2) and a0[0].dtype == D
    assert all(torch.equal(u, v) for u, v in zip(a0, draw("bananas", 6, 7, 0, PURPOSES["reference"], 0)))
    for other in (draw("bananas", 6, 7, 0, PURPOSES["reference"], 1), draw("bananas", 6, 7, 1, PURPOSES["reference"], 0),
                  draw("bananas", 6, 7, 0, PURPOSES["comparisons"], 0)):
        assert not torch.equal(a0[1], other[1])


def test_flow_notebook_pieces_run_and_record():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wgf_core.claims.mmd_fdiv import CLAIMS
    from wgf_core.experiments import mmd_fdiv as fdiv

    S = _small_flow_setup()
    y, res = fdiv.main_flow(S)
    assert res.iterations == 4 and "w2" in res.metrics and y.shape == (12, 2)
    assert "4 steps" in fdiv.flow_summary(res)
    fig = fdiv.plot_flow(res)
    assert [a.get_xlabel() for a in fig.axes] == ["time t"] * 4
    ref = fdiv.reference_ensemble(S)
    assert ref.members == [0] and len(ref.runs) == 1
    assert set(ref.plain) == {"tau = 0.01, plain Euler", "tau = 0.005, plain Euler"}
    assert ref.runs[0].extra["substeps"].shape == (3,) and ref.n_steps == 3
    fig2 = fdiv.plot_reference(ref)
    assert fig2.axes[0].get_ylabel() and fig2.axes[2].get_xlabel() == "$x_1$"
    g = fdiv.reference_glue(ref)
    assert g["ref_n_seeds"] == 1 and g["plain_stalls"] in ("stalls", "does not stall") and "0.005" in g["half_sentence"]
    entries, record, glued = fdiv.flow_verdicts(S, res, ref)
    assert sorted(e["id"] for e in entries) == sorted(c.id for c in CLAIMS if c.notebook == "mmd_fdiv/01_flow")
    assert all(e["seeds"] == [0] and e["base_seed"] == 0 and e["status"] in ("reproduced", "differs", "inconclusive")
               for e in entries)
    assert set(record) == {"checks", "metrics", "timings"} and record["checks"]["weak_duality"]
    assert record["metrics"]["ref_steps"] == 3 and glued["gap_n"] == 1 and "descent_verdict" in glued
    descent = next(e for e in entries if e["id"] == "mmdfdiv-descent")
    assert "Extra, not deciding" in descent["reason"]
    yg, grid = fdiv.lambda_grid(S)
    assert list(grid) == ["lambda = 0.01", "lambda = 1"] and grid["lambda = 1"].iterations == 2
    figs = fdiv.final_figures(grid, yg)
    assert list(figs) == list(grid) and figs["lambda = 1"].axes[0].get_title().startswith("lambda = 1: MMD²")
    fig3 = fdiv.live_flow(S, steps=2)
    assert fig3.axes[0].get_xlabel() == "time t" and len(fig3.axes) == 2
    plt.close("all")


def test_flow_verdicts_follow_the_seed_plan():
    """At default, members of a later look are run only for claims the first look left inconclusive; member k
    gives the same run whether it is run in the first look or added later."""
    from wgf_core.claims.mmd_fdiv import FLOW_PLAN
    from wgf_core.experiments import mmd_fdiv as fdiv

    S = _small_flow_setup("default", n_seeds=3)
    S.sizes.update(ref_half_step=False)
    _, res = fdiv.main_flow(S)
    ref = fdiv.reference_ensemble(S)
    entries, _, glued = fdiv.flow_verdicts(S, res, ref)
    looks = FLOW_PLAN.looks("default", 3)
    for e in entries:
        n = len(e["seeds"])
        assert e["seeds"] == list(range(n)) and n in looks and glued[{"mmdfdiv-gap": "gap", "mmdfdiv-mmd-drop": "drop",
                                                                       "mmdfdiv-descent": "descent"}[e["id"]] + "_n"] == n
        assert e["status"] != "inconclusive" or n == looks[-1]  # extended while inconclusive, up to the last look
    assert ref.members == list(range(max(len(e["seeds"]) for e in entries)))
    if len(ref.members) > 3:  # a member added at a later look is the same run as in a first look
        alone = fdiv.Reference([], ref.N, ref.n_steps, [], {}, [])
        fdiv.extend_reference(S, alone, 3)
        assert torch.equal(alone.runs[0].x, ref.runs[3].x)


def test_setup_comparisons_validates_and_draws_per_member():
    from wgf_core.experiments.mmd_fdiv import Comparisons, setup_comparisons

    S = setup_comparisons("ci", N=6)
    assert S.members == [0] and S.n_steps == 15
    S = setup_comparisons("ci", n_seeds=2, N=6)
    assert S.members == [0, 1] and S.first == 2
    cmp = Comparisons(S)
    assert cmp.data(1)[0].shape == (6, 2) and not torch.equal(cmp.data(0)[1], cmp.data(1)[1])
    assert cmp.data(1) is cmp.data(1)  # drawn once
    for kw, name in ((dict(error_tol=0.0), "error_tol"), (dict(n_steps=0), "n_steps"), (dict(s=-1.0), "s"),
                     (dict(seed="abc"), "seed"), (dict(n_seeds=0), "n_seeds")):
        with pytest.raises(ParameterError, match=f"'{name}'"):
            setup_comparisons("ci", **kw)


def test_comparisons_sections_and_verdicts():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wgf_core.claims.mmd_fdiv import CLAIMS
    from wgf_core.experiments import mmd_fdiv as fdiv

    cmp = fdiv.Comparisons(fdiv.setup_comparisons("ci", N=8, n_steps=3))
    assert list(cmp.tsallis()) == ["alpha=1", "alpha=2", "alpha=3"]
    rec = cmp.recession()
    assert list(rec) == ["tsallis 2 (inf)", "tsallis 0.5 (1)"] and rec["tsallis 2 (inf)"] is cmp.tsallis_runs["alpha=2"]
    assert len(cmp.tight()) == 2 and len(cmp.measured["mmdfdiv-tight"][0]["tight_dual"]) == 2 * 4  # start + 3, 2 flows
    assert list(cmp.lambdas()) == [f"lambda={lam:g}" for lam in fdiv.LAMS] and "member 0" in cmp.lambda_table()
    assert cmp.lam_runs[0.01][0] is cmp.inf_runs[0] is cmp.tsallis2(0)
    m = cmp.limit()[0]
    assert m["lam_dual"][-1] <= m["lam_primal"][-1] * (1 + 1e-9) and m["lam_primal"][-1] <= m["half_mmd2"] * (1 + 1e-9)
    for fig in (fdiv.plot_compare(rec, cmp.y, "t"), fdiv.plot_ensemble(cmp.ensembles["lambda"], "lambda"),
                cmp.plot_tight(), cmp.plot_limit(), cmp.live(lambd=0.1)):
        assert all(a.get_xlabel() for a in fig.axes)
    entries, record, glued = cmp.verdicts()
    assert sorted(e["id"] for e in entries) == sorted(c.id for c in CLAIMS if c.notebook == "mmd_fdiv/02_comparisons")
    assert all(e["seeds"] == [0] for e in entries)
    assert record["checks"]["no_nan"] and set(record["metrics"]["final_mmd2_member_0"]) == set(cmp.runs)
    assert glued["rec_n"] == 1 and glued["lam_failing"] in ("none", "0") and glued["limit_lam_max"] == 100.0
    plt.close("all")


def test_comparisons_extend_only_inconclusive_claims():
    """At default, each claim runs later members only while inconclusive, through its own measurement; a
    member measured late is the one a first look would have measured."""
    from wgf_core.claims.mmd_fdiv import CLAIMS
    from wgf_core.experiments import mmd_fdiv as fdiv

    S = fdiv.setup_comparisons("default", n_seeds=3, N=8, n_steps=3)
    cmp = fdiv.Comparisons(S)
    cmp.tsallis(), cmp.recession(), cmp.tight(), cmp.lambdas(), cmp.limit()
    entries, _, glued = cmp.verdicts()
    plans = {c.id: c.plan.looks("default", 3) for c in CLAIMS}
    for e in entries:
        n = len(e["seeds"])
        assert e["seeds"] == list(range(n)) and n in plans[e["id"]]
        assert e["status"] != "inconclusive" or n == plans[e["id"]][-1]
        assert sorted(cmp.measured[e["id"]])[:n] == list(range(n))
    late = [k for k in cmp.measured["mmdfdiv-mmd-limit"] if k >= 3]
    if late:
        fresh = fdiv.Comparisons(S)
        assert fresh.measure_limit(late[0]) == cmp.measured["mmdfdiv-mmd-limit"][late[0]]
