"""The ``wgf`` runner (Dask) against its alternatives: speed-up on 2 workers, overhead per run.

1. A 12-run sweep (``ift/gaussian_2d`` at ``ci``: sigma in {1, 5, 10} x tau in {10, 50} x seeds
   0-1) on a LocalCluster of 1 worker, then of 2 workers: wall-clock times and the speed-up.
2. The runner's overhead per run: ``--runs`` executions of the fast fixture notebook
   (tests/data/cli_notebooks/fast/sum.ipynb) by bare ``papermill.execute_notebook`` calls in
   this process, then by the runner on 1 worker; the difference per run, and the cluster's start.

Usage: ``python benchmarks/bench_runner.py [--runs 6] [--skip-sweep]``. On a shared machine the
times are inflated by concurrent jobs: the load average is printed with each result.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wgf_core.cli import runner as R  # noqa: E402
from wgf_core.cli.catalog import catalog, resolve  # noqa: E402
from wgf_core.cli.sweep import grid, plan  # noqa: E402

FAST = ROOT / "tests" / "data" / "cli_notebooks"


def _load() -> str:
    return "load %.1f" % os.getloadavg()[0]


def timed_runs(specs, jobs: int) -> tuple[float, float, int]:
    """(wall seconds in all, of which the cluster's start, failed runs) for ``specs`` on ``jobs`` workers."""
    t0 = time.perf_counter()
    with R.Runner(jobs=jobs) as runner:
        start = time.perf_counter() - t0
        failed = sum(state["status"] != "ok" for _, state in runner.run(specs))
    return time.perf_counter() - t0, start, failed


def sweep_speedup(out: Path) -> None:
    exp = resolve("ift/gaussian_2d", catalog(ROOT / "notebooks"))
    sets = grid({"profile": ["ci"], "sigma": [1, 5, 10], "tau": [10, 50]})
    walls = {}
    for jobs in (1, 2):
        todo, _ = plan(exp, sets, [0, 1], out / f"jobs{jobs}", force=True)
        wall, start, failed = timed_runs(todo, jobs)
        walls[jobs] = wall
        print(f"sweep of {len(todo)} runs (ift/gaussian_2d, ci) on {jobs} worker(s): {wall:.1f} s "
              f"(cluster start {start:.1f} s, {failed} failed; {_load()})", flush=True)
    print(f"speed-up 2 workers vs 1: {walls[1] / walls[2]:.2f}x", flush=True)


def overhead(out: Path, runs: int) -> None:
    import papermill

    exp = resolve("fast/plain", catalog(FAST))
    params = {**exp.fixed, "profile": "ci", "device": "cpu"}
    papermill.execute_notebook(str(exp.source), str(out / "warm.ipynb"), parameters=dict(params, seed=0),
                               cwd=str(exp.source.parent), kernel_name="python3", progress_bar=False, log_output=False)
    t0 = time.perf_counter()
    for k in range(runs):
        papermill.execute_notebook(str(exp.source), str(out / f"bare{k}.ipynb"), parameters=dict(params, seed=k),
                                   cwd=str(exp.source.parent), kernel_name="python3", progress_bar=False,
                                   log_output=False)
    bare = (time.perf_counter() - t0) / runs
    print(f"bare papermill.execute_notebook: {bare:.2f} s per run ({runs} runs of fast/plain; {_load()})", flush=True)
    todo, _ = plan(exp, [{"profile": "ci", "device": "cpu"}], list(range(runs)), out / "runner", force=True)
    wall, start, _ = timed_runs(todo, 1)
    per = (wall - start) / runs
    print(f"runner on 1 worker: {per:.2f} s per run after a cluster start of {start:.1f} s; "
          f"overhead {per - bare:+.2f} s per run ({_load()})", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=6, help="runs of the fast notebook per side (overhead)")
    ap.add_argument("--skip-sweep", action="store_true", help="only the overhead")
    args = ap.parse_args(argv)
    os.environ.setdefault("WGF_NO_PROGRESS", "1")
    out = Path(tempfile.mkdtemp(prefix="bench_runner_"))
    try:
        overhead(out, args.runs)
        if not args.skip_sweep:
            sweep_speedup(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
