r"""Energies on measures for the one runner: each says what it ``provides`` (see :mod:`.base`).

Modules: :mod:`.mmd` (:math:`c\,\mathrm{MMD}_k^2(\mu, \nu)` for any registry kernel, the Riesz
discrepancy and the interaction energy included), :mod:`.moreau` (MMD-regularized f-divergences,
Stein et al. 2024), :mod:`.variational` (the objectives of the variational JKO, Fan et al. 2022).
"""

from .base import CAPABILITIES
from .mmd import MMD

__all__ = ["CAPABILITIES", "MMD"]

from .variational import (
    VARIATIONAL_CAPABILITIES,
    BoxReference,
    GaussianReference,
    GeneralizedEntropy,
    Interaction,
    JensenShannon,
    KLDivergence,
    SampleReference,
    VariationalEnergy,
    WithInteraction,
    gaussian_attraction,
)

__all__ += ["VARIATIONAL_CAPABILITIES", "BoxReference", "GaussianReference", "GeneralizedEntropy", "Interaction",
            "JensenShannon", "KLDivergence", "SampleReference", "VariationalEnergy", "WithInteraction",
            "gaussian_attraction"]

# Stein et al. 2024: the MMD-regularised f-divergence (Moreau envelope in an RKHS)
from .moreau import MoreauFDivergence, MoreauState  # noqa: E402

__all__ += ["MoreauFDivergence", "MoreauState"]
