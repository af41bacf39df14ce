"""Kernel-sum benchmark: dense vs blocked (vs KeOps if installed), time and peak memory.

Computes ``sum_j w_j k(x_i, y_j)`` and ``sum_j w_j grad_1 k(x_i, y_j)`` (Gaussian kernel,
2-D, float32) for N = M = 10^3, 10^4, 10^5. Each measurement runs in a fresh subprocess so
that its peak resident memory (``ru_maxrss``) is its own; the table shows the peak above the
process's baseline after loading torch and the data.

    python benchmarks/bench_kernel_sums.py [--sizes 1000 10000 100000] [--repeats 3]

"dense" is one ``N x M`` block (the whole matrix at once); it is skipped where the matrices
would not fit in a budget of a third of this machine's memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, torch
from wgf_core.kernels import get_kernel, kernel_sum, kernel_grad_sum
method, n, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
g = torch.Generator().manual_seed(0)
x = torch.randn(n, 2, generator=g); y = torch.randn(n, 2, generator=g); w = torch.full((n,), 1.0 / n)
k = get_kernel("gauss", 1.0)
kw = {"block_size": n} if method == "dense" else ({"backend": "keops"} if method == "keops" else {})
def run():
    kernel_sum(k, x, y, w, **kw); kernel_grad_sum(k, x, y, w, **kw)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
run()  # warm-up (KeOps compiles here)
times = []
for _ in range(repeats):
    t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"time": min(times), "peak_mib": (peak - base) / 1024.0}))
"""


def _measure(method: str, n: int, repeats: int):
    out = subprocess.run(
        [sys.executable, "-c", CHILD, method, str(n), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    try:
        import pykeops  # noqa: F401

        methods = ["dense", "blocked", "keops"]
    except ImportError:
        methods = ["dense", "blocked"]
    mem_total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    print(f"# kernel sums + gradient sums, gauss, d=2, float32; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch threads default")
    print(f"{'N=M':>8} | " + " | ".join(f"{m + ' s':>11} {m + ' MiB':>12}" for m in methods))
    for n in args.sizes:
        row = []
        for m in methods:
            # dense: a few N x M float32 temporaries (distances, coefficients, values)
            if m == "dense" and 4 * n * n * 4 > mem_total / 3:
                row.append(f"{'—':>11} {'(too big)':>12}")
                continue
            r = _measure(m, n, args.repeats)
            row.append(f"{r['time']:>11.4f} {r['peak_mib']:>12.0f}")
        print(f"{n:>8} | " + " | ".join(row), flush=True)
    print("MiB: peak resident memory above the baseline after loading torch and the data (the method's temporaries)")


if __name__ == "__main__":
    main()
