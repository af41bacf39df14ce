"""The claims of the variational paper (wgf_core.claims.variational): one passing and one failing
input per criterion, the paper's words found in the seeds, and the weak points of issue 14."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from wgf_core import claims as C
from wgf_core.claims import variational as V

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"

_T, _F = True, False
_FB_MODES = [0] * 60 + [4] * 20 + [3, 2] + [1] * 10            # 92 steps: four from k = 61, one from k = 83
_SLOW_MODES = [0] * 64 + [4] * 300 + [3] * 80 + [1] * 156        # the old 600-step FB run: one pulse from k = 445
_NULL = [0.002 + 0.0005 * i for i in range(V.NULL_DRAWS)]        # largest 0.011

EXAMPLES = {
    **{f"ou-symkl-d{d}": (dict(log10_symkl=V.OU_PAPER_T09[d] + 0.2, paper=V.OU_PAPER_T09[d], law_sd=0.2),
                          dict(log10_symkl=V.OU_PAPER_T09[d] - 0.5, paper=V.OU_PAPER_T09[d], law_sd=0.2))
       for d in V.OU_DIMS},
    **{f"ou-floor-d{d}": (dict(symkl_to_jko=1e-4, symkl_jko_to_exact=5e-3),
                          dict(symkl_to_jko=8e-3, symkl_jko_to_exact=5e-3)) for d in V.OU_DIMS},
    "ou-time-vs-d": (dict(seconds_per_step=[1.0, 1.05, 0.97, 1.02, 1.08], dims=[2, 6, 12, 16, 32]),
                     dict(seconds_per_step=[1.0, 1.1, 1.2, 1.3, 1.6], dims=[2, 6, 12, 16, 32])),
    "pme-1d-time-discretisation-dominates": (dict(l1_ours_ref=0.008, l1_ours_exact=0.02, l1_ref_exact=0.021),
                                             dict(l1_ours_ref=0.025, l1_ours_exact=0.03, l1_ref_exact=0.021)),
    "pme-hd-spreading": (dict(growth=[0.98, 0.84], dims=[3, 6]), dict(growth=[0.98, 0.42], dims=[3, 6])),
    "agg-fb-four-then-one": (dict(modes=_FB_MODES, horizon=92), dict(modes=[0] * 60 + [4] * 32, horizon=92)),
    "agg-fb-timeline": (dict(modes=[0] * 20 + [4] * 60 + [1] * 12), dict(modes=_FB_MODES)),
    "agg-fb-vs-pde": (dict(k_one_fb=870, k_one_reference=290), dict(k_one_fb=83, k_one_reference=290)),
    "agg-nonfb-four-pulses": (dict(modes=[0] * 17 + [4] * 25), dict(modes=[0] * 30 + [1] * 12)),
    **{f"kl-sampling-{n}": (dict(energy_distance=0.009, null=_NULL), dict(energy_distance=0.012, null=_NULL))
       for n in ("moons", "gmm8", "gmm13")},
}


def test_registry_fields():
    for c in V.CLAIMS:
        assert c.paper == "variational"
        assert c.id.split("-", 1)[0] in ("ou", "pme", "agg", "kl"), c.id
        assert c.stochastic, f"{c.id}: every variational claim depends on random draws"
    assert [c.id for c in V.CLAIMS if c.timing] == ["ou-time-vs-d"]
    assert {c.id for c in V.CLAIMS if c.kind == "check"} == {f"ou-floor-d{d}" for d in V.OU_DIMS}


@pytest.mark.skipif(not SEEDS.exists(), reason="shared/seeds not present")
def test_quotes_are_the_papers_words():
    norm = lambda s: re.sub(r"\s+", " ", s)
    text = norm((SEEDS / "003_2e3848fc2017fb59.txt").read_text()) + norm((SEEDS / "004_9fb0e81676ecb2b2.txt").read_text())
    for c in V.CLAIMS:
        if c.kind == "paper":
            for piece in c.quote.split(" … "):
                assert norm(piece) in text, f"{c.id}: {piece!r} is not in the paper's text"


# ----------------------------------------------------------------------------- issue 14 weak points
def test_ou_paper_comparison_is_two_sided():
    # the old rule "within 0.3 of, or below, the paper" passed d = 2 at 12x (1.08 decades) below the paper
    paper = V.OU_PAPER_T09[2]
    old_rule = lambda ours: ours <= paper + 0.3
    far_below = paper - math.log10(12)
    assert old_rule(far_below)
    assert not V.ou_symkl_vs_paper(far_below, paper, law_sd=0.46).passed
    assert V.ou_symkl_vs_paper(paper - 0.5, paper, law_sd=0.46).passed
    assert not V.ou_symkl_vs_paper(paper + 1.0, paper, law_sd=0.46).passed


def test_ou_floor_is_a_separate_check_of_the_same_draw():
    # at the floor of its own draw (far below the paper) the check passes while the paper claim differs
    assert V.ou_at_jko_floor(symkl_to_jko=2e-5, symkl_jko_to_exact=4.5e-5).passed
    assert not V.ou_symkl_vs_paper(-4.35, V.OU_PAPER_T09[2], law_sd=0.2).passed


def test_time_tolerance_is_the_papers_ten_percent():
    # the old rule max/min < 3 passed a 2.5x spread; the paper says 20 s ± 2 s
    times = [1.0, 1.6, 2.0, 2.2, 2.5]
    assert max(times) < 3 * min(times)
    out = V.ou_time_flat(times, [2, 6, 12, 16, 32])
    assert not out.passed and out.value > V.TIME_REL_TOL
    assert V.ou_time_flat([20.0, 21.9, 18.3, 20.0, 19.8], [2, 6, 12, 16, 32]).passed
    assert C.get("ou-time-vs-d").timing


def test_sampling_uses_the_noise_floor_not_a_quarter_of_the_start():
    # the old rule passed at 20 % of the initial energy distance, far above the two-sample floor
    ed0 = 0.93
    ed = 0.2 * ed0
    assert ed < 0.25 * ed0
    assert not V.kl_sample_match(ed, _NULL).passed
    assert not V.kl_sample_match(0.001, _NULL[:5]).passed  # too few null draws for the level-1/20 test


def test_aggregation_is_decided_at_the_papers_horizon():
    # the old run merged at k = 445 of 600 steps and passed; at the paper's 92 steps it does not
    assert not V.agg_four_then_one(_SLOW_MODES, horizon=92).passed
    assert V.agg_four_then_one(_SLOW_MODES, horizon=600).passed  # what the old, widened horizon decided
    assert not V.agg_fb_slower_than_pde(None, 290).passed


def test_aggregation_seeds_are_not_decided_by_majority():
    # the old notebook passed agg-fb-four-then-one when 2 of 3 seeds did; the rule says unstable
    claim = C.get("agg-fb-four-then-one")
    measured = [dict(modes=_FB_MODES, horizon=92), dict(modes=_FB_MODES, horizon=92),
                dict(modes=[0] * 60 + [4] * 32, horizon=92)]
    e = C.assess(claim, measured, [0, 1, 2], configuration=C.configuration("default", {}, {}))
    assert e["status"] == "unstable"


def test_nan_and_missing_steps_fail():
    assert not V.ou_symkl_vs_paper(float("nan"), -2.0, 0.2).passed
    assert not V.ou_at_jko_floor(float("nan"), 1e-3).passed
    assert not V.agg_four_then_one([4, 1], horizon=92).passed
    assert not V.agg_fb_timeline([4] * 10 + [1] * 10).passed
    assert not V.pme_spreading([float("nan")], [3]).passed
    assert not V.ou_time_flat([1.0], [2]).passed
