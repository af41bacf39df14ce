"""What an energy can provide (the capabilities a scheme may need)."""

from __future__ import annotations

__all__ = ["CAPABILITIES"]

#: What an energy can provide: its value per run, its first variation at points (with the
#: gradient in the point), its Wasserstein gradient at the particles.
CAPABILITIES = ("value", "first_variation", "gradient")
