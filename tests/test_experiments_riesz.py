"""Drivers of the Riesz notebooks (wgf_core.experiments.riesz)."""

import inspect

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from wgf_core import claims as C
from wgf_core.experiments import riesz as rx
from wgf_core.experiments.riesz import stream
from wgf_core.flows.riesz import SCHEMES
from wgf_core.random import make_generator
from wgf_core.validation import ParameterError


def test_stream_is_the_notebooks_seeding_and_refuses_bad_seeds():
    a, b = stream(3, 100), make_generator(3 * 2**20 + 10_000 + 100)
    assert torch.equal(torch.rand(5, generator=a), torch.rand(5, generator=b))
    assert not torch.equal(torch.rand(5, generator=stream(3, 1)), torch.rand(5, generator=stream(3, 2)))
    with pytest.raises(ParameterError, match="'seed'"):
        stream(-1, 1)
    with pytest.raises(ParameterError, match="'purpose'"):
        stream(0, 1.5)


# ----------------------------------------------------------------------------- the notebooks' drivers
TINY = dict(n_particles=16, iters=1, first_iters=2, width=8)


@pytest.mark.parametrize("notebook", rx.NOTEBOOKS)
def test_setup_takes_the_profile_and_overrides(notebook):
    S = rx.setup(notebook, "ci")
    assert S.sizes == {**rx.PROFILES[notebook]["ci"], **({"particle_tau": rx.PROFILES[notebook]["ci"]["tau"]}
                                                        if notebook in ("02_diracs", "03_smiley", "04_max_und_moritz")
                                                        else {})}
    assert S.seeds == [0] and S.all_seeds == [0] and str(S).startswith("profile=ci device=cpu seeds=[0]")
    S = rx.setup(notebook, "default", seed=5, n_seeds=2, n_particles=20, iters=7)
    assert S.seeds == [5, 6] and S.sizes["n_particles"] == 20
    assert all(o["iters"] == 7 for o in S.options.values())
    assert S.paper is C.riesz.PAPER_SETTINGS[notebook]


def test_setup_steps_and_schedules():
    S = rx.setup("02_diracs", "default", tau=0.8, end_time=8.0)
    # outside ci the particle flow keeps the paper's step; the neural schemes take tau
    assert S.flow("particle") == dict(tau=0.1, steps=80) and S.flow("neural_forward") == dict(tau=0.8, steps=10)
    assert len(S.particle_seeds) == 10 and len(S.seeds) == 3 and S.all_seeds == S.particle_seeds
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
    (dict(notebook="04_max_und_moritz", profile="ci", backward_estimator="adam"), "backward_estimator"),
    (dict(notebook="04_max_und_moritz", profile="ci", fourier_features=-1), "fourier_features"),
    (dict(notebook="05_mnist", profile="ci", end_time=-1.0), "end_time"),
])
def test_setup_refuses_bad_parameters_naming_them(kw, name):
    kw = dict(kw)
    with pytest.raises(ParameterError, match=f"'{name}'"):
        rx.setup(kw.pop("notebook"), kw.pop("profile"), **kw)


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
    E, record = _check_notebook_run(S, ("min", "max", "verdict", "mmd_max"))
    assert E.values["t_end"] == pytest.approx(0.2) and len(E.values["floors"]) == 1
    assert record["checks"]["particles_left_dirac"]
    assert all(len(E.values["measured"][k]) == 1 for k in SCHEMES)


def test_two_diracs_ensemble_verdicts_and_figures():
    S = rx.setup("02_diracs", "ci", end_time=0.8, **TINY)
    E, record = _check_notebook_run(S, ("end_min", "end_max", "reach", "mono"))
    assert len(E.nulls) == 1 and len(E.nulls[0]) == C.riesz.NULL_DRAWS and not E.fine_nulls
    assert all(len(E.mmd_paths[k]) == 1 for k in SCHEMES)
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

    E = rx.Ensemble([{k: _R() for k in SCHEMES}], {k: [[1.0, 0.5, 0.25]] for k in SCHEMES}, [[0.2] * 19])
    fig = rx.curves_figure(S, E)
    assert fig.axes[0].get_xscale() == fig.axes[0].get_yscale() == "log" and fig.axes[1].get_xscale() == "log"
    assert "16 real digits (largest)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
