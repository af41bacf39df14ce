r"""Experiment drivers of the variational JKO paper (Fan, Zhang, Taghvaei, Chen, ICML 2022).

Every flow here is an energy of :mod:`wgf_core.energies.variational` and the scheme
:class:`~wgf_core.schemes.VariationalJKO`, run by the one runner :func:`wgf_core.runner.run` from the
scheme's first sample pool (:meth:`~wgf_core.schemes.VariationalJKO.initial`) with the scheme's generator,
so that every seeded draw comes from one stream in the order of Algorithm 1.

* :func:`setup`: a notebook's parameters checked and its sizes (:data:`PROFILES`) selected, as a :class:`Setup`;
* :func:`run_variational`: that call, for any energy and scheme of the paper; :func:`push_frames` for animations;
* :func:`ou_problem`, :func:`run_ou`: the Ornstein-Uhlenbeck experiment (Sec. 4.2, Fig. 3), with a
  diverged seed recorded as diverged (its errors NaN) instead of raising; :func:`run_ou_ensemble` over seeds and
  dimensions, its figure, table, verdicts and glued values (:func:`ou_figure`, :func:`ou_table`,
  :func:`ou_verdicts`, :func:`ou_glue`);
* :func:`porous_scheme`: the porous-medium scheme (Sec. 4.3); :func:`run_pme_1d` (Fig. 4) and :func:`run_pme_hd`
  (3-D / 6-D) over the seeds, their figures, verdicts and glued values;
* :func:`aggregation_scheme`, :func:`run_aggregation`, :class:`PushCache`: the aggregation-diffusion
  experiment (Sec. 4.4), with the mode count, pulse width and interaction energy of the carried cloud at
  every step; :func:`count_density_modes`, :func:`quadrant_spread`, :func:`pulse_timeline` read them;
  :func:`agg_reference` (the finite-volume solution), :func:`run_agg` over the seeds, their figures, verdicts and
  glued values;
* :func:`make_target`, :func:`run_kl`, :func:`component_fractions`: KL sampling (Sec. 4.1); :func:`run_kl_ensemble`
  with its two-sample tests, its figures, verdicts and glued values.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from .. import pde
from ..claims import assess, configuration, seed_list
from ..claims import get as get_claim
from ..claims.variational import (
    AGG_FB_STEPS,
    AGG_NONFB_STEPS,
    NULL_DRAWS,
    OU_BAND_SD,
    OU_DIMS,
    OU_LAW_DRAWS,
    OU_PAPER_T09,
    PAPER_SETTINGS,
)
from ..diagnostics import two_sample_null
from ..energies.variational import (
    GeneralizedEntropy,
    Interaction,
    KLDivergence,
    WithInteraction,
    gaussian_attraction,
)
from ..errors import ParameterError
from ..gmm import GaussianMixture
from ..icnn import pushforward_log_density
from ..kernels import uniform_weights
from ..metrics import energy_distance, fit_gaussian, gaussian_symkl
from ..plotting import band_curves, panel_grid, seed_dots, seed_lines, to_numpy
from ..random import make_generator
from ..reporting import record_metrics
from ..runner import Trajectory, run
from ..schemes.variational import DualConfig, MapConfig, PoolConfig, TrainConfig, VariationalJKO
from ..validation import check_choice, check_device, check_int, check_int_list, check_positive, select_profile
from .base import NotebookSetup

__all__ = ["PROFILES", "Setup", "setup", "run_variational", "ou_problem", "run_ou", "OU_STEP", "OU_T_EVAL",
           "run_ou_ensemble", "ou_figure", "ou_table", "ou_frames", "ou_curve_figures", "ou_live", "ou_verdicts",
           "ou_glue", "OU_CLAIM_IDS", "push_frames", "PME_STEP", "PME_T0", "PME_M", "pme_mass_check", "pme_flow",
           "run_pme_1d", "pme_figure", "pme_step_figures", "pme_frames", "run_pme_hd", "pme_hd_figure", "pme_live",
           "pme_verdicts", "pme_glue", "AGG_STEP", "AGG_M", "AGG_NU", "agg_reference", "run_agg", "agg_hist_figures",
           "agg_curves_figure", "agg_frames", "agg_live", "agg_verdicts", "agg_glue", "KL_STEP", "KL_CLAIM_IDS",
           "run_kl_ensemble", "kl_moons_figure", "kl_frames", "kl_pca_figures", "kl_test_figure", "kl_live",
           "kl_verdicts", "kl_glue", "porous_scheme", "aggregation_scheme", "run_aggregation",
           "PushCache", "make_target", "kl_scheme", "run_kl", "component_fractions", "pulse_timeline",
           "quadrant_spread", "count_density_modes", "KL_TARGETS"]


def run_variational(energy, scheme: VariationalJKO, tau: float, steps: int, **kw) -> Trajectory:
    """``run(energy, scheme, scheme.initial(), tau, steps, log={}, generator=scheme.generator, **kw)``.

    The first pool is ``scheme.pool.size`` samples of :math:`P_0` drawn from the scheme's generator, which
    the runner then passes to every step (a fresh scheme: the draws are those of Algorithm 1 in order).
    Keyword arguments go to :func:`~wgf_core.runner.run` (``on_divergence``, ``snapshot_every``, ``desc``, ...).
    """
    kw.setdefault("log", {})
    return run(energy, scheme, scheme.initial(), tau, steps, generator=scheme.generator, **kw)



def push_frames(scheme: VariationalJKO, x0: torch.Tensor, every: int = 1) -> np.ndarray:
    """Samples ``x0`` ``(n, d)`` of :math:`P_0` pushed to the steps ``k = 0, every, 2 every, ...`` (up to the stored
    steps), each frame from the previous one: a host array ``(frames, n, d)`` for an animation."""
    every = check_int("every", every)
    frames, x = [x0.cpu().numpy()], x0
    for k in range(every, len(scheme.maps) + 1, every):
        x = scheme.push(x, k, start=k - every)
        frames.append(x.cpu().numpy())
    return np.stack(frames)


# --------------------------------------------------------------------------------------------
# Notebook set-up: the profiles of the four notebooks and the checks of their parameters
# --------------------------------------------------------------------------------------------
#: The sizes of each notebook at each profile (``ci`` decides every claim at tiny sizes, ``default`` builds the
#: book on a CPU, ``paper`` is the paper's configuration); see each notebook's comments on what differs.
PROFILES = {
    "01_ornstein_uhlenbeck": {
        # ci: every dimension (the record decides every claim), tiny sizes
        "ci": dict(dims=[2, 6, 12, 16, 32], n_seeds=1, outer=10, inner=2, batch=500, width=32, depth=2, n_eval=5000,
                   n_eval_final=5000, pool=50000, reference="pushed"),
        # J1 = 40 (paper 500) and J2 = 2 (paper 3) so that 3 seeds x 5 dimensions fit the CPU budget (J1 = 20 with
        # batches of 2000 was tried: too few map updates per step, up to 0.8 above the floor in d = 32)
        "default": dict(dims=[2, 6, 12, 16, 32], n_seeds=3, outer=40, inner=2, batch=1000, width=64, depth=2,
                        n_eval=20000, n_eval_final=500000, pool=1000000, reference="pushed"),
        "paper": dict(dims=[2, 6, 12, 16, 32], n_seeds=15, outer=500, inner=3, batch=1000, width=64, depth=2,
                      n_eval=20000, n_eval_final=500000, pool=1000000, reference="start"),
    },
    "02_porous_medium": {
        "ci": dict(n_seeds=1, n_steps=2, outer=60, inner=2, batch=128, lr=5e-3, width=10, depth=2, dims_hd=[3],
                   steps_hd=1, outer_hd=30, pool=20000, lr_final_factor=0.1, margin=0.5, margin_hd=0.1),
        "default": dict(n_seeds=3, n_steps=6, outer=150, inner=3, batch=256, lr=5e-3, width=10, depth=2, dims_hd=[3, 6],
                        steps_hd=4, outer_hd=80, pool=50000, lr_final_factor=0.1, margin=0.5, margin_hd=0.1),
        # the paper's sizes, learning rate and constant learning rate; the pool and the box margins are not paper sizes
        "paper": dict(n_seeds=3, n_steps=10, outer=600, inner=3, batch=100, lr=1e-3, width=10, depth=3, dims_hd=[3, 6],
                      steps_hd=10, outer_hd=600, pool=50000, lr_final_factor=1.0, margin=0.5, margin_hd=0.1),
    },
    "03_aggregation_diffusion": {
        "ci": dict(n_seeds=1, n_steps_fb=8, n_steps_nonfb=4, outer=5, inner=1, batch=128, pool=600, lr=5e-3, width=8,
                   depth=2, fv_cells=48, fv_steps=8),
        # J1 = 20 (paper 200), J2 = 1 (paper 3), M = 256 (paper 1000), a 2000-particle cloud (paper 1e4): 3 seeds of
        # both schemes at the paper's steps within the CPU budget
        "default": dict(n_seeds=3, n_steps_fb=92, n_steps_nonfb=42, outer=20, inner=1, batch=256, pool=2000, lr=5e-3,
                        width=16, depth=2, fv_cells=96, fv_steps=400),
        "paper": dict(n_seeds=3, n_steps_fb=92, n_steps_nonfb=42, outer=200, inner=3, batch=1000, pool=10000, lr=1e-3,
                      width=16, depth=5, fv_cells=96, fv_steps=400),
    },
    # J1 = 100 (paper 600) and fewer JKO steps in 8-D / 13-D so that 3 seeds x 3 targets fit the CPU budget;
    # n_test: samples per side of the two-sample test
    "04_kl_sampling": {
        "ci": dict(n_seeds=1, n_test=500, targets={
            "moons": dict(d=2, K=3, outer=30, inner=3, batch=128, T=(16, 3), h=(16, 3)),
            "gmm8": dict(d=8, K=2, outer=20, inner=3, batch=128, T=(32, 2), h=(32, 3)),
            "gmm13": dict(d=13, K=2, outer=20, inner=3, batch=128, T=(32, 2), h=(32, 3))}),
        "default": dict(n_seeds=3, n_test=2000, targets={
            "moons": dict(d=2, K=10, outer=100, inner=3, batch=256, T=(16, 4), h=(16, 5)),
            "gmm8": dict(d=8, K=15, outer=100, inner=3, batch=256, T=(64, 2), h=(64, 4)),
            "gmm13": dict(d=13, K=10, outer=100, inner=3, batch=256, T=(64, 3), h=(64, 4))}),
        "paper": dict(n_seeds=3, n_test=2000, targets={
            "moons": dict(d=2, K=10, outer=600, inner=6, batch=100, T=(16, 4), h=(16, 5)),
            "gmm8": dict(d=8, K=50, outer=600, inner=3, batch=100, T=(128, 2), h=(64, 5)),
            "gmm13": dict(d=13, K=20, outer=600, inner=3, batch=100, T=(64, 8), h=(64, 7))}),
    },
}
#: The smallest value of an integer override (1 for the others).
_OVERRIDE_MIN = {"dims": 2, "batch": 2}


@dataclass
class Setup(NotebookSetup):
    """A notebook's checked parameters: ``notebook`` (its stem), ``profile``, ``device``, ``seed``, ``sizes`` (the
    profile's sizes with the overrides), ``seeds`` (the ensemble: ``seed, seed + 1, ...``), ``paper`` (the paper's
    settings, :data:`~wgf_core.claims.variational.PAPER_SETTINGS`)."""

    paper: dict

    @property
    def key(self) -> str:
        """The record's notebook key, ``variational/<stem>``."""
        return f"variational/{self.notebook}"


