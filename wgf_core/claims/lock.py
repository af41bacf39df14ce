r"""The registration lock of the claims, and their amendments.

A claim is *registered* when its hash is written to ``wgf_core/claims/lock.json`` with the date and
the commit it was registered at. The hash (:func:`claim_hash`) covers everything that decides a
verdict: the statement, quote, source and where, the kind, the criterion's text and tolerance
reason, the margin's units, the seed plan, the numerical tolerance, the criterion's code (its
syntax tree without docstrings and comments, with every function of ``wgf_core`` it calls and every
constant it reads) and the claim's stored reference values (``references/<paper>.json``). The
diagnosis is not covered: it says what is known and may follow results.

A change after registration is an **amendment**: a dated entry in
``wgf_core/claims/amendments/<paper>.json`` that says what changed, why, and whether results had
been seen, with the hash the claim has after the change. :func:`verify` lists the claims whose
hash matches neither their registration nor their latest amendment; ``wgf claims check`` prints
them and exits 1 (CI runs it). Entries without a hash record changes made before the lock existed
(backfilled from the history); ``claim`` ``"*"`` is an amendment of every claim.

Amendment entry::

    {"claim": "ou-floor-d2", "date": "2026-11-29", "commit": "cd4aaf7",
     "change": "...", "reason": "...", "results_seen": true,
     "earlier": "the earlier criterion ('' if not a loosening)",
     "decided_by": "current" | "earlier", "reason_independent_of_results": true | false,
     "hash": "sha256 after the change" | null}
"""

from __future__ import annotations

import ast
import datetime as _dt
import functools
import hashlib
import inspect
import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Iterable, Mapping, Optional

HERE = Path(__file__).resolve().parent
LOCK_PATH = HERE / "lock.json"
AMENDMENTS_DIR = HERE / "amendments"
REFERENCES_DIR = HERE / "references"
AMENDMENT_KEYS = ("claim", "date", "commit", "change", "reason", "results_seen", "earlier", "decided_by",
                  "reason_independent_of_results", "hash")

#: Claim fields covered by the hash (``diagnosis`` is not).
HASHED_FIELDS = ("id", "notebook", "kind", "statement", "quote", "where", "source", "criterion_text",
                 "tolerance_reason", "margin_label", "value_label", "paper_value", "stochastic", "timing",
                 "tolerance")


# ----------------------------------------------------------------------------- the hash
def _normalised_source(fn) -> str:
    """The function's code as its syntax tree unparsed, without docstrings (comments vanish too)."""
    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return repr(getattr(fn, "__code__", fn))
    try:
        tree = ast.parse(src)
    except SyntaxError:  # a lambda inside a larger expression
        return " ".join(src.split())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _names(code) -> set:
    out = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            out |= _names(const)
    return out


def _simple(obj) -> Optional[str]:
    if isinstance(obj, (bool, int, float, str, type(None))):
        return repr(obj)
    if isinstance(obj, (tuple, list, frozenset, set, dict)):
        try:
            return json.dumps(obj, sort_keys=True, default=repr)
        except (TypeError, ValueError):
            return repr(obj)
    return None


def _ours(obj) -> bool:
    return (getattr(obj, "__module__", "") or "").startswith("wgf_core")


def _code_text(fn, seen: set) -> list:
    """Source of ``fn`` and, recursively, of the ``wgf_core`` functions it calls and the constants it reads."""
    if isinstance(fn, functools.partial):
        return [f"partial args={_simple(list(fn.args))} kw={_simple(fn.keywords)}"] + _code_text(fn.func, seen)
    fn = inspect.unwrap(fn)
    key = (getattr(fn, "__module__", ""), getattr(fn, "__qualname__", repr(fn)))
    if key in seen:
        return []
    seen.add(key)
    parts = [f"# {key[0]}.{key[1]}", _normalised_source(fn)]
    closure = getattr(fn, "__closure__", None) or ()
    code = getattr(fn, "__code__", None)
    if code is not None:
        for name, cell in zip(code.co_freevars, closure):
            try:
                val = cell.cell_contents
            except ValueError:
                continue
            s = _simple(val)
            parts.append(f"{name} = {s}" if s is not None else "")
            if s is None and callable(val) and _ours(val):
                parts += _code_text(val, seen)
        g = getattr(fn, "__globals__", {})
        for name in sorted(_names(code)):
            if name not in g:
                continue
            obj = g[name]
            s = _simple(obj)
            if s is not None and not name.startswith("__"):
                parts.append(f"{name} = {s}")
            elif (inspect.isfunction(obj) or isinstance(obj, functools.partial)) and _ours(obj):
                parts += _code_text(obj, seen)
    return [p for p in parts if p]


@functools.lru_cache(maxsize=None)
def stored_references(paper: str) -> dict:
    """The committed references of ``paper`` (``references/<paper>.json``), read once per process;
    ``{}`` when there is none. A writer of that file calls ``stored_references.cache_clear()``."""
    path = REFERENCES_DIR / f"{paper}.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    return data if isinstance(data, dict) else {}


def _references(claim) -> object:
    return stored_references(claim.paper).get(claim.id)


def claim_fields(claim) -> dict:
    """What the hash of ``claim`` covers, as JSON-ready values."""
    out = {f: getattr(claim, f) for f in HASHED_FIELDS}
    out["plan"] = claim.plan.text()
    out["criterion_code"] = "\n".join(_code_text(claim.criterion, set()))
    out["references"] = _references(claim)
    return out


