"""The ``wgf`` command without a cluster: catalog, parameters, validation before submission, report.

The runner itself (Dask) is tested in tests/test_cli_runner.py.
"""

import json
import math
from pathlib import Path

import pytest

from wgf_core.cli import catalog as K
from wgf_core.cli import main
from wgf_core.cli import report as R
from wgf_core.cli import sweep as S
from wgf_core.errors import ParameterError

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "cli_notebooks"


# ----------------------------------------------------------------------------- parsing
def test_parse_seeds():
    assert S.parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert S.parse_seeds("3,0-1,3") == [3, 0, 1]
    for bad in ("a", "-1", "4-2", "1.5", ""):
        with pytest.raises(ParameterError, match="parameter 'seeds'"):
            S.parse_seeds(bad)


def test_parse_assignments():
    assert S.split_values("1,[2, 6],'a,b'") == ["1", "[2, 6]", "'a,b'"]
    assert S.parse_assignments(["sigma=1,5e-1", "kernel=gauss", "dims=[2,6],[3]"], many=True) == {
        "sigma": [1, 0.5], "kernel": ["gauss"], "dims": [[2, 6], [3]]}
    assert S.parse_assignments(["dims=2,6", "target_mode=None"], many=False) == {"dims": (2, 6), "target_mode": None}
    with pytest.raises(ParameterError, match="name=value"):
        S.parse_assignments(["sigma"], many=True)
    with pytest.raises(ParameterError, match="--seeds"):
        S.parse_assignments(["seed=3"], many=False)
    with pytest.raises(ParameterError, match="twice"):
        S.parse_assignments(["a=1", "a=2"], many=True)


def test_grid_and_hash():
    sets = S.grid({"a": [1, 2], "b": [1, 2], "c": ["x"]})
    assert sets == [{"a": 1, "b": 1, "c": "x"}, {"a": 1, "b": 2, "c": "x"}, {"a": 2, "b": 1, "c": "x"},
                    {"a": 2, "b": 2, "c": "x"}]
    assert S.params_hash({"a": 1, "b": 2}) == S.params_hash({"b": 2, "a": 1}) != S.params_hash({"a": 1, "b": 3})


# ----------------------------------------------------------------------------- catalog
def test_catalog_of_the_fixture():
    cat = K.catalog(FIXTURES)
    assert sorted(cat) == ["fast/01_plain", "fast/02_shifted"]
    shifted = K.resolve("fast/shifted", cat)
    assert shifted.key == "fast/02_shifted" and shifted.fixed == {"page": "fast/02_shifted", "shift": 10}
    assert list(shifted.declared)[:3] == ["profile", "device", "seed"]
    assert shifted.declared["a"] == K.Parameter("a", 1.0, "a positive number")
    with pytest.raises(ParameterError, match="did you mean 'fast/plain'"):
        K.resolve("fast/plian", cat)


def test_parameters_cell_parsing():
    params = K.parse_parameters('x = 1  # one\ny: float = 2.5\nz = "a"  # a # b\nw = f(3)\nw2 = None\n')
    assert [(p.name, p.default, p.help) for p in params.values()] == [
        ("x", 1, "one"), ("y", 2.5, ""), ("z", "a", "a # b"), ("w", "f(3)", ""), ("w2", None, "")]


def test_validating_prefix_stops_before_the_experiment():
    cell = ("import x\ncheck_notebook_parameters()\nS = X.setup_2d(profile)\nprint(S)\nrun(S)\n")
    assert K.validating_prefix(cell) == "import x\ncheck_notebook_parameters()\nS = X.setup_2d(profile)\n"
    cell = "from v import check_int\nn = check_int('n', n)\nfor k in ks:\n    check_int(k, 1)\ngrid = big(n)\n"
    assert K.validating_prefix(cell).endswith("    check_int(k, 1)\n")
    assert K.validating_prefix("run()\n") == ""


def test_every_real_experiment_validates_its_ci_parameters():
    cat = K.catalog(ROOT / "notebooks")
    assert "ift/01_gaussian_2d" in cat and K.resolve("ift/gaussian_2d", cat).key == "ift/01_gaussian_2d"
    for exp in cat.values():
        assert list(exp.declared)[:3] == ["profile", "device", "seed"], exp.key
        assert K.validating_prefix(K.parameters_cell(exp.source)[1]), exp.key
        K.validate(exp, {"profile": "ci", "seed": 0})


