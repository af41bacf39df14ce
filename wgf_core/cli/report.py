"""The tidy table of a folder of runs (``wgf report DIR``) and its summary over seeds.

:func:`collect` reads every ``run.json`` under the folder (written by
:func:`wgf_core.cli.runner.execute_run`) with the ``metrics.json`` beside it: one row per run,
columns

* ``experiment``, ``params_hash``, ``param:<name>`` (the parameters the user set, with
  ``profile`` and ``device``), ``seed``, ``wgf_core_version``, ``status``, ``error``, ``seconds``;
* ``metric:<name>`` for every number of the record's ``metrics`` (nested mappings flattened with
  dots), ``claim:<id>`` for every claim's verdict, ``check:<name>`` for every sanity check.

:func:`summary` groups the rows by experiment and parameter set: ``runs``, ``ok``, ``failed``,
``<column>:mean`` / ``:min`` / ``:max`` over the successful seeds for ``seconds`` and every numeric
metric, and ``claim:<id>:reproduced`` (successful runs whose verdict is ``reproduced``).
:func:`write_report` writes both as CSV and Parquet.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

__all__ = ["LEAD_COLUMNS", "flatten", "run_row", "collect", "columns", "summary", "write_csv", "write_parquet",
           "write_report"]

#: The first columns of a row, in this order (then ``param:*``, the rest sorted).
LEAD_COLUMNS = ("experiment", "params_hash", "seed", "wgf_core_version", "status", "error", "seconds")


def flatten(obj: Any, prefix: str) -> dict:
    """``{"a": {"b": 1}}`` -> ``{"<prefix>a.b": 1}``; lists and other values are kept as they are."""
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}." if isinstance(v, Mapping) else f"{prefix}{k}"))
        return out
    return {prefix.rstrip("."): obj}


def run_row(state: Mapping, record: Optional[Mapping]) -> dict:
    """One row of the table from a run's state (``run.json``) and its record (``metrics.json``, or None)."""
    row = {k: state.get(k) for k in LEAD_COLUMNS}
    row.update({f"param:{k}": v for k, v in (state.get("user_parameters") or {}).items()})
    if record:
        row.update(flatten(record.get("metrics") or {}, "metric:"))
        row.update({f"claim:{c.get('id')}": c.get("status") for c in record.get("claims") or []})
        row.update({f"check:{k}": v for k, v in (record.get("checks") or {}).items()})
    return row


def collect(out_dir: Path) -> list[dict]:
    """The rows of every run under ``out_dir`` (sorted by experiment, parameter set, seed)."""
    rows = []
    for path in sorted(Path(out_dir).rglob("run.json")):
        try:
            state = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if "experiment" not in state:
            continue
        metrics = path.with_name("metrics.json")
        record = json.loads(metrics.read_text()) if metrics.exists() else None
        rows.append(run_row(state, record))
    return sorted(rows, key=lambda r: (str(r["experiment"]), str(r["params_hash"]), r["seed"] or 0))


def columns(rows: Iterable[Mapping], lead: Iterable[str] = LEAD_COLUMNS) -> list[str]:
    """Every column of ``rows``: ``lead``, then ``param:*``, then the others sorted."""
    seen = dict.fromkeys(k for r in rows for k in r)
    lead = list(lead)
    params = sorted(c for c in seen if c.startswith("param:") and c not in lead)
    return lead + params + sorted(c for c in seen if c not in lead and c not in params)


def _number(x: Any) -> Optional[float]:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def summary(rows: Iterable[Mapping]) -> list[dict]:
    """Per experiment and parameter set: run counts and mean / min / max over the successful seeds."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["experiment"], r["params_hash"]), []).append(r)
    out = []
    for (exp, phash), rs in groups.items():
        ok = [r for r in rs if r.get("status") == "ok"]
        row = {"experiment": exp, "params_hash": phash}
        row.update({k: v for k, v in rs[0].items() if k.startswith("param:")})
        row.update(runs=len(rs), ok=len(ok), failed=len(rs) - len(ok))
        names = dict.fromkeys(k for r in ok for k in r if k == "seconds" or k.startswith("metric:"))
        for name in names:
            vals = [v for v in (_number(r.get(name)) for r in ok) if v is not None]
            if vals:
                row.update({f"{name}:mean": sum(vals) / len(vals), f"{name}:min": min(vals), f"{name}:max": max(vals)})
        for name in dict.fromkeys(k for r in ok for k in r if k.startswith("claim:")):
            row[f"{name}:reproduced"] = sum(r.get(name) == "reproduced" for r in ok)
        out.append(row)
    return out


def _cell(x: Any) -> Any:
    if x is None:
        return ""
    if isinstance(x, (list, tuple, dict)):
        return json.dumps(x)
    return x


def write_csv(rows: list[dict], path: Path, lead: Iterable[str] = LEAD_COLUMNS) -> Path:
    """``rows`` as CSV (``None`` empty, lists and mappings as JSON), written atomically."""
    from .runner import atomic_write_text

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns(rows, lead), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(v) for k, v in r.items()})
    atomic_write_text(path, buf.getvalue())
    return Path(path)


def _arrow_column(values: list) -> list:
    """One type per column: numbers stay numbers (ints as floats if mixed), anything else becomes text."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, bool) for v in present):
        return values
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return values
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return [None if v is None else float(v) for v in values]
    return [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]


def write_parquet(rows: list[dict], path: Path, lead: Iterable[str] = LEAD_COLUMNS) -> Path:
    """``rows`` as Parquet (pyarrow), one type per column (see :func:`_arrow_column`)."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = columns(rows, lead)
    table = pa.table({c: _arrow_column([r.get(c) for r in rows]) for c in cols})
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return Path(path)


def write_report(out_dir: Path) -> dict:
    """``report.{csv,parquet}`` (one row per run) and ``summary.{csv,parquet}`` in ``out_dir``.

    Returns ``{"rows": ..., "summary": ..., "files": [paths]}``.
    """
    out_dir = Path(out_dir)
    rows = collect(out_dir)
    summ = summary(rows)
    lead_s = ("experiment", "params_hash", "runs", "ok", "failed")
    files = [write_csv(rows, out_dir / "report.csv"), write_csv(summ, out_dir / "summary.csv", lead_s)]
    if rows:
        files += [write_parquet(rows, out_dir / "report.parquet"),
                  write_parquet(summ, out_dir / "summary.parquet", lead_s)]
    return {"rows": rows, "summary": summ, "files": files}
