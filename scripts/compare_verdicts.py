#!/usr/bin/env python3
"""Compare the verdicts of two book builds (their ``book/verdicts.json``).

Usage::

    python scripts/compare_verdicts.py build_seed0/verdicts.json build_seed1000/verdicts.json

Prints one line per claim (both verdicts, both mean margins and intervals), the counts per kind of
each build, the **reversals** (reproduced in one build, differs in the other) and the
**inconclusive toggles** (decided in one build, inconclusive in the other). Exits 1 on any
reversal, 0 otherwise: under the interval rule two builds with different base seeds
(``SEED=1000 make book``) may disagree on whether a claim is decided, but not on which way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_book import compare_verdicts  # noqa: E402

KINDS = ("paper", "reading", "check")
STATUSES = ("reproduced", "differs", "inconclusive", "not-run")


def _counts(v: dict) -> str:
    out = []
    for kind in KINDS:
        sel = [c["status"] for c in v["claims"].values() if c.get("kind") == kind]
        out.append(f"{kind} ({len(sel)}): " + ", ".join(f"{s} {sel.count(s)}" for s in STATUSES if sel.count(s)))
    return "; ".join(out)


def _interval(c: dict) -> str:
    m = (c or {}).get("margin") or {}
    if m.get("mean") is None:
        return "—"
    lo = "-inf" if m.get("low") is None else f"{m['low']:+.3g}"
    hi = "+inf" if m.get("high") is None else f"{m['high']:+.3g}"
    return f"{m['mean']:+.3g} [{lo}, {hi}] n={len(c.get('seeds') or [])}"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__)
        return 2
    a, b = (json.loads(Path(p).read_text()) for p in argv)
    for cid in sorted(set(a["claims"]) | set(b["claims"])):
        ca, cb = a["claims"].get(cid, {}), b["claims"].get(cid, {})
        mark = " " if ca.get("status") == cb.get("status") else "!"
        print(f"{mark} {cid:45s} {ca.get('status', 'absent'):12s} {cb.get('status', 'absent'):12s} "
              f"{_interval(ca):>36s} | {_interval(cb)}")
    print(f"A (base seeds {a.get('seeds')}): {_counts(a)}")
    print(f"B (base seeds {b.get('seeds')}): {_counts(b)}")
    diff = compare_verdicts(a, b)
    print(f"{len(diff['reversals'])} reversals" + (": " + "; ".join(diff["reversals"]) if diff["reversals"] else ""))
    print(f"{len(diff['toggles'])} inconclusive toggles" + (": " + "; ".join(diff["toggles"]) if diff["toggles"] else ""))
    if diff["absent"]:
        print(f"{len(diff['absent'])} decided in one build only: " + "; ".join(diff["absent"]))
    return 1 if diff["reversals"] else 0


if __name__ == "__main__":
    sys.exit(main())
