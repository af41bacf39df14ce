"""Drivers of the IFT notebooks (wgf_core.experiments.ift): setups, runs, figures, verdicts, records, extras."""

import dataclasses
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from wgf_core import claims as C  # noqa: E402
from wgf_core.experiments import ift as X  # noqa: E402
from wgf_core.flows import ift  # noqa: E402
from wgf_core.validation import ParameterError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _glue_names(notebook: str) -> set:
    """The glue names the notebook's markdown uses ({glue:text}`name:fmt`, {glue:md}`name`)."""
    nb = nbformat.read(ROOT / "notebooks" / "ift" / notebook, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return {m.split(":")[0] for m in re.findall(r"\{glue:\w+\}`([^`]+)`", text)}


@pytest.fixture(scope="module")
def small_2d():
    S = X.setup_2d("ci", n=10, steps=40, noise_off=20)
    S.sizes.update(sweep_steps=20, qp_steps=4, log_every=10, snapshot_every=10)
    P = X.problem(S)
    P.common.update(log_every=10, snapshot_every=10, show_progress=False)
    results, timings = X.run_methods(P, X.METHODS_2D)
    return S, P, results, timings


@pytest.fixture(scope="module")
def small_100d():
    S = X.setup_100d("ci", n=10, steps=40, dim=5, noise_off=20)
    S.sizes.update(grid_steps=20)
    P = X.problem(S)
    P.common.update(log_every=10, snapshot_every=10, show_progress=False)
    results, timings = X.run_methods(P, X.METHODS_100D)
    return S, P, results, timings


# ----------------------------------------------------------------------------- setups


def test_setup_2d_per_target_and_page():
    for target, spec in X.TARGETS_2D.items():
        S = X.setup_2d("ci", target=target)
        assert S.notebook == spec["page"] and S.spec is spec and S.dim == 2 and S.dtype == torch.float64
        assert S.runs == [0, 1] and S.members == [0, 1] and S.purpose == spec["page"]
        assert S.convention == ift.Convention()  # the registry's CONVENTION_2D
        assert X.setup_2d("ci", target=target, page=spec["page"]).notebook == spec["page"]
    S = X.setup_2d("default", seed=3)
    assert S.seed == 3 and S.runs == list(range(20)) and S.members == [0, 1, 2, 3]
    assert "runs_per_member = 5 (paper 50)" in S.conf["deviations"]
    assert "base seed 3: runs 0-19 (4 members of 5 runs)" in str(S)
    text = str(S)
    assert "convention:" in text and "bandwidth" not in text.split("\n")[-1]


def test_setup_2d_overrides_reach_sizes_convention_and_configuration():
    S = X.setup_2d("ci", n=12, sigma=2.0, bandwidth="sigma2", step_scale="1/n", kernel="gauss")
    assert S.sizes["n"] == 12 and S.convention.bandwidth == "sigma2" and S.convention.step_scale == "1/n"
    assert any(d.startswith("n = 12") for d in S.conf["deviations"])
    assert any(d.startswith("bandwidth") for d in S.conf["deviations"])
    assert X.setup_2d("ci", kernel="imq").kernel == "imq"


@pytest.mark.parametrize("kw, name", [
    (dict(target="cube"), "target"), (dict(page="ift/02_mixture_2d"), "page"), (dict(device="cuda:99"), "device"),
    (dict(seed=-1), "seed"), (dict(profile="fast"), "profile"), (dict(n=0), "n"), (dict(noise_off=-1), "noise_off"),
    (dict(sigma=-1.0), "sigma"), (dict(eta=0), "eta"), (dict(bandwidth="x"), "bandwidth"),
    (dict(step_scale="n"), "step_scale"), (dict(energy="third"), "energy"), (dict(target_mode="new"), "target_mode"),
    (dict(kernel="nope"), "kernel"), (dict(profile="default", runs=7), "runs"),
    (dict(profile="default", runs=10), "runs"),
])
def test_setup_2d_refuses_bad_parameters_naming_them(kw, name):
    kw = dict(dict(profile="ci"), **kw)
    with pytest.raises(ParameterError, match=f"'{name}'"):
        X.setup_2d(kw.pop("profile"), **kw)


def test_setup_100d_and_its_errors():
    S = X.setup_100d("ci", seed=2, target_seed=1)
    assert S.notebook == "ift/03_mixture_100d" and S.dim == 100 and S.dtype == torch.float32
    assert S.seed == 2 and S.runs == S.members == [0, 1] and S.target_seed == 1
    assert S.convention == ift.Convention(**X.claims_ift.CONVENTION_100D) and S.sizes["kernel"] == "gauss"
    assert any(d.startswith("n = 30") for d in S.conf["deviations"])
    assert "kernel" in str(S)
    for kw, name in [(dict(target_seed=-1), "target_seed"), (dict(dim=0), "dim"), (dict(eta_wfr=-1), "eta_wfr"),
                     (dict(kernel="nope"), "kernel"), (dict(seed="a"), "seed"),
                     (dict(profile="default", runs=2), "runs")]:
        kw = dict(dict(profile="ci"), **kw)
        with pytest.raises(ParameterError, match=f"'{name}'"):
            X.setup_100d(kw.pop("profile"), **kw)


# ----------------------------------------------------------------------------- problems and runs


def test_problem_2d_and_100d():
    S = X.setup_2d("ci", target="mixture")
    P = X.problem(S)
    assert len(P.floors) == 2 and P.floor == float(np.median(P.floors)) and P.target.means.shape == (3, 2)
    assert P.common["members"] == S.runs and P.common["purpose"] == "ift/02_mixture_2d"
    assert "eta" not in P.common and P.eta["ift_qp"] == S.sizes["eta"]
    assert P.floors == ift.target_noise_floors(P.target, S.kernel_obj, 30, seed=0, members=[0, 1],
                                               purpose="ift/02_mixture_2d/floor", repeats=20)
    S = X.setup_100d("ci")
    P = X.problem(S)  # the stored expected floor (ci: n = 30)
    assert P.floors == [] and P.floor == X.claims_ift.noise_floor_reference(30, dim=100, target_seed=0, sigma=10.0)[0]
    assert "stored reference" in P.floor_note
    S = X.setup_100d("ci", dim=4)
    P = X.problem(S)
    assert P.target.dim == 4 and P.eta == {"mmd": 0.1, "mmd_noise": 0.1, "ift": 0.001, "wfr": 0.5}
    assert P.common["dtype"] == torch.float32 and "computed at run time" in P.floor_note
    assert "component mean norms" in X.mixture_summary(P.target)


def test_run_methods_is_run_experiment_per_method(small_2d):
    S, P, results, timings = small_2d
    assert list(results) == list(X.METHODS_2D) and set(timings) == {f"{m}_seconds" for m in X.METHODS_2D}
    again = ift.run_experiment("ift", P.init, P.target, eta=S.sizes["eta"], **P.common)
    assert np.array_equal(again.metrics["mmd2"], results["ift"].metrics["mmd2"])
    assert results["ift"].metrics["mmd2"].shape[0] == 2
    assert X.final_lines(results).count("\n") == 2
    # the runs a later look adds are the runs the main batch would have had (member streams)
    more, _ = X.run_methods(P, ["ift"], runs=[1])
    assert np.array_equal(more["ift"].metrics["mmd2"][0], results["ift"].metrics["mmd2"][1])
    assert more["ift"].x_snapshots is None or len(more["ift"].snapshot_steps) <= 1


# ----------------------------------------------------------------------------- figures


def test_plot_mmd2_draws_labelled_curves_and_refuses_bad_curves(small_2d):
    S, P, results, _ = small_2d
    fig, ax = plt.subplots()
    X.plot_mmd2(ax, {"a": results["mmd"], "b": (results["ift"].steps, results["ift"].metrics["mmd2"])},
                floor=P.floor, noise_off=20, title="t")
    assert ax.get_xlabel() == X.STEPS_LABEL and ax.get_ylabel() == "MMD²" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a", "b", "noise floor", "noise switched off"]
    plt.close(fig)
    for bad in ({}, [1, 2]):
        with pytest.raises(ParameterError, match="'curves'"):
            X.plot_mmd2(plt.gca(), bad)
    with pytest.raises(ParameterError, match="'runs_values'"):
        X.curves_figure({"a": (np.arange(3), np.ones((2, 4)))}, close=True)
    plt.close("all")


def test_figures_2d(small_2d):
    S, P, results, _ = small_2d
    fig = X.main_curves(S, P, results)
    assert isinstance(fig, Figure) and "noise floor (two 10-point" in fig.axes[0].get_legend().get_texts()[-2].get_text()
    fig = X.trajectories_figure(S, results)
    assert len(fig.axes) == 3 and all(ax.get_xlabel() == "$x_1$" for ax in fig.axes)
    assert fig.axes[2].get_title() == ift.METHOD_LABELS["ift"]
    plt.close("all")
    assert "<script" in X.animation(S, P, results["ift"]).data


def test_figures_100d(small_100d):
    S, P, results, _ = small_100d
    fig = X.main_curves(S, P, results)
    assert fig.axes[0].get_title().startswith("d = 5, n = 10")
    fig = X.projection_figure(P, results)
    assert len(fig.axes) == 4 and fig.axes[0].get_ylabel() == "second in-plane coordinate"
    project = X.projector(P.target)
    assert project(P.target.means).shape == (3, 2)
    plt.close("all")
    assert "<script" in X.animation(S, P, results["ift"]).data


# ----------------------------------------------------------------------------- verdicts and records


def test_verdicts_and_record_2d_cover_the_prose(small_2d):
    S, P, results, _ = small_2d
    vs_law = X.distance_to_law(S, P, results)
    entries, measured, glued = X.verdicts_2d(S, P, results, vs_law)
    assert [e["id"] for e in entries] == list(S.spec["claims"])
    assert len(measured) == 2 and all("ift_far_weight_max" in m for m in measured)
    assert all(e["seeds"] == [0, 1] and e["base_seed"] == 0 and e["status"] in C.STATUSES for e in entries)
    glued_in_notebook = {"floor_med", "seed0", *X.PROSE_2D}
    assert _glue_names("01_particles_2d.ipynb") <= set(glued) | glued_in_notebook
    assert glued["n_runs"] == 2 and glued["mmd_final_min"] <= glued["mmd_final_med"] <= glued["mmd_final_max"]
    rec = X.record_2d(S, P, results, measured, vs_law, {"ift": results["ift"]})
    assert set(rec["checks"]) == {"no_nan", "mmd_decreased_every_run", "weights_on_simplex"}
    assert rec["checks"]["no_nan"] and rec["checks"]["weights_on_simplex"]
    assert rec["metrics"]["per_run"] is measured and rec["metrics"]["runs"] == 2


def test_verdicts_and_record_100d_cover_the_prose(small_100d):
    S, P, results, _ = small_100d
    entries, measured, glued = X.verdicts_100d(S, P, results)
    assert [e["id"] for e in entries] == ["ift100-vs-wfr", "ift100-vanilla"]
    assert all(m["floor"] == P.floor for m in measured) and entries[1]["reason"] == P.floor_note
    assert _glue_names("03_mixture_100d.ipynb") <= set(glued) | {"floor_med", "seed0"}
    ratio = X.early_ratio(measured)
    assert glued["early_ratio_med"] == float(np.median(ratio))
    rec = X.record_100d(S, P, results, measured, {"x": [1.0]})
    assert rec["checks"]["weights_on_simplex"] and rec["metrics"]["dim"] == 5
    assert rec["metrics"]["extra_ift_at_1000_over_noisy_final"] == ratio.tolist()


def test_checks_catch_a_nan_and_weights_off_the_simplex(small_2d):
    _, _, results, _ = small_2d

    class Bad:
        metrics = {"mmd2": np.array([[1.0, np.nan]])}
        w = torch.tensor([[0.7, 0.7]], dtype=torch.float64)

    c = X.checks({"ift": Bad()})
    assert not c["no_nan"] and not c["weights_on_simplex"]
    assert X.checks(results)["weights_on_simplex"]


# ----------------------------------------------------------------------------- extras


def test_convention_run_is_one_seed_under_the_chosen_convention():
    S = X.setup_convention_run("ci", seed=3, target="mixture", bandwidth="sigma2", energy="full")
    assert S.notebook == "ift/conventions_2d" and S.seed == 3 and S.runs == S.members == [0]
    assert (S.convention.bandwidth, S.convention.energy) == ("sigma2", "full")
    assert (S.convention.step_scale, S.convention.target) == (X.PAPER_2D["step_scale"], X.PAPER_2D["target_mode"])
    S.sizes.update(n=10, sweep_steps=20, log_every=10)
    row, results = X.convention_run(S)
    assert list(results) == list(X.METHODS_2D) and all(r.metrics["mmd2"].shape[0] == 1 for r in results.values())
    assert row["target"] == "mixture" and row["convention"] == S.convention.label and row["steps"] == 20
    assert set(row["criteria_met"]) == set(X.TARGETS_2D["mixture"]["claims"])
    assert row["all_criteria_met"] == all(row["criteria_met"].values())
    for m in X.METHODS_2D:  # the row's finals are the runs' last logged MMD^2
        assert row[f"{m}_final"] == pytest.approx(float(results[m].metrics["mmd2"][0, -1]))
    fig = X.convention_figure(row, results)
    assert fig.axes[0].get_ylabel() == "MMD²" and row["convention"] in fig.axes[0].get_title()
    plt.close("all")


def test_convention_run_refuses_an_unknown_convention():
    with pytest.raises(ParameterError, match="'step_scale'"):
        X.setup_convention_run("ci", step_scale="1/2")


def test_qp_vs_pgd(small_2d):
    S, P, _, _ = small_2d
    cmp, timings, fig = X.qp_vs_pgd(S, P, qp_max_iter=5)
    assert list(cmp) == ["ift", "ift_qp"] and set(timings) == {"ift_comparison_seconds", "ift_qp_comparison_seconds"}
    assert cmp["ift"].metrics["mmd2"].shape[0] == S.sizes["qp_runs"] and fig.axes[0].get_ylabel() == "MMD²"
    plt.close("all")


def test_eta_grid_reuses_the_main_runs_at_the_main_step(small_100d):
    S, P, results, _ = small_100d
    figs, final, seconds = X.eta_grid(S, P, results)
    assert len(figs) == len(final) == 6 and not plt.get_fignums()
    keep = results["ift"].steps <= 20
    assert final["ift, eta = 0.001"] == results["ift"].metrics["mmd2"][:1, keep][:, -1].tolist()


def test_live_flows_return_figures(small_2d, small_100d):
    S, P, _, _ = small_2d
    assert isinstance(X.live_flow_2d(S, P, method="mmd", n=10, steps=20), Figure)
    S, _, _, _ = small_100d
    assert isinstance(X.live_flow_100d(S, method="wfr", dim=3, n=10, steps=20), Figure)
    plt.close("all")
    assert set(X.LIVE_CONTROLS_2D) <= set(X.live_flow_2d.__code__.co_varnames)
    assert set(X.LIVE_CONTROLS_100D) <= set(X.live_flow_100d.__code__.co_varnames)


def test_a_later_look_adds_the_members_runs(monkeypatch):
    """While a claim is inconclusive, run_plan asks for more members: verdicts_2d runs their runs (the runs
    the main batch would have had), appends their measurements and distances to the law, and decides on
    all members."""
    import wgf_core.claims.core as core

    S = X.setup_2d("ci", runs=3, n=10, steps=40, noise_off=20)
    S.sizes.update(log_every=10, snapshot_every=10)
    S.conf = dict(S.conf, profile="default")
    P = X.problem(S)
    P.common.update(log_every=10, snapshot_every=10, show_progress=False)
    results, _ = X.run_methods(P, X.METHODS_2D)
    vs_law = X.distance_to_law(S, P, results)
    plan = C.SeedPlan(ci=(3,), default=(3, 5), paper=(3,))
    calls, real = [], core.run_plan

    def run_plan(claims, measure, **kw):  # the page's claims with a two-look plan, every look inconclusive
        claims = [dataclasses.replace(c, plan=plan) for c in claims]
        return real(claims, lambda members: calls.append(list(members)) or measure(members), **kw)

    monkeypatch.setattr(C, "run_plan", run_plan)
    monkeypatch.setattr(core, "decide", lambda margins, **kw: "inconclusive")
    entries, measured, glued = X.verdicts_2d(S, P, results, vs_law)
    assert calls == [[0, 1, 2], [3, 4]] and len(measured) == 5 and glued["n_runs"] == 5
    assert all(len(v) == 5 for v in vs_law.values()) and all(e["seeds"] == [0, 1, 2, 3, 4] for e in entries)
    alone = ift.run_experiment("mmd", P.init, P.target, eta=P.eta["mmd"], **dict(P.common, members=[4]))
    assert measured[4]["mmd_final"] == pytest.approx(float(alone.metrics["mmd2"][0, -1]), rel=1e-12)
