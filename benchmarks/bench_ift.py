"""IFT benchmark: per-step time of the batched multi-run flows vs a Python loop over runs.

The 2-D Gaussian experiment of Gladin et al. (NeurIPS 2024): n = 100 particles, Gaussian kernel
exp(-|x-y|^2/200), tau = 50, eta = 0.1. "batched" advances all runs as one ``(runs, n, 2)`` tensor
(what ``wgf_core.flows.ift.run_experiment`` does); "loop" advances each run on its own, one after
the other, for the same number of steps. Steps count as in the paper's plots (one IFT iteration =
2 steps), so "ms/step" is comparable between methods.

    python benchmarks/bench_ift.py [--runs 50] [--n 100] [--steps 400] [--device cpu] [--dtype float64]
    python benchmarks/bench_ift.py --single [--n 100] [--steps 2000]

``--single``: one run (the issue's unit: one IFT iteration, 2-D, n = 100, one thread), the generic
path (``IFT(backend="torch")``, today's implementation and the book's) against the fused iteration
(``IFT(backend="numba")``, :func:`wgf_core.backends.numba_ift.ift_pgd_gauss`), interleaved three times; prints
ms per iteration (the runner included, logging at the end only), the ratio, the largest difference of
the final positions and weights, and the first call's compile time.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from wgf_core import gaussian_targets
from wgf_core.energies import MMD
from wgf_core.flows import ift
from wgf_core.random import stream, streams
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


def single(n: int, steps: int, dtype, json_path=None) -> None:
    """The ``--single`` table (see the module docstring); its numbers also as JSON to ``json_path``."""
    from wgf_core.schemes import IFT

    torch.set_num_threads(1)
    init, target = gaussian_targets.gaussian_2d_init(dtype=dtype), gaussian_targets.gaussian_2d_target(dtype=dtype)
    g = stream(0, "bench/ift/single/sample")
    x0, y = init.sample(n, g)[None], target.sample(n, g)[None]
    conv = ift.Convention()
    energy = MMD(conv.kernel(10.0), y, conv.energy_scale)

    def once(backend):
        t = time.perf_counter()
        tr = run(energy, IFT(0.1, backend=backend), x0, conv.step(50.0, n), steps, log_every=steps, show_progress=False)
        return (time.perf_counter() - t) / (steps // 2), tr

    t = time.perf_counter()
    once("numba")
    first = time.perf_counter() - t
    res = {"torch": [], "numba": []}
    for _ in range(3):
        for b in res:
            res[b].append(once(b))
    best = {b: min(s for s, _ in v) for b, v in res.items()}
    a, f = res["torch"][0][1], res["numba"][0][1]
    print(f"# one IFT run: n = {n}, d = 2, {steps} steps ({steps // 2} iterations), {dtype}, 1 thread, "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}")
    print(f"{'path':44s} {'ms / iteration':>15s}")
    print(f"{'generic, IFT(backend=torch) (today)':44s} {1e3 * best['torch']:15.3f}")
    print(f"{'fused, IFT(backend=numba)':44s} {1e3 * best['numba']:15.3f}")
    print(f"speed-up {best['torch'] / best['numba']:.2f}x; largest difference of the final positions "
          f"{float((a.x - f.x).abs().max()):.1e}, weights {float((a.w - f.w).abs().max()):.1e}; first fused run "
          f"(compile or load from cache) {first:.1f} s")
    if json_path:
        import json

        with open(json_path, "w") as fh:
            json.dump({"n": n, "steps": steps, "dtype": str(dtype), "ms_per_iteration_torch": 1e3 * best["torch"],
                       "ms_per_iteration_numba": 1e3 * best["numba"], "speedup": best["torch"] / best["numba"],
                       "max_dx": float((a.x - f.x).abs().max()), "max_dw": float((a.w - f.w).abs().max()),
                       "first_call_s": first}, fh, indent=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--methods", nargs="+", default=["mmd", "mmd_noise", "ift", "wfr"])
    ap.add_argument("--single", action="store_true", help="one run: generic against fused iteration")
    ap.add_argument("--json", default=None, help="--single: also write the numbers as JSON here")
    args = ap.parse_args(argv)
    dev, dtype = check_device(args.device), check_dtype(args.dtype)
    if args.single:
        single(args.n, args.steps if args.steps != 400 else 2000, dtype, args.json)
        return

    init = gaussian_targets.gaussian_2d_init(device=dev, dtype=dtype)
    target = gaussian_targets.gaussian_2d_target(device=dev, dtype=dtype)
    gens = streams(0, "bench/ift/sample", range(args.runs), dev)
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
        _time_flow(scheme, energy, x0, y, 4, stream(0, "bench/ift/noise", 0, dev), dev)
        tb, cb = _time_flow(scheme, energy, x0, y, args.steps, stream(0, "bench/ift/noise", 0, dev), dev)
        loop = [_time_flow(scheme, energy, x0[r:r + 1], y[r:r + 1], args.steps, stream(0, "bench/ift/noise", 0, dev),
                           dev) for r in range(args.runs)]
        tl, cl = sum(t for t, _ in loop), sum(c for _, c in loop)
        k = 1e3 / args.steps
        print(f"{ift.METHOD_LABELS[method]:28s} {k * tb:10.2f} ({k * cb:7.2f}) {k * tl:10.2f} ({k * cl:7.2f}) "
              f"{tl / tb:8.1f}x {6 * k * tb:17.1f} s", flush=True)


if __name__ == "__main__":
    main()
