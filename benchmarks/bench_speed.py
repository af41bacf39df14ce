"""Speed benchmarks in one command: kernel sums, and one step of each accelerated scheme against today's path.

Runs, each in its own process (so thread settings and compile caches do not leak between them):

1. ``bench_kernel_sums.py``: kernel sums (backends x N x threads: Gpair/s, peak extra memory, float32
   error, ratio to the blocked torch path kept inside that script);
2. ``bench_ift.py --single``: one IFT iteration (2-D, n = 100, one run), generic path against the fused
   iteration (``IFT(backend="numba")``);
3. ``bench_variational.py --refit``: one JKO step of the OU notebook's ``default`` configuration, the
   closed-form refit of the Gaussian reference against push + fit (the previous implementation, kept there);
4. ``bench_neural.py``: one step of the Riesz neural backward and forward schemes at the paper's
   interaction-energy configuration (5000 network iterations): the default (compiled) path against the
   generic torch path and the previous (autograd) one, interleaved;
5. ``bench_riesz.py``: one Riesz particle-flow step (N = M = 6000), blocked torch against the other backends.

Prints each table, then writes every number, the machine and the date to ``--out`` (default
``benchmarks/results/speed.json``, written atomically). ``make book`` renders that file as the book's
"Speed" page when it is present.

    python benchmarks/bench_speed.py [--quick] [--out benchmarks/results/speed.json]

``--quick``: smaller sizes (N = 10^4 kernel sums, 1000 network iterations, one Riesz size of 3000), a few
minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _run(script: str, args: list, json_path: Path) -> dict:
    """Run ``benchmarks/<script> args --json json_path``, echo its output, return its JSON (or an error)."""
    cmd = [sys.executable, str(HERE / script), *map(str, args), "--json", str(json_path)]
    print(f"\n$ {' '.join(cmd[1:])}", flush=True)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    print(proc.stdout, end="", flush=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        print(f"FAILED ({proc.returncode}): {tail[0]}", flush=True)
        return {"error": tail[0]}
    out = json.loads(json_path.read_text())
    out["seconds"] = round(time.perf_counter() - t, 1)
    out["stdout"] = proc.stdout
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "speed.json")
    args = ap.parse_args(argv)
    results = {"machine": {"cpu": _cpu(), "cores": os.cpu_count(), "python": platform.python_version()},
               "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick}
    try:
        import torch

        results["machine"]["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sizes = ["--sizes", "10000"] if args.quick else []
        results["kernel_sums"] = _run("bench_kernel_sums.py", sizes, tmp / "k.json")
        results["ift"] = _run("bench_ift.py", ["--single"], tmp / "i.json")
        results["variational_refit"] = _run("bench_variational.py", ["--refit", "--dims", "2", "12", "--repeats", "2"],
                                            tmp / "v.json")
        results["neural"] = _run("bench_neural.py", ["--iters", "1000" if args.quick else "5000"], tmp / "n.json")
        results["riesz"] = _run("bench_riesz.py", ["--threads", "2", "--repeats", "3", "--n",
                                                   "3000" if args.quick else "6000"], tmp / "r.json")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    part = args.out.with_name(args.out.name + ".part")
    part.write_text(json.dumps(results, indent=1) + "\n")
    part.replace(args.out)
    print(f"\nwritten: {args.out}")
    return 0 if not any("error" in v for v in results.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
