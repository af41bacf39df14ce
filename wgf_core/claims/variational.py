r"""Claims of Fan, Zhang, Taghvaei, Chen, "Variational Wasserstein gradient flow", ICML 2022
(arXiv:2112.02424), decided by ``notebooks/variational/*``.

The paper's words are quoted from its full text (``shared/seeds/003_2e3848fc2017fb59.txt``, the
ICLR 2022 submission of the same paper) or its slides (``shared/seeds/004_9fb0e81676ecb2b2.txt``);
lines broken in the text are joined by a space. The paper's settings (:data:`PAPER_SETTINGS`) are
those its text states (Sec. 4, App. C). Every criterion is a pure function of the numbers ONE
ensemble member measured (member ``r`` draws from the streams ``wgf_core.random.stream(seed,
purpose, r)`` of the notebook's base seed) and returns a signed margin; the verdict over the members
is the interval rule of :mod:`wgf_core.claims.core`. The amendments of these criteria are listed in
``wgf_core/claims/amendments/variational.json``.

Criteria and margins:

* **Ornstein-Uhlenbeck, the paper's SymKL** (a reading of Fig. 3(b)): per member (one draw of the
  problem :math:`(A, b)`), margin :math:`0.3 - |\log_{10}\mathrm{SymKL}(t = 0.9) - \text{paper}|`
  decades (:data:`OU_PAPER_BAND`). The paper's value is a mean over 15 draws; the draw-to-draw
  spread of one member enters through the interval over the members.
* **Ornstein-Uhlenbeck, our exact-JKO floor** (project check): margin
  :math:`\log_{10}\big(\mathrm{SymKL}(\text{JKO}, P_t) / \mathrm{SymKL}(\text{ours}, \text{JKO})\big)`
  decades, ours being the exact law of our affine iterate.
* **Training time versus d** (timing): per interleaved repeat (the training of one JKO step at
  every d, in a rotated order), margin :math:`0.1 - \max_d |t_d / \bar t - 1|` (the paper's
  "20 s ± 2 s"); the interval is over the repeats.
* **Porous medium, 1-D**: margin :math:`\log_{10}\big(\min(L_1(\text{ours}, \text{exact}),
  L_1(\text{JKO}, \text{exact})) / L_1(\text{ours}, \text{JKO})\big)` decades at the last step.
* **Porous medium, 3-D / 6-D** (midpoint rule): margin :math:`0.5 - \max_n |g_n - 1|`, :math:`g_n`
  the growth of :math:`E|X|^2` over the exact growth.
* **Aggregation-diffusion**: margins in JKO steps to the paper's steps: an event required by step
  ``K`` at step ``k`` has margin :math:`K + 1/2 - k`; an event that did not occur by the horizon
  counts as occurring at the next step (margin :math:`-1/2`, an upper bound: the run stops there).
  ``agg-fb-vs-pde`` is deterministic: the paper's FB merge step (k = 92, Fig. 5) over the step at
  which the exact PDE merges, in the paper's "3×" to one digit, in decades.
* **Sampling**: margin :math:`\log_{10}(q_{95} / \mathrm{ED})` decades, ED the energy distance of
  ``n`` samples of ours to ``n`` fresh target samples and :math:`q_{95}` the fixed 95 % quantile of
  the same statistic between two independent ``n``-samples of the target
  (``wgf_core/claims/references/variational.json``, from
  :func:`wgf_core.experiments.variational.kl_null_reference`).

Seed plans and their cost at ``default`` on the 2-core build machine (one member, measured while three
other jobs shared the machine; the worst case is every look taken):

* :data:`OU_PLAN` ``default (3,)``: one look, about 125 s per member (5 dimensions); worst case +0 s.
* :data:`OU_TIME_PLAN` ``(5,)`` repeats at every profile: one look, about 4 s in all; worst case +0 s.
* :data:`PME_PLAN` ``default (3, 6, 10)``: about 8 s per member (the 1-D and n-D flows); worst case +56 s.
* :data:`AGG_PLAN` ``default (3,)``: one look, about 18 s per member (FB and non-FB); worst case +0 s.
* ``agg-fb-vs-pde``: one deterministic run (the finite-volume solution the page draws anyway); +0 s.
* :data:`KL_PLAN` ``default (3,)``: one look, about 38 s per member (3 targets); worst case +0 s.

The paper's worst case at ``default`` is thus about +56 s.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

from .core import Claim, Outcome, SeedPlan

PAPER = "variational"
SOURCE = "Fan, Zhang, Taghvaei, Chen, ICML 2022 (arXiv:2112.02424)"
TEXT_FILE = "003_2e3848fc2017fb59.txt"
SLIDES_FILE = "004_9fb0e81676ecb2b2.txt"
_TEXT = f"the paper's text (shared/seeds/{TEXT_FILE})"
_SLIDES = f"the paper's slides (shared/seeds/{SLIDES_FILE})"

#: Draws of the OU problem law whose exact-JKO SymKL the page shows (mean and spread of one draw).
OU_LAW_DRAWS = 200
#: Half-width of the OU paper band in decades of SymKL (the criterion of the first OU notebook).
OU_PAPER_BAND = 0.3
#: The paper's log10 SymKL at t = 0.9 (Fig. 3(b), mean over 15 repeats), read from the figure.
OU_PAPER_T09 = {2: -3.34, 6: -2.99, 12: -2.54, 16: -2.36, 32: -2.06}
OU_DIMS = (2, 6, 12, 16, 32)
#: "20s ± 2s": the paper's relative precision of the training time.
TIME_REL_TOL = 2.0 / 20.0
#: Porous medium n-D: growth of E|X|^2 within this fraction of the exact growth.
PME_GROWTH_TOL = 0.5
#: Aggregation: the paper's steps (Fig. 5: FB k = 24, 36, 60, 84, 92; Fig. 8: non-FB k = 18, 24, 30, 42).
AGG_FB_STEPS = (24, 36, 60, 84, 92)
AGG_NONFB_STEPS = (18, 24, 30, 42)
#: "FB converges 3× slower than the finite difference method": 3 to one significant digit.
AGG_FB_FACTOR = (2.5, 3.5)
#: The merge step of the FV reference read from mode counts: its relative precision (decades), see agg-fb-vs-pde.
AGG_PDE_MERGE_TOL = 0.05
#: The fixed reference of the sampling test: this quantile of KL_REF_DRAWS null energy distances.
KL_REF_QUANTILE = 0.95
KL_REF_DRAWS = 200

#: The seed plans (cumulative member counts per profile); the module docstring gives their cost.
OU_PLAN = SeedPlan(ci=(1,), default=(3,), paper=(15,))
OU_TIME_PLAN = SeedPlan(ci=(5,), default=(5,), paper=(5,))
PME_PLAN = SeedPlan(ci=(1,), default=(3, 6, 10), paper=(3, 10))
AGG_PLAN = SeedPlan(ci=(1,), default=(3,), paper=(3,))
KL_PLAN = SeedPlan(ci=(1,), default=(3,), paper=(3,))

#: The paper's settings, as its text states them (Sec. 4 and App. C). Keys match the notebooks'
#: ``sizes`` so that :func:`wgf_core.claims.configuration` lists what differs at a profile.
PAPER_SETTINGS = {
    # App. C.2: J1 = 500, lr 0.005, M = 1000, h and T 3 layers of 64; J2 = 3 (App. C default);
    # Fig. 3: 15 repeats; SymKL from 5e5 samples; Sec. 4.2: a = 0.05 (t = 0.9 is K = 18)
    "01_ornstein_uhlenbeck": dict(outer=500, inner=3, batch=1000, n_seeds=15, n_eval_final=500000, reference="start",
                                  dims=list(OU_DIMS)),
    # Sec. 4.3 / App. C: a = 0.001, t0 = 0.002, J1 = 600, J2 = 3, M = 100, lr 0.001, 10 neurons per layer
    "02_porous_medium": dict(outer=600, inner=3, batch=100, width=10, lr=0.001),
    # Sec. 4.4 / App. C.4: a = 0.5, J1 = 200, M = 1000, J2 = 3, lr 0.001, 16 neurons; forward step with
    # 1e4 samples; Fig. 5: 92 FB steps; Fig. 8: 42 non-FB steps
    "03_aggregation_diffusion": dict(n_steps_fb=92, n_steps_nonfb=42, outer=200, inner=3, batch=1000, pool=10000,
                                     lr=0.001, width=16),
    # Sec. 4.1 / App. C.1: a = 0.3, J1 = 600, M = 100, lr 0.001; two moons K = 10, J2 = 6; GMM 8-D K = 50;
    # GMM 13-D K = 20; J2 = 3 otherwise
    "04_kl_sampling": {"moons": dict(K=10, outer=600, inner=6, batch=100),
                       "gmm8": dict(K=50, outer=600, inner=3, batch=100),
                       "gmm13": dict(K=20, outer=600, inner=3, batch=100)},
}


def _fmt(x) -> str:
    return "nan" if x is None or not math.isfinite(float(x)) else f"{float(x):.3g}"


def _finite(x) -> bool:
    return x is not None and math.isfinite(float(x))


def _log10_ratio(num: float, den: float) -> float:
    """log10(num / den) for positive finite numbers, else nan."""
    ok = _finite(num) and _finite(den) and num > 0 and den > 0
    return math.log10(float(num) / float(den)) if ok else math.nan


# ----------------------------------------------------------------------------- criteria (one member)
def ou_symkl_vs_paper(log10_symkl: float, paper: float) -> Outcome:
    """Margin OU_PAPER_BAND - |log10 SymKL(t = 0.9) - paper| (decades, two-sided)."""
    if not _finite(log10_symkl):
        return Outcome(margin=math.nan, value=math.nan, text=f"log10 SymKL {_fmt(log10_symkl)}: no finite value")
    dev = float(log10_symkl) - float(paper)
    return Outcome(margin=OU_PAPER_BAND - abs(dev), value=float(log10_symkl),
                   text=f"log10 SymKL {float(log10_symkl):.2f} vs paper {float(paper):.2f}: {dev:+.2f} decades "
                        f"(allowed ±{OU_PAPER_BAND:g})")


def ou_at_jko_floor(symkl_to_jko: float, symkl_jko_to_exact: float) -> Outcome:
    """Margin log10(SymKL(exact JKO, P_t) / SymKL(ours, exact JKO)) (decades), same draw."""
    a, b = float(symkl_to_jko), float(symkl_jko_to_exact)
    m = _log10_ratio(b, a)
    return Outcome(margin=m, value=-m if _finite(m) else math.nan,
                   text=f"SymKL(ours, exact JKO) {_fmt(a)} vs SymKL(exact JKO, P_t) {_fmt(b)}: "
                        f"{_fmt(m)} decades below (needs > 0)")


def ou_time_flat(seconds_per_step: Sequence[float], dims: Sequence[int]) -> Outcome:
    """One interleaved repeat: margin TIME_REL_TOL - max_d |t_d / mean_d t - 1| (fraction of the mean)."""
    t = [float(s) for s in seconds_per_step]
    if len(t) != len(dims) or len(t) < 2 or not all(_finite(s) and s > 0 for s in t):
        return Outcome(margin=math.nan, value=math.nan, text=f"times {t} for dimensions {list(dims)}: not comparable")
    mean = sum(t) / len(t)
    devs = [s / mean - 1.0 for s in t]
    worst = max(range(len(t)), key=lambda i: abs(devs[i]))
    return Outcome(margin=TIME_REL_TOL - abs(devs[worst]), value=abs(devs[worst]),
                   text="s per step " + ", ".join(f"d={d}: {s:.3g}" for d, s in zip(dims, t))
                        + f"; largest deviation from the mean {devs[worst]:+.1%} at d = {dims[worst]} "
                          f"(allowed ±{TIME_REL_TOL:.0%})")


def pme_time_discretisation_dominates(l1_ours_ref: float, l1_ours_exact: float, l1_ref_exact: float) -> Outcome:
    """Margin log10(min(L1(ours, exact), L1(JKO, exact)) / L1(ours, JKO)) (decades), last step."""
    a, b, c = float(l1_ours_ref), float(l1_ours_exact), float(l1_ref_exact)
    m = _log10_ratio(min(b, c), a) if all(_finite(v) for v in (b, c)) else math.nan
    return Outcome(margin=m, value=a / c if _finite(a) and _finite(c) and c > 0 else math.nan,
                   text=f"L1(ours, discrete JKO) {_fmt(a)}, L1(ours, exact) {_fmt(b)}, L1(discrete JKO, exact) "
                        f"{_fmt(c)}: the first {_fmt(m)} decades below the smaller of the others (needs > 0)")


def pme_spreading(growth: Sequence[float], dims: Sequence[int]) -> Outcome:
    """Margin PME_GROWTH_TOL - max_n |growth_n - 1| (growth of E|X|^2 over the exact growth)."""
    g = [float(v) for v in growth]
    if not g or len(g) != len(dims) or not all(_finite(v) for v in g):
        return Outcome(margin=math.nan, value=math.nan, text=f"growth ratios {g}: no finite value")
    worst = max(range(len(g)), key=lambda i: abs(g[i] - 1.0))
    return Outcome(margin=PME_GROWTH_TOL - abs(g[worst] - 1.0), value=g[worst],
                   text="growth of E|X|^2 / exact: " + ", ".join(f"n={n}: {v:.3g}" for n, v in zip(dims, g))
                        + f" (needs within 1 ± {PME_GROWTH_TOL:g})")


def _first(modes: Sequence[int], count: int, upto: int) -> Optional[int]:
    for k, m in enumerate(modes[:upto], start=1):
        if int(m) == count:
            return k
    return None


def _one_from(modes: Sequence[int], upto: int) -> Optional[int]:
    """The step from which the count is 1 through step ``upto`` (None if it is not 1 at ``upto``)."""
    m = [int(v) for v in modes[:upto]]
    if not m or m[-1] != 1:
        return None
    k = len(m)
    while k > 1 and m[k - 2] == 1:
        k -= 1
    return k


def _by(k: Optional[int], by: int) -> float:
    """Steps margin of an event at step ``k`` required by step ``by``: by + 1/2 - k; -1/2 if it did not occur."""
    return float(by) + 0.5 - k if k is not None else -0.5


def agg_four_then_one(modes: Sequence[int], horizon: int) -> Outcome:
    """Four modes at some step before ``horizon``, one mode from some step through ``horizon``: margin in steps."""
    horizon = int(horizon)
    if len(modes) < horizon or horizon < 2:
        return Outcome(margin=math.nan, value=math.nan, text=f"{len(modes)} steps run, the horizon is {horizon}")
    k4, k1 = _first(modes, 4, horizon - 1), _one_from(modes, horizon)
    last = int(modes[horizon - 1])
    return Outcome(margin=min(_by(k4, horizon - 1), _by(k1, horizon)), value=float(last),
                   text=(f"four pulses first at k = {k4}" if k4 else f"never four pulses before k = {horizon}")
                   + (f"; one pulse from k = {k1}" if k1 else f"; {last} mode(s) at k = {horizon}")
                   + f" (needs four before k = {horizon}, then one at k = {horizon})")


def agg_fb_timeline(modes: Sequence[int], four_by: int = AGG_FB_STEPS[0], one_at: int = AGG_FB_STEPS[-1]) -> Outcome:
    """Four modes by ``four_by`` and one mode from some step through ``one_at``: margin in steps."""
    four_by, one_at = int(four_by), int(one_at)
    if len(modes) < one_at:
        return Outcome(margin=math.nan, value=math.nan,
                       text=f"{len(modes)} steps run, the paper's timeline needs {one_at}")
    k4, k4_any, k1 = _first(modes, 4, four_by), _first(modes, 4, one_at), _one_from(modes, one_at)
    return Outcome(margin=min(_by(k4, four_by), _by(k1, one_at)), value=float(k4_any) if k4_any else math.nan,
                   text=(f"four pulses first at k = {k4_any}" if k4_any else f"never four pulses by k = {one_at}")
                   + (f"; one pulse from k = {k1}" if k1 else f"; {int(modes[one_at - 1])} mode(s) at k = {one_at}")
                   + f" (needs four by k = {four_by} and one at k = {one_at})")


def agg_fb_vs_pde(k_one_reference: Optional[int], k_solved: int, k_one_fb: int = AGG_FB_STEPS[-1]) -> Outcome:
    """The paper's FB merge step over the exact PDE's in AGG_FB_FACTOR: margin in decades.

    ``k_one_reference``: the step from which the PDE solution has one pulse, or None if it has not merged within
    its ``k_solved`` steps. Then the ratio is below ``k_one_fb / (k_solved + 1)``; where that bound lies below
    the middle of the band (the margin's peak), the margin at the bound is an upper bound of the margin, else
    the run gives no margin (nan: too few PDE steps).
    """
    lo, hi = AGG_FB_FACTOR
    margin = lambda r: min(math.log10(r / lo), math.log10(hi / r))   # noqa: E731
    if k_one_reference is None:
        bound = float(k_one_fb) / (int(k_solved) + 1)
        m = margin(bound) if bound <= math.sqrt(lo * hi) else math.nan
        return Outcome(margin=m, value=math.nan,
                       text=f"one pulse at k = {int(k_one_fb)} (the paper's FB, Fig. 5); the exact PDE has not merged "
                            f"by k = {int(k_solved)}: ratio below {bound:.2f} (needs {lo:g}-{hi:g})")
    ratio = float(k_one_fb) / int(k_one_reference)
    return Outcome(margin=margin(ratio), value=ratio,
                   text=f"one pulse at k = {int(k_one_fb)} (the paper's FB, Fig. 5) and from k = {int(k_one_reference)} "
                        f"(exact PDE): ratio {ratio:.2f} (needs {lo:g}-{hi:g})")


def agg_nonfb_four_pulses(modes: Sequence[int], horizon: int = AGG_NONFB_STEPS[-1]) -> Outcome:
    """Four modes at some step k <= ``horizon``: margin in steps."""
    horizon = int(horizon)
    if len(modes) < horizon or horizon < 1:
        return Outcome(margin=math.nan, value=math.nan, text=f"{len(modes)} steps run, the horizon is {horizon}")
    k4 = _first(modes, 4, horizon)
    most = max(int(m) for m in modes[:horizon])
    return Outcome(margin=_by(k4, horizon), value=float(k4) if k4 else math.nan,
                   text=(f"four pulses first at k = {k4}" if k4 else f"never four pulses by k = {horizon} (at most "
                                                                    f"{most})") + f" (needs four by k = {horizon})")


def kl_sample_match(energy_distance: float, reference: float) -> Outcome:
    """Margin log10(reference / energy distance(ours, target)) (decades); ``reference`` the null 95 % quantile."""
    ed, ref = float(energy_distance), float(reference)
    m = _log10_ratio(ref, ed)
    return Outcome(margin=m, value=ed / ref if _finite(ed) and ref > 0 else math.nan,
                   text=f"energy distance {_fmt(ed)} vs the null's 95 % quantile {_fmt(ref)}: ratio "
                        f"{_fmt(ed / ref if ref > 0 else math.nan)} (needs < 1)")


# ----------------------------------------------------------------------------- the claims
_OU_WHERE = ("Sec. 4.2 and Fig. 3(b) of " + _TEXT + "; the values are read from Fig. 3(b) (log10 SymKL at t = 0.9, "
             "mean of 15 repeats), the text states none")
_OU_QUOTE = ("We quantify the error as the SymKL divergence between estimated distribution and the ground truth in "
             "Figure 3")
_OU_CRIT = (f"Per member (one draw of (A, b)): margin {OU_PAPER_BAND:g} − |log10 SymKL(t = 0.9) − paper| decades, "
            f"SymKL from the Gaussian fitted to the run's samples of P_18 (the paper's 5e5 at default and paper); the "
            f"interval over the members must lie above 0.")
_OU_WHY = (f"± {OU_PAPER_BAND:g} decades (a factor 2) is the band of the notebook's first criterion; the draw-to-draw "
           "spread of the problem enters through the interval over the members (the page shows it: the exact "
           f"discrete JKO over {OU_LAW_DRAWS} draws of the law). Two-sided: far below the paper is another problem, "
           "not a better solver.")


def _ou_claims():
    out = []
    for d in OU_DIMS:
        out.append(Claim(
            id=f"ou-symkl-d{d}", notebook="variational/01_ornstein_uhlenbeck", kind="reading",
            statement=f"In d = {d}, the variational JKO's error at t = 0.9 (log10 SymKL to the exact OU law) is the "
                      f"paper's {OU_PAPER_T09[d]:.2f}.",
            quote=_OU_QUOTE, where=_OU_WHERE, criterion_text=_OU_CRIT, tolerance_reason=_OU_WHY,
            criterion=ou_symkl_vs_paper, margin_label=f"decades: {OU_PAPER_BAND:g} − |log10 SymKL − paper|",
            value_label="log10 SymKL at t = 0.9", paper_value=f"{OU_PAPER_T09[d]:.2f} (Fig. 3(b))", plan=OU_PLAN,
            diagnosis="Our problems are draws of the law of Mokrov et al. that the paper cites, not the paper's own "
                      "draws; where the exact discrete JKO of our draws is itself far from the paper's value, the "
                      "page's table (column 'exact-JKO floor') and the check ou-floor of the same dimension tell the "
                      "problem from the solver. The build uses J1 = 40, J2 = 2 (paper 500, 3) and refits the KL "
                      "reference to the pushed pool (the configuration under the verdict)."))
        out.append(Claim(
            id=f"ou-floor-d{d}", notebook="variational/01_ornstein_uhlenbeck", kind="check",
            statement=f"In d = {d}, our variational iterate at t = 0.9 is closer to the exact discrete JKO iterate of "
                      f"the same draw than that iterate is to the exact law (optimisation error below the "
                      f"time-discretisation error).",
            quote="the exact discrete JKO iterate P_18 of the same draw of (A, b) (closed form, "
                  "wgf_core.pde.ou_jko_gaussian) and the exact law P_0.9 (wgf_core.pde.ou_solution)",
            where="project check (the paper's Sec. 4.2 compares with the exact law only)",
            criterion_text="Per member: margin log10(SymKL(exact JKO, P_t) / SymKL(ours, exact JKO)) at t = 0.9, ours "
                           "being the exact law of our P_18 (N(0, I) pushed through the stored affine maps in closed "
                           "form, without the sampling error of a fit); the interval over the members must lie above 0.",
            tolerance_reason="No tolerance: an ordering of two errors of the same run (the time-discretisation error "
                             "is a closed form).",
            criterion=ou_at_jko_floor, margin_label="decades: log10 SymKL(JKO, P_t) − log10 SymKL(ours, JKO)",
            value_label="log10 SymKL(ours, JKO) / SymKL(JKO, P_t)", plan=OU_PLAN))
    out.append(Claim(
        id="ou-time-vs-d", notebook="variational/01_ornstein_uhlenbeck", kind="paper",
        statement="The training time per JKO step does not depend on the dimension d (fixed network sizes).",
        quote="Our method’s training time remains at 20s ± 2s for all the dimensions d = 2 〜32. This is due to We fix "
              "the neural network size for both methods and our method’s computation complexity doesn’t depend on "
              "the dimension.",
        where="Sec. 4.2 of " + _TEXT + " (per two JKO steps, GeForce RTX 3090 per App. B.4)", source=TEXT_FILE,
        criterion_text=(f"Per repeat: the training of one JKO step (time_outer map iterations of the OU step's sizes) "
                        f"at every d run, interleaved in a rotated order; margin {TIME_REL_TOL:.0%} − the largest "
                        f"|time(d) / mean over d − 1|; the interval over at least 5 repeats must lie above 0. On a "
                        f"CPU: CPU time of the training loop (one thread); on a GPU: wall time with the device "
                        f"synchronised."),
        tolerance_reason="The paper's precision: ± 2 s on 20 s is ±10 %. A step's training is J1 such iterations, so "
                         "the relative deviations do not depend on how many are timed.",
        criterion=ou_time_flat, margin_label="fraction of the mean time: 0.1 − max_d |time(d) / mean − 1|",
        value_label="largest |time(d) / mean − 1|", paper_value="20 s ± 2 s per two steps", timing=True,
        plan=OU_TIME_PLAN,
        diagnosis="On a CPU these small networks are compute-bound and the first and last layers grow with d; the "
                  "paper's GPU is latency-bound at these sizes. The page's section 'Training time versus d' shows "
                  "the time per repeat and dimension."))
    return out


_PME_QUOTE = ("In Figure 4, we observe that the gap between the density computed using our algorithm and the ground "
              "truth density Pgt is dominated by the time-discretization error of the JKO scheme. Our result matches "
              "the discrete time solution nicely.")
_AGG_FB_WHERE = ("Sec. 4.4 and Fig. 5 (FB histograms at k = 24, 36, 60, 84, 92) of " + _TEXT)
_AGG_MARGIN = "JKO steps: (required step + 1/2) − (step of the event); −1/2 where it did not occur by the horizon"
_AGG_DIAG = ("The build uses J1 = 20, J2 = 1, M = 256 and a 2000-particle cloud (paper 200, 3, 1000, 1e4; the "
             "configuration under the verdict). The exact PDE (our finite volumes) merges its pulses far later than "
             "the paper's k = 92 (the page's section 'What the equation does' glues the step).")

CLAIMS = tuple(_ou_claims()) + (
    # ---- variational/02: porous medium
    Claim(id="pme-1d-time-discretisation-dominates", notebook="variational/02_porous_medium", kind="paper",
          statement="In 1-D, our density is closer to the discrete JKO solution than either is to the exact "
                    "Barenblatt profile (L1, last step).",
          quote=_PME_QUOTE, where="Sec. 4.3 and Fig. 4 of " + _TEXT, source=TEXT_FILE,
          criterion_text="Per member, at the last JKO step: margin log10(min(L1(ours, exact), L1(discrete JKO, exact)) "
                         "/ L1(ours, discrete JKO)); the interval over the members must lie above 0.",
          tolerance_reason="No tolerance: the paper's 'dominated by the time-discretization error' as an ordering "
                           "of L1 distances (the discrete JKO reference solves each step to machine precision).",
          criterion=pme_time_discretisation_dominates,
          margin_label="decades: log10 min(L1(ours, exact), L1(JKO, exact)) − log10 L1(ours, JKO)",
          value_label="L1(ours, JKO) / L1(JKO, exact)", paper_value="Fig. 4 (curves only)", plan=PME_PLAN,
          diagnosis="The build uses fewer map iterations, a larger batch and learning rates decaying within each "
                    "step (the configuration under the verdict); the page's L1 panel shows the three distances per "
                    "step and member."),
    Claim(id="pme-hd-spreading", notebook="variational/02_porous_medium", kind="reading",
          statement="In 3-D and 6-D, the variational JKO spreads like the Barenblatt profile (growth of E|X|^2).",
          quote="Generalized entropy: Porous media equation",
          where="the slide 'Generalized entropy: Porous media equation' of " + _SLIDES + ": pictures for n = 3 and "
                "n = 6 beside the Barenblatt profile (the statement reads the pictures; the paper's text has no "
                "n-D porous-medium experiment)",
          criterion_text=f"Per member: margin {PME_GROWTH_TOL:g} − max over n = 3, 6 of |(E|X|^2 at the last step − at "
                         f"k = 0) / (the same for the exact Barenblatt profile) − 1|; the interval over the members "
                         f"must lie above 0.",
          tolerance_reason="Midpoint rule: within ± 1/2 of the exact growth, the final second moment is nearer the "
                           "exact profile's than the initial one's, which is what a picture beside the exact profile "
                           "can tell.",
          criterion=pme_spreading, margin_label=f"fraction of the exact growth: {PME_GROWTH_TOL:g} − max_n |growth − 1|",
          value_label="growth ratio farthest from 1", paper_value="pictures (slides)", plan=PME_PLAN,
          diagnosis="The build runs 4 steps with 80 map iterations (the configuration under the verdict) and a "
                    "reference box margin of a tenth of the side; the page's E|X|^2 panel shows the growth per "
                    "member."),
    # ---- variational/03: aggregation-diffusion
    Claim(id="agg-fb-four-then-one", notebook="variational/03_aggregation_diffusion", kind="paper",
          statement="FB scheme: the uniform square splits into four pulses, which merge into one pulse by the "
                    "paper's last step k = 92.",
          quote="cause the probability measure split to four pulses and converge to a single pulse in the end",
          where=_AGG_FB_WHERE, source=TEXT_FILE,
          criterion_text="Per member, within the paper's 92 FB steps: four modes at some step before k = 92 and one "
                         "mode from some step through k = 92 (modes counted on the carried particle cloud at every "
                         "step); margin the smaller of the two step margins; the interval over the members must lie "
                         "above 0.",
          tolerance_reason="No tolerance: counts of modes at the paper's steps.",
          criterion=agg_four_then_one, margin_label=_AGG_MARGIN, value_label="modes at the last step",
          paper_value="four pulses, then one at k = 92", plan=AGG_PLAN, diagnosis=_AGG_DIAG),
    Claim(id="agg-fb-timeline", notebook="variational/03_aggregation_diffusion", kind="reading",
          statement="FB scheme, the paper's timeline: four pulses by k = 24 and one pulse at k = 92.",
          quote="Figure 5: Histogram for simulated measures Pk by FB scheme at different k.",
          where=_AGG_FB_WHERE + "; the timeline is read from the panels (the text gives only their steps)",
          criterion_text="Per member: four modes at some step k <= 24 and one mode from some step through k = 92; "
                         "margin the smaller of the two step margins; the interval over the members must lie above 0.",
          tolerance_reason="No tolerance: counts of modes at the paper's steps.",
          criterion=agg_fb_timeline, margin_label=_AGG_MARGIN, value_label="first step with four modes",
          paper_value="k = 24, 36, 60, 84: four pulses; k = 92: one", plan=AGG_PLAN, diagnosis=_AGG_DIAG),
    Claim(id="agg-fb-vs-pde", notebook="variational/03_aggregation_diffusion", kind="paper",
          statement="FB converges 3x slower than the finite-difference solution of the same equation: with the "
                    "paper's FB at one pulse at k = 92 (Fig. 5), the equation merges at about k = 31.",
          quote="FB converges 3× slower than the finite difference method.",
          where="App. B.3 of " + _TEXT + " (the finite-difference solution of Carrillo et al. 2021 is not shown); "
                "the FB merge step k = 92 is Fig. 5's last panel", source=TEXT_FILE,
          criterion_text="One deterministic run: r = 92 (the paper's FB one-pulse step) / (the first step from which "
                         "the exact PDE, our finite-volume solution read at t = 0.5 k, has one mode); margin "
                         "min(log10(r / 2.5), log10(3.5 / r)) decades; inconclusive within ±0.05 decades.",
          tolerance_reason="The paper's precision: '3×' has one significant digit, i.e. 2.5 to 3.5. The merge step of "
                           "the finite-volume reference depends on the grid: k = 336, 290, 279 with 48², 96², 144² "
                           "cells (measured), extrapolated about 266, 0.04 decades below the 96² value the build "
                           "uses; ±0.05 decades covers it.",
          criterion=agg_fb_vs_pde, margin_label="decades: min(log10(r / 2.5), log10(3.5 / r)), r = 92 / PDE merge step",
          value_label="92 / PDE one-pulse step", paper_value="3×", stochastic=False, tolerance=AGG_PDE_MERGE_TOL,
          diagnosis="The paper's timeline disagrees with its own equation: the exact PDE merges its four pulses "
                    "about ten times later than the '3×' puts the paper's finite differences (the page's section "
                    "'What the equation does' glues the step from the run). Carrillo et al.'s solution may use "
                    "other parameters or time units; the paper does not show it."),
    Claim(id="agg-nonfb-four-pulses", notebook="variational/03_aggregation_diffusion", kind="reading",
          statement="Non-FB scheme: four (less symmetric) pulses appear within the paper's 42 steps.",
          quote="We can tell the four pulses given by FB are more symmetric.",
          where="App. B.3 and Fig. 8 (non-FB histograms at k = 18, 24, 30, 42) of " + _TEXT + "; the sentence "
                "compares the FB pulses with the non-FB ones of Fig. 8",
          criterion_text="Per member: four modes at some step k <= 42; margin in steps; the interval over the "
                         "members must lie above 0.",
          tolerance_reason="No tolerance: counts of modes at the paper's steps.",
          criterion=agg_nonfb_four_pulses, margin_label=_AGG_MARGIN, value_label="first step with four modes",
          paper_value="four pulses at k = 18-42", plan=AGG_PLAN,
          diagnosis="Our non-FB ICNN map, trained on the interaction and entropy terms together for J1 = 20 "
                    "iterations per step, learns a near-affine contraction of the square (the page's mode counts); "
                    "the paper uses J1 = 200."),
)

_KL_CRIT = (f"Per member: margin log10(q95 / ED), ED the energy distance between n samples of ours (P_K) and n fresh "
            f"target samples, q95 the fixed {KL_REF_QUANTILE:.0%} quantile of the energy distance between two "
            f"independent n-samples of the target over {KL_REF_DRAWS} draws (references/variational.json, per target "
            f"and n); the interval over the members must lie above 0.")
_KL_WHY = ("A two-sample test at level 5 % per member against a reference computed once from the target alone: "
           "samples as close to the target as its own independent samples have a positive margin on 95 % of the "
           "members.")
for _name, _words, _quote, _where in (
        ("moons", "the two-moons target (16-component mixture)",
         "The results are displayed in Figure 1, from which we see that our method is able to generate samples that "
         "match the target distribution.", "Sec. 4.1 and Fig. 1 of " + _TEXT),
        ("gmm8", "the 9-component Gaussian mixture in 8-D",
         "As can be seen from the results, both the samples and densities obtained with our algorithm match the "
         "target distribution well.", "Sec. 4.1 and Fig. 2(a) of " + _TEXT),
        ("gmm13", "the 9-component Gaussian mixture in 13-D",
         "As can be seen from the results, both the samples and densities obtained with our algorithm match the "
         "target distribution well.", "Sec. 4.1 and Fig. 2(b) of " + _TEXT)):
    CLAIMS = CLAIMS + (Claim(
        id=f"kl-sampling-{_name}", notebook="variational/04_kl_sampling", kind="paper",
        statement=f"The KL flow's samples match {_words}.", quote=_quote, where=_where + " (a visual match)",
        source=TEXT_FILE, criterion_text=_KL_CRIT, tolerance_reason=_KL_WHY, criterion=kl_sample_match,
        margin_label="decades: log10 q95 − log10 energy distance", value_label="energy distance / q95",
        paper_value="visual match", plan=KL_PLAN,
        diagnosis="The build runs far fewer map iterations and JKO steps than the paper on stand-in targets (the "
                  "paper does not list the mixtures' means; the configuration under the verdict); the page's "
                  "two-sample panel shows every member against the reference."),)
