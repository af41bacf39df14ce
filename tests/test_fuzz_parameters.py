"""A fuzz of the parameters (issue 31): generated bad inputs are refused before compute, naming the parameter.

The parameter spec is the library's own validation: what each parameter allows is the text that
``wgf list`` prints (:func:`wgf_core.cli.catalog.allowed_values`, asked at the profile of the case), and
:func:`_spec` reads from it the kind of value and its range (a size's cap from its memory and time
estimate). From that spec, hypothesis draws values that the text refuses: the wrong type (``True``,
text such as ``"5"`` or fullwidth ``"５"``, lists, mappings, ``None`` where a value is required), out of
range (zero, negative, beyond a size's cap, up to 1e18; NaN, infinities), unknown or non-ASCII names,
bad seeds, seed ranges and options. Each must raise :class:`~wgf_core.errors.ParameterError` on one line
naming the parameter, within :data:`CASE_SECONDS`, with the peak memory of a fresh process growing by less
than :data:`MAX_GROWTH` over the refusals of sizes of 1e9 (nothing large is allocated), through

* the ``wgf`` command's validation before submission (:func:`wgf_core.cli.sweep.parse_assignments`,
  :func:`~wgf_core.cli.sweep.grid`, :func:`~wgf_core.cli.sweep.validate_all`: what ``wgf run`` and
  ``wgf sweep`` call; it executes each notebook's parameters cell and the validating prefix of its
  first cell), with a few real ``wgf run`` subprocesses (exit status 2, one line);
* every notebook's library entry, the ``setup*`` call its first cell makes (the Python API and
  papermill's path), with a few cases run as papermill runs them (parameters cell, injected cell and
  first cell in one IPython shell, :func:`test_notebook_fuzz._run_first_cell`).

Controls: each experiment's ``ci`` parameters, and each integer parameter at its smallest allowed value,
pass the same calls. Examples per hypothesis test: ``WGF_FUZZ_EXAMPLES`` (default :data:`DEFAULT_EXAMPLES`:
the CI subset, derandomized, about 1000 refusals in 25 s on 2 cores; with the variable set, the draws are
random), e.g. ``WGF_FUZZ_EXAMPLES=100`` for a long run.
"""

from __future__ import annotations

import ast
import math
import os
import re
import string
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wgf_core.cli import catalog as K
from wgf_core.cli import sweep as S
from wgf_core.errors import ParameterError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Examples per hypothesis test in the default run (the CI subset); ``WGF_FUZZ_EXAMPLES`` sets another number.
DEFAULT_EXAMPLES = 25
EXAMPLES = int(os.environ.get("WGF_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
#: The longest a refusal may take (seconds of the process's CPU time): no compute runs before it.
CASE_SECONDS = 1.0
#: The most a fresh process's peak memory may grow over the refusals of sizes of 1e9 (bytes): no large allocation.
MAX_GROWTH = 512 * 2**20
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="WGF_FUZZ_EXAMPLES" not in os.environ, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.filter_too_much])

CAT = K.catalog(ROOT / "notebooks")
KEYS = sorted(CAT)
PROFILES = ("ci", "default")
#: Parameters that set a number of steps with another (a horizon over a step size): a huge horizon or a tiny
#: step is refused by the steps' cap.
STEP_SETTERS = {"riesz/05_mnist": {"end_time": "huge"}, "mmd_fdiv/01_flow": {"max_time": "huge", "step_size": "tiny"},
                **{k: {"end_time": "huge", "tau": "tiny"} for k in KEYS if k.startswith("riesz/") and "mnist" not in k}}


#: Refusals checked in this process (:func:`_refused`), by kind of entry; printed by the last test.
COUNT: dict = {}


