r"""Fused CPU iterations of the particle schemes (numba): one compiled call per iteration, on one thread.

For small clouds (the IFT experiments of Gladin et al. 2024 move n = 100 particles) an iteration of
:class:`~wgf_core.schemes.IFT` costs about sixty small tensor operations, and their dispatch, not the
arithmetic, sets its time. :func:`ift_pgd_gauss` does the whole iteration (Algorithm 1 with the
projected-gradient weight step, Gaussian kernel) in one numba call, run by run:

.. math::

    x_i' = x_i - \tau\,c\,\nabla h_\mu(x_i), \qquad
    \alpha' = P_\Delta\big(\alpha - \eta\,c\,h_{(x', \alpha)}(x')\big), \qquad
    h_\mu(z) = \sum_j \alpha_j k(z, x_j) - \sum_j w^y_j k(z, y_j),

with :math:`k(z, p) = \exp(-|z - p|^2/(2s))`, :math:`\nabla_1 k(z, p) = -k(z, p)(z - p)/s`, :math:`c` the
energy's ``2 * scale`` and :math:`P_\Delta` the sort-based projection onto the simplex
(:func:`wgf_core.fista.project_simplex`). The exponential is the vectorisable one of
:mod:`wgf_core.backends.numba_sums` (relative error about 1e-14 in float64); sums are accumulated in float64.
The same iteration as the generic path up to round-off (tested). Nothing is imported or compiled at
import time; the first call compiles (seconds, cached on disk).
"""

from __future__ import annotations

import numpy as np
import torch

from . import numba_sums as kn

__all__ = ["ift_pgd_gauss"]

_COMPILED: dict = {}
_EXP_CONSTANTS: dict = {}


def _build(dtype: np.dtype):
    nb = kn._numba()
    kn._jit_helpers()
    globals()["_EXP"] = kn._EXP_JIT   # a global, not a closure variable: numba can then cache the compiled loop
    T = dtype.type
    DEG = kn._POLY_DEGREE[dtype.name]

    def iteration(x, w, y, wy, prm, q, xn, wn, u):
        # x (R, n, d), w (R, n), y (R, m, d), wy (R, m); prm = [-1/(2s), 1/s, c, tau, eta, log2e, lo, 0];
        # q: the 14 coefficients of 2^f; xn (R, n, d), wn (R, n): the outputs
        R, n, d = x.shape
        m = y.shape[1]
        a, inv_s, c, tau, eta = prm[0], prm[1], prm[2], prm[3], prm[4]
        log2e, lo, zero = prm[5], prm[6], prm[7]
        qq = (q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], q[10], q[11], q[12], q[13])
        for r in range(R):
            P = np.empty((d, n + m), T)      # the points [x; y] transposed: contiguous rows per coordinate
            v = np.empty(n + m, T)           # signed weights c [w, -wy]
            e = np.empty(n + m, T)           # v_j k(z_i, p_j) of the current row
            for j in range(n):
                v[j] = c * w[r, j]
                for k in range(d):
                    P[k, j] = x[r, j, k]
            for j in range(m):
                v[n + j] = -c * wy[r, j]
                for k in range(d):
                    P[k, n + j] = y[r, j, k]
            for sweep in range(2):
                # sweep 0: witness and gradient at x (position step); sweep 1: witness at x' (weight step)
                for i in range(n):
                    for j in range(n + m):
                        e[j] = zero
                    for k in range(d):
                        zk = P[k, i] if sweep == 0 else xn[r, i, k]
                        for j in range(n + m):
                            t = zk - P[k, j]
                            e[j] += t * t
                    h = 0.0
                    for j in range(n + m):
                        e[j] = v[j] * _EXP(e[j] * a, log2e, lo, zero, qq, DEG)  # noqa: F821 - set by _build
                        h += e[j]
                    if sweep == 0:
                        for k in range(d):
                            g = 0.0
                            for j in range(n + m):
                                g += e[j] * P[k, j]
                            # grad h(x_i) = sum_j v_j k_ij (p_j - x_i) / s
                            xn[r, i, k] = P[k, i] - tau * ((g - P[k, i] * h) * inv_s)
                    else:
                        u[r, i] = w[r, i] - eta * h
                if sweep == 0:
                    for j in range(n):
                        for k in range(d):
                            P[k, j] = xn[r, j, k]
            # projection onto the simplex: theta from the sorted values, as wgf_core.fista.project_simplex
            srt = np.sort(u[r])[::-1]
            css = 0.0
            rho = 0
            theta_css = 0.0
            for j in range(n):
                css += srt[j]
                if srt[j] - (css - 1.0) / (j + 1) > 0:
                    rho += 1
            css = 0.0
            for j in range(rho):
                css += srt[j]
            theta_css = (css - 1.0) / rho
            for i in range(n):
                wn[r, i] = max(u[r, i] - theta_css, 0.0)

    # one thread (no parallel=True): no threading layer of numba's own beside torch's, safe in forked workers
    return nb.njit(fastmath=kn._FASTMATH, cache=True)(iteration)


def ift_pgd_gauss(x: torch.Tensor, w: torch.Tensor, y: torch.Tensor, wy: torch.Tensor, *, s: float, c: float,
                  tau: float, eta: float):
    r"""One IFT iteration (PGD weight step, Gaussian kernel ``exp(-r^2/(2s))``) for every run, in one call.

    Parameters
    ----------
    x : Tensor ``(runs, n, d)``;  w : Tensor ``(runs, n)`` (on the simplex)
    y : Tensor ``(runs, m, d)``;  wy : Tensor ``(runs, m)``
        CPU tensors, float32 or float64, not recording autograd.
    s, c, tau, eta : float
        Kernel parameter, :math:`c` = ``2 * scale`` of :math:`F = \mathrm{scale}\cdot\mathrm{MMD}^2`, the
        position step and the weight step.

    Returns
    -------
    ``(x', alpha')``: Tensors ``(runs, n, d)``, ``(runs, n)``, dtype of ``x``.
    """
    kn.check_inputs(x, y, wy)
    dt = x.dtype
    ndt = np.dtype("float64") if dt == torch.float64 else np.dtype("float32")
    fn = _COMPILED.get(ndt.name)
    if fn is None:
        fn = _COMPILED[ndt.name] = _build(ndt)
    consts = _EXP_CONSTANTS.get(ndt.name)
    if consts is None:  # the exp's coefficients (a polynomial fit): once per dtype, not once per iteration
        consts = _EXP_CONSTANTS[ndt.name] = kn._exp_constants(ndt)
    prm = np.asarray([-0.5 / s, 1.0 / s, c, tau, eta, consts[0], consts[1], 0.0], dtype=ndt)
    q = np.asarray(consts[2:], dtype=ndt)
    xs, ws = x.detach().contiguous(), w.detach().to(dt).contiguous()
    ys, wys = y.detach().to(dt).contiguous(), wy.detach().to(dt).contiguous()
    xn, wn = torch.empty_like(xs), torch.empty_like(ws)
    fn(xs.numpy(), ws.numpy(), ys.numpy(), wys.numpy(), prm, q, xn.numpy(), wn.numpy(), np.empty(wn.shape, ndt))
    return xn, wn
