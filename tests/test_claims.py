"""The claim registry, the interval rule, the seed plans and the registration lock (wgf_core.claims)."""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
from pathlib import Path

import pytest

from wgf_core import claims as C
from wgf_core.claims import lock as L
from wgf_core.claims.core import ONE_RUN, Claim, Outcome, SeedPlan
from wgf_core.validation import ParameterError

ROOT = Path(__file__).resolve().parents[1]
SEEDS_DIR = ROOT.parent / "shared" / "seeds"


def _below(value, limit=1.0):
    """margin = limit - value: positive below the limit."""
    return Outcome(margin=limit - value, value=value, text=f"{value:.3g} vs {limit}")


def _claim(**kw):
    base = dict(id="x-claim", notebook="x/01_nb", kind="check", statement="s", quote="q", where="Sec. 1",
                criterion_text="value < 1", tolerance_reason="closed form", criterion=_below,
                margin_label="1 - value")
    base.update(kw)
    return Claim(**base)


# ----------------------------------------------------------------------------- the interval rule
def test_outcome_margin_is_signed_and_not_a_bool():
    assert Outcome(margin=0.1, value=1.0).passed and not Outcome(margin=-0.1, value=1.0).passed
    assert not Outcome(margin=0.0, value=1.0).passed and not Outcome(margin=math.nan, value=1.0).passed
    with pytest.raises(TypeError):
        Outcome(True, 1.0)  # keyword-only: a positional pass flag cannot slip in as a margin
    with pytest.raises(TypeError, match="not a bool"):
        Outcome(margin=True, value=1.0)


@pytest.mark.parametrize("margins, expected", [
    ([0.5, 0.6, 0.55], "reproduced"),          # all above, tight
    ([-0.5, -0.6, -0.55], "differs"),          # all below, tight
    ([0.3, -0.2, 0.1], "inconclusive"),        # straddling
    ([0.01, 1.0, 0.02], "inconclusive"),       # all positive but too spread for 3 seeds
    ([0.2], "inconclusive"),                   # one seed: the interval is the whole line
    ([], "not-run"),
    ([math.nan, math.nan], "differs"),         # no seed produced a number
    ([math.nan, 0.5, 0.6, 0.55], "inconclusive"),  # a seed without a number: at best inconclusive
    ([math.nan, -0.5, -0.6, -0.55], "differs"),
])
def test_decide_on_synthetic_margins(margins, expected):
    assert C.decide(margins, looks=1) == expected


def test_interval_is_the_t_interval_with_the_looks_correction():
    from scipy import stats

    m = [0.3, 0.1, 0.25, 0.4, 0.05]
    for looks in (1, 3):
        iv = C.margin_interval(m, looks)
        half = stats.t.ppf(1 - 0.05 / (2 * looks), len(m) - 1) * statistics.stdev(m) / math.sqrt(len(m))
        assert iv["mean"] == pytest.approx(statistics.fmean(m))
        assert (iv["low"], iv["high"]) == pytest.approx((iv["mean"] - half, iv["mean"] + half))
        assert iv["confidence"] == pytest.approx(1 - 0.05 / looks)
    # more looks: a wider interval, so a margin decided at one look can be inconclusive at three
    tight = [0.10, 0.05, 0.075]
    assert C.decide(tight, looks=1) == "reproduced" and C.decide(tight, looks=3) == "inconclusive"


def test_decide_deterministic_tolerance():
    assert C.decide([0.02], stochastic=False, tolerance=0.01) == "reproduced"
    assert C.decide([-0.02], stochastic=False, tolerance=0.01) == "differs"
    assert C.decide([0.005], stochastic=False, tolerance=0.01) == "inconclusive"
    assert C.decide([-0.01], stochastic=False, tolerance=0.01) == "inconclusive"
    assert C.decide([1e-12], stochastic=False) == "reproduced"
    with pytest.raises(ValueError, match="one run"):
        C.decide([0.1, 0.2], stochastic=False)