def setup(notebook: str, profile: str, device, seed, **overrides) -> Setup:
    """Check a notebook's parameters and select its sizes; raises :class:`ParameterError` naming the parameter.

    ``overrides`` (the notebook's optional parameters; None keeps the profile's value): ``dims`` a list of
    integers >= 2, ``batch`` an integer >= 2, any other an integer >= 1; in ``04_kl_sampling`` ``outer``
    applies to every target. Prints the profile, device, seeds and sizes.
    """
    check_choice("notebook", notebook, tuple(PROFILES))
    dev = check_device(device)
    seed = check_int("seed", seed, minimum=0)
    sizes = copy.deepcopy(select_profile(profile, PROFILES[notebook]))
    for name, value in overrides.items():
        if value is None:
            continue
        low = _OVERRIDE_MIN.get(name, 1)
        value = check_int_list(name, value, minimum=low) if name == "dims" else check_int(name, value, minimum=low)
        if name == "outer" and "targets" in sizes:
            for v in sizes["targets"].values():
                v["outer"] = value
        elif name in sizes:
            sizes[name] = value
        else:
            raise ParameterError(f"parameter '{name}' is not a size of {notebook} (its sizes: {sorted(sizes)})")
    seeds = seed_list(seed, sizes["n_seeds"])
    print(f"profile={profile} device={dev} seeds={seeds}", sizes)
    return Setup(notebook, profile, dev, seed, sizes, seeds, PAPER_SETTINGS[notebook])


# --------------------------------------------------------------------------------------------
# Ornstein-Uhlenbeck (Sec. 4.2)
# --------------------------------------------------------------------------------------------
def ou_problem(d: int, s: int):
    r"""The OU problem ``(A (d, d), b (d,))`` of dimension ``d`` and ensemble member ``s`` (float64): one draw
    per (dimension, seed), :func:`wgf_core.pde.random_ou_problem` seeded ``1000 + 100 d + s``."""
    return pde.random_ou_problem(check_int("d", d, minimum=1), make_generator(1000 + 100 * d + check_int("s", s, minimum=0)))


def run_ou(d: int, s: int, sz: dict, *, step: float = 0.05, t_eval: Sequence[float] = (0.5, 0.9), device="cpu",
           keep_frames: bool = False, show_progress: bool = False) -> dict:
    r"""One OU flow for dimension ``d`` and ensemble member ``s``: KL to :math:`N(b, A^{-1})` from :math:`N(0, I)`.

    The energy :math:`D(P\|Q)`, :math:`\log q(x) = -\frac12 (x - b)^\top A (x - b)`, with the reference
    ``sz["reference"]``; affine maps (``MapConfig("linear", width, depth)``), dual ``(width, depth + 1)``,
    ``outer``, ``inner``, ``batch`` of ``sz``, learning rates 5e-3, a carried pool of ``sz["pool"]`` samples.
    :math:`K = t_{eval}[-1] / a` steps, run with ``on_divergence="stop"``.

    Returns a dict: ``curve`` ``(K,)`` SymKL of the Gaussian fitted to ``n_eval`` samples of :math:`P_k` to the
    exact law :math:`P_{ka}`; ``at[t]`` for ``t`` in ``t_eval``: ``ours`` (``n_eval_final`` samples, to the exact
    law), ``to_jko`` (exact law of our affine flow to the exact discrete JKO), ``floor`` (exact discrete JKO to
    the exact law), ``ours_exact_law``; ``frames`` (400 samples per step when ``keep_frames``); ``step_time`` /
    ``step_wall`` (mean training CPU (on a GPU: wall) / wall seconds per step); ``diverged`` (the step at which
    the runner stopped the flow, else None; the curve and ``at`` are NaN from there) with ``diverged_msg``; ``d``,
    ``seed``. The evaluation draws come from one generator seeded ``s + 77``, in the order of the steps.
    """
    dev = check_device(device)
    K = round(t_eval[-1] / check_positive("step", step))
    A, b = ou_problem(d, s)
    A32, b32 = A.float().to(dev), b.float().to(dev)
    log_q = lambda x: -0.5 * (((x - b32) @ A32) * (x - b32)).sum(-1)
    g = make_generator(s, dev)
    scheme = VariationalJKO(
        d, lambda n, gen: torch.randn(n, d, generator=gen, device=dev), map=MapConfig("linear", sz["width"], sz["depth"]),
        dual=DualConfig(sz["width"], sz["depth"] + 1), train=TrainConfig(sz["outer"], sz["inner"], sz["batch"], 5e-3, 5e-3),
        # P_k's samples are carried from step to step (pool_size of them): the adaptive Gaussian reference mu_k
        # is fitted to them, and its sampling error enters every step
        pool=PoolConfig(sz["pool"], fresh=False), device=dev, generator=g)
    traj = run_variational(KLDivergence(log_q, reference=sz["reference"]), scheme, step, K, on_divergence="stop",
                           show_progress=show_progress, desc=f"OU d={d} seed {s}")
    done = traj.iterations
    diverged = done + 1 if traj.diverged is not None else None
    curve, frames, at = [], [], {}
    eval_gen = make_generator(s + 77, dev)
    nan4 = dict(ours=math.nan, to_jko=math.nan, floor=math.nan, ours_exact_law=math.nan)
    for k in range(1, K + 1):
        if k > done:   # a diverged run fails its claims (nan), it does not stop the notebook
            curve += [math.nan] * (K + 1 - k)
            at.update({t: dict(nan4) for t in t_eval if t not in at})
            break
        x = scheme.sample(sz["n_eval"], k=k, generator=eval_gen).double().cpu()
        m, S = fit_gaussian(x, uniform_weights(x))   # the weighted form (1/N each), as the records were made
        mt, St = pde.ou_solution(A, b, k * step)
        curve.append(float(gaussian_symkl(m, S, mt, St)))
        if keep_frames:
            frames.append(x[:400].numpy())
        for t in t_eval:
            if abs(k * step - t) < 1e-9:
                # the headline numbers use n_eval_final samples (the paper's 5e5): with fewer, the sampling
                # error of the fitted covariance dominates in high d
                xf = scheme.sample(sz["n_eval_final"], k=k, generator=eval_gen).double().cpu()
                mf, Sf = fit_gaussian(xf, uniform_weights(xf))
                mj, Sj = pde.ou_jko_gaussian(A, b, step, k)
                # the exact law of our P_k (affine maps from N(0, I)): the floor check without sampling error
                mo, So = scheme.affine_moments(torch.zeros(d), torch.eye(d), k)
                at[t] = dict(ours=float(gaussian_symkl(mf, Sf, mt, St)), to_jko=float(gaussian_symkl(mo, So, mj, Sj)),
                             floor=float(gaussian_symkl(mj, Sj, mt, St)),
                             ours_exact_law=float(gaussian_symkl(mo, So, mt, St)))
    key = "train_s" if dev.type == "cuda" else "train_cpu_s"   # the registry's reading of "training time"
    hist = scheme.history
    return dict(curve=np.array(curve), at=at, frames=frames,
                step_time=float(np.mean([h[key] for h in hist])) if hist else math.nan,
                step_wall=float(np.mean([h["train_s"] for h in hist])) if hist else math.nan,
                diverged=diverged, diverged_msg=traj.diverged, d=d, seed=s)


#: The OU step size a and the times at which the error is read (Sec. 4.2; t = 0.9 is K = 18 steps).
OU_STEP, OU_T_EVAL = 0.05, (0.5, 0.9)


def run_ou_ensemble(st: Setup) -> dict:
    """:func:`run_ou` for every seed of ``st`` (outer loop: each seed's times are measured close together) and
    dimension ``st.sizes["dims"]``, frames kept for the first seed in the first dimension; prints one line per
    dimension.

    Returns a dict: ``results`` (d -> list over seeds of :func:`run_ou`'s dicts), ``law`` (d -> log10 SymKL of the
    exact discrete JKO over ``OU_LAW_DRAWS`` draws of the problem law, seeded ``10**7 + seed``: the precision of
    one draw against the paper's mean), ``rows`` (the table at t = 0.9 per dimension: ``d``, ``paper``, per seed
    ``ours``, ``floor``, ``to_jko`` in log10, ``law_mean``, ``law_sd``, ``step_s``), ``dims``, ``seeds``, ``K``,
    ``stiffness`` (d -> per seed :math:`a\\lambda_{\\max}(A)` of the draw).
    """
    sz, dims, seeds = st.sizes, st.sizes["dims"], st.seeds
    K = round(OU_T_EVAL[-1] / OU_STEP)
    results = {d: [] for d in dims}
    for s in seeds:
        for d in dims:
            # one flow per (dimension, seed), run by the one runner; a diverged run is recorded (nan), not raised
            results[d].append(run_ou(d, s, sz, step=OU_STEP, t_eval=OU_T_EVAL, device=st.device,
                                     keep_frames=(d == dims[0] and s == seeds[0])))
    law = {d: pde.ou_floor_law(d, OU_STEP, K, OU_LAW_DRAWS, make_generator(10**7 + st.seed)) for d in dims}
    lg = lambda v: math.log10(v) if v > 0 else math.nan   # nan for a diverged run
    rows = []
    for d in dims:
        rs = results[d]
        rows.append(dict(d=d, paper=OU_PAPER_T09.get(d), ours=[lg(r["at"][0.9]["ours"]) for r in rs],
                         floor=[math.log10(pde.ou_jko_floor(*ou_problem(d, s), OU_STEP, K)) for s in seeds],
                         to_jko=[lg(r["at"][0.9]["to_jko"]) for r in rs], law_mean=float(law[d].mean()),
                         law_sd=float(law[d].std(ddof=1)), step_s=[r["step_time"] for r in rs]))
        print(f"d={d:3d}: log10 SymKL(t=0.9) per seed " + _f2(rows[-1]["ours"]) + "; exact-JKO floor of the same "
              "draws " + _f2(rows[-1]["floor"]) + f"; law over {OU_LAW_DRAWS} draws: mean {rows[-1]['law_mean']:.2f}, "
              f"sd {rows[-1]['law_sd']:.2f}")
    stiffness = {d: [OU_STEP * float(torch.linalg.eigvalsh(ou_problem(d, s)[0]).max()) for s in seeds] for d in dims}
    return dict(results=results, law=law, rows=rows, dims=dims, seeds=seeds, K=K, stiffness=stiffness)


