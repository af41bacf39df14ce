"""The claim registry and the verdict rule (wgf_core.claims)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from wgf_core import claims as C
from wgf_core.claims.core import Claim, Outcome
from wgf_core.validation import ParameterError

ROOT = Path(__file__).resolve().parents[1]


def _below(value, limit=1.0):
    return Outcome(value < limit, value, f"{value:.3g} vs {limit}")


def _claim(**kw):
    base = dict(id="x-claim", notebook="x/01_nb", kind="paper", statement="s", quote="q", where="Sec. 1",
                criterion_text="value < 1", tolerance_reason="closed form", criterion=_below)
    base.update(kw)
    return Claim(**base)


@pytest.mark.parametrize("passed, expected", [
    ([True, True, True], "pass"),
    ([False, False, False], "differs"),
    ([True, False, True], "unstable"),   # a majority would say pass: the rule does not
    ([False, True, False], "unstable"),
    ([], "not-run"),
])
def test_verdict_rule(passed, expected):
    assert C.verdict(passed) == expected


def test_assess_records_spread_and_status():
    c = _claim()
    e = C.assess(c, [dict(value=0.5), dict(value=2.0), dict(value=0.1)], [10, 11, 12],
                 configuration=C.configuration("default", {"n": 5}, {"n": 50}))
    assert e["status"] == "unstable"
    assert (e["n"], e["min"], e["median"], e["max"]) == (3, 0.1, 0.5, 2.0)
    assert [s["passed"] for s in e["per_seed"]] == [True, False, True]
    assert e["configuration"]["deviations"] == ["n = 5 (paper 50)"] and not e["configuration"]["paper_config"]
    json.dumps(e)


def test_assess_needs_three_seeds_outside_ci():
    c = _claim()
    conf = C.configuration("default", {}, {})
    with pytest.raises(ValueError, match="at least 3 seeds"):
        C.assess(c, [dict(value=0.5)] * 2, [0, 1], configuration=conf)
    ci = C.configuration("ci", {}, {})
    assert C.assess(c, [dict(value=0.5)], [0], configuration=ci)["status"] == "pass"
    det = _claim(stochastic=False)
    assert C.assess(det, [dict(value=3.0)], [0], configuration=conf)["status"] == "differs"
    with pytest.raises(ValueError, match="deterministic"):
        C.assess(det, [dict(value=3.0)] * 3, [0, 1, 2], configuration=conf)


def test_assess_rejects_mismatch_and_repeats():
    c, conf = _claim(), C.configuration("ci", {}, {})
    with pytest.raises(ValueError, match="measurements"):
        C.assess(c, [dict(value=0.5)], [0, 1], configuration=conf)
    with pytest.raises(ValueError, match="repeated"):
        C.assess(c, [dict(value=0.5)] * 2, [0, 0], configuration=conf)


def test_nan_value_fails_and_is_left_out_of_spread():
    c = _claim()
    e = C.assess(c, [dict(value=float("nan")), dict(value=0.2), dict(value=0.4)], [0, 1, 2],
                 configuration=C.configuration("default", {}, {}))
    assert e["status"] == "unstable" and e["min"] == 0.2 and e["max"] == 0.4
    assert math.isnan(e["per_seed"][0]["value"])


def test_configuration_paper_and_notes():
    same = C.configuration("paper", {"steps": 6000, "sigma": 10.0}, {"steps": 6000, "sigma": 10})
    assert same["paper_config"] and same["deviations"] == []
    noted = C.configuration("paper", {"steps": 6000}, {"steps": 6000}, notes=["svrg estimator (not in the paper)"])
    assert not noted["paper_config"] and noted["notes"] == ["svrg estimator (not in the paper)"]


def test_seed_list_shifts_with_base():
    assert C.seed_list(0, 3) == [0, 1, 2] and C.seed_list(1000, 3) == [1000, 1001, 1002]
    for bad in (0, 2.5, True):
        with pytest.raises(ParameterError, match=rf"parameter 'n' = {bad!r} is not allowed: .*integer >= 1"):
            C.seed_list(0, bad)


def test_claim_validation():
    with pytest.raises(ValueError, match="kind"):
        _claim(kind="claim")
    with pytest.raises(ValueError, match="quote is empty"):
        _claim(quote=" ")
    with pytest.raises(TypeError, match="Outcome"):
        _claim(criterion=lambda value: value < 1).check({"value": 0.5})


def test_registry_ids_unique_and_notebooks_exist():
    # a claim's notebook is a page of the book: a notebook, or a page of notebooks/pages.toml
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_book as bb

    pages = {p.key: p for p in bb.discover(ROOT / "notebooks")}
    reg = C.registry()
    for cid, c in reg.items():
        assert c.notebook in pages, f"claim {cid}: notebook {c.notebook} is no page of the book"
        nb = pages[c.notebook].source
        assert nb.exists(), f"claim {cid}: notebook {c.notebook} does not exist"
        # the notebook decides it, itself or through its paper's driver (the thin notebooks call the driver,
        # which builds some ids from a pattern, e.g. f"ou-symkl-d{d}"); that each record decides exactly the
        # claims registered for its page is checked when tests/test_notebooks.py runs every page at ci
        driver = ROOT / "wgf_core" / "experiments" / f"{c.paper}.py"
        text = nb.read_text() + (driver.read_text() if driver.exists() else "")
        assert "assess(" in text, f"claim {cid}: neither {nb.name} nor its driver assesses claims"
        stem = cid.split("-")[0] + "-"
        assert stem in text, f"claim {cid} is registered but {nb.name} never decides a claim of its family"


def test_get_names_known_ids():
    with pytest.raises(KeyError, match="no claim"):
        C.get("ift-no-such-claim")


def _examples():
    """Every paper's ``EXAMPLES`` ({claim id: (passing kwargs, failing kwargs)}) from its test module."""
    import importlib

    out = {}
    for paper in C.PAPERS:
        out.update(importlib.import_module(f"test_claims_{paper}").EXAMPLES)
    return out


