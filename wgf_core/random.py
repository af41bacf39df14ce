"""Seeded random number generators (no global RNG state is touched)."""

from __future__ import annotations

import torch

from .validation import check_device


def make_generator(seed: int, device="cpu") -> torch.Generator:
    """A :class:`torch.Generator` on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=check_device(device))
    g.manual_seed(int(seed))
    return g


def run_generators(seed: int, runs: int, device="cpu") -> list[torch.Generator]:
    """One generator per independent run, seeded ``seed + r`` (run ``r`` is reproducible alone)."""
    return [make_generator(seed + r, device) for r in range(runs)]
