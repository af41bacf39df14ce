r"""Claims, their signed margins, and the interval rule over seeds.

A :class:`Claim` is registered *before* a run (and locked, :mod:`wgf_core.claims.lock`): the
paper's words and the file they stand in, the criterion one seed must meet with its tolerance and
the reason for it, the seed plan, and its kind:

* ``"paper"``: the quote states the result the criterion checks, and occurs verbatim in the
  source it names (``shared/seeds/<file>``; tested);
* ``"reading"``: the project's reading of a theorem, a figure or a script of the paper; ``quote``
  and ``where`` give its basis;
* ``"check"``: an acceptance check of this project (solver gaps, sanity, speed).

Its :attr:`Claim.criterion` is a pure function of the numbers one seed measured and returns an
:class:`Outcome` whose ``margin`` is signed, in the claim's own units (:attr:`Claim.margin_label`):
positive where the claim holds, zero at the threshold, negative where it fails.

The verdict is decided by one rule (``book/conventions.md``, *Claims and verdicts*), :func:`decide`:

* over ``n`` seeds, the two-sided Student-t interval of the mean margin at confidence
  :math:`1 - \alpha / L`, where :math:`\alpha = 0.05` (:data:`ALPHA`) is split evenly over the
  :math:`L` looks the seed plan allows at that profile (Bonferroni);
* **reproduced** if the interval lies above 0, **differs** if below, else **inconclusive**;
* a deterministic claim is decided on one run; a margin within its stated numerical tolerance
  (:attr:`Claim.tolerance`: rounding, a solver's gap) is inconclusive;
* a seed whose run produced no number (a non-finite margin) makes the claim at best
  inconclusive; if no seed produced one, it differs.

The seed plan (:class:`SeedPlan`) is part of the registration: the cumulative seed counts at which
the verdict may be looked at, per profile. :func:`run_plan` starts at the first look and adds
seeds, look by look, only while a claim is inconclusive; ``ci`` never extends.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..errors import ParameterError

#: Verdicts. ``not-run``: the notebook did not execute.
STATUSES = ("reproduced", "differs", "inconclusive", "not-run")
KINDS = ("paper", "reading", "check")
PROFILES = ("ci", "default", "paper")
#: Fewest seeds at the first look of a stochastic claim outside ``profile="ci"``.
MIN_SEEDS = 3
#: Fewest interleaved repeats of a timing claim outside ``profile="ci"``.
MIN_REPEATS = 5
#: Error rate of the interval rule over all looks of a plan (95 % confidence, split over the looks).
ALPHA = 0.05


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one seed gave for one claim.

    Attributes
    ----------
    margin : float
        Signed margin in the claim's units (:attr:`Claim.margin_label`): ``> 0`` the claim holds
        for this seed, ``0`` at the threshold, ``< 0`` it fails. ``nan`` when the run produced no
        number (e.g. it diverged).
    value : float
        The claim's headline statistic for this seed (:attr:`Claim.value_label`); ``nan`` when
        the run produced none.
    text : str
        One short line with the numbers the criterion compared, generated from the run.
    """

    margin: float
    value: float
    text: str = ""

    def __post_init__(self):
        if isinstance(self.margin, bool):
            raise TypeError("Outcome.margin is a signed number, not a bool")
        object.__setattr__(self, "margin", float(self.margin))
        object.__setattr__(self, "value", float(self.value))

    @property
    def passed(self) -> bool:
        """Whether this seed meets the criterion (``margin > 0``)."""
        return math.isfinite(self.margin) and self.margin > 0.0


