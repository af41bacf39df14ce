"""Divergence guards for flow loops, and the null distribution of a two-sample statistic."""

from __future__ import annotations

import torch

from .errors import FlowDivergedError


def check_finite(step: int, **tensors: torch.Tensor) -> None:
    """Raise :class:`FlowDivergedError` naming ``step`` and the first non-finite tensor."""
    for name, t in tensors.items():
        if t is not None and not bool(torch.isfinite(t).all()):
            raise FlowDivergedError(
                f"non-finite values in {name!r} at step {step}: the flow diverged "
                "(try a smaller step size)"
            )


def two_sample_null(statistic, sampler, reference: torch.Tensor, draws: int, generator=None) -> list:
    """The null distribution of a two-sample ``statistic`` against a fixed ``reference`` sample.

    ``statistic(sampler(n, generator), reference)`` for ``draws`` independent samples of the
    reference's law and size ``n``. A sample ``x`` of unknown law whose statistic against the same
    reference is at most the largest of ``draws = 19`` such values passes a Monte Carlo two-sample
    test at level 1/20 (the ``draws + 1`` statistics are exchangeable when ``x`` has the same law).
    Returns a list of floats.
    """
    n = reference.shape[0]
    return [float(statistic(sampler(n, generator), reference)) for _ in range(int(draws))]