def _f2(values) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def ou_figure(ens: dict):
    """Fig. 3: log10 SymKL versus d at each evaluation time (one dot per seed, the exact discrete JKO of the same
    draws, the paper's values at t = 0.9 with the band of :data:`OU_BAND_SD` sd of one draw) and the training time
    per step versus d, one line per seed. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ds, res = ens["dims"], ens["results"]
    for ax, t in zip(axes[:2], OU_T_EVAL):
        ok = {d: [r for r in res[d] if r["diverged"] is None] for d in ds}
        seed_dots(ax, ds, [[math.log10(r["at"][t]["ours"]) for r in ok[d]] for d in ds],
                  floors=[[math.log10(r["at"][t]["floor"]) for r in ok[d]] for d in ds],
                  label="ours (one dot per seed)", floor_label="exact discrete JKO, same draws")
        if t == 0.9:
            pd = [d for d in ds if d in OU_PAPER_T09]
            ax.errorbar(pd, [OU_PAPER_T09[d] for d in pd], yerr=[OU_BAND_SD * ens["law"][d].std(ddof=1) for d in pd],
                        fmt="rs", capsize=3, label=f"paper (15 repeats) ± {OU_BAND_SD:g} sd of one draw")
        ax.set(xlabel="dimension d", ylabel="log10 SymKL", title=f"t = {t}")
        ax.legend(fontsize=8)
    seed_lines(axes[2], ds, [[res[d][i]["step_time"] for d in ds] for i in range(len(ens["seeds"]))],
               labels=[f"seed {s}" for s in ens["seeds"]], marker="o")
    axes[2].set(xlabel="dimension d", ylabel="training time per JKO step (s, CPU time on a CPU)", title="cost vs d",
                ylim=(0, None))
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def ou_table(ens: dict) -> str:
    """The Markdown table of log10 SymKL at t = 0.9: paper, ours per seed, the exact-JKO floor of the same draws,
    ours to the exact JKO (exact law of ours), and the law's mean ± sd."""
    lines = ["| d | paper | ours, per seed | exact-JKO floor, same draws | ours to exact JKO (exact law of ours) | "
             "law: mean ± sd |", "|---|---|---|---|---|---|"]
    for r in ens["rows"]:
        paper = "—" if r["paper"] is None else f"{r['paper']:.2f}"
        lines.append(f"| {r['d']} | {paper} | {_f2(r['ours'])} | {_f2(r['floor'])} | {_f2(r['to_jko'])} | "
                     f"{r['law_mean']:.2f} ± {r['law_sd']:.2f} |")
    return ("log10 SymKL at t = 0.9 (seeds " + ", ".join(map(str, ens["seeds"])) + "; law: the exact discrete JKO "
            f"over {OU_LAW_DRAWS} draws of the problem)\n\n" + "\n".join(lines))


def ou_frames(ens: dict) -> tuple[np.ndarray, list]:
    """``(frames (K, n, d), times)``: the kept samples (n <= 400) of :math:`P_k` of the first seed in the first dimension."""
    frames = np.stack(ens["results"][ens["dims"][0]][0]["frames"])
    return frames, [OU_STEP * (k + 1) for k in range(len(frames))]


def ou_curve_figures(ens: dict) -> dict:
    """``{"d = ...": figure}``: SymKL to the exact :math:`P_t` along the flow, mean ± sd over the seeds."""
    import matplotlib.pyplot as plt

    ts = OU_STEP * np.arange(1, ens["K"] + 1)
    figs = {}
    for d in ens["dims"]:
        figs[f"d = {d}"], ax = plt.subplots(figsize=(5, 3.5))
        band_curves(ax, {"ours": (ts, np.stack([r["curve"] for r in ens["results"][d]]))}, xlabel="time t",
                    ylabel="SymKL to exact P_t", title=f"d = {d}")
    return figs


def ou_live(st: Setup, d: int = 2, outer: int = 20):
    """The live panel's run: one flow of the first seed in dimension ``d`` with ``outer`` map updates per step
    (20000 evaluation samples, a pool of 100000); its SymKL curve."""
    import matplotlib.pyplot as plt

    sz = dict(st.sizes, outer=int(outer), n_eval=20000, n_eval_final=20000, pool=100000)
    r = run_ou(int(d), st.seeds[0], sz, step=OU_STEP, t_eval=OU_T_EVAL, device=st.device)
    f, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(OU_STEP * np.arange(1, len(r["curve"]) + 1), r["curve"])
    ax.set(xlabel="time t", ylabel="SymKL to exact P_t", title=f"d = {d}, J1 = {outer}")
    return f


def _ou_diverged_reason(ens: dict, d: int) -> str:
    """Generated note on the seeds of dimension d whose run diverged, with the stiffness a * lambda_max(A) of the draw."""
    out = []
    for i, res in enumerate(ens["results"][d]):
        if res["diverged"]:
            out.append(f"seed {res['seed']} diverged at step {res['diverged']} (the runner: {res['diverged_msg']}; "
                       f"its draw has a * lambda_max(A) = {ens['stiffness'][d][i]:.2g})")
    return "; ".join(out)


#: The claims of the OU notebook, for the dimensions run.
OU_CLAIM_IDS = [f"ou-{kind}-d{d}" for d in OU_DIMS for kind in ("symkl", "floor")] + ["ou-time-vs-d"]


def ou_verdicts(st: Setup, ens: dict) -> list:
    """Assess the OU claims (:mod:`wgf_core.claims.variational`) over the seeds and display the record
    (:func:`~wgf_core.reporting.record_metrics`); returns the claim entries."""
    sizes, seeds, ds, results = st.sizes, ens["seeds"], ens["dims"], ens["results"]
    used = dict(sizes, n_seeds=len(seeds))
    notes = ["P_k's samples: a pool carried from step to step, to which the reference mu_k is fitted (the paper does "
             "not state the size of its fit)"]
    if sizes["reference"] == "pushed":
        notes.append("changed scheme: the KL formula's Gaussian reference is refitted at every map iteration to 20000 "
                     "pool points pushed by the current map (reference='pushed'), not fitted once to P_k (the paper); "
                     "the formula holds for any reference, and with the paper's the affine runs diverged on stiff draws "
                     "in d = 12 and 32")
    conf = configuration(st.profile, used, st.paper, notes)
    entries = []
    for r in ens["rows"]:
        why = _ou_diverged_reason(ens, r["d"])
        if r["paper"] is not None:
            entries.append(assess(get_claim(f"ou-symkl-d{r['d']}"),
                                  [dict(log10_symkl=v, paper=r["paper"], law_sd=r["law_sd"]) for v in r["ours"]],
                                  seeds, configuration=conf, reason=why))
        entries.append(assess(get_claim(f"ou-floor-d{r['d']}"),
                              [dict(symkl_to_jko=res["at"][0.9]["to_jko"], symkl_jko_to_exact=res["at"][0.9]["floor"])
                               for res in results[r["d"]]], seeds, configuration=conf, reason=why))
    time_notes = notes + ([] if st.device.type == "cuda" else ["time on a CPU: CPU time of the training loop, one "
                                                               "thread (the paper: wall time on a GPU)"])
    entries.append(assess(get_claim("ou-time-vs-d"),
                          [dict(seconds_per_step=[results[d][i]["step_time"] for d in ds], dims=ds)
                           for i in range(len(seeds))], seeds,
                          configuration=configuration(st.profile, used, st.paper, time_notes)))
    assert {e["id"] for e in entries} <= set(OU_CLAIM_IDS)
    ok = [r for d in ds for r in results[d] if r["diverged"] is None]
    all_curves = np.concatenate([r["curve"] for r in ok] or [np.zeros(1)])
    diverged = [dict(d=r["d"], seed=r["seed"], step=r["diverged"]) for d in ds for r in results[d] if r["diverged"]]
    record_metrics(
        st.key, st.profile, st.seed, entries,
        checks={"no_nan": bool(np.isfinite(all_curves).all()), "no_run_diverged": not diverged,
                "error_decreases_from_the_start": bool(all(r["curve"][-1] < r["curve"][0] * 5 + 1 for r in ok))},
        metrics={"rows": [{k: v for k, v in r.items() if k != "step_s"} for r in ens["rows"]], "sizes": sizes,
                 "seeds": seeds, "diverged": diverged},
        timings={"seconds_per_step": {str(r["d"]): r["step_s"] for r in ens["rows"]},
                 "wall_seconds_per_step": {str(d): [res["step_wall"] for res in results[d]] for d in ds}})
    return entries


def ou_glue(st: Setup, ens: dict, entries: list) -> dict:
    """The values the OU notebook's text glues, by name (verdicts by dimension, the floor gap, divergences, the
    stiffness of the draws, the training-time spread)."""
    by_id = {e["id"]: e for e in entries}
    ds, rows = ens["dims"], ens["rows"]
    paper_ids = [f"ou-symkl-d{d}" for d in ds if d in OU_PAPER_T09]
    floor_ids = [f"ou-floor-d{d}" for d in ds]

    def dims_with(ids, status):
        hit = [i.rsplit("-d", 1)[1] for i in ids if by_id[i]["status"] == status]
        return ", ".join(hit) if hit else "none"

    out = dict(ou_n_seeds=len(ens["seeds"]), ou_law_draws=OU_LAW_DRAWS)
    for status in ("pass", "differs", "unstable"):
        out[f"ou_paper_{status}"] = dims_with(paper_ids, status)
        out[f"ou_floor_{status}"] = dims_with(floor_ids, status)
    below = [r["d"] for r in rows if r["paper"] is not None and max(r["floor"]) < r["paper"] - OU_BAND_SD * r["law_sd"]]
    out["ou_floor_below_band"] = ", ".join(map(str, below)) if below else "none"
    gap = [v - f for r in rows for v, f in zip(r["ours"], r["floor"]) if math.isfinite(v)] or [math.nan]
    reasons = {d: _ou_diverged_reason(ens, d) for d in ds}
    out["ou_diverged"] = "; ".join(f"d = {d}: " + why for d, why in reasons.items() if why) or "none"
    out["ou_gap_min"], out["ou_gap_max"] = min(gap), max(gap)
    e_t = by_id["ou-time-vs-d"]
    out["ou_time_verdict"] = e_t["status"]
    out["ou_time_dev_pct"] = 100 * e_t["max"] if e_t["max"] is not None else float("nan")
    t_all = [t for r in rows for t in r["step_s"]]
    out["ou_time_ratio"] = max(t_all) / min(t_all)
    stiff = [a for d in ds for a in ens["stiffness"][d]]
    out["ou_reference"] = f'`reference="{st.sizes["reference"]}"`'
    out["ou_stiff_max"] = max(stiff)
    out["ou_stiff_count"] = sum(a > 1 for a in stiff)
    out["ou_n_runs"] = len(stiff)
    out["ou_n_diverged"] = sum(r["diverged"] is not None for d in ds for r in ens["results"][d])
    return out


