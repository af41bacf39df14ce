"""Drivers of the Riesz notebooks (wgf_core.experiments.riesz)."""

import inspect
import math

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from wgf_core import claims as C
from wgf_core.experiments import riesz as rx
from wgf_core.flows.riesz import SCHEMES, run_experiment
from wgf_core.random import stream
from wgf_core.validation import ParameterError


def test_draws_come_from_the_one_stream_per_member():
    # every draw of a member is the stream (base seed, "riesz/<notebook>/<what>", member)
    S = rx.setup("02_diracs", "ci", seed=7)
    assert rx.purpose("02_diracs", "start") == S.purpose("start") == "riesz/02_diracs/start"
    jit = rx._dirac_start(S, False, 1)
    n = S.sizes["n_particles"]
    from wgf_core import riesz as rz

    again = rz.jittered_diracs(rx.CENTRES["02_diracs"], [n // 2, n - n // 2], width=1e-9,
                               generator=stream(7, "riesz/02_diracs/start", 1))
    assert torch.equal(jit, again) and not torch.equal(jit, rx._dirac_start(S, False, 0))
    assert not torch.equal(jit, rx._dirac_start(rx.setup("02_diracs", "ci", seed=8), False, 1))


# ----------------------------------------------------------------------------- the notebooks' drivers
TINY = dict(n_particles=16, iters=1, first_iters=2, width=8)


@pytest.mark.parametrize("notebook", rx.NOTEBOOKS)
def test_setup_takes_the_profile_and_overrides(notebook):
    S = rx.setup(notebook, "ci")
    assert S.sizes == {**rx.PROFILES[notebook]["ci"], **({"particle_tau": rx.PROFILES[notebook]["ci"]["tau"]}
                                                        if notebook in ("02_diracs", "03_smiley", "04_max_und_moritz")
                                                        else {})}
    assert S.seeds == [0] and all(v == (1,) for v in S.looks.values())
    assert str(S).startswith("profile=ci device=cpu seed=0 looks:")
    S = rx.setup(notebook, "default", seed=5, n_seeds=4, n_particles=20, iters=7)
    assert S.seed == 5 and S.seeds == [0, 1, 2, 3] and S.sizes["n_particles"] == 20   # members, not seeds
    assert all(v[0] == 4 and v == C.riesz.PLANS[notebook][k].looks("default", 4) for k, v in S.looks.items())
    assert all(o["iters"] == 7 for o in S.options.values())
    assert S.paper is C.riesz.PAPER_SETTINGS[notebook]


def test_setup_steps_and_schedules():
    S = rx.setup("02_diracs", "default", tau=0.8, end_time=8.0)
    # outside ci the particle flow keeps the paper's step; the neural schemes take tau
    assert S.flow("particle") == dict(tau=0.1, steps=80) and S.flow("neural_forward") == dict(tau=0.8, steps=10)
    assert S.looks == {"particle": (3,), "neural_backward": (3, 10), "neural_forward": (3, 10)}
    assert S.seeds == [0, 1, 2] and S.members("particle") == [0, 1, 2]
    S = rx.setup("04_max_und_moritz", "ci", iters=5, backward_estimator="minibatch", fourier_features=0)
    assert S.options["neural_backward"]["iters"] == S.options["neural_forward"]["iters"] == 5
    assert S.options["neural_backward"]["estimator"] == "minibatch"
    S = rx.setup("05_mnist", "ci", end_time=30.0)
    assert S.flow("neural_backward") == dict(taus=[6.0] * 5) and S.sizes["batch"] == S.sizes["n_particles"]
    assert sum(S.flow("particle")["taus"]) >= 60.0


@pytest.mark.parametrize("kw, name", [
    (dict(notebook="02_diracs", profile="fast"), "profile"),
    (dict(notebook="07_other", profile="ci"), "notebook"),
    (dict(notebook="02_diracs", profile="ci", device="cuda:99"), "device"),
    (dict(notebook="02_diracs", profile="ci", seed=-1), "seed"),
    (dict(notebook="02_diracs", profile="ci", sedd=3), "sedd"),
    (dict(notebook="02_diracs", profile="ci", backward_estimator="svrg"), "backward_estimator"),
    (dict(notebook="02_diracs", profile="ci", n_particles=2.5), "n_particles"),
    (dict(notebook="01_interaction_energy", profile="ci", tau=0.0), "tau"),
    (dict(notebook="01_interaction_energy", profile="ci", r=2.0), "r"),
    (dict(notebook="02_diracs", profile="ci", r=1.5), "r"),
    (dict(notebook="04_max_und_moritz", profile="ci", backward_estimator="adam"), "backward_estimator"),
    (dict(notebook="04_max_und_moritz", profile="ci", fourier_features=-1), "fourier_features"),
    (dict(notebook="05_mnist", profile="ci", end_time=-1.0), "end_time"),
])
def test_setup_refuses_bad_parameters_naming_them(kw, name):
    kw = dict(kw)
    with pytest.raises(ParameterError, match=f"'{name}'"):
        rx.setup(kw.pop("notebook"), kw.pop("profile"), **kw)


def test_setup_page_is_the_notebooks_first_cell():
    # the union of the experiments' parameters, None meaning the profile's; page must be the experiment's
    union = dict.fromkeys({k for ks in rx.PARAMETERS.values() for k in ks})
    for experiment, notebook in rx.EXPERIMENTS.items():
        S = rx.setup_page(experiment, "ci", page=f"riesz/{notebook}", **union)
        assert S.notebook == notebook and S.sizes == rx.setup(notebook, "ci").sizes
    with pytest.raises(ParameterError, match="'experiment'.*'interaction_energy'.*'mnist'"):
        rx.setup_page("interaction", "ci")
    with pytest.raises(ParameterError, match="'page'.*'riesz/02_diracs'"):
        rx.setup_page("diracs", "ci", page="riesz/03_smiley")
    with pytest.raises(ParameterError, match="'backward_estimator'"):
        rx.setup_page("smiley", "ci", **dict(union, backward_estimator="svrg"))
    assert rx.setup_page("max_und_moritz", "ci", backward_estimator="svrg").sizes["backward_estimator"] == "svrg"


def test_riesz_exponent_of_the_interaction_page():
    S = rx.setup("01_interaction_energy", "ci")
    assert S.r == rx.PAPER_R == 1.0 and "particle" not in S.options and "r=" not in str(S)
    conf = rx._configuration(S, "particle")
    assert conf["deviations"] == rx._configuration(rx.setup("01_interaction_energy", "ci", r=1), "particle")[
        "deviations"] and not any(d.startswith("r =") for d in conf["deviations"])
    S = rx.setup("01_interaction_energy", "ci", r=1.5)
    assert S.r == 1.5 and "particle" not in S.options and "r=1.5" in str(S)
    # every scheme from the exact profile, geometric steps: the particle flow's as many as 2.5 % (half of ci's 5 %)
    # of grid error needs, the neural schemes' (no accuracy stated at ci) the profile's 24; one particle member
    assert len(S.taus["neural_forward"]) == len(S.taus["neural_backward"]) == S.steps == 24 and S.looks["particle"] == (1,)
    k = len(S.taus["particle"])
    assert k > 24 and abs(rx.rz.self_similar_step_error(1.5, rx.INTERACTION_GROWTH, k)) <= 0.025 < abs(
        rx.rz.self_similar_step_error(1.5, rx.INTERACTION_GROWTH, k - 1))
    assert sum(S.taus["particle"]) == pytest.approx(S.end_time - S.t_start, rel=1e-12)
    assert rx.rz.exact_interaction_radius(S.end_time, 1.5) == pytest.approx(1.0, rel=1e-12)
    assert S.time_scale * S.end_time == pytest.approx(1.2) and S.log10_unit == pytest.approx(
        math.log10(rx.rz.exact_interaction_radius(1.2, 1.5)), rel=1e-9)
    start = rx._interaction_start(S, "neural_forward", 0, 50)
    assert start.dtype == torch.float32 and len(set(map(tuple, start.tolist()))) == 50   # no coincident particles
    assert float(rx._interaction_start(S, "particle", 0, 50).norm(dim=-1).max()) < 0.1   # radius 1 / 10 at t_start
    S = rx.setup("01_interaction_energy", "default", r=1.9)
    assert all(abs(rx.rz.self_similar_step_error(1.9, 10.0, len(S.taus[k]), implicit=k == "neural_backward"))
               <= rx.STEP_SHARE * rx.ACCURACY["default"][k] for k in rx.SCHEMES)


def test_every_page_has_the_prose_its_notebook_shows():
    import json
    import re

    from wgf_core.reporting import prose_sections

    folder = rx.Path(__file__).resolve().parents[1] / "notebooks" / "riesz"
    code = "\n".join("".join(c["source"]) for c in json.loads((folder / "riesz_flows.ipynb").read_text())["cells"]
                     if c["cell_type"] == "code")
    shown = set(re.findall(r'rx\.prose\(S, "(\w+)"', code))
    assert {"intro", "start", "results"} <= shown
    for notebook in rx.NOTEBOOKS:
        sections = prose_sections(folder / "prose" / f"{notebook}.md")
        assert shown <= set(sections), (notebook, shown - set(sections))
        assert set(sections) - shown <= {f"{name}_{s}" for name in shown for s in ("r", "instead_r")}, notebook
    S = rx.setup("01_interaction_energy", "ci", r=0.5)
    intro = rx.prose(S, "intro", folder=folder / "prose").data
    assert "Riesz exponent $r$ = 0.5" in intro and intro.startswith("Reproduces the interaction-energy")
    assert "Riesz exponent" not in rx.prose(rx.setup("01_interaction_energy", "ci"), "intro",
                                            folder=folder / "prose").data
    start = rx.prose(S, "start", folder=folder / "prose").data   # "_instead_r" replaces the section at r != 1
    assert "no scheme starts at the Dirac" in start and "jitter of width" not in start


def _check_notebook_run(S, kinds):
    E = rx.run_ensemble(S)
    assert list(E.results) == list(SCHEMES)
    entries, record, glued = rx.verdicts(S, E)
    key = f"riesz/{S.notebook}"
    assert sorted(e["id"] for e in entries) == sorted(c.id for c in C.for_notebook(key))
    assert set(record) == {"checks", "metrics", "timings"} and record["metrics"]["profile_sizes"] is S.sizes
    assert all(f"{name}_{k}" in glued for name in SCHEMES for k in kinds)
    figs = [rx.snapshot_figure(S, E), rx.curves_figure(S, E), *rx.animation_frames(S, E),
            *rx.step_size_figures(S, E).values()]
    assert figs[1].axes[0].get_xlabel() == "time t" and figs[1].axes[0].get_legend() is not None
    live = rx.live_flow(S, E)
    controls = rx.LIVE_CONTROLS[S.notebook]
    assert list(controls) == list(inspect.signature(live).parameters)
    figs.append(live(scheme="neural_forward", tau_live=1.0, t_end=1.0, iters_live=1))
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figs)
    plt.close("all")
    return E, record