@dataclass(frozen=True)
class SeedPlan:
    """The pre-registered looks of a claim: cumulative seed counts, per profile.

    ``default=(3, 10, 30)`` reads: decide on seeds 0-2; if inconclusive, add seeds 3-9 and decide
    again; if still inconclusive, add seeds 10-29 and decide a last time. The interval of every
    look uses the confidence :math:`1 - \\alpha / L` with ``L`` the number of looks at that
    profile. ``ci`` has one look (it never extends).
    """

    ci: tuple = (1,)
    default: tuple = (3, 10, 30)
    paper: tuple = (3, 10, 30)

    def __post_init__(self):
        for p in PROFILES:
            looks = tuple(int(n) for n in getattr(self, p))
            if not looks or any(n < 1 for n in looks) or list(looks) != sorted(set(looks)):
                raise ValueError(f"SeedPlan.{p} must be increasing seed counts >= 1, not {getattr(self, p)!r}")
            object.__setattr__(self, p, looks)
        if len(self.ci) != 1:
            raise ValueError(f"SeedPlan.ci has one look (ci never extends), not {self.ci!r}")

    def looks(self, profile: str, first: int | None = None) -> tuple:
        """The looks at ``profile``; ``first`` (a notebook's seed-count parameter) replaces the first
        look, and the later looks that are not above it are dropped."""
        if profile not in PROFILES:
            raise ParameterError(f"parameter 'profile' = {profile!r} is not allowed: one of {PROFILES}")
        looks = getattr(self, profile)
        if first is None:
            return looks
        first = int(first)
        return (first,) + tuple(n for n in looks[1:] if n > first)

    def text(self) -> str:
        return "; ".join(f"{p}: {' -> '.join(str(n) for n in getattr(self, p))}" for p in PROFILES)


#: One run at every profile (a deterministic claim).
ONE_RUN = SeedPlan(ci=(1,), default=(1,), paper=(1,))


@dataclass(frozen=True)
class Claim:
    """One claim of a paper (or one project reading or check), registered and locked.

    Attributes
    ----------
    id : str
        Stable identifier, ``<paper>-<what>`` (e.g. ``"ift-teleport"``).
    notebook : str
        The notebook that decides it, ``"<paper>/<name>"``.
    kind : {"paper", "reading", "check"}
        See the module docstring.
    statement : str
        What is claimed, in one sentence.
    quote : str
        ``paper``: the paper's words, verbatim in ``source`` (whitespace-normalised). ``reading``:
        the words or figure it reads. ``check``: what it checks against.
    where : str
        Where the words stand (section / figure / table / slide, and which document).
    criterion_text : str
        The rule one seed must meet, with its tolerance.
    tolerance_reason : str
        Why that tolerance: the paper's reported precision, a noise floor, a closed form.
    criterion : callable
        ``criterion(**measured) -> Outcome``; pure, tested with one passing and one failing input
        near its threshold.
    margin_label : str
        The margin's units and sign convention (e.g. ``"decades: 0.4 - |log10 SymKL - paper|"``).
    value_label : str
        What :attr:`Outcome.value` is (e.g. ``"log10 SymKL at t = 0.9"``).
    paper_value : str
        The paper's number or statement to show beside ours ("" if none).
    stochastic : bool
        Decided over seeds (True) or on one deterministic run (False).
    timing : bool
        The criterion compares times: decided over at least :data:`MIN_REPEATS` interleaved
        repeats, and left out of the same-seed determinism comparison.
    plan : SeedPlan
        The looks (cumulative seed counts) per profile. Default: :class:`SeedPlan` ``()`` for a
        stochastic claim, :data:`ONE_RUN` for a deterministic one.
    tolerance : float
        Deterministic claims: a margin with ``|margin| <= tolerance`` is inside the computation's
        numerical error and inconclusive.
    source : str
        ``paper`` claims: the file of ``shared/seeds`` that holds ``quote`` verbatim.
    diagnosis : str
        What is known when the claim differs or is inconclusive, with a pointer to the evidence.
        Not part of the registration (it may follow results); required for every ``paper`` claim.
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
    margin_label: str = ""
    value_label: str = ""
    paper_value: str = ""
    stochastic: bool = True
    timing: bool = False
    plan: SeedPlan | None = None
    tolerance: float = 0.0
    source: str = ""
    diagnosis: str = field(default="", compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind must be one of {KINDS}, not {self.kind!r}")
        for name in ("id", "notebook", "statement", "quote", "where", "criterion_text", "tolerance_reason",
                     "margin_label"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"claim {self.id!r}: {name} is empty")
        if "/" not in self.notebook:
            raise ValueError(f"claim {self.id!r}: notebook must be '<paper>/<name>', not {self.notebook!r}")
        if self.kind == "paper" and not self.source.strip():
            raise ValueError(f"claim {self.id!r}: a paper claim names the source file its quote stands in")
        if self.plan is None:
            object.__setattr__(self, "plan", SeedPlan() if (self.stochastic or self.timing) else ONE_RUN)
        if not (self.stochastic or self.timing) and any(len(getattr(self.plan, p)) != 1 or getattr(self.plan, p)[0] != 1
                                                        for p in PROFILES):
            raise ValueError(f"claim {self.id!r} is deterministic: its plan is one run at every profile")
        if self.stochastic and min(self.plan.default[0], self.plan.paper[0]) < MIN_SEEDS:
            raise ValueError(f"claim {self.id!r} depends on random draws: its first look needs at least "
                             f"{MIN_SEEDS} seeds at profile 'default' and 'paper'")
        if self.timing and min(self.plan.default[0], self.plan.paper[0]) < MIN_REPEATS:
            raise ValueError(f"claim {self.id!r} is a timing claim: at least {MIN_REPEATS} interleaved repeats")
        tol = float(self.tolerance)
        if not math.isfinite(tol) or tol < 0:
            raise ValueError(f"claim {self.id!r}: tolerance must be finite and >= 0, not {self.tolerance!r}")
        object.__setattr__(self, "tolerance", tol)

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


# ----------------------------------------------------------------------------- the interval rule
def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (scipy)."""
    from scipy.stats import t

    return float(t.ppf(p, df))