# ----------------------------------------------------------------------------- the spec, from the library's text
def _parse(text: str, key: str, name: str) -> dict:
    """The kind and range of a parameter from the library's text of what it allows (``wgf list``)."""
    if name in CAT[key].fixed:
        return dict(kind="fixed", text=text)
    if m := re.match(r"an integer (-?\d+) \.\. (\d+)", text):
        return dict(kind="int", lo=int(m[1]), hi=int(m[2]), text=text)
    if m := re.match(r"an integer >= (-?\d+)", text):
        return dict(kind="int", lo=int(m[1]), hi=None, text=text)
    if m := re.match(r"a finite number (>|>=) 0", text):
        return dict(kind="real", lo=0.0, hi=math.inf, open_lo=m[1] == ">", open_hi=True, text=text)
    if m := re.match(r"a number in ([(\[])(-?[\d.]+|inf), (-?[\d.]+|inf)([)\]])", text):
        return dict(kind="real", lo=float(m[2]), hi=float(m[3]), open_lo=m[1] == "(", open_hi=m[4] == ")", text=text)
    if text == "one of True, False":
        return dict(kind="bool", text=text)
    if text.startswith("one of "):
        return dict(kind="choice", choices=ast.literal_eval("[" + text[len("one of "):] + "]"), text=text)
    if m := re.match(r"a non-empty list of integers (\d+) \.\. (\d+)", text):
        return dict(kind="list", lo=int(m[1]), hi=int(m[2]), text=text)
    if text.startswith("None ("):
        return dict(kind="unused", text=text)
    if name == "device":
        return dict(kind="device", text=text)
    return dict(kind="", text=text)


@lru_cache(maxsize=None)
def _spec(key: str, profile: str, name: str) -> dict:
    """The spec of parameter ``name`` of ``key`` at ``profile`` as the ``wgf`` command sees it (the notebook's cells)."""
    return _parse(K.allowed_values(CAT[key], name, {"profile": profile}), key, name)


#: A value that no check accepts: the library's refusal of it says what is allowed.
PROBE = "\x00not-a-value"


@lru_cache(maxsize=None)
def _library_spec(key: str, profile: str, name: str) -> dict:
    """The spec of parameter ``name`` of ``key`` at ``profile`` as the notebook's library entry (:func:`_library`)
    says it."""
    try:
        _call(key, profile, {name: PROBE})
        text = ""
    except ParameterError as exc:
        m = re.search(r"parameter '(\w+)' = .* is not allowed: (.*)$", str(exc))
        text = re.sub(r" \(a number, not text\)$", "", m[2]) if m and m[1] == name else ""
    return _parse(text, key, name)


def _params(key: str) -> list:
    """The parameters of ``key`` that a user may set (not ``profile``, ``seed`` or those the page fixes)."""
    return [p for p in CAT[key].declared if p not in CAT[key].fixed and p not in ("profile", "seed")]


