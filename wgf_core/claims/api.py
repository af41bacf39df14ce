"""Checks of the energies x schemes page (``api/01_energies_x_schemes``): no paper's claim, only a
property every pair of the one API must have.

A Wasserstein gradient flow dissipates its energy, and so do its time discretisations at a small
enough step: explicit Euler decreases :math:`F` for :math:`\\tau` below the inverse of the
gradient's Lipschitz constant, and each half of the IFT and WFR splittings is a descent step of
:math:`F` (a Wasserstein step, then a step on the weights). The check asks it of every pair that
ran, per seed.
"""

from __future__ import annotations

import math
from typing import Mapping

from .core import Claim, Outcome


def every_pair_dissipates(ratios: Mapping[str, float]) -> Outcome:
    """``ratios``: pair label -> F(mu_T) / F(mu_0) of this seed. Every ratio finite and below 1."""
    if not ratios:
        return Outcome(False, math.nan, "no pair ran")
    bad = {k: v for k, v in ratios.items() if not (math.isfinite(v) and v < 1.0)}
    worst = max(ratios, key=lambda k: ratios[k] if math.isfinite(ratios[k]) else math.inf)
    top = ratios[worst]
    return Outcome(not bad, top, (f"largest F(end) / F(start) {top:.3g} ({worst})" if not bad else
                                  "energy not decreased by " + ", ".join(f"{k} ({v:.3g})" for k, v in bad.items())))


CLAIMS = (
    Claim(id="api-every-pair-dissipates", notebook="api/01_energies_x_schemes", kind="check",
          statement="Every (energy, scheme) pair of the grid ends below the energy it started at, in every seed.",
          quote="a Wasserstein gradient flow dissipates its energy; Euler and the IFT / WFR splittings are descent "
                "steps for small enough steps",
          where="project check of the one API (no paper ran these pairs)",
          criterion_text="One seed: F(mu_T) / F(mu_0) < 1 for every pair that ran (F the pair's own energy).",
          tolerance_reason="No tolerance: an ordering of two values of the same energy in the same run.",
          criterion=every_pair_dissipates, value_label="largest F(end) / F(start) over the pairs"),
)
