"""Parameter checks that fail early with a message naming the parameter.

Every public entry point (and the first cell of every notebook) calls these before any
compute, so that a bad value is reported as ``parameter 'x' = value: allowed ...``.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import numbers
import unicodedata
from typing import Any, Iterable, Mapping, Optional

import torch

from .errors import ParameterError

PROFILES = ("ci", "default", "paper")




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


def check_int_list(name: str, value: Any, *, minimum: int = 1) -> list[int]:
    """Return ``value`` as a non-empty list of integers ``>= minimum``.

    Accepts a list or tuple of integers, one integer, or a string such as ``"2,6"`` or ``"[2, 6]"``
    (what ``papermill -p dims ...`` may pass). Any other value is reported whole, naming the
    parameter: ``parameter 'dims' = 'abc' is not allowed: ...``.
    """
    allowed = f"a non-empty list of integers >= {minimum}, e.g. [2, 6] or '2,6'"
    items = value
    if isinstance(value, str):
        text = value.strip().strip("[]()").strip()
        items = [t.strip() for t in text.split(",")] if text else []
        try:
            items = [int(t) for t in items]
        except ValueError:
            _fail(name, value, allowed)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        items = [value]
    if not isinstance(items, (list, tuple)) or not items:
        _fail(name, value, allowed)
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int) and not (isinstance(v, float) and v.is_integer()):
            _fail(name, value, allowed)
        if int(v) < minimum:
            _fail(name, value, allowed)
        out.append(int(v))
    return out


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


def _ascii_hint(text: str) -> str:
    """``"; write 5"`` when ``text`` holds non-ASCII characters that NFKC turns into ASCII (``"５"``), else ``""``."""
    norm = unicodedata.normalize("NFKC", text)
    return f"; write {norm!r}" if not text.isascii() and norm != text and norm.isascii() else ""


def check_parameter_name(name: Any) -> str:
    """Return ``name`` if it is an ASCII Python identifier and not a keyword.

    A non-ASCII name is refused rather than normalised: Python reads the identifier ``ｓｉｇｍａ``
    as ``sigma`` (NFKC), so it would set ``sigma`` under another spelling, and another hash.
    """
    ok = isinstance(name, str) and name.isascii() and name.isidentifier() and not keyword.iskeyword(name)
    if not ok:
        hint = _ascii_hint(name) if isinstance(name, str) else ""
        raise ParameterError(f"parameter name {name!r} is not allowed: an ASCII identifier such as sigma "
                             f"or n_steps{hint}")
    return name


def check_number_type(name: str, value: Any, allowed: str = "a number") -> Any:
    """Return ``value`` if it is a real number (``int``, ``float``, numpy scalar; not ``bool``).

    Refuses text, even text that reads as a number (``"5"``, fullwidth ``"５"``), booleans and
    containers, naming ``allowed`` (what the parameter's own check allows).
    """
    if isinstance(value, bool):
        _fail(name, value, f"{allowed} (True/False is not a number)")
    if isinstance(value, str):
        _fail(name, value, f"{allowed} (a number, not text{_ascii_hint(value)})")
    if not isinstance(value, numbers.Real):
        _fail(name, value, f"{allowed} (a number, not a {type(value).__name__})")
    return value


def check_scalar(name: str, value: Any, allowed: str) -> Any:
    """Return ``value`` if it is one value (``None``, ``bool``, a number or a string), not a container.

    For parameters that take one of a set of choices: a list or a mapping is refused naming
    ``allowed`` instead of failing later as an unhashable key.
    """
    if value is not None and not isinstance(value, (bool, numbers.Real, str)):
        _fail(name, value, f"{allowed} (one value, not a {type(value).__name__})")
    return value


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
        raise ParameterError(f"parameter 'table' has the profiles {list(table)}, lacking {missing}: it must map each "
                             f"of {', '.join(repr(p) for p in PROFILES)} to a dict of sizes")
    return dict(table[profile])


def _assigned_names(source: str) -> list[str]:
    """Names assigned at the top level of a cell (``x = ...``, ``x: int = ...``), in order."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name) and t.id not in names:
                names.append(t.id)
    return names


def check_parameter_names(declared_source: str, injected_source: str) -> None:
    """Refuse injected parameters that the ``parameters`` cell does not declare.

    Parameters
    ----------
    declared_source : str
        Source of the notebook's cell tagged ``parameters``.
    injected_source : str
        Source of the cell papermill injected after it (``# Parameters`` ...).

    Raises
    ------
    ParameterError
        Naming the unknown parameter, the closest declared name and all declared names.
    """
    declared = _assigned_names(declared_source)
    for name in _assigned_names(injected_source):
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ParameterError(f"parameter {name!r} is not a parameter of this notebook: {hint}"
                                 f"its parameters are {', '.join(declared)}")


def check_notebook_parameters(history: Optional[list] = None) -> None:
    """In a notebook executed by papermill, refuse ``-p name value`` for an undeclared ``name``.

    Papermill only warns about an unknown parameter and runs the notebook with the defaults, so a
    mistyped ``sigma`` would silently give the default figure. Called in the first cell after the
    ``parameters`` cell; it reads the kernel's input history (``In``): papermill's injected cell
    (first line ``# Parameters``) and the cell executed just before it, the ``parameters`` cell.
    Outside papermill (no injected cell) it does nothing.
    """
    if history is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover
            return
        ip = get_ipython()
        if ip is None:
            return
        history = list(ip.user_ns.get("In", []))
    for i in range(len(history) - 1, 0, -1):
        if history[i].lstrip().startswith("# Parameters"):
            check_parameter_names(history[i - 1], history[i])
            return