def test_interaction_energy_ensemble_verdicts_and_figures():
    S = rx.setup("01_interaction_energy", "ci", end_time=0.2, **TINY)
    E, record = _check_notebook_run(S, ("min", "max", "verdict", "mmd_max", "verdict_margin"))
    assert E.values["t_end"] == pytest.approx(0.2) and len(E.values["exact"]) == 1
    assert record["checks"]["particles_left_dirac"] and len(record["metrics"]["mmd_two_exact_samples"]) == 1
    assert all(len(E.measured[k]) == 1 for k in SCHEMES)


def test_two_diracs_ensemble_verdicts_and_figures():
    S = rx.setup("02_diracs", "ci", end_time=0.8, **TINY)
    E, record = _check_notebook_run(S, ("end_min", "end_max", "reach", "mono", "reach_margin"))
    # n = 16 is no profile's size: its references are computed at run time by the fixed draws, and the record says so
    refs = record["metrics"]["references"]
    assert set(refs) == {f"riesz-diracs-{k}-{kind}" for k in SCHEMES for kind in ("monotone", "reaches-target")}
    assert all("computed at run time" in r["source"] for r in refs.values())
    assert refs["riesz-diracs-particle-reaches-target"]["value"] == pytest.approx(
        float(np.quantile(rx.null_draws("02_diracs", 16)["riesz"], 0.95)))
    assert all(e["reason"] == refs[e["id"]]["source"] for e in rx.verdicts(S, E)[0])
    assert all(len(E.mmd_paths[k]) == 1 for k in SCHEMES) and not any(E.fine_end.values())
    assert record["checks"]["no_nan"]
    # the start of the particle flow is the authors' jittered Diracs, the neural schemes' the exact ones
    assert torch.equal(rx._dirac_start(S), torch.tensor([[-1.0, 1.0]] * 8 + [[1.0, -1.0]] * 8))
    jit = rx._dirac_start(S, False, 0)
    assert jit.dtype == torch.float64 and float((jit - rx._dirac_start(S).double()).abs().max()) <= 1e-9


