"""Claims, their criteria, and verdicts over seeds.

A :class:`Claim` is written down *before* a run: the paper's words and where they stand, the
criterion one seed must meet (with its tolerance and the reason for that tolerance), and whether
it is a statement of the paper (``kind="paper"``) or an acceptance check of this project
(``kind="check"``: speed against another implementation, solver gaps, sanity). Its
:attr:`Claim.criterion` is a pure function of the numbers one seed measured; it returns an
:class:`Outcome`.

A notebook runs the experiment for each seed of an ensemble, measures, and calls
:func:`assess`, which applies the criterion to every seed and decides the verdict by the one rule
of this project (``book/conventions.md``, *Verdicts*):

* **pass**: every seed meets the criterion;
* **differs**: no seed meets it;
* **unstable**: the seeds disagree. Never decided by a majority.

A claim whose outcome depends on random draws (``stochastic=True``) needs at least
:data:`MIN_SEEDS` seeds at ``profile`` ``"default"`` and ``"paper"``. A claim about a computation
without random draws (a closed form, a deterministic solver) is decided on one run.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..errors import ParameterError

#: Verdicts. ``not-run``: the notebook did not execute.
STATUSES = ("pass", "differs", "unstable", "not-run")
KINDS = ("paper", "check")
#: Fewest seeds for a stochastic claim outside ``profile="ci"``.
MIN_SEEDS = 3


@dataclass(frozen=True)
class Outcome:
    """What one seed gave for one claim.

    Attributes
    ----------
    passed : bool
        Whether this seed meets the claim's criterion.
    value : float
        The claim's headline statistic for this seed (reported as min / median / max over
        seeds); ``nan`` when the run produced none (e.g. it diverged).
    text : str
        One short line with the numbers the criterion compared, generated from the run.
    """

    passed: bool
    value: float
    text: str = ""

    def __post_init__(self):
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True)
class Claim:
    """One claim of a paper (or one project check), fixed before any run.

    Attributes
    ----------
    id : str
        Stable identifier, ``<paper>-<what>`` (e.g. ``"ift-teleport"``).
    notebook : str
        The notebook that decides it, ``"<paper>/<name>"``.
    kind : {"paper", "check"}
        ``"paper"``: a statement of the paper. ``"check"``: an acceptance check of this project.
    statement : str
        What is claimed, in one sentence.
    quote : str
        The paper's words (a short quote); for a project check, what it checks against.
    where : str
        Where the words stand (section / figure / table / slide, and which document).
    criterion_text : str
        The rule one seed must meet, with its tolerance.
    tolerance_reason : str
        Why that tolerance: the paper's reported precision, a noise floor, a closed form.
    criterion : callable
        ``criterion(**measured) -> Outcome``; pure, tested with one passing and one failing input.
    value_label : str
        What :attr:`Outcome.value` is (e.g. ``"log10 SymKL at t = 0.9"``).
    paper_value : str
        The paper's number or statement to show beside ours ("" if none).
    stochastic : bool
        Decided over seeds (True) or on one deterministic run (False).
    timing : bool
        The criterion compares wall-clock times: its values vary from run to run and are left
        out of the same-seed determinism comparison.
    """

    id: str
    notebook: str
    kind: str
    statement: str
    quote: str
    where: str
    criterion_text: str
    tolerance_reason: str
    criterion: Callable[..., Outcome] = field(repr=False, compare=False)
    value_label: str = ""
    paper_value: str = ""
    stochastic: bool = True
    timing: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind must be one of {KINDS}, not {self.kind!r}")
        for name in ("id", "notebook", "statement", "quote", "where", "criterion_text", "tolerance_reason"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"claim {self.id!r}: {name} is empty")
        if "/" not in self.notebook:
            raise ValueError(f"claim {self.id!r}: notebook must be '<paper>/<name>', not {self.notebook!r}")

    @property
    def paper(self) -> str:
        return self.notebook.split("/", 1)[0]

    def check(self, measured: Mapping[str, Any]) -> Outcome:
        """Apply the criterion to one seed's measurements."""
        out = self.criterion(**measured)
        if not isinstance(out, Outcome):
            raise TypeError(f"claim {self.id!r}: criterion returned {type(out).__name__}, not Outcome")
        return out


def configuration(profile: str, used: Mapping[str, Any], paper: Mapping[str, Any],
                  notes: Sequence[str] = ()) -> dict:
    """The configuration a claim ran at: the paper's, or exactly what changed.

    Parameters
    ----------
    profile : str
        The notebook's profile.
    used, paper : mapping
        The values used and the paper's values of the same settings. Every key of ``paper``
        whose value in ``used`` differs is listed as a deviation (``"steps = 1600 (paper 6000)"``).
    notes : sequence of str
        Changes that are not a number: a different scheme, estimator, horizon shown as an extra.

    Returns
    -------
    dict
        ``{"profile", "paper_config": bool, "deviations": [...], "notes": [...]}``.
    """
    deviations = []
    for key, pv in paper.items():
        if key not in used:
            continue
        uv = used[key]
        if not _same(uv, pv):
            deviations.append(f"{key} = {_fmt(uv)} (paper {_fmt(pv)})")
    notes = [str(n) for n in notes if str(n).strip()]
    return {"profile": profile, "paper_config": not deviations and not notes,
            "deviations": deviations, "notes": notes}


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return a == b


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def seed_list(seed: int, n: int) -> list[int]:
    """The ensemble of ``n`` seeds that starts at the notebook's ``seed``: ``seed, seed+1, ...``.

    A build with another base seed (``scripts/build_book.py --seed``) shifts every ensemble.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ParameterError(f"parameter 'n' = {n!r} is not allowed: the number of seeds, an integer >= 1")
    return [int(seed) + k for k in range(int(n))]


def verdict(passed: Sequence[bool]) -> str:
    """The project's rule: ``pass`` if every seed passes, ``differs`` if none, else ``unstable``."""
    passed = [bool(p) for p in passed]
    if not passed:
        return "not-run"
    if all(passed):
        return "pass"
    if not any(passed):
        return "differs"
    return "unstable"