def test_every_registered_claim_has_a_passing_and_a_failing_example():
    assert sorted(_examples()) == sorted(C.registry())


@pytest.mark.parametrize("cid", sorted(C.registry()))
def test_criterion_passes_and_fails(cid):
    """One input that meets the criterion and one that misses it, for every claim of every paper."""
    good, bad = _examples()[cid]
    claim = C.get(cid)
    out_good, out_bad = claim.check(good), claim.check(bad)
    assert isinstance(out_good, Outcome) and out_good.passed, out_good.text
    assert not out_bad.passed, out_bad.text
    assert out_good.text and out_bad.text and "\n" not in out_good.text and "\n" not in out_bad.text
    json.dumps([out_good.value, out_bad.value, out_good.text, out_bad.text])


def test_verdict_probabilities_closed_form_and_simulation():
    from wgf_core.claims import agreement_probability, verdict, verdict_probabilities

    # the closed form at the ends and in between
    assert verdict_probabilities(1.0, 3) == pytest.approx({"pass": 1.0, "differs": 0.0, "unstable": 0.0})
    assert verdict_probabilities(0.0, 3) == pytest.approx({"pass": 0.0, "differs": 1.0, "unstable": 0.0})
    assert agreement_probability(1.0, 5) == pytest.approx(1.0) and agreement_probability(0.0, 5) == pytest.approx(1.0)
    # a correct method under a level-1/20 test with 3 seeds: unstable 14 % of the time
    assert verdict_probabilities(0.95, 3)["unstable"] == pytest.approx(1 - 0.95**3 - 0.05**3)
    assert agreement_probability(0.95, 3) < 0.8
    # against a simulation of the rule itself
    import random
    rng = random.Random(7)
    n, p, draws = 3, 0.6, 20000
    counts = {"pass": 0, "differs": 0, "unstable": 0}
    for _ in range(draws):
        counts[verdict([rng.random() < p for _ in range(n)])] += 1
    for k, v in verdict_probabilities(p, n).items():
        assert counts[k] / draws == pytest.approx(v, abs=0.02)
    with pytest.raises(ValueError, match="p must be"):
        verdict_probabilities(1.5, 3)
    with pytest.raises(ValueError, match="n must be"):
        agreement_probability(0.5, 0)
