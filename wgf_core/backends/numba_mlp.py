r"""Training of a small multilayer perceptron in numba: forward pass, backward pass and Adam.

The neural schemes (:mod:`wgf_core.schemes.neural`) train a :func:`wgf_core.networks.mlp` of a few
thousand weights on batches of a few hundred points, thousands of times per step. With autograd an
iteration is some sixty tensor operations and their dispatch costs more than the arithmetic (a 64 x 2
network, batch 100: ~1.8 ms an iteration on the 2-core reference CPU, of which ~0.15 ms are the matrix
products). :class:`NumbaMLP` does an iteration's network work in two compiled calls, on one thread:
:meth:`NumbaMLP.forward` (keeping the pre-activations) and :meth:`NumbaMLP.step` (the backward pass of
:math:`\sum_{b,o} \mathrm{out}_{bo} G_{bo}` for a given :math:`G = \partial\mathcal L/\partial\,\mathrm{out}`,
then Adam). The loss's own gradient :math:`G` is the caller's (a few small tensor operations). For the neural
Riesz schemes, :meth:`NumbaMLP.train_riesz` runs many iterations in one call, with the loss's gradient compiled
too (the Riesz gradient sums with the compiled profile of :mod:`~wgf_core.backends.numba_sums`).

For the layers :math:`a_0 = u`, :math:`z_l = a_{l-1}W_l^\top + b_l`, :math:`a_l = \sigma(z_l)`
(:math:`l = 1..L`), :math:`\mathrm{out} = a_L W_{L+1}^\top + b_{L+1}`, the backward pass is

.. math::

    \delta_{L+1} = G,\qquad \frac{\partial\mathcal L}{\partial W_l} = \delta_l^\top a_{l-1},\qquad
    \frac{\partial\mathcal L}{\partial b_l} = \textstyle\sum_b \delta_{l,b},\qquad
    \delta_{l} = (\delta_{l+1} W_{l+1}) \odot \sigma'(z_l),

and Adam (Kingma & Ba 2015, Algorithm 1) is the update of :class:`wgf_core.optim.Adam`. The network's
torch parameters become views of one flat buffer that the compiled code updates in place, so the
module (``net(u)``) always evaluates the trained weights.

The same gradients as autograd and the same Adam updates as torch up to round-off, not bit for bit:
the products are summed in another order (``fastmath`` reassociation, vectorised; tested against
autograd and ``torch.optim.Adam`` in ``tests/test_backends_numba_mlp.py``). Nothing is imported or compiled at
import time; the first use per dtype compiles (seconds; ``cache=True``: later processes load it from disk).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError
from ..networks import flatten_linears, mlp_layers
from ..validation import check_positive
from . import numba_sums
from .numba_sums import _numba

__all__ = ["NumbaMLP", "ACTIVATIONS", "supports"]

#: The activations the compiled code has (forward and derivative), by :data:`wgf_core.networks._ACTIVATIONS` name.
ACTIVATIONS = {"relu": 0, "leaky_relu": 1, "elu": 2, "tanh": 3, "silu": 4, "softplus": 5}
_CLASSES = {nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.ELU: "elu", nn.Tanh: "tanh", nn.SiLU: "silu",
            nn.Softplus: "softplus"}
# reassociation (vectorised sums) and contraction (FMA); no nnan / ninf: a NaN must reach the caller's checks
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
_COMPILED: dict = {}


def _layers(net: nn.Module):
    """``(linears, activation module or None)`` of an ``mlp`` with one hidden width and one activation of
    :data:`ACTIVATIONS` (:func:`wgf_core.networks.mlp_layers`), else None."""
    lay = mlp_layers(net)
    if lay is None:
        return None
    linears, acts = lay
    if acts and (any(type(a) not in _CLASSES for a in acts) or len({type(a) for a in acts}) != 1):
        return None
    widths = {lin.out_features for lin in linears[:-1]}
    if len(widths) > 1:
        return None
    return linears, (acts[0] if acts else None)


def supports(net: nn.Module) -> bool:
    """True if :class:`NumbaMLP` can train ``net``: a :func:`wgf_core.networks.mlp` (Linear layers of one hidden
    width, one activation of :data:`ACTIVATIONS`) on the CPU in float32 or float64."""
    lay = _layers(net)
    if lay is None:
        return False
    p = lay[0][0].weight
    return p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64)


def _act_constants(act) -> tuple[int, float, float]:
    """``(code, a, b)``: leaky slope; ELU alpha; softplus beta and threshold."""
    if act is None:
        return -1, 0.0, 0.0
    name = _CLASSES[type(act)]
    if name == "leaky_relu":
        return ACTIVATIONS[name], float(act.negative_slope), 0.0
    if name == "elu":
        return ACTIVATIONS[name], float(act.alpha), 0.0
    if name == "softplus":
        return ACTIVATIONS[name], float(act.beta), float(act.threshold)
    return ACTIVATIONS[name], 0.0, 0.0


def _build():
    nb = _numba()

    def act_forward(z, out, code, a, b, one, zero):
        # out = sigma(z) elementwise, z and out (B, width); the branch outside the loops (vectorised loops)
        B, w = z.shape
        if code == 0:
            for i in range(B):
                for j in range(w):
                    v = z[i, j]
                    out[i, j] = v if v > zero else zero
        elif code == 1:
            for i in range(B):
                for j in range(w):
                    v = z[i, j]
                    out[i, j] = v if v > zero else v * a
        elif code == 2:
            for i in range(B):
                for j in range(w):
                    v = z[i, j]
                    out[i, j] = v if v > zero else a * np.expm1(v)
        elif code == 3:
            for i in range(B):
                for j in range(w):
                    out[i, j] = np.tanh(z[i, j])
        elif code == 4:
            for i in range(B):
                for j in range(w):
                    v = z[i, j]
                    out[i, j] = v / (one + np.exp(-v))
        else:
            for i in range(B):
                for j in range(w):
                    v = z[i, j]
                    out[i, j] = v if v * a > b else np.log1p(np.exp(v * a)) / a

    def act_backward(d, z, out, code, a, b, one, zero):
        # d *= sigma'(z) elementwise (out = sigma(z)), d, z, out (B, width)
        B, w = z.shape
        if code == 0:
            for i in range(B):
                for j in range(w):
                    d[i, j] = d[i, j] if z[i, j] > zero else zero
        elif code == 1:
            for i in range(B):
                for j in range(w):
                    d[i, j] = d[i, j] if z[i, j] > zero else d[i, j] * a
        elif code == 2:
            for i in range(B):
                for j in range(w):
                    d[i, j] = d[i, j] if z[i, j] > zero else d[i, j] * (out[i, j] + a)
        elif code == 3:
            for i in range(B):
                for j in range(w):
                    d[i, j] = d[i, j] * (one - out[i, j] * out[i, j])
        elif code == 4:
            for i in range(B):
                for j in range(w):
                    sg = one / (one + np.exp(-z[i, j]))
                    d[i, j] = d[i, j] * (sg * (one + z[i, j] * (one - sg)))
        else:
            for i in range(B):
                for j in range(w):
                    v = z[i, j]
                    if v * a <= b:
                        e = np.exp(v * a)
                        d[i, j] = d[i, j] * (e / (e + one))

    g = globals()
    g["_ACT_FWD"] = nb.njit(fastmath=_FASTMATH)(act_forward)
    g["_ACT_BWD"] = nb.njit(fastmath=_FASTMATH)(act_backward)

    def mm_nt(a, b, out):
        # out[i, j] += sum_k a[i, k] b[j, k]: both operands' rows contiguous, vectorised reductions, four rows of a
        # at a time (each row of b loaded once for the four)
        n, m, kk = a.shape[0], b.shape[0], a.shape[1]
        n4 = n - n % 4
        for i in range(0, n4, 4):
            a0 = a[i]
            a1 = a[i + 1]
            a2 = a[i + 2]
            a3 = a[i + 3]
            for j in range(m):
                bj = b[j]
                s0 = out[i, j]
                s1 = out[i + 1, j]
                s2 = out[i + 2, j]
                s3 = out[i + 3, j]
                for k in range(kk):
                    bk = bj[k]
                    s0 += a0[k] * bk
                    s1 += a1[k] * bk
                    s2 += a2[k] * bk
                    s3 += a3[k] * bk
                out[i, j] = s0
                out[i + 1, j] = s1
                out[i + 2, j] = s2
                out[i + 3, j] = s3
        for i in range(n4, n):
            a0 = a[i]
            for j in range(m):
                bj = b[j]
                s0 = out[i, j]
                for k in range(kk):
                    s0 += a0[k] * bj[k]
                out[i, j] = s0

    g["_MM_NT"] = nb.njit(fastmath=_FASTMATH)(mm_nt)

    def forward_impl(flat, meta, u, zs, acts, out, prm, code):
        # u (B, n_in); zs, acts (L, B, width); out (B, n_out); meta[l] = (w offset, b offset, n_in, n_out)
        # prm = [activation a, activation b, 1, 0] (no float literals: float32 code stays float32)
        nl = meta.shape[0]
        B = u.shape[0]
        ca, cb, one, zero = prm[0], prm[1], prm[2], prm[3]
        for l in range(nl):
            wo, bo, ni, no = meta[l, 0], meta[l, 1], meta[l, 2], meta[l, 3]
            W = flat[wo:wo + no * ni].reshape(no, ni)
            z = out if l == nl - 1 else zs[l]
            for i in range(B):
                for j in range(no):
                    z[i, j] = flat[bo + j]
            _MM_NT(u if l == 0 else acts[l - 1], W, z)  # noqa: F821 - set by _build
            if l < nl - 1:
                _ACT_FWD(z, acts[l], code, ca, cb, one, zero)  # noqa: F821

    def backward_adam_impl(flat, grad, m1, m2, meta, u, zs, acts, g_out, prm, code, adam):
        # gradients of sum(out * g_out) into grad, then Adam on flat with moments m1, m2;
        # adam = [1 - beta1, beta2, 1 - beta2, lr / (1 - beta1^t), sqrt(1 - beta2^t), eps]
        nl = meta.shape[0]
        B = u.shape[0]
        ca, cb, one, zero = prm[0], prm[1], prm[2], prm[3]
        delta = g_out.copy()
        for l in range(nl - 1, -1, -1):
            wo, bo, ni, no = meta[l, 0], meta[l, 1], meta[l, 2], meta[l, 3]
            dT = np.ascontiguousarray(delta.T)                                   # (no, B)
            aT = np.ascontiguousarray((u if l == 0 else acts[l - 1]).T)         # (ni, B)
            gW = grad[wo:wo + no * ni].reshape(no, ni)
            for j in range(no):
                sb = zero
                for i in range(B):
                    sb += dT[j, i]
                grad[bo + j] = sb
                for k in range(ni):
                    gW[j, k] = zero
            _MM_NT(dT, aT, gW)  # noqa: F821
            if l > 0:
                WT = np.ascontiguousarray(flat[wo:wo + no * ni].reshape(no, ni).T)  # (ni, no)
                nxt = np.zeros((B, ni), flat.dtype)
                _MM_NT(delta, WT, nxt)  # noqa: F821
                _ACT_BWD(nxt, zs[l - 1], acts[l - 1], code, ca, cb, one, zero)  # noqa: F821
                delta = nxt
        w1, b2, w2, step_size, bc2s, eps = adam[0], adam[1], adam[2], adam[3], adam[4], adam[5]
        for k in range(flat.shape[0]):
            gk = grad[k]
            a1 = m1[k] + w1 * (gk - m1[k])
            a2 = m2[k] * b2 + w2 * gk * gk
            m1[k] = a1
            m2[k] = a2
            flat[k] = flat[k] - step_size * (a1 / (np.sqrt(a2) / bc2s + eps))

    inner = nb.njit(fastmath=_FASTMATH)
    g["_FWD_IMPL"] = inner(forward_impl)
    g["_BWD_IMPL"] = inner(backward_adam_impl)

    def forward(flat, meta, u, zs, acts, out, prm, code):
        _FWD_IMPL(flat, meta, u, zs, acts, out, prm, code)  # noqa: F821

    def backward_adam(flat, grad, m1, m2, meta, u, zs, acts, g_out, prm, code, adam):
        _BWD_IMPL(flat, grad, m1, m2, meta, u, zs, acts, g_out, prm, code, adam)  # noqa: F821

    # one thread (no parallel=True): nothing beside torch's thread pool, safe in forked workers
    jit = nb.njit(nogil=True, fastmath=_FASTMATH, cache=True)
    return jit(forward), jit(backward_adam)


def _build_train(kid: int, dtype: np.dtype):
    """Compile the fused training loop of :meth:`NumbaMLP.train_riesz` for the kernel id ``kid`` of
    :mod:`~wgf_core.backends.numba_sums` (its profile ``_profile``, the same formulas as the kernel sums) and ``dtype``."""
    nb = _numba()
    _kernels()
    numba_sums._jit_helpers()
    globals()["_PROFILE"] = numba_sums._STATE["profile"]
    KID, DEG, TILE = kid, numba_sums._POLY_DEGREE[dtype.name], numba_sums._TILE
    ZERO, ONE, LOG2E, LO, POLY = (numba_sums._ZERO, numba_sums._ONE, numba_sums._LOG2E, numba_sums._EXP_LO,
                                  numba_sums._POLY)

    def train(flat, grad, m1, m2, meta, prm, code, adam, u, x, tgt, a, loss, lprm, rprm, zs, acts, out, yb, yt, wy,
              gsum, gout):
        # K iterations k: out = net(u[k]), its loss gradient gout, backward pass and Adam (adam[k]). loss 0 (the
        # JKO step): y = x[k] + s out, gout = s (f gsum / B + (y - x[k]) / (tau B)), gsum_i = sum_j wy_j
        # grad_1 K(y_i, col_j) over the columns [y, tgt[k]] (yt, transposed; the row loop of numba_sums: tiles of
        # TILE columns summed in the dtype, the tiles in float64); loss 1 (the normalised slope): v = s out,
        # gout = s dL/dv (a[k] the gradient rows). lprm = [s, f, 1 / (tau B), 1 / B]; rprm: numba_sums' constants.
        K, B = u.shape[0], u.shape[1]
        d = out.shape[1]
        C = tgt.shape[1]
        M = B + C
        s, f, itb, ib = lprm[0], lprm[1], lprm[2], lprm[3]
        p0, p1, p2, p3 = rprm[0], rprm[1], rprm[2], rprm[3]
        zero, one, log2e, lo = rprm[ZERO], rprm[ONE], rprm[LOG2E], rprm[LO]
        q = (rprm[POLY], rprm[POLY + 1], rprm[POLY + 2], rprm[POLY + 3], rprm[POLY + 4], rprm[POLY + 5],
             rprm[POLY + 6], rprm[POLY + 7], rprm[POLY + 8], rprm[POLY + 9], rprm[POLY + 10], rprm[POLY + 11],
             rprm[POLY + 12], rprm[POLY + 13])
        r2 = np.empty(TILE, yt.dtype)
        cw = np.empty(TILE, yt.dtype)
        acc = np.empty(d, np.float64)
        for k in range(K):
            _FWD_IMPL(flat, meta, u[k], zs, acts, out, prm, code)  # noqa: F821
            if loss == 0:
                xk = x[k]
                for i in range(B):
                    for c in range(d):
                        y = xk[i, c] + s * out[i, c]
                        yb[i, c] = y
                        yt[c, i] = y
                tk = tgt[k]
                for j in range(C):
                    for c in range(d):
                        yt[c, B + j] = tk[j, c]
                for i in range(B):
                    for c in range(d):
                        acc[c] = 0.0
                    for j0 in range(0, M, TILE):
                        nt = min(TILE, M - j0)
                        for jj in range(nt):
                            r2[jj] = zero
                        for c in range(d):
                            yic = yb[i, c]
                            col = yt[c, j0:j0 + nt]
                            for jj in range(nt):
                                dc = yic - col[jj]
                                r2[jj] += dc * dc
                        wt = wy[j0:j0 + nt]
                        for jj in range(nt):
                            psi, cc = _PROFILE(KID, r2[jj], p0, p1, p2, p3, zero, one, log2e, lo, q, DEG)  # noqa: F821
                            cw[jj] = wt[jj] * cc
                        for c in range(d):
                            yic = yb[i, c]
                            col = yt[c, j0:j0 + nt]
                            sg = zero
                            for jj in range(nt):
                                sg += cw[jj] * (yic - col[jj])
                            acc[c] += sg
                    for c in range(d):
                        gsum[i, c] = acc[c]
                for i in range(B):
                    for c in range(d):
                        gout[i, c] = s * ((gsum[i, c] * ib) * f + (yb[i, c] - xk[i, c]) * itb)
            else:
                ak = a[k]
                dv = 0.0
                n2 = 0.0
                for i in range(B):
                    for c in range(d):
                        v = s * out[i, c]
                        dv += ak[i, c] * v
                        n2 += v * v
                dv /= B
                n2 /= B
                if n2 < 1e-30:
                    c1 = 1.0 / (B * 1e-15)
                    c2 = 0.0
                else:
                    nn = math.sqrt(n2)
                    c1 = 1.0 / (B * nn)
                    c2 = dv / (B * nn * n2)
                for i in range(B):
                    for c in range(d):
                        gout[i, c] = s * (ak[i, c] * c1 - (s * out[i, c]) * c2)
            _BWD_IMPL(flat, grad, m1, m2, meta, u[k], zs, acts, gout, prm, code, adam[k])  # noqa: F821

    return nb.njit(nogil=True, fastmath=numba_sums._FASTMATH, cache=True)(train)


def _kernels():
    if not _COMPILED:
        _COMPILED["forward"], _COMPILED["backward_adam"] = _build()
    return _COMPILED["forward"], _COMPILED["backward_adam"]


class NumbaMLP:
    r"""Trains ``net`` (a :func:`wgf_core.networks.mlp`, on the CPU) with Adam, forward and backward in numba.

    Parameters
    ----------
    net : nn.Sequential
        ``Linear, act, ..., Linear`` with one hidden width and one activation of :data:`ACTIVATIONS`,
        float32 or float64, on the CPU. Its parameters are rebound to views of one flat buffer.
    lr : float
        Adam's learning rate :math:`\eta` (``param_groups[0]["lr"]`` may be changed between steps).
    betas : (float, float)
        :math:`(\beta_1, \beta_2)` in :math:`[0, 1)`.
    eps : float
        Adam's :math:`\epsilon`.

    Use: ``out = m.forward(u)`` (``u`` ``(B, n_in)``; keeps what the backward pass needs), then
    ``m.step(G)`` with ``G`` ``(B, n_out)`` the loss's gradient in ``out``: one Adam step on
    :math:`\partial\mathcal L/\partial\theta = \partial(\sum \mathrm{out}\odot G)/\partial\theta`.
    """

    def __init__(self, net: nn.Sequential, *, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8):
        lay = _layers(net)
        if lay is None or not supports(net):
            raise ParameterError("NumbaMLP trains a wgf_core.networks.mlp (Linear layers of one hidden width, one "
                                 f"activation of {sorted(ACTIVATIONS)}) on the CPU in float32/float64; got {net}")
        linears, act = lay
        b1, b2 = (float(b) for b in betas)
        for name, b in (("betas[0]", b1), ("betas[1]", b2)):
            if not 0.0 <= b < 1.0:
                raise ParameterError(f"Adam's {name} = {b!r} is not allowed: it must be in [0, 1)")
        self.param_groups = [{"lr": check_positive("lr", lr), "betas": (b1, b2), "eps": check_positive("eps", eps)}]
        p0 = linears[0].weight
        self.dtype = p0.dtype
        self.n_in, self.n_out = linears[0].in_features, linears[-1].out_features
        self.width = linears[0].out_features if len(linears) > 1 else 0
        self.depth = len(linears) - 1
        self.flat, offsets = flatten_linears(linears)
        off = self.flat.numel()
        self.meta = np.asarray([(wo, bo, lin.in_features, lin.out_features) for (wo, bo), lin in zip(offsets, linears)],
                               dtype=np.int64)
        self.code, ca, cb = _act_constants(act)
        ndt = self.flat.numpy().dtype
        self._prm = np.asarray([ca, cb, 1.0, 0.0], dtype=ndt)
        self._flat, self._grad = self.flat.numpy(), np.zeros(off, dtype=ndt)
        self._m1, self._m2 = np.zeros(off, dtype=ndt), np.zeros(off, dtype=ndt)
        self.steps = 0
        self._saved = None
        self._ws: dict = {}

    @property
    def n_params(self) -> int:
        return int(self._flat.shape[0])

    def _workspace(self, batch: int):
        """``(zs, acts)``: the pre-activations and activations ``(depth, batch, width)``."""
        ws = self._ws.get(batch)
        if ws is None:
            ndt = self._flat.dtype
            ws = self._ws[batch] = (np.empty((self.depth, batch, self.width), ndt),
                                    np.empty((self.depth, batch, self.width), ndt))
        return ws

    def _adam(self, count: int) -> np.ndarray:
        """Adam's constants of the next ``count`` steps, ``(count, 6)`` (the compiled update's ``adam``)."""
        g = self.param_groups[0]
        b1, b2 = g["betas"]
        rows = []
        for t in range(self.steps + 1, self.steps + count + 1):
            bc1, bc2 = 1.0 - b1 ** t, 1.0 - b2 ** t
            rows.append((1.0 - b1, b2, 1.0 - b2, g["lr"] / bc1, math.sqrt(bc2), g["eps"]))
        self.steps += count
        return np.asarray(rows, dtype=self._flat.dtype).reshape(count, 6)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``net(u)`` for ``u`` ``(B, n_in)`` (a new tensor, no autograd); keeps the activations for :meth:`step`."""
        if u.dim() != 2 or u.shape[1] != self.n_in:
            raise ParameterError(f"NumbaMLP.forward: input of shape (B, {self.n_in}), got {tuple(u.shape)}")
        fwd, _ = _kernels()
        un = u.detach().to(self.dtype).contiguous().numpy()
        ws = self._workspace(un.shape[0])
        out = np.empty((un.shape[0], self.n_out), dtype=self._flat.dtype)
        fwd(self._flat, self.meta, un, ws[0], ws[1], out, self._prm, self.code)
        self._saved = (un, ws)
        return torch.from_numpy(out)

    def step(self, grad_out: torch.Tensor) -> None:
        r"""Backward pass of :math:`\sum \mathrm{out}\odot G` (``G = grad_out`` ``(B, n_out)``) for the last
        :meth:`forward`, then one Adam update of every weight."""
        if self._saved is None:
            raise ParameterError("NumbaMLP.step: call forward first (each step needs its own forward pass)")
        un, ws = self._saved
        if tuple(grad_out.shape) != (un.shape[0], self.n_out):
            raise ParameterError(f"NumbaMLP.step: grad_out of shape {(un.shape[0], self.n_out)}, "
                                 f"got {tuple(grad_out.shape)}")
        _, bwd = _kernels()
        bwd(self._flat, self._grad, self._m1, self._m2, self.meta, un, ws[0], ws[1],
            grad_out.detach().to(self.dtype).contiguous().numpy(), self._prm, self.code, self._adam(1)[0])
        self._saved = None

    def train_riesz(self, kernel, u: torch.Tensor, *, x: Optional[torch.Tensor] = None,
                    target: Optional[torch.Tensor] = None, grad_rows: Optional[torch.Tensor] = None,
                    frame_scale: float = 1.0, factor: float = 1.0, tau: float = 1.0) -> None:
        r"""``K`` training iterations of a neural Riesz scheme in one compiled call: for each ``k`` the forward pass
        on ``u[k]`` ``(B, n_in)``, the loss's gradient :math:`G` in the output, the backward pass and Adam.

        With ``x`` ``(K, B, d)`` (the backward scheme's JKO loss, :class:`wgf_core.schemes.NeuralBackward`):
        :math:`y = x_k + s\,\mathrm{out}`, :math:`G = s\,(f\,g(y)/B + (y - x_k)/(\tau B))` with
        :math:`g(y_i) = \frac1B\sum_j\nabla_1K(y_i, y_j) - \frac1C\sum_j\nabla_1K(y_i, t_{k,j})` the kernel
        gradient sums of :func:`wgf_core.riesz.riesz_gradient` (summed as the row loop of
        :mod:`~wgf_core.backends.numba_sums` sums them, with its compiled profile), ``target`` ``(K, C, d)`` or None. With ``grad_rows`` ``(K, B, d)``
        (the forward scheme's normalised slope, :class:`wgf_core.schemes.NeuralForward`, no coincident
        particles): :math:`v = s\,\mathrm{out}`, :math:`G = s\,\partial\mathcal L/\partial v` in closed form
        (:meth:`wgf_core.schemes.NeuralForward._loss_gradient`) with :math:`\nabla\Phi` rows ``grad_rows[k]``.
        ``s = frame_scale``, ``f = factor``, ``kernel`` the Riesz kernel. The same updates as ``K`` calls of
        :meth:`forward` and :meth:`step` with these gradients, to round-off (``tests/test_backends_numba_mlp.py``).
        """
        if (x is None) == (grad_rows is None) or u.dim() != 3 or u.shape[2] != self.n_in:
            raise ParameterError(f"NumbaMLP.train_riesz: u of shape (K, B, {self.n_in}) and one of x, grad_rows, "
                                 f"got u {tuple(u.shape)}")
        K, B = u.shape[0], u.shape[1]
        ndt = self._flat.dtype
        d = self.n_out
        key = ("train", numba_sums._kid(kernel), ndt.char)
        fn = _COMPILED.get(key)
        if fn is None:
            fn = _COMPILED[key] = _build_train(key[1], ndt)

        def arr(t, shape):
            return np.zeros(shape, ndt) if t is None else np.ascontiguousarray(t.detach().numpy(), dtype=ndt)

        C = 0 if target is None else target.shape[1]
        wy = np.concatenate([np.full(B, 1.0 / B), np.full(C, -1.0 / max(C, 1))]).astype(ndt)
        zs, acts = self._workspace(B)
        lprm = np.asarray([frame_scale, factor, 1.0 / (tau * B), 1.0 / B], dtype=ndt)
        fn(self._flat, self._grad, self._m1, self._m2, self.meta, self._prm, self.code, self._adam(K),
           arr(u, None), arr(x, (K, B, d)), arr(target, (K, 0, d)), arr(grad_rows, (K, B, d)), 0 if x is not None else 1,
           lprm, numba_sums._prm(kernel, ndt), zs, acts, np.empty((B, d), ndt), np.empty((B, d), ndt),
           np.empty((d, B + C), ndt), wy, np.empty((B, d), ndt), np.empty((B, d), ndt))
        self._saved = None

    def gradient(self) -> torch.Tensor:
        """The last :meth:`step`'s gradient, flat (the layout of :attr:`flat`), a copy."""
        return torch.from_numpy(self._grad.copy())
