r"""Kernel-sum benchmark: one table of backend x N x threads x what, in pairs per second.

Computes :math:`s_i = \sum_j w_j k(x_i, y_j)` and :math:`g_i = \sum_j w_j \nabla_1 k(x_i, y_j)`
(Gaussian kernel ``s = 1``, 2-D standard normal points, uniform weights, N = M) in float32:

* what ``v+g 1 pass``: ``kernel_grad_sum(..., with_value=True)`` (both from one pass over the pairs);
* what ``v, g 2 pass``: ``kernel_sum`` then ``kernel_grad_sum`` (two passes).

Backends: ``blocked`` is :func:`reference_blocked` below, a verbatim copy of the torch loop of
``wgf_core.kernels.kernel_sum`` / ``kernel_grad_sum`` as of the numba backend's introduction (the
reference every ratio is taken against, so later changes to the library do not move it);
``numba`` is ``backend="numba"`` (:mod:`wgf_core.backends.numba_sums`); ``keops`` where pykeops is installed.

Columns: Gpair/s = N M / (best of ``--repeats`` wall times); MiB = peak resident memory above the
resident memory before the timed runs (a fresh subprocess per row, after a small warm-up call that
compiles; the peak is ``VmHWM`` after resetting it through ``/proc/self/clear_refs``, else
``ru_maxrss``); f32 err = :math:`\max(\|s - s^*\|_\infty / \|s^*\|_\infty, \|g - g^*\|_\infty /
\|g^*\|_\infty)` of the float32 result against the float64 blocked result :math:`s^*, g^*` on the
same (float32-rounded) points; x blocked = Gpair/s over that of ``blocked`` at the same N, threads, what.

    python benchmarks/bench_kernel_sums.py [--sizes 10000 30000] [--threads 1 2] [--repeats 3]
                                           [--busy] [--json PATH]
    OMP_NUM_THREADS=2 python benchmarks/bench_kernel_sums.py --default-vs-plain [--sizes 30000] [--repeats 3]

``--default-vs-plain``: ``kernel_grad_sum(..., with_value=True)`` at its default arguments (``backend="auto"``)
against :func:`plain_loop` (exp of squared distances from the differences, row blocks of 2048), interleaved in one
process, N = M = the last of ``--sizes``; writes ``benchmarks/results/kernel_sums_default_vs_plain.json``.

``--busy`` runs a process spinning on one core during every measurement (the other core busy).
The thread count is set with ``torch.set_num_threads`` in each child; numba follows it.

Measured on this project's machine (AMD EPYC, 2 cores, AVX2; torch 2.13, numba 0.68.1), N = M = 3e4,
value + gradient in one pass, Gpair/s, 1 / 2 threads: blocked 0.072 / 0.099, numba 0.644 / 1.271
(12.9x blocked on 2 threads); the other core busy: blocked 0.068 / 0.065, numba 0.644 / 0.846. Peak
extra memory: blocked 279-450 MiB, numba 0.9-1.1 MiB (the outputs and a copy of y). float32 error:
blocked 1.0e-5, numba 1.1e-7. The machine is shared: rows vary by ~10 % between runs.
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
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
WHATS = {"vg1": "v+g 1 pass", "vg2": "v, g 2 pass"}


# --- the reference: today's blocked torch loop ---------------------------------------------------------------
def reference_blocked(kernel, x, y, w, *, value: bool, grad: bool, block_size: Optional[int] = None):
    """The blocked torch kernel sums of ``wgf_core.kernels`` (``kernel_sum`` if only ``value``,
    ``kernel_grad_sum`` otherwise, ``with_value=value``), copied verbatim: ``(sums or None, grads or None)``."""
    import torch

    from wgf_core.kernels import _default_block, _rowsum, coefficient_grad_sum, pairwise_distances

    n, m = x.shape[-2], y.shape[-2]
    b = block_size or _default_block(n, m, x.element_size())
    if not grad:  # kernel_sum
        out = []
        for i in range(0, n, b):
            xb = x[..., i : i + b, :]
            kb = kernel.profile(pairwise_distances(xb, y))
            out.append(_rowsum(kb, w))
        s = torch.cat(out, dim=-1)
        if kernel.spec.extra is not None:
            s = s + kernel.spec.extra(x, y, w)[0]
        return s, None
    with_value = value  # kernel_grad_sum
    wy = w.unsqueeze(-1) * y  # (..., M, d)
    grads, vals = [], []
    for i in range(0, n, b):
        xb = x[..., i : i + b, :]
        r = pairwise_distances(xb, y)
        if with_value:
            k, c = kernel.profile_and_coefficient(r)
            vals.append(_rowsum(k, w))
        else:
            c = kernel.coefficient(r)
        grads.append(coefficient_grad_sum(c, xb, y, w, wy=wy))
    g = torch.cat(grads, dim=-2)
    if kernel.spec.extra is not None:
        ev, eg = kernel.spec.extra(x, y, w)
        g = g + eg
    if not with_value:
        return None, g
    v = torch.cat(vals, dim=-1)
    if kernel.spec.extra is not None:
        v = v + ev
    return v, g


# --- one measurement, in a child process ---------------------------------------------------------------------
def _data(n: int):
    import torch

    from wgf_core.random import stream

    g = stream(0, "bench/kernel_sums")
    x = torch.randn(n, 2, generator=g)
    y = torch.randn(n, 2, generator=g)
    return x, y, torch.full((n,), 1.0 / n)


def _compute(backend: str, what: str, kernel, x, y, w):
    """``(sums, grads)`` of ``what`` with ``backend``."""
    from wgf_core.backends import kernel_grad_sum, kernel_sum

    if backend == "blocked":
        if what == "vg1":
            return reference_blocked(kernel, x, y, w, value=True, grad=True)
        return reference_blocked(kernel, x, y, w, value=True, grad=False)[0], \
            reference_blocked(kernel, x, y, w, value=False, grad=True)[1]
    if what == "vg1":
        return kernel_grad_sum(kernel, x, y, w, backend=backend, with_value=True)
    return kernel_sum(kernel, x, y, w, backend=backend), kernel_grad_sum(kernel, x, y, w, backend=backend)


def _status(key: str) -> float:
    """A ``kB`` entry of ``/proc/self/status`` in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    raise KeyError(key)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM (Linux >= 4.0)
        return True
    except OSError:
        return False


