"""The ift claim registry (wgf_core.claims.ift): every criterion's signed margin changes sign at its
threshold, the paper's words are verbatim in the paper's text, the loosened criteria are decided by
the earlier ones, the fixed noise-floor reference is what its code computes, and the 2-D verdicts
are decided at the registry's configuration (not one chosen from the convention sweep)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from wgf_core import claims as C
from wgf_core.claims import ift as R

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
PAPER_TEXT = SEEDS / R.SOURCE

#: claim id -> (one member's measurements whose margin is just above 0, just below 0)
EXAMPLES = {
    "ift-stuck": (dict(mmd_stuck_mass=0.011, mmd_final=5.5e-3, mmd_noise_final=1e-3, ift_final=2e-3),
                  dict(mmd_stuck_mass=0.011, mmd_final=4.5e-3, mmd_noise_final=1e-3, ift_final=2e-3)),
    "ift-noise": (dict(mmd_final=1e-3, mmd_noise_final=4.5e-4), dict(mmd_final=1e-3, mmd_noise_final=5.5e-4)),
    "ift-noise-late": (dict(mmd_before_off=1e-3, mmd_noise_before_off=1.1e-3),
                       dict(mmd_before_off=1e-3, mmd_noise_before_off=0.9e-3)),
    "ift-fast": (dict(ift_early=1.8e-4, mmd_noise_final=1e-4), dict(ift_early=2.2e-4, mmd_noise_final=1e-4)),
    "ift-teleport": (dict(mmd_stuck_count=1.1, ift_far_weight_max=9e-4, ift_stuck_mass=2e-6, ift_far_count=0.4),
                     dict(mmd_stuck_count=0.9, ift_far_weight_max=9e-4, ift_stuck_mass=2e-6, ift_far_count=0.4)),
    "iftmix-stuck": (dict(mmd_stuck_mass=0.02, mmd_final=1.1e-2, mmd_noise_final=3e-3, ift_final=2e-3),
                     dict(mmd_stuck_mass=0.009, mmd_final=1.1e-2, mmd_noise_final=3e-3, ift_final=2e-3)),
    "iftmix-noise": (dict(mmd_final=2e-3, mmd_noise_final=0.9e-3), dict(mmd_final=2e-3, mmd_noise_final=1.1e-3)),
    "iftmix-noise-late": (dict(mmd_before_off=2e-3, mmd_noise_before_off=2.2e-3),
                          dict(mmd_before_off=2e-3, mmd_noise_before_off=1.8e-3)),
    "iftmix-fast": (dict(ift_early=1.7e-3, mmd_noise_final=1e-3), dict(ift_early=2.3e-3, mmd_noise_final=1e-3)),
    "iftmix-teleport": (dict(mmd_stuck_count=2.0, ift_far_weight_max=8.5e-4, ift_stuck_mass=1e-6, ift_far_count=1),
                        dict(mmd_stuck_count=2.0, ift_far_weight_max=1.15e-3, ift_stuck_mass=1e-5, ift_far_count=1)),
    "ift100-vs-wfr": (dict(ift_final=0.024, wfr_final=0.026), dict(ift_final=0.026, wfr_final=0.024)),
    "ift100-vanilla": (dict(mmd_final=0.042, ift_final=0.020, floor=0.020),
                       dict(mmd_final=0.038, ift_final=0.020, floor=0.020)),
}


def test_every_claim_has_examples():
    assert set(EXAMPLES) == {c.id for c in R.CLAIMS}


@pytest.mark.parametrize("cid", sorted(EXAMPLES))
def test_margins_change_sign_at_the_threshold(cid):
    """Both examples lie near the threshold (|margin| < 0.12 decade, or 0.12 noise floor) on either side."""
    good, bad = EXAMPLES[cid]
    claim = C.get(cid)
    hi, lo = claim.check(good), claim.check(bad)
    assert 0 < hi.margin < 0.12 and hi.passed, (cid, hi)
    assert -0.12 < lo.margin < 0 and not lo.passed, (cid, lo)
    assert hi.text and lo.text and math.isfinite(hi.value)


def test_the_other_condition_of_the_conjunctions():
    # stuck: the far mass below 0.01 fails even when the ratio is far above 5; no far mass at all is -2 decades
    args = dict(mmd_final=1.0, mmd_noise_final=1e-3, ift_final=1e-3)
    assert -0.05 < R.stuck_and_worse(mmd_stuck_mass=0.009, **args).margin < 0
    assert R.stuck_and_worse(mmd_stuck_mass=0.0, **args).margin == pytest.approx(-2.0)
    # teleport: one far IFT particle kept above 1e-3/n fails although the vanilla flow has stuck particles
    out = R.ift_teleports(mmd_stuck_count=3.0, ift_far_weight_max=1.2e-3, ift_stuck_mass=1e-5, ift_far_count=1)
    assert -0.1 < out.margin < 0
    # weights exactly 0 (the simplex projection) and no stuck particle: finite margins of the right sign
    assert R.ift_teleports(mmd_stuck_count=2.0, ift_far_weight_max=0.0, ift_stuck_mass=0.0,
                           ift_far_count=2).margin == pytest.approx(math.log10(2.0))
    assert R.ift_teleports(mmd_stuck_count=0.0, ift_far_weight_max=0.0, ift_stuck_mass=0.0,
                           ift_far_count=0).margin == pytest.approx(-2.0)


def test_no_number_gives_a_nan_margin():
    nan = float("nan")
    assert math.isnan(R.ift_fast(ift_early=nan, mmd_noise_final=1.0).margin)
    assert math.isnan(R.noise_late(mmd_before_off=nan, mmd_noise_before_off=1.0).margin)
    assert math.isnan(R.ift_below_wfr(ift_final=nan, wfr_final=0.02).margin)
    assert math.isnan(R.stuck_and_worse(mmd_stuck_mass=nan, mmd_final=1.0, mmd_noise_final=0.1, ift_final=0.1).margin)
    out = R.vanilla_above_ift(mmd_final=0.1, ift_final=0.02, floor=0.0)
    assert not out.passed and math.isnan(out.value) and math.isnan(out.margin)


def test_loosened_criteria_are_decided_by_the_earlier_ones():
    """ift-stuck / iftmix-stuck and the noise-late claims were loosened at creation (factor 5 -> 2; 'not below
    the vanilla flow' -> 'not below half'): their amendments say 'earlier', and the criteria in force are the
    earlier ones, so what only the looser criterion accepts fails."""
    entries = json.loads((ROOT / "wgf_core" / "claims" / "amendments" / "ift.json").read_text())
    earlier = {e["claim"] for e in entries if e["decided_by"] == "earlier"}
    assert earlier == {"ift-stuck", "iftmix-stuck", "ift-noise-late", "iftmix-noise-late"}
    for e in entries:
        if e["decided_by"] == "earlier":
            assert e["earlier"] and e["results_seen"] and not e["reason_independent_of_results"]
    three_x = dict(mmd_stuck_mass=0.02, mmd_final=3e-3, mmd_noise_final=1e-3, ift_final=2e-3)
    for cid in ("ift-stuck", "iftmix-stuck"):
        assert not C.get(cid).check(three_x).passed  # 3x passes the looser 2x, not the earlier 5x
    for cid in ("ift-noise-late", "iftmix-noise-late"):
        assert not C.get(cid).check(dict(mmd_before_off=1.0, mmd_noise_before_off=0.7)).passed  # > 1/2, < 1


def test_amendments_name_known_claims_with_the_required_fields():
    entries = json.loads((ROOT / "wgf_core" / "claims" / "amendments" / "ift.json").read_text())
    ids = {c.id for c in R.CLAIMS}
    keys = {"claim", "date", "commit", "change", "reason", "results_seen", "earlier", "decided_by",
            "reason_independent_of_results"}
    for e in entries:
        assert keys <= set(e) and e["claim"] in ids and e["decided_by"] in ("current", "earlier")
    dated = {e["claim"] for e in entries if e["date"] == "2026-12-07"}
    assert dated == ids  # every claim of this paper changed beyond the mechanical conversion today
    assert {e["commit"] for e in entries if e["date"] < "2026-12-07"} == {"a37a4c7", "d2a56ee"}


def test_100d_vs_wfr_can_fail_where_the_old_noise_floor_tolerance_could_not():
    """Realistic wrong numbers (IFT ending above WFR in every run by a quarter of the floor) pass the old
    'IFT − WFR <= one noise floor' but are decided 'differs' by the ordering over the runs."""
    floor = 0.0199
    wrong = [dict(ift_final=0.0290, wfr_final=0.0240), dict(ift_final=0.0300, wfr_final=0.0250),
             dict(ift_final=0.0285, wfr_final=0.0238)]
    assert all((m["ift_final"] - m["wfr_final"]) / floor <= 1 for m in wrong)
    entry = C.assess(C.get("ift100-vs-wfr"), wrong, [0, 1, 2], configuration=C.configuration("default", {}, {}))
    assert entry["status"] == "differs"
    right = [dict(ift_final=m["wfr_final"], wfr_final=m["ift_final"]) for m in wrong]
    entry = C.assess(C.get("ift100-vs-wfr"), right, [0, 1, 2], configuration=C.configuration("default", {}, {}))
    assert entry["status"] == "reproduced"


# ----------------------------------------------------------------------------- kinds and the paper's words
def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


@pytest.mark.skipif(not PAPER_TEXT.exists(), reason="shared/seeds (the paper's text) is not next to the checkout")
def test_quotes_are_verbatim_in_the_source():
    """Every paper claim's quote (and every reading's, which also names the source) occurs verbatim in the
    paper's text, whitespace-normalised, without ellipses."""
    for c in R.CLAIMS:
        assert c.source == R.SOURCE, c.id
        assert "…" not in c.quote and "..." not in c.quote, c.id
        text = _norm((SEEDS / c.source).read_text())
        assert _norm(c.quote) in text, f"{c.id}: not verbatim in {c.source}: {c.quote!r}"