# --------------------------------------------------------------------------------------------
# Porous medium (Sec. 4.3)
# --------------------------------------------------------------------------------------------
def porous_scheme(n: int, sz: dict, outer: int, run_seed: int, *, m: float = 2.0, t0: float = 0.002,
                  margin: float = 0.5, device="cpu") -> tuple[GeneralizedEntropy, VariationalJKO]:
    r"""``(energy, scheme)`` of the porous-medium flow in ``n`` dimensions from the Barenblatt profile at
    ``t0``: :math:`\frac1{m-1}\int P^m` with a reference box of ``margin`` x the side on each side, ICNN maps
    ``(width, depth)`` of ``sz``, dual 16 x 3, ``outer`` map updates, ``inner``, ``batch``, learning rate
    ``lr`` decaying to ``lr_final_factor`` x within each step, a fresh pool of ``sz["pool"]`` samples per
    step, networks seeded from ``run_seed``."""
    dev = check_device(device)
    p0 = lambda k, gen: pde.barenblatt_sample(k, n, 0.0, m=m, t0=t0, generator=gen, device=dev)
    scheme = VariationalJKO(n, p0, map=MapConfig("icnn", sz["width"], sz["depth"]), dual=DualConfig(16, 3),
                            train=TrainConfig(outer, sz["inner"], sz["batch"], sz["lr"], sz["lr"],
                                              lr_final_factor=sz["lr_final_factor"]),
                            pool=PoolConfig(sz["pool"]), device=dev, generator=make_generator(run_seed, dev))
    return GeneralizedEntropy(m, margin=margin), scheme


#: The porous-medium step a, start time t0 of the Barenblatt profile and exponent m (Sec. 4.3).
PME_STEP, PME_T0, PME_M = 0.001, 0.002, 2.0


def pme_mass_check() -> str:
    """The normalisation check of the notebook: the mass of the 1-D profile with the paper's
    :math:`C = (3/16)^{1/3}` (2) and with the unit-mass constant (1, :math:`C = (3/64)^{1/3}` for m = 2, n = 1)."""
    return (f"mass with the paper's C=(3/16)^(1/3): {pde.barenblatt_mass_1d(0.0, C=(3 / 16) ** (1 / 3), t0=PME_T0):.6f}"
            f" | with the unit-mass C: {pde.barenblatt_mass_1d(0.0, t0=PME_T0):.6f} = "
            f"{pde.barenblatt_unit_mass_C(PME_M, 1):.6f} vs (3/64)^(1/3) = {(3 / 64) ** (1 / 3):.6f}")


def pme_flow(st: Setup, n: int, outer: int, run_seed: int) -> tuple[GeneralizedEntropy, VariationalJKO]:
    """:func:`porous_scheme` in ``n`` dimensions with the notebook's constants. The uniform reference box adds
    ``margin`` x (side length) on each side of P_k's support; in n dimensions a wide margin leaves few reference
    samples on the support (margin 0.5 in 6-D: the box is 2^6 = 64x the support's box), so the n-D runs use
    ``margin_hd``. Fresh samples of P_k per step (with a pool of only 20 batches the dual network overfits that
    pool); the learning rates decay to ``lr_final_factor`` x within each step."""
    sz = st.sizes
    return porous_scheme(n, sz, outer, run_seed, m=PME_M, t0=PME_T0, margin=sz["margin"] if n == 1 else sz["margin_hd"],
                         device=st.device)


def run_pme_1d(st: Setup) -> dict:
    """The 1-D flows, one per seed, against the exact Barenblatt profile and the discrete JKO reference
    (:func:`wgf_core.pde.porous_medium_jko_1d`, 400 cells), on a grid ``xs`` of 801 points over 1.3 x the support.

    Returns a dict: ``K``, ``ref`` (the reference's Lagrangian states), ``xs``, ``flows`` (the schemes), ``dens``
    (per seed, k -> our density by change of variables), ``tables`` (per seed, per step ``k``: ``t``,
    ``ours_ref``, ``ours_exact``, ``ref_exact`` L1 distances and our ``mass``), ``samples`` (20000 samples of the
    first seed's last step, from its generator). Prints one line per seed.
    """
    K = st.sizes["n_steps"]
    ref = pde.porous_medium_jko_1d(400, PME_STEP, K, m=PME_M, t0=PME_T0)
    R = 1.3 * pde.barenblatt_support_radius(K * PME_STEP, PME_M, 1, pde.barenblatt_unit_mass_C(PME_M, 1), PME_T0)
    xs = np.linspace(-R, R, 801)
    log_p0 = lambda x: torch.log(pde.barenblatt(x.double(), 0.0, m=PME_M, t0=PME_T0))
    y = torch.as_tensor(xs, dtype=torch.float32, device=st.device)[:, None]
    flows, dens, tables = [], [], []
    for s in st.seeds:
        energy, flow = pme_flow(st, 1, st.sizes["outer"], s)
        run_variational(energy, flow, PME_STEP, K, desc=f"1-D JKO seed {s}")
        d_s = {k: pushforward_log_density(flow.maps[:k], lambda x: log_p0(x).to(x.dtype), y, tol=1e-5).exp().cpu()
               .double().numpy() for k in range(1, K + 1)}
        table = []
        for k in range(1, K + 1):
            exact = pde.barenblatt(xs[:, None], k * PME_STEP, m=PME_M, t0=PME_T0)
            refd = pde.lagrangian_density(ref[k], xs)
            table.append(dict(k=k, t=PME_T0 + k * PME_STEP, ours_ref=pde.l1_distance_1d(d_s[k], refd, xs),
                              ours_exact=pde.l1_distance_1d(d_s[k], exact, xs),
                              ref_exact=pde.l1_distance_1d(refd, exact, xs), mass=float(np.trapezoid(d_s[k], xs))))
        flows.append(flow)
        dens.append(d_s)
        tables.append(table)
        print(f"seed {s}: L1(ours, JKO ref) per step " + ", ".join(f"{r['ours_ref']:.4f}" for r in table)
              + f"; L1(JKO ref, exact) at the last step {table[-1]['ref_exact']:.4f}")
    samples = flows[0].sample(20000).cpu().numpy()[:, 0]
    return dict(K=K, ref=ref, xs=xs, flows=flows, dens=dens, tables=tables, samples=samples, seeds=st.seeds)


def _pme_densities(ax, pm: dict, k: int, seeds: Optional[int] = None):
    """Exact Barenblatt profile, discrete JKO reference and the density of the first ``seeds`` seeds (all by
    default) at step ``k``."""
    xs, dens = pm["xs"], pm["dens"][:seeds]
    ax.plot(xs, pde.barenblatt(xs[:, None], k * PME_STEP, m=PME_M, t0=PME_T0), "k-", label="exact Barenblatt")
    ax.plot(xs, pde.lagrangian_density(pm["ref"][k], xs), "g--", label="discrete JKO reference")
    label = f"ours, seed {pm['seeds'][0]}" if len(dens) == 1 else "ours (change of variables), one line per seed"
    seed_lines(ax, xs, [d_s[k] for d_s in dens], label=label, color="r", lw=1)
    ax.set(xlabel="x", ylabel="density")


def pme_figure(pm: dict):
    """Fig. 4 at the last step: a histogram of the first seed's samples, the exact profile, the discrete JKO
    reference and every seed's density; and the L1 distances per step, one line per seed. Returns the figure."""
    import matplotlib.pyplot as plt

    K, tables = pm["K"], pm["tables"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4))
    ax.hist(pm["samples"], bins=80, density=True, color="tab:blue", alpha=0.25,
            label=f"ours, seed {pm['seeds'][0]} (histogram of samples)")
    _pme_densities(ax, pm, K)
    ax.set(title=f"t = t0 + {K} a = {PME_T0 + K * PME_STEP:.3f}")
    ax.legend(fontsize=8)
    ks = [r["k"] for r in tables[0]]
    ax2.plot(ks, [r["ref_exact"] for r in tables[0]], "ko-", label="L1(discrete JKO, exact)")
    seed_lines(ax2, ks, [[r["ours_ref"] for r in tb] for tb in tables], label="L1(ours, discrete JKO)", color="C0",
               marker="o")
    seed_lines(ax2, ks, [[r["ours_exact"] for r in tb] for tb in tables], label="L1(ours, exact)", color="C1",
               marker="s", ls="--")
    ax2.set(xlabel="JKO step k", ylabel="L1 distance", yscale="log", title="one line per seed")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pme_step_figures(pm: dict) -> dict:
    """``{"k = ...": figure}``: the densities at every step (exact, discrete JKO, the first seed)."""

    def draw(ax, _, k):
        _pme_densities(ax, pm, k, seeds=1)
        ax.set(title=f"k = {k}")
        ax.legend(fontsize=7)

    return {f"k = {k}": panel_grid([0], [k], draw, size=(5, 3.2)) for k in range(1, pm["K"] + 1)}


def pme_frames(st: Setup, pm: dict) -> tuple[np.ndarray, list]:
    """``(frames (K + 1, 300, 2), times)``: 300 fresh samples of the first seed's :math:`P_0` (seeded ``seed + 5``)
    pushed to every step, drawn against the particle index (vertical axis in [-1, 1])."""
    flow = pm["flows"][0]
    x = push_frames(flow, flow.sample_p0(300, make_generator(st.seeds[0] + 5, st.device)).to(st.device))
    frames = np.stack([np.stack([f[:, 0], np.linspace(-1, 1, 300)], 1) for f in x])
    return frames, [PME_T0 + k * PME_STEP for k in range(len(frames))]


