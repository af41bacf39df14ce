r"""The Gaussian and Gaussian-mixture targets (and initial laws) of the IFT experiments.

Gladin, Dvurechensky, Mielke, Zhu, "Interaction-Force Transport gradient flows",
NeurIPS 2024 (arXiv:2405.17075), section 4:

* 2-D Gaussian: :math:`\mu_0 = \mathcal N(5\cdot\mathbf 1, I)`,
  :math:`\pi = \mathcal N\big(0, \begin{pmatrix}1 & 1/2\\ 1/2 & 2\end{pmatrix}\big)`.
* 2-D mixture: :math:`\pi = \tfrac13\big[\mathcal N(0, \begin{pmatrix}1 & 1/2\\ 1/2 & 2\end{pmatrix})
  + \mathcal N((3,-1), I) + \mathcal N((1,4), \begin{pmatrix}3 & 1/2\\ 1/2 & 1\end{pmatrix})\big]`,
  same :math:`\mu_0`.
* 100-D mixture: :math:`\mu_0 = \mathcal N(0, I_{100})`, :math:`\pi` a mixture of 3 Gaussians
  :math:`\mathcal N(m_i, \Sigma_i)` with :math:`|m_i| = 20` and
  :math:`\lambda_{\min}(\Sigma_i) > 0.5`, drawn from a seed (the paper does not give its draw or
  the component weights; we use equal weights and the recipe of :func:`random_mixture`).

All return :class:`~wgf_core.gmm.GaussianMixture` objects (a single Gaussian is a one-component
mixture), so sampling is ``law.sample(n, generator, shape=(runs,))`` with shape ``(runs, n, d)``.
"""

from __future__ import annotations

import math

import torch

from .gmm import GaussianMixture
from .validation import check_device, check_dtype, check_int, check_positive

__all__ = [
    "gaussian_2d_init",
    "gaussian_2d_target",
    "mixture_2d_target",
    "standard_normal",
    "random_mixture",
]

_COV_A = [[1.0, 0.5], [0.5, 2.0]]


def gaussian_2d_init(*, device="cpu", dtype=torch.float32) -> GaussianMixture:
    r"""Initial law of both 2-D experiments, :math:`\mathcal N(5\cdot\mathbf 1, I_2)`."""
    return GaussianMixture.create([[5.0, 5.0]], torch.eye(2, dtype=torch.float64), device=check_device(device),
                                  dtype=check_dtype(dtype))


def gaussian_2d_target(*, device="cpu", dtype=torch.float32) -> GaussianMixture:
    r"""Target of the 2-D Gaussian experiment, :math:`\mathcal N(0, [[1, .5], [.5, 2]])`."""
    return GaussianMixture.create([[0.0, 0.0]], [_COV_A], device=check_device(device), dtype=check_dtype(dtype))


def mixture_2d_target(*, device="cpu", dtype=torch.float32) -> GaussianMixture:
    r"""Target of the 2-D mixture experiment: equal weights of
    :math:`\mathcal N(0, [[1,.5],[.5,2]])`, :math:`\mathcal N((3,-1), I)`,
    :math:`\mathcal N((1,4), [[3,.5],[.5,1]])`."""
    means = [[0.0, 0.0], [3.0, -1.0], [1.0, 4.0]]
    covs = [_COV_A, [[1.0, 0.0], [0.0, 1.0]], [[3.0, 0.5], [0.5, 1.0]]]
    return GaussianMixture.create(means, covs, device=check_device(device), dtype=check_dtype(dtype))


def standard_normal(dim: int, *, device="cpu", dtype=torch.float32) -> GaussianMixture:
    r""":math:`\mathcal N(0, I_{\mathrm{dim}})` (initial law of the 100-D experiment)."""
    dim = check_int("dim", dim)
    return GaussianMixture.create(torch.zeros(1, dim, dtype=torch.float64), torch.eye(dim, dtype=torch.float64),
                                  device=check_device(device), dtype=check_dtype(dtype))


def random_mixture(dim: int = 100, components: int = 3, *, mean_norm: float = 20.0, min_eig: float = 0.5,
                   max_diag: float = 5.0, rank: int = 10, seed: int = 0, device="cpu",
                   dtype=torch.float32) -> GaussianMixture:
    r"""Seeded random Gaussian mixture with equal weights (the 100-D target of the IFT paper).

    .. math::

        m_i = \text{mean\_norm}\cdot \frac{g_i}{|g_i|},\quad g_i \sim \mathcal N(0, I),\qquad
        \Sigma_i = \operatorname{diag}(\lambda_i) + P_i P_i^\top,\quad
        \lambda_{ij} \sim U(\text{min\_eig}, \text{max\_diag}],\quad (P_i)_{jk} \sim U[0, 1),

    with :math:`P_i` of shape ``(dim, rank)``, so :math:`\lambda_{\min}(\Sigma_i) > \text{min\_eig}`
    (the paper: means of norm 20, "smallest eigenvalue greater than 0.5"; the diagonal-plus-low-rank
    family, with its values 5 and 10, is the one of the authors' public experiment script; the draw
    itself is ours).

    The draw is made in float64 on the CPU from the stream ``(seed, "gaussian_targets/random_mixture")``
    (:func:`wgf_core.random.stream`), so the same seed gives the same mixture on every device.

    Returns
    -------
    GaussianMixture with means ``(components, dim)`` and covariances ``(components, dim, dim)``.
    """
    dim = check_int("dim", dim)
    components = check_int("components", components)
    rank = check_int("rank", rank, minimum=0)
    mean_norm = check_positive("mean_norm", mean_norm)
    min_eig = check_positive("min_eig", min_eig)
    max_diag = check_positive("max_diag", max_diag)
    if max_diag <= min_eig:
        from .validation import ParameterError

        raise ParameterError(f"parameter 'max_diag' = {max_diag!r} is not allowed: a number > min_eig = {min_eig}")
    from .random import stream

    g = stream(seed, "gaussian_targets/random_mixture")
    f64 = torch.float64
    means = torch.randn(components, dim, generator=g, dtype=f64)
    means = mean_norm * means / means.norm(dim=-1, keepdim=True)
    covs = []
    for _ in range(components):
        lam = min_eig + (max_diag - min_eig) * (1.0 - torch.rand(dim, generator=g, dtype=f64))
        lam = torch.clamp(lam, min=math.nextafter(min_eig, math.inf))
        p = torch.rand(dim, rank, generator=g, dtype=f64)
        covs.append(torch.diag(lam) + p @ p.T)
    return GaussianMixture.create(means, torch.stack(covs), device=check_device(device), dtype=check_dtype(dtype))