def test_kinds():
    kinds = {c.id: c.kind for c in R.CLAIMS}
    assert {k for cid, k in kinds.items() if cid.startswith("iftmix-") or cid.startswith("ift100-")} == {"reading"}
    assert {kinds[c] for c in ("ift-stuck", "ift-noise", "ift-noise-late", "ift-fast", "ift-teleport")} == {"paper"}
    for c in R.CLAIMS:
        assert c.diagnosis.strip() and c.margin_label.strip() and c.stochastic, c.id


@pytest.mark.skipif(not PAPER_TEXT.exists(), reason="shared/seeds (the paper's text) is not next to the checkout")
def test_100d_claims_quote_no_2d_paragraph():
    """ift/03's claims quote Sec. 4's opening, never the 2-D paragraphs."""
    text = _norm(PAPER_TEXT.read_text())
    start = text.index("Gaussian target in 2D experiment Figures 3(a)")
    end = text.index("WFR flow for Gaussian mixture target in 100D")
    for c in C.for_notebook("ift/03_mixture_100d"):
        pos = text.index(_norm(c.quote))
        assert not start <= pos < end, f"{c.id} quotes the 2-D paragraphs"
        assert "Gaussian target in 2D" not in c.where


def test_100d_notebook_decides_ift_vs_wfr():
    ids = {c.id for c in C.for_notebook("ift/03_mixture_100d")}
    assert ids == {"ift100-vs-wfr", "ift100-vanilla"}
    c = C.get("ift100-vs-wfr")
    assert "100D" in c.where and "Fig. 6" in c.where and "WFR flow" in c.quote
    assert set(R.measured_for(c, dict(ift_final=1, wfr_final=1, floor=1))) == {"ift_final", "wfr_final"}


