"""Energies on measures, for the one runner (:func:`wgf_core.runner.run`).

An energy says what it provides (:attr:`provides`), so that a scheme can declare what it needs
(:attr:`wgf_core.schemes.Scheme.needs`) and the runner can refuse a pair that cannot work:

* ``"value"``: :math:`F(\\mu)` per run, shape ``(runs,)``;
* ``"first_variation"``: :math:`\\frac{\\delta F}{\\delta\\mu}[\\mu](z)` at points ``z``, and its
  gradient in ``z``;
* ``"gradient"``: the Wasserstein gradient :math:`\\nabla\\frac{\\delta F}{\\delta\\mu}[\\mu](x_i)`
  at the particles.

:class:`MMD` is :math:`F(\\mu) = c\\,\\mathrm{MMD}_k^2(\\mu, \\nu)` (``book/conventions.md``: no 1/2
inside MMD², :math:`c = 1/2` gives the energy of the conventions page). With the Riesz kernel
:math:`k(x, y) = -|x - y|^r` it is the discrepancy of Altekrüger et al. (2023); with ``target``
None it is the interaction energy :math:`c\\iint k\\,d\\mu\\,d\\mu`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..errors import ParameterError
from ..kernels import Kernel, kernel_grad_sum, kernel_sum, pairwise_distances
from ..measures import Particles
from ..metrics import mmd2, mmd_witness, mmd_witness_grad
from .base import CAPABILITIES

__all__ = ["MMD"]


def _sq_distances(z: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``|z_i - p_j|^2`` ``(..., P, M)`` by the ``|z|^2 + |p|^2 - 2 z.p`` expansion, clamped at 0.

    Used only for the Gaussian kernel, which is smooth at 0, so the round-off of the expansion
    near coincident points (about ``eps * |z|^2``) is harmless there.
    """
    zz = (z * z).sum(-1, keepdim=True)
    pp = (p * p).sum(-1).unsqueeze(-2)
    return (z @ p.transpose(-1, -2)).mul_(-2.0).add_(zz).add_(pp).clamp_(min=0.0)


