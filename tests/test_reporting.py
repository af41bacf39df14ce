"""The metrics record round-trips through an executed notebook's outputs."""

import json

import nbformat
import pytest

from wgf_core.reporting import METRICS_MIME, claim, make_record, read_metrics


def test_record_round_trip(tmp_path):
    c = claim("c1", "MMD decays", "1e-3", 2e-3, passed=False, tolerance="x2", reason="smaller n")
    rec = make_record("ift/01", "ci", [c], checks={"no_nan": True}, metrics={"x": float("nan")})
    assert rec["metrics"]["x"] == "nan" and rec["claims"][0]["status"] == "differs"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("record")
    cell.outputs = [nbformat.v4.new_output("display_data", data={METRICS_MIME: rec, "text/plain": "..."})]
    nb.cells.append(cell)
    p = tmp_path / "nb.ipynb"
    nbformat.write(nb, p)
    assert read_metrics(p) == json.loads(json.dumps(rec))


def test_bad_status_rejected():
    with pytest.raises(ValueError, match="status"):
        make_record("a", "ci", [{"id": "x", "status": "ok"}])


def test_notebook_without_record(tmp_path):
    p = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), p)
    assert read_metrics(p) is None
