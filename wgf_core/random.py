r"""Seeded random number generators: one stream per (base seed, purpose, member).

Every random draw of the project comes from :func:`stream` (or :func:`stream_seed` where a library
wants an integer seed). A stream is named by

* the **base seed**: a notebook's ``seed`` parameter (``SEED=1000 make book`` changes it);
* a **purpose**: a short string naming the draw (``"ift/01_particles_2d/target"``);
* a **member**: the index of the ensemble member (0, 1, 2, ...) or of a repeat within it.

The integer seed is the first 63 bits of the BLAKE2b hash of the three, so streams of different
base seeds, purposes or members are independent and never shared: the ensemble of base seed 1000
has no member in common with that of base seed 0 (tested for base seeds 0-99 x members 0-29). No
global random state is touched.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

import torch

from .errors import ParameterError
from .validation import check_device


def _nonneg_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) and not (hasattr(value, "__index__")):
        raise ParameterError(f"parameter {name!r} = {value!r} is not allowed: an integer >= 0")
    value = int(value)
    if value < 0:
        raise ParameterError(f"parameter {name!r} = {value!r} is not allowed: an integer >= 0")
    return value


def stream_seed(base_seed: int, purpose: str, member: int = 0) -> int:
    r"""The 63-bit integer seed of the stream (``base_seed``, ``purpose``, ``member``).

    .. math::

        \mathrm{seed} = \mathrm{BLAKE2b}_{64}(\texttt{"wgf"},\ \mathrm{base},\ \mathrm{purpose},\
        \mathrm{member}) \bmod 2^{63}.

    Parameters
    ----------
    base_seed : int
        The notebook's base seed, ``>= 0``.
    purpose : str
        What the draw is for (non-empty).
    member : int
        The ensemble member or repeat, ``>= 0``.
    """
    base_seed = _nonneg_int("seed", base_seed)
    member = _nonneg_int("member", member)
    if not isinstance(purpose, str) or not purpose:
        raise ParameterError(f"parameter 'purpose' = {purpose!r} is not allowed: a non-empty string")
    data = b"\x00".join((b"wgf", str(base_seed).encode(), purpose.encode("utf-8"), str(member).encode()))
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") & ((1 << 63) - 1)


def stream_seeds(base_seed: int, purpose: str, members: Iterable[int]) -> list[int]:
    """:func:`stream_seed` for each member."""
    return [stream_seed(base_seed, purpose, m) for m in members]


def make_generator(seed: int, device="cpu") -> torch.Generator:
    """A :class:`torch.Generator` on ``device`` seeded with the integer ``seed`` (from :func:`stream_seed`)."""
    g = torch.Generator(device=check_device(device))
    g.manual_seed(int(seed))
    return g


def stream(base_seed: int, purpose: str, member: int = 0, device="cpu") -> torch.Generator:
    """The :class:`torch.Generator` of the stream (``base_seed``, ``purpose``, ``member``) on ``device``."""
    return make_generator(stream_seed(base_seed, purpose, member), device)


def streams(base_seed: int, purpose: str, members: Iterable[int], device="cpu") -> list[torch.Generator]:
    """One generator per member: member ``m``'s draws do not depend on which other members run beside it."""
    return [stream(base_seed, purpose, m, device) for m in members]


def numpy_stream(base_seed: int, purpose: str, member: int = 0):
    """The :class:`numpy.random.Generator` of the stream (``base_seed``, ``purpose``, ``member``)."""
    import numpy as np

    return np.random.default_rng(stream_seed(base_seed, purpose, member))


def standard_normal_like(x: torch.Tensor, generator=None) -> torch.Tensor:
    """Standard normal draws shaped like ``x`` ``(runs, n, d)``.

    ``generator``: one :class:`torch.Generator` for the whole batch, or a sequence of one generator
    per run; then run ``r``'s draws come from its own generator only, so they do not depend on how
    many runs share the batch (run ``r`` alone gives the same numbers as row ``r`` of the batch).
    """
    if isinstance(generator, (list, tuple)):
        if len(generator) != x.shape[0]:
            raise ParameterError(f"one generator per run: got {len(generator)} generators for {x.shape[0]} runs")
        return torch.stack([torch.randn(x.shape[1:], generator=g, dtype=x.dtype, device=x.device) for g in generator])
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
