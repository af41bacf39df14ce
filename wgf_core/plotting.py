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


def band_figure(x, runs_values, *, label: str, xlabel: str, ylabel: str, title: str = "", floor=None,
                floor_label: str = "floor", log: bool = True, figsize=(5, 3.5)):
    """A figure of one curve over runs: mean +- one standard deviation (:func:`mean_std_band`), and an optional
    floor curve ``(T,)`` (an exact solution's error, a noise level) dashed in black. Returns the figure."""
    import matplotlib.pyplot as plt

    for name, text in (("label", label), ("xlabel", xlabel), ("ylabel", ylabel)):
        if not isinstance(text, str) or not text:
            raise ParameterError(f"parameter '{name}' = {text!r} is not allowed: a non-empty string")
    fig, ax = plt.subplots(figsize=figsize)
    try:
        mean_std_band(ax, x, runs_values, label=label, log=log)
        if floor is not None:
            fl = to_numpy(floor).reshape(-1)
            if fl.shape != to_numpy(x).reshape(-1).shape:
                raise ParameterError(f"parameter 'floor' has {fl.size} values; it needs one per x")
            ax.plot(to_numpy(x).reshape(-1), fl, "k--", lw=1, label=floor_label)
    except ParameterError:
        plt.close(fig)
        raise
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()
    return fig