def test_rule_coverage_on_simulated_margins():
    """A claim whose true mean margin is 0 is called reproduced or differs in at most ~5 % of builds."""
    import random

    rng = random.Random(3)
    calls = sum(C.decide([rng.gauss(0.0, 1.0) for _ in range(5)], looks=1) != "inconclusive" for _ in range(4000))
    assert calls / 4000 == pytest.approx(0.05, abs=0.015)


# ----------------------------------------------------------------------------- seed plans, run_plan
def test_seed_plan_looks_and_validation():
    p = SeedPlan(ci=(2,), default=(3, 10, 30), paper=(5,))
    assert p.looks("ci") == (2,) and p.looks("default") == (3, 10, 30)
    assert p.looks("default", first=12) == (12, 30) and p.looks("default", first=4) == (4, 10, 30)
    for bad in (dict(default=(3, 3)), dict(default=(10, 3)), dict(default=()), dict(ci=(1, 3))):
        with pytest.raises(ValueError):
            SeedPlan(**bad)
    with pytest.raises(ParameterError, match="profile"):
        p.looks("fast")


def _measure_from(values):
    calls = []

    def measure(members):
        calls.append(list(members))
        return [{"x-claim": dict(value=values[m])} for m in members]

    return measure, calls


def test_run_plan_extends_only_while_inconclusive_and_stops_at_the_cap():
    conf = C.configuration("default", {}, {})
    c = _claim(plan=SeedPlan(default=(3, 6, 9)))
    # decided at the first look: no further member is run
    measure, calls = _measure_from([0.1, 0.12, 0.11] + [5.0] * 6)
    (e,) = C.run_plan([c], measure, configuration=conf, base_seed=7)
    assert e["status"] == "reproduced" and calls == [[0, 1, 2]] and e["look"] == 1 and e["looks"] == 3
    assert e["base_seed"] == 7 and e["seeds"] == [0, 1, 2]
    # straddling at 3, decided at 6
    measure, calls = _measure_from([1.3, 0.9, 1.4, 1.45, 1.5, 1.45, 0.0, 0.0, 0.0])
    (e,) = C.run_plan([c], measure, configuration=conf)
    assert calls == [[0, 1, 2], [3, 4, 5]] and e["look"] == 2 and e["status"] == "differs"
    # inconclusive to the cap: every look taken, never more
    measure, calls = _measure_from([0.5, 1.5] * 5)
    (e,) = C.run_plan([c], measure, configuration=conf)
    assert calls == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and e["status"] == "inconclusive" and len(e["seeds"]) == 9
    # ci never extends
    measure, calls = _measure_from([0.5, 1.5] * 5)
    (e,) = C.run_plan([c], measure, configuration=C.configuration("ci", {}, {}))
    assert calls == [[0]] and e["status"] == "inconclusive"


def test_run_plan_keeps_a_decided_claim_at_its_look():
    conf = C.configuration("default", {}, {})
    a = _claim(id="x-a", plan=SeedPlan(default=(3, 6)))
    b = _claim(id="x-b", plan=SeedPlan(default=(3, 6)))
    vals = {"x-a": [0.1, 0.11, 0.12, 9.0, 9.0, 9.0], "x-b": [0.5, 1.5, 0.2, 0.1, 0.1, 0.1]}

    def measure(members):
        return [{k: dict(value=v[m]) for k, v in vals.items()} for m in members]

    ea, eb = C.run_plan([a, b], measure, configuration=conf)
    assert ea["look"] == 1 and ea["seeds"] == [0, 1, 2] and ea["status"] == "reproduced"
    assert eb["look"] == 2 and len(eb["seeds"]) == 6
    with pytest.raises(ValueError, match="share one seed plan"):
        C.run_plan([a, _claim(id="x-c", plan=SeedPlan(default=(3,)))], measure, configuration=conf)


