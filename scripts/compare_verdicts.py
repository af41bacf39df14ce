#!/usr/bin/env python3
"""Compare the verdicts of two book builds (their ``book/verdicts.json``).

Usage::

    python scripts/compare_verdicts.py build_seed0/verdicts.json build_seed1000/verdicts.json

Prints one line per claim (both verdicts, both spreads) and the counts of each build; exits 1 if
any verdict differs. Two builds with different base seeds (``SEED=1000 make book``) must agree on
every verdict ("unstable" counts as a verdict).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_book import agreement, compare_verdicts  # noqa: E402


def _counts(v: dict) -> str:
    out = []
    for kind in ("paper", "check"):
        sel = [c["status"] for c in v["claims"].values() if c.get("kind") == kind]
        out.append(f"{kind}: " + ", ".join(f"{s} {sel.count(s)}" for s in ("pass", "differs", "unstable")))
    return "; ".join(out)


def _spread(c: dict) -> str:
    if not c or c.get("min") is None:
        return "—"
    return f"{c['min']:.4g} / {c['median']:.4g} / {c['max']:.4g}"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__)
        return 2
    a, b = (json.loads(Path(p).read_text()) for p in argv)
    for cid in sorted(set(a["claims"]) | set(b["claims"])):
        ca, cb = a["claims"].get(cid, {}), b["claims"].get(cid, {})
        mark = " " if ca.get("status") == cb.get("status") else "!"
        print(f"{mark} {cid:45s} {ca.get('status', 'absent'):9s} {cb.get('status', 'absent'):9s} "
              f"{_spread(ca):>28s} | {_spread(cb)}")
    print(f"A (seeds {a.get('seeds')}): {_counts(a)}")
    print(f"B (seeds {b.get('seeds')}): {_counts(b)}")
    agr = agreement(a, b)
    mixed = {cid: r for cid, r in agr["claims"].items() if 0 < r["passed"] < r["seeds"]}
    print(f"Claims whose pooled seeds land on both sides of the criterion: {len(mixed)}")
    for cid, r in sorted(mixed.items(), key=lambda kv: kv[1]["agree"]):
        print(f"  {cid:45s} {r['passed']:3d} of {r['seeds']:3d} seeds pass: two builds agree with "
              f"probability {r['agree']:.2f}")
    print(f"Expected number of verdicts that differ between two builds: {agr['expected_disagreements']:.2f}; "
          f"probability that all agree: {agr['p_all_agree']:.2f} (plug-in, from the pooled seeds)")
    diffs = compare_verdicts(a, b)
    print(f"{len(diffs)} verdicts differ" + (": " + "; ".join(diffs) if diffs else ""))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
