r"""Gaussian mixtures: sampling, log-density and score, batched and device-agnostic.

.. math::

    p(x) = \sum_k \pi_k\, \mathcal N(x; m_k, \Sigma_k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch


@dataclass(frozen=True)
class GaussianMixture:
    """Mixture with means ``(K, d)``, covariances ``(K, d, d)`` and weights ``(K,)``."""

    means: torch.Tensor
    covs: torch.Tensor
    weights: torch.Tensor

    @classmethod
    def create(cls, means, covs, weights=None, *, device="cpu", dtype=torch.float32):
        means = torch.as_tensor(means, dtype=dtype, device=device)
        covs = torch.as_tensor(covs, dtype=dtype, device=device)
        if covs.dim() == 2:
            covs = covs.unsqueeze(0).expand(means.shape[0], -1, -1)
        K = means.shape[0]
        w = torch.full((K,), 1.0 / K, dtype=dtype, device=device) if weights is None else torch.as_tensor(
            weights, dtype=dtype, device=device
        )
        return cls(means, covs, w / w.sum())

    @property
    def dim(self) -> int:
        return self.means.shape[-1]

    def to(self, device=None, dtype=None) -> "GaussianMixture":
        return GaussianMixture(*(t.to(device=device, dtype=dtype) for t in (self.means, self.covs, self.weights)))

    def sample(self, n: int, generator: Optional[torch.Generator] = None, *, shape=()) -> torch.Tensor:
        """Draw samples of shape ``(*shape, n, d)``."""
        total = int(math.prod(shape)) * n
        comp = torch.multinomial(self.weights, total, replacement=True, generator=generator)
        L = torch.linalg.cholesky(self.covs)
        z = torch.randn(total, self.dim, generator=generator, dtype=self.means.dtype, device=self.means.device)
        x = self.means[comp] + torch.einsum("nij,nj->ni", L[comp], z)
        return x.reshape(*shape, n, self.dim)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        r"""Log-density at ``x`` ``(..., d)``; returns ``(...)``. Differentiable.

        The Mahalanobis terms come from one triangular solve per component with all points as right-hand
        sides, :math:`L_k^{-1}(x - m_k)^\top` (a solve per point and component would broadcast ``L`` to
        ``(..., K, d, d)``: most of a KL-sampling map iteration)."""
        L = torch.linalg.cholesky(self.covs)  # (K, d, d)
        d = self.dim
        xs = x.reshape(-1, d)
        diff = xs.mT.unsqueeze(0) - self.means.unsqueeze(-1)  # (K, d, N)
        sol = torch.linalg.solve_triangular(L, diff, upper=False)  # (K, d, N)
        maha = (sol * sol).sum(-2).mT.reshape(*x.shape[:-1], -1)  # (..., K)
        logdet = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
        comp = -0.5 * (maha + logdet + self.dim * math.log(2 * math.pi))
        return torch.logsumexp(comp + torch.log(self.weights), dim=-1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\nabla \log p(x)`, shape ``(..., d)``."""
        prec = torch.linalg.inv(self.covs)  # (K, d, d)
        diff = x.unsqueeze(-2) - self.means
        L = torch.linalg.cholesky(self.covs)
        sol = torch.linalg.solve_triangular(L, diff.unsqueeze(-1), upper=False).squeeze(-1)
        logdet = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
        comp = -0.5 * ((sol * sol).sum(-1) + logdet) + torch.log(self.weights)
        resp = torch.softmax(comp, dim=-1)  # (..., K)
        g = -torch.einsum("kij,...kj->...ki", prec, diff)
        return (resp.unsqueeze(-1) * g).sum(-2)
