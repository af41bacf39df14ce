r"""Fused CPU kernel sums with numba: :func:`wgf_core.backends.kernel_sum` / ``kernel_grad_sum``
with ``backend="numba"`` (or ``"auto"``).

One pass over the pairs of each row :math:`i` computes what is asked,

.. math::

    s_i = \sum_j w_j\,\psi(r_{ij}), \qquad
    g_i = \sum_j w_j\,c(r_{ij})\,(x_i - y_j), \qquad r_{ij} = |x_i - y_j|,

the value, the gradient (:math:`c(r) = \psi'(r)/r`, the radial part of
:math:`\sum_j w_j \nabla_1 k(x_i, y_j)`) or both from the same distances. The pairs of a row are
visited in tiles of ``_TILE`` targets: each tile's squared distances, profiles and coefficients are
computed in the input precision (vectorised by LLVM over the tile: AVX2, 8 float32 lanes), its partial
sums then added to float64 accumulators, so float32 inputs give sums with a relative error of about
``1e-7`` (tested: <= 1e-5 against float64). Extra memory is the outputs and a transposed copy of ``y``,
``O((N + M) d)``; no ``N x M`` temporary.

The profiles and coefficients are those of :data:`wgf_core.kernels.KERNELS` (their constants from the
same functions: :func:`~wgf_core.kernels.matern_rate`, :func:`~wgf_core.kernels.student_const`, ...), rewritten on the
squared distance :math:`r^2` (one square root only where the profile needs :math:`r`), with the
same rule at coincident points: :math:`c(0) = 0` where :math:`\psi` has a kink (``compact``,
``riesz``), never NaN. The two non-radial kernels (``W2_1``, ``W2_2``) add their extra term with the
torch functions of ``KERNELS[name].extra``.

The exponential of ``gauss``, ``matern``, ``matern2`` (and the W2 kernels) is :func:`_exp_nonpos`, a
vectorisable :math:`2^n 2^f`: libm's ``exp`` is a scalar call that keeps LLVM from vectorising the
loop (0.15-0.2 Gpair/s instead of ~1.1 here), and numba's SVML path (Intel's vector math, with
``intel-cmplr-lib-rt``) needs an SVML-patched LLVM, which llvmlite has not had since numba 0.62
(LLVM 20; the 0.62.0 release notes, numba/llvmlite#1390): here ``numba -s`` says "SVML Operational:
False" and ``llvmlite.binding.has_svml`` is False, so ``intel-cmplr-lib-rt`` would change nothing.

Threads: rows are split into chunks that the calling thread and ``torch.get_num_threads() - 1`` pool
threads take in turn (:func:`_parallel_rows`; the compiled row loop releases the GIL), so the runner's
one-thread setting holds, a thread on a busy core takes fewer chunks, and no second OpenMP runtime
runs beside torch's (numba's ``prange`` would load the system libgomp next to torch's own copy; it
measured within this machine's noise of the pool, 0.8-1.1 Gpair/s for both at N = M = 3e4 on 2
threads). One thread below :data:`PARALLEL_MIN_PAIRS` pairs.

Nothing is imported or compiled at import time: numba is imported on first use, and each
``(kernel, dtype, value or value + gradient)`` is compiled on first use (1-3 s; ``cache=True``: later
processes load it from ``__pycache__`` in ~10 ms).
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import numpy as np
import torch

from ..errors import ParameterError
from ..kernels import Kernel, broadcast_batch, compact2_power, compact_power, matern2_rate, matern_rate, student_const

__all__ = ["numba_kernel_sum", "numba_kernel_grad_sum", "available", "PARALLEL_MIN_PAIRS"]

# Targets per tile of a row: the tile's distances and coefficients stay in L1 (2 x 512 x 8 bytes).
_TILE = 512
# Fewer pairs than this run on one thread, so that two threads are not slower than one. Measured (gauss
# value + gradient, float32, d = 2, N = M, ms, 1 / 2 threads, best [median] of 40 calls): idle machine
# 0.36 / 0.43 at 2^17 pairs, 1.79 / 1.28 at 2^20, 6.81 / 3.66 at 2^22; the other core busy (a spinning
# process) 1.81 [1.89] / 1.91 [2.01] at 2^20, 3.43 [3.53] / 1.98 [3.65] at 2^21, 6.78 [6.89] / 3.81 [7.11]
# at 2^22, 13.39 [13.50] / 8.11 [13.65] at 2^23, 26.5 [26.6] / 17.5 [25.7] at 2^24: a pool thread sharing
# the busy core wakes late and may hold the last chunk for a scheduler slice, which below ~2^23 pairs
# eats the second core's gain half of the time.
PARALLEL_MIN_PAIRS = 2**23
# Pairs per chunk of rows a thread takes at a time (about 1 ms of work; a call of the row loop costs ~10 us).
_CHUNK_PAIRS = 2**20
# LLVM fast-math flags: reassociation (vectorised reductions), contraction (FMA), reciprocal and
# approximate functions; not 'nnan'/'ninf', so the comparisons that select c(0) = 0 are kept.
_FASTMATH = {"reassoc", "contract", "arcp", "nsz", "afn"}

# Kernel ids of the numba profiles; W2_1 / W2_2 use the Gaussian radial part.
_IDS = {"gauss": 0, "imq": 1, "matern": 2, "matern2": 3, "compact": 4, "compact2": 5, "inv_log": 6,
        "inv_quad": 7, "student": 8, "riesz": 9, "W2_1": 0, "W2_2": 0}
#: Kernel id of the Riesz kernel at s = 1 (a square root instead of the power r2 ** (s / 2)).
_RIESZ1 = 10


def _kid(kernel: Kernel) -> int:
    """The kernel id of the row loop: :data:`_IDS`, and :data:`_RIESZ1` for the Riesz kernel at s = 1."""
    return _RIESZ1 if kernel.name == "riesz" and float(kernel.param) == 1.0 else _IDS[kernel.name]


_ZERO, _ONE = 6, 7  # slots of 0 and 1 in the constants array (no float literals in typed code)
_LOG2E, _EXP_LO, _POLY = 8, 9, 10  # slots of log2(e), the smallest exponent, the coefficients of 2^f
_POLY_DEGREE = {"float32": 5, "float64": 11}  # of the polynomial 2^f, |f| <= 1/2 (see _exp_constants)

_STATE: dict = {}  # "numba": the module; "profile": the helpers are jitted; "pool", "pool_pid": the threads
_COMPILED: dict = {}  # (kernel id, dtype char, with gradient) -> jitted row loop
_PRM: dict = {}  # (kernel name, parameter, dtype) -> constants of the row loop


def _numba():
    """Import numba on first use, with a message saying how to install it."""
    nb = _STATE.get("numba")
    if nb is None:
        try:
            import numba as nb
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("backend='numba' needs numba: pip install -c constraints-cpu.txt numba") from e
        _STATE["numba"] = nb
    return nb


def available() -> bool:
    """True if numba can be imported (imports it on the first call)."""
    try:
        _numba()
    except ImportError:
        return False
    return True


def _constants(kernel: Kernel) -> list[float]:
    """The kernel's constants ``p0..p3`` of :func:`_profile`, padded to 6, then 0 and 1 (8 entries)."""
    s = kernel.param
    name = kernel.name
    if _IDS[name] == 0:  # gauss, W2_1, W2_2
        c = [-0.5 / s, -1.0 / s]
    elif name == "imq":
        c = [s]
    elif name == "matern":
        a = matern_rate(s)
        c = [-a, a, -a * a]
    elif name == "matern2":
        a = matern2_rate(s)
        c = [-a, a, a * a / 3, -a * a / 3]
    elif name == "compact":
        q = compact_power(s)
        c = [q - 1, -q]
    elif name == "compact2":
        p = compact2_power(s)
        c = [p, p - 1, -p * (p + 1)]
    elif name == "inv_log":
        c = [s]
    elif name == "inv_quad":
        c = [s, -2 * s]
    elif name == "student":
        k = student_const(s)
        c = [1 / s, -(s + 1) / 2, k, -k * (s + 1) / s]
    else:  # riesz
        c = [s / 2, -s]
    return c + [0.0] * (6 - len(c)) + [0.0, 1.0]