def test_run_lines_of_the_mnist_kind_use_log_axes():
    # the curves figure of 05 without running it: a stand-in ensemble of one member
    S = rx.setup("05_mnist", "ci")

    class _R:
        times = np.array([0.0, 6.0, 12.0])
        metrics = {"mmd": np.array([[1.0, 0.5, 0.25]]), "energy": np.array([[0.5, 0.1, 0.03]])}

    E = rx.Ensemble(traj={k: [_R()] for k in SCHEMES}, mmd_paths={k: [[1.0, 0.5, 0.25]] for k in SCHEMES},
                    references={"riesz-mnist-particle-digits": ({"mmd": 0.2, "nearest": 6.0}, "test")})
    fig = rx.curves_figure(S, E)
    assert fig.axes[0].get_xscale() == fig.axes[0].get_yscale() == "log" and fig.axes[1].get_xscale() == "log"
    assert "16 real digits (median)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)


def test_a_member_is_the_same_alone_and_later_looks_add_members():
    # member 1 of an ensemble equals member 1 run alone (its own streams), and the plan's later looks run in verdicts
    S = rx.setup("02_diracs", "default", end_time=0.8, **TINY)
    E = rx.run_ensemble(S)
    assert [len(E.measured[k]) for k in SCHEMES] == [3, 3, 3]
    alone = run_experiment("neural_forward", rx._dirac_start(S), rx._member_target(S, E, 1).float(),
                           **S.flow("neural_forward"), options=S.options["neural_forward"], seed=S.seed, member=1,
                           purpose=S.purpose("neural_forward"), show_progress=False)
    assert torch.equal(alone.x, E.traj["neural_forward"][1].x)
    entries, record, glued = rx.verdicts(S, E)
    for e in entries:
        scheme = next(k for k in SCHEMES if f"-{k}-" in e["id"])
        assert len(e["seeds"]) in S.looks[scheme] and e["seeds"] == list(range(len(e["seeds"])))
        assert len(E.measured[scheme]) >= len(e["seeds"])
        assert e["status"] in ("reproduced", "differs", "inconclusive")
    plt.close("all")