def margin_interval(margins: Sequence[float], looks: int = 1, alpha: float = ALPHA) -> dict:
    r"""Mean margin and its two-sided t interval at confidence :math:`1 - \alpha / L`.

    .. math::

        \bar m \pm t_{1 - \alpha / (2L),\, n - 1}\, s / \sqrt n ,

    with :math:`s` the sample standard deviation of the ``n`` finite margins and ``L = looks``.
    With one finite margin the interval is the whole line.

    Returns
    -------
    dict
        ``{"n", "mean", "low", "high", "confidence"}`` (``mean`` is ``None`` without a finite margin).
    """
    looks = int(looks)
    if looks < 1:
        raise ValueError(f"looks must be >= 1, not {looks!r}")
    conf = 1.0 - float(alpha) / looks
    m = [float(x) for x in margins if x is not None and math.isfinite(float(x))]
    if not m:
        return {"n": 0, "mean": None, "low": None, "high": None, "confidence": conf}
    mean = statistics.fmean(m)
    if len(m) < 2:
        return {"n": 1, "mean": mean, "low": -math.inf, "high": math.inf, "confidence": conf}
    half = t_quantile(1.0 - float(alpha) / (2 * looks), len(m) - 1) * statistics.stdev(m) / math.sqrt(len(m))
    return {"n": len(m), "mean": mean, "low": mean - half, "high": mean + half, "confidence": conf}