def test_assess_records_margins_interval_and_spread():
    c = _claim()
    e = C.assess(c, [dict(value=0.5), dict(value=2.0), dict(value=0.1)], [0, 1, 2],
                 configuration=C.configuration("default", {"n": 5}, {"n": 50}), base_seed=1000)
    assert e["status"] == "inconclusive" and e["base_seed"] == 1000
    assert (e["n"], e["min"], e["median"], e["max"]) == (3, 0.1, 0.5, 2.0)
    assert [s["margin"] for s in e["per_seed"]] == pytest.approx([0.5, -1.0, 0.9])
    assert e["margin"]["mean"] == pytest.approx(0.4 / 3) and e["margin"]["low"] < 0 < e["margin"]["high"]
    assert e["configuration"]["deviations"] == ["n = 5 (paper 50)"]
    json.dumps(e)


def test_assess_needs_seeds_repeats_and_one_deterministic_run():
    conf = C.configuration("default", {}, {})
    with pytest.raises(ValueError, match="at least 3 seeds"):
        C.assess(_claim(), [dict(value=0.5)] * 2, [0, 1], configuration=conf)
    assert C.assess(_claim(), [dict(value=0.5)], [0], configuration=C.configuration("ci", {}, {}))["status"] \
        == "inconclusive"
    det = _claim(stochastic=False, tolerance=0.1)
    assert det.plan == ONE_RUN
    assert C.assess(det, [dict(value=3.0)], [0], configuration=conf)["status"] == "differs"
    assert C.assess(det, [dict(value=0.95)], [0], configuration=conf)["status"] == "inconclusive"
    with pytest.raises(ValueError, match="deterministic"):
        C.assess(det, [dict(value=3.0)] * 3, [0, 1, 2], configuration=conf)
    timing = _claim(timing=True, plan=SeedPlan(ci=(2,), default=(5,), paper=(5,)))
    with pytest.raises(ValueError, match="repeats"):
        C.assess(timing, [dict(value=0.5)] * 3, [0, 1, 2], configuration=conf)
    with pytest.raises(ValueError, match="repeated"):
        C.assess(_claim(), [dict(value=0.5)] * 3, [0, 0, 1], configuration=conf)


def test_claim_validation():
    with pytest.raises(ValueError, match="kind"):
        _claim(kind="claim")
    with pytest.raises(ValueError, match="quote is empty"):
        _claim(quote=" ")
    with pytest.raises(ValueError, match="margin_label is empty"):
        _claim(margin_label="")
    with pytest.raises(ValueError, match="source"):
        _claim(kind="paper")
    with pytest.raises(ValueError, match="first look"):
        _claim(plan=SeedPlan(default=(2, 10)))
    with pytest.raises(ValueError, match="timing"):
        _claim(timing=True, plan=SeedPlan(default=(3,)))
    with pytest.raises(ValueError, match="deterministic"):
        _claim(stochastic=False, plan=SeedPlan())
    with pytest.raises(TypeError, match="Outcome"):
        _claim(criterion=lambda value: value < 1).check({"value": 0.5})


def test_configuration_paper_and_notes():
    same = C.configuration("paper", {"steps": 6000, "sigma": 10.0}, {"steps": 6000, "sigma": 10})
    assert same["paper_config"] and same["deviations"] == []
    noted = C.configuration("paper", {"steps": 6000}, {"steps": 6000}, notes=["svrg estimator (not in the paper)"])
    assert not noted["paper_config"] and noted["notes"] == ["svrg estimator (not in the paper)"]


# ----------------------------------------------------------------------------- the registry
def test_registry_ids_unique_and_notebooks_exist():
    # a claim's notebook is a page of the book: a notebook, or a page of notebooks/pages.toml
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_book as bb

    pages = {p.key: p for p in bb.discover(ROOT / "notebooks")}
    for cid, c in C.registry().items():
        assert c.notebook in pages, f"claim {cid}: notebook {c.notebook} is no page of the book"
        nb = pages[c.notebook].source
        assert nb.exists(), f"claim {cid}: notebook {c.notebook} does not exist"
        driver = ROOT / "wgf_core" / "experiments" / f"{c.paper}.py"
        text = nb.read_text() + (driver.read_text() if driver.exists() else "")
        assert "assess(" in text or "run_plan(" in text, f"claim {cid}: nothing decides claims for {nb.name}"
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
    assert isinstance(out_good, Outcome) and out_good.margin > 0, out_good.text
    assert out_bad.margin < 0, out_bad.text
    assert out_good.text and out_bad.text and "\n" not in out_good.text and "\n" not in out_bad.text
    json.dumps([out_good.value, out_bad.value, out_good.text, out_bad.text])