def verdict_probabilities(p: float, n: int) -> dict:
    """Probability of each verdict when every one of ``n`` seeds passes independently with ``p``.

    .. math::

        P(\\text{pass}) = p^n,\\quad P(\\text{differs}) = (1-p)^n,\\quad
        P(\\text{unstable}) = 1 - p^n - (1-p)^n .

    Parameters
    ----------
    p : float
        Per-seed probability of meeting the criterion, in [0, 1].
    n : int
        Seeds per build (>= 1).

    Returns
    -------
    dict
        ``{"pass", "differs", "unstable"}`` -> probability (they sum to 1).
    """
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], not {p!r}")
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1, not {n!r}")
    n = int(n)
    pp, pd = p**n, (1.0 - p) ** n
    return {"pass": pp, "differs": pd, "unstable": max(0.0, 1.0 - pp - pd)}


def agreement_probability(p: float, n: int) -> float:
    """Probability that two independent builds of ``n`` seeds each give the same verdict.

    With the project's rule (:func:`verdict`) and a per-seed pass probability ``p``, the verdict
    of one build is a random variable with the law of :func:`verdict_probabilities`; two builds
    agree with probability :math:`\\sum_v P(v)^2`. It is 1 only at ``p`` = 0 or 1: a claim whose
    seeds land on both sides of its criterion cannot give the same verdict on every build, and
    this is how often it does (``scripts/compare_verdicts.py`` prints it per claim, with ``p``
    estimated from the pooled seeds of both builds).
    """
    return float(sum(v * v for v in verdict_probabilities(p, n).values()))


def spread(values: Sequence[float]) -> dict:
    """``{"n", "min", "median", "max"}`` over the finite values (``None`` where there are none)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return {"n": len(values), "min": None, "median": None, "max": None}
    return {"n": len(values), "min": min(finite), "median": statistics.median(finite), "max": max(finite)}


def assess(claim: Claim, measured: Sequence[Mapping[str, Any]], seeds: Sequence[int], *,
           configuration: Mapping[str, Any], reason: str = "") -> dict:
    """Decide ``claim`` over an ensemble of seeds; the record entry the report renders.

    Parameters
    ----------
    claim : Claim
    measured : sequence of mapping
        One mapping of keyword arguments of ``claim.criterion`` per seed.
    seeds : sequence of int
        The seeds, one per entry of ``measured``.
    configuration : mapping
        From :func:`configuration`; its ``profile`` decides whether :data:`MIN_SEEDS` applies.
    reason : str
        Optional generated explanation shown beside the verdict (why it differs, what it shows).

    Returns
    -------
    dict
        The claim's fixed text, the configuration, per-seed outcomes, the spread of the values
        and the verdict (``status``).
    """
    measured = list(measured)
    seeds = [int(s) for s in seeds]
    if len(measured) != len(seeds):
        raise ValueError(f"claim {claim.id!r}: {len(measured)} measurements for {len(seeds)} seeds")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"claim {claim.id!r}: repeated seeds {seeds}")
    profile = configuration.get("profile")
    if claim.stochastic and profile in ("default", "paper") and len(seeds) < MIN_SEEDS:
        raise ValueError(f"claim {claim.id!r} depends on random draws: it needs at least {MIN_SEEDS} seeds "
                         f"at profile={profile!r}, got {len(seeds)}")
    if not claim.stochastic and len(seeds) != 1:
        raise ValueError(f"claim {claim.id!r} is deterministic: decide it on one run, not {len(seeds)}")
    outcomes = [claim.check(m) for m in measured]
    status = verdict([o.passed for o in outcomes])
    return {
        "id": claim.id, "kind": claim.kind, "statement": claim.statement, "quote": claim.quote,
        "where": claim.where, "criterion": claim.criterion_text, "tolerance_reason": claim.tolerance_reason,
        "value_label": claim.value_label, "paper_value": claim.paper_value,
        "stochastic": claim.stochastic, "timing": claim.timing,
        "configuration": dict(configuration), "seeds": seeds,
        "per_seed": [{"seed": s, "passed": o.passed, "value": o.value, "text": o.text}
                     for s, o in zip(seeds, outcomes)],
        **spread([o.value for o in outcomes]),
        "status": status, "reason": reason,
    }
