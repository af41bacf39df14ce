r"""The validated setup of the one-API page (``notebooks/api/01_energies_x_schemes.ipynb``), with its size caps.

:func:`setup` checks the page's parameters before anything is allocated: the profile, the device, the
base seed, and the sizes ``n`` (particles, also the target sample size), ``steps`` and ``n_seeds`` (members
of the first look) each within the cap that :func:`cost` derives from a memory and time estimate
(:func:`wgf_core.validation.check_sizes`); ``n_seeds`` is at least :data:`~wgf_core.claims.MIN_SEEDS`
outside ``ci`` (the check depends on random draws), and up to the seed plan's last look is never refused.
"""

from __future__ import annotations

from typing import Optional

from .. import claims
from ..claims import MIN_SEEDS
from ..validation import (
    KERNEL_BLOCK_BYTES,
    PAIR_FLOPS,
    check_device,
    check_int,
    check_sizes,
    flow_memory,
    select_profile,
)
from .grid import ENERGIES, SCHEMES

__all__ = ["PROFILES", "CHECK", "cost", "setup"]

#: The page's sizes by profile: particles (and target points), steps of every scheme, the yardstick's sample.
PROFILES = {"ci": dict(n=30, steps=20, reference=300),
            "default": dict(n=100, steps=200, reference=2000),
            "paper": dict(n=300, steps=1000, reference=10000)}
#: The check whose seed plan sets the members (:func:`wgf_core.claims.get`).
CHECK = "api-every-pair-dissipates"


def cost(z: dict) -> tuple:
    """``(bytes, flops, loop steps)`` of the page at the sizes ``z``: every (energy, scheme) pair runs the members
    as one batch of ``n`` particles against ``n`` target points for ``steps`` steps (two kernel sums per step at
    the most, logs every 10 steps with the energy distance to the ``reference`` sample, a snapshot at the end)."""
    pairs, m, n, steps = len(ENERGIES) * len(SCHEMES), z["n_seeds"], z["n"], z["steps"]
    mem = (pairs * flow_memory(steps, m, n, 2, log_every=10, snapshot_every=steps)
           + m * z["reference"] * 3 * 8.0 + KERNEL_BLOCK_BYTES)
    flops = pairs * m * (steps * n * n + (steps / 10 + 1) * n * z["reference"]) * 4 * PAIR_FLOPS
    return mem, flops, pairs * steps


def setup(profile: str, device="cpu", seed: int = 0, *, n_seeds=None, n=None, steps=None) -> dict:
    """The page's validated parameters: ``{"device", "seed", "sizes", "first", "members"}``.

    ``sizes`` are the profile's (:data:`PROFILES`) with ``n`` and ``steps`` when given; ``first`` the notebook's
    ``n_seeds`` (None: the seed plan's first look) and ``members`` the first look's members ``0 .. k - 1``.
    Raises :class:`~wgf_core.errors.ParameterError` naming the first bad parameter, before anything is allocated.
    """
    sizes = select_profile(profile, PROFILES)
    dev = check_device(device)
    seed = check_int("seed", seed, minimum=0)
    looks = claims.get(CHECK).plan.looks(profile)
    z = dict(sizes, n_seeds=looks[0])
    check_sizes(dict(n=n, steps=steps, n_seeds=n_seeds), z, cost, device=dev,
                profile_sizes=dict(sizes, n_seeds=looks[-1]),
                minimum=dict(n_seeds=1 if profile == "ci" else MIN_SEEDS, n=2),
                model="the energies x schemes runs of the members over n x n pairs")
    sizes.update(n=z["n"], steps=z["steps"])
    first: Optional[int] = None if n_seeds is None else z["n_seeds"]
    members = list(range(claims.get(CHECK).plan.looks(profile, first)[0]))
    return dict(device=dev, seed=seed, sizes=sizes, first=first, members=members)
