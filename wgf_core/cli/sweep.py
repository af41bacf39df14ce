"""Parameter sets, seeds and the runs of a sweep: parsing, validation before submission, planning.

:func:`sweep` is the API behind ``wgf run`` and ``wgf sweep``: the product of the values of each
parameter (:func:`grid`) times the seeds, each parameter set validated by the library
(:func:`wgf_core.cli.catalog.validate`) before anything is submitted, the runs already done
skipped (:func:`plan`, resumable), the rest executed by :class:`wgf_core.cli.runner.Runner`.
Runs land in ``<out>/<experiment>/<params-hash>/seed-<k>/`` (:func:`run_dir`).
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from ..errors import ParameterError

__all__ = ["default_notebooks_dir", "parse_value", "split_values", "parse_assignments", "parse_seeds", "grid",
           "params_hash", "run_dir", "validate_all", "plan", "sweep"]


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


def parse_assignments(items: Iterable[str], many: bool) -> dict:
    """``["sigma=1,5", "tau=10"]`` -> ``{"sigma": [1, 5], "tau": [10]}`` (``many``) or ``{"sigma": (1, 5), ...}``.

    With ``many`` (``wgf sweep``) each value is a comma-separated list; without (``wgf run``) the
    whole text after ``=`` is one value. A malformed item raises :class:`ParameterError`.
    """
    out: dict = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise ParameterError(f"parameter {item!r} is not allowed: name=value, e.g. -p sigma=10"
                                 + (" or -p sigma=1,5,10" if many else ""))
        if name in out:
            raise ParameterError(f"parameter {name!r} is given twice: give it once"
                                 + (", with its values separated by commas" if many else ""))
        if name == "seed":
            raise ParameterError("parameter 'seed' is set by --seeds, e.g. --seeds 0-4: not with -p")
        out[name] = [parse_value(v) for v in split_values(text)] if many else parse_value(text)
    return out


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> ``[0, 1, 2, 3, 4]``; ``"0,3,7-8"`` -> ``[0, 3, 7, 8]`` (integers >= 0, each once)."""
    allowed = "integers >= 0 and ranges, e.g. 0-4 or 0,3,7-8"
    seeds: list = []
    for part in str(text).split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.strip().isdigit() or dash and not hi.strip().isdigit():
            raise ParameterError(f"parameter 'seeds' = {text!r} is not allowed: {allowed}")
        lo_i, hi_i = int(lo), int(hi) if dash else int(lo)
        if hi_i < lo_i:
            raise ParameterError(f"parameter 'seeds' = {text!r} is not allowed: {allowed} (a range goes up)")
        seeds += [s for s in range(lo_i, hi_i + 1) if s not in seeds]
    return seeds


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
    """Validate every parameter set (with the first seed; all seeds are integers >= 0) before any run.

    ``remote``: the runs go to a cluster (see :func:`wgf_core.cli.catalog.validate`).
    """
    from .catalog import validate

    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ParameterError(f"parameter 'seeds' = {s!r} is not allowed: integers >= 0")
    if not seeds:
        raise ParameterError("parameter 'seeds' = [] is not allowed: at least one seed")
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
    seeds : sequence of int
        The seeds; each run gets one as the notebook's ``seed``.
    out : Path
        Where the runs go (:func:`run_dir`).
    notebooks_dir, jobs, scheduler, force, timeout, progress
        The notebooks (default :func:`default_notebooks_dir`), local workers, an existing Dask
        scheduler's address, rerun what is done, per-cell timeout (s), show a progress bar.

    Raises
    ------
    ParameterError
        Before anything runs: an unknown experiment or parameter (naming the closest) or a value
        the library refuses (naming the parameter, the value and what is allowed).
    """
    from .catalog import catalog, resolve
    from .runner import Runner, default_jobs

    exp = resolve(experiment, catalog(notebooks_dir or default_notebooks_dir()))
    sets = grid(values)
    validate_all(exp, sets, list(seeds), remote=bool(scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")))
    todo, done = plan(exp, sets, list(seeds), out, timeout=timeout, force=force)
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