# ----------------------------------------------------------------------------- bad values
FULLWIDTH = str.maketrans("0123456789.-", "０１２３４５６７８９．－")
WRONG_TYPES = st.one_of(st.booleans(), st.integers(-10**6, 10**6).map(str), st.floats(0.1, 1e6).map(repr),
                        st.integers(0, 10**6).map(lambda i: str(i).translate(FULLWIDTH)),
                        st.lists(st.integers(1, 9), min_size=1, max_size=3), st.dictionaries(st.just("a"), st.integers()),
                        st.tuples(st.integers(1, 9)))
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def bad_values(spec: dict, key: str, name: str):
    """A strategy of values that ``spec`` refuses (``None`` never: it takes the profile's value)."""
    kind = spec["kind"]
    if kind == "int":
        lo, hi = spec["lo"], spec["hi"]
        out = [WRONG_TYPES, NOT_FINITE, st.integers(-10**18, lo - 1), st.floats(lo + 0.01, lo + 1e6).filter(
            lambda v: not v.is_integer())]
        if hi is not None:
            out += [st.integers(hi + 1, max(hi + 1, 10**18)), st.floats(float(hi) * 2 + 2, 1e300)]
        return st.one_of(*out)
    if kind == "real":
        out = [WRONG_TYPES, NOT_FINITE]
        lo, hi = spec["lo"], spec["hi"]
        out.append(st.floats(-1e300, lo).filter(lambda v: v <= lo if spec["open_lo"] else v < lo))
        if math.isfinite(hi):
            out.append(st.floats(hi, 1e300, exclude_min=not spec["open_hi"]))
        how = STEP_SETTERS.get(key, {}).get(name)
        if how == "huge":
            out.append(st.floats(1e15, 1e300))
        elif how == "tiny":
            out.append(st.floats(1e-300, 1e-15))
        return st.one_of(*out)
    if kind == "bool":
        return st.one_of(st.integers(-3, 3), st.sampled_from(["True", "False", "yes"]), st.floats(0, 1), st.lists(
            st.booleans(), min_size=1, max_size=2))
    if kind == "choice":
        choices = spec["choices"]
        return st.one_of(st.lists(st.sampled_from(choices), min_size=1, max_size=2),
                         st.dictionaries(st.sampled_from([c for c in choices if isinstance(c, str)] or ["a"]),
                                         st.integers(), min_size=1, max_size=1),
                         st.text(alphabet=string.ascii_letters + string.digits + "_-/. ", min_size=1,
                                 max_size=8).filter(lambda t: t.strip() not in choices),
                         st.sampled_from([c.upper() + "x" for c in choices if isinstance(c, str)] or ["x"]))
    if kind == "list":
        lo, hi = spec["lo"], spec["hi"]
        return st.one_of(st.just([]), st.lists(st.integers(hi + 1, 10**12), min_size=1, max_size=3),
                         st.lists(st.integers(-10**6, lo - 1), min_size=1, max_size=3),
                         st.integers(2, 9).map(lambda d: f"{d},{d + 1}".translate(FULLWIDTH)),
                         st.sampled_from(["abc", "2,x", [True], [2.5], {"a": 1}, True, [2, 2], [math.nan]]))
    if kind == "unused":
        return st.one_of(st.integers(0, 10), st.floats(0.1, 10), st.sampled_from(["svrg", "minibatch"]))
    if kind == "device":
        return st.sampled_from(["gpu", "cuda:x", "tpu", "cuda:99", 3.5, True, ["cpu"], "", "cpu "])
    return st.nothing()


def _cases(key: str):
    """A strategy of ``(name, value)`` with the value refused (a parameter of ``key`` with a known kind)."""
    return st.sampled_from(_params(key)).flatmap(lambda p: st.tuples(st.just(p), st.sampled_from(PROFILES))).flatmap(
        lambda pp: st.tuples(st.just(pp[0]), st.just(pp[1]), bad_values(_spec(key, pp[1], pp[0]), key, pp[0])))


def _refused(call, name: str, entry: str = "") -> str:
    """Run ``call``; it must raise ParameterError naming ``name`` on one line, within CASE_SECONDS of this
    process's CPU time (not wall-clock: other processes' load on a small machine does not count)."""
    COUNT[entry] = COUNT.get(entry, 0) + 1
    t0 = time.process_time()
    with pytest.raises(ParameterError) as e:
        call()
    seconds = time.process_time() - t0
    msg = str(e.value)
    assert (f"parameter '{name}'" in msg or f"parameter name {name!r}" in msg) and "\n" not in msg, msg
    assert seconds < CASE_SECONDS, f"{seconds:.2f} s: {msg}"
    return msg


# ----------------------------------------------------------------------------- (a) the wgf command's validation
def _cli(key: str, values: dict, seeds: str = "0") -> None:
    """What ``wgf run KEY -p name=value ... --seeds SEEDS`` does before submission."""
    items = [f"{k}={v if isinstance(v, str) and not v.isascii() else repr(v)}" for k, v in values.items()]
    params = S.parse_assignments(items, many=False)
    S.validate_all(CAT[key], S.grid({k: [v] for k, v in params.items()}), S.parse_seeds(seeds))


@pytest.mark.parametrize("key", KEYS)
def test_cli_accepts_the_ci_parameters_and_the_profile_values(key):
    _cli(key, {"profile": "ci"})
    for name in _params(key):  # each parameter's valid value: the profile's, given explicitly
        spec = _spec(key, "ci", name)
        if spec["kind"] == "int":
            _cli(key, {"profile": "ci", name: spec["lo"]})
    with pytest.raises(ParameterError):  # and the same call refuses
        _cli(key, {"profile": "ci", "seed": -1})


