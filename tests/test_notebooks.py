"""Execute every notebook at ``profile="ci"`` with papermill and check its recorded metrics.

Each notebook ends with :func:`wgf_core.reporting.record_metrics`; its ``checks`` must all
hold at every profile (e.g. no NaN, MMD decreased). Run one paper's notebooks with
``pytest tests/test_notebooks.py -k ift``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wgf_core.reporting import read_metrics

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "notebooks")) for p in NOTEBOOKS])
def test_notebook_runs_at_ci(path, tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("WGF_NO_PROGRESS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(out),
        parameters={"profile": "ci", "device": "cpu"},
        cwd=str(path.parent),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=600,
    )
    rec = read_metrics(out)
    assert rec is not None, f"{path.name} recorded no metrics (call wgf_core.reporting.record_metrics)"
    assert rec["profile"] == "ci"
    failed = [k for k, v in rec["checks"].items() if not v]
    assert not failed, f"{path.name}: checks failed at profile='ci': {failed}"
    assert rec["claims"], f"{path.name}: no headline claim recorded"
