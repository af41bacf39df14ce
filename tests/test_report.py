"""Tests for the generated book pages (scripts/build_book.py): report, landing table, TOC, skip logic."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_book as bb  # noqa: E402

from wgf_core import claims as C  # noqa: E402
from wgf_core.claims.core import Claim, Outcome  # noqa: E402
from wgf_core.reporting import make_record  # noqa: E402


def _nb(tmp_path, paper, name, status="ok", record=None, seconds=3.0):
    src = tmp_path / "notebooks" / paper / f"{name}.ipynb"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(json.dumps({"cells": [{"cell_type": "markdown", "metadata": {},
                                          "source": [f"# {name} title\n", "Reproduces Fig. 3a, Fig. 3(b) and Figure 4 of the paper."]}],
                               "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    nb = bb.Notebook(source=src, paper=paper, name=name, output=tmp_path / "book" / "notebooks" / paper / f"{name}.ipynb")
    nb.title, nb.figure = bb.notebook_header(src)
    nb.state = {"status": status, "seconds": seconds, "device": "CPU (2 cores)", "finished_utc": "2026-01-01 00:00 UTC",
                "error": "ValueError: boom" if status == "failed" else ""}
    nb.record = record
    return nb


def _below(value, limit):
    return Outcome(margin=limit - value, value=value, text=f"{value:g} vs {limit:g}")


def _claim(cid, kind="paper", statement="IFT reaches low MMD | fast"):
    return Claim(id=cid, notebook="ift/01_a", kind=kind, statement=statement, quote="low MMD after 1000 steps",
                 where="Sec. 4, Fig. 3(a)", criterion_text="MMD^2 < 3x floor", tolerance_reason="noise floor",
                 criterion=_below, margin_label="limit - value", source="paper.txt" if kind == "paper" else "",
                 diagnosis="the target sample is fixed")


def _record(nbkey, profile="default"):
    conf = C.configuration(profile, {"runs": 5}, {"runs": 50})
    seeds = [0, 1, 2]
    return make_record(nbkey, profile, 0, [
        C.assess(_claim("c-pass"), [dict(value=v, limit=1e-4) for v in (3e-5, 4e-5, 3.5e-5)], seeds,
                 configuration=conf),
        C.assess(_claim("c-diff", statement="MMD flow gets stuck"), [dict(value=v, limit=0.5) for v in (1.0, 1.1, 0.9)],
                 seeds,
                 configuration=conf, reason="fixed target sample"),
        C.assess(_claim("c-unst", statement="noise helps"), [dict(value=v, limit=0.5) for v in (0.1, 0.9, 0.2)],
                 seeds, configuration=conf),
        C.assess(_claim("c-speed", kind="check", statement="faster than dense"),
                 [dict(value=v, limit=1.0) for v in (0.2, 0.25, 0.3)], seeds, configuration=conf),
    ], checks={"finite": True, "decreased": False}, metrics={"mmd": 1e-5})


def test_header_parsing(tmp_path):
    nb = _nb(tmp_path, "ift", "01_a")
    assert nb.title == "01_a title"
    assert "Fig. 3a" in nb.figure and "Figure 4" in nb.figure and "Fig. 3(b)" in nb.figure


def test_report_lists_every_claim_and_not_run(tmp_path):
    a = _nb(tmp_path, "ift", "01_a", record=_record("ift/01_a"))
    b = _nb(tmp_path, "ift", "02_b", status="failed")
    c = _nb(tmp_path, "riesz", "01_c", status="", record=None)
    md = bb.render_report([a, b, c], "default")
    for cid in ("c-pass", "c-diff", "c-unst", "c-speed"):
        assert cid in md
    assert "✓ reproduced" in md and "✗ differs" in md and "≈ inconclusive" in md
    assert "fixed target sample" in md and "“low MMD after 1000 steps” (Sec. 4, Fig. 3(a))" in md
    assert "runs = 5 (paper 50)" in md and "min / median / max = 0.1 / 0.2 / 0.9" in md
    assert "mean margin +0.1, interval [−1.82, +2.02] (98.3 %, 3 looks)" in md and "Per seed: 0: +0.4, 1: −0.4, 2: +0.3" in md
    # a diagnosis beside a claim that differs or is inconclusive, not beside one that reproduces
    assert md.count("*Diagnosis:* the target sample is fixed") == 2
    assert "IFT reaches low MMD \\| fast" in md  # pipes escaped inside table cells
    assert md.count("– not run") == 2 and "ValueError: boom" in md and "has not been executed" in md
    assert "failed: decreased" in md
    assert ("**Paper claims: 3 — 1 reproduced, 1 differ, 1 inconclusive. Readings: 0 — 0 reproduced, 0 differ, "
            "0 inconclusive. Project checks: 1 — 1 reproduced, 0 differ, 0 inconclusive. "
            "2 notebooks not executed.**") in md
    # paper claims before the project checks of the same page
    assert md.index("c-pass") < md.index("**Project checks") < md.index("c-speed")
    assert "{doc}`01_a title <notebooks/ift/01_a>`" in md
    assert "{cite}`gladin2024ift`" in md and "{cite}`altekrueger2023riesz`" in md
    assert "base seed 0" in md


def test_intro_table_and_times(tmp_path):
    a = _nb(tmp_path, "ift", "01_a", record=_record("ift/01_a"))
    b = _nb(tmp_path, "variational", "01_b")
    timings = {"ift/01_a": {"ci": {"seconds": 12.0, "status": "ok", "device": "CPU (2 cores)"},
                            "default": {"seconds": 200.0, "status": "ok", "device": "CPU (2 cores)"},
                            "paper": {"seconds": 30.0, "status": "ok", "device": "GPU NVIDIA H100"}}}
    md = bb.render_intro([a, b], timings, "default")
    row = next(l for l in md.splitlines() if "notebooks/ift/01_a" in l)
    assert "12 s" in row and "3.3 min" in row and "30 s" in row and "paper: 1/3 reproduced, 1 inconclusive" in row
    assert "Fig. 3a" in row
    assert "### Interaction-Force Transport" in md and "### Variational WGF" in md
    row_b = next(l for l in md.splitlines() if "notebooks/variational/01_b" in l)
    assert "not executed" in row_b
    for key in ("gladin2024ift", "stein2024mmdfdiv", "altekrueger2023riesz", "fan2022variational"):
        assert key in md
    assert "-p profile paper -p device cuda" in md
    et = bb.render_exec_times([a, b], timings)
    assert "GPU NVIDIA H100" in et and "| **total** |" in et


def test_toc_groups_by_paper(tmp_path):
    nbs = [_nb(tmp_path, "ift", "01_a"), _nb(tmp_path, "ift", "02_b"), _nb(tmp_path, "riesz", "01_c")]
    (tmp_path / "book").mkdir(exist_ok=True)
    (tmp_path / "book" / "conventions.md").write_text("# C\n")
    toc = bb.render_toc(nbs, tmp_path / "book")
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(toc)
    assert data["root"] == "intro"
    caps = [p["caption"] for p in data["parts"]]
    assert caps[0].startswith("Interaction-Force") and caps[-1] == "About"
    assert [c["file"] for c in data["parts"][0]["chapters"]] == ["notebooks/ift/01_a", "notebooks/ift/02_b"]
    assert {"file": "conventions"} in data["parts"][-1]["chapters"]


def test_discover_and_skip_logic(tmp_path):
    nbdir = tmp_path / "notebooks"
    for rel in ("ift/01_a.ipynb", "riesz/01_c.ipynb", "ift/_scratch.ipynb", "_private/01_x.ipynb"):
        p = nbdir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    nbs = bb.discover(nbdir, tmp_path / "book", only="ift/*")
    assert [n.key for n in nbs] == ["ift/01_a", "riesz/01_c"]  # papers in book order, _ skipped
    assert [n.selected for n in nbs] == [True, False]
    nb = nbs[0]
    want = bb.wanted_state(nb, {"profile": "ci", "device": "cpu"}, "core1")
    assert not bb.is_up_to_date(nb, want)  # never executed
    nb.output.parent.mkdir(parents=True)
    nb.output.write_text("{}")
    nb.state = dict(want, status="ok")
    assert bb.is_up_to_date(nb, want)
    assert not bb.is_up_to_date(nb, bb.wanted_state(nb, {"profile": "default", "device": "cpu"}, "core1"))
    assert not bb.is_up_to_date(nb, bb.wanted_state(nb, {"profile": "ci", "device": "cpu"}, "core2"))
    nb.source.write_text(nb.source.read_text() + " ")
    assert not bb.is_up_to_date(nb, bb.wanted_state(nb, {"profile": "ci", "device": "cpu"}, "core1"))
    nb.state["status"] = "failed"
    assert not bb.is_up_to_date(nb, want)


def test_tree_hash_changes_with_content(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    h1 = bb.tree_hash(tmp_path)
    (tmp_path / "a.py").write_text("x = 2\n")
    assert bb.tree_hash(tmp_path) != h1


def test_place_unexecuted_adds_warning(tmp_path):
    nb = _nb(tmp_path, "ift", "01_a")
    bb.place_unexecuted(nb)
    data = json.loads(nb.output.read_text())
    assert "not been executed" in "".join(data["cells"][1]["source"])
    assert data["metadata"]["kernelspec"]["name"] == "python3"


def test_references_bib_has_dois():
    bib = (ROOT / "book" / "references.bib").read_text()
    for doi in ("10.48550/arXiv.2405.17075", "10.48550/arXiv.2402.04613", "10.48550/arXiv.2301.11624",
                "10.48550/arXiv.2112.02424"):
        assert doi in bib
    for info in bb.PAPERS.values():
        assert info["cite"] in bib


def test_verdicts_and_their_comparison(tmp_path):
    a = _nb(tmp_path, "ift", "01_a", record=_record("ift/01_a"))
    v = bb.verdicts([a], "default")
    assert v["seeds"] == [0] and v["claims"]["c-unst"]["status"] == "inconclusive"
    assert v["claims"]["c-pass"]["notebook"] == "ift/01_a" and v["claims"]["c-speed"]["kind"] == "check"
    assert v["claims"]["c-unst"]["margins"] == pytest.approx([0.4, -0.4, 0.3])
    assert v["claims"]["c-diff"]["diagnosis"] == "the target sample is fixed"
    assert bb.compare_verdicts(v, json.loads(json.dumps(v))) == {"reversals": [], "toggles": [], "absent": []}
    w = json.loads(json.dumps(v))
    w["claims"]["c-unst"]["status"] = "reproduced"
    w["claims"]["c-pass"]["status"] = "differs"
    del w["claims"]["c-diff"]
    assert bb.compare_verdicts(v, w) == {"reversals": ["c-pass: reproduced vs differs"],
                                         "toggles": ["c-unst: inconclusive vs reproduced"],
                                         "absent": ["c-diff: differs vs absent"]}


def test_compare_verdicts_script_exits_on_a_reversal_only(tmp_path, capsys):
    import compare_verdicts as cv

    a = _nb(tmp_path, "ift", "01_a", record=_record("ift/01_a"))
    v = bb.verdicts([a], "default")
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(v))
    w = json.loads(json.dumps(v))
    w["claims"]["c-unst"]["status"] = "differs"   # a toggle: listed, not a failure
    pb.write_text(json.dumps(w))
    assert cv.main([str(pa), str(pb)]) == 0
    assert "1 inconclusive toggles: c-unst: inconclusive vs differs" in capsys.readouterr().out
    w["claims"]["c-pass"]["status"] = "differs"   # a reversal
    pb.write_text(json.dumps(w))
    assert cv.main([str(pa), str(pb)]) == 1
    assert "1 reversals: c-pass: reproduced vs differs" in capsys.readouterr().out


def test_forest_plot_has_one_row_per_claim(tmp_path):
    from wgf_core.reporting import forest_plot

    rec = _record("ift/01_a")
    fig = forest_plot(rec["claims"], title="t")
    ax = fig.axes[0]
    assert len(ax.get_yticks()) == 4 and "c-pass" in ax.get_yticklabels()[-1].get_text()
    assert ax.get_xscale() == "symlog" and "margin" in ax.get_xlabel()
    a = _nb(tmp_path, "ift", "01_a", record=rec)
    (tmp_path / "book").mkdir(exist_ok=True)
    out = bb.write_forest_plots([a], tmp_path / "book")
    assert out == {"ift": "forest_ift.png"} and (tmp_path / "book" / "forest_ift.png").stat().st_size > 1000
    assert "![Margin intervals" in bb.render_report([a], "default", out)


def _executed(path, record):
    """An executed notebook at ``path``: a title cell, a parameters cell and the cell that displayed ``record``."""
    from wgf_core.reporting import METRICS_MIME

    path.parent.mkdir(parents=True, exist_ok=True)
    cells = [{"cell_type": "markdown", "id": "title", "metadata": {}, "source": ["# A page\n", "Reproduces Fig. 1."]},
             {"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]}, "source": "profile = 'ci'",
              "outputs": [], "execution_count": 1},
             {"cell_type": "code", "id": "record", "metadata": {}, "source": "record_metrics(...)", "execution_count": 2,
              "outputs": [{"output_type": "display_data", "metadata": {},
                           "data": {METRICS_MIME: record, "text/plain": "metrics record"}}]}]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def _checked(nbkey, checks):
    return make_record(nbkey, "ci", 0, [], checks=checks)


def test_a_failed_check_is_warned_at_the_top_of_its_page_and_listed_in_the_report(tmp_path):
    from wgf_core.reporting import CHECK_MEANING, FAILED_CHECKS_CELL_ID, mark_failed_checks

    bad = _nb(tmp_path, "ift", "01_a", record=_checked("ift/01_a", {"no_nan": True, "energy_decreased": False}))
    good = _nb(tmp_path, "ift", "02_b", record=_checked("ift/02_b", {"no_nan": True, "weights_on_simplex": True}))
    for nb in (bad, good):
        _executed(nb.output, nb.record)
    assert mark_failed_checks(bad.output) is True
    cells = json.loads(bad.output.read_text())["cells"]
    assert [c["id"] for c in cells] == ["title", FAILED_CHECKS_CELL_ID, "params", "record"]  # right under the title
    warning = "".join(cells[1]["source"])
    assert warning.startswith("```{warning}") and "1 of its 2 project checks" in warning
    assert f"`energy_decreased`: {CHECK_MEANING['energy_decreased']}" in warning and "no_nan" not in warning
    before = bad.output.read_text()
    assert mark_failed_checks(bad.output) is True and bad.output.read_text() == before  # once, not twice
    # every check holds: no warning, and a stale one (an earlier record's) is removed
    assert mark_failed_checks(good.output) is False
    assert [c["id"] for c in json.loads(good.output.read_text())["cells"]] == ["title", "params", "record"]
    assert mark_failed_checks(bad.output, good.record) is False
    assert FAILED_CHECKS_CELL_ID not in bad.output.read_text()

    md = bb.render_report([bad, good], "ci")
    section = md[md.index("## Failed checks"):md.index("## Interaction-Force")]
    rows = [line for line in section.splitlines() if line.startswith("| {doc}")]
    assert rows == [f"| {{doc}}`01_a title <notebooks/ift/01_a>` | `energy_decreased` | "
                    f"{CHECK_MEANING['energy_decreased']} |"]
    md = bb.render_report([good], "ci")
    assert "## Failed checks" in md and "None: every executed page's project checks hold." in md


def test_wgf_run_output_warns_of_a_failed_check(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    from wgf_core.cli import runner
    from wgf_core.reporting import FAILED_CHECKS_CELL_ID

    def fake_execute(source, output, **kwargs):  # the kernel's part: an executed notebook with its record
        _executed(Path(output), _checked("fast/sum", {"finite": False, "no_nan": True}))

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    src = tmp_path / "src.ipynb"
    src.write_text("{}")
    spec = runner.RunSpec(key="fast/sum", source=src, parameters={"profile": "ci"}, output=tmp_path / "out.ipynb",
                          state=tmp_path / "run.json", want={}, metrics=tmp_path / "metrics.json")
    assert runner.execute_run(spec)["status"] == "ok"
    cells = json.loads(spec.output.read_text())["cells"]
    assert cells[1]["id"] == FAILED_CHECKS_CELL_ID and "`finite`" in cells[1]["source"]
    assert "no_nan" not in cells[1]["source"]
    assert json.loads(spec.metrics.read_text())["checks"] == {"finite": False, "no_nan": True}