def run_pme_hd(st: Setup) -> dict:
    """The n-D flows (``dims_hd``, ``steps_hd`` steps, ``outer_hd`` map updates), per seed and dimension seeded
    ``seed * 2**20 + n``: :math:`E|X|^2` of 20000 samples at every step against the Barenblatt profile's.

    Returns ``hd`` (rows ``seed``, ``n``, ``k``, ``ours``, ``exact``) and ``growth`` (per seed, n -> growth of ours /
    exact growth over the run). Prints one line per seed.
    """
    sz, hd, growth = st.sizes, [], []
    for s in st.seeds:
        g_s = {}
        for n in sz["dims_hd"]:
            e_n, f_n = pme_flow(st, n, sz["outer_hd"], s * 2**20 + n)
            run_variational(e_n, f_n, PME_STEP, sz["steps_hd"], desc=f"{n}-D JKO seed {s}")
            for k in range(0, sz["steps_hd"] + 1):
                x = f_n.sample(20000, k=k).double()
                hd.append(dict(seed=s, n=n, k=k, ours=float((x**2).sum(-1).mean()),
                               exact=pde.barenblatt_second_moment(k * PME_STEP, n, m=PME_M, t0=PME_T0)))
            rr = [r for r in hd if r["n"] == n and r["seed"] == s]
            g_s[n] = (rr[-1]["ours"] - rr[0]["ours"]) / (rr[-1]["exact"] - rr[0]["exact"])
        growth.append(g_s)
        print(f"seed {s}: spreading ratio (growth of E|X|^2 / exact growth):", {n: round(v, 3) for n, v in g_s.items()})
    return dict(hd=hd, growth=growth)


def pme_hd_figure(st: Setup, hdr: dict):
    """:math:`E|X|^2` over the steps per dimension (one line per seed) and the Barenblatt profile's (dashed)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ks = list(range(st.sizes["steps_hd"] + 1))
    for c, n in enumerate(st.sizes["dims_hd"]):
        rows = [[r["ours"] for r in hdr["hd"] if r["n"] == n and r["seed"] == s] for s in st.seeds]
        seed_lines(ax, ks, rows, label=f"ours, n={n} (one line per seed)", color=f"C{c}", marker="o")
        ax.plot(ks, [r["exact"] for r in hdr["hd"] if r["n"] == n and r["seed"] == st.seeds[0]], "k--", lw=1)
    ax.set(xlabel="JKO step k", ylabel="E|X|^2 (dashed: Barenblatt)")
    ax.legend()
    return fig


def pme_live(st: Setup, pm: dict, n_steps: int = 3, outer: int = 100):
    """The live panel's run: a 1-D flow of the first seed with ``outer`` map updates, ``n_steps`` steps; a
    histogram of its samples against the exact profile."""
    import matplotlib.pyplot as plt

    e_l, f_l = pme_flow(st, 1, int(outer), st.seeds[0])
    run_variational(e_l, f_l, PME_STEP, int(n_steps))
    f, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(f_l.sample(20000).cpu().numpy()[:, 0], bins=60, density=True, alpha=0.4, label="ours")
    xs = pm["xs"]
    ax.plot(xs, pde.barenblatt(xs[:, None], n_steps * PME_STEP, m=PME_M, t0=PME_T0), "k-", label="exact")
    ax.set(xlabel="x", ylabel="density")
    ax.legend()
    return f


def pme_verdicts(st: Setup, pm: dict, hdr: dict) -> list:
    """Assess the porous-medium claims over the seeds and display the record; returns the claim entries."""
    sizes, seeds, tables, growth = st.sizes, st.seeds, pm["tables"], hdr["growth"]
    notes = ["the paper's step count for Fig. 4 is not stated"]
    if sizes["lr_final_factor"] != 1.0:
        notes.append(f"learning rates decay linearly to {sizes['lr_final_factor']:g} x within each step (the paper: "
                     "constant)")
    notes += [f"a fresh pool of {sizes['pool']} samples of P_k per step (the paper does not state one)",
              "discrete JKO reference: the Lagrangian (quantile) form of the 1-D JKO step with 400 cells, instead of "
              "the paper's CVXOPT coupling program (App. C.3)"]
    conf = configuration(st.profile, sizes, st.paper, notes)
    conf_hd = configuration(st.profile, dict(sizes, outer=sizes["outer_hd"]), st.paper,
                            [n for n in notes if "discrete JKO" not in n]
                            + [f"{sizes['steps_hd']} steps; reference box margin {sizes['margin_hd']:g} x the side"])
    entries = [
        assess(get_claim("pme-1d-time-discretisation-dominates"),
               [dict(l1_ours_ref=tb[-1]["ours_ref"], l1_ours_exact=tb[-1]["ours_exact"],
                     l1_ref_exact=tb[-1]["ref_exact"]) for tb in tables], seeds, configuration=conf),
        assess(get_claim("pme-hd-spreading"),
               [dict(growth=[g[n] for n in sizes["dims_hd"]], dims=sizes["dims_hd"]) for g in growth], seeds,
               configuration=conf_hd),
    ]
    last = [tb[-1] for tb in tables]
    record_metrics(
        st.key, st.profile, st.seed, entries,
        checks={"no_nan": bool(all(np.isfinite(v).all() for d_s in pm["dens"] for v in d_s.values())),
                "mass_close_to_one": bool(all(abs(r["mass"] - 1) < 0.1 for r in last)),
                "spreads": bool(np.var(pm["samples"]) > pde.barenblatt_second_moment(0.0, 1, t0=PME_T0))},
        metrics={"l1_tables": tables, "hd": hdr["hd"], "growth": [{str(n): v for n, v in g.items()} for g in growth],
                 "sizes": sizes, "seeds": seeds})
    return entries


def pme_glue(st: Setup, pm: dict, hdr: dict, entries: list) -> dict:
    """The values the porous-medium notebook's text glues, by name."""
    tables, seeds = pm["tables"], st.seeds
    last = [tb[-1] for tb in tables]
    holds = [[r["k"] for r in tb if r["ours_ref"] < min(r["ours_exact"], r["ref_exact"])] for tb in tables]
    return dict(
        pme_n_seeds=len(seeds), pme_K=pm["K"], pme_ours_ref_min=min(r["ours_ref"] for r in last),
        pme_ours_ref_max=max(r["ours_ref"] for r in last), pme_ref_exact=last[0]["ref_exact"],
        pme_holds_at="; ".join(f"seed {s}: " + (", ".join(map(str, h)) if h else "none") for s, h in zip(seeds, holds)),
        pme_1d_verdict=entries[0]["status"], pme_hd_verdict=entries[1]["status"],
        pme_growth="; ".join(f"n = {n}: " + ", ".join(f"{g[n]:.2f}" for g in hdr["growth"])
                             for n in st.sizes["dims_hd"]))


# --------------------------------------------------------------------------------------------
# Aggregation-diffusion (Sec. 4.4)
# --------------------------------------------------------------------------------------------
def aggregation_scheme(mode: str, sz: dict, run_seed: int, *, outer: Optional[int] = None, m: float = 3.0,
                       nu: float = 0.1, interaction: Optional[Interaction] = None,
                       device="cpu") -> tuple[WithInteraction, VariationalJKO]:
    r"""``(energy, scheme)`` of :math:`\partial_t P = \nabla\cdot(P\nabla W * P) + \nu\Delta P^m` from the uniform
    law on :math:`[-3, 3]^2`: :math:`\nu\mathcal G_m + \mathcal W` (``interaction``, default
    :func:`gaussian_attraction`), ``mode`` "fb" or "non_fb", ICNN maps, dual 16 x 3, a carried pool of
    ``sz["pool"]`` particles."""
    dev = check_device(device)
    check_choice("mode", mode, ("fb", "non_fb"))
    p0 = lambda n, gen: 3 * (2 * torch.rand(n, 2, generator=gen, device=dev) - 1)
    scheme = VariationalJKO(2, p0, mode=mode, map=MapConfig("icnn", sz["width"], sz["depth"]), dual=DualConfig(16, 3),
                            train=TrainConfig(outer or sz["outer"], sz["inner"], sz["batch"], sz["lr"], sz["lr"]),
                            pool=PoolConfig(sz["pool"], fresh=False), device=dev,
                            generator=make_generator(run_seed, dev))
    inter = gaussian_attraction() if interaction is None else interaction
    return WithInteraction(GeneralizedEntropy(m, weight=nu), inter), scheme


def run_aggregation(mode: str, steps: int, run_seed: int, sz: dict, *, step: float = 0.5, keep: bool = False,
                    energy_points: int = 1500, **kw) -> dict:
    """``steps`` steps of :func:`aggregation_scheme`; per step ``k = 1..steps`` of the carried cloud: ``modes``
    (:func:`count_density_modes`), ``spread`` (:func:`quadrant_spread`) and ``energy`` (the interaction's
    U-statistic on its first ``energy_points`` particles); ``timeline`` (:func:`pulse_timeline`), ``seed``,
    ``wall`` (seconds of the steps); with ``keep``, the scheme (``flow``) and 3000 fresh :math:`P_0` samples
    (``x0``, seeded ``run_seed + 11``). Extra keywords go to :func:`aggregation_scheme`."""
    energy, scheme = aggregation_scheme(mode, sz, run_seed, **kw)
    traj = run_variational(energy, scheme, step, check_int("steps", steps), snapshot_every=1,
                           desc=f"{mode} seed {run_seed}")
    clouds = traj.x_snapshots[1:, 0]   # the carried particle cloud of P_k, k = 1..steps
    modes = [count_density_modes(x) for x in clouds]
    spread = [quadrant_spread(x) for x in clouds]
    inter = energy.interaction
    en = [float(inter.energy(torch.as_tensor(x[:energy_points], device=scheme.device))) for x in clouds]
    out = dict(modes=np.array(modes), energy=np.array(en), spread=np.array(spread), timeline=pulse_timeline(modes),
               seed=run_seed, wall=sum(h["time_s"] for h in scheme.history))
    if keep:
        out["flow"] = scheme
        out["x0"] = scheme.sample_p0(3000, make_generator(run_seed + 11, scheme.device))
    return out


class PushCache:
    """Fresh :math:`P_0` samples ``x0`` ``(n, d)`` pushed through the first ``k`` stored stages of ``scheme``
    (:meth:`get`, a host array ``(n, d)``), cached; each push starts from the latest cached earlier step."""

    def __init__(self, scheme: VariationalJKO, x0: torch.Tensor):
        self.scheme, self.x0, self._cache = scheme, x0, {}

    def get(self, k: int) -> np.ndarray:
        k = check_int("k", k, minimum=0)
        if k > len(self.scheme.maps):
            raise ParameterError(f"parameter 'k' = {k}: the scheme has {len(self.scheme.maps)} stored steps")
        if k not in self._cache:
            j0 = max((j for j in self._cache if j < k), default=0)
            x = torch.as_tensor(self._cache[j0], device=self.scheme.device) if j0 else self.x0
            self._cache[k] = self.scheme.push(x, k, start=j0).cpu().numpy()
        return self._cache[k]


def pulse_timeline(modes, pulses: int = 4) -> dict:
    """Steps of a mode-count series ``modes[k - 1]`` = modes of :math:`P_k`, ``k = 1..K``.

    Returns ``first`` (first k with ``pulses`` modes), ``last`` (last such k) and ``one_from`` (the k
    from which the count is 1 up to K), each ``None`` when it does not occur.
    """
    m = np.asarray(modes)
    hits = np.flatnonzero(m == pulses)
    not_one = np.flatnonzero(m != 1)
    one_from = None
    if len(m) and m[-1] == 1:
        one_from = int(not_one[-1]) + 2 if len(not_one) else 1
    return {"first": int(hits[0]) + 1 if len(hits) else None, "last": int(hits[-1]) + 1 if len(hits) else None,
            "one_from": one_from}


