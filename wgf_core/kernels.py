r"""Kernels with analytic gradients, and blocked kernel sums.

Every kernel here is written as

.. math::

    k(x, y) = \psi(r) + e(x, y), \qquad r = |x - y|,

with a radial profile :math:`\psi` and, for the two :math:`W_2`-metrizing kernels of
Modeste & Dombry (listed in the README of the Stein et al. 2024 reference code), a
non-radial extra term :math:`e`. The gradient in the first argument is

.. math::

    \nabla_1 k(x, y) = c(r)\,(x - y) + \nabla_1 e(x, y), \qquad c(r) = \psi'(r) / r,

and each kernel supplies the *gradient coefficient* :math:`c` in closed form, simplified so
that it is finite at :math:`r = 0` whenever :math:`\psi` is differentiable there. For the
kernels that are not differentiable at coincident points (``compact`` for ``s + 2 > 1``,
i.e. :math:`(1-r)_+^{s+2}`, a cone at 0; ``riesz`` with exponent ``s <= 1``) the gradient
at ``x == y`` is defined as 0, the symmetric (minimal-norm) element of the sub- or
super-differential; :math:`c(0)` is set to 0 there and never NaN.

Shapes: points are ``(..., N, d)`` with any leading batch shape (e.g. ``(runs, n, d)``),
weights ``(..., M)``. Kernel sums never form an ``N x M x d`` tensor: they work on row
blocks of the ``N x M`` coefficient matrix, so peak memory is ``O(block * M)``.

This module is the math and the blocked torch loops (:func:`torch_kernel_sum`,
:func:`torch_kernel_grad_sum`, :func:`torch_witness_sums`); it knows no backend. The kernel sums with a
choice of backend (``"auto"``, ``"torch"``, ``"numba"``, ``"keops"``) are those of :mod:`wgf_core.backends`.

Distances (:func:`pairwise_distances`) are exact at coincident points, ``r = 0``: the plain
``|x|^2 + |y|^2 - 2 x.y`` expansion gives ``r ~ 1e-3`` there in float32, which ruins non-smooth
kernels such as Riesz. In low dimension they are computed from the differences; above 16
dimensions by the expansion, with the pairs it cannot resolve recomputed from the differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from .validation import ParameterError, check_positive, check_range

__all__ = [
    "Kernel",
    "KERNELS",
    "get_kernel",
    "uniform_weights",
    "pairwise_distances",
    "torch_kernel_sum",
    "torch_kernel_grad_sum",
    "torch_witness_sums",
    "coefficient_grad_sum",
    "kernel_matrix",
    "broadcast_batch",
    "MAX_BLOCK",
]


# Above this dimension the matrix-product expansion (with exact recomputation of close pairs) is
# used: 28x faster than the direct differences for 2000 x 2000 points in 784-D, 10x in 100-D, the
# same in 2-D (benchmarks/bench_distances.py, 2 threads, this project's 2-core CPU).
_MM_MIN_DIM = 16
# Pairs with |x - y|^2 < _REFINE * (|x|^2 + |y|^2) are recomputed from the differences. Elsewhere the
# expansion's absolute error, about log2(d) * unit roundoff * (|x|^2 + |y|^2), is a relative error
# below ~1e-5 in |x - y| (float32; ~1e-14 in float64).
_REFINE = 0.1
# At most this many coordinates are gathered at once by the recomputation (bounds its memory).
_REFINE_CHUNK = 2**22


def pairwise_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Euclidean distances ``|x_i - y_j|``, shape ``(..., N, M)``, exact at coincident points.

    ``x`` (..., N, d), ``y`` (..., M, d), batch shapes broadcast. For ``d <= 16``, or when autograd
    records, ``torch.cdist`` on the differences (``donot_use_mm_for_euclid_dist``). For larger ``d``
    the expansion :math:`|x|^2 + |y|^2 - 2x\cdot y` (one matrix product), then every pair it cannot
    resolve (:math:`|x - y|^2 < 0.1\,(|x|^2 + |y|^2)`, where cancellation loses digits; coincident
    points among them) is recomputed from :math:`x_i - y_j`, so coincident points still give exactly 0.
    """
    d = x.shape[-1]
    if d <= _MM_MIN_DIM or (torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)):
        return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")
    batch = broadcast_batch(x.shape[:-2], y.shape[:-2])
    x = x.expand(*batch, *x.shape[-2:])
    y = y.expand(*batch, *y.shape[-2:])
    xx = (x * x).sum(-1).unsqueeze(-1)
    yy = (y * y).sum(-1).unsqueeze(-2)
    scale = xx + yy
    r2 = torch.baddbmm(scale.reshape(-1, *scale.shape[-2:]), x.reshape(-1, *x.shape[-2:]),
                       y.reshape(-1, *y.shape[-2:]).transpose(-1, -2), alpha=-2.0).reshape(scale.shape)
    idx = (r2 < _REFINE * scale).nonzero(as_tuple=True)
    step = max(1, _REFINE_CHUNK // max(1, d))
    for s in range(0, idx[0].numel(), step):
        part = tuple(t[s:s + step] for t in idx)
        diff = x[(*part[:-2], part[-2])] - y[(*part[:-2], part[-1])]
        r2[part] = (diff * diff).sum(-1)
    return r2.clamp_min_(0).sqrt_()


def _safe_inv(r: torch.Tensor) -> torch.Tensor:
    """``1 / r`` where ``r > 0`` and 0 where ``r == 0``."""
    pos = r > 0
    return torch.where(pos, 1.0 / torch.where(pos, r, torch.ones_like(r)), torch.zeros_like(r))


# --- radial profiles psi(r) and gradient coefficients c(r) = psi'(r) / r -------------------
# Written with tensor *methods* (r.exp(), (1 - r).relu(), ...) so that the same functions build
# KeOps LazyTensor formulas (wgf_core.backends.keops); the two with a 1/r at r = 0 have lazy twins there.
# Each entry: (psi, coeff, default parameter, parameter check). Parameter s is named as in the
# reference README (``s > 0`` shape parameter; for ``riesz`` the exponent in (0, 2)).


def _gauss(r, s):
    return (-(r * r) / (2 * s)).exp()


def _gauss_c(r, s):
    return -(-(r * r) / (2 * s)).exp() / s


def _imq(r, s):
    if isinstance(r, torch.Tensor):  # in place: one allocation (the flows call this every step)
        return (r * r).add_(s).rsqrt_()
    return (s + r * r).rsqrt()


def _imq_both(r, s):
    """Dense tensors: ``(s + r^2)^(-1/2)`` and ``-(s + r^2)^(-3/2)`` in place, without pow."""
    t = (r * r).add_(s).rsqrt_()
    return t, (t * t).mul_(t).neg_()


def _imq_c(r, s):
    if isinstance(r, torch.Tensor):
        return _imq_both(r, s)[1]
    t = (s + r * r).rsqrt()  # KeOps LazyTensor: no in-place operations
    return -(t * t * t)


def _gauss_both(r, s):
    k = (r * r).mul_(-0.5 / s).exp_()
    return k, k / (-s)


# The constants of the profiles, one definition each (the compiled sums of wgf_core.backends use them too).
def matern_rate(s: float) -> float:
    r""":math:`a = \sqrt 3 / s` of ``matern``."""
    return math.sqrt(3.0) / s


def matern2_rate(s: float) -> float:
    r""":math:`a = \sqrt 5 / s` of ``matern2``."""
    return math.sqrt(5.0) / s


def compact_power(s: float) -> float:
    """The power :math:`q = s + 2` of ``compact``."""
    return s + 2


def compact2_power(s: float) -> float:
    """The power :math:`p = s + 3` of ``compact2``."""
    return s + 3


def _matern(r, s):
    a = matern_rate(s)
    return (1 + a * r) * (-a * r).exp()


def _matern_c(r, s):
    # psi'(r) = -a^2 r exp(-a r)
    a = matern_rate(s)
    return -(a * a) * (-a * r).exp()


def _matern2(r, s):
    a = matern2_rate(s)
    return (1 + a * r + (a * r) * (a * r) / 3) * (-a * r).exp()


def _matern2_c(r, s):
    # psi'(r) = -(a^2 r / 3)(1 + a r) exp(-a r)
    a = matern2_rate(s)
    return -(a * a / 3) * (1 + a * r) * (-a * r).exp()


def _compact(r, s):
    return (1 - r).relu() ** compact_power(s)


def _compact_c(r, s):
    # psi'(r) = -(s+2)(1-r)_+^(s+1); not differentiable at r = 0 (cone): c(0) := 0.
    q = compact_power(s)
    return -q * torch.clamp(1 - r, min=0) ** (q - 1) * _safe_inv(r)


def _compact2(r, s):
    p = compact2_power(s)
    return (1 - r).relu() ** p * (p * r + 1)


def _compact2_c(r, s):
    # psi'(r) = -p (p+1) r (1-r)_+^(p-1)
    p = compact2_power(s)
    return -p * (p + 1) * (1 - r).relu() ** (p - 1)


def _inv_log(r, s):
    return (s + (1 + r * r).log()).rsqrt()


def _inv_log_c(r, s):
    r2 = r * r
    return -((s + (1 + r2).log()) ** -1.5) / (1 + r2)


def _inv_quad(r, s):
    return 1.0 / (1 + s * r * r)


def _inv_quad_c(r, s):
    return -2 * s / (1 + s * r * r) ** 2


def student_const(s: float) -> float:
    r"""The normalising constant :math:`\Gamma((s+1)/2) / (\sqrt{s\pi}\,\Gamma(s/2))` of ``student``."""
    return math.exp(math.lgamma((s + 1) / 2) - math.lgamma(s / 2)) / math.sqrt(s * math.pi)


def _student(r, s):
    return student_const(s) * (1 + r * r / s) ** (-(s + 1) / 2)


def _student_c(r, s):
    return -student_const(s) * (s + 1) / s * (1 + r * r / s) ** (-(s + 3) / 2)


def _riesz(r, s):
    return -(r**s)


def _riesz_c(r, s):
    # psi'(r) = -s r^(s-1); c = -s r^(s-2) for r > 0, and 0 at r = 0 (one-sided choice).
    if not (torch.is_grad_enabled() and r.requires_grad):
        # no autograd through c: three passes instead of seven (the kernel sums' hot spot)
        c = r.reciprocal() if s == 1 else r.pow(s - 2)  # inf where r = 0 (s < 2)
        c.masked_fill_(r == 0, 0.0)
        return c.mul_(-s)
    pos = r > 0
    rr = torch.where(pos, r, torch.ones_like(r))
    return torch.where(pos, -s * rr ** (s - 2), torch.zeros_like(r))


def _w2_extra_abs(x, y, w):
    """sum_j w_j sum_k |x_k y_jk| = sum_k |x_k| (sum_j w_j |y_jk|); value and gradient."""
    m = torch.einsum("...m,...mk->...k", w, y.abs())  # (..., d)
    val = torch.einsum("...nk,...k->...n", x.abs(), m)
    grad = torch.sign(x) * m.unsqueeze(-2)
    return val, grad


def _w2_extra_sq(x, y, w):
    """sum_j w_j sum_k x_k^2 y_jk^2; value and gradient 2 x_k sum_j w_j y_jk^2."""
    m = torch.einsum("...m,...mk->...k", w, y * y)
    val = torch.einsum("...nk,...k->...n", x * x, m)
    grad = 2 * x * m.unsqueeze(-2)
    return val, grad


@dataclass(frozen=True)
class _Spec:
    psi: Callable
    coeff: Callable
    default: float
    doc: str
    extra: Optional[Callable] = None
    check: Optional[Callable] = None
    both: Optional[Callable] = None  # (psi, coeff) from one pass, dense tensors only


def _check_riesz(s):
    return check_range("s", s, 0.0, 2.0)


KERNELS: dict[str, _Spec] = {
    "gauss": _Spec(_gauss, _gauss_c, 1.0, "exp(-r^2 / (2 s))", both=_gauss_both),
    "imq": _Spec(_imq, _imq_c, 1.0, "(s + r^2)^(-1/2)", both=_imq_both),
    "matern": _Spec(_matern, _matern_c, 1.0, "(1 + sqrt(3) r / s) exp(-sqrt(3) r / s)"),
    "matern2": _Spec(
        _matern2, _matern2_c, 1.0, "(1 + sqrt(5) r / s + 5 r^2 / (3 s^2)) exp(-sqrt(5) r / s)"
    ),
    "compact": _Spec(_compact, _compact_c, 1.0, "(1 - r)_+^(s + 2)"),
    "compact2": _Spec(_compact2, _compact2_c, 1.0, "(1 - r)_+^(s + 3) ((s + 3) r + 1)"),
    "inv_log": _Spec(_inv_log, _inv_log_c, 1.0, "(s + log(1 + r^2))^(-1/2)"),
    "inv_quad": _Spec(_inv_quad, _inv_quad_c, 1.0, "(1 + s r^2)^(-1)"),
    "student": _Spec(
        _student,
        _student_c,
        1.0,
        "Gamma((s+1)/2) / (sqrt(s pi) Gamma(s/2)) (1 + r^2 / s)^(-(s+1)/2)",
    ),
    "riesz": _Spec(_riesz, _riesz_c, 1.0, "-r^s, s in (0, 2)", check=_check_riesz),
    "W2_1": _Spec(_gauss, _gauss_c, 1.0, "exp(-r^2 / (2 s)) + sum_k |x_k y_k|", extra=_w2_extra_abs),
    "W2_2": _Spec(_gauss, _gauss_c, 1.0, "exp(-r^2 / (2 s)) + sum_k x_k^2 y_k^2", extra=_w2_extra_sq),
}


@dataclass(frozen=True)
class Kernel:
    r"""A kernel :math:`k(x, y) = \psi(|x-y|) + e(x, y)` from :data:`KERNELS`.

    Build with :func:`get_kernel`. ``param`` is the shape parameter ``s`` of the reference
    README (Stein et al. 2024); for ``gauss`` :math:`k = \exp(-|x-y|^2 / (2 s))`, so a
    bandwidth :math:`\sigma` means ``s = sigma**2``.
    """

    name: str
    param: float

    @property
    def spec(self) -> _Spec:
        return KERNELS[self.name]

    @property
    def is_radial(self) -> bool:
        return self.spec.extra is None

    def profile(self, r: torch.Tensor) -> torch.Tensor:
        """Radial profile :math:`\\psi(r)` applied elementwise."""
        return self.spec.psi(r, self.param)

    def coefficient(self, r: torch.Tensor) -> torch.Tensor:
        """Gradient coefficient :math:`c(r) = \\psi'(r)/r` (0 at r = 0 where psi has a kink)."""
        return self.spec.coeff(r, self.param)

    def profile_and_coefficient(self, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(profile(r), coefficient(r))`` of a dense tensor, sharing work where a kernel allows it."""
        if self.spec.both is not None:
            return self.spec.both(r, self.param)
        return self.profile(r), self.coefficient(r)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Gram matrix ``k(x_i, y_j)``, shape ``(..., N, M)`` (dense; for small sizes)."""
        return kernel_matrix(self, x, y)


def get_kernel(name: str, param: Optional[float] = None) -> Kernel:
    """Return the kernel ``name`` with shape parameter ``param`` (its default if None).

    Raises :class:`~wgf_core.validation.ParameterError` naming the allowed names or values.
    """
    if name not in KERNELS:
        raise ParameterError(
            f"parameter 'kernel' = {name!r} is not allowed: one of " + ", ".join(map(repr, KERNELS))
        )
    spec = KERNELS[name]
    s = spec.default if param is None else param
    s = spec.check(s) if spec.check is not None else check_positive("s", s)
    return Kernel(name, float(s))


def kernel_matrix(kernel: Kernel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Dense Gram matrix, shape ``(..., N, M)``."""
    k = kernel.profile(pairwise_distances(x, y))
    if kernel.spec.extra is not None:
        if kernel.name == "W2_1":
            k = k + torch.einsum("...nk,...mk->...nm", x.abs(), y.abs())
        else:
            k = k + torch.einsum("...nk,...mk->...nm", x * x, y * y)
    return k


def _default_block(n: int, m: int, itemsize: int, temp_bytes: int = 48 << 20) -> int:
    """Rows per block: each ``block x M`` temporary is about ``temp_bytes`` (48 MiB; a block uses
    a few of them). Deliberately above glibc's largest mmap threshold (32 MiB on 64-bit): smaller
    temporaries come from the malloc heap, where torch's threads fragment it so badly that freed
    blocks are not reused and the resident memory grows towards the full ``N x M`` matrix
    (measured: N = M = 10^5 in 16 MiB blocks was killed at 24 GiB). Memory stays O(block x M)."""
    return max(1, min(n, temp_bytes // max(1, m * itemsize)))


def _rowsum(k: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``sum_j k[..., i, j] w[..., j]``, shape ``(..., n)``, as one (batched) matrix-vector product."""
    return (k @ w.unsqueeze(-1)).squeeze(-1)


def uniform_weights(x: torch.Tensor) -> torch.Tensor:
    """Uniform weights ``1/N`` for the points ``x`` of shape ``(..., N, d)``; shape ``(..., N)``."""
    return torch.full(x.shape[:-1], 1.0 / x.shape[-2], dtype=x.dtype, device=x.device)


def _weights(y: torch.Tensor, w: Optional[torch.Tensor]) -> torch.Tensor:
    return uniform_weights(y) if w is None else w


def broadcast_batch(*shapes: tuple) -> tuple:
    """The broadcast of batch shapes: ``torch.broadcast_shapes`` (its error for shapes that do not broadcast)
    without its ~50-150 us a call, which it spends in Python, at every kernel sum."""
    nd = max(len(sh) for sh in shapes)
    out = []
    for i in range(nd):
        size = 1
        for sh in shapes:
            k = i - nd + len(sh)
            if k >= 0 and sh[k] != 1:
                if size != 1 and sh[k] != size:
                    return tuple(torch.broadcast_shapes(*shapes))  # raises torch's error
                size = sh[k]
        out.append(size)
    return tuple(out)


def torch_kernel_sum(
    kernel: Kernel,
    x: torch.Tensor,
    y: torch.Tensor,
    w: Optional[torch.Tensor] = None,
    *,
    block_size: Optional[int] = None,
) -> torch.Tensor:
    r"""Kernel sums :math:`s_i = \sum_j w_j k(x_i, y_j)`, the blocked torch loop (differentiable by autograd).

    The arguments and the result are those of :func:`wgf_core.backends.kernel_sum`, the public entry with a
    choice of backend; ``block_size`` rows of ``x`` per block (default: each ``block x M`` temporary about
    48 MiB, :func:`_default_block`).
    """
    w = _weights(y, w)
    n, m = x.shape[-2], y.shape[-2]
    b = block_size or _default_block(n, m, x.element_size())
    out = []
    for i in range(0, n, b):
        xb = x[..., i : i + b, :]
        kb = kernel.profile(pairwise_distances(xb, y))
        out.append(_rowsum(kb, w))
    s = torch.cat(out, dim=-1)
    if kernel.spec.extra is not None:
        s = s + kernel.spec.extra(x, y, w)[0]
    return s


def coefficient_grad_sum(c: torch.Tensor, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, *,
                         wy: Optional[torch.Tensor] = None) -> torch.Tensor:
    r"""Gradient sums from a coefficient matrix :math:`c_{ij} = \psi'(r_{ij})/r_{ij}`:
    :math:`g_i = \sum_j w_j c_{ij}(x_i - y_j) = x_i (C w)_i - C (w \odot y)`, shape ``(..., N, d)``.

    ``c`` (..., N, M) (e.g. from :meth:`Kernel.profile_and_coefficient` of precomputed distances),
    ``x`` (..., N, d), ``y`` (..., M, d), ``w`` (..., M); ``wy`` = ``w[..., None] * y`` if already formed.
    No ``N x M x d`` tensor is formed. Radial part only (no ``extra`` term).
    """
    if wy is None:
        wy = w.unsqueeze(-1) * y
    return x * _rowsum(c, w).unsqueeze(-1) - c @ wy


def torch_kernel_grad_sum(
    kernel: Kernel,
    x: torch.Tensor,
    y: torch.Tensor,
    w: Optional[torch.Tensor] = None,
    *,
    block_size: Optional[int] = None,
    with_value: bool = False,
):
    r"""Gradient sums :math:`g_i = \sum_j w_j \nabla_1 k(x_i, y_j)`, the blocked torch loop.

    The public entry with a choice of backend is :func:`wgf_core.backends.kernel_grad_sum`.

    Uses :math:`\sum_j w_j c_{ij}(x_i - y_j) = x_i (C w)_i - C (w \odot y)` on row blocks of
    :math:`C = (c(|x_i - y_j|))_{ij}`, so no ``N x M x d`` tensor is formed.

    Parameters
    ----------
    kernel, x, y, w, block_size
        As in :func:`torch_kernel_sum`.
    with_value : bool
        Also return the kernel sums (computed from the same distance blocks).

    Returns
    -------
    Tensor, shape ``(..., N, d)``; or a pair ``(sums (..., N), grads (..., N, d))``.
    """
    w = _weights(y, w)
    n, m = x.shape[-2], y.shape[-2]
    b = block_size or _default_block(n, m, x.element_size())
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
        return g
    v = torch.cat(vals, dim=-1)
    if kernel.spec.extra is not None:
        v = v + ev
    return v, g



#: Entries of the ``(batch, rows, N + M)`` kernel block that :func:`torch_witness_sums` forms at once.
MAX_BLOCK = 2**24


def _sq_distances(z: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``|z_i - p_j|^2`` ``(..., P, M)`` by the ``|z|^2 + |p|^2 - 2 z.p`` expansion, clamped at 0.

    Used only for the Gaussian kernel, which is smooth at 0, so the round-off of the expansion
    near coincident points (about ``eps * |z|^2``) is harmless there.
    """
    zz = (z * z).sum(-1, keepdim=True)
    pp = (p * p).sum(-1).unsqueeze(-2)
    return (z @ p.transpose(-1, -2)).mul_(-2.0).add_(zz).add_(pp).clamp_(min=0.0)


def _radial_terms(kernel, z, pts, v, with_grad):
    """``K v`` and ``sum_j v_j grad_1 k(z_i, p_j)`` for a radial kernel, ``(..., P)``, ``(..., P, d)``."""
    if kernel.name == "gauss":
        # fast path: k = exp(-r^2 / (2s)) from squared distances (in place, one exp); since
        # c(r) = -k / s, one product K [v, v * p] gives both h = K v and
        # g = sum_j v_j c_ij (z_i - p_j) = -(z * (K v) - K (v * p)) / s.
        s = kernel.param
        kmat = _sq_distances(z, pts).mul_(-0.5 / s).exp_()
        if not with_grad:
            return (kmat @ v.unsqueeze(-1)).squeeze(-1), None
        out = kmat @ torch.cat([v.unsqueeze(-1), v.unsqueeze(-1) * pts], dim=-1)
        h = out[..., 0]
        return h, (out[..., 1:] - z * out[..., :1]) / s
    r = pairwise_distances(z, pts)
    h = (kernel.profile(r) @ v.unsqueeze(-1)).squeeze(-1)
    if not with_grad:
        return h, None
    c = kernel.coefficient(r)
    g = z * (c @ v.unsqueeze(-1)) - c @ (v.unsqueeze(-1) * pts)
    return h, g


def torch_witness_sums(kernel: Kernel, z: torch.Tensor, pts: torch.Tensor, v: torch.Tensor, *, with_grad: bool = True,
                       max_block: int = MAX_BLOCK, block_size: Optional[int] = None):
    r"""Signed kernel sums :math:`h_i = \sum_j v_j k(z_i, p_j)` and their gradients, torch.

    ``z`` ``(..., P, d)``, ``pts`` ``(..., M, d)``, ``v`` ``(..., M)`` (signed weights, e.g. :math:`[w^x, -w^y]`).
    Radial kernels: the ``(batch, rows, M)`` kernel matrix in row blocks of at most ``max_block`` entries
    (the Gaussian kernel from squared distances and one ``exp``, :math:`c(r) = -k/s`); other kernels:
    :func:`torch_kernel_sum` / :func:`torch_kernel_grad_sum` with ``block_size``. Returns ``(h, g or None)``.
    """
    if not kernel.is_radial:
        if not with_grad:
            return torch_kernel_sum(kernel, z, pts, v, block_size=block_size), None
        return torch_kernel_grad_sum(kernel, z, pts, v, block_size=block_size, with_value=True)
    batch = math.prod(z.shape[:-2]) if z.dim() > 2 else 1
    rows = max(1, max_block // max(1, batch * pts.shape[-2]))
    if rows < z.shape[-2]:
        hs, gs = [], []
        for i in range(0, z.shape[-2], rows):
            h_b, g_b = _radial_terms(kernel, z[..., i:i + rows, :], pts, v, with_grad)
            hs.append(h_b), gs.append(g_b)
        return torch.cat(hs, -1), (torch.cat(gs, -2) if with_grad else None)
    return _radial_terms(kernel, z, pts, v, with_grad)