def _normalised(text: str) -> str:
    """Whitespace collapsed, Markdown quote markers at line starts dropped (``abstracts.md`` quotes the
    abstracts), soft hyphens and ligatures of the PDF text undone."""
    text = re.sub(r"(?m)^\s*>\s?", "", text)
    text = text.replace("\u00ad", "").replace("ﬁ", "fi").replace("ﬂ", "fl").replace("ﬀ", "ff")
    return " ".join(text.split())


def test_normalised_quote_match_catches_an_edit():
    src = _normalised("> The IFT flow\n>  converges   faster.")
    assert _normalised("The IFT flow converges faster.") in src
    assert _normalised("The IFT flow converges fast, we show.") not in src


@pytest.mark.skipif(not SEEDS_DIR.is_dir(), reason="shared/seeds is not beside the checkout")
@pytest.mark.parametrize("cid", sorted(cid for cid, c in C.registry().items() if c.kind == "paper"))
def test_every_paper_quote_is_verbatim_in_its_source(cid):
    c = C.get(cid)
    path = SEEDS_DIR / c.source
    assert path.is_file(), f"claim {cid}: source {c.source!r} is not a file of shared/seeds"
    assert _normalised(c.quote) in _normalised(path.read_text()), \
        f"claim {cid}: its quote is not verbatim in {c.source}"


def test_kinds_and_diagnoses():
    reg = C.registry()
    assert {c.kind for c in reg.values()} <= set(C.KINDS)
    for cid, c in reg.items():
        if c.kind in ("paper", "reading"):
            assert c.diagnosis.strip(), f"claim {cid} ({c.kind}) has no diagnosis"


# ----------------------------------------------------------------------------- the lock
def test_committed_lock_verifies():
    assert L.verify() == [], "claims changed without an amendment: run 'wgf claims check'"


def test_verify_lists_a_claim_changed_in_memory():
    import dataclasses

    reg = C.registry()
    cid = sorted(reg)[0]
    changed = dict(reg)
    changed[cid] = dataclasses.replace(reg[cid], criterion_text=reg[cid].criterion_text + " (loosened)")
    assert L.verify(changed) == [cid]
    other = sorted(reg)[1]
    changed[other] = dataclasses.replace(reg[other], plan=SeedPlan(default=(3, 4), paper=(3, 4)))
    assert L.verify(changed) == sorted([cid, other])


def test_hash_covers_the_criterion_code_and_its_constants(tmp_path, monkeypatch):
    import dataclasses
    import types

    mod = types.ModuleType("wgf_core._lock_probe")
    mod.__dict__["__name__"] = "wgf_core._lock_probe"
    exec("from wgf_core.claims.core import Outcome\nTOL = 0.1\n"
         "def helper(v):\n    return TOL - v\n"
         "def crit(value):\n    '''doc'''\n    # a comment\n    return Outcome(margin=helper(value), value=value)\n",
         mod.__dict__)
    base = _claim(criterion=mod.crit)
    h0 = L.claim_hash(base)
    assert L.claim_hash(dataclasses.replace(base, diagnosis="what is known")) == h0  # not covered
    mod.TOL = 0.2
    h1 = L.claim_hash(base)
    assert h1 != h0  # a constant the criterion reads through a helper
    exec("def helper(v):\n    return TOL - 2 * v\n", mod.__dict__)
    assert L.claim_hash(base) != h1  # a helper's code


