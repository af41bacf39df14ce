"""Parameter sets, seeds and the runs of a sweep: parsing, validation before submission, planning.

:func:`sweep` is the API behind ``wgf run`` and ``wgf sweep``: the product of the values of each
parameter (:func:`grid`) times the seeds, each parameter set validated by the library
(:func:`wgf_core.cli.catalog.validate`) before anything is submitted, the runs already done
skipped (:func:`plan`, resumable), the rest executed by :class:`wgf_core.cli.runner.Runner`.
Runs land in ``<out>/<experiment>/<params-hash>/seed-<k>/`` (:func:`run_dir`).

The options are checked before anything is planned: the seeds (:func:`parse_seeds`,
:func:`check_seeds`: at most :data:`MAX_SEEDS` per command, each at most :data:`MAX_SEED`,
counted before any list is built), the output folder (:func:`check_out`), the scheduler's
address (:func:`check_scheduler`), the timeout and the number of jobs (:func:`check_options`).
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import os
import re
import unicodedata
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from ..errors import ParameterError

__all__ = ["MAX_SEEDS", "MAX_SEED", "default_notebooks_dir", "parse_value", "split_values", "parse_assignments",
           "parse_seeds", "check_seeds", "check_out", "check_scheduler", "check_options", "grid", "params_hash",
           "run_dir", "validate_all", "plan", "sweep"]

#: The most seeds one command runs (``--seeds`` or the ``seeds`` of :func:`sweep`).
MAX_SEEDS = 10_000
#: The largest seed: numpy's generators take seeds below 2**32.
MAX_SEED = 2**32 - 1
_SEEDS_ALLOWED = f"integers 0 .. {MAX_SEED} and ranges, e.g. 0-4 or 0,3,7-8, at most {MAX_SEEDS} seeds"
_SEED_PART = re.compile(r"\s*(\d{1,12})\s*(?:-\s*(\d{1,12})\s*)?", re.ASCII)


def default_notebooks_dir() -> Path:
    """``WGF_NOTEBOOKS_DIR``, else the ``notebooks/`` folder of the checkout ``wgf_core`` comes from."""
    env = os.environ.get("WGF_NOTEBOOKS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "notebooks"


def parse_value(text: str) -> Any:
    """A command-line value: a Python literal (``10``, ``1e-3``, ``None``, ``[2, 6]``), else the text."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()