def _exp_constants(dtype: np.dtype) -> list[float]:
    r"""``log2(e)``, the smallest exponent ``t`` with a normal ``2^t`` of ``dtype``, and the coefficients
    (powers 0..11, zero-padded to 14) of the polynomial :math:`p \approx 2^f` on :math:`[-1/2, 1/2]` of
    :func:`_exp_nonpos`: the Chebyshev interpolant of degree :data:`_POLY_DEGREE` (near-minimax; its
    relative error is 1.0e-7 at degree 5, 2.5e-9 at 6, below float64 rounding at 11; the Taylor
    polynomial needs degree 7, resp. 13)."""
    from numpy.polynomial import Chebyshev, Polynomial

    deg = _POLY_DEGREE[np.dtype(dtype).name]
    cheb = Chebyshev.interpolate(np.exp2, deg, domain=[-0.5, 0.5])
    coef = cheb.convert(kind=Polynomial, domain=[-0.5, 0.5], window=[-0.5, 0.5]).coef
    lo = float(np.finfo(dtype).minexp)  # -126 (float32), -1022 (float64)
    return [1.0 / math.log(2.0), lo] + [float(c) for c in coef] + [0.0] * (14 - len(coef))


def _exp_nonpos(x, log2e, lo, zero, q, deg):
    r""":math:`e^x` for :math:`x \le 0`, vectorisable (libm's ``exp`` is a scalar call that stops LLVM
    from vectorising the loop): :math:`e^x = 2^t = 2^n\,2^f`, :math:`t = x\log_2 e`, ``n = rint(t)``,
    :math:`|f| \le 1/2`, :math:`2^f` by a polynomial of degree ``deg`` (5 in float32, 11 in float64; see
    :func:`_exp_constants`), :math:`2^n` from its bits. Relative error: the polynomial's (2.4e-7 evaluated
    in float32, 2e-15 in float64) plus :math:`|t| \ln 2\,\varepsilon` from the rounding of :math:`t`
    (small for the terms that matter, :math:`|t| < 4`; 1e-14 in float64 at worst). 0 where :math:`2^n`
    would be subnormal (:math:`t < -126`, resp. -1022).
    """
    t = x * log2e
    n = np.rint(t)
    f = t - n
    if deg == 5:
        p = q[5] * f + q[4]
    else:
        p = q[11] * f + q[10]
        p = p * f + q[9]
        p = p * f + q[8]
        p = p * f + q[7]
        p = p * f + q[6]
        p = p * f + q[5]
        p = p * f + q[4]
    p = p * f + q[3]
    p = p * f + q[2]
    p = p * f + q[1]
    p = p * f + q[0]
    e = p * _POW2_JIT(n)  # noqa: F821 - set by _jit_helpers
    return e if t >= lo else zero