def claim_hash(claim) -> str:
    """SHA-256 of :func:`claim_fields` (canonical JSON)."""
    blob = json.dumps(claim_fields(claim), sort_keys=True, default=repr, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


# ----------------------------------------------------------------------------- files
def load_lock(path: Path = LOCK_PATH) -> dict:
    """``{claim id: {"hash", "registered", "commit"}}`` (empty when there is no lock file)."""
    if not path.exists():
        return {}
    return json.loads(path.read_text()).get("claims", {})


def load_amendments(directory: Path = AMENDMENTS_DIR) -> list:
    """Every amendment entry, each with its ``paper`` (the file's stem), sorted by date (stable)."""
    out = []
    for f in sorted(directory.glob("*.json")) if directory.exists() else ():
        for a in json.loads(f.read_text()):
            missing = [k for k in ("claim", "date", "change", "reason", "results_seen") if k not in a]
            if missing:
                raise ValueError(f"{f.name}: amendment {a!r} lacks {missing}")
            _dt.date.fromisoformat(a["date"])
            out.append({**{k: a.get(k) for k in AMENDMENT_KEYS}, "paper": f.stem})
    return sorted(out, key=lambda a: a["date"])


def amendments_for(claim_id: str, amendments: Optional[list] = None) -> list:
    """The amendments of one claim, oldest first (``"*"`` entries included)."""
    amendments = load_amendments() if amendments is None else amendments
    return [a for a in amendments if a["claim"] in (claim_id, "*")]


def _atomic_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _head() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _registry(claims) -> dict:
    if claims is None:
        from . import registry

        return registry()
    if isinstance(claims, Mapping):
        return dict(claims)
    return {c.id: c for c in claims}


# ----------------------------------------------------------------------------- verify, register, amend
def expected_hash(claim_id: str, lock: Mapping, amendments: list) -> Optional[str]:
    """The hash ``claim_id`` must have: its latest hashed amendment's, else its registration's."""
    hashed = [a for a in amendments if a["claim"] == claim_id and a.get("hash")]
    if hashed:
        return hashed[-1]["hash"]
    entry = lock.get(claim_id)
    return entry["hash"] if entry else None


def verify(claims=None, *, lock: Optional[Mapping] = None, amendments: Optional[list] = None) -> list[str]:
    """The ids of the claims changed without an amendment (or never registered).

    Parameters
    ----------
    claims : mapping or iterable of Claim, optional
        Default: the whole registry.
    lock, amendments : optional
        Default: the committed files.

    Returns
    -------
    list of str
        Sorted claim ids whose :func:`claim_hash` differs from :func:`expected_hash` (or that have
        no registration).
    """
    reg = _registry(claims)
    lock = load_lock() if lock is None else lock
    amendments = load_amendments() if amendments is None else amendments
    return sorted(cid for cid, c in reg.items() if claim_hash(c) != expected_hash(cid, lock, amendments))


def register(claims=None, *, path: Path = LOCK_PATH, date: Optional[str] = None, commit: Optional[str] = None,
             first_committed: Optional[Mapping[str, str]] = None) -> list[str]:
    """Register the claims that have no registration yet; returns their ids.

    A registered claim is never re-registered: a change to it is an amendment (:func:`amend`).
    """
    reg = _registry(claims)
    data = json.loads(path.read_text()) if path.exists() else {
        "about": "Registration of every claim: the hash of what decides its verdict "
                 "(wgf_core.claims.lock.claim_hash). A change is an amendment (amendments/<paper>.json); "
                 "'wgf claims check' lists a claim changed without one.",
        "claims": {}}
    date = date or _dt.date.today().isoformat()
    commit = _head() if commit is None else commit
    new = []
    for cid, c in reg.items():
        if cid in data["claims"]:
            continue
        data["claims"][cid] = {"hash": claim_hash(c), "registered": date, "commit": commit,
                               **({"first_committed": first_committed[cid]} if first_committed and cid in
                                  first_committed else {})}
        new.append(cid)
    data["claims"] = dict(sorted(data["claims"].items()))
    _atomic_json(path, data)
    return new


def amend(claim_id: str, *, change: str, reason: str, results_seen: bool, earlier: str = "",
          decided_by: str = "current", reason_independent_of_results: bool = False,
          date: Optional[str] = None, commit: Optional[str] = None, directory: Path = AMENDMENTS_DIR) -> dict:
    """Append a dated amendment of ``claim_id`` with the claim's current hash; returns the entry."""
    from . import get

    claim = get(claim_id)
    for name, text in (("change", change), ("reason", reason)):
        if not str(text).strip():
            raise ValueError(f"an amendment needs a non-empty {name}")
    if decided_by not in ("current", "earlier"):
        raise ValueError(f"decided_by must be 'current' or 'earlier', not {decided_by!r}")
    entry = {"claim": claim_id, "date": date or _dt.date.today().isoformat(),
             "commit": _head() if commit is None else commit, "change": change, "reason": reason,
             "results_seen": bool(results_seen), "earlier": earlier, "decided_by": decided_by,
             "reason_independent_of_results": bool(reason_independent_of_results), "hash": claim_hash(claim)}
    path = directory / f"{claim.paper}.json"
    entries = json.loads(path.read_text()) if path.exists() else []
    entries.append(entry)
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_json(path, entries)
    return entry


def report(ids: Iterable[str]) -> str:
    """One line per changed claim, for ``wgf claims check``."""
    lock = load_lock()
    lines = []
    for cid in ids:
        why = "never registered" if cid not in lock else "changed since its registration or last amendment"
        lines.append(f"{cid}: {why}; add an amendment: wgf claims amend {cid} --change '...' --reason '...' "
                     f"--results-seen yes|no")
    return "\n".join(lines)
