"""The scheme contract of the one runner, and the check that an energy provides what a scheme needs."""

from __future__ import annotations

from ..errors import ParameterError
from ..measures import Particles

__all__ = ["Scheme", "check_pair"]


class Scheme:
    """Base of the schemes: ``name``, ``needs``, ``steps_per_iteration`` and :meth:`step`."""

    name = "scheme"
    needs: frozenset = frozenset()
    steps_per_iteration = 1
    #: The last training loss of a learned step (neural and variational schemes), else nan.
    last_loss = float("nan")

    def step(self, energy, mu: Particles, tau: float, k: int, generator=None) -> Particles:  # pragma: no cover
        raise NotImplementedError


def check_pair(energy, scheme) -> None:
    """Refuse an energy that does not provide what ``scheme`` needs, naming both and what is missing."""
    provides = frozenset(getattr(energy, "provides", frozenset()))
    missing = sorted(set(scheme.needs) - provides)
    if missing:
        words = {"gradient": "its Wasserstein gradient", "first_variation": "its first variation",
                 "value": "its value", "kernel_quadratic": "the kernel structure of an MMD (for the exact QP)",
                 "samples_dual": "the variational (samples and dual network) form of the variational JKO",
                 "interaction": "an interaction part"}
        raise ParameterError(
            f"scheme {scheme.name!r} needs " + ", ".join(words.get(m, m) for m in missing)
            + f" from the energy, which {getattr(energy, 'name', type(energy).__name__)!r} does not provide "
            f"(it provides: {', '.join(sorted(provides)) or 'nothing'})")