def _child(spec: dict) -> dict:
    import resource

    import torch

    from wgf_core.kernels import get_kernel

    torch.set_num_threads(spec["threads"])
    kernel = get_kernel("gauss", 1.0)
    if spec["mode"] == "ref":  # float64 blocked result on the float32-rounded points
        x, y, w = (t.double() for t in _data(spec["n"]))
        v, g = reference_blocked(kernel, x, y, w, value=True, grad=True)
        torch.save({"v": v, "g": g}, spec["ref"])
        return {}
    backend, what, n = spec["backend"], spec["what"], spec["n"]
    xs, ys, ws = _data(256)
    _compute(backend, what, kernel, xs, ys, ws)  # warm-up: compiles (numba, keops)
    x, y, w = _data(n)
    base = _status("VmRSS")
    hwm = _reset_peak()
    base_ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    times = []
    for _ in range(spec["repeats"]):
        t = time.perf_counter()
        v, g = _compute(backend, what, kernel, x, y, w)
        times.append(time.perf_counter() - t)
    peak = _status("VmHWM") if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    ref = torch.load(spec["ref"])

    def rel(a, b):
        return float((a.double() - b).abs().max() / b.abs().max())

    out = {"time": min(times), "gpairs": n * n / min(times) / 1e9,
           "peak_mib": max(0.0, peak - (base if hwm else base_ru)),
           "f32_rel_err": max(rel(v, ref["v"]), rel(g, ref["g"])), "peak_from": "VmHWM" if hwm else "ru_maxrss"}
    return out


