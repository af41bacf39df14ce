"""Variational JKO benchmark: wall time of one JKO step versus dimension d (one run).

Fan et al. (ICML 2022, Sec. 4.2 / Fig. 3) claim the training time per JKO step does not depend on d
(the map T and the dual h have fixed sizes; no Hessian log-determinants are needed). This script
times one primal-dual JKO step for the Ornstein-Uhlenbeck problem (KL to a Gaussian target, affine
residual map, dual MLP 64 x 3) at d = 2, 4, 8, 16, 32 in a single process, with the paper's batch
M = 1000 and J2 = 3 but J1 = 100 map iterations by default (the paper uses 500; time scales linearly).

    python benchmarks/bench_variational.py [--dims 2 4 8 16 32] [--outer 100] [--batch 1000] [--device cpu] [--json out.json]
    python benchmarks/bench_variational.py --refit [--dims 2 12] [--repeats 3]
    python benchmarks/bench_variational.py --gemm-floor [--dims 2]

Each dimension runs a warm-up step, then ``--repeats`` timed steps; the table shows the median.

``--refit`` times one step of the OU notebook's ``default`` configuration (``reference="pushed"``: the
Gaussian reference refitted at every map iteration; affine map 64 x 2, dual 64 x 3, J1 = 40, J2 = 2,
M = 1000, a carried pool of 10^6) with today's closed-form refit of an affine map
(:meth:`KLDivergence.affine_reference`), one multi-right-hand-side solve in the reference's log density and
:class:`wgf_core.optim.Adam`, against the previous implementation, kept here as :class:`PushedFitKL` and
:class:`TorchAdamJKO`: push the ``REFIT_POINTS`` subsample through the map and fit it, at every map iteration,
solve one triangular system per point, and step with ``torch.optim.Adam``. Both runs use the same seed, so
they train on the same draws.

``--gemm-floor`` records every matrix product (``mm``, ``addmm``, ``bmm``) one JKO step of that configuration calls
(a ``TorchDispatchMode``), then times exactly those calls alone, on inputs of the same shapes and strides: the
time no implementation that keeps torch's (MKL's) matrix products can go below. It prints it beside the step time
of today's and of the previous implementation, and the best ratio a step could reach if everything but the matrix
products took no time.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time

import torch

from wgf_core import pde
from wgf_core.energies.variational import GaussianReference, KLDivergence
from wgf_core.metrics import fit_gaussian
from wgf_core.random import stream
from wgf_core.schemes.variational import DualConfig, MapConfig, PoolConfig, TrainConfig, VariationalJKO
from wgf_core.validation import check_device


class TorchAdamJKO(VariationalJKO):
    """The previous training loop (the reference of ``--refit``): ``torch.optim.Adam(foreach=True)``, the same updates,
    bit for bit, as today's :class:`wgf_core.optim.Adam`, with more Python per step, and each batch pushed twice
    (``reuse_pushed_batch = False``)."""

    reuse_pushed_batch = False

    @staticmethod
    def optimizer(params, lr):
        return torch.optim.Adam(params, lr=lr, foreach=True)


def ou_scheme(d: int, device, map_depth: int, train: TrainConfig, pool: PoolConfig, cls=VariationalJKO,
              autograd: bool = False):
    """``(log_q, scheme)``: the OU problem of dimension ``d`` (the stream ``(0, "bench/variational/problem", d)``) and
    a variational JKO (``cls``, the stream ``(0, "bench/variational/flow", d)``, ``autograd``) with an affine map
    (width 64, ``map_depth``) and a 64 x 3 dual."""
    g = stream(0, "bench/variational/flow", d, device)
    A, b = pde.random_ou_problem(d, stream(0, "bench/variational/problem", d))
    A32, b32 = A.float().to(device), b.float().to(device)
    log_q = lambda x: -0.5 * (((x - b32) @ A32) * (x - b32)).sum(-1)
    return log_q, cls(d, lambda n, gen: torch.randn(n, d, generator=gen, device=device),
                                 map=MapConfig("linear", 64, map_depth), dual=DualConfig(64, 3), train=train,
                                 pool=pool, device=device, generator=g, autograd=autograd)


def median_step_time(scheme: VariationalJKO, energy, repeats: int) -> float:
    """Median wall seconds of the JKO steps 1..repeats (step 0 is a warm-up), step size 0.05."""
    g, mu = scheme.generator, scheme.initial()
    mu = scheme.step(energy, mu, 0.05, 0, g)
    times = []
    for k in range(1, repeats + 1):
        mu = scheme.step(energy, mu, 0.05, k, g)
        times.append(scheme.history[-1]["time_s"])
    return statistics.median(times)


def time_step(d: int, outer: int, batch: int, repeats: int, device) -> float:
    log_q, scheme = ou_scheme(d, device, 3, TrainConfig(outer, 3, batch, 5e-3, 5e-3), PoolConfig(10 * batch))
    return median_step_time(scheme, KLDivergence(log_q), repeats)


def _per_point_log_prob(self, x: torch.Tensor) -> torch.Tensor:
    """The previous :meth:`GaussianReference.log_prob`: one triangular solve per point (``L`` broadcast to
    ``(n, d, d)``), kept here as the reference of ``--refit``."""
    d = self.mean.shape[-1]
    sol = torch.linalg.solve_triangular(self.chol, (x - self.mean).unsqueeze(-1), upper=False).squeeze(-1)
    logdet = 2 * torch.log(torch.diagonal(self.chol)).sum()
    return -0.5 * ((sol * sol).sum(-1) + logdet + d * math.log(2 * math.pi))


class _PerPointReference(GaussianReference):
    log_prob = _per_point_log_prob


class PushedFitKL(KLDivergence):
    """The previous implementation of ``reference="pushed"`` (the reference function of ``--refit``): without
    ``affine_reference`` the scheme pushes the subsample through the current map and fits it, every iteration,
    and the reference's log density solves one triangular system per point."""

    affine_reference = None

    def reference(self, x):
        return _PerPointReference(*fit_gaussian(x.detach(), ddof=1))