@dataclass(frozen=True)
class MMD:
    r""":math:`F(\mu) = c\,\mathrm{MMD}_k^2(\mu, \nu)`, :math:`\nu = \frac1m\sum_j\delta_{y_j}` (or weighted).

    Parameters
    ----------
    kernel : Kernel
        From :func:`wgf_core.kernels.get_kernel` (any registry kernel; Riesz included).
    target : Tensor ``(runs, m, d)`` or ``(m, d)``, or None
        The target sample :math:`y` (one per run, or one shared by every run). None: no target,
        :math:`F(\mu) = c\iint k\,d\mu\,d\mu` (the interaction energy for the Riesz kernel).
    scale : float
        :math:`c` (1/2 in the papers: the energy of ``book/conventions.md``).
    target_weights : Tensor ``(runs, m)`` or ``(m,)``, optional
        Weights of the target (uniform if None).
    sampler : callable ``generator -> (runs, m, d)``, optional
        A fresh target sample at every iteration (the "fresh target" convention of the IFT
        experiments): the runner calls :meth:`next` once per iteration.
    max_block : int
        Entries of the ``(batch, rows, n + m)`` kernel block formed at once.

    The first variation is :math:`2c\,h` with the witness :math:`h(z) = \int k(z,\cdot)\,d(\mu-\nu)`
    and the Wasserstein gradient :math:`2c\,\nabla h(x_i)` (tested against autograd of
    :meth:`value`).
    """

    kernel: Kernel
    target: Optional[torch.Tensor] = None
    scale: float = 0.5
    target_weights: Optional[torch.Tensor] = None
    sampler: Optional[Callable] = dataclasses.field(default=None, compare=False)
    max_block: int = 2**24

    provides = frozenset(CAPABILITIES + ("kernel_quadratic",))

    def __post_init__(self):
        if not isinstance(self.kernel, Kernel):
            raise ParameterError(f"MMD: kernel must be a wgf_core.kernels.Kernel, got {type(self.kernel).__name__}")
        if not (isinstance(self.scale, (int, float)) and math.isfinite(self.scale) and self.scale > 0):
            raise ParameterError(f"parameter 'scale' = {self.scale!r} is not allowed: a finite number > 0")
        if self.target is not None and (not isinstance(self.target, torch.Tensor) or self.target.dim() not in (2, 3)):
            raise ParameterError("MMD: target must be a tensor (m, d) or (runs, m, d), or None")

    @property
    def name(self) -> str:
        return f"MMD[{self.kernel.name}]" if self.target is not None else f"interaction[{self.kernel.name}]"

    # -- the target --------------------------------------------------------------------------
    def with_target(self, target: torch.Tensor) -> "MMD":
        """The same energy with another target sample."""
        return dataclasses.replace(self, target=target)

    def next(self, generator) -> "MMD":
        """The energy of the next iteration: a fresh target from ``sampler`` (itself if none)."""
        return self if self.sampler is None else self.with_target(self.sampler(generator))

    def _y(self, mu: Particles):
        """Target points and weights broadcast to the runs of ``mu``: ``(runs, m, d)``, ``(runs, m)``."""
        y = self.target
        if y.dim() == 2:
            y = y.unsqueeze(0).expand(mu.runs, -1, -1)
        if self.target_weights is None:
            wy = torch.full(y.shape[:-1], 1.0 / y.shape[-2], dtype=mu.x.dtype, device=mu.x.device)
        else:
            wy = self.target_weights if self.target_weights.dim() == 2 else self.target_weights.expand(mu.runs, -1)
        return y, wy

    # -- what it provides --------------------------------------------------------------------
    def value(self, mu: Particles) -> torch.Tensor:
        """:math:`F(\\mu)` per run, shape ``(runs,)`` (differentiable in ``mu.x``)."""
        w = mu.weights()
        if self.target is None:
            return self.scale * (kernel_sum(self.kernel, mu.x, mu.x, w) * w).sum(-1)
        y, wy = self._y(mu)
        return self.scale * mmd2(self.kernel, mu.x, y, w, wy)

    def gradient(self, mu: Particles) -> torch.Tensor:
        """Wasserstein gradient at the particles, ``(runs, n, d)``."""
        return self.first_variation(mu, mu.x)[1]

    def first_variation(self, mu: Particles, z: torch.Tensor, *, with_grad: bool = True):
        r"""First variation :math:`\frac{\delta F}{\delta\mu}[\mu](z) = 2c\,h(z)` and its gradient.

        Parameters
        ----------
        mu : Particles
        z : Tensor ``(runs, P, d)``

        Returns
        -------
        h : Tensor ``(runs, P)``; g : Tensor ``(runs, P, d)`` or None.

        Radial kernels form the ``(runs, P, n + m)`` kernel matrix in row blocks of at most
        ``max_block`` entries; the Gaussian kernel uses squared distances and one ``exp``
        (:math:`c(r) = -k/s`). Non-radial kernels use the blocked sums of :mod:`wgf_core.metrics`.
        """
        x, w = mu.x, mu.weights()
        f = 2.0 * self.scale
        if self.target is None:
            y = x[..., :0, :]
            wy = w[..., :0]
        else:
            y, wy = self._y(mu)
        if not self.kernel.is_radial:
            if self.target is None:
                h = kernel_sum(self.kernel, z, x, w)
                g = kernel_grad_sum(self.kernel, z, x, w) if with_grad else None
            else:
                h = mmd_witness(self.kernel, z, x, y, w, wy)
                g = mmd_witness_grad(self.kernel, z, x, y, w, wy) if with_grad else None
            return f * h, (f * g if g is not None else None)
        pts = torch.cat([x, y], dim=-2)
        v = torch.cat([w, -wy], dim=-1) * f
        batch = math.prod(z.shape[:-2]) if z.dim() > 2 else 1
        rows = max(1, self.max_block // max(1, batch * pts.shape[-2]))
        if rows < z.shape[-2]:  # large problems: row blocks keep memory at O(block * (n + m))
            hs, gs = [], []
            for i in range(0, z.shape[-2], rows):
                h_b, g_b = self._terms(z[..., i:i + rows, :], pts, v, with_grad)
                hs.append(h_b), gs.append(g_b)
            return torch.cat(hs, -1), (torch.cat(gs, -2) if with_grad else None)
        return self._terms(z, pts, v, with_grad)

    def _terms(self, z, pts, v, with_grad):
        if self.kernel.name == "gauss":
            # fast path: k = exp(-r^2 / (2s)) from squared distances (in place, one exp); since
            # c(r) = -k / s, one product K [v, v * p] gives both h = K v and
            # g = sum_j v_j c_ij (z_i - p_j) = -(z * (K v) - K (v * p)) / s.
            s = self.kernel.param
            kmat = _sq_distances(z, pts).mul_(-0.5 / s).exp_()
            if not with_grad:
                return (kmat @ v.unsqueeze(-1)).squeeze(-1), None
            out = kmat @ torch.cat([v.unsqueeze(-1), v.unsqueeze(-1) * pts], dim=-1)
            h = out[..., 0]
            return h, (out[..., 1:] - z * out[..., :1]) / s
        r = pairwise_distances(z, pts)
        h = (self.kernel.profile(r) @ v.unsqueeze(-1)).squeeze(-1)
        if not with_grad:
            return h, None
        c = self.kernel.coefficient(r)
        g = z * (c @ v.unsqueeze(-1)) - c @ (v.unsqueeze(-1) * pts)
        return h, g
