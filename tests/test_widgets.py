"""Tests for wgf_core.widgets: static controls are jslink-ed to a Stack; the live callback runs."""

import matplotlib

matplotlib.use("Agg")
import ipywidgets as w
import matplotlib.pyplot as plt
import pytest

from wgf_core import widgets
from wgf_core.validation import ParameterError


def _fig(k):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, k])
    ax.set_xlabel("steps")
    return fig




def test_figure_selector_stack_and_link():
    before = len(plt.get_fignums())
    box = widgets.figure_selector({"a": _fig(1), "b": _fig(2), "c": _fig(3)}, description="method")
    assert len(plt.get_fignums()) == before  # figures closed
    assert isinstance(box.stack, w.Stack) and len(box.stack.children) == 3
    assert all(isinstance(c, w.Image) and c.value[:4] == b"\x89PNG" for c in box.stack.children)
    assert list(box.selector.options) == ["a", "b", "c"]
    assert "wgf-figure-selector" in box._dom_classes
    assert box.stack.selected_index == 0
    links = [m for m in _all_links() if _connects(m, box.selector, "index", box.stack, "selected_index")]
    assert links, "selector is not jslink-ed to the stack"


def _all_links():
    from ipywidgets.widgets.widget import _instances

    return [m for m in _instances.values() if type(m).__name__ == "Link"]


def _connects(link, a, ta, b, tb):
    (s, st), (t, tt) = link.source, link.target
    return {(s.model_id, st), (t.model_id, tt)} == {(a.model_id, ta), (b.model_id, tb)}


def test_frame_slider_links():
    box = widgets.frame_slider([_fig(k) for k in range(4)], description="step")
    assert box.slider.max == 3 and box.play.max == 3
    assert "wgf-frame-slider" in box._dom_classes
    links = _all_links()
    assert any(_connects(m, box.play, "value", box.slider, "value") for m in links)
    assert any(_connects(m, box.slider, "value", box.stack, "selected_index") for m in links)
    # PNG bytes are accepted too
    png = widgets.figure_to_png(_fig(5))
    box2 = widgets.frame_slider([png, png])
    assert box2.stack.children[1].value == png


def test_bad_inputs():
    with pytest.raises(ParameterError, match=r"parameter 'figures' = \{\} is not allowed: at least one figure"):
        widgets.figure_selector({})
    with pytest.raises(ParameterError, match=r"parameter 'figures_or_pngs' = \[\] is not allowed: at least one frame"):
        widgets.frame_slider([])
    with pytest.raises(TypeError):
        widgets.frame_slider(["not a figure"])


def test_live_panel_callback_and_progress():
    calls = {}

    def cb(step=0.1, method="ift", progress=None):
        calls["progress"] = progress
        for _ in progress(range(3), desc="flow"):
            pass
        fig, ax = plt.subplots()
        ax.plot([0, 1], [step, step])
        calls["method"] = method
        return fig

    panel = widgets.live_panel(cb, step=(0.01, 1.0, 0.01), method=["ift", "mmd"])
    assert isinstance(panel, w.interactive)
    assert "method" not in calls  # manual: nothing runs before the button is pressed
    names = [getattr(c, "description", None) for c in panel.children]
    assert "step" in names and "method" in names
    assert panel.callback is cb  # exposed so that tests can drive it
    # pressing the button runs the callback with the controls' values and a progress hook,
    # displays the figure and closes it
    before = len(plt.get_fignums())
    panel.update()
    assert calls["method"] == "ift" and callable(calls["progress"])
    assert len(plt.get_fignums()) == before
    controls = {c.description: c for c in panel.kwargs_widgets}
    controls["method"].value = "mmd"
    controls["step"].value = 0.5
    panel.update()
    assert calls["method"] == "mmd"
    assert len(plt.get_fignums()) == before
