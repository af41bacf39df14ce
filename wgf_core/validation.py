"""Parameter checks that fail early with a message naming the parameter.

Every public entry point (and the first cell of every notebook) calls these before any
compute, so that a bad value is reported as ``parameter 'x' = value: allowed ...``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import torch

PROFILES = ("ci", "default", "paper")


class ParameterError(ValueError):
    """A user-facing parameter has a value outside its allowed set."""


def _fail(name: str, value: Any, allowed: str) -> None:
    raise ParameterError(f"parameter {name!r} = {value!r} is not allowed: {allowed}")


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise :class:`ParameterError`."""
    allowed = tuple(allowed)
    if value not in allowed:
        _fail(name, value, "one of " + ", ".join(repr(a) for a in allowed))
    return value


def check_positive(name: str, value: Any, *, strict: bool = True) -> float:
    """Return ``float(value)`` if it is a finite number > 0 (``>= 0`` when not strict)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        _fail(name, value, "a finite number " + ("> 0" if strict else ">= 0"))
    if not math.isfinite(v) or (v <= 0 if strict else v < 0):
        _fail(name, value, "a finite number " + ("> 0" if strict else ">= 0"))
    return v


def check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``int(value)`` if it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        isinstance(value, float) and value.is_integer()
    ):
        _fail(name, value, f"an integer >= {minimum}")
    v = int(value)
    if v < minimum:
        _fail(name, value, f"an integer >= {minimum}")
    return v


def check_range(name: str, value: Any, low: float, high: float, *, closed: str = "neither") -> float:
    """Return ``float(value)`` if it lies in the interval (low, high).

    ``closed`` is one of ``"neither"``, ``"left"``, ``"right"``, ``"both"``.
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        _fail(name, value, f"a number in ({low}, {high})")
    lo_ok = v >= low if closed in ("left", "both") else v > low
    hi_ok = v <= high if closed in ("right", "both") else v < high
    if not (lo_ok and hi_ok and math.isfinite(v)):
        lb = "[" if closed in ("left", "both") else "("
        rb = "]" if closed in ("right", "both") else ")"
        _fail(name, value, f"a number in {lb}{low}, {high}{rb}")
    return v


def check_device(device: Any) -> torch.device:
    """Parse ``device`` ("cpu", "cuda", "cuda:0", "mps", a :class:`torch.device`).

    Raises :class:`ParameterError` for a malformed string, or for a device that is not
    available on this machine (naming what is available).
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        _fail("device", device, "'cpu', 'cuda', 'cuda:N' or 'mps'")
    if dev.type == "cuda" and not torch.cuda.is_available():
        _fail("device", device, "'cpu' (no CUDA device is available on this machine)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        _fail("device", device, f"cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        _fail("device", device, "'cpu' (MPS is not available on this machine)")
    if dev.type not in ("cpu", "cuda", "mps"):
        _fail("device", device, "'cpu', 'cuda', 'cuda:N' or 'mps'")
    return dev


def check_dtype(dtype: Any) -> torch.dtype:
    """Parse ``dtype`` ("float32", "float64" or a torch floating dtype)."""
    table = {"float32": torch.float32, "float64": torch.float64, "double": torch.float64, "float": torch.float32}
    if isinstance(dtype, torch.dtype) and dtype in (torch.float32, torch.float64):
        return dtype
    if isinstance(dtype, str) and dtype in table:
        return table[dtype]
    _fail("dtype", dtype, "'float32' or 'float64'")


def select_profile(profile: str, table: Mapping[str, Mapping[str, Any]]) -> dict:
    """Return a copy of ``table[profile]`` after checking ``profile``.

    ``table`` maps each of ``"ci"``, ``"default"``, ``"paper"`` to a dict of sizes.
    """
    check_choice("profile", profile, PROFILES)
    missing = [p for p in PROFILES if p not in table]
    if missing:
        raise KeyError(f"profile table lacks {missing}")
    return dict(table[profile])
