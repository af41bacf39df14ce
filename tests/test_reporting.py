"""The metrics record round-trips through an executed notebook's outputs; its rendering."""

import json

import nbformat
import numpy as np
import pytest
import torch

from wgf_core import claims as C
from wgf_core.claims.core import Claim, Outcome
from wgf_core.reporting import (
    METRICS_MIME,
    claims_markdown,
    claims_table,
    comparable,
    fill_glue,
    glue,
    make_record,
    prose_sections,
    read_metrics,
    spread_text,
    verdict_counts,
)


def _crit(mmd, floor):
    return Outcome(margin=2 * floor - mmd, value=mmd, text=f"MMD {mmd:.3g} vs 2 x floor {floor:.3g}")


CLAIM = Claim(id="t-reaches", notebook="t/01_nb", kind="paper", statement="the flow reaches the target",
              quote="the particles reach the target", where="Sec. 6.2", criterion_text="MMD < 2 x noise floor",
              tolerance_reason="two-sample noise floor of n points", criterion=_crit, value_label="MMD",
              margin_label="2 x floor - MMD", source="paper.txt")
SPEED = Claim(id="t-speed", notebook="t/01_nb", kind="check", statement="faster than the dense reference",
              quote="dense torch reference, same run", where="project check", criterion_text="ratio > 1",
              tolerance_reason="any speed-up", criterion=lambda ratio: Outcome(margin=ratio - 1, value=ratio),
              timing=True, margin_label="ratio - 1", plan=C.SeedPlan(ci=(3,), default=(5,), paper=(5,)))


def _entries(values=(0.01, 0.03, 0.015), ratio=2.0):
    conf = C.configuration("default", {"steps": 100}, {"steps": 1000}, notes=["svrg estimator"])
    return [C.assess(CLAIM, [dict(mmd=v, floor=0.01) for v in values], [0, 1, 2], configuration=conf),
            C.assess(SPEED, [dict(ratio=ratio + 0.01 * k) for k in range(5)], [0, 1, 2, 3, 4], configuration=conf)]


def test_record_round_trip(tmp_path):
    rec = make_record("t/01_nb", "default", 0, _entries(), checks={"no_nan": True}, metrics={"x": float("nan")},
                      timings={"seconds": 1.5})
    assert rec["metrics"]["x"] == "nan" and rec["claims"][0]["status"] == "inconclusive"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("record")
    cell.outputs = [nbformat.v4.new_output("display_data", data={METRICS_MIME: rec, "text/plain": "..."})]
    nb.cells.append(cell)
    p = tmp_path / "nb.ipynb"
    nbformat.write(nb, p)
    assert read_metrics(p) == json.loads(json.dumps(rec))


def test_bad_status_and_duplicates_rejected():
    with pytest.raises(ValueError, match="status"):
        make_record("a", "ci", 0, [{"id": "x", "status": "ok"}])
    e = _entries()[0]
    with pytest.raises(ValueError, match="twice"):
        make_record("a", "ci", 0, [e, e])


def test_notebook_without_record(tmp_path):
    p = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), p)
    assert read_metrics(p) is None


def test_comparable_ignores_only_timings():
    a = make_record("t/01_nb", "ci", 0, _entries(ratio=2.0), metrics={"m": 1.0}, timings={"s": 1.0})
    b = make_record("t/01_nb", "ci", 0, _entries(ratio=0.5), metrics={"m": 1.0}, timings={"s": 9.0})
    assert comparable(a) == comparable(b)  # a timing claim's verdict and wall times may differ
    c = make_record("t/01_nb", "ci", 0, _entries(values=(0.01, 0.03, 0.016)), metrics={"m": 1.0})
    assert comparable(a) != comparable(c)  # any other number may not
    d = make_record("t/01_nb", "ci", 0, _entries(), metrics={"m": 1.0 + 1e-15})
    assert comparable(a) != comparable(d)


def test_rendering_shows_quote_where_configuration_seeds_verdict():
    entries = _entries()
    table = claims_table(entries)
    for s in ("t-reaches", "“the particles reach the target” (Sec. 6.2)", "MMD < 2 x noise floor",
              "two-sample noise floor", "steps = 100 (paper 1000)", "svrg estimator",
              "n = 3 (members 0–2; look 1 of 3): mean margin +0.00167, interval [",
              "value min / median / max = 0.01 / 0.015 / 0.03", "Per seed: 0: +0.01, 1: −0.01, 2: +0.005",
              "≈ inconclusive", "✓ reproduced"):
        assert s in table, s
    md = claims_markdown(entries)
    assert md.index("Paper claims") < md.index("Project checks")
    assert "member 1: margin −0.01: MMD 0.03 vs 2 x floor 0.01" in md
    assert verdict_counts(entries, "paper")["inconclusive"] == 1 and verdict_counts(entries, "check")["reproduced"] == 1
    one = {"seeds": [5], "min": 1.0, "median": 1.0, "max": 1.0, "stochastic": True,
           "margin": {"mean": 0.5, "low": None, "high": None, "confidence": 0.95}}
    assert spread_text(one) == "n = 1 (member 5): mean margin +0.5, interval [−∞, +∞] (95 %, 1 look); value 1"


def test_prose_sections_and_fill_glue(tmp_path):
    md = tmp_path / "01_page.md"
    md.write_text("Editors' note, dropped.\n<!-- section: intro -->\nThe flow of $\\tfrac12\\mathrm{MMD}^2$.\n\n"
                  "<!-- section: results -->\nMean {glue:text}`mean:.3f`, verdict **{glue:md}`verdict`**, "
                  "{glue:text}`n` seeds.\n")
    sections = prose_sections(md)
    assert list(sections) == ["intro", "results"] and sections["intro"] == "The flow of $\\tfrac12\\mathrm{MMD}^2$."
    # roles filled as myst-nb shows them; braces of the maths untouched
    assert fill_glue(sections["results"], dict(mean=2 / 3, verdict="pass", n=3)) == \
        "Mean 0.667, verdict **pass**, 3 seeds."
    assert fill_glue(sections["intro"], {}) == sections["intro"]
    with pytest.raises(KeyError, match="'verdict'"):
        fill_glue(sections["results"], dict(mean=0.5, n=3))
    md.write_text("<!-- section: intro -->\na\n<!-- section: intro -->\nb\n")
    with pytest.raises(ValueError, match="intro"):
        prose_sections(md)


@pytest.mark.parametrize("value, fmt", [(0.123456789, None), (3, None), ("pass", None), (2 / 3, ".2f"),
                                        (np.float64(1.5), None), (torch.tensor(2.5), None)])
def test_glue_emits_what_myst_nb_glue_emits(value, fmt):
    """reporting.glue writes myst-nb's glue output itself (no nbformat import): the same bundle and metadata."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import Markdown
    from IPython.utils.capture import capture_output
    from myst_nb import glue as myst_glue

    InteractiveShell.instance()
    with capture_output() as ours:
        out = glue("x", value, fmt)
    v = value.item() if hasattr(value, "item") else value
    obj = Markdown(v) if isinstance(v, str) else Markdown(format(v, fmt)) if fmt else v
    with capture_output() as theirs:
        myst_glue("x", obj, display=False)
    assert out == v
    assert [(o.data, o.metadata) for o in ours.outputs] == [(o.data, o.metadata) for o in theirs.outputs]
    assert len(ours.outputs) == 1 and all(k.startswith("application/papermill.record/") for k in ours.outputs[0].data)
