"""IFT benchmark: per-step time of the batched multi-run flows vs a Python loop over runs.

The 2-D Gaussian experiment of Gladin et al. (NeurIPS 2024): n = 100 particles, Gaussian kernel
exp(-|x-y|^2/200), tau = 50, eta = 0.1. "batched" advances all runs as one ``(runs, n, 2)`` tensor
(what ``wgf_core.flows.ift.run_experiment`` does); "loop" advances each run on its own, one after
the other, for the same number of steps. Steps count as in the paper's plots (one IFT iteration =
2 steps), so "ms/step" is comparable between methods.

    python benchmarks/bench_ift.py [--runs 50] [--n 100] [--steps 400] [--device cpu] [--dtype float64]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from wgf_core import gaussian_targets
from wgf_core.energies import MMD
from wgf_core.flows import ift
from wgf_core.random import make_generator, run_generators
from wgf_core.runner import run
from wgf_core.validation import check_device, check_dtype


def _time_flow(scheme, kernel, x0, y, steps, gen, device):
    """(wall seconds, process CPU seconds) of ``steps`` steps of the one runner."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    t, c = time.perf_counter(), time.process_time()
    run(MMD(kernel, y, 0.5), scheme, x0, 50.0, steps, log={"mmd2": ift.mmd2_logger(y)}, log_every=steps,
        generator=gen, show_progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t, time.process_time() - c


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--methods", nargs="+", default=["mmd", "mmd_noise", "ift", "wfr"])
    args = ap.parse_args(argv)
    dev, dtype = check_device(args.device), check_dtype(args.dtype)

    init = gaussian_targets.gaussian_2d_init(device=dev, dtype=dtype)
    target = gaussian_targets.gaussian_2d_target(device=dev, dtype=dtype)
    gens = run_generators(0, args.runs, dev)
    x0 = torch.stack([init.sample(args.n, g) for g in gens])
    y = torch.stack([target.sample(args.n, g) for g in gens])
    energy = ift.Convention().kernel(10.0)

    print(f"# IFT per-step time: {args.runs} runs, n = {args.n}, d = 2, {args.steps} steps, {dtype}, "
          f"device {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}", flush=True)
    print("# wall ms/step (CPU ms/step in brackets: on a shared machine the CPU time is the fairer number)")
    print(f"{'method':28s} {'batched ms/step':>20s} {'loop ms/step':>20s} {'speed-up':>9s} {'6000 steps batched':>19s}")
    for method in args.methods:
        scheme = ift.make_scheme(method, eta=0.1, noise=10.0, noise_off=args.steps // 2)
        # warm-up (allocator, kernels)
        _time_flow(scheme, energy, x0, y, 4, make_generator(1, dev), dev)
        tb, cb = _time_flow(scheme, energy, x0, y, args.steps, make_generator(1, dev), dev)
        loop = [_time_flow(scheme, energy, x0[r:r + 1], y[r:r + 1], args.steps, make_generator(1, dev), dev)
                for r in range(args.runs)]
        tl, cl = sum(t for t, _ in loop), sum(c for _, c in loop)
        k = 1e3 / args.steps
        print(f"{ift.METHOD_LABELS[method]:28s} {k * tb:10.2f} ({k * cb:7.2f}) {k * tl:10.2f} ({k * cl:7.2f}) "
              f"{tl / tb:8.1f}x {6 * k * tb:17.1f} s", flush=True)


if __name__ == "__main__":
    main()