def decide(margins: Sequence[float], *, stochastic: bool = True, looks: int = 1, tolerance: float = 0.0) -> str:
    """The verdict from the margins of one claim (the module docstring states the rule).

    Parameters
    ----------
    margins : sequence of float
        One signed margin per seed (per repeat for a timing claim); non-finite: no number.
    stochastic : bool
        Decided by the interval over seeds (True) or on one deterministic run (False).
    looks : int
        Looks of the seed plan at this profile (the interval's confidence is split over them).
    tolerance : float
        Deterministic claims: ``|margin| <= tolerance`` is inconclusive.

    Returns
    -------
    str
        ``"reproduced"``, ``"differs"``, ``"inconclusive"`` or ``"not-run"`` (no margin).
    """
    margins = [float(m) for m in margins]
    if not margins:
        return "not-run"
    finite = [m for m in margins if math.isfinite(m)]
    if not finite:
        return "differs"
    if not stochastic:
        if len(margins) != 1:
            raise ValueError(f"a deterministic claim is decided on one run, not {len(margins)}")
        m = finite[0]
        return "inconclusive" if abs(m) <= tolerance else ("reproduced" if m > 0 else "differs")
    iv = margin_interval(finite, looks)
    if iv["high"] < 0:
        return "differs"
    if iv["low"] > 0 and len(finite) == len(margins):
        return "reproduced"
    return "inconclusive"