def _profile(kid, r2, p0, p1, p2, p3, zero, one, log2e, lo, q, deg):
    """``(psi(r), c(r))`` from ``r2 = r^2`` for the kernel ``kid``, in the dtype of the constants.

    The same functions as ``wgf_core.kernels`` (``_gauss``/``_gauss_c``, ...), in closed form on
    :math:`r^2`, with the constants ``p0..p3`` of :func:`_constants`; at ``r2 == 0`` the coefficient of
    ``compact`` and ``riesz`` is 0 (their kink). ``zero`` and ``one`` come in the input dtype (a float
    literal would promote float32 arithmetic to float64); ``log2e, lo, q, deg`` the arguments of :func:`_exp_nonpos`.
    """
    if kid == 0:  # gauss: exp(-r^2 / (2 s)), c = -exp(...) / s
        e = _EXP_JIT(r2 * p0, log2e, lo, zero, q, deg)  # noqa: F821 - set by _jit_helpers
        return e, e * p1
    if kid == 1:  # imq: (s + r^2)^(-1/2), c = -(s + r^2)^(-3/2)
        t = one / math.sqrt(p0 + r2)
        return t, -(t * t * t)
    if kid == 2:  # matern: (1 + a r) exp(-a r), c = -a^2 exp(-a r)
        r = math.sqrt(r2)
        e = _EXP_JIT(p0 * r, log2e, lo, zero, q, deg)  # noqa: F821
        return (one + p1 * r) * e, p2 * e
    if kid == 3:  # matern2: (1 + a r + a^2 r^2 / 3) exp(-a r), c = -(a^2 / 3)(1 + a r) exp(-a r)
        r = math.sqrt(r2)
        e = _EXP_JIT(p0 * r, log2e, lo, zero, q, deg)  # noqa: F821
        ar = p1 * r
        return (one + ar + p2 * r2) * e, p3 * (one + ar) * e
    if kid == 4:  # compact: (1 - r)_+^q, c = -q (1 - r)_+^(q - 1) / r, 0 at r = 0 (cone)
        r = math.sqrt(r2)
        u = max(one - r, zero)
        p = u**p0
        rr = r if r > zero else one
        return p * u, (p1 * p / rr) if r > zero else zero
    if kid == 5:  # compact2: (1 - r)_+^p (p r + 1), c = -p (p + 1) (1 - r)_+^(p - 1)
        r = math.sqrt(r2)
        u = max(one - r, zero)
        p = u**p1
        return p * u * (p0 * r + one), p2 * p
    if kid == 6:  # inv_log: (s + log(1 + r^2))^(-1/2), c = -(s + log(1 + r^2))^(-3/2) / (1 + r^2)
        t = one / math.sqrt(p0 + math.log1p(r2))
        return t, -(t * t * t) / (one + r2)
    if kid == 7:  # inv_quad: 1 / (1 + s r^2), c = -2 s / (1 + s r^2)^2
        t = one / (one + p0 * r2)
        return t, p1 * t * t
    if kid == 8:  # student: K (1 + r^2 / s)^(-(s+1)/2), c = -K (s+1)/s (1 + r^2 / s)^(-(s+3)/2)
        b = one + r2 * p0
        u = b**p1
        return p2 * u, p3 * u / b
    if kid == 10:  # riesz at s = 1: -r, c = -1 / r, 0 at r = 0 (a square root instead of a power: vectorised)
        rt = math.sqrt(r2)
        rr = rt if r2 > zero else one
        return -rt, (-(one / rr)) if r2 > zero else zero
    # riesz: -r^s, c = -s r^(s-2), 0 at r = 0
    p = r2**p0
    rr = r2 if r2 > zero else one
    return -p, (p1 * p / rr) if r2 > zero else zero


