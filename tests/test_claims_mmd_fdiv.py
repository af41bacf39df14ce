"""The mmd_fdiv claim registry (wgf_core.claims.mmd_fdiv): every criterion passes and fails where it
should, README quotes are the seed's words, paraphrases say so, and the weak points of the earlier
verdicts (a tight check at t = 0 only, a speed check against a typed constant) cannot come back."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from wgf_core import claims as C
from wgf_core.claims import mmd_fdiv as R

ROOT = Path(__file__).resolve().parents[1]
README = Path("/work/shared/seeds/000_cf692f27b033444f.txt")

LAMS = [0.01, 0.1, 1.0, 10.0, 100.0]


def _sandwich(half, opn, kappa, inside=True):
    """lambda * primal / dual inside (or, at lambda = 1, below) the closed-form sandwich."""
    lower = [half / (1 + opn / (kappa * lam)) for lam in LAMS]
    lp = [lo + 0.5 * (half - lo) for lo in lower]
    ld = [v * (1 - 1e-6) for v in lp]
    if not inside:
        lp[2] = ld[2] = 0.9 * lower[2]
    return dict(lambdas=LAMS, lam_primal=lp, lam_dual=ld, half_mmd2=half, op_norm=opn, kappa=kappa)


#: claim id -> (one seed's measurements that pass, measurements that fail)
EXAMPLES = {
    "mmdfdiv-gap": (dict(max_gap=4.9e-4), dict(max_gap=2.1e-2)),
    "mmdfdiv-mmd-drop": (dict(mmd2_initial=0.9, mmd2_final=0.9 / 150), dict(mmd2_initial=0.9, mmd2_final=0.9 / 13)),
    "mmdfdiv-descent": (dict(primal=[6.0, 1.0, 0.5, 0.49], dual=[5.99, 0.999, 0.4995, 0.4899]),
                        dict(primal=[6.0, 1.0, 1.2, 1.1], dual=[5.99, 0.999, 1.19, 1.09])),
    "mmdfdiv-recession": (dict(mmd2_finite=0.12, mmd2_infinite=0.015), dict(mmd2_finite=0.01, mmd2_infinite=0.015)),
    "mmdfdiv-tight": (dict(tight_primal=[6.357, 0.989, 0.595], nontight_dual=[6.350, 0.987, 0.592],
                           nontight_primal=[6.3503, 0.9870, 0.5921]),
                      # t = 0 fine, violated later along the flow: the old t = 0 check passed this
                      dict(tight_primal=[6.357, 0.980, 0.595], nontight_dual=[6.350, 0.987, 0.592],
                           nontight_primal=[6.3503, 0.9870, 0.5921])),
    "mmdfdiv-lambda": (dict(lambdas=[1e-3, 1e-2, 1e-1, 1.0], mmd2_final=[0.008, 0.015, 0.029, 0.17]),
                       dict(lambdas=[1e-3, 1e-2, 1e-1, 1.0], mmd2_final=[0.023, 0.015, 0.029, 0.17])),
    "mmdfdiv-mmd-limit": (_sandwich(0.2727, 1.43, 2.0), _sandwich(0.2727, 1.43, 2.0, inside=False)),
}


@pytest.mark.parametrize("cid", sorted(EXAMPLES))
def test_nan_never_passes(cid):
    """A diverged run (NaN measurements) fails every criterion."""
    good, _ = EXAMPLES[cid]
    nan = {k: ([float("nan")] * len(v) if isinstance(v, list) else float("nan")) for k, v in good.items()}
    if cid == "mmdfdiv-mmd-limit":
        nan["lambdas"] = good["lambdas"]
    assert not C.get(cid).check(nan).passed


def test_tight_needs_the_flow_not_only_t0():
    """Weak point: the old check compared the envelopes at t = 0 only, so it could not fail along the flow."""
    t0_only = dict(tight_primal=[6.357], nontight_dual=[6.350], nontight_primal=[6.3503])
    out = C.get("mmdfdiv-tight").check(t0_only)
    assert not out.passed and "2 compared times" in out.text
    _, later_violation = EXAMPLES["mmdfdiv-tight"]
    first = {k: v[:1] for k, v in later_violation.items()}
    assert R.tight_above_along_flow(**first).passed is False  # one time is never enough
    assert not R.tight_above_along_flow(**later_violation).passed
    # equality within the certified gap passes: only a proven violation fails
    assert R.tight_above_along_flow([1.0, 0.5], [1.0, 0.5], [1.0001, 0.5001]).passed


def test_boundaries():
    assert not R.gap_below_bound(1e-3).passed and R.gap_below_bound(0.999e-3).passed
    assert R.mmd_drop(1.0, 0.01).passed and not R.mmd_drop(1.0, 0.0101).passed
    # equal consecutive bounds are not an increase; a lower bound just above the upper one is
    assert R.no_certified_increase([1.0, 1.0], [0.9, 1.0]).passed
    assert not R.no_certified_increase([1.0, 1.0], [0.9, 1.0 + 1e-9]).passed
    assert not R.no_certified_increase([1.0], [0.9]).passed  # one logged step says nothing
    # equal final MMD^2 is "not decreasing" for lambda, and "not slower" for the recession constant
    assert R.mmd2_nondecreasing_in_lambda([1.0, 0.1], [0.2, 0.2]).passed
    assert not R.finite_recession_slower(0.2, 0.2).passed
    # the lambda criterion sorts by lambda (the order of the runs does not matter)
    assert R.mmd2_nondecreasing_in_lambda([1.0, 1e-3, 0.1], [0.17, 0.008, 0.03]).passed


def test_mmd_limit_sandwich_is_the_closed_form():
    """Upper side: sigma = nu; a lambda * dual above MMD^2 / 2 fails, one rounding-size above passes."""
    half, opn, kappa = 0.25, 1.5, 2.0
    ok = _sandwich(half, opn, kappa)
    assert R.mmd_limit_sandwich(**ok).passed
    above = dict(ok, lam_dual=[d if i != 4 else half * (1 + 1e-6) for i, d in enumerate(ok["lam_dual"])])
    assert not R.mmd_limit_sandwich(**above).passed
    tiny = dict(ok, lam_dual=[d if i != 4 else half * (1 + 1e-12) for i, d in enumerate(ok["lam_dual"])])
    assert R.mmd_limit_sandwich(**tiny).passed
    out = R.mmd_limit_sandwich(**ok)
    lp = ok["lam_primal"][-1]
    assert math.isclose(out.value, 1 - lp / half, rel_tol=1e-12)


def test_kinds_and_flags():
    kinds = {c.id: c.kind for c in R.CLAIMS}
    assert kinds["mmdfdiv-gap"] == kinds["mmdfdiv-mmd-drop"] == "check"  # project acceptance tests
    assert all(kinds[k] == "paper" for k in ("mmdfdiv-descent", "mmdfdiv-recession", "mmdfdiv-tight",
                                             "mmdfdiv-lambda", "mmdfdiv-mmd-limit"))
    assert all(c.stochastic for c in R.CLAIMS)  # prior and target are random draws
    assert not any(c.timing for c in R.CLAIMS)  # the speed comparison lives in benchmarks/


def test_no_speed_claim_against_a_typed_constant():
    """Weak point: 'at least 5x below 0.077 s' compared with a time measured elsewhere."""
    assert "mmdfdiv-speed" not in {c.id for c in R.CLAIMS}
    for nb in (ROOT / "notebooks" / "mmd_fdiv").glob("*.ipynb"):
        assert "0.077" not in nb.read_text() and "0.0154" not in nb.read_text(), nb.name
    bench = (ROOT / "benchmarks" / "bench_mmd_fdiv.py").read_text()
    assert "0.077" not in bench and "77 ms" not in bench


def test_quotes_are_readme_words_or_declared_paraphrases():
    readme = re.sub(r"\s+", " ", README.read_text()) if README.exists() else None
    for c in R.CLAIMS:
        if c.kind != "paper":
            continue
        if c.quote.startswith("Paraphrase"):
            assert "paraphrase" in c.where and "not in shared/seeds" in c.where, c.id
        else:
            assert "README" in c.where, c.id
            if readme is not None:
                assert re.sub(r"\s+", " ", c.quote) in readme, f"{c.id}: quote not in the README seed"
