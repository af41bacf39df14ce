r"""Wasserstein flows of MMD-regularised f-divergences (Stein et al. 2024): the solver and the annealing.

The Moreau-envelope problem, its solver and measurements are those of :mod:`wgf_core.moreau` (below the
energies, which use them), re-exported here; this module adds the flows' annealing schedule of
:math:`\lambda` (:func:`lambda_schedule`).
"""

from __future__ import annotations

import numpy as np

from .. import moreau
from ..moreau import *  # noqa: F403  (the solver and its measurements, re-exported: moreau.__all__)

__all__ = [*moreau.__all__, "lambda_schedule"]


def lambda_schedule(lambd: float, n_steps: int, *, annealing: bool, factor: float = 10.0, stages: int = 2) -> np.ndarray:
    """Per-step lambda: constant, or annealed from ``lambd * factor**stages`` down to ``lambd``
    at ``stages`` equally spaced switch times in the first half of the run."""
    lam = np.full(n_steps, float(lambd))
    if annealing and stages > 0:
        switch = [int(round((k + 1) * n_steps / (2 * (stages + 1)))) for k in range(stages)]
        for k in range(n_steps):
            passed = sum(k >= s for s in switch)
            lam[k] = lambd * factor ** (stages - passed)
    return lam
