"""Tests for wgf_core.plotting: shapes accepted, figures closed, animation HTML small and playable."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from wgf_core import plotting
from wgf_core.validation import ParameterError


def test_scatter_particles_weights_and_hollow():
    fig, ax = plt.subplots()
    x = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    w = torch.linspace(0.1, 1.0, 20)
    w[:5] = 0.0
    target = np.random.default_rng(0).standard_normal((50, 2))
    plotting.scatter_particles(ax, x, weights=w, target=target, xlim=(-3, 3))
    # target, alive particles and hollow (vanished) particles: three collections
    assert len(ax.collections) == 3
    assert ax.get_xlim() == (-3, 3)
    filled, hollow = ax.collections[1], ax.collections[2]
    assert len(filled.get_offsets()) == 15 and (filled.get_facecolors()[:, 3] > 0).all()
    # opacity follows the weight: 0.15 + 0.85 w / max w
    alive = w[5:].numpy()
    assert np.allclose(filled.get_facecolors()[:, 3], 0.15 + 0.85 * alive / alive.max())
    assert len(hollow.get_offsets()) == 5
    assert hollow.get_facecolors().shape[0] == 0  # facecolors="none": no face is drawn
    ec = hollow.get_edgecolors()
    assert ec.shape[0] >= 1 and (ec[:, 3] > 0).all()  # but the outline is
    plt.close(fig)


def test_scatter_particles_shape_errors():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError):
        plotting.scatter_particles(ax, np.zeros(5))
    with pytest.raises(ValueError):
        plotting.scatter_particles(ax, np.zeros((5, 2)), weights=np.ones(4))
    plt.close(fig)


def test_mean_std_band_log_geometric():
    fig, ax = plt.subplots()
    x = np.arange(4)
    runs = np.array([[1e-2, 1e-3, 1e-4, 1e-5], [1e-2, 1e-1, 1e-2, 1e-3]])
    line = plotting.mean_std_band(ax, x, torch.tensor(runs), label="m")
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(line.get_ydata(), np.sqrt(runs[0] * runs[1]))
    assert len(ax.collections) == 1  # the band
    line2 = plotting.mean_std_band(ax, x, runs, label="lin", log=False)
    np.testing.assert_allclose(line2.get_ydata(), runs.mean(0))
    with pytest.raises(ValueError):
        plotting.mean_std_band(ax, np.arange(3), runs, label="bad")
    plt.close(fig)


def test_particle_animation_html_small_and_closed():
    from IPython.display import HTML

    before = len(plt.get_fignums())
    T, n = 200, 30
    frames = torch.cumsum(0.05 * torch.randn(T, n, 2), 0)
    w = torch.rand(T, n)
    w[-1, :10] = 0
    html = plotting.particle_animation(frames, weights=w, target=torch.randn(40, 2), times=list(range(T)),
                                       title="test")
    assert isinstance(html, HTML)
    s = html.data
    assert "<script" in s and "anim" in s.lower()
    assert s.count("data:image/png;base64") <= plotting.MAX_FRAMES
    assert len(s) < 3_000_000
    assert "http" not in s.replace("http://www.w3.org", "") and "fa fa-" not in s  # offline
    assert len(plt.get_fignums()) == before


def test_particle_animation_rejects_bad_shapes():
    with pytest.raises(ValueError):
        plotting.particle_animation(np.zeros((3, 4)))
    with pytest.raises(ValueError):
        plotting.particle_animation(np.zeros((3, 4, 2)), weights=np.ones((2, 4)))


@pytest.mark.parametrize("call, name, given", [
    (lambda ax: plotting.scatter_particles(ax, np.zeros(5)), "x", r"shape \(5,\)"),
    (lambda ax: plotting.scatter_particles(ax, np.zeros((5, 2)), weights=np.ones(4)), "weights", r"shape \(4,\)"),
    (lambda ax: plotting.mean_std_band(ax, np.arange(3), np.ones((2, 4)), label="m"), "runs_values", r"shape \(2, 4\)"),
    (lambda ax: plotting.particle_animation(np.zeros((3, 4))), "frames", r"shape \(3, 4\)"),
    (lambda ax: plotting.particle_animation(np.zeros((3, 4, 2)), weights=np.ones((2, 4))),
     "weights", r"shape \(2, 4\)"),
    (lambda ax: plotting.particle_animation(np.zeros((3, 4, 2)), times=[0, 1]), "times", "length 2"),
])
def test_bad_inputs_are_parameter_errors_naming_the_parameter(call, name, given):
    fig, ax = plt.subplots()
    before = len(plt.get_fignums())
    try:
        with pytest.raises(ParameterError, match=rf"parameter '{name}' has {given}.*must have"):
            call(ax)
        assert len(plt.get_fignums()) == before  # the animation fails before it opens a figure
    finally:
        plt.close(fig)


def test_band_curves_labels_floor_and_errors():
    fig, ax = plt.subplots()
    x = np.arange(5)
    lines = plotting.band_curves(ax, {"a": (x, np.ones((3, 5))), "b": (x, np.linspace(1, 2, 5))}, xlabel="steps",
                                 ylabel="MMD²", title="t", floor=0.5, floor_label="noise floor")
    assert set(lines) == {"a", "b"} and ax.get_xlabel() == "steps" and ax.get_ylabel() == "MMD²"
    assert ax.get_yscale() == "log" and "noise floor" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(ax.collections) == 1  # the band of the 3-run curve only
    for bad in ({}, {"a": x}):
        with pytest.raises(ParameterError, match="'curves'"):
            plotting.band_curves(ax, bad, xlabel="x", ylabel="y")
    with pytest.raises(ParameterError, match="'runs_values'"):
        plotting.band_curves(ax, {"a": (x, np.ones(4))}, xlabel="x", ylabel="y")
    plt.close(fig)


def test_particles_figures_one_closed_figure_per_label():
    figs = plotting.particles_figures({"a": torch.zeros(4, 2), "b": np.ones((4, 3))}, np.zeros((6, 2)),
                                      titles={"a": "first"})
    assert list(figs) == ["a", "b"] and figs["a"].axes[0].get_title() == "first"
    assert figs["b"].axes[0].get_title() == "b" and figs["b"].axes[0].get_xlabel() == "$x_1$"
    assert not plt.get_fignums()  # closed: shown through a selector
    with pytest.raises(ParameterError, match="'particles'"):
        plotting.particles_figures([])


def test_seed_dots_and_lines():
    fig, ax = plt.subplots()
    plotting.seed_dots(ax, [2, 6], [[1.0, np.nan], [2.0, 3.0]], floors=[[0.5], [1.5]], label="ours", floor_label="floor")
    ax.set(xlabel="d", ylabel="log10 SymKL")
    assert len(ax.lines) == 4 and [t.get_text() for t in ax.legend().get_texts()] == ["ours", "floor"]
    assert len(ax.lines[0].get_xdata()) == 1   # the NaN is skipped
    lines = plotting.seed_lines(ax, np.arange(3), [np.ones(3), np.zeros(3)], label="one line per seed", draw="step",
                                where="mid")
    assert len(lines) == 2 and lines[0].get_label() == "one line per seed" and lines[1].get_label().startswith("_")
    plt.close(fig)


@pytest.mark.parametrize("call, name", [
    (lambda ax: plotting.seed_dots(ax, [1, 2], [[1.0]]), "values"),
    (lambda ax: plotting.seed_dots(ax, [1], [[1.0]], floors=[[1.0], [2.0]]), "floors"),
    (lambda ax: plotting.seed_lines(ax, np.arange(3), []), "ys"),
    (lambda ax: plotting.seed_lines(ax, np.arange(3), [np.ones(4)]), "ys"),
    (lambda ax: plotting.seed_lines(ax, np.arange(3), [np.ones(3)], labels=["a", "b"]), "labels"),
    (lambda ax: plotting.seed_lines(ax, np.arange(3), [np.ones(3)], draw="bar"), "draw"),
    (lambda ax: plotting.band_curves(ax, {"m": (np.arange(3), np.ones((2, 4)))}, xlabel="t", ylabel="y"),
     "runs_values"),
])
def test_per_seed_figures_refuse_bad_inputs_naming_the_parameter(call, name):
    fig, ax = plt.subplots()
    before = len(plt.get_fignums())
    try:
        with pytest.raises(ParameterError, match=f"parameter '{name}'"):
            call(ax)
        assert len(plt.get_fignums()) == before
    finally:
        plt.close(fig)


# --- the helpers added with the thin riesz notebooks ---
class _Traj:
    """A stand-in trajectory: 4 snapshots of 2 runs of 10 particles in 2-D."""

    def __init__(self, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.snapshot_times = np.linspace(0.0, 1.0, 4)
        self.x_snapshots = torch.randn(4, 2, 10, 2, generator=g).numpy()


def test_snapshot_grid_rows_columns_titles_and_decoration():
    seen = []
    fig = plotting.snapshot_grid({"a": _Traj(0), "b": _Traj(1)}, n_cols=3, xlim=(-3, 3), ylim=(-3, 3),
                                 decorate=lambda ax, t: seen.append(t))
    axes = fig.axes
    assert len(axes) == 6 and axes[0].get_title() == "a, t = 0.0" and axes[5].get_title() == "b, t = 1.0"
    assert axes[0].get_xlim() == (-3, 3) and len(seen) == 6
    plt.close(fig)
    frames = plotting.snapshot_frames({"a": _Traj(0), "b": _Traj(1)}, time_format=".2f")
    assert len(frames) == 4 and all(len(f.axes) == 2 for f in frames)
    assert frames[1].axes[1].get_title() == "b, t = 0.33"
    for f in frames:
        plt.close(f)


def test_run_lines_one_colour_per_label_floor_and_reference():
    fig, ax = plt.subplots()
    x = np.arange(5.0)
    plotting.run_lines(ax, {"p": [(x, x + 1), (x, x + 2)], "q": [(x, 2 * x + 1)]}, xlabel="time t", ylabel="MMD",
                       yscale="log", floor=0.5, floor_label="noise floor", reference=(x, x + 3, "exact"))
    assert ax.get_xlabel() == "time t" and ax.get_ylabel() == "MMD" and ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["p", "q", "exact", "noise floor"]
    plt.close(fig)


def test_scatter_figure_and_image_rows():
    fig = plotting.scatter_figure(torch.randn(20, 3), title="tau = 0.5", xlim=(-2, 2),
                                  decorate=lambda ax: ax.axhline(0))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x1" and ax.get_ylabel() == "x2" and ax.get_title() == "tau = 0.5"
    assert ax.get_xlim() == (-2, 2) and len(ax.get_lines()) == 1
    plt.close(fig)
    fig = plotting.image_rows([torch.rand(3, 16), np.ones((2, 16))], ["first", "second"], shape=(4, 4))
    assert [a.get_title() for a in fig.axes] == ["first", "second"]
    assert fig.axes[0].get_images()[0].get_array().shape == (4, 12)
    plt.close(fig)


@pytest.mark.parametrize("call, name", [
    (lambda: plotting.snapshot_grid({}), "trajectories"),
    (lambda: plotting.snapshot_grid({"a": np.zeros(3)}), "trajectories"),
    (lambda: plotting.snapshot_grid({"a": _Traj()}, n_cols=0), "n_cols"),
    (lambda: plotting.snapshot_frames([]), "trajectories"),
    (lambda: plotting.run_lines(plt.gca(), {}, xlabel="t", ylabel="y"), "curves"),
    (lambda: plotting.run_lines(plt.gca(), {"a": [np.ones(3)]}, xlabel="t", ylabel="y"), "curves"),
    (lambda: plotting.run_lines(plt.gca(), {"a": [(np.ones(3), np.ones(3))]}, xlabel="t", ylabel="y",
                                yscale="symlog"), "yscale"),
    (lambda: plotting.scatter_figure(np.zeros(5)), "x"),
    (lambda: plotting.image_rows([np.zeros((2, 16))], ["a", "b"], shape=(4, 4)), "titles"),
    (lambda: plotting.image_rows([np.zeros((2, 15))], ["a"], shape=(4, 4)), "rows"),
])
def test_riesz_helpers_refuse_bad_inputs_naming_the_parameter(call, name):
    with pytest.raises(ParameterError, match=rf"parameter '{name}'"):
        call()
    plt.close("all")
