"""Schemes: one step of a discretised gradient flow, for the one runner (:func:`wgf_core.runner.run`).

A scheme declares what it needs from an energy (:attr:`Scheme.needs`, a subset of
:data:`wgf_core.energies.CAPABILITIES` plus scheme-specific structure) and moves a
:class:`~wgf_core.measures.Particles` by one iteration:

``mu_next = scheme.step(energy, mu, tau, k, generator)``

where ``tau`` is the step size, ``k`` the number of steps done so far and ``generator`` the
in-loop randomness (one :class:`torch.Generator` for the batch, or one per run). An iteration
counts :attr:`Scheme.steps_per_iteration` steps (2 for the IFT and WFR splittings: a Wasserstein
step and a weight step, as Gladin et al. count them).

Modules: :mod:`~wgf_core.schemes.base` (the contract), :mod:`~wgf_core.schemes.particle`
(particle schemes of the MMD energy):

* :class:`Euler`: explicit Euler in the Wasserstein geometry, :math:`x \\mapsto x - \\tau\\nabla
  \\frac{\\delta F}{\\delta\\mu}`, with optional noise injection (Arbel et al. 2019: the gradient is
  evaluated at :math:`x + \\beta\\xi`, :math:`\\xi\\sim N(0, I)`).
* :class:`IFT`: the interaction-force transport splitting (Gladin et al. 2024, Algorithm 1): an
  Euler step of the positions, then an MMD (Hilbert) step of the weights, by one projected
  gradient step (``"pgd"``) or the exact simplex QP (23) (``"qp"``).
* :class:`WFR`: the Wasserstein-Fisher-Rao splitting: an Euler step of the positions, then an
  entropic mirror step of the weights.
"""

from .base import Scheme, check_pair
from .moreau import StepControlledEuler
from .neural import NeuralBackward, NeuralForward
from .particle import IFT, WFR, Euler, ift_weight_qp
from .riesz import RieszEuler
from .variational import DualConfig, MapConfig, PoolConfig, TrainConfig, VariationalJKO

__all__ = ["Scheme", "check_pair", "Euler", "IFT", "WFR", "ift_weight_qp", "StepControlledEuler", "RieszEuler",
           "NeuralBackward", "NeuralForward", "VariationalJKO", "MapConfig", "DualConfig", "TrainConfig",
           "PoolConfig"]
