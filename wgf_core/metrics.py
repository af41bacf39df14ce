r"""Discrepancies and metrics between (weighted) point clouds and Gaussians.

Convention (see ``book/conventions.md``): the squared MMD is the full V-statistic

.. math::

    \mathrm{MMD}^2(\mu, \nu) = \iint k\,d\mu\,d\mu - 2 \iint k\,d\mu\,d\nu + \iint k\,d\nu\,d\nu,

with no factor 1/2; flows that minimise an MMD use the energy
:math:`F(\mu) = \tfrac12 \mathrm{MMD}^2(\mu, \nu)`, whose first variation is the witness

.. math::

    \frac{\delta F}{\delta \mu}(x) = \int k(x, y)\,d\mu(y) - \int k(x, y)\,d\nu(y)

and whose Wasserstein gradient is :math:`\nabla_x` of it (:func:`mmd_witness_grad`).

Shapes: points ``(..., N, d)``, weights ``(..., N)`` summing to 1 (uniform if omitted).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from .backends import kernel_sum, witness_sums
from .kernels import MAX_BLOCK, Kernel, get_kernel, uniform_weights
from .validation import check_choice

__all__ = [
    "kernel_energy",
    "mmd2",
    "mmd_witness_terms",
    "mmd_witness",
    "mmd_witness_grad",
    "energy_distance",
    "mmd2_noise_floor",
    "w2",
    "sinkhorn_divergence",
    "gaussian_kl",
    "gaussian_symkl",
    "fit_gaussian",
]


def kernel_energy(
    kernel: Kernel, x: torch.Tensor, w: Optional[torch.Tensor] = None, *, block_size: Optional[int] = None,
    backend: str = "auto",
) -> torch.Tensor:
    r""":math:`\iint k\,d\mu\,d\mu = w^\top K_{xx} w` for :math:`\mu = \sum_i w_i \delta_{x_i}`.

    Parameters
    ----------
    kernel : Kernel
    x : Tensor ``(..., N, d)``;  w : Tensor ``(..., N)``, optional (uniform if None)

    Returns
    -------
    Tensor ``(...)``: the self term of :func:`mmd2` (the interaction energy of :class:`~wgf_core.energies.MMD`
    without a target is ``scale`` times it). ``backend``: of :func:`~wgf_core.backends.kernel_sum`.
    """
    w = uniform_weights(x) if w is None else w
    return (kernel_sum(kernel, x, x, w, block_size=block_size, backend=backend) * w).sum(-1)


def mmd2(
    kernel: Kernel,
    x: torch.Tensor,
    y: torch.Tensor,
    wx: Optional[torch.Tensor] = None,
    wy: Optional[torch.Tensor] = None,
    *,
    block_size: Optional[int] = None,
    target_term: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    r"""Squared MMD between :math:`\mu = \sum_i w^x_i \delta_{x_i}` and :math:`\nu = \sum_j w^y_j \delta_{y_j}`.

    Parameters
    ----------
    kernel : Kernel
    x : Tensor ``(..., N, d)``;  y : Tensor ``(..., M, d)``
    wx : Tensor ``(..., N)``, optional;  wy : Tensor ``(..., M)``, optional
    target_term : Tensor ``(...)``, optional
        :math:`w_y^\top K_{yy} w_y` (``kernel_energy(kernel, y, wy)``) when already computed, e.g. for
        many ``x`` against one target; the result is the same.

    Returns
    -------
    Tensor ``(...)``: :math:`w_x^\top K_{xx} w_x - 2 w_x^\top K_{xy} w_y + w_y^\top K_{yy} w_y`
    (the V-statistic, no 1/2). Clamped at 0 against round-off.
    """
    wx = uniform_weights(x) if wx is None else wx
    wy = uniform_weights(y) if wy is None else wy
    kxx = kernel_energy(kernel, x, wx, block_size=block_size)
    kxy = (kernel_sum(kernel, x, y, wy, block_size=block_size) * wx).sum(-1)
    kyy = kernel_energy(kernel, y, wy, block_size=block_size) if target_term is None else target_term
    return torch.clamp(kxx - 2 * kxy + kyy, min=0)


def mmd_witness_terms(
    kernel: Kernel,
    z: torch.Tensor,
    x: torch.Tensor,
    y: Optional[torch.Tensor] = None,
    wx: Optional[torch.Tensor] = None,
    wy: Optional[torch.Tensor] = None,
    *,
    scale: float = 1.0,
    with_grad: bool = True,
    max_block: int = MAX_BLOCK,
    block_size: Optional[int] = None,
    backend: str = "auto",
):
    r"""The witness :math:`c\,h(z)` and its gradient :math:`c\,\nabla h(z)`, the one implementation.

    .. math::

        h(z) = \int k(z, \cdot)\,d\mu - \int k(z, \cdot)\,d\nu
             = \sum_i w^x_i k(z, x_i) - \sum_j w^y_j k(z, y_j),

    the first variation of :math:`\tfrac12\mathrm{MMD}^2(\cdot, \nu)` at :math:`\mu`; without ``y``
    the :math:`\nu` term is absent (:math:`h` is then the first variation of :math:`\tfrac12\iint k\,d\mu\,d\mu`).

    Parameters
    ----------
    kernel : Kernel
    z : Tensor ``(..., P, d)``, the evaluation points
    x : Tensor ``(..., N, d)``;  y : Tensor ``(..., M, d)``, optional
    wx : Tensor ``(..., N)``, optional;  wy : Tensor ``(..., M)``, optional (uniform if None)
    scale : float
        :math:`c` (the first variation of :math:`c\,\mathrm{MMD}^2` is :math:`2c\,h`), applied to the signed
        weights :math:`c\,[w^x, -w^y]` of the points :math:`[x; y]`.
    with_grad : bool
        False: the gradient is not computed (returned as None).
    max_block : int
        torch, radial kernels: entries of the ``(batch, rows, N + M)`` kernel block formed at once (row blocks
        of ``z`` keep memory at :math:`O(\text{rows}\,(N + M))`); the Gaussian kernel uses squared
        distances and one ``exp`` (:math:`c(r) = -k/s`).
    block_size : int, optional
        torch, other kernels: the row block of :func:`~wgf_core.kernels.torch_kernel_grad_sum`.
    backend : {"auto", "torch", "numba", "keops"}
        Of the sums, :func:`wgf_core.backends.witness_sums` (``"auto"``: one fused numba pass over the pairs
        :math:`(z_i, [x; y]_j)` where it is faster, else the torch paths above).

    Returns
    -------
    h : Tensor ``(..., P)``;  g : Tensor ``(..., P, d)`` or None.
    """
    wx = uniform_weights(x) if wx is None else wx
    if y is None:
        y, wy = x[..., :0, :], wx[..., :0]
    wy = uniform_weights(y) if wy is None else wy
    pts = torch.cat([x, y.expand(*x.shape[:-2], *y.shape[-2:])], dim=-2)
    v = torch.cat([wx, -wy.expand(*wx.shape[:-1], wy.shape[-1])], dim=-1) * scale
    return witness_sums(kernel, z, pts, v, with_grad=with_grad, max_block=max_block, block_size=block_size,
                        backend=backend)


def mmd_witness(kernel, z, x, y, wx=None, wy=None, *, block_size=None) -> torch.Tensor:
    r"""Witness :math:`h(z) = \int k(z, \cdot)\,d\mu - \int k(z, \cdot)\,d\nu`, shape ``(..., P)``
    (:func:`mmd_witness_terms` without the gradient).

    This is the first variation of :math:`F = \tfrac12 \mathrm{MMD}^2(\cdot, \nu)` at :math:`\mu`.
    """
    return mmd_witness_terms(kernel, z, x, y, wx, wy, with_grad=False, block_size=block_size)[0]


def mmd_witness_grad(kernel, z, x, y, wx=None, wy=None, *, block_size=None) -> torch.Tensor:
    r"""Gradient of the witness, :math:`\nabla h(z)`, shape ``(..., P, d)`` (:func:`mmd_witness_terms`).

    This is the Wasserstein gradient of :math:`F = \tfrac12 \mathrm{MMD}^2(\cdot, \nu)`
    (the MMD-flow velocity is its negative; Arbel et al. 2019).
    """
    return mmd_witness_terms(kernel, z, x, y, wx, wy, block_size=block_size)[1]


def energy_distance(x, y, wx=None, wy=None, *, block_size=None) -> torch.Tensor:
    r"""Energy distance :math:`2\mathbb E|X-Y| - \mathbb E|X-X'| - \mathbb E|Y-Y'|`.

    Equals :func:`mmd2` with the Riesz kernel :math:`-|x-y|` (V-statistic).
    """
    return mmd2(get_kernel("riesz", 1.0), x, y, wx, wy, block_size=block_size)


def mmd2_noise_floor(kernel, sampler, n: int, *, repeats: int = 5, generator=None) -> float:
    """Mean MMD² between two independent ``n``-point samples of the same law.

    ``sampler(n, generator)`` returns a ``(n, d)`` tensor. This is the level below which an
    MMD² between an ``n``-particle flow and an ``n``-point target sample cannot be read.
    """
    vals = [float(mmd2(kernel, sampler(n, generator), sampler(n, generator))) for _ in range(repeats)]
    return float(np.mean(vals))


def _np(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().to("cpu", torch.float64).numpy()
    return np.asarray(t, dtype=np.float64)


def w2(x, y, wx=None, wy=None) -> float:
    r"""Wasserstein-2 distance (not squared) by exact OT with POT (``ot.emd2``).

    Parameters
    ----------
    x : ``(N, d)``; y : ``(M, d)``; wx, wy : weights ``(N,)``, ``(M,)`` (uniform if None).

    Returns
    -------
    float :math:`W_2(\mu, \nu)`.
    """
    import ot

    xn, yn = _np(x), _np(y)
    a = np.full(len(xn), 1.0 / len(xn)) if wx is None else _np(wx)
    b = np.full(len(yn), 1.0 / len(yn)) if wy is None else _np(wy)
    a, b = a / a.sum(), b / b.sum()
    cost = ot.dist(xn, yn, metric="sqeuclidean")
    return float(np.sqrt(max(ot.emd2(a, b, cost, numItermax=1_000_000), 0.0)))


def sinkhorn_divergence(x, y, wx=None, wy=None, *, reg: float = 0.05) -> float:
    r"""Debiased Sinkhorn divergence with squared-Euclidean cost (POT).

    :math:`S_\varepsilon = OT_\varepsilon(\mu,\nu) - \tfrac12 OT_\varepsilon(\mu,\mu) - \tfrac12 OT_\varepsilon(\nu,\nu)`,
    with :math:`OT_\varepsilon` the entropic transport cost (POT ``ot.sinkhorn2``, log domain).
    """
    import ot

    xn, yn = _np(x), _np(y)
    a = np.full(len(xn), 1.0 / len(xn)) if wx is None else _np(wx)
    b = np.full(len(yn), 1.0 / len(yn)) if wy is None else _np(wy)

    def ot_eps(p, q, u, v):
        c = ot.dist(u, v, metric="sqeuclidean")
        return float(ot.sinkhorn2(p, q, c, reg, method="sinkhorn_log", numItermax=5000))

    return ot_eps(a, b, xn, yn) - 0.5 * ot_eps(a, a, xn, xn) - 0.5 * ot_eps(b, b, yn, yn)


def fit_gaussian(x: torch.Tensor, w: Optional[torch.Tensor] = None, *, ddof: int = 0):
    r"""Mean and covariance of a (weighted) point cloud: the one Gaussian fit of the package.

    .. math::

        m = \sum_i w_i x_i, \qquad
        \Sigma = \frac{1}{c}\sum_i w_i (x_i - m)(x_i - m)^\top,

    with :math:`c = 1` for ``ddof=0`` (the moments of the empirical measure) and, for ``ddof=1``,
    :math:`c = 1 - \sum_i w_i^2` (unbiased for i.i.d. samples; :math:`c = (N-1)/N` for uniform weights).

    Parameters
    ----------
    x : Tensor ``(..., N, d)``
        Points; leading dimensions are batch dimensions (one fit each).
    w : Tensor ``(..., N)``, optional
        Weights summing to 1 along the last dimension. If omitted, the unweighted formulas
        :math:`m = \frac1N\sum_i x_i`, :math:`\Sigma = \frac{1}{N - \mathrm{ddof}}\sum_i (x_i - m)(x_i - m)^\top`
        are computed as written (a mean and one matrix product).
    ddof : {0, 1}
        0: covariance of the empirical measure; 1: unbiased sample covariance.

    Returns
    -------
    m : Tensor ``(..., d)``
    cov : Tensor ``(..., d, d)``
    """
    check_choice("ddof", ddof, (0, 1))
    if w is None:
        m = x.mean(-2)
        xc = x - m.unsqueeze(-2)
        return m, xc.mT @ xc / (x.shape[-2] - ddof)
    m = torch.einsum("...n,...nd->...d", w, x)
    xc = x - m.unsqueeze(-2)
    cov = torch.einsum("...n,...ni,...nj->...ij", w, xc, xc)
    if ddof:
        cov = cov / (1 - (w * w).sum(-1))[..., None, None]
    return m, cov


def gaussian_kl(m0, S0, m1, S1) -> torch.Tensor:
    r""":math:`KL(N(m_0,S_0)\,\|\,N(m_1,S_1)) = \tfrac12[\operatorname{tr}(S_1^{-1}S_0) + (m_1-m_0)^\top S_1^{-1}(m_1-m_0) - d + \log\det S_1 - \log\det S_0]`."""
    d = m0.shape[-1]
    L1 = torch.linalg.cholesky(S1)
    S1inv_S0 = torch.cholesky_solve(S0, L1)
    dm = (m1 - m0).unsqueeze(-1)
    maha = (dm * torch.cholesky_solve(dm, L1)).sum((-2, -1))
    logdet1 = 2 * torch.log(torch.diagonal(L1, dim1=-2, dim2=-1)).sum(-1)
    logdet0 = torch.linalg.slogdet(S0)[1]
    return 0.5 * (torch.diagonal(S1inv_S0, dim1=-2, dim2=-1).sum(-1) + maha - d + logdet1 - logdet0)


def gaussian_symkl(m0, S0, m1, S1) -> torch.Tensor:
    """Symmetrised KL: ``KL(P0 || P1) + KL(P1 || P0)`` between Gaussians."""
    return gaussian_kl(m0, S0, m1, S1) + gaussian_kl(m1, S1, m0, S0)
