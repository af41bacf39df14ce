"""Pairwise-distance benchmark: direct differences vs :func:`wgf_core.kernels.pairwise_distances`.

Every kernel sum starts from the ``N x M`` distances. ``torch.cdist`` on the differences
(``donot_use_mm_for_euclid_dist``) is exact at coincident points but costs ``O(N M d)`` scalar
work; above 16 dimensions ``pairwise_distances`` uses one matrix product and recomputes only the
pairs the expansion cannot resolve. Sizes: the MNIST experiment of the Riesz notebooks (25 x 100
in 784-D, half of the pairs coincident-free, plus a coincident block), a 2000 x 2000 cloud in
784-D and 100-D (the IFT 100-D mixture), and 2-D (where both are the same code path).

    python benchmarks/bench_distances.py [--repeats 20] [--threads T]

Prints a table (time per call, speed-up, largest relative difference) and one JSON line.
Timings on a shared machine vary; compare within one run.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from wgf_core.kernels import pairwise_distances
from wgf_core.random import stream

CASES = [(784, 25, 100), (784, 2000, 2000), (100, 2000, 2000), (2, 2000, 2000)]


def _time(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"pairwise distances, float32, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}")
    print(f"{'d':>5} {'N':>6} {'M':>6} | {'direct (ms)':>11} | {'ours (ms)':>9} | {'speed-up':>8} | {'max rel diff':>12}")
    rows = []
    for d, n, m in CASES:
        g = stream(0, f"bench/distances/d{d}-n{n}")
        x = torch.rand(n, d, generator=g)
        y = torch.rand(m, d, generator=g)
        y[: n // 5] = x[: n // 5]  # some coincident pairs (exact zeros required)
        direct = lambda: torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")  # noqa: E731
        ours = lambda: pairwise_distances(x, y)  # noqa: E731
        ref, out = direct(), ours()
        assert torch.equal(ref == 0, out == 0), "coincident points must give exactly 0"
        rel = float(((out - ref).abs() / ref.clamp_min(1e-30))[ref > 0].max())
        td, to = _time(direct, args.repeats), _time(ours, args.repeats)
        rows.append(dict(d=d, n=n, m=m, direct_s=td, ours_s=to, speedup=td / to, max_rel_diff=rel))
        print(f"{d:5d} {n:6d} {m:6d} | {td * 1e3:11.3f} | {to * 1e3:9.3f} | {td / to:8.1f} | {rel:12.1e}")
    print(json.dumps({"threads": torch.get_num_threads(), "rows": rows}))


if __name__ == "__main__":
    main()