def _pow2_intrinsic():
    """A numba intrinsic: :math:`2^n` for an integral float ``n`` (float32: -126..127, float64:
    -1022..1023), built from its exponent bits (vectorisable; ``math.ldexp`` is a scalar call)."""
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def pow2(typingctx, n):
        if n == types.float32:
            ity, fty, bias, shift = ir.IntType(32), ir.FloatType(), 127, 23
        elif n == types.float64:
            ity, fty, bias, shift = ir.IntType(64), ir.DoubleType(), 1023, 52
        else:
            return None

        def codegen(context, builder, sig, args):
            bits = builder.shl(builder.add(builder.fptosi(args[0], ity), ity(bias)), ity(shift))
            return builder.bitcast(bits, fty)

        return n(n), codegen

    return pow2


def _jit_helpers():
    """Jit the helpers of the row loop once, as module globals (globals, not closures: cacheable)."""
    if "profile" in _STATE:
        return
    nb = _numba()
    g = globals()
    g["_POW2_JIT"] = _pow2_intrinsic()
    g["_EXP_JIT"] = nb.njit(inline="always", fastmath=_FASTMATH)(_exp_nonpos)
    g["_PROFILE_JIT"] = nb.njit(fastmath=_FASTMATH)(_profile)
    _STATE["profile"] = g["_PROFILE_JIT"]


