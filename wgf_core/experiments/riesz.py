r"""Drivers of the Riesz notebooks (``notebooks/riesz``): Altekrüger, Hertrich, Steidl (ICML 2023).

The flows run through :func:`wgf_core.flows.riesz.run_experiment` (one scheme by name on the
Riesz MMD energy, with the one runner). Here: the seeding convention of the notebooks' random
draws (:func:`stream`).
"""

from __future__ import annotations

import torch

from ..random import make_generator
from ..validation import check_int

__all__ = ["stream", "ENSEMBLE_STRIDE", "DRAW_OFFSET"]

#: Ensemble member ``s`` runs its schemes with the seed ``s * ENSEMBLE_STRIDE``
#: (:func:`wgf_core.flows.riesz.run_experiment` adds ``1000 k`` for scheme ``k``).
ENSEMBLE_STRIDE = 2**20
#: Offset of the seeds of the notebooks' random draws from an ensemble member's scheme seed.
DRAW_OFFSET = 10_000


def stream(seed: int, purpose: int, device="cpu") -> torch.Generator:
    r"""The generator of one random draw of ensemble member ``seed``: seeded
    :math:`\mathrm{seed}\cdot 2^{20} + 10\,000 + \mathrm{purpose}` on ``device``.

    ``purpose`` numbers the draws of a notebook (1: the target sample, 2: the jittered start,
    100 + k: the k-th independent sample of the noise floor, ...). The schemes of the member draw
    from ``seed * 2**20 + 1000 k`` (:func:`wgf_core.flows.riesz.run_experiment`), so the streams
    never meet for ``purpose < 2**20 - 10_000``.
    """
    seed = check_int("seed", seed, minimum=0)
    purpose = check_int("purpose", purpose, minimum=0)
    return make_generator(seed * ENSEMBLE_STRIDE + DRAW_OFFSET + purpose, device)