def split_values(text: str) -> list[str]:
    """``"1,5,[2,6]"`` -> ``["1", "5", "[2,6]"]``: split on the commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return parts + [cur]


def _check_ascii_number(name: str, text: str) -> None:
    """Refuse a value written with non-ASCII digits (fullwidth ``５``) that NFKC reads as a number."""
    norm = unicodedata.normalize("NFKC", text.strip())
    if text.isascii() or norm == text.strip():
        return
    try:
        number = ast.literal_eval(norm)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return
    if isinstance(number, (int, float)) and not isinstance(number, bool):
        raise ParameterError(f"parameter {name!r} = {text.strip()!r} is not allowed: a number in ASCII digits "
                             f"(write {norm})")


def parse_assignments(items: Iterable[str], many: bool) -> dict:
    """``["sigma=1,5", "tau=10"]`` -> ``{"sigma": [1, 5], "tau": [10]}`` (``many``) or ``{"sigma": (1, 5), ...}``.

    With ``many`` (``wgf sweep``) each value is a comma-separated list; without (``wgf run``) the
    whole text after ``=`` is one value. A malformed item, a name that is not an ASCII identifier
    (:func:`wgf_core.validation.check_parameter_name`) or a number in non-ASCII digits raises
    :class:`ParameterError`.
    """
    from ..validation import check_parameter_name

    out: dict = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise ParameterError(f"parameter {item!r} is not allowed: name=value, e.g. -p sigma=10"
                                 + (" or -p sigma=1,5,10" if many else ""))
        check_parameter_name(name)
        if name in out:
            raise ParameterError(f"parameter {name!r} is given twice: give it once"
                                 + (", with its values separated by commas" if many else ""))
        if name == "seed":
            raise ParameterError("parameter 'seed' is set by --seeds, e.g. --seeds 0-4: not with -p")
        texts = split_values(text) if many else [text]
        for t in texts:
            _check_ascii_number(name, t)
        out[name] = [parse_value(v) for v in texts] if many else parse_value(text)
    return out


def _count_union(ranges: Sequence[tuple[int, int]]) -> int:
    """The number of integers in the union of the closed ranges ``(lo, hi)``, without listing them."""
    total, end = 0, -1
    for lo, hi in sorted(ranges):
        if hi > end:
            total += hi - max(lo, end + 1) + 1
            end = hi
    return total


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> ``[0, 1, 2, 3, 4]``; ``"0,3,7-8"`` -> ``[0, 3, 7, 8]`` (each once, in the order given).

    Seeds are ASCII integers ``0 .. MAX_SEED``; the number of distinct seeds is counted from the
    ranges, and more than :data:`MAX_SEEDS` are refused, before any list is built.
    """
    ranges = []
    for part in str(text).split(","):
        m = _SEED_PART.fullmatch(part)
        if not m:
            raise ParameterError(f"parameter 'seeds' = {text!r} is not allowed: {_SEEDS_ALLOWED}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ParameterError(f"parameter 'seeds' = {text!r} is not allowed: {_SEEDS_ALLOWED} (a range goes up)")
        if hi > MAX_SEED:
            raise ParameterError(f"parameter 'seeds' = {text!r} is not allowed: {_SEEDS_ALLOWED} ({hi} > {MAX_SEED})")
        ranges.append((lo, hi))
    count = _count_union(ranges)
    if count > MAX_SEEDS:
        raise ParameterError(f"parameter 'seeds' = {text!r} is not allowed: at most {MAX_SEEDS} seeds in one "
                             f"command (this gives {count})")
    seeds: dict = {}
    for lo, hi in ranges:
        seeds.update(dict.fromkeys(range(lo, hi + 1)))
    return list(seeds)


def check_seeds(seeds: Iterable[int]) -> list[int]:
    """``seeds`` as a list after checking it: 1 to :data:`MAX_SEEDS` integers ``0 .. MAX_SEED``.

    The length of a sized ``seeds`` (a ``range``, a list) is checked before anything is listed;
    an iterator is read at most ``MAX_SEEDS + 1`` items far.
    """
    allowed = f"1 to {MAX_SEEDS} integers 0 .. {MAX_SEED}"
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise ParameterError(f"parameter 'seeds' = {seeds!r} is not allowed: {allowed}, e.g. range(5)")
    n = len(seeds) if hasattr(seeds, "__len__") else None
    if n is not None and n > MAX_SEEDS:
        raise ParameterError(f"parameter 'seeds' is not allowed: {allowed} (this gives {n})")
    out = list(itertools.islice(seeds, MAX_SEEDS + 1))
    if len(out) > MAX_SEEDS:
        raise ParameterError(f"parameter 'seeds' is not allowed: {allowed} (this gives more)")
    if not out:
        raise ParameterError(f"parameter 'seeds' = [] is not allowed: {allowed}")
    for s in out:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
            raise ParameterError(f"parameter 'seeds' = {s!r} is not allowed: {allowed}")
    return out


def check_out(out: Path, name: str = "out") -> Path:
    """``out`` if it is a folder, or a path where one can be created (no file on the way).

    Raises :class:`ParameterError` naming the file in the way or the folder that cannot be
    written; nothing is created here.
    """
    out = Path(out)
    allowed = "a folder for the runs (created if absent)"
    if out.exists() and not out.is_dir():
        raise ParameterError(f"parameter {name!r} = {str(out)!r} is not allowed: {allowed}; that is a file")
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ParameterError(f"parameter {name!r} = {str(out)!r} is not allowed: {allowed}; {str(probe)!r} on its "
                             "path is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ParameterError(f"parameter {name!r} = {str(out)!r} is not allowed: {allowed}; {str(probe)!r} is not "
                             "writable")
    return out


_ADDRESS = re.compile(r"(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})",
                      re.ASCII)


def check_scheduler(address: Optional[str], name: str = "scheduler") -> Optional[str]:
    """``address`` if it is ``None`` / empty (a local cluster) or a Dask address ``[scheme://]host:port``.

    The scheme is one of Dask's transports (``tcp``, ``tls``, ...), the port 1..65535. Whether a
    scheduler answers there is checked on connecting (:class:`wgf_core.cli.runner.Runner`).
    """
    if not address:
        return address
    from distributed.comm.registry import backends

    allowed = f"[scheme://]host:port, e.g. tcp://127.0.0.1:8786 (scheme one of {', '.join(sorted(backends))})"
    m = _ADDRESS.fullmatch(str(address).strip())
    if not m or (m.group("scheme") or "tcp") not in backends or not 1 <= int(m.group("port")) <= 65535:
        raise ParameterError(f"parameter {name!r} = {address!r} is not allowed: {allowed}")
    return address


def check_options(timeout: Any, jobs: Any, names: tuple[str, str] = ("timeout", "jobs")) -> None:
    """Refuse a per-cell ``timeout`` that is not an integer >= 1 (seconds) and ``jobs`` < 1 (``None``: default)."""
    from ..validation import check_int

    check_int(names[0], timeout, minimum=1)
    if jobs is not None:
        check_int(names[1], jobs, minimum=1)


def grid(values: Mapping[str, Sequence]) -> list[dict]:
    """Every combination of the values (the first parameter varies slowest)."""
    names = list(values)
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(values[n]) for n in names))]


def params_hash(params: Mapping[str, Any]) -> str:
    """12 hex digits naming a parameter set (order-independent)."""
    return hashlib.sha256(json.dumps(dict(params), sort_keys=True, default=str).encode()).hexdigest()[:12]


def run_dir(out: Path, experiment: str, params: Mapping[str, Any], seed: int) -> Path:
    """``<out>/<experiment>/<params-hash>/seed-<seed>``."""
    return Path(out) / experiment / params_hash(params) / f"seed-{seed}"


