import math

from wgf_core.claims.api import every_pair_dissipates

#: {claim id: (passing kwargs, failing kwargs)} (collected by tests/test_claims.py)
EXAMPLES = {
    "api-every-pair-dissipates": (dict(ratios={"gauss x euler": 0.2, "riesz x ift": 0.9}),
                                  dict(ratios={"gauss x euler": 0.2, "riesz x ift": 1.3})),
}


def test_every_pair_dissipates_names_the_pairs_that_did_not():
    out = every_pair_dissipates({"a": 0.5, "b": float("nan"), "c": 1.0})
    assert not out.passed and "b (nan)" in out.text and "c (1)" in out.text
    ok = every_pair_dissipates({"a": 0.5, "b": 0.75})
    assert ok.passed and ok.value == 0.75 and "(b)" in ok.text
    assert math.isnan(every_pair_dissipates({}).value)