def test_amendment_moves_the_expected_hash(tmp_path):
    reg = C.registry()
    cid = sorted(reg)[0]
    lock = {cid: {"hash": "old", "registered": "2026-12-07", "commit": ""}}
    assert L.verify({cid: reg[cid]}, lock=lock, amendments=[]) == [cid]
    am = [{"claim": cid, "date": "2026-12-08", "hash": L.claim_hash(reg[cid]), "change": "c", "reason": "r",
           "results_seen": True}]
    assert L.verify({cid: reg[cid]}, lock=lock, amendments=am) == []
    # an amendment without a hash (history before the lock) does not move it
    assert L.verify({cid: reg[cid]}, lock=lock, amendments=[{**am[0], "hash": None}]) == [cid]


def test_amendment_files_are_well_formed():
    ams = L.load_amendments()
    reg = C.registry()
    for a in ams:
        assert a["claim"] == "*" or a["claim"] in reg, f"amendment of unknown claim {a['claim']!r}"
        assert a["change"].strip() and a["reason"].strip() and isinstance(a["results_seen"], bool)
        assert a.get("decided_by") in (None, "current", "earlier")
        if a.get("earlier") and a.get("decided_by") == "current":
            assert a.get("reason_independent_of_results"), \
                f"{a['claim']}: loosened, decided by the current criterion without a result-independent reason"


def test_wgf_claims_check_cli(capsys):
    from wgf_core.cli import main

    assert main(["claims", "check"]) == 0
    assert "none changed" in capsys.readouterr().out


# ----------------------------------------------------------------------------- seed streams
def test_seed_streams_disjoint_across_base_seeds_and_members():
    from wgf_core.random import stream_seed

    for purpose in ("ift/01_particles_2d/target", "riesz/02_diracs/scheme"):
        seeds = {stream_seed(b, purpose, m) for b in range(100) for m in range(30)}
        assert len(seeds) == 100 * 30
    assert stream_seed(0, "a", 1) != stream_seed(0, "b", 1)
    assert stream_seed(5, "a", 3) == stream_seed(5, "a", 3) < 2**63
    for bad in (-1, True, 1.5):
        with pytest.raises(ParameterError):
            stream_seed(bad, "a", 0)


def test_streams_draw_independently_of_their_neighbours():
    import torch

    from wgf_core.random import stream, streams

    batch = [torch.randn(4, generator=g) for g in streams(3, "p", [0, 1, 2])]
    alone = torch.randn(4, generator=stream(3, "p", 2))
    assert torch.equal(batch[2], alone) and not torch.equal(batch[0], batch[1])


#: Seeding conventions other than wgf_core.random's streams.
_OTHER_SEEDING = re.compile(r"manual_seed\(|default_rng\(|np\.random\.seed\(|RandomState\(|make_generator\(|"
                            r"seed_list\(|run_generators\(|\*\s*2\s*\*\*\s*20|\bseeds?(\[[^\]]*\])?\s*\+\s*\w")


def test_no_other_seeding_convention_left():
    offenders = []
    files = [p for d in ("wgf_core", "notebooks", "scripts", "benchmarks") for p in (ROOT / d).rglob("*")
             if p.suffix in (".py", ".ipynb")]
    for p in files:
        if p.name == "random.py" and p.parent.name == "wgf_core":
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if _OTHER_SEEDING.search(line) and "noqa: seed" not in line:
                offenders.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()[:100]}")
    assert not offenders, "seeds not drawn through wgf_core.random:\n" + "\n".join(offenders)


def test_stored_references_are_the_committed_files_read_once():
    for paper in C.PAPERS:
        path = L.REFERENCES_DIR / f"{paper}.json"
        want = json.loads(path.read_text()) if path.is_file() else {}
        assert L.stored_references(paper) == want
    assert L.stored_references("no-such-paper") == {}
    assert L.stored_references("riesz") is L.stored_references("riesz")   # one read per process
    # the references a claim's hash covers are its entry of that file
    cid = next(k for k in L.stored_references("riesz") if k in C.registry())
    assert L.claim_fields(C.get(cid))["references"] == L.stored_references("riesz")[cid]