# ----------------------------------------------------------------------------- plans and the fixed reference
def test_plans_keep_the_default_build_and_share_per_page():
    from wgf_core.experiments import ift as X

    for page in ("ift/01_gaussian_2d", "ift/02_mixture_2d", "ift/03_mixture_100d"):
        assert len({c.plan for c in C.for_notebook(page)}) == 1
    sizes = X.PROFILES_2D["default"]
    assert R.PLAN_2D.default[0] == sizes["runs"] // sizes["runs_per_member"]  # the first look: the page's runs
    assert R.PLAN_2D.paper[0] == X.PROFILES_2D["paper"]["runs"] // X.PROFILES_2D["paper"]["runs_per_member"]
    assert R.PLAN_100D.default == (X.PROFILES_100D["default"]["runs"],)  # one look: a 100-D run is expensive
    assert R.PLAN_100D.paper == (X.PROFILES_100D["paper"]["runs"],)


def test_noise_floor_reference_is_stored_and_read_lazily():
    data = json.loads(R.REFERENCES_PATH.read_text())
    ref = data["ift100-vanilla"]["configurations"][R.floor_configuration(100, 0, 10.0)]
    floor, how = R.noise_floor_reference(100, dim=100, target_seed=0, sigma=10.0)
    assert floor == ref["floor"]["100"] and "stored reference" in how
    assert ref["floor"]["100"] == pytest.approx(2 * (ref["self"] - ref["kappa"]) / 100, rel=1e-12)
    assert ref["batches"] * ref["points"] >= 200 * 100  # many draws, a fixed seed
    floor_77, _ = R.noise_floor_reference(77, dim=100, target_seed=0, sigma=10.0)
    assert floor_77 == pytest.approx(2 * (ref["self"] - ref["kappa"]) / 77, rel=1e-12)


