"""Schemes for the one runner: each says what it ``needs`` from an energy and does one iteration
``scheme.step(energy, mu, tau, k, generator) -> Particles`` (the contract: :mod:`.base`).

Modules: :mod:`.particle` (explicit Euler with noise injection, the IFT and WFR splittings of
Gladin et al. 2024), :mod:`.moreau` (Euler with step control, Stein et al. 2024), :mod:`.riesz` and
:mod:`.neural` (Euler leaving a Dirac, the neural backward and forward schemes, Altekrüger et al.
2023), :mod:`.variational` (the variational JKO, Fan et al. 2022).
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
