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
])
def test_bad_parameters_are_refused_before_submission(tmp_path, capsys, no_runner, args, message):
    rc = main(["--notebooks-dir", str(FIXTURES)] + args + ["--out", str(tmp_path / "runs")])
    assert rc == 2
    assert message in capsys.readouterr().err
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
