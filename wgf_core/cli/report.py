"""The tidy table of a folder of runs (``wgf report DIR``) and its summary over seeds.

:func:`collect` reads every ``run.json`` under the folder (written by
:func:`wgf_core.cli.runner.execute_run`) with the ``metrics.json`` beside it: one row per run,
columns

* ``experiment``, ``params_hash``, ``param:<name>`` (the parameters the user set, with
  ``profile`` and ``device``), ``seed``, ``wgf_core_version``, ``status``, ``error``, ``seconds``;
* ``metric:<name>`` for every number of the record's ``metrics`` (nested mappings flattened with
  dots), ``claim:<id>`` for every claim's verdict, ``check:<name>`` for every sanity check.

A run folder that cannot be read is a row too, never an exception and never left out: its
``status`` is ``"corrupt"`` and its ``error`` ``"corrupt: <file>: <reason>"`` (:func:`corrupt_row`),
for a ``run.json`` or ``metrics.json`` that is unreadable, not JSON, or lacks the fields the
runner writes, and for a ``seed-<k>`` folder holding a notebook or a record but no ``run.json``
(a folder with only the runner's ``.tmp`` files is a run in progress, and is not listed).
The experiment, parameter-set hash and seed of such a row come from its path where its
``run.json`` cannot give them.

:func:`summary` groups the rows by experiment and parameter set: ``runs``, ``ok``, ``failed``, ``corrupt``,
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

__all__ = ["LEAD_COLUMNS", "CORRUPT", "flatten", "run_row", "state_problem", "record_problem", "corrupt_row",
           "collect", "columns", "summary", "write_csv", "write_parquet", "write_report"]

#: The first columns of a row, in this order (then ``param:*``, the rest sorted).
LEAD_COLUMNS = ("experiment", "params_hash", "seed", "wgf_core_version", "status", "error", "seconds")
#: The status of a row whose run folder cannot be read.
CORRUPT = "corrupt"


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


def _read_json(path: Path) -> tuple[Any, str]:
    """``(value, "")`` from a JSON file, or ``(None, reason)`` when it cannot be read or parsed."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")), ""
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg}: line {exc.lineno}, column {exc.colno})"
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    except OSError as exc:  # a folder in its place, no permission, a dangling link
        return None, f"cannot be read ({type(exc).__name__}: {exc.strerror or exc})"
    except (ValueError, RecursionError) as exc:  # an integer of too many digits, nesting too deep
        return None, f"not usable JSON ({type(exc).__name__}: {exc})"[:300]


def state_problem(state: Any) -> str:
    """What makes ``state`` (a parsed ``run.json``) unusable for a row, or ``""``."""
    if not isinstance(state, Mapping):
        return f"a JSON {type(state).__name__}, not an object"
    for name, types in (("experiment", str), ("status", str)):
        if not isinstance(state.get(name), types):
            return f"no {name!r} (text)" if name not in state else f"{name!r} = {state[name]!r} is not text"
    for name, types, what in (("params_hash", (str, type(None)), "text"), ("seed", (int, type(None)), "an integer"),
                              ("user_parameters", (Mapping, type(None)), "an object"),
                              ("seconds", (int, float, type(None)), "a number")):
        if not isinstance(state.get(name), types) or isinstance(state.get(name), bool):
            return f"{name!r} = {state.get(name)!r} is not {what}"
    return ""


def record_problem(record: Any) -> str:
    """What makes ``record`` (a parsed ``metrics.json``) unusable for a row, or ``""``."""
    if not isinstance(record, Mapping):
        return f"a JSON {type(record).__name__}, not an object"
    for name, types, what in (("metrics", Mapping, "an object"), ("checks", Mapping, "an object"),
                              ("claims", list, "a list")):
        if record.get(name) is not None and not isinstance(record.get(name), types):
            return f"{name!r} is not {what}"
    if any(not isinstance(c, Mapping) for c in record.get("claims") or []):
        return "'claims' holds an entry that is not an object"
    return ""


def _from_path(folder: Path, out_dir: Path) -> dict:
    """Experiment, parameter-set hash and seed read from ``<out>/<experiment>/<hash>/seed-<k>``."""
    parts = folder.relative_to(out_dir).parts
    seed = parts[-1][5:] if parts and parts[-1].startswith("seed-") else ""
    return {"experiment": "/".join(parts[:-2]) or None, "params_hash": parts[-2] if len(parts) >= 2 else None,
            "seed": int(seed) if seed.isascii() and seed.isdigit() else None}