def test_validation_refuses_naming_parameter_value_and_allowed():
    cat = K.catalog(ROOT / "notebooks")
    ift = cat["ift/01_gaussian_2d"]
    with pytest.raises(ParameterError, match=r"parameter 'kernel' = 'gaus' is not allowed: one of 'gauss'"):
        K.validate(ift, {"profile": "ci", "kernel": "gaus"})
    with pytest.raises(ParameterError, match=r"'sigmaa' is not a parameter.*did you mean 'sigma'"):
        K.validate(ift, {"sigmaa": 1})
    with pytest.raises(ParameterError, match="fixed by the page"):
        K.validate(ift, {"target": "mixture"})
    with pytest.raises(ParameterError, match=r"parameter 'dims' = 'abc'"):
        K.validate(cat["variational/01_ornstein_uhlenbeck"], {"profile": "ci", "dims": "abc"})
    K.validate(ift, {"profile": "ci", "kernel": "imq", "sigma": 2.0})


def test_allowed_values_come_from_the_library():
    cat = K.catalog(ROOT / "notebooks")
    assert "'gauss'" in K.allowed_values(cat["ift/01_gaussian_2d"], "kernel")
    assert K.allowed_values(cat["riesz/02_diracs"], "profile") == "one of 'ci', 'default', 'paper'"
    assert K.allowed_values(cat["ift/03_mixture_100d"], "sigma") == "a finite number > 0"


# ----------------------------------------------------------------------------- the command, before submission
@pytest.fixture
def no_runner(monkeypatch):
    """Fail the test if anything would be submitted."""
    from wgf_core.cli import runner

    def refuse(*a, **k):
        raise AssertionError("a Runner was started")

    monkeypatch.setattr(runner.Runner, "__enter__", refuse)


