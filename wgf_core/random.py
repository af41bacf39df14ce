"""Seeded random number generators (no global RNG state is touched)."""

from __future__ import annotations

import torch

from .errors import ParameterError
from .validation import check_device


def make_generator(seed: int, device="cpu") -> torch.Generator:
    """A :class:`torch.Generator` on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=check_device(device))
    g.manual_seed(int(seed))
    return g


def run_generators(seed: int, runs: int, device="cpu") -> list[torch.Generator]:
    """One generator per independent run, seeded ``seed + r`` (run ``r`` is reproducible alone)."""
    return [make_generator(seed + r, device) for r in range(runs)]


def standard_normal_like(x: torch.Tensor, generator=None) -> torch.Tensor:
    """Standard normal draws shaped like ``x`` ``(runs, n, d)``.

    ``generator``: one :class:`torch.Generator` for the whole batch, or a sequence of one generator
    per run; then run ``r``'s draws come from its own generator only, so they do not depend on how
    many runs share the batch (run ``r`` alone gives the same numbers as row ``r`` of the batch).
    """
    if isinstance(generator, (list, tuple)):
        if len(generator) != x.shape[0]:
            raise ParameterError(f"one generator per run: got {len(generator)} generators for {x.shape[0]} runs")
        return torch.stack([torch.randn(x.shape[1:], generator=g, dtype=x.dtype, device=x.device) for g in generator])
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
