"""The measure every scheme moves: a batch of weighted empirical measures.

:class:`Particles` holds ``runs`` independent measures of ``n`` points each in ``d`` dimensions,

.. math::

    \\mu^{(r)} = \\sum_{i=1}^n w^{(r)}_i\\,\\delta_{x^{(r)}_i}, \\qquad r = 1, \\dots, \\text{runs},

as one tensor ``x`` of shape ``(runs, n, d)`` and weights ``w`` of shape ``(runs, n)`` (``None``:
uniform, :math:`w_i = 1/n`). The batch dimension is how the seeds of an ensemble run in one tensor
pass (``book/conventions.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .errors import ParameterError

__all__ = ["Particles"]


@dataclass(frozen=True)
class Particles:
    """``runs`` weighted empirical measures: positions ``x`` (runs, n, d), weights ``w`` (runs, n) or None.

    Weights, when given, are nonnegative and sum to 1 over ``n`` in every run (checked to 1e-6 in
    float64 terms on construction by :meth:`of`; the dataclass itself does no host sync).
    """

    x: torch.Tensor
    w: Optional[torch.Tensor] = None

    def __post_init__(self):
        if not isinstance(self.x, torch.Tensor) or self.x.dim() != 3:
            shape = tuple(self.x.shape) if isinstance(self.x, torch.Tensor) else type(self.x).__name__
            raise ParameterError(f"Particles: x must be a tensor of shape (runs, n, d), got {shape}")
        if self.w is not None and (not isinstance(self.w, torch.Tensor) or tuple(self.w.shape) != tuple(self.x.shape[:2])):
            shape = tuple(self.w.shape) if isinstance(self.w, torch.Tensor) else type(self.w).__name__
            raise ParameterError(f"Particles: w must have shape (runs, n) = {tuple(self.x.shape[:2])}, got {shape}")

    @classmethod
    def of(cls, x: torch.Tensor, w: Optional[torch.Tensor] = None) -> "Particles":
        """From points ``(n, d)`` (one run) or ``(runs, n, d)``, with optional weights ``(n,)`` / ``(runs, n)``.

        Weights are checked: nonnegative, finite, summing to 1 per run (to 1e-6).
        """
        if isinstance(x, torch.Tensor) and x.dim() == 2:
            x = x.unsqueeze(0)
            if w is not None and isinstance(w, torch.Tensor) and w.dim() == 1:
                w = w.unsqueeze(0)
        p = cls(x, w)
        if w is not None:
            bad = (~torch.isfinite(w)).any() or (w < 0).any()
            sums = w.double().sum(-1)
            if bool(bad) or bool(((sums - 1.0).abs() > 1e-6).any()):
                raise ParameterError("Particles: weights must be finite, nonnegative and sum to 1 in every run "
                                     f"(sums {sums.tolist()[:4]}...)")
        return p

    @property
    def runs(self) -> int:
        return int(self.x.shape[0])

    @property
    def n(self) -> int:
        return int(self.x.shape[1])

    @property
    def d(self) -> int:
        return int(self.x.shape[2])

    def weights(self) -> torch.Tensor:
        """The weights ``(runs, n)``; uniform ``1/n`` when ``w`` is None."""
        if self.w is not None:
            return self.w
        return torch.full(self.x.shape[:2], 1.0 / self.n, dtype=self.x.dtype, device=self.x.device)

    def detach(self) -> "Particles":
        return Particles(self.x.detach(), None if self.w is None else self.w.detach())

    def cpu(self) -> "Particles":
        """A host copy (snapshots are stored on the host)."""
        return Particles(self.x.detach().cpu().clone(), None if self.w is None else self.w.detach().cpu().clone())

    def run(self, r: int) -> "Particles":
        """The measure of run ``r`` alone, as a batch of one."""
        return Particles(self.x[r:r + 1], None if self.w is None else self.w[r:r + 1])