def corrupt_row(base: Mapping, file: str, reason: str) -> dict:
    """The row of a run folder whose ``file`` cannot be used: ``base`` with status ``"corrupt"``."""
    return {**base, "status": CORRUPT, "error": f"{CORRUPT}: {file}: {reason}"}


def _folder_row(folder: Path, out_dir: Path) -> Optional[dict]:
    """The row of one run folder (``None``: nothing to report, e.g. a run in progress)."""
    try:
        return _read_folder(folder, out_dir)
    except OSError as exc:  # the folder cannot be listed
        return corrupt_row(_from_path(folder, out_dir), str(folder.relative_to(out_dir)),
                           f"cannot be read ({type(exc).__name__}: {exc.strerror or exc})")


def _read_folder(folder: Path, out_dir: Path) -> Optional[dict]:
    where = _from_path(folder, out_dir)
    state_file, metrics_file = folder / "run.json", folder / "metrics.json"
    if not (state_file.exists() or state_file.is_symlink()):
        finished = [p for p in folder.iterdir() if ".tmp" not in p.name]
        if not finished:
            return None
        return corrupt_row(where, str(state_file.relative_to(out_dir)),
                           f"missing, beside {', '.join(sorted(p.name for p in finished))}")
    state, why = _read_json(state_file)
    why = why or state_problem(state)
    if why:
        return corrupt_row(where, str(state_file.relative_to(out_dir)), why)
    if not (metrics_file.exists() or metrics_file.is_symlink()):
        return run_row(state, None)
    record, why = _read_json(metrics_file)
    why = why or record_problem(record)
    if why:
        return corrupt_row(run_row(state, None), str(metrics_file.relative_to(out_dir)), why)
    return run_row(state, record)


def _run_folders(out_dir: Path) -> list[Path]:
    """Every folder under ``out_dir`` with a ``run.json``, or named ``seed-<k>``, sorted."""
    found = {p.parent for p in out_dir.rglob("run.json")}
    found |= {p for p in out_dir.rglob("seed-*") if p.is_dir()}
    return sorted(found)


def _sort_key(row: Mapping) -> tuple:
    seed = row.get("seed")
    return str(row.get("experiment")), str(row.get("params_hash")), seed if isinstance(seed, int) else -1


def collect(out_dir: Path) -> list[dict]:
    """The rows of every run under ``out_dir`` (sorted by experiment, parameter set, seed).

    A run folder that cannot be read gives a row with status :data:`CORRUPT` (see the module
    docstring); this never raises for the contents of a run folder.
    """
    out_dir = Path(out_dir)
    rows = [row for row in (_folder_row(f, out_dir) for f in _run_folders(out_dir)) if row is not None]
    return sorted(rows, key=_sort_key)


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
    """Per experiment and parameter set: run counts (``runs``, ``ok``, ``failed``, ``corrupt``) and
    mean / min / max over the successful seeds."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r.get("experiment"), r.get("params_hash")), []).append(r)
    out = []
    for (exp, phash), rs in groups.items():
        ok = [r for r in rs if r.get("status") == "ok"]
        corrupt = sum(r.get("status") == CORRUPT for r in rs)
        row = {"experiment": exp, "params_hash": phash}
        row.update({k: v for r in rs for k, v in r.items() if k.startswith("param:")})
        row.update(runs=len(rs), ok=len(ok), failed=len(rs) - len(ok) - corrupt, corrupt=corrupt)
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

    Returns ``{"rows": ..., "summary": ..., "corrupt": [the rows of status "corrupt"], "files": [paths]}``.
    """
    out_dir = Path(out_dir)
    rows = collect(out_dir)
    summ = summary(rows)
    lead_s = ("experiment", "params_hash", "runs", "ok", "failed", "corrupt")
    files = [write_csv(rows, out_dir / "report.csv"), write_csv(summ, out_dir / "summary.csv", lead_s)]
    if rows:
        files += [write_parquet(rows, out_dir / "report.parquet"),
                  write_parquet(summ, out_dir / "summary.parquet", lead_s)]
    return {"rows": rows, "summary": summ, "corrupt": [r for r in rows if r.get("status") == CORRUPT], "files": files}