@pytest.mark.parametrize("r", [1e-6, 1.9999999])
def test_interaction_page_at_the_ends_of_r_runs_within_the_ci_accuracy(r, monkeypatch):
    """Near r = 0 and r = 2 (where the radius at t = 1.2 underflows, and a claim once divided by zero) the page
    runs in the units of the exact radius: no claim is decided, and the particle flow meets ci's 5 %."""
    monkeypatch.setenv("WGF_NO_PROGRESS", "1")
    S = rx.setup_page("interaction_energy", "ci", r=r)
    E = rx.run_ensemble(S)
    entries, record, glued = rx.verdicts(S, E)
    acc = record["metrics"]["accuracy"]["particle"]
    assert entries == [] and record["checks"]["particle_within_stated_accuracy"] and acc["within"]
    assert abs(acc["mean_error_percent"]) <= 5 and abs(acc["radius_error_percent"]) <= 5
    assert all(math.isfinite(x) for k in rx.SCHEMES for x in record["metrics"][f"{k}_mean_norm"])
    plt.close("all")


def test_interaction_step_figures_reuse_the_ensembles_run_at_the_pages_steps(monkeypatch):
    """At r != 1 the step selector shows a quarter, half and all of the particle flow's steps; the last is the
    ensemble's own run (its error in the title is the page's), so only two flows run again."""
    monkeypatch.setenv("WGF_NO_PROGRESS", "1")
    S = rx.setup_page("interaction_energy", "ci", r=1.5)
    E = rx.run_ensemble(S)
    calls = []
    real = rx.run_experiment
    monkeypatch.setattr(rx, "run_experiment", lambda *a, **k: calls.append(len(k["taus"])) or real(*a, **k))
    figs = rx.step_size_figures(S, E)
    n = len(S.taus["particle"])
    assert list(figs) == [f"{k} steps" for k in (n // 4, n // 2, n)] and sorted(calls) == [n // 4, n // 2]
    err = 100 * (float(E.traj["particle"][0].x[0].norm(dim=-1).mean()) / E.values["exact_mean"] - 1)
    assert f"mean |x| error {err:+.2f} %" in figs[f"{n} steps"].axes[0].get_title()
    plt.close("all")