def quadrant_spread(x, weights=None) -> float:
    r"""Width of four pulses centred one per quadrant: the mass-weighted mean over the quadrants of
    :math:`\big(\mathbb E_q|X - \mathbb E_q X|^2\big)^{1/2}`, ``E_q`` the (weighted) mean over the points of
    quadrant ``q`` (a point on an axis counts to the positive side).

    ``x`` is ``(n, 2)`` (tensor or array); ``weights`` ``(n,)`` as in :func:`count_density_modes`. For a
    symmetric four-pulse state this is the pulses' RMS radius; for one pulse at the origin, its RMS radius
    restricted to each quadrant.
    """
    x = to_numpy(x)
    w = np.ones(len(x)) if weights is None else to_numpy(weights)
    q = (x[:, 0] >= 0).astype(int) + 2 * (x[:, 1] >= 0).astype(int)
    total, acc = 0.0, 0.0
    for i in range(4):
        sel = (q == i) & (w > 0)
        wq = w[sel]
        if wq.sum() <= 0:
            continue
        mu = (wq[:, None] * x[sel]).sum(0) / wq.sum()
        acc += wq.sum() * math.sqrt((wq * ((x[sel] - mu) ** 2).sum(1)).sum() / wq.sum())
        total += wq.sum()
    return acc / total


def count_density_modes(x, *, weights=None, bins: int = 48, extent: float = 4.0, smooth: float = 1.5,
                        contrast: float = 3.0, relative: float = 0.2) -> int:
    """Number of concentrated modes ("pulses") of a 2-D sample cloud ``(n, 2)``.

    The histogram on ``[-extent, extent]^2`` is smoothed by a Gaussian filter of ``smooth`` bins; the
    modes are the connected regions where it exceeds both ``contrast`` x the mean of the occupied
    smoothed bins and ``relative`` x its maximum. A flat (e.g. uniform) cloud has 0 modes, four
    separated pulses have 4, and a flat-topped pulse counts once (its plateau is one region, however
    rippled). ``x`` is a tensor or array; ``weights`` ``(n,)`` weighs the points (e.g. the cell centres
    of a grid density with weights density x cell area, so a grid solution is counted like a sample
    cloud; use cells that tile the bins, else the histogram aliases).
    """
    from scipy import ndimage

    x = to_numpy(x)
    w = None if weights is None else to_numpy(weights)
    h, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=bins, range=[[-extent, extent], [-extent, extent]], weights=w)
    hs = ndimage.gaussian_filter(h, smooth)
    occupied = hs[hs > 1e-3 * hs.max()]
    level = max(contrast * occupied.mean(), relative * hs.max())
    return int(ndimage.label(hs > level)[1])


#: The aggregation-diffusion step a, exponent m and diffusion weight nu (Sec. 4.4).
AGG_STEP, AGG_M, AGG_NU = 0.5, 3.0, 0.1


def agg_reference(st: Setup) -> dict:
    """The finite-volume reference (:class:`wgf_core.pde.AggregationDiffusionFV`, ``fv_cells`` per axis on
    :math:`[-4, 4]^2`) from the uniform probability on :math:`[-3, 3]^2`, read at the JKO times ``t = a k`` up to
    ``K_ref`` = the largest of ``fv_steps`` and the schemes' steps (past the paper's steps: until the PDE merges).

    Returns ``fv``, ``K_ref``, ``ref`` (densities ``(K_ref + 1, n, n)``), ``cell_mass`` (per time, per cell),
    ``modes``, ``spread`` (k = 1..K_ref, counted like a particle cloud with the cell masses as weights) and
    ``timeline`` (:func:`pulse_timeline`). Prints a summary line.
    """
    sz = st.sizes
    fv = pde.AggregationDiffusionFV(n=sz["fv_cells"], extent=4.0, nu=AGG_NU, m=AGG_M)
    K_ref = max(sz["fv_steps"], sz["n_steps_fb"], sz["n_steps_nonfb"])
    ref = fv.solve(fv.uniform_square(3.0, mass=1.0), AGG_STEP * np.arange(K_ref + 1))
    X_c, Y_c = fv.grid()
    cells = np.stack([X_c.ravel(), Y_c.ravel()], 1)
    cell_mass = ref.reshape(len(ref), -1) * fv.h ** 2
    modes = np.array([count_density_modes(cells, weights=w) for w in cell_mass[1:]])
    spread = np.array([quadrant_spread(cells, weights=w) for w in cell_mass[1:]])
    out = dict(fv=fv, K_ref=K_ref, ref=ref, cell_mass=cell_mass, modes=modes, spread=spread,
               timeline=pulse_timeline(modes))
    print(f"finite volumes ({fv.n}^2 cells, h = {fv.h:.3f}) to t = {AGG_STEP * K_ref:g}; mass "
          f"{cell_mass[-1].sum():.12f}; timeline {out['timeline']}")
    return out


def run_agg(st: Setup) -> dict:
    """FB and non-FB runs (:func:`run_aggregation`) for every seed, FB first, the first seed's schemes kept.

    Returns ``runs`` (``{"fb": [...], "non_fb": [...]}``, one dict per seed) and ``push`` (per scheme, a
    :class:`PushCache` of the first seed's 3000 fresh :math:`P_0` samples). Prints each run's timeline and modes.
    """
    runs = {"fb": [], "non_fb": []}
    for s in st.seeds:
        for scheme, K in (("fb", st.sizes["n_steps_fb"]), ("non_fb", st.sizes["n_steps_nonfb"])):
            out = run_aggregation(scheme, K, s, st.sizes, step=AGG_STEP, keep=(s == st.seeds[0]), m=AGG_M, nu=AGG_NU,
                                  device=st.device)
            print(f"{scheme} seed {s}: timeline {out['timeline']}; modes over k: "
                  + "".join(str(min(v, 9)) for v in out["modes"]))
            runs[scheme].append(out)
    return dict(runs=runs, push={sc: PushCache(rs[0]["flow"], rs[0]["x0"]) for sc, rs in runs.items()})


