import math

import pytest

from wgf_core.claims.api import CLAIMS, GRID_PLAN, every_pair_dissipates

#: {claim id: (passing kwargs, failing kwargs)}, both near the threshold (collected by tests/test_claims.py)
EXAMPLES = {
    "api-every-pair-dissipates": (dict(ratios={"gauss x euler": 0.2, "riesz x ift": 0.9}),
                                  dict(ratios={"gauss x euler": 0.2, "riesz x ift": 1.1})),
}


def test_margin_is_the_least_decrease_in_decades_and_changes_sign():
    good, bad = (every_pair_dissipates(**kw) for kw in EXAMPLES["api-every-pair-dissipates"])
    assert good.passed and good.margin == pytest.approx(-math.log10(0.9)) and 0 < good.margin < 0.05
    assert not bad.passed and bad.margin == pytest.approx(-math.log10(1.1)) and -0.05 < bad.margin < 0
    assert every_pair_dissipates({"a": 1.0}).margin == 0.0
    assert every_pair_dissipates({"a": 1e-3, "b": 1e-2}).margin == pytest.approx(2.0)


def test_every_pair_dissipates_names_the_pairs_that_did_not():
    out = every_pair_dissipates({"a": 0.5, "b": 1.3, "c": 1.0})
    assert not out.passed and "b (1.3)" in out.text and "c (1)" in out.text and "(b;" in out.text
    ok = every_pair_dissipates({"a": 0.5, "b": 0.75})
    assert ok.passed and ok.value == 0.75 and "(b;" in ok.text


def test_no_number_and_blow_up():
    assert math.isnan(every_pair_dissipates({}).margin) and math.isnan(every_pair_dissipates({}).value)
    nan = every_pair_dissipates({"a": 0.5, "b": float("nan")})
    assert math.isnan(nan.margin) and not nan.passed and "b (nan)" in nan.text
    blown = every_pair_dissipates({"a": 0.5, "b": float("inf")})
    assert blown.margin == pytest.approx(-300.0) and not blown.passed


def test_registration():
    (c,) = CLAIMS
    assert c.kind == "check" and c.plan is GRID_PLAN and c.stochastic and c.margin_label.startswith("decades")
    assert GRID_PLAN.default == (3,) and GRID_PLAN.ci == (1,)
