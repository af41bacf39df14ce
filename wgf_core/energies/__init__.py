"""Energies on measures, for the one runner (:func:`wgf_core.runner.run`).

An energy says what it provides (:attr:`provides`), so that a scheme can declare what it needs
(:attr:`wgf_core.schemes.Scheme.needs`) and the runner can refuse a pair that cannot work:

* ``"value"``: :math:`F(\\mu)` per run, shape ``(runs,)``;
* ``"first_variation"``: :math:`\\frac{\\delta F}{\\delta\\mu}[\\mu](z)` at points ``z``, and its
  gradient in ``z``;
* ``"gradient"``: the Wasserstein gradient :math:`\\nabla\\frac{\\delta F}{\\delta\\mu}[\\mu](x_i)`
  at the particles.

:class:`MMD` is :math:`F(\\mu) = c\\,\\mathrm{MMD}_k^2(\\mu, \\nu)` (``book/conventions.md``: no 1/2
inside MMD², :math:`c = 1/2` gives the energy of the conventions page). With the Riesz kernel
:math:`k(x, y) = -|x - y|^r` it is the discrepancy of Altekrüger et al. (2023); with ``target``
None it is the interaction energy :math:`c\\iint k\\,d\\mu\\,d\\mu`.
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