def _paper_steps(K: int, steps: Sequence[int]) -> list:
    return [k for k in steps if k <= K] or [max(1, K // 2), K]


def agg_hist_figures(st: Setup, fvr: dict, agg: dict) -> dict:
    """Fig. 5 (FB), the finite-volume solution (the paper's FB steps and the step at which it merges) and Fig. 8
    (non-FB): 2-D histograms of the first seed's fresh samples at the paper's steps; ``{title: figure}``."""
    steps_fb = _paper_steps(st.sizes["n_steps_fb"], AGG_FB_STEPS)
    one = fvr["timeline"]["one_from"]
    steps = {"FB (Fig. 5)": ("fb", steps_fb), "finite volumes": ("fv", sorted(set(steps_fb) | ({one} if one else set()))),
             "non-FB (Fig. 8)": ("non_fb", _paper_steps(st.sizes["n_steps_nonfb"], AGG_NONFB_STEPS))}

    def draw(ax, scheme, k):
        if scheme == "fv":
            ax.imshow(fvr["ref"][k].T, origin="lower", extent=[-4, 4, -4, 4], cmap="Blues")
            ax.set(title=f"finite volumes, t = {AGG_STEP * k:g}")
        else:
            x = agg["push"][scheme].get(k)
            ax.hist2d(x[:, 0], x[:, 1], bins=60, range=[[-4, 4], [-4, 4]], cmap="Blues")
            ax.set(title=f"{scheme} k = {k}")
        ax.set(xlabel="x1", ylabel="x2", aspect="equal")

    return {title: panel_grid([scheme], ks, draw, size=(2.6, 2.8)) for title, (scheme, ks) in steps.items()}


def agg_curves_figure(st: Setup, fvr: dict, agg: dict):
    """Number of modes, pulse width and interaction energy over the steps, one line per seed and scheme, with the
    finite-volume solution's; prints the timelines. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    K_show = max(st.sizes["n_steps_fb"], st.sizes["n_steps_nonfb"])
    ks_ref = np.arange(1, K_show + 1)
    axes[0].step(ks_ref, fvr["modes"][:K_show], where="mid", color="k", lw=2.5, alpha=0.4, label="finite volumes")
    axes[1].plot(ks_ref, fvr["spread"][:K_show], color="k", lw=2.5, alpha=0.4, label="finite volumes")
    for c, (scheme, rs) in enumerate(agg["runs"].items()):
        ks, lab, style = np.arange(1, len(rs[0]["modes"]) + 1), f"{scheme} (one line per seed)", dict(lw=1, alpha=0.6)
        seed_lines(axes[0], ks, [r["modes"] for r in rs], label=lab, color=f"C{c}", draw="step", where="mid", **style)
        seed_lines(axes[1], ks, [r["spread"] for r in rs], label=lab, color=f"C{c}", **style)
        seed_lines(axes[2], ks, [r["energy"] for r in rs], label=lab, color=f"C{c}", **style)
    for ax, what in zip(axes, ("number of modes", "RMS radius per quadrant (length units)",
                               "interaction energy W(P_k)")):
        ax.set(xlabel="JKO step k (t = 0.5 k)", ylabel=what)
        ax.legend(fontsize=8)
    fig.tight_layout()
    for name, tl in ([("finite volumes", fvr["timeline"])] + [(f"{sc} seed {r['seed']}", r["timeline"])
                                                             for sc, rs in agg["runs"].items() for r in rs]):
        print(f"{name:>18}: four pulses from k = {tl['first']} to k = {tl['last']}, one pulse from k = {tl['one_from']}")
    return fig


def agg_frames(agg: dict) -> tuple[np.ndarray, list]:
    """``(frames, times)``: 400 fresh samples of the first FB seed pushed to about 24 evenly spaced steps."""
    fl = agg["runs"]["fb"][0]["flow"]
    every = max(1, len(fl.maps) // 23)
    frames = push_frames(fl, agg["runs"]["fb"][0]["x0"][:400], every)
    return frames, [AGG_STEP * k for k in range(0, len(fl.maps) + 1, every)]


def agg_live(st: Setup, scheme: str = "fb", n_steps: int = 10, outer: int = 10):
    """The live panel's run: ``n_steps`` steps of ``scheme`` for the first seed with ``outer`` map updates; a 2-D
    histogram of 3000 samples."""
    import matplotlib.pyplot as plt

    e_l, f_l = aggregation_scheme(scheme, st.sizes, st.seeds[0], outer=int(outer), m=AGG_M, nu=AGG_NU,
                                  device=st.device)
    run_variational(e_l, f_l, AGG_STEP, int(n_steps))
    x = f_l.sample(3000).cpu().numpy()
    f, ax = plt.subplots(figsize=(4, 4))
    ax.hist2d(x[:, 0], x[:, 1], bins=60, range=[[-4, 4], [-4, 4]], cmap="Blues")
    ax.set(xlabel="x1", ylabel="x2", title=f"{scheme}, k = {n_steps}")
    return f


def _agg_horizons(st: Setup) -> tuple[int, int]:
    """The paper's last FB and non-FB steps (92 and 42; fewer only at ci)."""
    return min(AGG_FB_STEPS[-1], st.sizes["n_steps_fb"]), min(AGG_NONFB_STEPS[-1], st.sizes["n_steps_nonfb"])


def agg_verdicts(st: Setup, fvr: dict, agg: dict) -> list:
    """Assess the aggregation claims at the paper's steps over the seeds and display the record; returns the
    claim entries."""
    sizes, seeds, runs, tl_ref = st.sizes, st.seeds, agg["runs"], fvr["timeline"]
    H_FB, H_NONFB = _agg_horizons(st)
    FOUR_BY = min(AGG_FB_STEPS[0], H_FB)
    conf = configuration(st.profile, sizes, st.paper, ["modes counted on the carried particle cloud at every step"])
    conf_pde = configuration(st.profile, sizes, st.paper, [
        "modes counted on the carried particle cloud at every step",
        f"PDE: our finite-volume solution ({sizes['fv_cells']}^2 cells) for the paper's finite differences, read at "
        f"t = 0.5 k to k = {fvr['K_ref']}"])
    fb_modes = [[int(m) for m in r["modes"][:H_FB]] for r in runs["fb"]]
    nonfb_modes = [[int(m) for m in r["modes"][:H_NONFB]] for r in runs["non_fb"]]
    entries = [
        assess(get_claim("agg-fb-four-then-one"), [dict(modes=m, horizon=H_FB) for m in fb_modes], seeds,
               configuration=conf),
        assess(get_claim("agg-fb-timeline"), [dict(modes=m, four_by=FOUR_BY, one_at=H_FB) for m in fb_modes], seeds,
               configuration=conf),
        assess(get_claim("agg-fb-vs-pde"), [dict(k_one_fb=pulse_timeline(m)["one_from"],
                                                 k_one_reference=tl_ref["one_from"]) for m in fb_modes],
               seeds, configuration=conf_pde),
        assess(get_claim("agg-nonfb-four-pulses"), [dict(modes=m, horizon=H_NONFB) for m in nonfb_modes], seeds,
               configuration=conf),
    ]
    all_runs = runs["fb"] + runs["non_fb"]
    record_metrics(
        st.key, st.profile, st.seed, entries,
        checks={"no_nan": bool(all(np.isfinite(r["energy"]).all() for r in all_runs)),
                "interaction_energy_decreased": bool(all(r["energy"][-1] < r["energy"][0] for r in all_runs)),
                "reference_mass_conserved": bool(abs(fvr["cell_mass"][-1].sum() - 1.0) < 1e-9)},
        metrics={"modes_fb": fb_modes, "modes_nonfb": nonfb_modes, "modes_reference": fvr["modes"],
                 "spread_fb": [r["spread"] for r in runs["fb"]], "spread_reference": fvr["spread"],
                 "timelines_fb": [r["timeline"] for r in runs["fb"]],
                 "timelines_nonfb": [r["timeline"] for r in runs["non_fb"]], "timeline_reference": tl_ref,
                 "energy_fb": [r["energy"] for r in runs["fb"]], "sizes": sizes, "seeds": seeds},
        timings={f"{sc}_seconds_seed_{r['seed']}": round(r["wall"], 2) for sc in runs for r in runs[sc]})
    return entries


def _timeline_words(modes, horizon: int) -> str:
    tl = pulse_timeline(modes)
    four = f"four pulses from k = {tl['first']}" if tl["first"] else f"never four pulses by k = {horizon}"
    one = (f"one pulse from k = {tl['one_from']}" if tl["one_from"] else
           f"{modes[-1]} mode(s) at k = {horizon}" if len(modes) else "no step")
    return f"{four}, {one}"


def agg_glue(st: Setup, fvr: dict, agg: dict, entries: list) -> dict:
    """The values the aggregation notebook's text glues, by name: verdicts, timelines of the runs and of the
    finite-volume solution, the FB onset and merge order against it, pulse widths, the linear growth rate of a
    flat density and the factor between the equation's merge and the paper's."""
    seeds, runs, tl_ref, K_ref = st.seeds, agg["runs"], fvr["timeline"], fvr["K_ref"]
    H_FB, H_NONFB = _agg_horizons(st)
    fb_modes = [[int(m) for m in r["modes"][:H_FB]] for r in runs["fb"]]
    nonfb_modes = [[int(m) for m in r["modes"][:H_NONFB]] for r in runs["non_fb"]]
    out = {e["id"].replace("-", "_") + "_verdict": e["status"] for e in entries}
    out.update(agg_n_seeds=len(seeds), agg_h_fb=H_FB, agg_h_nonfb=H_NONFB,
               agg_fb_timelines="; ".join(f"seed {s}: " + _timeline_words(m, H_FB) for s, m in zip(seeds, fb_modes)),
               agg_nonfb_timelines="; ".join(f"seed {s}: " + _timeline_words(m, H_NONFB)
                                             for s, m in zip(seeds, nonfb_modes)),
               agg_ref_four=tl_ref["first"] if tl_ref["first"] else float("nan"),
               agg_ref_one="k = " + str(tl_ref["one_from"]) if tl_ref["one_from"] else f"not by k = {K_ref}",
               agg_ref_one_t=f"t = {AGG_STEP * tl_ref['one_from']:g}" if tl_ref["one_from"] else "—",
               agg_ref_modes_at_h=int(fvr["modes"][H_FB - 1]))
    fb_first = [pulse_timeline(m)["first"] for m in fb_modes]
    if all(f is not None for f in fb_first) and tl_ref["first"]:
        rel = ("at the equation's onset or later" if min(fb_first) >= tl_ref["first"] else
               "earlier than the equation" if max(fb_first) < tl_ref["first"] else "around the equation's onset")
        out["agg_fb_onset"] = (f"from k = {min(fb_first)} to k = {max(fb_first)} over the seeds, {rel} (finite "
                               f"volumes: k = {tl_ref['first']})")
    else:
        out["agg_fb_onset"] = "not in every seed within the paper's steps"
    merged = [pulse_timeline(m)["one_from"] for m in fb_modes]
    ref_one = tl_ref["one_from"]
    if all(k is None for k in merged):
        order = (f"reaches one pulse by k = {H_FB} in no seed" + (
            f"; neither does the equation, which merges at k = {ref_one}, so whether FB merges later or earlier than "
            f"the equation is not decided at the paper's horizon" if ref_one is not None and ref_one > H_FB else ""))
    elif ref_one is None:
        order = (f"reaches one pulse by k = {H_FB} in {sum(k is not None for k in merged)} of {len(merged)} seeds, "
                 f"while the finite-volume solution does not merge within its {K_ref} steps")
    else:
        earlier = sum(k is not None and k < ref_one for k in merged)
        order = f"merges before the equation (k = {ref_one}) in {earlier} of {len(merged)} seeds"
    out["agg_fb_merge_order"] = order
    w_fb = [float(r["spread"][H_FB - 1]) for r in runs["fb"]]
    w_ref = float(fvr["spread"][H_FB - 1])
    out.update(agg_spread_fb_h_min=min(w_fb), agg_spread_fb_h_max=max(w_fb), agg_spread_ref_h=w_ref)
    w_ratio = [w / w_ref for w in w_fb]
    if max(w_ratio) < 0.5:
        out["agg_width_words"] = "much narrower than the equation's: the FB pulses shrink towards points"
    elif min(w_ratio) >= 2 / 3 and max(w_ratio) <= 1.5:
        out["agg_width_words"] = "about as wide as the equation's (within a factor 1.5)"
    else:
        out["agg_width_words"] = ("of a different width than the equation's (ratio "
                                  + ", ".join(f"{v:.2f}" for v in w_ratio) + ")")
    xi, rho0 = np.linspace(0.0, 6.0, 6001), 1.0 / 36.0
    out["agg_growth_rate"] = float(np.max(xi**2 * (rho0 * np.exp(-xi**2 / 4) - AGG_NU * AGG_M * rho0 ** (AGG_M - 1))))
    out["agg_ratio_needed"] = (ref_one / AGG_FB_STEPS[-1]) if ref_one else float("nan")
    return out


# --------------------------------------------------------------------------------------------
# KL sampling (Sec. 4.1)
# --------------------------------------------------------------------------------------------
KL_TARGETS = ("moons", "gmm8", "gmm13")


def make_target(name: str, d: int = 2, device="cpu") -> GaussianMixture:
    r"""The stand-in targets (fixed, seeded 12345; the same for every seed of an ensemble).

    ``"moons"``: 16 components of std 0.2 on two interleaved half circles of radius 2 in 2-D (``d``
    ignored); otherwise 9 components with means uniform on :math:`[-3, 3]^d` and covariance :math:`0.5 I`.
    """
    dev = check_device(device)
    check_choice("name", name, KL_TARGETS)
    g = make_generator(12345, dev)
    if name == "moons":
        th = torch.linspace(0, math.pi, 8)
        up = torch.stack([2 * torch.cos(th) - 1, 2 * torch.sin(th) - 0.5], 1)
        down = torch.stack([1 - 2 * torch.cos(th), 0.5 - 2 * torch.sin(th)], 1)
        return GaussianMixture.create(torch.cat([up, down]), 0.04 * torch.eye(2), device=dev)   # std 0.2
    d = check_int("d", d)
    means = 6 * torch.rand(9, d, generator=g, device=dev) - 3
    return GaussianMixture.create(means, 0.5 * torch.eye(d, device=dev), device=dev)


def kl_scheme(target: GaussianMixture, sz: dict, run_seed: int, *, device="cpu") -> tuple[KLDivergence, VariationalJKO]:
    r"""``(energy, scheme)`` of KL sampling from :math:`P_0 = N(0, 2.25 I)`: :math:`D(P\|Q)` with the target's
    log density, residual maps ``sz["T"]`` = (width, hidden layers), dual ``sz["h"]``, learning rates 1e-3, a
    fresh pool of ``10 * batch`` samples per step, networks seeded from ``run_seed``."""
    dev = check_device(device)
    d = sz["d"]
    scheme = VariationalJKO(d, lambda n, gen: 1.5 * torch.randn(n, d, generator=gen, device=dev),
                            map=MapConfig("residual", sz["T"][0], sz["T"][1]), dual=DualConfig(sz["h"][0], sz["h"][1]),
                            train=TrainConfig(sz["outer"], sz["inner"], sz["batch"], 1e-3, 1e-3),
                            pool=PoolConfig(10 * sz["batch"]), device=dev, generator=make_generator(run_seed, dev))
    return KLDivergence(target.log_prob), scheme


def run_kl(name: str, sz: dict, run_seed: int, *, step: float = 0.3, steps: Optional[int] = None,
           device="cpu") -> tuple[VariationalJKO, GaussianMixture, Trajectory]:
    """``(scheme, target, trajectory)`` after ``steps`` (default ``sz["K"]``) steps of :func:`kl_scheme` on
    :func:`make_target` ``(name, sz["d"])``."""
    target = make_target(name, sz["d"], device)
    energy, scheme = kl_scheme(target, sz, run_seed, device=device)
    traj = run_variational(energy, scheme, step, steps or sz["K"], desc=f"{name} seed {run_seed}")
    return scheme, target, traj


def component_fractions(target: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    """Fraction of the samples ``x`` ``(n, d)`` nearest (in the isotropic mixture's posterior) to each
    component, ``(components,)`` float64."""
    comp = torch.log(target.weights) - 0.5 * ((x[:, None, :] - target.means) ** 2).sum(-1) / target.covs[0, 0, 0]
    return torch.bincount(comp.argmax(1), minlength=target.means.shape[0]).double() / x.shape[0]


#: The JKO step a of KL sampling (Sec. 4.1).
KL_STEP = 0.3
#: The sampling claims by target.
KL_CLAIM_IDS = {"moons": "kl-sampling-moons", "gmm8": "kl-sampling-gmm8", "gmm13": "kl-sampling-gmm13"}


def run_kl_ensemble(st: Setup) -> dict:
    """:func:`run_kl` for every target of ``st.sizes["targets"]`` and seed, then the two-sample test of each run:
    ``n_test`` samples of ours and of the target against :data:`NULL_DRAWS` target-vs-target energy distances
    (:func:`wgf_core.diagnostics.two_sample_null`), all drawn from one generator per seed (``s * 2**20 + 3``).

    Returns ``{name: [per seed dict]}`` with ``seed``, ``target``, ``x`` / ``y`` (ours / target test samples),
    ``ed`` (energy distance of ours to ``y``), ``null``, ``ed0`` (the same for :math:`P_0`), ``fractions`` and
    ``tv_weights`` (component populations), ``dual_values``, ``wall``; the first seed also keeps its ``flow``.
    Prints one line per run.
    """
    n_test, results = st.sizes["n_test"], {name: [] for name in st.sizes["targets"]}
    for name, sz in st.sizes["targets"].items():
        for s in st.seeds:
            flow, target, _ = run_kl(name, sz, s, step=KL_STEP, device=st.device)   # the one runner, K steps
            gen = make_generator(s * 2**20 + 3, st.device)   # the test's draws of member s
            y = target.sample(n_test, gen)
            x = flow.sample(n_test, generator=gen)
            null = two_sample_null(energy_distance, lambda n, g: target.sample(n, g), y, NULL_DRAWS, gen)
            x0 = flow.sample(n_test, k=0, generator=gen)
            fr = component_fractions(target, x)
            r = dict(seed=s, flow=flow, target=target, x=x, y=y, ed=float(energy_distance(x, y)), null=null,
                     ed0=float(energy_distance(x0, y)), fractions=fr.cpu().numpy(),
                     tv_weights=float(0.5 * (fr - target.weights.double().cpu()).abs().sum()),
                     dual_values=[h["dual_value"] for h in flow.history], wall=sum(h["time_s"] for h in flow.history))
            if s != st.seeds[0]:
                del r["flow"]   # only the first seed's maps are kept (figures, animation)
            results[name].append(r)
            print(f"{name} seed {s}: energy distance {r['ed0']:.4f} (P_0) -> {r['ed']:.4f} (P_K); target vs target: "
                  f"median {np.median(null):.4f}, largest {max(null):.4f}; TV of component weights "
                  f"{r['tv_weights']:.3f}")
    return results


def kl_moons_figure(results: dict):
    """Fig. 1: the two-moons target's test samples beside ours (first seed)."""
    import matplotlib.pyplot as plt

    r = results["moons"][0]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharex=True, sharey=True)
    axes[0].scatter(*r["y"].cpu().numpy().T, s=2, c="grey")
    axes[0].set(title="target (16-component mixture)", xlabel="x1", ylabel="x2")
    axes[1].scatter(*r["x"].cpu().numpy().T, s=2, c="tab:blue")
    axes[1].set(title=f"ours, seed {r['seed']}, k = {len(r['flow'].maps)}", xlabel="x1")
    return fig


def kl_frames(st: Setup, results: dict) -> tuple[np.ndarray, list, np.ndarray]:
    """``(frames, times, target)``: 500 fresh :math:`P_0` samples of the first two-moons seed (seeded
    ``seed + 9``) pushed to every step, and 500 of the target's test samples."""
    r = results["moons"][0]
    fl = r["flow"]
    frames = push_frames(fl, fl.sample_p0(500, make_generator(st.seeds[0] + 9, st.device)))
    return frames, [KL_STEP * k for k in range(len(frames))], r["y"][:500].cpu().numpy()


def kl_pca_figures(results: dict) -> dict:
    """Fig. 2: for each mixture target, the target's and our test samples (first seed) on the target's first two
    principal components with KDE contours; ``{name: figure}``."""
    import matplotlib.pyplot as plt
    from scipy.stats import gaussian_kde
    from sklearn.decomposition import PCA

    figs = {}
    for name in (n for n in results if n != "moons"):
        r = results[name][0]
        pca = PCA(2).fit(r["y"].cpu().numpy())
        py, px = pca.transform(r["y"].cpu().numpy()), pca.transform(r["x"].cpu().numpy())
        f, axes = plt.subplots(1, 2, figsize=(9, 4), sharex=True, sharey=True)
        lo, hi = py.min(0) - 1, py.max(0) + 1
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 80), np.linspace(lo[1], hi[1], 80))
        for ax, pts, title in ((axes[0], py, "target"), (axes[1], px, f"ours, seed {r['seed']}")):
            ax.scatter(*py.T, s=1, c="lightgrey")
            kde = gaussian_kde(pts.T)
            ax.contour(gx, gy, kde(np.stack([gx.ravel(), gy.ravel()])).reshape(gx.shape), levels=8)
            ax.set(title=f"{name}: {title} (KDE contours)", xlabel="PC 1", ylabel="PC 2")
        f.tight_layout()
        figs[name] = f
    return figs