@pytest.mark.parametrize("key", KEYS)
@FUZZ
@given(data=st.data())
def test_cli_refuses_bad_values(key, data):
    name, profile, value = data.draw(_cases(key), label="case")
    _refused(lambda: _cli(key, {"profile": profile, name: value}), name, "cli")


@pytest.mark.parametrize("key", KEYS)
@FUZZ
@given(name=st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
                      st.sampled_from(["ｓｉｇｍａ", "café", "ｎ", "σ", "seeds", "Profile"])),
       required=st.sampled_from([("profile", None), ("profile", "fast"), ("profile", ["ci"]), ("profile", True),
                                 ("device", None), ("device", "gpu"), ("device", 3)]))
def test_cli_refuses_unknown_names_and_bad_required_values(key, name, required):
    if name in CAT[key].declared:
        name = name + "_x"
    msg = _refused(lambda: S.validate_all(CAT[key], [{"profile": "ci", name: 1}], [0]), name, "cli")
    assert "not a parameter" in msg or "ASCII identifier" in msg
    req, value = required
    _refused(lambda: S.validate_all(CAT[key], [{"profile": "ci", req: value}], [0]), req, "cli")


@FUZZ
@given(text=st.one_of(st.sampled_from(["-1", "5-2", "1.5", "", "a", "0-1000000000", f"0-{S.MAX_SEED + 1}",
                                       "0-9999,10000-10001", "0,,1", "99999999999999999999"]),
                      st.integers(0, 99).map(lambda i: str(i).translate(FULLWIDTH)),
                      st.integers(S.MAX_SEEDS, 10**12).map(lambda n: f"0-{n}")),
       options=st.sampled_from([(-5, None), (0, None), (True, None), ("10", None), (1.5, None), (math.nan, None),
                                (10, 0), (10, -2), (10, "4"), (10, 2.5)]))
def test_cli_refuses_bad_seeds_and_options(text, options):
    _refused(lambda: S.parse_seeds(text), "seeds", "cli")
    timeout, jobs = options
    _refused(lambda: S.check_options(timeout, jobs), "timeout" if jobs is None else "jobs", "cli")
    _refused(lambda: S.check_seeds(range(10**9)), "seeds", "cli")  # the API: counted, not listed


@pytest.mark.parametrize("args, message", [
    (["ift/gaussian_2d", "-p", "n=1000000000"], "parameter 'n' = 1000000000 is not allowed: an integer 1 .. "),
    (["riesz/interaction_energy", "-p", "r=True"], "parameter 'r' = True is not allowed: a number in (0.0, 2.0)"),
    (["mmd_fdiv/flow", "-p", "max_time=1e300"], "parameter 'max_time' = 1e+300 is not allowed: a finite number > 0 "
                                                "giving at most"),
    (["variational/ornstein_uhlenbeck", "--seeds", "0-1000000000"], "parameter 'seeds' = '0-1000000000'"),
])
def test_wgf_run_exits_2_with_one_line(tmp_path, args, message):
    out = tmp_path / "runs"
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "wgf_core.cli", "run", *args, "-p", "profile=ci", "--out", str(out)],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and res.stdout == "" and not out.exists()
    assert time.perf_counter() - t0 < 30


# ----------------------------------------------------------------------------- (b) every notebook's library entry
def _library(key: str):
    """The ``setup*`` call that the first cell of ``key``'s notebook makes, as ``f(profile=, device=, seed=, **p)``."""
    from wgf_core.experiments import api, ift, mmd_fdiv, riesz, variational

    fixed = CAT[key].fixed
    if key.startswith("api/"):
        return api.setup
    if key in ("ift/01_gaussian_2d", "ift/02_mixture_2d"):
        return lambda **p: ift.setup_2d(target=fixed["target"], page=fixed["page"], **p)
    if key == "ift/03_mixture_100d":
        return ift.setup_100d
    if key == "ift/conventions_2d":
        return ift.setup_convention_run
    if key == "mmd_fdiv/01_flow":
        return mmd_fdiv.setup_flow
    if key == "mmd_fdiv/02_comparisons":
        return mmd_fdiv.setup_comparisons
    if key.startswith("riesz/"):
        return lambda **p: riesz.setup_page(fixed["experiment"], page=fixed["page"], **p)
    return lambda **p: variational.setup(key.split("/")[1], **p)