def test_noise_floor_reference_of_another_configuration_is_computed_by_the_same_code(monkeypatch):
    monkeypatch.setattr(R, "FLOOR_DRAWS", dict(R.FLOOR_DRAWS, points=200, batches=4))
    floor, how = R.noise_floor_reference(50, dim=4, target_seed=1, sigma=3.0)
    again, _ = R.noise_floor_reference(50, dim=4, target_seed=1, sigma=3.0)
    assert floor == again and 0 < floor < 2 / 50 and "computed at run time" in how


@pytest.mark.slow
def test_stored_noise_floor_reference_is_reproduced_by_its_code():
    ref = json.loads(R.REFERENCES_PATH.read_text())["ift100-vanilla"]["configurations"]
    key = R.floor_configuration(100, 0, 10.0)
    assert R.compute_floor_reference(100, 0, 10.0) == ref[key]


# ----------------------------------------------------------------------------- the members and the configuration
def test_member_means_average_each_number_and_take_the_largest_max():
    runs = [dict(mmd_stuck_count=c, mmd_final=f, ift_far_weight_max=w)
            for c, f, w in ((1, 1.0, 0.0), (0, 3.0, 2e-3), (2, 5.0, 1e-4), (0, float("nan"), 0.0))]
    m = R.member_means(runs, 2)
    assert len(m) == 2 and m[0] == {"mmd_stuck_count": 0.5, "mmd_final": 2.0, "ift_far_weight_max": 2e-3}
    assert m[1]["mmd_stuck_count"] == 1.0 and math.isnan(m[1]["mmd_final"]) and m[1]["ift_far_weight_max"] == 1e-4
    with pytest.raises(ValueError, match="members of 3"):
        R.member_means(runs, 3)


def test_measured_for_picks_the_criterion_arguments():
    run = dict(EXAMPLES["ift-stuck"][0], ift_early=1e-4, floor=1.0, n=100, mmd_far_count=4)
    assert R.measured_for(C.get("ift-stuck"), run) == EXAMPLES["ift-stuck"][0]
    with pytest.raises(KeyError, match="ift-fast"):
        R.measured_for(C.get("ift-fast"), {"ift_early": 1.0})


def test_registry_constants_agree_with_the_measurement_code():
    from wgf_core.flows import ift

    assert R.VANISHED == ift.VANISHED
    for conv in (R.CONVENTION_2D, R.CONVENTION_100D):
        ift.Convention(**conv)  # valid fields and values


def _code(nb: str) -> str:
    cells = json.loads((ROOT / "notebooks" / "ift" / f"{nb}.ipynb").read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _markdown(nb: str) -> str:
    cells = json.loads((ROOT / "notebooks" / "ift" / f"{nb}.ipynb").read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def test_2d_verdicts_at_the_registry_convention_not_the_sweep():
    """The 2-D verdicts' convention is the registry's; the sweep only records an extra, and the claims
    are decided from the main runs' measurements, never from the sweep's rows."""
    code = _code("01_particles_2d") + (ROOT / "wgf_core" / "experiments" / "ift.py").read_text()
    md = _markdown("01_particles_2d")
    for text in (md, code):
        assert "hold best" not in text and "chosen from the sweep" not in text
    assert "CONVENTION_2D" in code and "CONVENTION_2D_NOTES" in code
    decide = [line for line in code.splitlines() if "run_plan(" in line or "C.assess(" in line]
    assert decide and not any("sweep" in line for line in decide)


def test_pages_describe_the_interval_rule_and_the_streams():
    for nb in ("01_particles_2d", "03_mixture_100d", "conventions_2d"):
        text = _markdown(nb) + _code(nb)
        for gone in ("unstable", "passes if", "before the run", "before any run", "seed + r", "seed, seed + 1"):
            assert gone not in text, (nb, gone)
