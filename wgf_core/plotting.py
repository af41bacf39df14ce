"""Plotting helpers shared by the notebooks: particle scatters, mean/std bands, animations.

All functions take numpy arrays or torch tensors (any device / dtype); tensors are moved to the
CPU and converted with ``.detach().cpu().numpy()``. Nothing here computes model quantities:
the notebooks pass in what ``wgf_core`` produced.

Animations use ``matplotlib.animation.FuncAnimation(...).to_jshtml()`` (no ffmpeg needed), so
the play / scrub controls keep working in the static book without a kernel.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from .errors import ParameterError

#: Frames kept by :func:`particle_animation` at most (evenly subsampled) to keep pages small.
MAX_FRAMES = 60
#: Resolution of animation frames (dots per inch); ~75 keeps a 60-frame animation < 1.5 MB.
ANIMATION_DPI = 72

_PARTICLE_COLOR = np.array([0.12, 0.35, 0.75])  # blue
_TARGET_COLOR = "0.55"

#: matplotlib's jshtml template loads Font Awesome 4 from a CDN for its button icons; the book
#: must work offline, so the stylesheet link is dropped and the icons become Unicode symbols.
_FA_ICONS = {
    "fa fa-minus": "\u2212", "fa fa-fast-backward": "\u21e4", "fa fa-step-backward": "\u25c1",
    "fa fa-play fa-flip-horizontal": "\u25c0", "fa fa-pause": "\u275a\u275a", "fa fa-play": "\u25b6",
    "fa fa-step-forward": "\u25b7", "fa fa-fast-forward": "\u21e5", "fa fa-plus": "+",
}


def offline_jshtml(html: str) -> str:
    """``FuncAnimation.to_jshtml()`` output without external requests (no Font Awesome CDN)."""
    import re

    html = re.sub(r'<link rel="stylesheet"\s*href="https?://[^"]*font-awesome[^"]*">', "", html)
    for cls, sym in _FA_ICONS.items():
        html = html.replace(f'<i class="{cls}"></i>', f'<span class="wgf-anim-icon">{sym}</span>')
    return html


def to_numpy(x) -> np.ndarray:
    """``x`` as a float64 numpy array (torch tensors are detached and moved to the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _normalise_weights(w: np.ndarray) -> np.ndarray:
    """Weights scaled to colour intensities in [0, 1] (max weight -> 1), per frame.

    Parameters
    ----------
    w : array, shape (..., n)
    """
    m = np.max(w, axis=-1, keepdims=True)
    m = np.where(m > 0, m, 1.0)
    return np.clip(w / m, 0.0, 1.0)


def _particle_colors(intensity: np.ndarray) -> np.ndarray:
    """RGBA colours (n, 4): blue whose alpha grows with intensity (min alpha 0.15)."""
    n = intensity.shape[0]
    rgba = np.empty((n, 4))
    rgba[:, :3] = _PARTICLE_COLOR
    rgba[:, 3] = 0.15 + 0.85 * intensity
    return rgba


def scatter_particles(ax, x, weights=None, target=None, *, vanished_tol: float = 1e-3, s: float = 14.0,
                      label: str = "particles", target_label: str = "target sample", xlim=None, ylim=None,
                      title: Optional[str] = None, legend: bool = True):
    """Scatter 2-D particles, optionally weighted, over a target sample.

    Weights are drawn as colour intensity (weight / max weight); a particle whose weight is
    below ``vanished_tol * max(weight)`` is drawn as a hollow marker ("vanished" mass, e.g. after
    an IFT / WFR weight step).

    Parameters
    ----------
    ax : matplotlib Axes
    x : array or tensor, shape (n, 2)
    weights : array or tensor, shape (n,), optional
    target : array or tensor, shape (m, 2), optional
        Drawn first, small grey dots.
    vanished_tol : float
        Relative weight threshold for hollow markers.
    xlim, ylim : (float, float), optional

    Returns
    -------
    The particles' ``PathCollection`` (filled ones).
    """
    x = to_numpy(x)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ParameterError(f"parameter 'x' has shape {x.shape}; it must have shape (n, 2) "
                             "(columns past the second are ignored)")
    if target is not None:
        t = to_numpy(target)
        ax.scatter(t[:, 0], t[:, 1], s=4, c=_TARGET_COLOR, alpha=0.5, label=target_label, zorder=1)
    if weights is None:
        sc = ax.scatter(x[:, 0], x[:, 1], s=s, color=_PARTICLE_COLOR, alpha=0.85, label=label, zorder=2)
    else:
        w = to_numpy(weights).reshape(-1)
        if w.shape[0] != x.shape[0]:
            raise ParameterError(f"parameter 'weights' has shape {w.shape}; it must have shape ({x.shape[0]},), "
                                 "one per particle")
        inten = _normalise_weights(w)
        alive = inten >= vanished_tol
        sc = ax.scatter(x[alive, 0], x[alive, 1], s=s, c=_particle_colors(inten[alive]), label=label, zorder=2)
        if (~alive).any():
            ax.scatter(x[~alive, 0], x[~alive, 1], s=s, facecolors="none", edgecolors=[_PARTICLE_COLOR],
                       linewidths=0.8, label="vanished (weight ≈ 0)", zorder=2)
    if xlim is not None:
        ax.set_xlim(*xlim)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(loc="upper right", fontsize=7, markerscale=1.2, framealpha=0.7)
    return sc


def mean_std_band(ax, x, runs_values, label: str, log: bool = True, *, color=None, alpha: float = 0.25):
    """Plot the mean over runs with a +-1 standard-deviation band.

    With ``log=True`` the y-axis is logarithmic and the band is computed in log10 space
    (geometric mean, multiplicative std), which keeps it positive for positive data such as MMD².

    Parameters
    ----------
    ax : matplotlib Axes
    x : array, shape (T,)
        Abscissa (e.g. steps or time t).
    runs_values : array or tensor, shape (runs, T) or (T,)
    label : str
    log : bool

    Returns
    -------
    The mean ``Line2D``.
    """
    xs = to_numpy(x).reshape(-1)
    v = to_numpy(runs_values)
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2 or v.shape[1] != xs.shape[0]:
        raise ParameterError(f"parameter 'runs_values' has shape {v.shape}; it must have shape "
                             f"(runs, {xs.shape[0]}) or ({xs.shape[0]},), matching x")
    if log:
        lv = np.log10(np.clip(v, np.finfo(float).tiny, None))
        mean, std = lv.mean(0), lv.std(0)
        centre, lo, hi = 10 ** mean, 10 ** (mean - std), 10 ** (mean + std)
        ax.set_yscale("log")
    else:
        mean, std = v.mean(0), v.std(0)
        centre, lo, hi = mean, mean - std, mean + std
    (line,) = ax.plot(xs, centre, label=label, color=color, lw=1.5)
    if v.shape[0] > 1:
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=alpha, lw=0)
    return line