def _build(kid: int, dtype: np.dtype, want_g: bool):
    """Compile the row loop of kernel ``kid`` for ``dtype``: the value, and the gradient if ``want_g``."""
    nb = _numba()
    _jit_helpers()
    T = dtype.type
    KID, WANT_G, TILE, DEG = kid, want_g, _TILE, _POLY_DEGREE[dtype.name]

    def rows(x, xmap, yt, ymap, w, wmap, prm, out_v, out_g, start, stop):
        # Rows start..stop - 1 of the flattened (B, N) rows. x (Bx, N, d); yt (By, d, M), the targets
        # transposed; w (Bw, M); *map (B,): batch -> index; prm: constants of _constants and
        # _exp_constants; out_v (B, N); out_g (B, N, d) (empty if not WANT_G).
        n = x.shape[1]
        d = x.shape[2]
        m = yt.shape[2]
        p0, p1, p2, p3 = prm[0], prm[1], prm[2], prm[3]
        zero, one = prm[_ZERO], prm[_ONE]
        log2e, lo = prm[_LOG2E], prm[_EXP_LO]
        q = (prm[_POLY], prm[_POLY + 1], prm[_POLY + 2], prm[_POLY + 3], prm[_POLY + 4], prm[_POLY + 5],
             prm[_POLY + 6], prm[_POLY + 7], prm[_POLY + 8], prm[_POLY + 9], prm[_POLY + 10], prm[_POLY + 11],
             prm[_POLY + 12], prm[_POLY + 13])
        r2 = np.empty(TILE, T)
        cw = np.empty(TILE, T)
        acc_g = np.empty(d, np.float64)
        for t in range(start, stop):
            b = t // n
            i = t - b * n
            xi = x[xmap[b], i]
            yb = yt[ymap[b]]
            wb = w[wmap[b]]
            acc_v = 0.0
            for k in range(d):
                acc_g[k] = 0.0
            if d == 2:  # one loop over the tile, everything in registers (no tile buffers)
                x0 = xi[0]
                x1 = xi[1]
                for j0 in range(0, m, TILE):
                    nt = min(TILE, m - j0)
                    y0 = yb[0, j0:j0 + nt]
                    y1 = yb[1, j0:j0 + nt]
                    wt = wb[j0:j0 + nt]
                    sv = zero
                    s0 = zero
                    s1 = zero
                    for jj in range(nt):
                        d0 = x0 - y0[jj]
                        d1 = x1 - y1[jj]
                        r2j = d0 * d0 + d1 * d1
                        psi, c = _PROFILE_JIT(KID, r2j, p0, p1, p2, p3, zero, one, log2e, lo, q, DEG)  # noqa: F821
                        sv += wt[jj] * psi
                        if WANT_G:
                            a = wt[jj] * c
                            s0 += a * d0
                            s1 += a * d1
                    acc_v += sv
                    if WANT_G:
                        acc_g[0] += s0
                        acc_g[1] += s1
                m_tiled = 0
            else:
                m_tiled = m
            for j0 in range(0, m_tiled, TILE):
                nt = min(TILE, m - j0)
                for jj in range(nt):
                    r2[jj] = zero
                # tile slices, indexed by jj only (an index j0 + jj costs a wraparound test per element)
                for k in range(d):
                    xk = xi[k]
                    yk = yb[k, j0:j0 + nt]
                    for jj in range(nt):
                        dk = xk - yk[jj]
                        r2[jj] += dk * dk
                wt = wb[j0:j0 + nt]
                sv = zero
                for jj in range(nt):
                    psi, c = _PROFILE_JIT(KID, r2[jj], p0, p1, p2, p3, zero, one, log2e, lo, q, DEG)  # noqa: F821
                    sv += wt[jj] * psi
                    if WANT_G:
                        cw[jj] = wt[jj] * c
                acc_v += sv
                if WANT_G:
                    for k in range(d):
                        xk = xi[k]
                        yk = yb[k, j0:j0 + nt]
                        sg = zero
                        for jj in range(nt):
                            sg += cw[jj] * (xk - yk[jj])
                        acc_g[k] += sg
            out_v[b, i] = acc_v
            if WANT_G:
                for k in range(d):
                    out_g[b, i, k] = acc_g[k]

    return nb.njit(nogil=True, fastmath=_FASTMATH, cache=True)(rows)


