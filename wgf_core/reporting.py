"""Machine-readable headline metrics recorded by each executed notebook.

A notebook ends with :func:`record_metrics`, which displays one JSON output with the MIME
type :data:`METRICS_MIME`. The book's reproduction report (``scripts/build_book.py``) and
the notebook tests (``tests/test_notebooks.py``) read it back with :func:`read_metrics`.

Record format::

    {
      "notebook": "ift/01_gaussian_2d",
      "profile": "default",
      "claims": [
        {"id": "ift-stuck", "claim": "...", "paper": "...", "ours": "...",
         "tolerance": "...", "status": "pass" | "differs", "reason": "..."}
      ],
      "checks": {"no_nan": true, "mmd_decreased": true},   # must hold at every profile
      "metrics": {...}                                      # free-form numbers
    }
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

METRICS_MIME = "application/vnd.wgf-compendium.metrics+json"
STATUSES = ("pass", "differs", "not-run")


def _clean(obj: Any) -> Any:
    """Make ``obj`` JSON-safe: tensors/arrays to lists, NaN/inf to strings."""
    if hasattr(obj, "tolist"):
        obj = obj.tolist()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    return str(obj)


def claim(id: str, claim: str, paper: Any, ours: Any, *, passed: bool, tolerance: str = "",
          reason: str = "") -> dict:
    """One headline claim: the paper's value or statement, ours, and pass/differs."""
    return {"id": id, "claim": claim, "paper": _clean(paper), "ours": _clean(ours), "tolerance": tolerance,
            "status": "pass" if passed else "differs", "reason": reason}


def make_record(notebook: str, profile: str, claims: Iterable[dict], checks: Optional[Mapping[str, bool]] = None,
                metrics: Optional[Mapping[str, Any]] = None) -> dict:
    rec = {"notebook": notebook, "profile": profile, "claims": list(claims),
           "checks": {k: bool(v) for k, v in (checks or {}).items()}, "metrics": _clean(dict(metrics or {}))}
    for c in rec["claims"]:
        if c.get("status") not in STATUSES:
            raise ValueError(f"claim {c.get('id')!r}: status must be one of {STATUSES}")
    json.dumps(rec)
    return rec


def record_metrics(notebook: str, profile: str, claims: Iterable[dict], checks=None, metrics=None) -> dict:
    """Display the record as a JSON output (and a readable table) in the running notebook."""
    rec = make_record(notebook, profile, claims, checks, metrics)
    try:
        from IPython.display import display

        display({METRICS_MIME: rec, "text/plain": json.dumps(rec, indent=1)}, raw=True)
    except ImportError:  # pragma: no cover
        print(json.dumps(rec, indent=1))
    return rec


def read_metrics(notebook_path) -> Optional[dict]:
    """The record displayed by an executed notebook, or None if it has none."""
    nb = json.loads(Path(notebook_path).read_text())
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if METRICS_MIME in data:
                rec = data[METRICS_MIME]
                return json.loads(rec) if isinstance(rec, str) else rec
    return None