def spread(values: Sequence[float]) -> dict:
    """``{"n", "min", "median", "max"}`` over the finite values (``None`` where there are none)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return {"n": len(values), "min": None, "median": None, "max": None}
    return {"n": len(values), "min": min(finite), "median": statistics.median(finite), "max": max(finite)}


def _num(x):
    return float(x) if x is not None and math.isfinite(float(x)) else None


def assess(claim: Claim, measured: Sequence[Mapping[str, Any]], seeds: Sequence[int], *,
           configuration: Mapping[str, Any], looks: int | None = None, look: int | None = None,
           base_seed: int | None = None, reason: str = "") -> dict:
    """Decide ``claim`` over the ensemble members ``seeds``; the record entry the report renders.

    Parameters
    ----------
    claim : Claim
    measured : sequence of mapping
        One mapping of keyword arguments of ``claim.criterion`` per member.
    seeds : sequence of int
        The ensemble members (indices into the base seed's streams, :func:`wgf_core.random.stream`),
        one per entry of ``measured``.
    configuration : mapping
        From :func:`configuration`; its ``profile`` selects the seed plan.
    looks : int, optional
        Looks of the plan in force (default: the claim's plan at the profile).
    look : int, optional
        Which look this is (1-based; default: the look whose seed count is ``len(seeds)``, else the last).
    base_seed : int, optional
        The notebook's base seed (recorded).
    reason : str
        Optional generated explanation shown beside the verdict.

    Returns
    -------
    dict
        The claim's registered text, the configuration, per-seed outcomes (margin, value, text),
        the mean margin and its interval, the spread of the values and the verdict (``status``).
    """
    measured = list(measured)
    seeds = [int(s) for s in seeds]
    if len(measured) != len(seeds):
        raise ValueError(f"claim {claim.id!r}: {len(measured)} measurements for {len(seeds)} seeds")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"claim {claim.id!r}: repeated seeds {seeds}")
    profile = configuration.get("profile", "default")
    planned = claim.plan.looks(profile) if profile in PROFILES else (len(seeds),)
    if claim.stochastic and profile in ("default", "paper") and len(seeds) < MIN_SEEDS:
        raise ValueError(f"claim {claim.id!r} depends on random draws: it needs at least {MIN_SEEDS} seeds "
                         f"at profile={profile!r}, got {len(seeds)}")
    if claim.timing and profile in ("default", "paper") and len(seeds) < MIN_REPEATS:
        raise ValueError(f"claim {claim.id!r} is a timing claim: it needs at least {MIN_REPEATS} repeats "
                         f"at profile={profile!r}, got {len(seeds)}")
    if not (claim.stochastic or claim.timing) and len(seeds) != 1:
        raise ValueError(f"claim {claim.id!r} is deterministic: decide it on one run, not {len(seeds)}")
    looks = len(planned) if looks is None else int(looks)
    outcomes = [claim.check(m) for m in measured]
    margins = [o.margin for o in outcomes]
    by_interval = claim.stochastic or claim.timing
    status = decide(margins, stochastic=by_interval, looks=looks, tolerance=claim.tolerance)
    iv = margin_interval(margins, looks) if by_interval else {
        "n": 1, "mean": _num(margins[0]), "confidence": None,
        "low": _num(margins[0] - claim.tolerance) if math.isfinite(margins[0]) else None,
        "high": _num(margins[0] + claim.tolerance) if math.isfinite(margins[0]) else None}
    return {
        "id": claim.id, "kind": claim.kind, "statement": claim.statement, "quote": claim.quote,
        "where": claim.where, "source": claim.source, "criterion": claim.criterion_text,
        "tolerance_reason": claim.tolerance_reason, "margin_label": claim.margin_label,
        "value_label": claim.value_label, "paper_value": claim.paper_value,
        "stochastic": claim.stochastic, "timing": claim.timing, "tolerance": claim.tolerance,
        "plan": claim.plan.text(), "looks": looks,
        "look": int(look) if look is not None else (planned.index(len(seeds)) + 1 if len(seeds) in planned else looks),
        "configuration": dict(configuration), "base_seed": base_seed, "seeds": seeds,
        "per_seed": [{"seed": s, "passed": o.passed, "margin": _num(o.margin), "value": _num(o.value),
                      "text": o.text} for s, o in zip(seeds, outcomes)],
        "margin": {"mean": _num(iv["mean"]) if iv["mean"] is not None else None,
                   "low": iv["low"] if iv["low"] is None or math.isfinite(iv["low"]) else None,
                   "high": iv["high"] if iv["high"] is None or math.isfinite(iv["high"]) else None,
                   "confidence": iv["confidence"]},
        **spread([o.value for o in outcomes]),
        "status": status, "reason": reason, "diagnosis": claim.diagnosis,
    }


def run_plan(claims: Sequence[Claim], measure: Callable[[list], Sequence[Mapping[str, Mapping[str, Any]]]], *,
             configuration: Mapping[str, Any], first: int | None = None, base_seed: int | None = None,
             reasons: Mapping[str, str] | None = None) -> list:
    """Decide ``claims`` (one shared seed plan) look by look, adding members only while needed.

    Parameters
    ----------
    claims : sequence of Claim
        Claims decided on the same ensemble; they must share one :class:`SeedPlan`.
    measure : callable
        ``measure(members) -> [ {claim id: criterion kwargs} for each member ]``: runs the
        experiment for the new ensemble members (``list`` of int, never repeated) and returns
        their measurements.
    configuration : mapping
        From :func:`configuration` (its ``profile`` selects the looks).
    first : int, optional
        The notebook's seed-count parameter: replaces the plan's first look.
    base_seed : int, optional
        Recorded with each entry.
    reasons : mapping, optional
        Claim id -> generated explanation.

    Returns
    -------
    list of dict
        One :func:`assess` entry per claim, decided at the first look where it is not
        inconclusive, or at the last look. Members measured after a claim was decided are not
        used for it.
    """
    claims = list(claims)
    if not claims:
        return []
    plans = {c.plan for c in claims}
    if len(plans) != 1:
        raise ValueError(f"claims {[c.id for c in claims]} do not share one seed plan")
    looks = claims[0].plan.looks(configuration.get("profile", "default"), first)
    measured: list = []
    decided: dict = {}
    for k, n in enumerate(looks, start=1):
        new = list(range(len(measured), n))
        if new:
            got = list(measure(new))
            if len(got) != len(new):
                raise ValueError(f"measure returned {len(got)} results for {len(new)} members")
            measured.extend(got)
        for c in claims:
            if c.id in decided:
                continue
            e = assess(c, [m[c.id] for m in measured], list(range(len(measured))), configuration=configuration,
                       looks=len(looks), look=k, base_seed=base_seed, reason=(reasons or {}).get(c.id, ""))
            if e["status"] != "inconclusive" or k == len(looks):
                decided[c.id] = e
        if len(decided) == len(claims):
            break
    return [decided[c.id] for c in claims]
