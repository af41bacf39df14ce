"""MMD-regularised f-divergence flow benchmark (Stein et al. 2024, issue 3), timed against a
straightforward implementation **in the same run**.

Reference configuration (the authors' code's defaults, as issue 3 fixed them): bananas target,
Tsallis alpha = 2, lambda = 0.01, inverse multiquadric kernel with s = 0.1, step 0.01, 1000
iterations, N = M = 300 (and N = M = 3000 for the large case).

The straightforward implementation (:func:`straightforward_flow`) does per iteration what the
reference code's default path does: dense NumPy Gram matrices, the primal in the weights q on the
target atoms solved by SciPy's L-BFGS-B (bounds q >= 0, warm-started, SciPy's default stopping
rule, no duality gap), the witness gradient in NumPy, one explicit Euler step. It is timed here for
``--baseline-steps`` iterations of the same plain Euler flow as ours, from the same particles; the
printed ratio (its seconds per iteration over ours) is the speed comparison of this project (a
project check, not a claim of the paper; the notebooks make no timing claim). The largest particle
distance between the two after one iteration from the same particles shows they solve the same
problem.

    python benchmarks/bench_mmd_fdiv.py [--sizes 300 3000] [--steps 1000] [--baseline-steps 20]
        [--step-sizes 0.01 0.005] [--error-tol 3e-3] [--threads 2] [--device cpu]

Step size: our particle step is x <- x - tau grad h* (book/conventions.md). With tau = 0.01
plain explicit Euler flings particles out of the concentrated prior and MMD^2 stalls on a plateau;
tau = 0.005 converges; the third run keeps tau = 0.01 with the step control (``error_tol``:
adaptive Euler substeps within each step; the time per iteration includes them). Timings on a
shared machine are inflated by concurrent jobs: the load average is printed with each result,
and both implementations are timed back to back under the same load.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from wgf_core.experiments.mmd_fdiv import run_flow
from wgf_core.targets import target_and_prior


def straightforward_flow(x0: np.ndarray, y: np.ndarray, *, s: float = 0.1, lambd: float = 0.01,
                         step_size: float = 0.01, n_steps: int = 20):
    """Plain explicit Euler for the Tsallis-2 envelope flow with the imq kernel, NumPy + SciPy.

    Returns ``(x, seconds_per_iteration)``. The primal
    :math:`P(q) = \\frac1M\\sum_j (Mq_j - 1)^2 + \\frac1{2\\lambda}(q^\\top K_{yy} q - 2 q^\\top b + c_0)`,
    :math:`b = K_{yx} 1/N`, is minimised over :math:`q \\ge 0` by L-BFGS-B; the particles move by
    :math:`-\\tau\\nabla h^*`, :math:`h^* = (m_\\mu - \\sum_j q_j k(y_j, \\cdot))/\\lambda`.
    """
    from scipy.optimize import minimize

    def imq(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return (s + d2) ** -0.5, d2

    x = np.array(x0, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    N, M = len(x), len(y)
    Kyy, _ = imq(y, y)
    q = np.full(M, 1.0 / M)
    t0 = time.perf_counter()
    for _ in range(n_steps):
        Kyx, _ = imq(y, x)
        b = Kyx.mean(1)

        def fun(q):
            Kq = Kyy @ q
            val = ((M * q - 1) ** 2).sum() / M + (q @ Kq - 2 * q @ b) / (2 * lambd)
            grad = 2 * (M * q - 1) + (Kq - b) / lambd
            return val, grad

        q = minimize(fun, q, jac=True, method="L-BFGS-B", bounds=[(0, None)] * M).x
        # grad_x k(x, z) = -(x - z) (s + |x - z|^2)^(-3/2)
        diff_x = x[:, None, :] - x[None, :, :]
        diff_y = x[:, None, :] - y[None, :, :]
        cx = (s + (diff_x**2).sum(-1)) ** -1.5
        cy = (s + (diff_y**2).sum(-1)) ** -1.5
        grad = (-(cx[..., None] * diff_x).sum(1) / N + ((cy * q[None, :])[..., None] * diff_y).sum(1)) / lambd
        x = x - step_size * grad
    return x, (time.perf_counter() - t0) / n_steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[300, 3000])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--steps-large", type=int, default=50, help="steps for sizes > 1000")
    ap.add_argument("--baseline-steps", type=int, default=20, help="iterations of the straightforward implementation")
    ap.add_argument("--step-sizes", type=float, nargs="+", default=[0.01, 0.005])
    ap.add_argument("--error-tol", type=float, default=3e-3, help="step control run at the first step size (0: none)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {a.threads}, device {a.device}")
    cfg = dict(kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.01)
    for n in a.sizes:
        x0, y = target_and_prior("bananas", n, n, 0, device=a.device, dtype=torch.float64)
        # same run, same load: the straightforward implementation and ours, plain Euler at the first step size
        tau = a.step_sizes[0]
        load0 = os.getloadavg()[0]
        xb, sb = straightforward_flow(x0.cpu().numpy(), y.cpu().numpy(), s=0.1, lambd=0.01, step_size=tau,
                                      n_steps=a.baseline_steps)
        ours = run_flow(x0, y, **cfg, step_size=tau, n_steps=a.baseline_steps, log_every=a.baseline_steps,
                        show_progress=False)
        load1 = os.getloadavg()[0]
        # same problem: one iteration of each from the same particles (plain Euler at tau = 0.01 is
        # chaotic here, so later iterates amplify the solvers' stopping differences)
        x1, _ = straightforward_flow(x0.cpu().numpy(), y.cpu().numpy(), s=0.1, lambd=0.01, step_size=tau, n_steps=1)
        o1 = run_flow(x0, y, **cfg, step_size=tau, n_steps=1, tol=1e-8, max_inner=100000, show_progress=False)
        step1 = float(np.abs(x1 - x0.cpu().numpy()).max())
        dist = float(np.abs(o1.x[0].cpu().numpy() - x1).max())
        so = ours.seconds / a.baseline_steps
        print(f"N=M={n}, step {tau:g}, {a.baseline_steps} plain Euler iterations: straightforward (L-BFGS-B, NumPy) "
              f"{sb * 1e3:.1f} ms/iteration, ours {so * 1e3:.1f} ms/iteration: {sb / so:.1f}x faster; after one "
              f"iteration the particles differ by at most {dist:.1e} (step length up to {step1:.2g}); "
              f"load average {load0:.1f} -> {load1:.1f}", flush=True)
        runs = [(t, None) for t in a.step_sizes] + ([(a.step_sizes[0], a.error_tol)] if a.error_tol > 0 else [])
        for tau, etol in runs:
            steps = a.steps if n <= 1000 else a.steps_large
            load0 = os.getloadavg()[0]
            r = run_flow(x0, y, **cfg, step_size=tau, n_steps=steps, log_every=10, show_progress=False, error_tol=etol)
            mmd2, sub = r.metrics["mmd2"][0], r.extra["substeps"]
            load1 = os.getloadavg()[0]
            scheme = ("plain Euler" if etol is None else
                      f"step control {etol:g}, {sub.mean():.2f} substeps/it, {r.extra['rejected']} rejected")
            print(f"N=M={n}, step {tau:g} ({scheme}): {steps} steps, {r.seconds_per_step * 1e3:.1f} ms/iteration, "
                  f"inner iterations mean {r.extra['total_inner'] / (steps + 1):.1f} (total {r.extra['total_inner']}), max "
                  f"relative gap {r.metrics['gap'].max():.1e}, MMD^2 {mmd2[0]:.3e} -> {mmd2[-1]:.3e} ({mmd2[0] / mmd2[-1]:.0f}x), "
                  f"load average {load0:.1f} -> {load1:.1f}", flush=True)


if __name__ == "__main__":
    main()
