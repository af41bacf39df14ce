"""Particle-flow step time for the Max und Moritz experiment sizes: dense vs blocked (vs KeOps).

One explicit Euler step of the Riesz (r = 1) MMD particle flow
(:class:`wgf_core.schemes.RieszEuler` on :func:`wgf_core.flows.riesz.riesz_mmd_energy`): the one-sided gradient
``sum_j grad_1 K(x_i, x_j) / N - sum_j grad_1 K(x_i, y_j) / M`` for N = M = 6000 points in 2-D
(float32), the sizes of Altekrüger, Hertrich, Steidl (ICML 2023), section 6.2. All back-ends are
measured in one run of this script:

* ``dense``   -- torch, one N x M block (``block_size=N``);
* ``blocked`` -- torch, the default row blocks of :func:`wgf_core.kernels.kernel_grad_sum`
  (and ``--block`` rows, default 512);
* ``numba (default)`` -- ``backend="auto"``, the default of :func:`~wgf_core.flows.riesz.riesz_mmd_energy`
  when numba is installed: the fused kernel sums of :mod:`wgf_core.backends.numba_sums` (compiled, or loaded
  from the disk cache, in the warm-up step);
* ``keops``   -- ``backend="keops"`` when pykeops is installed (compiled in a warm-up step).

The last column is the speed-up against ``blocked (auto)``, the default path before numba.

    python benchmarks/bench_riesz.py [--n 6000] [--repeats 5] [--block 512] [--threads T]

Prints a table and one JSON line. Timings on a shared machine vary; compare within one run.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from wgf_core.energies import MMD
from wgf_core.flows.riesz import riesz_mmd_energy
from wgf_core.measures import Particles
from wgf_core.random import stream
from wgf_core.schemes import RieszEuler


def _time_step(energy: MMD, x: torch.Tensor, repeats: int, tau: float = 0.5) -> float:
    scheme, mu = RieszEuler(), Particles.of(x)
    scheme.step(energy, mu, tau, 1)  # warm-up (KeOps compiles here)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        scheme.step(energy, mu, tau, 1)
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--json", default=None, help="also write the JSON line to this file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    g = stream(0, "benchmarks/bench_riesz/points")
    x = torch.rand(args.n, 2, generator=g) - 0.5  # particles mid-flow
    y = torch.rand(args.n, 2, generator=g) - 0.5  # stands in for the drawing's samples (same cost)
    # "blocked (auto)", the torch path before numba became the default, is the reference of the ratios
    configs = {"dense": dict(block_size=args.n, backend="torch"), "blocked (auto)": dict(backend="torch"),
               f"blocked ({args.block})": dict(block_size=args.block, backend="torch")}
    try:
        import numba  # noqa: F401

        configs["numba (default)"] = dict(backend="auto")
    except ImportError:
        pass
    try:
        import pykeops  # noqa: F401

        configs["keops"] = dict(backend="keops")
    except ImportError:
        pass
    rows = {}
    ref = None
    for name, kw in configs.items():
        energy = riesz_mmd_energy(y, 1.0, **kw)
        try:
            rows[name] = _time_step(energy, x, args.repeats)
            g_ = energy.gradient(Particles.of(x))[0]
            ref = g_ if ref is None else ref
            rows[name + " max|diff|"] = float((g_ - ref).abs().max())
        except Exception as e:  # e.g. KeOps without a working compiler
            rows[name] = f"failed: {e.__class__.__name__}: {str(e).splitlines()[0][:120]}"
    print(f"Riesz particle-flow step, N = M = {args.n}, d = 2, float32, threads = {torch.get_num_threads()}, "
          f"{platform.processor() or platform.machine()}")
    for name in configs:
        v = rows[name]
        if isinstance(v, float):
            base = rows.get("blocked (auto)")
            ratio = f"{base / v:6.2f}x" if isinstance(base, float) else ""
            print(f"  {name:16s} {1000 * v:9.1f} ms/step   (max |grad - dense| = {rows[name + ' max|diff|']:.1e}) {ratio}")
        else:
            print(f"  {name:16s} {v}")
    line = json.dumps({"n": args.n, "threads": torch.get_num_threads(), "seconds_per_step": {
        k: v for k, v in rows.items() if "diff" not in k}, "max_diff": {
        k[: -len(" max|diff|")]: v for k, v in rows.items() if "diff" in k}})
    print(line)
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
