"""MMD-regularised f-divergence flow benchmark (Stein et al. 2024, issue 3).

Reference configuration: bananas target, Tsallis alpha = 2, N = M = 300, lambda = 0.01, imq
kernel with s = 0.1, 1000 iterations (the reference code needs 0.077 s per iteration on the
project's 2-core CPU). Prints our time per iteration, the inner (FISTA) iterations per step, the
largest relative duality gap and the MMD^2 decrease, for N = M = 300 and N = M = 3000.

    python benchmarks/bench_mmd_fdiv.py [--sizes 300 3000] [--steps 1000] [--step-sizes 0.01 0.005]
        [--error-tol 3e-3] [--threads 2] [--device cpu]

Step size: our particle step is x <- x - tau grad h* (book/conventions.md; so is the current
reference code's, earlier versions moved by tau (1 + lambda) grad h*). With the reference's
tau = 0.01 plain explicit Euler flings particles out of the concentrated prior and the MMD^2
stalls on a plateau (about 8x below its start); tau = 0.005 converges. The third run keeps
tau = 0.01 with the step control (``error_tol``: adaptive Euler substeps within each step, the
time per iteration includes them). Timings on a shared machine are inflated by concurrent jobs:
the load average is printed with each result.
"""

from __future__ import annotations

import argparse
import os
import platform

import torch

from wgf_core.flows.mmd_fdiv import run_mmd_fdiv_flow
from wgf_core.targets import target_and_prior


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[300, 3000])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--steps-large", type=int, default=50, help="steps for sizes > 1000")
    ap.add_argument("--step-sizes", type=float, nargs="+", default=[0.01, 0.005])
    ap.add_argument("--error-tol", type=float, default=3e-3, help="step control run at the first step size (0: none)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {a.threads}, device {a.device}")
    runs = [(tau, None) for tau in a.step_sizes] + ([(a.step_sizes[0], a.error_tol)] if a.error_tol > 0 else [])
    for n, (tau, etol) in ((n, run) for n in a.sizes for run in runs):
        steps = a.steps if n <= 1000 else a.steps_large
        x0, y = target_and_prior("bananas", n, n, 0, device=a.device, dtype=torch.float64)
        load0 = os.getloadavg()[0]
        r = run_mmd_fdiv_flow(x0, y, kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.01,
                              step_size=tau, n_steps=steps, log_every=10, show_progress=False, error_tol=etol)
        load1 = os.getloadavg()[0]
        scheme = "plain Euler" if etol is None else f"step control {etol:g}, {r.substeps.mean():.2f} substeps/it, {r.rejected} rejected"
        print(f"N=M={n}, step {tau:g} ({scheme}): {steps} steps, {r.seconds_per_step * 1e3:.1f} ms/iteration "
              f"(reference 77 ms at N=M=300), inner iterations mean {r.total_inner / (steps + 1):.1f} "
              f"(total {r.total_inner}), max relative gap {r.gap.max():.1e}, "
              f"MMD^2 {r.mmd2[0]:.3e} -> {r.mmd2[-1]:.3e} ({r.mmd2[0] / r.mmd2[-1]:.0f}x), "
              f"load average {load0:.1f} -> {load1:.1f}", flush=True)


if __name__ == "__main__":
    main()