def refit_problem(d: int, device, energy_cls=KLDivergence, cls=VariationalJKO, autograd: bool = False):
    """``(scheme, energy)``: the OU notebook's default configuration in dimension ``d`` (affine map 64 x 2, dual
    64 x 3, J1 = 40, J2 = 2, M = 1000, a carried pool of 10^6), ``reference="pushed"``, ``autograd``."""
    log_q, scheme = ou_scheme(d, device, 2, TrainConfig(40, 2, 1000, 5e-3, 5e-3), PoolConfig(10**6, fresh=False), cls,
                              autograd)
    return scheme, energy_cls(log_q, reference="pushed")


def time_refit_step(d: int, repeats: int, device, energy_cls, cls=VariationalJKO, autograd: bool = False) -> float:
    """Median wall seconds of one JKO step (steps 1..repeats after a warm-up) of the OU default configuration."""
    return median_step_time(*refit_problem(d, device, energy_cls, cls, autograd), repeats)


def refit_table(dims, repeats, device) -> list:
    print(f"OU default configuration, reference='pushed', one JKO step, device={device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")
    print(f"{'d':>4} | {'closed form s/step':>18} | {'previous (push + fit) s/step':>28} | {'speed-up':>8}")
    rows = []
    for d in dims:
        new = time_refit_step(d, repeats, device, KLDivergence)
        old = time_refit_step(d, repeats, device, PushedFitKL, TorchAdamJKO, autograd=True)
        rows.append({"d": d, "closed_form_s": new, "push_fit_s": old, "speedup": old / new})
        print(f"{d:4d} | {new:18.3f} | {old:28.3f} | {old / new:7.2f}x", flush=True)
    return rows