def _call(key: str, profile: str, extra: dict):
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the setups print their sizes
        return _library(key)(**{"profile": profile, "device": "cpu", "seed": 0, **extra})


@pytest.mark.parametrize("key", KEYS)
def test_library_accepts_the_ci_parameters_and_the_profile_values(key):
    assert _call(key, "ci", {}) is not None
    for name in _params(key):
        spec = _library_spec(key, "ci", name)
        if spec["kind"] == "int":
            _call(key, "ci", {name: spec["lo"]})
    with pytest.raises(ParameterError, match="'seed'"):  # and the same call refuses
        _library(key)(profile="ci", device="cpu", seed=-1)


@pytest.mark.parametrize("key", KEYS)
@FUZZ
@given(data=st.data())
def test_library_refuses_bad_values(key, data):
    name = data.draw(st.sampled_from(_params(key)), label="name")
    profile = data.draw(st.sampled_from(PROFILES), label="profile")
    value = data.draw(bad_values(_library_spec(key, profile, name), key, name), label="value")
    _refused(lambda: _call(key, profile, {name: value}), name, "library")


@pytest.mark.parametrize("key", KEYS)
@FUZZ
@given(required=st.sampled_from([("profile", None), ("profile", "fast"), ("profile", ["ci"]), ("profile", "ＣＩ"),
                                 ("seed", None), ("seed", -1), ("seed", True), ("seed", "0"), ("seed", 2.5),
                                 ("seed", math.nan), ("device", None), ("device", "gpu"), ("device", ["cpu"])]))
def test_library_refuses_bad_required_values(key, required):
    name, value = required
    args = {"profile": "ci", "device": "cpu", "seed": 0, name: value}
    _refused(lambda: _library(key)(**args), name, "library")


# ----------------------------------------------------------------------------- the cases of issue 31, one by one
def _capped(key: str, library: bool) -> list:
    """The integer parameters of ``key`` with a cap (``an integer a .. b``) at ``default``."""
    spec = _library_spec if library else _spec
    return [p for p in _params(key) if spec(key, "default", p)["kind"] == "int" and spec(key, "default", p)["hi"]]


@pytest.mark.parametrize("key", KEYS)
def test_sizes_of_1e9_are_refused_with_the_estimate(key):
    """Every capped size at 1e9 (and n_seeds = 1e9) is refused before anything is allocated, by the ``wgf``
    command and by the library, saying what the estimate gives at that size."""
    for library in (False, True):
        for name in _capped(key, library):
            for value in (10**9, 1e9):
                call = (lambda: _call(key, "default", {name: value})) if library else (
                    lambda: _cli(key, {"profile": "default", name: value}))
                msg = _refused(call, name, "library" if library else "cli")
                assert "at this size the estimate gives" in msg and re.search(r"\d GiB\)", msg), msg
    ints = {p for p in _params(key) if _library_spec(key, "default", p)["kind"] == "int"}
    assert ints - {"noise_off", "target_seed"} == set(_capped(key, True)), f"{key}: an integer size without a cap"


@pytest.mark.parametrize("key", [k for k in KEYS if "n_seeds" in CAT[k].declared])
def test_n_seeds_below_the_claims_minimum_is_refused_outside_ci(key):
    """Fewer members than the claims need (MIN_SEEDS at default and paper) is refused at once, not after the compute."""
    from wgf_core.claims import MIN_SEEDS

    for profile in ("default", "paper"):
        msg = _refused(lambda: _call(key, profile, {"n_seeds": MIN_SEEDS - 1}), "n_seeds", "library")
        assert f"an integer {MIN_SEEDS} .. " in msg
        _refused(lambda: _cli(key, {"profile": profile, "n_seeds": MIN_SEEDS - 1}), "n_seeds", "cli")
        _call(key, profile, {"n_seeds": MIN_SEEDS})  # control: the minimum itself passes
    _call(key, "ci", {"n_seeds": 1})