def _rows_fn(kernel: Kernel, dtype: np.dtype, want_g: bool):
    """The compiled row loop of ``(kernel, dtype, value or value + gradient)``, compiled on first use.

    The gradient alone runs value + gradient and drops the values: one FMA more per pair, measured 3 %
    slower than a loop without it (gauss, N = M = 3e4, 2 threads), and a third fewer compilations (each
    about 3 s; cached on disk)."""
    key = (_kid(kernel), dtype.char, want_g)  # char, not name: numpy computes dtype.name (~6 us) at each read
    fn = _COMPILED.get(key)
    if fn is None:
        fn = _COMPILED[key] = _build(key[0], dtype, want_g)
    return fn


def _batch_map(shape: tuple, batch: tuple, count: int) -> np.ndarray:
    """Index into the flattened batch ``shape`` of each entry of the broadcast ``batch`` (``count``
    entries), int64 ``(count,)``."""
    if shape == batch:
        return np.arange(count, dtype=np.int64)
    own = math.prod(shape)
    if own == 1:
        return np.zeros(count, dtype=np.int64)
    return np.broadcast_to(np.arange(own, dtype=np.int64).reshape(shape), batch).ravel()


def check_inputs(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> None:
    """Raise :class:`~wgf_core.errors.ParameterError` if ``backend='numba'`` cannot take these tensors:
    not on the CPU, autograd recording through one of them, or a dtype other than float32/float64."""
    for t in (x, y, w):
        if t.device.type != "cpu":
            raise ParameterError(f"parameter 'backend' = 'numba' runs on CPU tensors only, got a tensor on "
                                 f"{t.device}: use backend='torch' (or 'keops') there")
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad or w.requires_grad):
        raise ParameterError("parameter 'backend' = 'numba' does not record autograd, and autograd is recording "
                             "through x, y or w: use backend='torch', or torch.no_grad() / detach()")
    if x.dtype not in (torch.float32, torch.float64):
        raise ParameterError(f"parameter 'backend' = 'numba' supports float32 and float64 tensors, not {x.dtype}")


@functools.lru_cache(maxsize=None)
def _cpu_count() -> int:
    """``os.cpu_count()``, read once (a call costs ~60 us in some containers, at every kernel sum)."""
    import os

    return os.cpu_count() or 1