def record_gemms(fn) -> list:
    """``[(op, [(shape, stride, dtype) or value, ...])]``: the matrix products ``fn()`` calls, in order."""
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    ops = (aten.mm.default, aten.addmm.default, aten.bmm.default, aten.mm.out, aten.addmm.out)
    calls = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in ops:
                meta = lambda a: (a.shape, a.stride(), a.dtype) if isinstance(a, torch.Tensor) else a  # noqa: E731
                calls.append((func, [meta(a) for a in args], {k: meta(v) for k, v in (kwargs or {}).items()}))
            return func(*args, **(kwargs or {}))

    with Record():
        fn()
    return calls


def replay_seconds(calls, repeats: int = 5) -> tuple[float, float]:
    """``(seconds, flops)``: the best of ``repeats`` timings of the recorded products alone (random inputs of the
    recorded shapes and strides), and their floating-point operations."""
    gen = stream(0, "bench/variational/replay", 0)

    def tensor(shape, stride, dtype):
        span = 1 + sum((n - 1) * st for n, st in zip(shape, stride))
        return torch.as_strided(torch.randn(max(span, 1), generator=gen, dtype=dtype), shape, stride)

    replay, flops = [], 0
    for func, args, kwargs in calls:
        real = lambda a: tensor(*a) if isinstance(a, tuple) and isinstance(a[0], torch.Size) else a  # noqa: E731
        targs, tkw = [real(a) for a in args], {k: real(v) for k, v in kwargs.items()}
        a, b = [t for t in targs if isinstance(t, torch.Tensor) and t.dim() >= 2][-2:]
        flops += 2 * a.shape[-2] * a.shape[-1] * b.shape[-1] * (a.shape[0] if a.dim() == 3 else 1)
        replay.append((func, targs, tkw))
    best = math.inf
    for _ in range(repeats + 1):
        t = time.perf_counter()
        for func, a, kw in replay:
            func(*a, **kw)
        best = min(best, time.perf_counter() - t)
    return best, flops


def gemm_floor_table(dims, repeats, device) -> list:
    print(f"OU default configuration, one JKO step: its matrix products alone, device={device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")
    print(f"{'d':>4} | {'today s':>8} | {'previous s':>10} | {'ratio':>6} | {'products alone s':>16} | {'GFLOP/s':>7} | "
          f"{'3x target s':>11} | {'best ratio':>10}")
    rows = []
    for d in dims:
        scheme, energy = refit_problem(d, device)
        today = median_step_time(scheme, energy, repeats)
        mu = scheme.initial(10**6)
        calls = record_gemms(lambda: scheme.step(energy, mu, 0.05, len(scheme.maps), scheme.generator))
        alone, flops = replay_seconds(calls)
        previous = time_refit_step(d, repeats, device, PushedFitKL, TorchAdamJKO, autograd=True)
        row = {"d": d, "today_s": today, "previous_s": previous, "products": len(calls), "products_alone_s": alone,
               "gflops": flops / alone / 1e9, "target_3x_s": previous / 3, "best_ratio": previous / alone}
        rows.append(row)
        print(f"{d:4d} | {today:8.3f} | {previous:10.3f} | {previous / today:5.2f}x | {alone:16.3f} | {row['gflops']:7.1f} | "
              f"{previous / 3:11.3f} | {previous / alone:9.2f}x", flush=True)
    return rows