def _spawn(spec: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                         env=env)
    if res.returncode != 0:
        raise RuntimeError(f"child {spec} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# --- the table -----------------------------------------------------------------------------------------------
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _machine() -> dict:
    import torch

    info = {"cpu": _cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads_default": torch.get_num_threads(), "python": platform.python_version()}
    try:
        import numba

        info.update(numba=numba.__version__, svml=bool(numba.config.USING_SVML))
    except ImportError:
        info["numba"] = None
    try:
        import pykeops

        info["pykeops"] = pykeops.__version__
    except ImportError:
        info["pykeops"] = None
    return info


# --- the default against the plain loop ---------------------------------------------------------------------------
def plain_loop(x, y, w, s: float = 1.0, block: int = 2048):
    """The plain blocked torch loop of the Gaussian kernel ``exp(-r^2 / (2 s))``, value and gradient: rows of ``x`` in
    blocks of ``block``, squared distances from the differences, one ``exp``; ``(sums (N,), grads (N, d))``."""
    import torch

    vals, grads = [], []
    wy = w.unsqueeze(-1) * y
    for i in range(0, x.shape[0], block):
        xb = x[i:i + block]
        diff = xb.unsqueeze(1) - y.unsqueeze(0)                  # (b, M, d)
        k = torch.exp((diff * diff).sum(-1) * (-0.5 / s))        # (b, M)
        kw = k @ w
        vals.append(kw)
        grads.append((k @ wy - xb * kw.unsqueeze(-1)) / s)       # sum_j w_j k_ij (y_j - x_i) / s
    return torch.cat(vals), torch.cat(grads)


def default_vs_plain(n: int = 30_000, rounds: int = 3, out: Optional[Path] = None) -> dict:
    """``kernel_grad_sum(kernel, x, y, w, with_value=True)`` at its default arguments against :func:`plain_loop`,
    Gaussian ``s = 1``, 2-D, float32, N = M = ``n``, interleaved ``rounds`` times in this process (threads: torch's,
    e.g. ``OMP_NUM_THREADS=2``); best times, the ratio, the backend the default chose, and the agreement of the two."""
    import torch

    from wgf_core import backends
    from wgf_core.backends import kernel_grad_sum
    from wgf_core.kernels import get_kernel

    kernel = get_kernel("gauss", 1.0)
    x, y, w = _data(n)
    kernel_grad_sum(kernel, x[:256], y[:256], w[:256] * (n / 256), with_value=True)  # warm-up: compiles or loads
    t_default, t_plain = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        v, g = kernel_grad_sum(kernel, x, y, w, with_value=True)
        t_default.append(time.perf_counter() - t)
        chosen = backends.chosen()["kernel_grad_sum"]
        t = time.perf_counter()
        vp, gp = plain_loop(x, y, w)
        t_plain.append(time.perf_counter() - t)
    rel = max(float((v - vp).abs().max() / vp.abs().max()), float((g - gp).abs().max() / gp.abs().max()))
    res = {"n": n, "d": 2, "dtype": "float32", "kernel": "gauss s=1", "rounds": rounds,
           "threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
           "default_backend": chosen, "default_s": t_default, "plain_s": t_plain,
           "default_gpairs": n * n / min(t_default) / 1e9, "plain_gpairs": n * n / min(t_plain) / 1e9,
           "speedup": min(t_plain) / min(t_default), "rel_diff": rel, "machine": _machine()}
    print(f"kernel_grad_sum default ({chosen}) {res['default_gpairs']:.3f} Gpair/s, plain blocked loop "
          f"{res['plain_gpairs']:.3f} Gpair/s: {res['speedup']:.1f}x (N = M = {n}, {res['threads']} threads, best of "
          f"{rounds} interleaved; max relative difference {rel:.1e})", flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=1) + "\n")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--whats", nargs="+", default=list(WHATS), choices=list(WHATS))
    ap.add_argument("--backends", nargs="+", default=None, help="default: blocked, numba, keops where installed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--busy", action="store_true", help="spin a process on one core during the measurements")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows (and the machine) as JSON here")
    ap.add_argument("--default-vs-plain", action="store_true",
                    help="only kernel_grad_sum at its defaults (with_value=True) against the plain blocked loop, "
                         "N = M = the last --sizes, written to benchmarks/results/kernel_sums_default_vs_plain.json")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        print(json.dumps(_child(json.loads(args.child))))
        return
    if args.default_vs_plain:
        default_vs_plain(args.sizes[-1], args.repeats, ROOT / "benchmarks" / "results" / "kernel_sums_default_vs_plain.json")
        return
    machine = _machine()
    backends = args.backends or (["blocked"] + (["numba"] if machine["numba"] else [])
                                 + (["keops"] if machine["pykeops"] else []))
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    rows = []
    try:
        print(f"# kernel sums, gauss s=1, d=2, float32, N = M; {machine['cpu']}, {machine['cores']} cores; "
              f"torch {machine['torch']} (default threads {machine['torch_threads_default']}); numba "
              f"{machine.get('numba')} (SVML {machine.get('svml')}); "
              f"pykeops {machine['pykeops']}; other core {'busy (spinning process)' if args.busy else 'idle'}",
              flush=True)
        head = f"{'backend':>8} {'N=M':>7} {'thr':>3} {'what':>12} | {'Gpair/s':>8} {'MiB':>6} {'f32 err':>8} " \
               f"{'x blocked':>9}"
        print(head + "\n" + "-" * len(head), flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.sizes:
                ref = os.path.join(tmp, f"ref{n}.pt")
                _spawn({"mode": "ref", "n": n, "ref": ref, "threads": max(args.threads)})
                base = {}
                for backend in backends:
                    for threads in args.threads:
                        for what in args.whats:
                            r = _spawn({"mode": "time", "backend": backend, "what": what, "n": n, "ref": ref,
                                        "threads": threads, "repeats": args.repeats})
                            if backend == "blocked":
                                base[threads, what] = r["gpairs"]
                            ratio = r["gpairs"] / base[threads, what] if (threads, what) in base else float("nan")
                            r.update(backend=backend, n=n, threads=threads, what=what, x_blocked=ratio,
                                     busy=args.busy)
                            rows.append(r)
                            print(f"{backend:>8} {n:>7} {threads:>3} {WHATS[what]:>12} | {r['gpairs']:>8.3f} "
                                  f"{r['peak_mib']:>6.1f} {r['f32_rel_err']:>8.1e} {ratio:>9.1f}", flush=True)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    print("Gpair/s: N M / best wall time; MiB: peak resident memory above the resident memory before the timed "
          "runs; f32 err: float32 vs float64 blocked (max-norm relative, value and gradient); x blocked: vs the "
          "blocked torch reference at the same N, threads, what")
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": machine, "busy": args.busy, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