@pytest.mark.parametrize("args, message", [
    (["sweep", "fast/plain", "-p", "a=1,-2"], "parameter 'a' = -2 is not allowed: a finite number > 0"),
    (["sweep", "fast/plain", "-p", "aa=1"], "'aa' is not a parameter of this notebook: did you mean 'a'?"),
    (["run", "fast/shifted", "-p", "shift=1"], "fixed by the page"),
    (["run", "fast/plain", "-p", "profile=fast"], "parameter 'profile' = 'fast' is not allowed"),
    (["run", "fast/plain", "--seeds", "x"], "parameter 'seeds' = 'x'"),
    (["run", "fast/nope"], "experiment 'fast/nope' is not known"),
    (["run", "fast/plain", "--timeout", "-5"], "parameter '--timeout' = -5 is not allowed: an integer >= 1"),
    (["run", "fast/plain", "--timeout", "0"], "parameter '--timeout' = 0 is not allowed"),
    (["run", "fast/plain", "--jobs", "0"], "parameter '--jobs' = 0 is not allowed: an integer >= 1"),
    (["run", "fast/plain", "--jobs", "-2"], "parameter '--jobs' = -2 is not allowed"),
    (["run", "fast/plain", "--seeds", "0-1000000000"], "at most 10000 seeds in one command (this gives 1000000001)"),
    (["run", "fast/plain", "--scheduler", "foo://x:1"], "parameter '--scheduler' = 'foo://x:1' is not allowed"),
    (["run", "fast/plain", "-p", "profile=[1,2]"], "parameter 'profile' = [1, 2] is not allowed: one of 'ci'"),
    (["run", "fast/plain", "-p", "a=True"], "parameter 'a' = True is not allowed: a finite number > 0 (True/False"),
    (["run", "fast/plain", "-p", "a='5'"], "parameter 'a' = '5' is not allowed: a finite number > 0 (a number, not"),
    (["run", "fast/plain", "-p", "a=５"], "parameter 'a' = '５' is not allowed: a number in ASCII digits (write 5)"),
    (["sweep", "fast/plain", "-p", "a=1,５"], "parameter 'a' = '５' is not allowed"),
    (["run", "fast/plain", "-p", "ａ=5"], "parameter name 'ａ' is not allowed: an ASCII identifier"),
])
def test_bad_parameters_are_refused_before_submission(tmp_path, capsys, no_runner, args, message):
    rc = main(["--notebooks-dir", str(FIXTURES)] + args + ["--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_list(capsys):
    assert main(["--notebooks-dir", str(FIXTURES), "list", "--json"]) == 0
    info = {e["key"]: e for e in json.loads(capsys.readouterr().out)}
    params = {p["name"]: p for p in info["fast/02_shifted"]["parameters"]}
    assert params["a"]["allowed"] == "a finite number > 0" and params["a"]["default"] == 1.0
    assert params["shift"]["fixed"] == 10 and info["fast/02_shifted"]["alias"] == "fast/shifted"
    assert main(["--notebooks-dir", str(FIXTURES), "list", "fast/plain"]) == 0
    assert "one of 'ci', 'default', 'paper'" in capsys.readouterr().out


# ----------------------------------------------------------------------------- report
def _fixture_run(out, a, seed, status="ok", total=None, claim="reproduced", seconds=1.0):
    d = out / "fast" / "01_plain" / S.params_hash({"profile": "ci", "a": a}) / f"seed-{seed}"
    d.mkdir(parents=True)
    state = {"experiment": "fast/01_plain", "params_hash": S.params_hash({"profile": "ci", "a": a}), "seed": seed,
             "user_parameters": {"profile": "ci", "a": a}, "wgf_core_version": "0.1.0", "status": status,
             "error": "" if status == "ok" else "RuntimeError: boom", "seconds": seconds}
    (d / "run.json").write_text(json.dumps(state))
    if status == "ok":
        rec = {"metrics": {"total": total, "nested": {"x": 2 * total}, "name": "t"}, "checks": {"finite": True},
               "claims": [{"id": "fast-positive", "status": claim}]}
        (d / "metrics.json").write_text(json.dumps(rec))


def test_report_summary_matches_a_hand_computation(tmp_path):
    pa = pytest.importorskip("pyarrow.parquet")
    _fixture_run(tmp_path, 1, 0, total=1.0, seconds=2.0)
    _fixture_run(tmp_path, 1, 1, total=4.0, seconds=4.0, claim="differs")
    _fixture_run(tmp_path, 1, 2, total=7.0, seconds=9.0)
    _fixture_run(tmp_path, 1, 3, status="failed", seconds=0.5)
    _fixture_run(tmp_path, 2, 0, total=3.0)
    res = R.write_report(tmp_path)
    assert len(res["rows"]) == 5
    row = next(r for r in res["rows"] if r["param:a"] == 1 and r["seed"] == 1)
    assert row["metric:total"] == 4.0 and row["metric:nested.x"] == 8.0
    assert row["claim:fast-positive"] == "differs" and row["check:finite"] is True
    s1 = next(s for s in res["summary"] if s["param:a"] == 1)
    assert (s1["runs"], s1["ok"], s1["failed"]) == (4, 3, 1)
    assert s1["metric:total:mean"] == 4.0 and s1["metric:total:min"] == 1.0 and s1["metric:total:max"] == 7.0
    assert s1["metric:nested.x:mean"] == 8.0
    assert s1["seconds:mean"] == 5.0 and s1["seconds:max"] == 9.0  # the failed run's time is not counted
    assert s1["claim:fast-positive:reproduced"] == 2 and "metric:name:mean" not in s1
    s2 = next(s for s in res["summary"] if s["param:a"] == 2)
    assert (s2["runs"], s2["metric:total:mean"]) == (1, 3.0)
    csv_lines = (tmp_path / "report.csv").read_text().splitlines()
    assert len(csv_lines) == 6 and csv_lines[0].startswith("experiment,params_hash,seed,wgf_core_version,status")
    table = pa.read_table(tmp_path / "summary.parquet").to_pylist()
    assert [math.isclose(t["metric:total:mean"], s["metric:total:mean"]) for t, s in zip(table, res["summary"])] == [
        True, True]
    assert pa.read_table(tmp_path / "report.parquet").num_rows == 5


def _corrupt_folder(out):
    """Two good runs, one with a truncated metrics.json, one with a truncated run.json."""
    _fixture_run(out, 1, 0, total=1.0)
    _fixture_run(out, 1, 1, total=2.0)
    _fixture_run(out, 1, 2, total=3.0)
    _fixture_run(out, 2, 0, total=4.0)
    bad_metrics = next(out.rglob("seed-1")) / "metrics.json"
    bad_metrics.write_text(bad_metrics.read_text()[:20])
    bad_state = next(p for p in out.rglob("run.json") if "seed-0" in str(p) and S.params_hash(
        {"profile": "ci", "a": 2}) in str(p))
    bad_state.write_text('{"experiment": "fast/01_pl')
    return bad_metrics, bad_state


def test_report_lists_corrupt_run_folders_and_exits_nonzero(tmp_path, capsys):
    bad_metrics, bad_state = _corrupt_folder(tmp_path)
    rc = main(["report", str(tmp_path)])
    out = capsys.readouterr()
    assert rc == 1
    for path in (bad_metrics, bad_state):
        rel = str(path.relative_to(tmp_path))
        assert f"corrupt: {rel}: not valid JSON" in out.out
    assert "2 run folder(s) corrupt" in out.err
    res = R.write_report(tmp_path)
    assert len(res["rows"]) == 4  # nothing dropped
    bad = {(r["params_hash"], r["seed"]): r for r in res["corrupt"]}
    assert set(bad) == {(S.params_hash({"profile": "ci", "a": 1}), 1), (S.params_hash({"profile": "ci", "a": 2}), 0)}
    assert all(r["status"] == "corrupt" and r["experiment"] for r in bad.values())  # read from the path
    s1 = next(s for s in res["summary"] if s.get("param:a") == 1)
    assert (s1["runs"], s1["ok"], s1["failed"], s1["corrupt"]) == (3, 2, 0, 1)
    assert "corrupt: " in (tmp_path / "report.csv").read_text()


def test_report_of_a_clean_folder_exits_0(tmp_path, capsys):
    _fixture_run(tmp_path, 1, 0, total=1.0)
    _fixture_run(tmp_path, 1, 1, status="failed")
    assert main(["report", str(tmp_path)]) == 0
    assert "corrupt" not in capsys.readouterr().out


@pytest.mark.parametrize("state, metrics, reason", [
    ("[1, 2]", None, "run.json: a JSON list, not an object"),
    ('{"status": "ok"}', None, "run.json: no 'experiment'"),
    (None, '{"metrics": [1]}', "metrics.json: 'metrics' is not an object"),
    (None, '{"claims": [1]}', "metrics.json: 'claims' holds an entry that is not an object"),
    (None, b"\xff\xfe{}", "metrics.json: not UTF-8 text"),
])
def test_report_names_why_a_file_is_corrupt(tmp_path, state, metrics, reason):
    _fixture_run(tmp_path, 1, 0, total=1.0)
    run = next(tmp_path.rglob("seed-0"))
    for name, text in (("run.json", state), ("metrics.json", metrics)):
        if text is not None:
            (run / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    (row,) = R.collect(tmp_path)
    assert row["status"] == "corrupt" and reason in row["error"], row["error"]
    assert row["seed"] == 0


def test_report_partial_and_in_progress_folders(tmp_path):
    _fixture_run(tmp_path, 1, 0, total=1.0)
    partial = tmp_path / "fast" / "01_plain" / "abc" / "seed-3"
    partial.mkdir(parents=True)
    (partial / "01_plain.ipynb").write_text("{}")
    running = tmp_path / "fast" / "01_plain" / "abc" / "seed-4"
    running.mkdir()
    (running / "01_plain.tmp.ipynb").write_text("{}")
    rows = R.collect(tmp_path)
    assert len(rows) == 2  # the run in progress (only .tmp files) is not a row
    (bad,) = [r for r in rows if r["status"] == "corrupt"]
    assert (bad["experiment"], bad["params_hash"], bad["seed"]) == ("fast/01_plain", "abc", 3)
    assert "run.json: missing, beside 01_plain.ipynb" in bad["error"]


# ----------------------------------------------------------------------------- options refused before anything
def test_seed_ranges_are_counted_and_bounded_before_listing():
    assert S.parse_seeds("0-9999,0-9999") == list(range(10_000))  # duplicates are counted once
    with pytest.raises(ParameterError, match=r"at most 10000 seeds in one command \(this gives 1000000001\)"):
        S.parse_seeds("0-1000000000")
    with pytest.raises(ParameterError, match=r"this gives 10001"):
        S.parse_seeds("0-9999,10000")
    with pytest.raises(ParameterError, match=rf"{S.MAX_SEED + 1} > {S.MAX_SEED}"):
        S.parse_seeds(f"{S.MAX_SEED + 1}")
    assert S.parse_seeds(f"{S.MAX_SEED}") == [S.MAX_SEED]
    for bad in ("５", "1-２", "99999999999999999999"):
        with pytest.raises(ParameterError, match="parameter 'seeds'"):
            S.parse_seeds(bad)


def test_api_seeds_are_checked_by_length_first():
    assert S.check_seeds(range(3)) == [0, 1, 2] and S.check_seeds(iter([4, 2])) == [4, 2]
    with pytest.raises(ParameterError, match=r"this gives 1000000000\)"):
        S.check_seeds(range(10**9))  # refused by its length: listing it would take gigabytes
    with pytest.raises(ParameterError, match="this gives more"):
        S.check_seeds(iter(range(10**9)))
    for bad in ([], [True], [-1], [2**32], "0-4", [1.0]):
        with pytest.raises(ParameterError, match="parameter 'seeds'"):
            S.check_seeds(bad)


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    assert S.check_out(tmp_path / "new" / "runs") == tmp_path / "new" / "runs"
    assert not (tmp_path / "new").exists()  # nothing is created by the check
    with pytest.raises(ParameterError, match=r"parameter 'out' = .*file' is not allowed: a folder .*that is a file"):
        S.check_out(tmp_path / "file")
    with pytest.raises(ParameterError, match=r"file' on its path is a file"):
        S.check_out(tmp_path / "file" / "runs")


def test_scheduler_address_timeout_and_jobs():
    pytest.importorskip("distributed")
    assert S.check_scheduler("tcp://127.0.0.1:8786") and S.check_scheduler("host-1:8786") and S.check_scheduler(None) is None
    for bad in ("foo://x:1", "tcp://127.0.0.1:99999", "127.0.0.1", "tcp://a b:1"):
        with pytest.raises(ParameterError, match=r"parameter 'scheduler' = .* is not allowed: \[scheme://\]host:port"):
            S.check_scheduler(bad)
    S.check_options(1, None)
    S.check_options(3600, 2)
    for timeout, jobs, name in ((-5, None, "timeout"), (0, 1, "timeout"), (10, 0, "jobs"), (10, -2, "jobs"),
                                (1.5, None, "timeout"), (True, None, "timeout")):
        with pytest.raises(ParameterError, match=rf"parameter '{name}' = .* is not allowed: an integer >= 1"):
            S.check_options(timeout, jobs)


def test_out_that_is_a_file_is_refused(tmp_path, capsys, no_runner):
    (tmp_path / "runs").write_text("keep me")
    for out in (tmp_path / "runs", tmp_path / "runs" / "sub"):
        rc = main(["--notebooks-dir", str(FIXTURES), "run", "fast/plain", "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and f"parameter '--out' = {str(out)!r} is not allowed: a folder" in err
    assert (tmp_path / "runs").read_text() == "keep me"


def test_an_unreachable_scheduler_is_refused_within_the_connect_timeout(tmp_path, capsys, monkeypatch):
    import socket
    import time

    pytest.importorskip("distributed")
    from wgf_core.cli import runner

    monkeypatch.setattr(runner, "CONNECT_TIMEOUT", 2)
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    rc = main(["--notebooks-dir", str(FIXTURES), "run", "fast/plain", "-p", "profile=ci", "--no-progress",
               "--scheduler", f"tcp://127.0.0.1:{port}", "--out", str(tmp_path / "runs")])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert rc == 2 and elapsed < 15, (rc, elapsed)
    assert f"parameter 'scheduler' = 'tcp://127.0.0.1:{port}' is not allowed" in err and "within 2 s" in err
    assert len(err.strip().splitlines()) == 1, err


# ----------------------------------------------------------------------------- the kind of each value
def test_value_kind_reads_the_library_text():
    assert K.value_kind("a finite number > 0") == "number" == K.value_kind("an integer >= 1")
    assert K.value_kind("one of 'gauss', 'imq'") == "choice" and K.value_kind("one of True, False") == "bool"
    assert K.value_kind("a non-empty list of integers >= 2, e.g. [2, 6] or '2,6'") == "list"
    assert K.value_kind("'cpu', 'cuda', 'cuda:N' or 'mps'") == "" == K.value_kind("")


@pytest.mark.parametrize("key, params, message", [
    ("ift/01_gaussian_2d", {"kernel": [1, 2]}, "parameter 'kernel' = [1, 2] is not allowed: one of 'gauss'"),
    ("mmd_fdiv/01_flow", {"divergence": {"a": 1}}, "parameter 'divergence' = {'a': 1} is not allowed: one of 'kl'"),
    ("ift/01_gaussian_2d", {"sigma": True}, "parameter 'sigma' = True is not allowed: a finite number > 0"),
    ("ift/01_gaussian_2d", {"sigma": "5"}, "parameter 'sigma' = '5' is not allowed: a finite number > 0"),
    ("ift/01_gaussian_2d", {"sigma": "５"}, "(a number, not text; write '5')"),
    ("riesz/01_interaction_energy", {"r": True}, "parameter 'r' = True is not allowed: a number in (0.0, 2.0)"),
    ("ift/01_gaussian_2d", {"steps": "3"}, "parameter 'steps' = '3' is not allowed: an integer 1 .. "),
    ("mmd_fdiv/01_flow", {"tight": 1}, "parameter 'tight' = 1 is not allowed: one of True, False"),
    ("ift/01_gaussian_2d", {"ｓｉｇｍａ": 5}, "parameter name 'ｓｉｇｍａ' is not allowed: an ASCII identifier"),
    ("ift/01_gaussian_2d", {"x = 1\nimport os\nsigma": 5}, "is not allowed: an ASCII identifier"),
])
def test_values_of_the_wrong_kind_are_refused_through_the_api(key, params, message):
    cat = K.catalog(ROOT / "notebooks")
    with pytest.raises(ParameterError) as e:
        K.validate(cat[key], {"profile": "ci", **params})
    assert message in str(e.value)


def test_values_of_the_right_kind_pass():
    cat = K.catalog(ROOT / "notebooks")
    K.validate(cat["ift/01_gaussian_2d"], {"profile": "ci", "kernel": "imq", "sigma": 5, "steps": 3, "noise": None})
    K.validate(cat["mmd_fdiv/01_flow"], {"profile": "ci", "tight": True})
    K.validate(cat["riesz/01_interaction_energy"], {"profile": "ci", "r": 1.5})
    K.validate(cat["variational/01_ornstein_uhlenbeck"], {"profile": "ci", "dims": "2,6"})


def test_a_fullwidth_name_does_not_make_a_second_run(tmp_path, no_runner):
    with pytest.raises(ParameterError, match="ASCII identifier"):
        S.sweep("fast/plain", {"profile": ["ci"], "ａ": [5]}, out=tmp_path / "runs", notebooks_dir=FIXTURES)
    with pytest.raises(ParameterError, match="parameter 'timeout' = -5"):
        S.sweep("fast/plain", {"profile": ["ci"]}, out=tmp_path / "runs", notebooks_dir=FIXTURES, timeout=-5)
    with pytest.raises(ParameterError, match="this gives 1000000000"):
        S.sweep("fast/plain", {"profile": ["ci"]}, seeds=range(10**9), out=tmp_path / "runs", notebooks_dir=FIXTURES)
    assert not (tmp_path / "runs").exists()


def test_an_unhashable_value_the_kind_check_misses_is_still_named(monkeypatch):
    cat = K.catalog(ROOT / "notebooks")
    monkeypatch.setattr(K, "_allowed_cached", lambda exp, name: "")  # no kind known: the library sees the list
    with pytest.raises(ParameterError, match=r"parameter 'kernel' = \[1, 2\] is not allowed: one of 'gauss'.* \(one value, "
                                             r"not a list\)"):
        K.validate(cat["ift/01_gaussian_2d"], {"profile": "ci", "kernel": [1, 2]})