def explicit_table(dims, repeats, device) -> list:
    """The explicit path (``autograd=False``, the default) against autograd (``autograd=True``) on the OU
    default configuration, one thread: per dimension one scheme per backend (the same seed), a warm-up step each,
    then ``repeats`` steps of each, interleaved (the order alternating). Per backend the medians of the step's wall
    time (``time_s``: the whole step, with the pool's subsample draw and push), of the training loop's wall time
    (``train_s``) and CPU time (``train_cpu_s``); the ratios torch / explicit of the medians and the median of the
    per-repeat ratios."""
    keys = ("time_s", "train_s", "train_cpu_s")
    print(f"OU default configuration, one JKO step, explicit (default) against autograd, device={device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {repeats} interleaved repeats")
    print(f"{'d':>4} | {'what':>11} | {'torch s':>8} | {'explicit s':>10} | {'ratio of medians':>16} | "
          f"{'median ratio':>12}")
    rows = []
    for d in dims:
        runs = {}
        for backend in ("torch", "explicit"):
            scheme, energy = refit_problem(d, device, autograd=backend == "torch")
            mu = scheme.step(energy, scheme.initial(), 0.05, 0, scheme.generator)   # warm-up
            runs[backend] = [scheme, energy, mu]
        times = {b: {k: [] for k in keys} for b in runs}
        for r in range(repeats):
            for backend in (("torch", "explicit") if r % 2 == 0 else ("explicit", "torch")):
                scheme, energy, mu = runs[backend]
                runs[backend][2] = scheme.step(energy, mu, 0.05, len(scheme.maps), scheme.generator)
                for k in keys:
                    times[backend][k].append(scheme.history[-1][k])
        row = {"d": d, "repeats": repeats}
        for k in keys:
            t, e = times["torch"][k], times["explicit"][k]
            row[k] = {"torch": statistics.median(t), "explicit": statistics.median(e),
                      "ratio": statistics.median(t) / statistics.median(e),
                      "median_ratio": statistics.median(a / b for a, b in zip(t, e)), "torch_all": t, "explicit_all": e}
            print(f"{d:4d} | {k:>11} | {row[k]['torch']:8.3f} | {row[k]['explicit']:10.3f} | "
                  f"{row[k]['ratio']:15.2f}x | {row[k]['median_ratio']:11.2f}x", flush=True)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="+", default=None, help="default: 2 4 8 16 32; 2 with --gemm-floor")
    ap.add_argument("--outer", type=int, default=100)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None)
    ap.add_argument("--refit", action="store_true", help="closed-form refit against push + fit (OU default config)")
    ap.add_argument("--gemm-floor", action="store_true", help="the step's matrix products timed alone (OU default config)")
    ap.add_argument("--explicit", action="store_true",
                    help="backend 'explicit' against 'torch', interleaved repeats, one thread (OU default config)")
    args = ap.parse_args()
    device = check_device(args.device)
    if args.dims is None:
        args.dims = [2] if args.gemm_floor or args.explicit else [2, 4, 8, 16, 32]
    if args.explicit:
        torch.set_num_threads(1)
        rows = explicit_table(args.dims, args.repeats, device)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "machine": {"cpu": platform.processor() or platform.machine(),
                                                           "torch": torch.__version__}, "rows": rows}, f, indent=1)
        return
    if args.gemm_floor:
        torch.set_num_threads(1)
        rows = gemm_floor_table(args.dims, args.repeats, device)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "rows": rows}, f, indent=1)
        return
    if args.refit:
        torch.set_num_threads(1)   # as the notebooks' runs (one thread per worker)
        rows = refit_table(args.dims, args.repeats, device)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "rows": rows}, f, indent=1)
        return
    rows = []
    print(f"variational JKO step time, J1={args.outer}, J2=3, M={args.batch}, device={device}, "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}")
    print(f"{'d':>4} | {'s / JKO step':>12} | {'ms / map iteration':>18}")
    for d in args.dims:
        t = time_step(d, args.outer, args.batch, args.repeats, device)
        rows.append({"d": d, "seconds_per_step": t, "ms_per_iteration": 1e3 * t / args.outer})
        print(f"{d:4d} | {t:12.3f} | {1e3 * t / args.outer:18.2f}", flush=True)
    ratio = max(r["seconds_per_step"] for r in rows) / min(r["seconds_per_step"] for r in rows)
    print(f"max / min time over d: {ratio:.2f} (paper: roughly constant, 20 s +- 2 s per two steps on an RTX 3090 with J1=500)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows, "max_over_min": ratio}, f, indent=1)


if __name__ == "__main__":
    main()