def test_wgf_list_shows_what_every_parameter_allows(capsys):
    """``wgf list`` prints, for every parameter a page does not fix, what the library allows (never "any value"), and
    for each capped size its range."""
    from wgf_core.cli import main

    assert main(["--notebooks-dir", str(ROOT / "notebooks"), "list", "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert {e["key"] for e in info} == set(KEYS)
    for e in info:
        for p in e["parameters"]:
            assert p["fixed"] is not None or p["allowed"], (e["key"], p["name"])
            if p["name"] in ("n_particles", "N", "M", "runs", "width", "outer", "fv_cells", "dim"):
                assert re.match(r"an integer \d+ \.\. \d+ \(estimate of ", p["allowed"]), (e["key"], p)
    assert main(["--notebooks-dir", str(ROOT / "notebooks"), "list"]) == 0
    assert "any value" not in capsys.readouterr().out


#: A few cases as papermill runs them: the parameters cell, papermill's injected cell, the first cell.
SHELL_CASES = [("ift/01_particles_2d.ipynb", {"n": 10**9}, "n"), ("ift/03_mixture_100d.ipynb", {"dim": True}, "dim"),
               ("mmd_fdiv/01_flow.ipynb", {"N": "５"}, "N"), ("mmd_fdiv/02_comparisons.ipynb", {"n_seeds": 10**9},
                                                                 "n_seeds"),
               ("riesz/riesz_flows.ipynb", {"experiment": "diracs", "r": 1.5}, "r"),
               ("riesz/riesz_flows.ipynb", {"n_particles": 1e9}, "n_particles"),
               ("variational/01_ornstein_uhlenbeck.ipynb", {"dims": [2, 10**9]}, "dims"),
               ("variational/03_aggregation_diffusion.ipynb", {"fv_cells": 10**9}, "fv_cells"),
               ("api/01_energies_x_schemes.ipynb", {"steps": "3"}, "steps")]


@pytest.mark.parametrize("notebook, injected, name", SHELL_CASES, ids=[f"{c[0]}-{c[2]}" for c in SHELL_CASES])
def test_first_cell_refuses_as_papermill_runs_it(notebook, injected, name, capsys):
    from test_notebook_fuzz import _run_first_cell

    t0 = time.perf_counter()
    err = _run_first_cell(ROOT / "notebooks" / notebook, {"profile": "ci", **injected})
    capsys.readouterr()
    assert isinstance(err, ParameterError) and f"parameter '{name}'" in str(err), err
    assert time.perf_counter() - t0 < 10 * CASE_SECONDS  # the cell's imports included


def test_nothing_large_was_allocated():
    """The refusals come before any allocation: in a fresh process (no other test's memory counts in its peak),
    every capped size of every page at 1e9 is refused by the library with the peak memory growing by less than
    :data:`MAX_GROWTH` (the refusals' own imports included)."""
    print(f"\nfuzz: {sum(COUNT.values())} bad inputs refused ({COUNT}), {EXAMPLES} examples per hypothesis test")
    code = (f"import resource, sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); import test_fuzz_parameters as F\n"
            "start, n = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, 0\n"
            "for key in F.KEYS:\n"
            "    for name in F._capped(key, True):\n"
            "        try:\n"
            "            F._call(key, 'default', {name: 10**9})\n"
            "        except F.ParameterError:\n"
            "            n += 1\n"
            "print(n, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start) * 1024)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    refused, growth = map(int, out.stdout.split()[-2:])
    assert refused >= 2 * len(KEYS), refused   # at least two capped sizes a page
    assert growth < MAX_GROWTH, f"peak memory grew by {growth / 2**20:.0f} MiB over {refused} refusals"