def _with_defaults(exp, params: Mapping[str, Any]) -> dict:
    """``params`` with ``profile`` and ``device`` set (the notebook's defaults where not given), first."""
    base = {k: exp.declared[k].default for k in ("profile", "device") if k in exp.declared}
    return {**base, **params}


def validate_all(exp, param_sets: Sequence[Mapping[str, Any]], seeds: Sequence[int], remote: bool = False) -> None:
    """Validate every parameter set (with the first seed; the seeds by :func:`check_seeds`) before any run.

    ``remote``: the runs go to a cluster (see :func:`wgf_core.cli.catalog.validate`).
    """
    from .catalog import validate

    seeds = check_seeds(seeds)
    for params in param_sets:
        try:
            validate(exp, {**params, "seed": seeds[0]}, remote=remote)
        except ParameterError as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
            raise ParameterError(f"{exp.key} ({shown}): {exc}") from None


def plan(exp, param_sets: Sequence[Mapping[str, Any]], seeds: Sequence[int], out: Path, *,
         timeout: int = 3600, force: bool = False, core: Optional[str] = None) -> tuple[list, list]:
    """The runs of ``exp`` for every parameter set and seed: ``(todo, done)`` lists of :class:`RunSpec`.

    A run is done when its ``run.json`` says ``ok`` for the same notebook source, parameters and
    ``wgf_core`` sources (:func:`wgf_core.cli.runner.is_up_to_date`), unless ``force``.
    """
    from .runner import RunSpec, core_hash, is_up_to_date, wanted_state

    core = core or core_hash()
    todo, done = [], []
    for params in param_sets:
        user = _with_defaults(exp, params)
        for seed in seeds:
            where = run_dir(out, exp.key, user, seed)
            injected = {**exp.fixed, **user, "seed": seed}
            spec = RunSpec(key=exp.key, source=Path(exp.source).resolve(), parameters=injected,
                           output=where / f"{exp.name}.ipynb", state=where / "run.json",
                           metrics=where / "metrics.json", want=wanted_state(exp.source, injected, core),
                           info={"experiment": exp.key, "params_hash": params_hash(user), "seed": seed,
                                 "user_parameters": user}, timeout=timeout)
            up = not force and is_up_to_date(spec.load_state(), spec.want, spec.output)
            (done if up else todo).append(spec)
    return todo, done


def sweep(experiment: str, values: Mapping[str, Sequence], seeds: Sequence[int] = (0,), out: Path = Path("runs"), *,
          notebooks_dir: Optional[Path] = None, jobs: Optional[int] = None, scheduler: Optional[str] = None,
          force: bool = False, timeout: int = 3600, progress: bool = False,
          log: Callable[[str], None] = lambda s: None) -> list[dict]:
    """Run ``experiment`` on every combination of ``values`` for every seed; the states of all its runs.

    Parameters
    ----------
    experiment : str
        A page key or alias (``wgf list``), e.g. ``"ift/gaussian_2d"``.
    values : mapping of str to sequence
        Values per parameter, e.g. ``{"profile": ["ci"], "sigma": [1, 5, 10]}``.
    seeds : iterable of int
        The seeds; each run gets one as the notebook's ``seed`` (:func:`check_seeds`).
    out : Path
        Where the runs go (:func:`run_dir`; :func:`check_out`).
    notebooks_dir, jobs, scheduler, force, timeout, progress
        The notebooks (default :func:`default_notebooks_dir`), local workers, an existing Dask
        scheduler's address, rerun what is done, per-cell timeout (s), show a progress bar.

    Raises
    ------
    ParameterError
        Before anything runs: an unknown experiment or parameter (naming the closest), a value
        the library refuses (naming the parameter, the value and what is allowed), or an option
        out of range (seeds, ``out``, the scheduler's address, ``jobs``, ``timeout``).
    ClusterError
        No scheduler answers at ``scheduler`` (within :data:`wgf_core.cli.runner.CONNECT_TIMEOUT`).
    """
    from .catalog import catalog, resolve
    from .runner import Runner, default_jobs

    seeds = check_seeds(seeds)
    check_options(timeout, jobs)
    check_out(out)
    remote = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    check_scheduler(remote, "scheduler" if scheduler else "DASK_SCHEDULER_ADDRESS")
    exp = resolve(experiment, catalog(notebooks_dir or default_notebooks_dir()))
    sets = grid(values)
    validate_all(exp, sets, seeds, remote=bool(remote))
    todo, done = plan(exp, sets, seeds, out, timeout=timeout, force=force)
    log(f"{exp.key}: {len(sets)} parameter set(s) x {len(seeds)} seed(s) = {len(todo) + len(done)} runs, "
        f"{len(done)} already done, {len(todo)} to run")
    states = [s.load_state() for s in done]
    if todo:
        device = "cuda" if any(s.gpu for s in todo) else "cpu"
        with Runner(jobs=min(jobs or default_jobs(device), len(todo)), device=device, scheduler=scheduler) as runner:
            for spec, state in runner.run(todo, progress=progress):
                states.append(state)
                if state.get("status") != "ok":
                    log(f"  failed: {spec.output.parent}: {state.get('error')}")
    return states
