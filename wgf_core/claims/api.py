r"""Checks of the energies x schemes page (``api/01_energies_x_schemes``): no paper's claim, only a
property every pair of the one API must have.

A Wasserstein gradient flow dissipates its energy, and so do its time discretisations at a small
enough step: explicit Euler decreases :math:`F` for :math:`\tau` below the inverse of the
gradient's Lipschitz constant, and each half of the IFT and WFR splittings is a descent step of
:math:`F` (a Wasserstein step, then a step on the weights). The check asks it of every pair that
ran, per ensemble member, with the margin in decades of decrease of the pair that decreased least.

Seed plan and its cost at ``default`` (:data:`GRID_PLAN`): one look of 3 members (n = 100, 200
iterations of the nine pairs, about 6 s a member on the book's 2-core CPU, one thread): the
margins seen are half a decade or more, far from 0, so no later look is planned (worst case +0 s).
"""

from __future__ import annotations

import math
from typing import Mapping

from .core import Claim, Outcome, SeedPlan

GRID_PLAN = SeedPlan(ci=(1,), default=(3,), paper=(10, 30))


def every_pair_dissipates(ratios: Mapping[str, float]) -> Outcome:
    r"""``ratios``: pair label -> :math:`F(\mu_T) / F(\mu_0)` of this member.

    Margin in decades of decrease, :math:`\min_{\text{pairs}} -\log_{10}(F(\mu_T) / F(\mu_0))`:
    positive when every pair ended below its start. ``nan`` (no number) when no pair ran or a
    pair's ratio is ``nan`` or not positive; an energy that blew up (ratio ``inf``) counts as a
    ratio of :math:`10^{300}` (margin -300 decades).
    """
    if not ratios:
        return Outcome(margin=math.nan, value=math.nan, text="no pair ran")
    ratios = {k: float(v) for k, v in ratios.items()}
    bad = {k: v for k, v in ratios.items() if not (v > 0)}  # nan or <= 0
    if bad:
        return Outcome(margin=math.nan, value=math.nan,
                       text="no positive energy ratio for " + ", ".join(f"{k} ({v:.3g})" for k, v in bad.items()))
    decades = {k: -math.log10(min(v, 1e300)) for k, v in ratios.items()}
    worst = min(decades, key=decades.get)
    up = [k for k, d in decades.items() if d <= 0]
    text = f"least decrease {decades[worst]:.3g} decades ({worst}; F(end) / F(start) {ratios[worst]:.3g})"
    if up:
        text += "; energy not decreased by " + ", ".join(f"{k} ({ratios[k]:.3g})" for k in up)
    return Outcome(margin=decades[worst], value=ratios[worst], text=text)


CLAIMS = (
    Claim(id="api-every-pair-dissipates", notebook="api/01_energies_x_schemes", kind="check",
          statement="Every (energy, scheme) pair of the grid ends below the energy it started at, in every member.",
          quote="a Wasserstein gradient flow dissipates its energy; Euler and the IFT / WFR splittings are descent "
                "steps for small enough steps",
          where="project check of the one API (no paper ran these pairs)",
          criterion_text="One member: F(mu_T) / F(mu_0) < 1 for every pair that ran (F the pair's own energy).",
          tolerance_reason="No tolerance: an ordering of two values of the same energy in the same run.",
          criterion=every_pair_dissipates,
          margin_label="decades of decrease: min over pairs of -log10(F(end) / F(start))",
          value_label="F(end) / F(start) of the pair that decreased least", plan=GRID_PLAN),
)