def kl_test_figure(st: Setup, results: dict):
    """The two-sample test: per target, ours against the target (one dot per seed) and the target-vs-target
    draws (marks)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(results)
    seed_dots(ax, range(len(names)), [[r["ed"] for r in results[n]] for n in names], offset=0.1,
              label="ours vs target (one dot per seed)", floors=[[v for r in results[n] for v in r["null"]]
                                                                for n in names],
              floor_label=f"target vs target ({NULL_DRAWS} draws)", floor_color="grey", log=True)
    ax.set(xticks=range(len(names)), xticklabels=names, ylabel=f"energy distance (n = {st.sizes['n_test']})")
    ax.legend(fontsize=8)
    return fig


def kl_live(st: Setup, target: str = "moons", n_steps: int = 5, outer: int = 100):
    """The live panel's run: ``n_steps`` steps on ``target`` for the first seed with ``outer`` map updates; 2000
    samples of ours and of the target on the target's first two principal components."""
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    targets = st.sizes["targets"]
    sz = dict(targets.get(target, targets["moons"]), outer=int(outer))
    f_l, tgt, _ = run_kl(target, sz, st.seeds[0], step=KL_STEP, steps=int(n_steps), device=st.device)
    x = f_l.sample(2000).cpu().numpy()
    y = tgt.sample(2000, make_generator(0, st.device)).cpu().numpy()
    pca = PCA(2).fit(y)
    f, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(*pca.transform(y).T, s=1, c="lightgrey", label="target")
    ax.scatter(*pca.transform(x).T, s=1, c="tab:blue", label="ours")
    ax.set(xlabel="PC 1", ylabel="PC 2")
    ax.legend()
    return f


def kl_verdicts(st: Setup, results: dict) -> list:
    """Assess the sampling claims (one per target) over the seeds and display the record; returns the entries."""
    sizes, seeds, entries = st.sizes, st.seeds, []
    for name, rs in results.items():
        sz = sizes["targets"][name]
        conf = configuration(st.profile, dict(sz, n_test=sizes["n_test"]), st.paper[name], [
            "targets: stand-ins (the paper does not list the mixtures' means)",
            f"network sizes T = {tuple(sz['T'])}, h = {tuple(sz['h'])} (width, hidden layers)"])
        entries.append(assess(get_claim(KL_CLAIM_IDS[name]), [dict(energy_distance=r["ed"], null=r["null"]) for r in rs],
                              seeds, configuration=conf))
    keep = ("seed", "ed", "ed0", "null", "fractions", "tv_weights", "dual_values")
    record_metrics(
        st.key, st.profile, st.seed, entries,
        checks={"no_nan": bool(all(torch.isfinite(r["x"]).all() for rs in results.values() for r in rs)),
                # the JKO energy (variational KL estimate at the trained dual) decreases along the flow
                "kl_energy_decreased": bool(all(r["dual_values"][-1] < r["dual_values"][0]
                                                for rs in results.values() for r in rs))},
        metrics={name: [{k: v for k, v in r.items() if k in keep} for r in rs] for name, rs in results.items()},
        timings={f"{name}_seconds_seed_{r['seed']}": round(r["wall"], 2) for name, rs in results.items() for r in rs})
    return entries


def kl_glue(st: Setup, results: dict, entries: list) -> dict:
    """The values the sampling notebook's text glues: the ensemble and test sizes and one summary line per target
    (test ratios per seed, the same for :math:`P_0`, component weights, verdict)."""
    summary = []
    for e in entries:
        name = e["id"].replace("kl-sampling-", "")
        rs = results[name]
        ratios = ", ".join(f"{r['ed'] / max(r['null']):.2g}" for r in rs)
        tv = ", ".join(f"{r['tv_weights']:.2f}" for r in rs)
        start = ", ".join(f"{r['ed0'] / max(r['null']):.2g}" for r in rs)
        better = sum(r["ed"] < r["ed0"] for r in rs)
        summary.append(f"- **{name}**: energy distance / largest target-vs-target value per seed {ratios} (a match "
                       f"needs at most 1; the same ratio for the initial $P_0$: {start}, so {better} of {len(rs)} "
                       f"seeds end closer to the target than they started); total variation of the component "
                       f"weights {tv}; verdict **{e['status']}**.")
    return dict(kl_n_seeds=len(st.seeds), kl_n_test=st.sizes["n_test"], kl_summary="\n".join(summary))