def particle_animation(frames, *, weights=None, target=None, times=None, xlim=None, ylim=None, title: str = "",
                       interval: int = 120, max_frames: int = MAX_FRAMES, dpi: int = ANIMATION_DPI,
                       figsize=(4.2, 4.0)):
    """A self-contained JS animation (play / scrub controls) of 2-D particles over time.

    Parameters
    ----------
    frames : array or tensor, shape (T, n, 2)
        Particle positions per saved step.
    weights : array or tensor, shape (T, n) or (n,), optional
        Particle weights, shown as colour intensity; weight ≈ 0 is drawn hollow.
    target : array or tensor, shape (m, 2), optional
        Target sample drawn in grey behind the particles.
    times : sequence of length T, optional
        Labels of the frames (steps or time t), shown in the title.
    xlim, ylim : (float, float), optional
        Axis limits; default: the data range of all frames and the target, padded by 5%.
    title : str
    interval : int
        Milliseconds between frames.
    max_frames : int
        Frames are evenly subsampled (first and last kept) to at most this many.
    dpi : int

    Returns
    -------
    IPython.display.HTML
        ``FuncAnimation.to_jshtml()``; the figure is closed.
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    F = to_numpy(frames)
    if F.ndim != 3 or F.shape[2] < 2:
        raise ParameterError(f"parameter 'frames' has shape {F.shape}; it must have shape (T, n, 2)")
    T, n = F.shape[:2]
    W = None
    if weights is not None:
        W = to_numpy(weights)
        if W.ndim == 1:
            W = np.broadcast_to(W, (T, n))
        if W.shape != (T, n):
            raise ParameterError(f"parameter 'weights' has shape {W.shape}; it must have shape ({T}, {n}) or ({n},)")
    if times is not None:
        times = list(to_numpy(times).reshape(-1)) if not isinstance(times, (list, tuple)) else list(times)
        if len(times) != T:
            raise ParameterError(f"parameter 'times' has length {len(times)}; it must have length {T}, one per frame")
    idx = np.unique(np.linspace(0, T - 1, min(T, max(2, int(max_frames)))).round().astype(int))
    tg = to_numpy(target) if target is not None else None

    def _lims(col, given):
        if given is not None:
            return given
        vals = F[:, :, col].ravel()
        if tg is not None:
            vals = np.concatenate([vals, tg[:, col]])
        vals = vals[np.isfinite(vals)]
        lo, hi = (vals.min(), vals.max()) if vals.size else (-1.0, 1.0)
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        return (lo - pad, hi + pad)

    xl, yl = _lims(0, xlim), _lims(1, ylim)
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    if tg is not None:
        ax.scatter(tg[:, 0], tg[:, 1], s=4, c=_TARGET_COLOR, alpha=0.5, zorder=1)
    sc = ax.scatter(F[idx[0], :, 0], F[idx[0], :, 1], s=14, zorder=2)
    ax.set_xlim(*xl)
    ax.set_ylim(*yl)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")

    def _update(k):
        t = idx[k]
        sc.set_offsets(F[t, :, :2])
        if W is None:
            sc.set_facecolors(_particle_colors(np.ones(n)))
            sc.set_edgecolors(_particle_colors(np.ones(n)))
        else:
            inten = _normalise_weights(W[t])
            rgba = _particle_colors(inten)
            face = rgba.copy()
            face[inten < 1e-3, 3] = 0.0  # hollow: vanished particles
            edge = rgba.copy()
            edge[inten < 1e-3, 3] = 0.9
            sc.set_facecolors(face)
            sc.set_edgecolors(edge)
        label = f"step {times[t]:g}" if times is not None and isinstance(times[t], (int, float, np.number)) else (
            f"{times[t]}" if times is not None else f"frame {t}")
        ax.set_title(f"{title}  ({label})" if title else label, fontsize=10)
        return (sc,)

    _update(0)
    fig.tight_layout()  # after the first title is set, so it is not clipped
    anim = FuncAnimation(fig, _update, frames=len(idx), interval=interval, blit=False)
    try:
        html = offline_jshtml(anim.to_jshtml(default_mode="once"))
    finally:
        plt.close(fig)
    return HTML(html)


def panel_grid(rows: Sequence, cols: Sequence, draw: Callable, *, size=(3.3, 2.7), sharex: bool = False,
               sharey: bool = False):
    """A ``len(rows) x len(cols)`` figure with ``draw(ax, row, col)`` called in each panel.

    For the grids repeated across pages (energies x schemes, methods x snapshots, ...). ``rows`` and
    ``cols`` are any sequences of keys (a dict gives its keys). Returns the figure.
    """
    rows, cols = list(rows), list(cols)
    if not rows or not cols:
        raise ParameterError(f"panel_grid needs at least one row and one column, got {len(rows)} x {len(cols)}")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), len(cols), figsize=(size[0] * len(cols), size[1] * len(rows)),
                             sharex=sharex, sharey=sharey, squeeze=False)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            draw(axes[i][j], r, c)
    fig.tight_layout()
    return fig


# --- added with the thin mmd_fdiv notebooks; general: curves of any paper, selectors of final particles ---

def band_curves(ax, curves, *, xlabel: str, ylabel: str, title: Optional[str] = None, log: bool = True,
                floor: Optional[float] = None, floor_label: str = "floor", legend: bool = True):
    """Curves by label, each the mean over runs with a +-1 std band (:func:`mean_std_band`), and a floor.

    Parameters
    ----------
    ax : matplotlib Axes
    curves : mapping label -> ``(x, values)``
        ``x`` of shape ``(T,)`` (steps or time t) and ``values`` of shape ``(runs, T)`` or ``(T,)``:
        one run is a plain line, several a mean with its band (geometric with ``log``).
    xlabel, ylabel, title : str
    log : bool
        Logarithmic y-axis (and bands in log space).
    floor : float, optional
        A dotted horizontal line (a noise floor, a tolerance), labelled ``floor_label``.

    Returns
    -------
    dict label -> the mean ``Line2D``.
    """
    if not hasattr(curves, "items") or not curves:
        raise ParameterError(f"parameter 'curves' must be a non-empty mapping label -> (x, values), got {curves!r}")
    lines = {}
    for label, xv in curves.items():
        if not (isinstance(xv, (tuple, list)) and len(xv) == 2):
            raise ParameterError(f"parameter 'curves' entry {label!r} must be a pair (x, values)")
        lines[label] = mean_std_band(ax, xv[0], xv[1], label, log=log)
    if floor is not None:
        ax.axhline(floor, color="k", lw=0.8, ls=":", label=floor_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(fontsize=7)
    return lines


def particles_figures(particles, target=None, *, titles=None, figsize=(3.6, 3.4)) -> dict:
    """One closed figure per label of 2-D particles over a target sample, for a selector.

    Parameters
    ----------
    particles : mapping label -> array or tensor ``(n, d)``, ``d >= 2`` (first two coordinates drawn)
    target : array or tensor ``(m, d)``, optional
    titles : mapping label -> str, optional
        Panel titles (default: the label).

    Returns
    -------
    dict label -> Figure (closed: show them with :func:`wgf_core.widgets.figure_selector`).
    """
    import matplotlib.pyplot as plt

    if not hasattr(particles, "items") or not particles:
        raise ParameterError(f"parameter 'particles' must be a non-empty mapping label -> (n, d) array, "
                             f"got {type(particles).__name__}")
    figs = {}
    for label, x in particles.items():
        fig, ax = plt.subplots(figsize=figsize)
        scatter_particles(ax, x, target=target, title=(titles or {}).get(label, str(label)), legend=False)
        fig.tight_layout()
        plt.close(fig)
        figs[label] = fig
    return figs


# ----------------------------------------------------------------------------- per-seed figures (thin notebooks:
# variational paper; general: any ensemble of seeds)
def seed_dots(ax, positions, values, *, label: Optional[str] = None, floors=None, floor_label: Optional[str] = None,
              offset: float = 0.0, color="C0", floor_color="k", log: bool = False):
    """Per-seed values as dots above each position, and reference values ("floors") as horizontal marks.

    Parameters
    ----------
    ax : matplotlib Axes
    positions : sequence of float, length G
        Abscissa of each group (a dimension, a target index, ...).
    values : sequence of G sequences
        The per-seed values of each group (non-finite ones are skipped); dots at ``position + offset``.
    floors : sequence of G sequences, optional
        Reference values of each group (an exact solution, a noise floor), marks at ``position - offset``.
    label, floor_label : str, optional
        Legend entries (given once).
    log : bool
        Logarithmic y-axis.

    Returns
    -------
    ax
    """
    pos = [float(p) for p in positions]
    if len(values) != len(pos):
        raise ParameterError(f"parameter 'values' has {len(values)} groups; it needs one per position ({len(pos)})")
    if floors is not None and len(floors) != len(pos):
        raise ParameterError(f"parameter 'floors' has {len(floors)} groups; it needs one per position ({len(pos)})")
    for i, p in enumerate(pos):
        v = to_numpy(values[i]).reshape(-1)
        v = v[np.isfinite(v)]
        ax.plot([p + offset] * len(v), v, "o", color=color, alpha=0.7, label=label if i == 0 else None)
        if floors is not None:
            f = to_numpy(floors[i]).reshape(-1)
            ax.plot([p - offset] * len(f), f, "_", color=floor_color, ms=12, mew=2,
                    label=floor_label if i == 0 else None)
    if log:
        ax.set_yscale("log")
    return ax


def seed_lines(ax, x, ys, *, label: Optional[str] = None, labels: Optional[Sequence[str]] = None, color=None,
               draw: str = "plot", **style):
    """One line per seed: the rows of ``ys`` against ``x``, labelled once (``label``) or each (``labels``).

    Parameters
    ----------
    ax : matplotlib Axes
    x : array (T,)
    ys : sequence of arrays (T,)
        One row per seed (non-empty).
    label : str, optional
        Legend entry of the first row only ("... (one line per seed)").
    labels : sequence of str, optional
        One legend entry per row (instead of ``label``).
    draw : {"plot", "step", "semilogy"}
        The Axes method drawing each row; ``style`` goes to it (``where="mid"`` for steps, markers, ...).

    Returns
    -------
    list of the drawn lines
    """
    rows = list(ys)
    if not rows:
        raise ParameterError("parameter 'ys' is empty: it needs one row per seed")
    if labels is not None and len(labels) != len(rows):
        raise ParameterError(f"parameter 'labels' has {len(labels)} entries for {len(rows)} rows")
    if draw not in ("plot", "step", "semilogy"):
        raise ParameterError(f"parameter 'draw' = {draw!r} is not allowed: 'plot', 'step' or 'semilogy'")
    style.setdefault("alpha", 0.7)
    xi = to_numpy(x).reshape(-1)
    lines = []
    for i, y in enumerate(rows):
        yi = to_numpy(y).reshape(-1)
        if xi.shape != yi.shape:
            raise ParameterError(f"parameter 'ys' row {i} has {yi.size} values for {xi.size} abscissae")
        lab = labels[i] if labels is not None else (label if i == 0 else None)
        lines += getattr(ax, draw)(xi, yi, color=color, label=lab, **style)
    return lines


# --- added with the thin riesz notebooks; general: snapshot grids and frames of any particle flow, one line per
# --- run with a floor, one scatter per figure (step-size selectors, live panels), rows of images ---

def _snapshot_source(trajectories, name: str = "trajectories") -> dict:
    """``trajectories`` checked: a non-empty mapping label -> object with ``snapshot_times`` and ``x_snapshots``."""
    if not hasattr(trajectories, "items") or not trajectories:
        raise ParameterError(f"parameter {name!r} must be a non-empty mapping label -> trajectory (with "
                             f"snapshot_times and x_snapshots), got {type(trajectories).__name__}")
    for label, tr in trajectories.items():
        if not (hasattr(tr, "snapshot_times") and hasattr(tr, "x_snapshots")):
            raise ParameterError(f"parameter {name!r} entry {label!r} has no snapshot_times / x_snapshots: it must be "
                                 f"a trajectory (wgf_core.runner.Trajectory), got {type(tr).__name__}")
    return dict(trajectories)


def _scatter_panel(ax, p, *, s: float, xlim=None, ylim=None, title: str = "", fontsize=None, decorate=None, t=None,
                   ticks: bool = False):
    p = to_numpy(p)
    ax.scatter(p[:, 0], p[:, 1], s=s)
    if decorate is not None:
        decorate(ax, t)
    ax.set(aspect="equal")
    if xlim is not None:
        ax.set_xlim(xlim)
    if ylim is not None:
        ax.set_ylim(ylim)
    if not ticks:
        ax.set(xticks=[], yticks=[])
    ax.set_title(title, fontsize=fontsize)


def snapshot_grid(trajectories, *, n_cols: int = 5, run: int = 0, xlim=None, ylim=None, s: float = 1.5,
                  panel=(2.4, 2.1), time_format: str = ".1f", decorate: Optional[Callable] = None):
    """Snapshots of 2-D particle flows: one row per label, ``n_cols`` columns at evenly spaced snapshots.

    Parameters
    ----------
    trajectories : mapping label -> trajectory
        Each with ``snapshot_times`` ``(S,)`` and ``x_snapshots`` ``(S, runs, n, d)``
        (:class:`~wgf_core.runner.Trajectory`); the first two coordinates of run ``run`` are drawn.
    n_cols : int
        Columns: snapshots ``round(linspace(0, S - 1, n_cols))`` of each row.
    xlim, ylim : pair of float, optional
    s : float
        Marker size.
    panel : (width, height)
        Size of one panel in inches.
    time_format : str
        Format of the time in the panel titles ``"label, t = ..."``.
    decorate : callable ``(ax, t)``, optional
        Draws extras on each panel (a reference circle at time ``t``, ...).

    Returns
    -------
    Figure
    """
    import matplotlib.pyplot as plt

    trajs = _snapshot_source(trajectories)
    if isinstance(n_cols, bool) or not isinstance(n_cols, (int, np.integer)) or n_cols < 1:
        raise ParameterError(f"parameter 'n_cols' = {n_cols!r} is not allowed: an integer >= 1")
    fig, axes = plt.subplots(len(trajs), n_cols, figsize=(panel[0] * n_cols, panel[1] * len(trajs)), squeeze=False)
    for i, (label, tr) in enumerate(trajs.items()):
        cols = np.linspace(0, len(tr.snapshot_times) - 1, n_cols).round().astype(int)
        for j, c in enumerate(cols):
            t = tr.snapshot_times[c]
            _scatter_panel(axes[i, j], tr.x_snapshots[c, run], s=s, xlim=xlim, ylim=ylim, fontsize=8, t=t,
                           decorate=decorate, title=f"{label}, t = {t:{time_format}}")
    fig.tight_layout()
    return fig


def snapshot_frames(trajectories, *, run: int = 0, xlim=None, ylim=None, s: float = 1.5, panel=(3.0, 3.0),
                    time_format: str = ".1f", decorate: Optional[Callable] = None) -> list:
    """One figure per snapshot index (panels side by side, one per label): the frames of
    :func:`wgf_core.widgets.frame_slider`.

    Parameters as :func:`snapshot_grid`; as many frames as the shortest trajectory has snapshots.

    Returns
    -------
    list of Figure
    """
    import matplotlib.pyplot as plt

    trajs = _snapshot_source(trajectories)
    frames = []
    for c in range(min(len(tr.snapshot_times) for tr in trajs.values())):
        fig, axes = plt.subplots(1, len(trajs), figsize=(panel[0] * len(trajs), panel[1]), squeeze=False)
        for ax, (label, tr) in zip(axes[0], trajs.items()):
            t = tr.snapshot_times[c]
            _scatter_panel(ax, tr.x_snapshots[c, run], s=s, xlim=xlim, ylim=ylim, t=t, decorate=decorate,
                           title=f"{label}, t = {t:{time_format}}")
        frames.append(fig)
    return frames


def run_lines(ax, curves, *, xlabel: str, ylabel: str, xscale: str = "linear", yscale: str = "linear",
              floor: Optional[float] = None, floor_label: str = "floor", reference=None, legend: bool = True,
              **style):
    """One line per run, one colour per label (labelled once), a dotted floor and a dashed reference.

    Parameters
    ----------
    ax : matplotlib Axes
    curves : mapping label -> sequence of ``(x, y)`` pairs
        The runs of each label (seeds of an ensemble), drawn in colour ``C<k>`` for the k-th label.
    xlabel, ylabel : str
    xscale, yscale : {"linear", "log"}
    floor : float, optional
        A dotted horizontal line (a noise floor), labelled ``floor_label``.
    reference : ``(x, y, label)``, optional
        A dashed black curve (an exact solution).
    **style
        Passed to ``ax.plot`` for the runs (``marker``, ``ms``, ...).

    Returns
    -------
    ax
    """
    if not hasattr(curves, "items") or not curves:
        raise ParameterError(f"parameter 'curves' must be a non-empty mapping label -> list of (x, y), got {curves!r}")
    for name, value in (("xscale", xscale), ("yscale", yscale)):
        if value not in ("linear", "log"):
            raise ParameterError(f"parameter {name!r} = {value!r} is not allowed: 'linear' or 'log'")
    for k, (label, runs) in enumerate(curves.items()):
        for j, xy in enumerate(runs):
            if not (isinstance(xy, (tuple, list)) and len(xy) == 2):
                raise ParameterError(f"parameter 'curves' entry {label!r} must be a sequence of (x, y) pairs")
            ax.plot(to_numpy(xy[0]), to_numpy(xy[1]), color=f"C{k}", alpha=0.8, label=label if j == 0 else None,
                    **style)
    if reference is not None:
        ax.plot(to_numpy(reference[0]), to_numpy(reference[1]), "k--", label=reference[2])
    if floor is not None:
        ax.axhline(floor, color="k", ls=":", label=floor_label)
    ax.set(xscale=xscale, yscale=yscale, xlabel=xlabel, ylabel=ylabel)
    if legend:
        ax.legend()
    return ax


def scatter_figure(x, *, title: str = "", xlim=None, ylim=None, s: float = 1.5, size=(3.6, 3.2),
                   decorate: Optional[Callable] = None, xlabel: str = "x1", ylabel: str = "x2"):
    """One 2-D particle scatter in its own figure (a step-size selector's page, a live panel's output).

    Parameters
    ----------
    x : array or tensor ``(n, d)``, ``d >= 2`` (first two coordinates drawn)
    title, xlabel, ylabel : str
    xlim, ylim : pair of float, optional
    s : float
        Marker size.
    size : (width, height) in inches
    decorate : callable ``(ax)``, optional
        Draws extras (a reference circle, ...).

    Returns
    -------
    Figure
    """
    import matplotlib.pyplot as plt

    p = to_numpy(x)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ParameterError(f"parameter 'x' has shape {p.shape}: it must have shape (n, d) with d >= 2")
    fig, ax = plt.subplots(figsize=size)
    _scatter_panel(ax, p, s=s, xlim=xlim, ylim=ylim, title=title, ticks=True,
                   decorate=None if decorate is None else (lambda a, t: decorate(a)))
    ax.set(xlabel=xlabel, ylabel=ylabel)
    return fig


def image_rows(rows, titles: Sequence[str], *, shape=(28, 28), width: float = 12.0, row_height: float = 1.25):
    """Rows of grey-scale images, each row the images of one set side by side (clipped to [0, 1]).

    Parameters
    ----------
    rows : sequence of arrays or tensors ``(k, h * w)``
        One set of flattened images per row (generated digits, ...).
    titles : sequence of str
        One title per row.
    shape : (h, w)
        Image shape.

    Returns
    -------
    Figure
    """
    import matplotlib.pyplot as plt

    rows = [to_numpy(r) for r in rows]
    if not rows or len(titles) != len(rows):
        raise ParameterError(f"parameter 'titles' has length {len(titles)}: it must have one title per row "
                             f"({len(rows)} rows, at least one)")
    h, w = shape
    for r in rows:
        if r.ndim != 2 or r.shape[1] != h * w:
            raise ParameterError(f"parameter 'rows' has an entry of shape {r.shape}: each must have shape (k, {h * w})")
    fig, axes = plt.subplots(len(rows), 1, figsize=(width, row_height * len(rows)), squeeze=False)
    for ax, r, t in zip(axes[:, 0], rows, titles):
        ax.imshow(np.concatenate(list(r.clip(0, 1).reshape(-1, h, w)), axis=1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(t, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig
