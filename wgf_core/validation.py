"""Parameter checks that fail early with a message naming the parameter.

Every public entry point (and the first cell of every notebook) calls these before any
compute, so that a bad value is reported on one line as ``parameter 'x' = value is not allowed:
<what is allowed>``. The ``wgf`` command validates with the same checks (by executing each
notebook's first cell up to its ``setup*`` call), and ``wgf list`` prints what they allow.

* numbers (:func:`check_positive`, :func:`check_range`, :func:`check_int`, :func:`check_int_list`):
  ``int``, ``float``, numpy scalars and 0-d arrays or tensors; not ``True`` / ``False``, not text
  (``"5"``, fullwidth ``"５"``: the refusal names the ASCII spelling), not containers, not NaN or
  an infinity; choices (:func:`check_choice`): one value, a bool only where the choice is one;
* sizes (:func:`check_size`, :func:`check_sizes`, :func:`check_step_count`): an integer up to a
  cap that :func:`size_cap` derives from a driver's estimate of a run's memory (within
  :data:`MEMORY_SHARE` of this machine's memory, :func:`physical_memory`) and time (within
  :data:`TIME_BUDGET` at the optimistic :data:`FLOP_RATES` and :data:`STEP_SECONDS`); the refusal
  prints the cap, the budget and what the estimate gives at the size refused;
* names (:func:`check_parameter_name`, :func:`check_parameter_names`): ASCII identifiers that the
  notebook declares.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import numbers
import os
import unicodedata
from typing import Any, Callable, Iterable, Mapping, Optional

import numpy as np
import torch

from .errors import ParameterError

PROFILES = ("ci", "default", "paper")




def _fail(name: str, value: Any, allowed: str) -> None:
    raise ParameterError(f"parameter {name!r} = {value!r} is not allowed: {allowed}")


def _is_choice(value: Any, choice: Any) -> bool:
    """Whether ``value`` is the allowed ``choice``: equal to it, and a bool only where the choice is one."""
    if isinstance(choice, (bool, np.bool_)) != isinstance(value, (bool, np.bool_)):
        return False
    try:
        same = value == choice
        return isinstance(same, (bool, np.bool_)) and bool(same)
    except Exception:  # noqa: BLE001 - an object whose == fails is not the choice
        return False


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise :class:`ParameterError`.

    ``True`` / ``False`` match only themselves (``1`` is not ``True``), and a container (a list, a
    mapping, an array) is refused as such, so that no later lookup fails on an unhashable key.
    """
    allowed = tuple(allowed)
    if not any(_is_choice(value, a) for a in allowed):
        text = "one of " + ", ".join(repr(a) for a in allowed)
        if isinstance(value, (list, tuple, dict, set, frozenset, bytearray, np.ndarray, torch.Tensor)):
            text += f" (one value, not a {type(value).__name__})"
        _fail(name, value, text)
    return value


def _real(name: str, value: Any, allowed: str) -> float:
    """``float(value)`` for a finite real number, else :class:`ParameterError` naming ``allowed``.

    A number is an ``int``, a ``float``, a numpy scalar or a 0-d numeric array or tensor; not
    ``True`` / ``False``, not text (``"5"``, fullwidth ``"５"``), not ``None`` or a container,
    and not NaN or an infinity.
    """
    if isinstance(value, (bool, np.bool_)):
        _fail(name, value, f"{allowed} (True/False is not a number)")
    if isinstance(value, (str, bytes)):
        hint = _ascii_hint(value) if isinstance(value, str) else ""
        _fail(name, value, f"{allowed} (a number, not text{hint})")
    if isinstance(value, numbers.Real):
        v = float(value)
    elif isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        v = float(value)
    elif (isinstance(value, torch.Tensor) and value.dim() == 0 and not value.dtype.is_complex
          and value.dtype != torch.bool):
        v = float(value)
    else:
        _fail(name, value, f"{allowed} (a number, not a {type(value).__name__})")
    if not math.isfinite(v):
        _fail(name, value, allowed)
    return v


def _integer(name: str, value: Any, allowed: str) -> int:
    """``int(value)`` for an integer (or an integral float, ``3.0``), else :class:`ParameterError`."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    v = _real(name, value, allowed)
    if not v.is_integer():
        _fail(name, value, f"{allowed} (a whole number)")
    return int(v)


def check_positive(name: str, value: Any, *, strict: bool = True) -> float:
    """Return ``float(value)`` if it is a finite number > 0 (``>= 0`` when not strict).

    A number as :func:`check_number_type` takes it: ``True``, text such as ``"5"`` and containers
    are refused, naming the parameter.
    """
    allowed = "a finite number " + ("> 0" if strict else ">= 0")
    v = _real(name, value, allowed)
    if v <= 0 if strict else v < 0:
        _fail(name, value, allowed)
    return v


def check_int(name: str, value: Any, *, minimum: int = 1, maximum: Optional[int] = None) -> int:
    """Return ``int(value)`` if it is an integer ``>= minimum`` (and ``<= maximum`` when given).

    An integral float (``3.0``, ``1e3``) and a numpy integer are integers; ``True``, text and
    containers are not. For a size whose largest value comes from a memory or time estimate, see
    :func:`check_size`.
    """
    allowed = f"an integer >= {minimum}" if maximum is None else f"an integer {minimum} .. {maximum}"
    v = _integer(name, value, allowed)
    if v < minimum or (maximum is not None and v > maximum):
        _fail(name, value, allowed)
    return v


def check_size(name: str, value: Any, *, maximum: int, why: str = "", minimum: int = 1,
               cost: Optional[Callable[[int], str]] = None) -> int:
    """Return ``int(value)`` if it is an integer from ``minimum`` to ``maximum``.

    ``maximum`` is a size cap (from a memory or time estimate, see :func:`size_cap`); ``why`` says
    where it comes from and ``cost(v)`` what the estimate gives at a refused ``v`` above it, so
    that the refusal reads ``parameter 'n' = 1000000000 is not allowed: an integer 1 .. 12000
    (<why>); at this size <cost>``. Raises :class:`ParameterError` otherwise.
    """
    allowed = f"an integer {minimum} .. {maximum}" + (f" ({why})" if why else "")
    v = _integer(name, value, allowed)
    if v < minimum:
        _fail(name, value, allowed)
    if v > maximum:
        _fail(name, value, allowed + (f"; at this size {cost(v)}" if cost is not None else ""))
    return v


def check_int_list(name: str, value: Any, *, minimum: int = 1, maximum: Optional[int] = None,
                   why: str = "") -> list[int]:
    """Return ``value`` as a non-empty list of integers ``>= minimum`` (and ``<= maximum`` when given; ``why``
    says where that bound comes from).

    Accepts a list or tuple of integers, one integer, or a string of ASCII digits such as ``"2,6"``
    or ``"[2, 6]"`` (what ``papermill -p dims ...`` may pass). Any other value (text in other
    digits, ``True``, NaN, a mapping) is reported whole, naming the parameter:
    ``parameter 'dims' = 'abc' is not allowed: ...``.
    """
    bounds = f">= {minimum}" if maximum is None else f"{minimum} .. {maximum}"
    allowed = f"a non-empty list of integers {bounds}, e.g. [2, 6] or '2,6'" + (f" ({why})" if why else "")
    items = value
    if isinstance(value, str):
        if not value.isascii():
            _fail(name, value, allowed + f" (ASCII digits{_ascii_hint(value)})")
        text = value.strip().strip("[]()").strip()
        items = [t.strip() for t in text.split(",")] if text else []
        try:
            items = [int(t) for t in items]
        except ValueError:
            _fail(name, value, allowed)
    elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        items = [value]
    if not isinstance(items, (list, tuple)) or not items:
        _fail(name, value, allowed)
    out = []
    for v in items:
        try:
            out.append(_integer(name, v, allowed))
        except ParameterError:
            _fail(name, value, allowed)
        if out[-1] < minimum or (maximum is not None and out[-1] > maximum):
            _fail(name, value, allowed)
    return out


def check_range(name: str, value: Any, low: float, high: float, *, closed: str = "neither") -> float:
    """Return ``float(value)`` if it lies in the interval (low, high).

    ``closed`` is one of ``"neither"``, ``"left"``, ``"right"``, ``"both"``. A number as
    :func:`check_positive` takes it (not ``True``, text, a container, NaN or an infinity).
    """
    lb = "[" if closed in ("left", "both") else "("
    rb = "]" if closed in ("right", "both") else ")"
    allowed = f"a number in {lb}{low}, {high}{rb}"
    v = _real(name, value, allowed)
    lo_ok = v >= low if closed in ("left", "both") else v > low
    hi_ok = v <= high if closed in ("right", "both") else v < high
    if not (lo_ok and hi_ok):
        _fail(name, value, allowed)
    return v


# ----------------------------------------------------------------------------- size caps
#: The share of this machine's memory that one run may plan for (the rest: the interpreter, the
#: libraries, the other processes; ``wgf`` runs one notebook per core).
MEMORY_SHARE = 0.5
#: The longest run the size caps allow (seconds): one day. The time estimates are lower bounds
#: (:data:`FLOP_RATES`, :data:`STEP_SECONDS`), so only a run surely longer than this is refused.
TIME_BUDGET = 24 * 3600
#: Floating-point operations per second assumed of a device by the time estimates: above what the
#: library reaches (this machine's CPU cores together, a large GPU), so an estimate is a lower bound.
FLOP_RATES = {"cpu": 1e11, "cuda": 1e14, "mps": 1e13}
#: Seconds of one step of a flow's loop at the least: the Python and tensor-dispatch overhead of a step of
#: :func:`wgf_core.runner.run` (measured 85 us for an Euler step of 5 particles on one core of this machine).
STEP_SECONDS = 5e-5
#: The largest integer the caps search (:func:`size_cap`); no size of the library comes near it.
_SEARCH_TOP = 2**62


def physical_memory() -> int:
    """Bytes of memory of this machine (``os.sysconf``; 16 GiB where the system does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not a POSIX system
        return 16 * 2**30


def memory_budget(device: Any = "cpu") -> int:
    """Bytes one run may plan for: :data:`MEMORY_SHARE` of :func:`physical_memory`, and at most the
    GPU's memory for a CUDA ``device``."""
    budget = int(MEMORY_SHARE * physical_memory())
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda" and torch.cuda.is_available():
        budget = min(budget, torch.cuda.get_device_properties(dev.index or 0).total_memory)
    return budget


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3g} h"


def size_cap(estimate: Callable[[int], tuple[float, float, float]], *, device: Any = "cpu", minimum: int = 1,
             keep: int = 0, model: str = "") -> tuple[int, str, Callable[[int], str]]:
    """The largest size ``v >= minimum`` whose estimate fits this machine: ``(cap, why, cost)`` for :func:`check_size`.

    ``estimate(v) -> (bytes, flops, steps)`` is a run's memory, floating-point operations and
    loop steps at size ``v`` (the other sizes fixed), non-decreasing in ``v``. A size fits when
    its bytes are within :func:`memory_budget` and ``flops / FLOP_RATES[device] + steps *
    STEP_SECONDS`` within :data:`TIME_BUDGET`. ``keep`` (a profile's own value) is never refused:
    the cap is at least ``keep``. ``model`` names what the estimate counts, for ``why``.
    """
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    mem, rate = memory_budget(dev), FLOP_RATES.get(dev.type, FLOP_RATES["cpu"])

    def at(v: int) -> tuple:
        try:
            return tuple(float(x) for x in estimate(v))
        except OverflowError:  # a size so large that its estimate leaves the floats
            return math.inf, math.inf, math.inf

    def seconds(v: int) -> float:
        _, flops, steps = at(v)
        return flops / rate + steps * STEP_SECONDS

    def fits(v: int) -> bool:
        return at(v)[0] <= mem and seconds(v) <= TIME_BUDGET

    lo, hi = minimum, max(minimum, 1)
    if fits(lo):
        while hi < _SEARCH_TOP and fits(hi):
            lo, hi = hi, min(2 * hi, _SEARCH_TOP)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    cap = max(lo if fits(lo) else minimum - 1, keep)
    why = (f"estimate of {model or 'the run'}: within {_gib(mem)} ({MEMORY_SHARE:g} x this machine's "
           f"{_gib(physical_memory())}) and {_hours(TIME_BUDGET)} at {rate:.0e} flop/s")

    def cost(v: int) -> str:
        nbytes, s = at(v)[0], seconds(v)
        over = [f"memory {_gib(nbytes)}"] if nbytes > mem else []
        over += [f"time at least {_hours(s)}"] if s > TIME_BUDGET else []
        return "the estimate gives " + " and ".join(over or [f"memory {_gib(nbytes)}, time {_hours(s)}"])

    return cap, why, cost


#: Bytes one logged value of :func:`wgf_core.runner.run` takes beyond its numbers (a tensor object and its slot).
LOG_ENTRY_BYTES = 200
#: Copies of the particles that a flow's step holds at once (positions, weights, gradients, temporaries).
STATE_COPIES = 10

#: Floating-point operations per particle pair and coordinate of one kernel sum with its gradient (a lower bound:
#: differences, squares and the gradient's products; the kernel's profile is not counted).
PAIR_FLOPS = 4
#: Floating-point operations per weight and sample of one training iteration (forward, backward, update: 3 x 2).
NET_FLOPS = 6
#: Bytes of the kernel sums' blocks live at once (4 blocks of 48 MiB, wgf_core.kernels._default_block).
KERNEL_BLOCK_BYTES = 4 * (48 << 20)


def flow_memory(steps: float, runs: float, n: float, d: float, *, itemsize: int = 8, log_every: Optional[float] = 1,
                snapshot_every: Optional[float] = None, logs: int = 1) -> float:
    """Bytes that :func:`wgf_core.runner.run` holds for a flow of ``steps`` steps of ``runs`` x ``n`` particles in ``d``.

    Its list of step sizes (8 bytes a step), ``logs`` metrics every ``log_every`` steps
    (:data:`LOG_ENTRY_BYTES` and 8 bytes per run each), the positions and weights every
    ``snapshot_every`` steps (twice: the stored clones and their stacked array) and
    :data:`STATE_COPIES` copies of the particles. An estimate for the size caps (:func:`size_cap`).
    """
    state = runs * n * (d + 1) * itemsize
    snaps = 0.0 if not snapshot_every else 2 * (steps / snapshot_every + 2) * state
    logged = 0.0 if not log_every else logs * (steps / log_every + 1) * (LOG_ENTRY_BYTES + 8 * runs)
    return 8.0 * steps + logged + snaps + STATE_COPIES * state


def check_sizes(given: Mapping[str, Any], sizes: dict, estimate: Callable[[dict], tuple[float, float, float]], *,
                device: Any = "cpu", profile_sizes: Optional[Mapping[str, Any]] = None,
                minimum: Optional[Mapping[str, int]] = None, model: str = "") -> dict:
    """Check the integer sizes ``given`` (name -> value; None: not given) against the caps of ``estimate``.

    ``estimate(sizes) -> (bytes, flops, steps)`` is a run's cost at ``sizes`` (every size the
    run uses, non-decreasing in each of ``given``). Each given value must be an integer from its
    ``minimum`` (default 1) to its cap (:func:`size_cap`, the other sizes as they stand, at least
    the profile's own value in ``profile_sizes``). The values are checked and set in ``sizes`` one
    by one, so the last one's cap is taken with all the others set: sizes each within its cap but
    beyond the budget together are refused, naming the last of them. Returns ``sizes``.
    """
    minimum = dict(minimum or {})
    profile_sizes = dict(profile_sizes or sizes)
    names = [k for k, v in given.items() if v is not None]

    def check(name: str, value: Any) -> int:
        def at(v: int) -> tuple:
            return estimate({**sizes, name: v})

        cap, why, cost = size_cap(at, device=device, minimum=minimum.get(name, 1),
                                  keep=_keep(profile_sizes.get(name)), model=model)
        return check_size(name, value, maximum=cap, why=why, minimum=minimum.get(name, 1), cost=cost)

    for name in names:
        sizes[name] = check(name, given[name])
    return sizes


def check_step_count(name: str, value: Any, steps: float, estimate: Callable[[int], tuple[float, float, float]], *,
                     device: Any = "cpu", keep: int = 0, model: str = "", ratio: str = "") -> int:
    """``steps`` (a number of steps set by the float parameter ``name`` = ``value``, e.g. a horizon over a step
    size ``ratio``) as an integer >= 1 if it is within the cap of ``estimate`` (a run's cost at a number of
    steps, :func:`size_cap`; at least ``keep``, the profile's own steps), else :class:`ParameterError` naming
    ``name``: ``parameter 'end_time' = 1e+12 is not allowed: a finite number > 0 giving at most 2000000 steps
    (end_time / tau; <why>); at this size <cost>``."""
    cap, why, cost = size_cap(estimate, device=device, keep=keep, model=model)
    if not steps <= cap:  # NaN or inf included
        at = cost(int(min(steps, _SEARCH_TOP))) if math.isfinite(steps) else "an unbounded number of steps"
        _fail(name, value, f"a finite number > 0 giving at most {cap} steps ({ratio + '; ' if ratio else ''}{why}); "
                           f"at this size {at}")
    return max(1, int(round(steps)))


def _keep(value: Any) -> int:
    """A profile's value of a size as the least cap (0 when it is not an integer)."""
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else 0


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