def _pool():
    """The worker threads (a process-wide pool of ``cpu_count - 1`` threads, made anew after a fork)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    if _STATE.get("pool_pid") != os.getpid():
        _STATE["pool"] = ThreadPoolExecutor(max_workers=max(1, _cpu_count() - 1),
                                            thread_name_prefix="wgf-kernel-sums")
        _STATE["pool_pid"] = os.getpid()
    return _STATE["pool"]


def _parallel_rows(fn, args, rows: int, m: int) -> None:
    """Run ``fn(*args, start, stop)`` over ``rows`` rows of ``m`` pairs on ``torch.get_num_threads()`` threads.

    The calling thread and ``threads - 1`` pool threads take chunks of at most :data:`_CHUNK_PAIRS` pairs
    (and at least 4 chunks a thread) from a shared iterator until none is left (dynamic scheduling: a
    thread on a busy core takes fewer chunks). The caller returns when every chunk is done, without
    waiting for a pool thread that has not started (a wake-up costs 70-170 us here, more on a busy core).
    The row loop releases the GIL. One thread below :data:`PARALLEL_MIN_PAIRS` pairs.
    """
    import itertools
    import threading

    threads = min(torch.get_num_threads(), _cpu_count())
    if threads <= 1 or rows * m < PARALLEL_MIN_PAIRS:
        fn(*args, 0, rows)
        return
    step = max(1, min(-(-_CHUNK_PAIRS // max(1, m)), -(-rows // (4 * threads))))  # >= 4 chunks a thread
    starts = range(0, rows, step)
    todo = iter(starts)  # next() is atomic under the GIL: each chunk runs once
    done = itertools.count(1)
    finished = threading.Event()
    errors: list = []

    def work():
        try:
            for start in todo:
                fn(*args, start, min(start + step, rows))
                if next(done) == len(starts):
                    finished.set()
        except BaseException as e:  # re-raised by the caller
            errors.append(e)
            finished.set()

    pool = _pool()
    for _ in range(threads - 1):
        pool.submit(work)
    work()
    finished.wait()
    if errors:
        raise errors[0]


def _prm(kernel: Kernel, dtype: np.dtype) -> np.ndarray:
    key = (kernel.name, kernel.param, dtype.char)
    prm = _PRM.get(key)
    if prm is None:
        prm = _PRM[key] = np.asarray(_constants(kernel) + _exp_constants(dtype), dtype=dtype)
    return prm


def _run(kernel: Kernel, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, want_v: bool, want_g: bool):
    """``(sums or None, grads or None)``; numpy views of the tensors (torch's per-op overhead, ~5 us an op,
    made ~400 us of a call of 16 points before)."""
    check_inputs(x, y, w)
    n, d = x.shape[-2:]
    m = y.shape[-2]
    bx, by, bw = tuple(x.shape[:-2]), tuple(y.shape[:-2]), tuple(w.shape[:-1])
    batch = broadcast_batch(bx, by, bw)
    B = math.prod(batch)
    xn = x.detach().numpy()
    ndt = xn.dtype
    xs = np.ascontiguousarray(xn.reshape(-1, n, d))
    yt = np.ascontiguousarray(y.detach().numpy().reshape(-1, m, d).transpose(0, 2, 1), dtype=ndt)
    ws = np.ascontiguousarray(w.detach().numpy().reshape(-1, m), dtype=ndt)
    out_v = np.empty((B, n), dtype=ndt)
    out_g = np.empty((B, n, d) if want_g else (0, 0, 0), dtype=ndt)
    fn = _rows_fn(kernel, ndt, want_g)
    args = (xs, _batch_map(bx, batch, B), yt, _batch_map(by, batch, B), ws, _batch_map(bw, batch, B),
            _prm(kernel, ndt), out_v, out_g)
    _parallel_rows(fn, args, B * n, m)
    v = torch.from_numpy(out_v).reshape(*batch, n) if want_v else None
    g = torch.from_numpy(out_g).reshape(*batch, n, d) if want_g else None
    if kernel.spec.extra is not None:
        ev, eg = kernel.spec.extra(x.detach(), y.detach().to(x.dtype), w.detach().to(x.dtype))
        v = v + ev if want_v else None
        g = g + eg if want_g else None
    return v, g


def numba_kernel_sum(kernel: Kernel, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    r"""Kernel sums :math:`s_i = \sum_j w_j k(x_i, y_j)` in one fused pass, shape ``(..., N)``.

    Parameters
    ----------
    kernel : Kernel
        Any kernel of :data:`wgf_core.kernels.KERNELS`.
    x : Tensor, shape ``(..., N, d)``
        CPU, float32 or float64, autograd not recording through it.
    y : Tensor, shape ``(..., M, d)``
    w : Tensor, shape ``(..., M)``
        Batch shapes of ``x``, ``y`` and ``w`` broadcast (e.g. ``(runs, n, d)`` against a shared
        ``(m, d)`` target).

    Returns
    -------
    Tensor, shape ``(broadcast batch, N)``, dtype of ``x``
        Accumulated in float64 per row.
    """
    return _run(kernel, x, y, w, True, False)[0]


def numba_kernel_grad_sum(kernel: Kernel, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, *,
                          with_value: bool = False):
    r"""Gradient sums :math:`g_i = \sum_j w_j \nabla_1 k(x_i, y_j)` in one fused pass.

    The radial part is :math:`\sum_j w_j c(r_{ij})(x_i - y_j)` with :math:`c = \psi'/r` (0 at
    coincident points where :math:`\psi` has a kink); with ``with_value`` the kernel sums
    :math:`s_i` come from the same pass over the pairs.

    Parameters
    ----------
    kernel, x, y, w
        As in :func:`numba_kernel_sum`.
    with_value : bool
        Also return the kernel sums.

    Returns
    -------
    Tensor, shape ``(broadcast batch, N, d)``; or a pair ``(sums (..., N), grads (..., N, d))``.
    """
    v, g = _run(kernel, x, y, w, with_value, True)
    return (v, g) if with_value else g


# The jitted helpers of the row loop, set by _jit_helpers before the first compile.
_PROFILE_JIT: Optional[object] = None
_EXP_JIT: Optional[object] = None
_POW2_JIT: Optional[object] = None
