"""Divergence guards for flow loops."""

from __future__ import annotations

import torch


class FlowDivergedError(RuntimeError):
    """A flow produced a non-finite value; the message names the step."""


def check_finite(step: int, **tensors: torch.Tensor) -> None:
    """Raise :class:`FlowDivergedError` naming ``step`` and the first non-finite tensor."""
    for name, t in tensors.items():
        if t is not None and not bool(torch.isfinite(t).all()):
            raise FlowDivergedError(
                f"non-finite values in {name!r} at step {step}: the flow diverged "
                "(try a smaller step size)"
            )
