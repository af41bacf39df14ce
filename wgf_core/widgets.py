"""ipywidgets controls for the notebooks: two static (kernel-free) and one live.

* :func:`figure_selector` and :func:`frame_slider` precompute PNGs and wire the controls to a
  ``widgets.Stack`` with ``jslink`` (a browser-side link), so they keep working in the static
  book: the executed notebook stores the widget state and the book loads it with
  ``@jupyter-widgets/html-manager``.
* :func:`live_panel` is an ``interact_manual``-style panel: it reruns a (small) computation with
  the chosen values, which needs a running Jupyter kernel. Its callback is a plain function
  returning a matplotlib Figure, so tests call it directly.
"""

from __future__ import annotations

import inspect
import io
from typing import Callable, Mapping, Sequence

from .errors import ParameterError

#: Resolution (dots per inch) of the PNGs shown by the static controls.
WIDGET_DPI = 80


def figure_to_png(fig, dpi: int = WIDGET_DPI, close: bool = True) -> bytes:
    """PNG bytes of a matplotlib figure (closed afterwards unless ``close=False``)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    return buf.getvalue()


def _as_png(item, dpi: int) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if hasattr(item, "savefig"):
        return figure_to_png(item, dpi=dpi)
    raise TypeError(f"expected a matplotlib Figure or PNG bytes, got {type(item).__name__}")


def _image_stack(pngs: Sequence[bytes], width: str = ""):
    import ipywidgets as w

    layout = w.Layout(width=width) if width else w.Layout(max_width="100%")
    images = [w.Image(value=p, format="png", layout=layout) for p in pngs]
    return w.Stack(children=images, selected_index=0)


def figure_selector(figures: Mapping[str, object], description: str = "setting", *, dpi: int = WIDGET_DPI,
                    buttons: bool = False, width: str = ""):
    """A kernel-free selector over precomputed figures (one per parameter setting).

    A ``Dropdown`` (or ``ToggleButtons`` with ``buttons=True``) whose ``index`` is ``jslink``-ed
    to the ``selected_index`` of a ``Stack`` of PNG ``Image`` widgets, so switching works in the
    static HTML book. Figures are rendered to PNG and closed.

    Parameters
    ----------
    figures : dict[str, matplotlib.figure.Figure or bytes]
        Label of each setting -> its figure (or PNG bytes); insertion order is the menu order.
    description : str
        Label shown beside the selector.

    Returns
    -------
    ipywidgets.VBox
        Display it as the cell's last expression. ``.selector`` and ``.stack`` are attributes.
    """
    import ipywidgets as w

    if not figures:
        raise ParameterError(f"parameter 'figures' = {figures!r} is not allowed: at least one figure (label -> figure)")
    labels = [str(k) for k in figures]
    stack = _image_stack([_as_png(f, dpi) for f in figures.values()], width)
    cls = w.ToggleButtons if buttons else w.Dropdown
    sel = cls(options=labels, index=0, description=description,
              style={"description_width": "initial"})
    w.jslink((sel, "index"), (stack, "selected_index"))
    box = w.VBox([sel, stack])
    box.add_class("wgf-figure-selector")  # found by scripts/browser_test.py
    box.selector, box.stack = sel, stack
    return box


def frame_slider(figures_or_pngs: Sequence[object], description: str = "step", *, labels=None,
                 interval: int = 400, dpi: int = WIDGET_DPI, width: str = ""):
    """A kernel-free Play button + slider over precomputed frames.

    ``Play.value`` and ``IntSlider.value`` are ``jslink``-ed to each other and the slider to the
    ``selected_index`` of a ``Stack`` of PNG images, so scrubbing works in the static book.

    Parameters
    ----------
    figures_or_pngs : list of matplotlib Figure or PNG bytes
        One per frame (figures are rendered and closed).
    description : str
        Slider label.
    labels : list of str, optional
        Not shown by the slider (it shows the frame index); kept as ``.labels`` for captions.
    interval : int
        Milliseconds between frames when playing.

    Returns
    -------
    ipywidgets.VBox
        With attributes ``.play``, ``.slider``, ``.stack``.
    """
    import ipywidgets as w

    pngs = [_as_png(f, dpi) for f in figures_or_pngs]
    if not pngs:
        raise ParameterError(f"parameter 'figures_or_pngs' = {figures_or_pngs!r} is not allowed: at least one frame "
                             "(a figure or PNG bytes)")
    n = len(pngs)
    stack = _image_stack(pngs, width)
    play = w.Play(value=0, min=0, max=n - 1, step=1, interval=interval, description="play")
    slider = w.IntSlider(value=0, min=0, max=n - 1, step=1, description=description,
                         style={"description_width": "initial"}, continuous_update=True)
    w.jslink((play, "value"), (slider, "value"))
    w.jslink((slider, "value"), (stack, "selected_index"))
    box = w.VBox([w.HBox([play, slider]), stack])
    box.add_class("wgf-frame-slider")  # found by scripts/browser_test.py
    box.play, box.slider, box.stack, box.labels = play, slider, stack, list(labels) if labels else None
    return box


def live_panel(callback: Callable[..., object], *, run_label: str = "Run", **controls):
    """An ``interact_manual``-style panel for a live Jupyter kernel.

    Parameters
    ----------
    callback : callable
        ``callback(**values) -> matplotlib.figure.Figure``. If it accepts a ``progress``
        keyword, it receives :func:`wgf_core.progress.progress` with progress bars enabled
        (a tqdm bar shown under the controls while it runs).
    run_label : str
        Text of the button that runs the callback.
    **controls
        ipywidgets or ``interact`` abbreviations: ``(min, max, step)`` tuples, lists of options,
        booleans, strings, ...

    Returns
    -------
    ipywidgets.interactive
        Nothing runs until the button is pressed (so the static book only shows the controls).
    """
    import ipywidgets as w
    from IPython.display import display

    from .progress import progress

    try:
        wants_progress = "progress" in inspect.signature(callback).parameters
    except (TypeError, ValueError):  # pragma: no cover
        wants_progress = False

    def _bar(iterable=None, **kw):
        kw.setdefault("enabled", True)
        return progress(iterable, **kw)

    def _run(**values):
        import matplotlib.pyplot as plt

        if wants_progress:
            values["progress"] = _bar
        fig = callback(**values)
        if fig is not None:
            display(fig)
            plt.close(fig)

    panel = w.interactive(_run, {"manual": True, "manual_name": run_label}, **controls)
    panel.callback = callback
    return panel
