r"""Experiment drivers of the variational JKO paper (Fan, Zhang, Taghvaei, Chen, ICML 2022).

Every flow here is an energy of :mod:`wgf_core.energies.variational` and the scheme
:class:`~wgf_core.schemes.VariationalJKO`, run by the one runner :func:`wgf_core.runner.run` from the
scheme's first sample pool (:meth:`~wgf_core.schemes.VariationalJKO.initial`) with the scheme's generator,
so that every seeded draw comes from one stream in the order of Algorithm 1. Every generator is a stream
``wgf_core.random.stream(seed, "variational/<notebook>/<what>", member)`` of the notebook's base seed
``seed`` and the ensemble member; the ensembles are decided look by look by
:func:`wgf_core.claims.run_plan` (the seed plans of :mod:`wgf_core.claims.variational`).

* :func:`setup`: a notebook's parameters checked and its sizes (:data:`PROFILES`) selected, as a :class:`Setup`;
* :func:`run_variational`: that call, for any energy and scheme of the paper; :func:`push_frames` for animations;
* :func:`ou_problem`, :func:`run_ou`: the Ornstein-Uhlenbeck experiment (Sec. 4.2, Fig. 3), with a
  diverged member recorded as diverged (its errors NaN) instead of raising; :func:`ou_time_repeats` (the
  interleaved timing of the training versus d); :func:`run_ou_ensemble` over the members and dimensions with
  its verdicts, its figure, table, record and glued values (:func:`ou_figure`, :func:`ou_table`,
  :func:`ou_verdicts`, :func:`ou_glue`);
* :func:`porous_scheme`: the porous-medium scheme (Sec. 4.3); :func:`run_pme_1d` (Fig. 4) and :func:`run_pme_hd`
  (3-D / 6-D) for a list of members, :func:`run_pme` over the plan, their figures, record and glued values;
* :func:`aggregation_scheme`, :func:`run_aggregation`, :class:`PushCache`: the aggregation-diffusion
  experiment (Sec. 4.4), with the mode count, pulse width and interaction energy of the carried cloud at
  every step; :func:`count_density_modes`, :func:`quadrant_spread`, :func:`pulse_timeline` read them;
  :func:`agg_reference` (the finite-volume solution), :func:`run_agg` over the plan, their figures, record and
  glued values;
* :func:`make_target`, :func:`run_kl`, :func:`component_fractions`: KL sampling (Sec. 4.1); :func:`run_kl_ensemble`
  with its two-sample tests against the fixed null references (:func:`kl_null_reference`,
  :func:`kl_reference`, :func:`write_kl_references`; ``python -m wgf_core.experiments.variational``
  regenerates ``wgf_core/claims/references/variational.json``), its figures, record and glued values.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from .. import pde
from ..claims import assess, configuration, run_plan
from ..claims import get as get_claim
from ..claims import registry as claim_registry
from ..claims.core import MIN_SEEDS
from ..claims.variational import (
    AGG_FB_STEPS,
    AGG_NONFB_STEPS,
    KL_REF_DRAWS,
    KL_REF_QUANTILE,
    OU_DIMS,
    OU_LAW_DRAWS,
    OU_PAPER_BAND,
    OU_PAPER_T09,
    PAPER_SETTINGS,
)
from ..energies.variational import (
    REFIT_POINTS,
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
from ..random import stream
from ..reporting import record_metrics
from ..runner import Trajectory, run
from ..schemes.variational import DualConfig, MapConfig, PoolConfig, TrainConfig, VariationalJKO
from ..validation import (
    NET_FLOPS,
    check_choice,
    check_device,
    check_int,
    check_int_list,
    check_positive,
    check_sizes,
    select_profile,
)
from .base import NotebookSetup

__all__ = ["PROFILES", "Setup", "setup", "run_variational", "ou_problem", "run_ou", "OU_STEP", "OU_T_EVAL",
           "ou_time_repeats", "run_ou_ensemble", "ou_figure", "ou_table", "ou_frames", "ou_curve_figures", "ou_live",
           "ou_verdicts", "ou_glue", "OU_CLAIM_IDS", "push_frames", "PME_STEP", "PME_T0", "PME_M", "pme_mass_check",
           "pme_flow", "run_pme_1d", "run_pme_hd", "run_pme", "pme_figure", "pme_step_figures", "pme_frames",
           "pme_hd_figure", "pme_live", "pme_verdicts", "pme_glue", "AGG_STEP", "AGG_M", "AGG_NU", "agg_reference",
           "run_agg", "agg_hist_figures", "agg_curves_figure", "agg_frames", "agg_live", "agg_verdicts", "agg_glue",
           "KL_STEP", "KL_CLAIM_IDS", "run_kl_ensemble", "kl_moons_figure", "kl_frames", "kl_pca_figures",
           "kl_test_figure", "kl_live", "kl_verdicts", "kl_glue", "kl_null_reference", "kl_reference",
           "write_kl_references", "KL_REFERENCES", "NO_PAPER_VALUE", "OU_MEMORY_BUDGET", "OU_BYTES_PER_DIM_SAMPLE",
           "OU_MAX_DIM_TIME", "ou_max_dim", "check_ou_dims", "porous_scheme", "aggregation_scheme", "run_aggregation",
           "PushCache", "make_target", "kl_scheme", "run_kl", "component_fractions", "pulse_timeline",
           "quadrant_spread", "count_density_modes", "KL_TARGETS"]


def _purpose(notebook: str, what: str) -> str:
    """The stream purpose ``variational/<notebook>/<what>``."""
    return f"variational/{notebook}/{what}"


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
#: ``n_seeds`` is the first look of the claims' seed plan (more members are run while a claim is inconclusive).
PROFILES = {
    "01_ornstein_uhlenbeck": {
        # ci: every dimension (the record decides every claim), tiny sizes; time_outer: map iterations timed per
        # repeat and dimension for ou-time-vs-d (5 interleaved repeats)
        "ci": dict(dims=[2, 6, 12, 16, 32], n_seeds=1, outer=10, inner=2, batch=500, width=32, depth=2, n_eval=5000,
                   n_eval_final=5000, pool=50000, reference="pushed", time_outer=3),
        # J1 = 40 (paper 500) and J2 = 2 (paper 3) so that 3 members x 5 dimensions fit the CPU budget (J1 = 20 with
        # batches of 2000 was tried: too few map updates per step, up to 0.8 above the floor in d = 32)
        "default": dict(dims=[2, 6, 12, 16, 32], n_seeds=3, outer=40, inner=2, batch=1000, width=64, depth=2,
                        n_eval=20000, n_eval_final=500000, pool=1000000, reference="pushed", time_outer=10),
        "paper": dict(dims=[2, 6, 12, 16, 32], n_seeds=15, outer=500, inner=3, batch=1000, width=64, depth=2,
                      n_eval=20000, n_eval_final=500000, pool=1000000, reference="start", time_outer=500),
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
        # ci: the finite volumes on 48^2 cells run until the equation merges (about 2 s) to decide agg-fb-vs-pde
        "ci": dict(n_seeds=1, n_steps_fb=8, n_steps_nonfb=4, outer=5, inner=1, batch=128, pool=600, lr=5e-3, width=8,
                   depth=2, fv_cells=48, fv_steps=400),
        # J1 = 20 (paper 200), J2 = 1 (paper 3), M = 256 (paper 1000), a 2000-particle cloud (paper 1e4): 3 members
        # of both schemes at the paper's steps within the CPU budget
        "default": dict(n_seeds=3, n_steps_fb=92, n_steps_nonfb=42, outer=20, inner=1, batch=256, pool=2000, lr=5e-3,
                        width=16, depth=2, fv_cells=96, fv_steps=400),
        "paper": dict(n_seeds=3, n_steps_fb=92, n_steps_nonfb=42, outer=200, inner=3, batch=1000, pool=10000, lr=1e-3,
                      width=16, depth=5, fv_cells=96, fv_steps=400),
    },
    # J1 = 100 (paper 600) and fewer JKO steps in 8-D / 13-D so that 3 members x 3 targets fit the CPU budget;
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
#: What a page shows in place of the paper's value for a parameter value the paper did not run (no claim is decided
#: for it; its measurements are shown).
NO_PAPER_VALUE = "no paper value"
#: The memory one OU run of one dimension may take (bytes): its largest arrays are the carried pool and the final
#: evaluation draws.
OU_MEMORY_BUDGET = 4 * 2**30
#: Bytes per dimension and sample of those arrays (float32 pool and its pushed copy; float32 draws fitted in float64):
#: measured 1.06 GB above the interpreter for d = 64 at ``default`` (pool 1e6, n_eval_final 5e5), below this bound's
#: 1.15 GB.
OU_BYTES_PER_DIM_SAMPLE = 12
#: The largest dimension on time: the exact-JKO law of the table (OU_LAW_DRAWS draws, each d x d eigendecompositions)
#: grows as d^3, measured 33 s at d = 256 on one core (4 to 5 min at d = 512), and a ``ci`` run of d = 256 takes 26 s.
OU_MAX_DIM_TIME = 256


# The size caps of the integer overrides (n_seeds, outer, batch, n_steps, n_steps_fb, n_steps_nonfb, fv_cells;
# wgf_core.validation.check_sizes) come from :func:`_cost`: every JKO step trains a map and a dual network
# (outer x (inner + 1) iterations on batches) and pushes the sample pool, the scheme keeps every step's map, and
# the aggregation page's finite volumes hold fv_cells^2 densities per reference time.
#: Bytes per weight of a network in training (float32 weights, gradients and Adam's two moments) and of a stored map.
NET_BYTES, MAP_BYTES = 16, 4
#: float32 activations per unit and sample one training iteration keeps, and floats per sample of a pool
#: (the sample, its pushed copy, their gradients).
ACTIVATION_COPIES, POOL_COPIES = 4, 4
#: Floating-point operations per cell and time step of the finite volumes (fluxes, the interaction's convolution).
FV_FLOPS = 50
#: The OU page's JKO steps (up to the last evaluation time) and the timing repeats of ou-time-vs-d.
OU_STEPS, OU_TIME_REPEATS = 18, 5


def _weights(d: float, width: float, depth: float) -> float:
    """Weights of a network ``d -> width (x depth hidden layers) -> d`` with the input fed to every layer (an ICNN's
    skip connections; a bound for the residual and affine maps)."""
    return (d + 1) * width + max(depth - 1, 0) * (width + d + 1) * width + (width + 1) * d


def _jko_cost(d: float, steps: float, outer: float, inner: float, batch: float, width: float, depth: float,
              pool: float, fresh: bool) -> tuple:
    """``(bytes, flops, loop steps)`` of one variational JKO run: each step trains a map and its dual (one more
    hidden layer) for ``outer`` x (``inner`` + 1) iterations of ``batch`` samples and pushes a ``pool`` (a fresh
    one through every earlier map, O(k) at step k; a carried one through the new map)."""
    w = _weights(d, width, depth) + _weights(d, width, depth + 1)
    pushes = steps * (steps + 1) / 2 if fresh else steps
    flops = steps * outer * (inner + 1) * batch * w * NET_FLOPS + pushes * pool * w * 2
    mem = (POOL_COPIES * 4.0 * pool * d + steps * MAP_BYTES * w + NET_BYTES * w
           + 4.0 * ACTIVATION_COPIES * batch * width * (depth + 1))
    return mem, flops, steps * outer * (inner + 1)


def _cost(notebook: str, z: dict) -> tuple:
    """``(bytes, flops, loop steps)`` of a variational notebook at the sizes ``z`` (its profile's with the
    overrides), the members one after another: the JKO runs of every member (OU: every dimension, with the
    evaluation draws and the timing repeats; porous medium: 1-D and the higher dimensions; aggregation: FB and
    non-FB, with the finite volumes; KL: every target)."""
    m = z["n_seeds"]
    if notebook == "01_ornstein_uhlenbeck":
        runs = [_jko_cost(d, OU_STEPS, z["outer"], z["inner"], z["batch"], z["width"], z["depth"], z["pool"], False)
                for d in z["dims"]]
        timing = [_jko_cost(d, 1, z["time_outer"], z["inner"], z["batch"], z["width"], z["depth"], 2, False)
                  for d in z["dims"]]
        mem = max(max(r[0] for r in runs), OU_BYTES_PER_DIM_SAMPLE * max(z["dims"]) * (z["pool"] + z["n_eval_final"]))
        return (mem, m * sum(r[1] for r in runs) + OU_TIME_REPEATS * sum(t[1] for t in timing),
                m * sum(r[2] for r in runs) + OU_TIME_REPEATS * sum(t[2] for t in timing))
    if notebook == "02_porous_medium":
        runs = [_jko_cost(1, z["n_steps"], z["outer"], z["inner"], z["batch"], z["width"], z["depth"], z["pool"], True)]
        runs += [_jko_cost(d, z["steps_hd"], z["outer_hd"], z["inner"], z["batch"], z["width"], z["depth"], z["pool"],
                           True) for d in z["dims_hd"]]
        return max(r[0] for r in runs), m * sum(r[1] for r in runs), m * sum(r[2] for r in runs)
    if notebook == "03_aggregation_diffusion":
        runs = [_jko_cost(2, z[k], z["outer"], z["inner"], z["batch"], z["width"], z["depth"], z["pool"], False)
                for k in ("n_steps_fb", "n_steps_nonfb")]
        k_ref = max(z["fv_steps"], z["n_steps_fb"], z["n_steps_nonfb"])
        cells = z["fv_cells"] ** 2
        return (max(max(r[0] for r in runs), 2 * 8.0 * (k_ref + 1) * cells),
                m * sum(r[1] for r in runs) + FV_FLOPS * k_ref * cells, m * sum(r[2] for r in runs) + k_ref)
    runs = [_jko_cost(t["d"], t["K"], z.get("outer", t["outer"]), t["inner"], t["batch"], t["T"][0], t["T"][1],
                      10 * t["batch"], True) for t in z["targets"].values()]
    return max(r[0] for r in runs), m * sum(r[1] for r in runs), m * sum(r[2] for r in runs)


@dataclass
class Setup(NotebookSetup):
    """A notebook's checked parameters: ``notebook`` (its stem), ``profile``, ``device``, ``seed`` (the base seed),
    ``sizes`` (the profile's sizes with the overrides), ``seeds`` (the members of the first look, ``0 .. n - 1``),
    ``paper`` (the paper's settings, :data:`~wgf_core.claims.variational.PAPER_SETTINGS`) and ``first`` (the
    notebook's ``n_seeds`` override: it replaces the first look of the seed plans; None keeps the plans')."""

    paper: dict
    first: Optional[int] = None

    @property
    def key(self) -> str:
        """The record's notebook key, ``variational/<stem>``."""
        return f"variational/{self.notebook}"


def setup(notebook: str, profile: str, device, seed, **overrides) -> Setup:
    """Check a notebook's parameters and select its sizes; raises :class:`ParameterError` naming the parameter.

    ``overrides`` (the notebook's optional parameters; None keeps the profile's value): ``dims`` a non-empty list of
    distinct integers from 2 to :func:`ou_max_dim` of the profile's sizes (:func:`check_ou_dims`; a dimension the
    paper did not run is run and shown with :data:`NO_PAPER_VALUE`, no claim decided for it), ``batch`` an integer
    >= 2, ``n_seeds`` an integer >= 1 (>= 3 at ``default`` and ``paper``, where the claims are decided over seeds),
    any other an integer >= 1; each integer at most its cap from :func:`_cost`'s memory and time estimate
    (:func:`wgf_core.validation.check_sizes`; the profile's own values and the seed plans' last looks are never
    refused). A name the notebook lacks is refused. In ``04_kl_sampling`` ``outer`` applies to every target. Prints
    the profile, device, base seed, members and sizes.
    """
    check_choice("notebook", notebook, tuple(PROFILES))
    dev = check_device(device)
    seed = check_int("seed", seed, minimum=0)
    sizes = copy.deepcopy(select_profile(profile, PROFILES[notebook]))
    for name, value in overrides.items():
        if value is not None and name not in sizes and not (name == "outer" and "targets" in sizes):
            raise ParameterError(f"parameter {name!r} = {value!r} is not allowed: None ({notebook} has no size "
                                 f"{name!r}; its sizes: {', '.join(sorted(sizes))})")
    if overrides.get("dims") is not None:
        sizes["dims"] = check_ou_dims(overrides["dims"], sizes, profile)
    profile_sizes = dict(sizes, **({"outer": max(t["outer"] for t in sizes["targets"].values())}
                                   if "targets" in sizes else {}))
    # the seed plans run up to their last looks: as many members are never refused
    plans = [c.plan.looks(profile) for c in claim_registry().values()
             if c.notebook == f"variational/{notebook}" and c.stochastic and not c.timing]
    keep = dict(profile_sizes, n_seeds=max([sizes["n_seeds"]] + [max(p) for p in plans]))
    given = {k: v for k, v in overrides.items() if k != "dims"}
    minimum = {k: _OVERRIDE_MIN.get(k, MIN_SEEDS if k == "n_seeds" and profile != "ci" else 1) for k in given}
    z = dict(profile_sizes)
    check_sizes(given, z, lambda sz: _cost(notebook, sz), device=dev, profile_sizes=keep, minimum=minimum,
                model="the JKO runs of the members (map and dual networks trained on batches, the pools, the maps)")
    for name in given:
        if given[name] is None:
            continue
        if name == "outer" and "targets" in sizes:
            for v in sizes["targets"].values():
                v["outer"] = z["outer"]
        else:
            sizes[name] = z[name]
    first = None if overrides.get("n_seeds") is None else sizes["n_seeds"]
    members = list(range(sizes["n_seeds"]))
    print(f"profile={profile} device={dev} base seed={seed} members of the first look={members}", sizes)
    return Setup(notebook, profile, dev, seed, sizes, members, PAPER_SETTINGS[notebook], first)


def ou_max_dim(sizes: dict) -> int:
    """The largest dimension the OU page runs at ``sizes`` (a profile's): the smaller of :data:`OU_MAX_DIM_TIME` and
    the dimension at which ``OU_BYTES_PER_DIM_SAMPLE * (pool + n_eval_final)`` bytes per dimension reach
    :data:`OU_MEMORY_BUDGET` (256 at ``ci``, 238 at ``default`` and ``paper``)."""
    per_dim = OU_BYTES_PER_DIM_SAMPLE * (sizes["pool"] + sizes["n_eval_final"])
    return min(OU_MAX_DIM_TIME, OU_MEMORY_BUDGET // per_dim)


def check_ou_dims(value, sizes: dict, profile: str) -> list[int]:
    """``value`` as the OU page's list of dimensions, checked before any compute; raises :class:`ParameterError`
    naming ``dims``, the value and what is allowed: a non-empty list of distinct integers from 2 to
    :func:`ou_max_dim` ``(sizes)``. A dimension outside the paper's :data:`~wgf_core.claims.variational.OU_DIMS`
    is allowed (it is run and shown with :data:`NO_PAPER_VALUE`)."""
    top = ou_max_dim(sizes)
    dims = check_int_list("dims", value, minimum=_OVERRIDE_MIN["dims"], maximum=top,
                          why=f"dimensions at most {top} at profile {profile!r}: memory of the pool and evaluation "
                              f"draws within {OU_MEMORY_BUDGET / 2**30:g} GiB, and the d^3 time of the exact-JKO law")
    repeated = sorted({d for d in dims if dims.count(d) > 1})
    if repeated:
        raise ParameterError(f"parameter 'dims' = {value!r} is not allowed: each dimension once (repeated: "
                             f"{', '.join(map(str, repeated))})")
    return dims


# --------------------------------------------------------------------------------------------
# Ornstein-Uhlenbeck (Sec. 4.2)
# --------------------------------------------------------------------------------------------
_OU = "01_ornstein_uhlenbeck"


def ou_problem(d: int, member: int, seed: int = 0):
    r"""The OU problem ``(A (d, d), b (d,))`` of dimension ``d`` and ensemble member ``member`` (float64): one draw
    per (dimension, member), :func:`wgf_core.pde.random_ou_problem` on the stream
    ``(seed, "variational/01_ornstein_uhlenbeck/problem-d<d>", member)``."""
    d = check_int("d", d, minimum=1)
    return pde.random_ou_problem(d, stream(seed, _purpose(_OU, f"problem-d{d}"), check_int("member", member,
                                                                                            minimum=0)))


def _ou_scheme(d: int, sz: dict, outer: int, generator: torch.Generator, pool: int, dev) -> VariationalJKO:
    """The OU scheme: affine maps ``(width, depth)``, dual ``(width, depth + 1)``, ``outer`` map updates, ``inner``,
    ``batch`` of ``sz``, learning rates 5e-3, a carried pool of ``pool`` samples of :math:`N(0, I)`."""
    # P_k's samples are carried from step to step (pool_size of them): the adaptive Gaussian reference mu_k is
    # fitted to them, and its sampling error enters every step
    return VariationalJKO(
        d, lambda n, gen: torch.randn(n, d, generator=gen, device=dev), map=MapConfig("linear", sz["width"], sz["depth"]),
        dual=DualConfig(sz["width"], sz["depth"] + 1), train=TrainConfig(outer, sz["inner"], sz["batch"], 5e-3, 5e-3),
        pool=PoolConfig(pool, fresh=False), device=dev, generator=generator)


def _ou_log_q(A, b, dev):
    A32, b32 = A.float().to(dev), b.float().to(dev)
    return lambda x: -0.5 * (((x - b32) @ A32) * (x - b32)).sum(-1)


def _affine_fit(scheme: VariationalJKO, n: int, k: int, generator: torch.Generator):
    r"""Mean and covariance (float64) of the Gaussian fitted to ``n`` samples of :math:`P_k` of an affine flow.

    The samples are ``n`` draws of :math:`P_0 = N(0, I)` pushed through the first ``k`` maps. The fit
    (weights 1/n) of affinely pushed samples is the pushed fit: its mean and covariance are those of the
    draws' fit pushed through the maps in closed form (:meth:`~wgf_core.schemes.VariationalJKO.affine_moments`),
    so the draws are fitted once and never pushed.
    """
    x = scheme.sample_p0(n, generator).double().cpu()
    m0, S0 = fit_gaussian(x, uniform_weights(x))
    return scheme.affine_moments(m0, S0, k)


def run_ou(d: int, member: int, sz: dict, *, seed: int = 0, step: float = 0.05, t_eval: Sequence[float] = (0.5, 0.9),
           device="cpu", keep_frames: bool = False, show_progress: bool = False) -> dict:
    r"""One OU flow for dimension ``d`` and ensemble member ``member`` of base seed ``seed``: KL to
    :math:`N(b, A^{-1})` from :math:`N(0, I)`.

    The energy :math:`D(P\|Q)`, :math:`\log q(x) = -\frac12 (x - b)^\top A (x - b)`, with the reference
    ``sz["reference"]``; affine maps (``MapConfig("linear", width, depth)``), dual ``(width, depth + 1)``,
    ``outer``, ``inner``, ``batch`` of ``sz``, learning rates 5e-3, a carried pool of ``sz["pool"]`` samples.
    :math:`K = t_{eval}[-1] / a` steps, run with ``on_divergence="stop"``. The flow's generator is the stream
    ``(seed, ".../flow-d<d>", member)``, the evaluation draws come from ``(seed, ".../eval-d<d>", member)`` in
    the order of the steps.

    Returns a dict: ``curve`` ``(K,)`` SymKL of the Gaussian fitted to ``n_eval`` samples of :math:`P_k` to the
    exact law :math:`P_{ka}`; ``at[t]`` for ``t`` in ``t_eval``: ``ours`` (the fit to ``n_eval_final``
    samples, to the exact law), ``to_jko`` (exact law of our affine flow to the exact discrete JKO), ``floor``
    (exact discrete JKO to the exact law), ``ours_exact_law``; ``frames`` (400 samples per step when
    ``keep_frames``); ``step_time`` / ``step_wall`` (mean training CPU (on a GPU: wall) / wall seconds per step);
    ``diverged`` (the step at which the runner stopped the flow, else None; the curve and ``at`` are NaN from
    there) with ``diverged_msg``; ``d``, ``member``. The frames are drawn from ``(seed, ".../frames-d<d>", member)``. The fits are those of the samples (:func:`_affine_fit`:
    the draws of :math:`P_0` fitted once, the fit pushed through the affine maps in closed form).
    """
    dev = check_device(device)
    K = round(t_eval[-1] / check_positive("step", step))
    A, b = ou_problem(d, member, seed)
    scheme = _ou_scheme(d, sz, sz["outer"], stream(seed, _purpose(_OU, f"flow-d{d}"), member, dev), sz["pool"], dev)
    traj = run_variational(KLDivergence(_ou_log_q(A, b, dev), reference=sz["reference"]), scheme, step, K,
                           on_divergence="stop", show_progress=show_progress, desc=f"OU d={d} member {member}")
    done = traj.iterations
    diverged = done + 1 if traj.diverged is not None else None
    curve, frames, at = [], [], {}
    eval_gen = stream(seed, _purpose(_OU, f"eval-d{d}"), member, dev)
    frame_gen = stream(seed, _purpose(_OU, f"frames-d{d}"), member, dev) if keep_frames else None
    nan4 = dict(ours=math.nan, to_jko=math.nan, floor=math.nan, ours_exact_law=math.nan)
    for k in range(1, K + 1):
        if k > done:   # a diverged run fails its claims (nan), it does not stop the notebook
            curve += [math.nan] * (K + 1 - k)
            at.update({t: dict(nan4) for t in t_eval if t not in at})
            break
        m, S = _affine_fit(scheme, sz["n_eval"], k, eval_gen)
        mt, St = pde.ou_solution(A, b, k * step)
        curve.append(float(gaussian_symkl(m, S, mt, St)))
        if keep_frames:
            frames.append(scheme.sample(400, k=k, generator=frame_gen).cpu().numpy())
        for t in t_eval:
            if abs(k * step - t) < 1e-9:
                # the headline numbers use n_eval_final samples (the paper's 5e5): with fewer, the sampling
                # error of the fitted covariance dominates in high d
                mf, Sf = _affine_fit(scheme, sz["n_eval_final"], k, eval_gen)
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
                diverged=diverged, diverged_msg=traj.diverged, d=d, member=member)


#: The OU step size a and the times at which the error is read (Sec. 4.2; t = 0.9 is K = 18 steps).
OU_STEP, OU_T_EVAL = 0.05, (0.5, 0.9)


def ou_time_repeats(st: Setup, members: Sequence[int], _state: Optional[dict] = None) -> list:
    """The interleaved timing of ou-time-vs-d: for each repeat ``r`` in ``members``, the training of one JKO step
    (``time_outer`` map iterations, the OU step's other sizes, a pool of ``REFIT_POINTS`` samples) at every
    dimension of ``st.sizes["dims"]``, in the order of the dimensions rotated by ``r``.

    One scheme per dimension (problem draw of member 0, flow stream ``(seed, ".../timing-d<d>", 0)``) is built
    and trained one untimed step before the first repeat; every repeat then runs its next step. Pass the same
    ``_state`` dict to later calls to continue the same schemes. The time is the CPU time of the training loop
    on a CPU (one thread), the synchronised wall time on a GPU (:attr:`VariationalJKO.history`).

    Returns one dict per repeat: ``seconds_per_step`` (per dimension, in the order of ``dims``) and ``dims``.
    """
    sz, dims, dev = st.sizes, list(st.sizes["dims"]), st.device
    state = {} if _state is None else _state
    if not state:
        for d in dims:
            A, b = ou_problem(d, 0, st.seed)
            scheme = _ou_scheme(d, sz, sz["time_outer"], stream(st.seed, _purpose(_OU, f"timing-d{d}"), 0, dev),
                                max(REFIT_POINTS, sz["batch"]), dev)
            energy = KLDivergence(_ou_log_q(A, b, dev), reference=sz["reference"])
            traj = run_variational(energy, scheme, OU_STEP, 1, show_progress=False)   # warm-up, not timed
            state[d] = (energy, scheme, traj.final)
    key = "train_s" if dev.type == "cuda" else "train_cpu_s"
    out = []
    for r in members:
        times = {}
        for i in range(len(dims)):
            d = dims[(i + r) % len(dims)]
            energy, scheme, mu = state[d]
            mu = scheme.step(energy, mu, OU_STEP, len(scheme.maps), scheme.generator)
            state[d] = (energy, scheme, mu)
            times[d] = scheme.history[-1][key]
        out.append(dict(seconds_per_step=[times[d] for d in dims], dims=dims))
    return out


def _ou_configuration(st: Setup, n_members: int, timing: bool = False) -> dict:
    sizes = st.sizes
    used = dict(sizes, n_seeds=n_members)
    notes = ["P_k's samples: a pool carried from step to step, to which the reference mu_k is fitted (the paper does "
             "not state the size of its fit)"]
    extra = [d for d in sizes["dims"] if d not in OU_DIMS]
    if extra:
        notes.append(f"d = {', '.join(map(str, extra))}: {NO_PAPER_VALUE} (run and shown, no claim decided"
                     + ("; not in the timing claim, which compares the paper's dimensions run)" if timing else ")"))
    if sizes["reference"] == "pushed":
        notes.append("changed scheme: the KL formula's Gaussian reference is refitted at every map iteration to 20000 "
                     "pool points pushed by the current map (reference='pushed'), not fitted once to P_k (the paper); "
                     "the formula holds for any reference, and with the paper's the affine runs diverged on stiff draws "
                     "in d = 12 and 32")
    if timing:
        notes.append(f"timing: {sizes['time_outer']} map iterations per repeat and dimension (a step trains J1 = "
                     f"{sizes['outer']}), interleaved over the dimensions in a rotated order")
        if st.device.type != "cuda":
            notes.append("time on a CPU: CPU time of the training loop, one thread (the paper: wall time on a GPU)")
    return configuration(st.profile, used, st.paper, notes)


def run_ou_ensemble(st: Setup) -> dict:
    """The OU ensemble over the seed plan, the interleaved timing and the law of the problem; prints one line per
    dimension.

    :func:`run_ou` for every new member (outer loop) and dimension ``st.sizes["dims"]``, member by member while a
    claim of :data:`OU_CLAIM_IDS` for these dimensions is inconclusive (:func:`wgf_core.claims.run_plan`; frames
    kept for member 0 in the first dimension); then ou-time-vs-d over its repeats (:func:`ou_time_repeats`). A
    dimension outside the paper's :data:`~wgf_core.claims.variational.OU_DIMS` is run, timed and shown, and
    decides no claim (its row has ``paper`` None and ``paper_note`` :data:`NO_PAPER_VALUE`); ou-time-vs-d compares
    the times of the paper's dimensions run and is decided only when at least two of them ran (the repeats are
    timed and shown either way).

    Returns a dict: ``results`` (d -> list over members of :func:`run_ou`'s dicts), ``members``, ``entries`` (the
    claim entries), ``timing`` (``repeats``: per repeat the seconds per dimension), ``law`` (d -> log10 SymKL of
    the exact discrete JKO over ``OU_LAW_DRAWS`` draws of the problem law: the spread of one draw), ``rows`` (the
    table at t = 0.9 per dimension: ``d``, ``paper`` (None without a paper value), ``paper_note``, per member
    ``ours``, ``floor``, ``to_jko`` in log10, ``law_mean``, ``law_sd``, ``step_s``), ``dims``, ``K``,
    ``stiffness`` (d -> per member :math:`a\\lambda_{\\max}(A)` of the draw).
    """
    sz, dims = st.sizes, st.sizes["dims"]
    K = round(OU_T_EVAL[-1] / OU_STEP)
    results = {d: [] for d in dims}
    claim_dims = [d for d in dims if d in OU_DIMS]   # the paper's dimensions have claims; others are only shown
    lg = lambda v: math.log10(v) if v > 0 else math.nan   # nan for a diverged run

    def measure(new):
        out = []
        for s in new:
            for d in dims:
                # one flow per (dimension, member), run by the one runner; a diverged run is recorded (nan), not raised
                results[d].append(run_ou(d, s, sz, seed=st.seed, step=OU_STEP, t_eval=OU_T_EVAL, device=st.device,
                                         keep_frames=(d == dims[0] and s == 0)))
            got = {}
            for d in claim_dims:
                at = results[d][-1]["at"][0.9]
                got[f"ou-symkl-d{d}"] = dict(log10_symkl=lg(at["ours"]), paper=OU_PAPER_T09[d])
                got[f"ou-floor-d{d}"] = dict(symkl_to_jko=at["to_jko"], symkl_jko_to_exact=at["floor"])
            out.append(got)
        return out

    claims = [get_claim(f"ou-{kind}-d{d}") for d in claim_dims for kind in ("symkl", "floor")]
    first = claims[0].plan.looks(st.profile, st.first)[0] if claims else (st.first or sz["n_seeds"])
    if claims:
        entries = run_plan(claims, measure, configuration=_ou_configuration(st, first), first=st.first,
                           base_seed=st.seed)
    else:
        entries = []
        measure(list(range(first)))
    members = list(range(len(results[dims[0]])))
    stiffness = {d: [OU_STEP * float(torch.linalg.eigvalsh(ou_problem(d, s, st.seed)[0]).max()) for s in members]
                 for d in dims}
    for e in entries:
        d = int(e["id"].rsplit("-d", 1)[1])
        e["reason"] = _ou_diverged_reason(results, stiffness, d, e["seeds"])
    state: dict = {}
    time_claim = get_claim("ou-time-vs-d")
    repeats: list = []

    def measure_time(new):
        got = ou_time_repeats(st, new, state)
        repeats.extend(got)
        return [{"ou-time-vs-d": _paper_times(g)} for g in got]

    if len(claim_dims) >= 2:
        entries += run_plan([time_claim], measure_time, configuration=_ou_configuration(st, first, timing=True),
                            base_seed=st.seed)
    else:   # fewer than two of the paper's dimensions: the times are shown, the claim is not decided
        measure_time(list(range(time_claim.plan.looks(st.profile)[0])))
    law = {d: pde.ou_floor_law(d, OU_STEP, K, OU_LAW_DRAWS, stream(st.seed, _purpose(_OU, f"law-d{d}"), 0))
           for d in dims}
    rows = []
    for d in dims:
        rs = results[d]
        rows.append(dict(d=d, paper=OU_PAPER_T09.get(d), paper_note=_ou_paper_note(d),
                         ours=[lg(r["at"][0.9]["ours"]) for r in rs],
                         floor=[math.log10(pde.ou_jko_floor(*ou_problem(d, s, st.seed), OU_STEP, K)) for s in members],
                         to_jko=[lg(r["at"][0.9]["to_jko"]) for r in rs], law_mean=float(law[d].mean()),
                         law_sd=float(law[d].std(ddof=1)), step_s=[r["step_time"] for r in rs]))
        print(f"d={d:3d}: log10 SymKL(t=0.9) per member " + _f2(rows[-1]["ours"]) + "; exact-JKO floor of the same "
              "draws " + _f2(rows[-1]["floor"]) + f"; law over {OU_LAW_DRAWS} draws: mean {rows[-1]['law_mean']:.2f}, "
              f"sd {rows[-1]['law_sd']:.2f}" + ("" if d in OU_DIMS else f"; {NO_PAPER_VALUE}, no claim decided"))
    return dict(results=results, members=members, entries=entries, timing=dict(repeats=repeats, dims=list(dims)),
                law=law, rows=rows, dims=dims, K=K, stiffness=stiffness)


def _f2(values) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def _ou_paper_note(d: int) -> str:
    """Where the paper's value of dimension ``d`` comes from, or :data:`NO_PAPER_VALUE`."""
    return "Fig. 3(b)" if d in OU_PAPER_T09 else NO_PAPER_VALUE


def _paper_times(repeat: dict) -> dict:
    """One timing repeat restricted to the paper's dimensions (the measurement of ou-time-vs-d)."""
    keep = [i for i, d in enumerate(repeat["dims"]) if d in OU_DIMS]
    return dict(seconds_per_step=[repeat["seconds_per_step"][i] for i in keep], dims=[repeat["dims"][i] for i in keep])


def ou_figure(ens: dict):
    """Fig. 3: log10 SymKL versus d at each evaluation time (one dot per member, the exact discrete JKO of the same
    draws, the paper's values at t = 0.9 with the band of ± OU_PAPER_BAND decades, :data:`NO_PAPER_VALUE` written
    at a dimension the paper did not run) and the training time per step versus d, one line per interleaved
    repeat. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ds, res = ens["dims"], ens["results"]
    for ax, t in zip(axes[:2], OU_T_EVAL):
        ok = {d: [r for r in res[d] if r["diverged"] is None] for d in ds}
        seed_dots(ax, ds, [[math.log10(r["at"][t]["ours"]) for r in ok[d]] for d in ds],
                  floors=[[math.log10(r["at"][t]["floor"]) for r in ok[d]] for d in ds],
                  label="ours (one dot per member)", floor_label="exact discrete JKO, same draws")
        if t == 0.9:
            pd = [d for d in ds if d in OU_PAPER_T09]
            if pd:
                ax.errorbar(pd, [OU_PAPER_T09[d] for d in pd], yerr=[OU_PAPER_BAND] * len(pd), fmt="rs", capsize=3,
                            label=f"paper (15 repeats) ± {OU_PAPER_BAND:g} decades")
            for d in ds:
                if d not in OU_PAPER_T09:
                    ax.text(d, 0.02, NO_PAPER_VALUE, transform=ax.get_xaxis_transform(), rotation=90, ha="center",
                            va="bottom", fontsize=7, color="grey")
        ax.set(xlabel="dimension d", ylabel="log10 SymKL", title=f"t = {t}")
        ax.legend(fontsize=8)
    tm = ens["timing"]
    seed_lines(axes[2], tm["dims"], [r["seconds_per_step"] for r in tm["repeats"]],
               label="one line per interleaved repeat", marker="o", color="C0")
    axes[2].set(xlabel="dimension d", ylabel="training time per timed step (s, CPU time on a CPU)",
                title="cost vs d", ylim=(0, None))
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def ou_table(ens: dict) -> str:
    """The Markdown table of log10 SymKL at t = 0.9: paper (:data:`NO_PAPER_VALUE` for a dimension the paper did not
    run, followed by a line saying no claim is decided for it), ours per member, the exact-JKO floor of the same
    draws, ours to the exact JKO (exact law of ours), and the law's mean ± sd."""
    lines = ["| d | paper | ours, per member | exact-JKO floor, same draws | ours to exact JKO (exact law of ours) | "
             "law: mean ± sd |", "|---|---|---|---|---|---|"]
    for r in ens["rows"]:
        paper = NO_PAPER_VALUE if r["paper"] is None else f"{r['paper']:.2f}"
        lines.append(f"| {r['d']} | {paper} | {_f2(r['ours'])} | {_f2(r['floor'])} | {_f2(r['to_jko'])} | "
                     f"{r['law_mean']:.2f} ± {r['law_sd']:.2f} |")
    extra = [str(r["d"]) for r in ens["rows"] if r["paper"] is None]
    note = (f"\n\nd = {', '.join(extra)}: {NO_PAPER_VALUE} (the paper runs d = {', '.join(map(str, OU_DIMS))}); "
            "measured and shown, no claim decided.") if extra else ""
    return ("log10 SymKL at t = 0.9 (members " + ", ".join(map(str, ens["members"])) + "; law: the exact discrete "
            f"JKO over {OU_LAW_DRAWS} draws of the problem)\n\n" + "\n".join(lines) + note)


def ou_frames(ens: dict) -> tuple[np.ndarray, list]:
    """``(frames (K, n, d), times)``: the kept samples (n <= 400) of :math:`P_k` of member 0 in the first dimension."""
    frames = np.stack(ens["results"][ens["dims"][0]][0]["frames"])
    return frames, [OU_STEP * (k + 1) for k in range(len(frames))]


def ou_curve_figures(ens: dict) -> dict:
    """``{"d = ...": figure}``: SymKL to the exact :math:`P_t` along the flow, mean ± sd over the members."""
    import matplotlib.pyplot as plt

    ts = OU_STEP * np.arange(1, ens["K"] + 1)
    figs = {}
    for d in ens["dims"]:
        figs[f"d = {d}"], ax = plt.subplots(figsize=(5, 3.5))
        band_curves(ax, {"ours": (ts, np.stack([r["curve"] for r in ens["results"][d]]))}, xlabel="time t",
                    ylabel="SymKL to exact P_t", title=f"d = {d}")
    return figs


def ou_live(st: Setup, d: int = 2, outer: int = 20):
    """The live panel's run: one flow of member 0 in dimension ``d`` with ``outer`` map updates per step
    (20000 evaluation samples, a pool of 100000); its SymKL curve."""
    import matplotlib.pyplot as plt

    sz = dict(st.sizes, outer=int(outer), n_eval=20000, n_eval_final=20000, pool=100000)
    r = run_ou(int(d), 0, sz, seed=st.seed, step=OU_STEP, t_eval=OU_T_EVAL, device=st.device)
    f, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(OU_STEP * np.arange(1, len(r["curve"]) + 1), r["curve"])
    ax.set(xlabel="time t", ylabel="SymKL to exact P_t", title=f"d = {d}, J1 = {outer}")
    return f


def _ou_diverged_reason(results: dict, stiffness: dict, d: int, members: Sequence[int]) -> str:
    """Generated note on the members of dimension d whose run diverged, with the stiffness a * lambda_max(A) of the draw."""
    out = []
    for i in members:
        res = results[d][i]
        if res["diverged"]:
            out.append(f"member {res['member']} diverged at step {res['diverged']} (the runner: {res['diverged_msg']}; "
                       f"its draw has a * lambda_max(A) = {stiffness[d][i]:.2g})")
    return "; ".join(out)


def _median_largest_deviation(repeats: list) -> float:
    """Median over the timing repeats of max_d |t_d / mean over d - 1| (nan with fewer than two dimensions)."""
    devs = [max(abs(t / np.mean(r["seconds_per_step"]) - 1) for t in r["seconds_per_step"]) for r in repeats
            if len(r["seconds_per_step"]) >= 2]
    return float(np.median(devs)) if devs else math.nan


#: The claims of the OU notebook, for the dimensions run.
OU_CLAIM_IDS = [f"ou-{kind}-d{d}" for d in OU_DIMS for kind in ("symkl", "floor")] + ["ou-time-vs-d"]


def ou_verdicts(st: Setup, ens: dict) -> list:
    """Display the record of the OU claims decided by :func:`run_ou_ensemble`
    (:func:`~wgf_core.reporting.record_metrics`); returns the claim entries. The metrics list the table's rows
    (each with its ``paper_note``) and, as ``no_paper_value``, the dimensions without a paper value (no claim)."""
    entries, ds, results, members = ens["entries"], ens["dims"], ens["results"], ens["members"]
    assert {e["id"] for e in entries} <= set(OU_CLAIM_IDS)
    ok = [r for d in ds for r in results[d] if r["diverged"] is None]
    all_curves = np.concatenate([r["curve"] for r in ok] or [np.zeros(1)])
    diverged = [dict(d=r["d"], member=r["member"], step=r["diverged"]) for d in ds for r in results[d] if r["diverged"]]
    record_metrics(
        st.key, st.profile, st.seed, entries,
        checks={"no_nan": bool(np.isfinite(all_curves).all()), "no_run_diverged": not diverged,
                "error_decreases_from_the_start": bool(all(r["curve"][-1] < r["curve"][0] * 5 + 1 for r in ok))},
        metrics={"rows": [{k: v for k, v in r.items() if k != "step_s"} for r in ens["rows"]], "sizes": st.sizes,
                 "members": members, "diverged": diverged,
                 "no_paper_value": [r["d"] for r in ens["rows"] if r["paper"] is None]},
        timings={"seconds_per_step": {str(r["d"]): r["step_s"] for r in ens["rows"]},
                 "wall_seconds_per_step": {str(d): [res["step_wall"] for res in results[d]] for d in ds},
                 "timing_repeats": ens["timing"]["repeats"]})
    return entries


def ou_glue(st: Setup, ens: dict, entries: list) -> dict:
    """The values the OU notebook's text glues, by name (verdicts by dimension, the floor gap, divergences, the
    stiffness of the draws, the training-time spread over the repeats: that of ou-time-vs-d when it was decided,
    else over every dimension run, with the verdict "not decided")."""
    by_id = {e["id"]: e for e in entries}
    ds, rows = ens["dims"], ens["rows"]
    paper_ids = [f"ou-symkl-d{d}" for d in ds if f"ou-symkl-d{d}" in by_id]
    floor_ids = [f"ou-floor-d{d}" for d in ds if f"ou-floor-d{d}" in by_id]

    def dims_with(ids, status):
        hit = [i.rsplit("-d", 1)[1] for i in ids if by_id[i]["status"] == status]
        return ", ".join(hit) if hit else "none"

    out = dict(ou_n_seeds=len(ens["members"]), ou_law_draws=OU_LAW_DRAWS, ou_band=OU_PAPER_BAND)
    for status in ("reproduced", "differs", "inconclusive"):
        out[f"ou_paper_{status}"] = dims_with(paper_ids, status)
        out[f"ou_floor_{status}"] = dims_with(floor_ids, status)
    below = [r["d"] for r in rows if r["paper"] is not None and max(r["floor"]) < r["paper"] - OU_PAPER_BAND]
    out["ou_floor_below_band"] = ", ".join(map(str, below)) if below else "none"
    gap = [v - f for r in rows for v, f in zip(r["ours"], r["floor"]) if math.isfinite(v)] or [math.nan]
    reasons = {d: _ou_diverged_reason(ens["results"], ens["stiffness"], d, ens["members"]) for d in ds}
    out["ou_diverged"] = "; ".join(f"d = {d}: " + why for d, why in reasons.items() if why) or "none"
    out["ou_gap_min"], out["ou_gap_max"] = min(gap), max(gap)
    tm = ens["timing"]
    e_t = by_id.get("ou-time-vs-d")
    if e_t is not None:
        out["ou_time_verdict"] = e_t["status"]
        out["ou_time_repeats"] = len(e_t["seeds"])
        out["ou_time_dev_pct"] = 100 * e_t["median"] if e_t["median"] is not None else float("nan")
    else:   # fewer than two of the paper's dimensions ran: the repeats are shown, no claim is decided
        out["ou_time_verdict"] = "not decided (fewer than two of the paper's dimensions run)"
        out["ou_time_repeats"] = len(tm["repeats"])
        out["ou_time_dev_pct"] = 100 * _median_largest_deviation(tm["repeats"])
    mean_t = np.mean([r["seconds_per_step"] for r in tm["repeats"]], axis=0) if tm["repeats"] else np.full(1, np.nan)
    out["ou_time_ratio"] = float(mean_t.max() / mean_t.min())
    out["ou_time_slowest_d"] = int(tm["dims"][int(np.argmax(mean_t))]) if tm["repeats"] else 0
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
_PME = "02_porous_medium"


def porous_scheme(n: int, sz: dict, outer: int, generator: torch.Generator, *, m: float = 2.0, t0: float = 0.002,
                  margin: float = 0.5, device="cpu") -> tuple[GeneralizedEntropy, VariationalJKO]:
    r"""``(energy, scheme)`` of the porous-medium flow in ``n`` dimensions from the Barenblatt profile at
    ``t0``: :math:`\frac1{m-1}\int P^m` with a reference box of ``margin`` x the side on each side, ICNN maps
    ``(width, depth)`` of ``sz``, dual 16 x 3, ``outer`` map updates, ``inner``, ``batch``, learning rate
    ``lr`` decaying to ``lr_final_factor`` x within each step, a fresh pool of ``sz["pool"]`` samples per
    step, the scheme's generator ``generator`` (a :func:`wgf_core.random.stream` on ``device``)."""
    dev = check_device(device)
    p0 = lambda k, gen: pde.barenblatt_sample(k, n, 0.0, m=m, t0=t0, generator=gen, device=dev)
    scheme = VariationalJKO(n, p0, map=MapConfig("icnn", sz["width"], sz["depth"]), dual=DualConfig(16, 3),
                            train=TrainConfig(outer, sz["inner"], sz["batch"], sz["lr"], sz["lr"],
                                              lr_final_factor=sz["lr_final_factor"]),
                            pool=PoolConfig(sz["pool"]), device=dev, generator=generator)
    return GeneralizedEntropy(m, margin=margin), scheme


#: The porous-medium step a, start time t0 of the Barenblatt profile and exponent m (Sec. 4.3).
PME_STEP, PME_T0, PME_M = 0.001, 0.002, 2.0


def pme_mass_check() -> str:
    """The normalisation check of the notebook: the mass of the 1-D profile with the paper's
    :math:`C = (3/16)^{1/3}` (2) and with the unit-mass constant (1, :math:`C = (3/64)^{1/3}` for m = 2, n = 1)."""
    return (f"mass with the paper's C=(3/16)^(1/3): {pde.barenblatt_mass_1d(0.0, C=(3 / 16) ** (1 / 3), t0=PME_T0):.6f}"
            f" | with the unit-mass C: {pde.barenblatt_mass_1d(0.0, t0=PME_T0):.6f} = "
            f"{pde.barenblatt_unit_mass_C(PME_M, 1):.6f} vs (3/64)^(1/3) = {(3 / 64) ** (1 / 3):.6f}")


def pme_flow(st: Setup, n: int, outer: int, member: int, what: str = "flow") -> tuple[GeneralizedEntropy, VariationalJKO]:
    """:func:`porous_scheme` in ``n`` dimensions with the notebook's constants, on the stream
    ``(st.seed, "variational/02_porous_medium/<what>-<n>d", member)``. The uniform reference box adds
    ``margin`` x (side length) on each side of P_k's support; in n dimensions a wide margin leaves few reference
    samples on the support (margin 0.5 in 6-D: the box is 2^6 = 64x the support's box), so the n-D runs use
    ``margin_hd``. Fresh samples of P_k per step (with a pool of only 20 batches the dual network overfits that
    pool); the learning rates decay to ``lr_final_factor`` x within each step."""
    sz = st.sizes
    g = stream(st.seed, _purpose(_PME, f"{what}-{n}d"), member, st.device)
    return porous_scheme(n, sz, outer, g, m=PME_M, t0=PME_T0, margin=sz["margin"] if n == 1 else sz["margin_hd"],
                         device=st.device)


def _pme_grid(K: int) -> np.ndarray:
    R = 1.3 * pde.barenblatt_support_radius(K * PME_STEP, PME_M, 1, pde.barenblatt_unit_mass_C(PME_M, 1), PME_T0)
    return np.linspace(-R, R, 801)


def run_pme_1d(st: Setup, members: Sequence[int], pm: Optional[dict] = None) -> dict:
    """The 1-D flows of ``members`` against the exact Barenblatt profile and the discrete JKO reference
    (:func:`wgf_core.pde.porous_medium_jko_1d`, 400 cells), on a grid ``xs`` of 801 points over 1.3 x the support;
    appended to ``pm`` when given (a later look).

    Returns a dict: ``K``, ``ref`` (the reference's Lagrangian states), ``xs``, ``members``, ``flows`` (the
    schemes), ``dens`` (per member, k -> our density by change of variables), ``tables`` (per member, per step
    ``k``: ``t``, ``ours_ref``, ``ours_exact``, ``ref_exact`` L1 distances and our ``mass``), ``samples`` (20000
    samples of member 0's last step, from its generator). Prints one line per member.
    """
    K = st.sizes["n_steps"]
    if pm is None:
        pm = dict(K=K, ref=pde.porous_medium_jko_1d(400, PME_STEP, K, m=PME_M, t0=PME_T0), xs=_pme_grid(K),
                  members=[], flows=[], dens=[], tables=[], samples=None)
    ref, xs = pm["ref"], pm["xs"]
    log_p0 = lambda x: torch.log(pde.barenblatt(x.double(), 0.0, m=PME_M, t0=PME_T0))
    y = torch.as_tensor(xs, dtype=torch.float32, device=st.device)[:, None]
    for s in members:
        energy, flow = pme_flow(st, 1, st.sizes["outer"], s)
        run_variational(energy, flow, PME_STEP, K, desc=f"1-D JKO member {s}")
        d_s = {k: pushforward_log_density(flow.maps[:k], lambda x: log_p0(x).to(x.dtype), y, tol=1e-5).exp().cpu()
               .double().numpy() for k in range(1, K + 1)}
        table = []
        for k in range(1, K + 1):
            exact = pde.barenblatt(xs[:, None], k * PME_STEP, m=PME_M, t0=PME_T0)
            refd = pde.lagrangian_density(ref[k], xs)
            table.append(dict(k=k, t=PME_T0 + k * PME_STEP, ours_ref=pde.l1_distance_1d(d_s[k], refd, xs),
                              ours_exact=pde.l1_distance_1d(d_s[k], exact, xs),
                              ref_exact=pde.l1_distance_1d(refd, exact, xs), mass=float(np.trapezoid(d_s[k], xs))))
        pm["members"].append(s)
        pm["flows"].append(flow)
        pm["dens"].append(d_s)
        pm["tables"].append(table)
        print(f"member {s}: L1(ours, JKO ref) per step " + ", ".join(f"{r['ours_ref']:.4f}" for r in table)
              + f"; L1(JKO ref, exact) at the last step {table[-1]['ref_exact']:.4f}")
    if pm["samples"] is None and pm["flows"]:
        pm["samples"] = pm["flows"][0].sample(20000).cpu().numpy()[:, 0]
    return pm


def _pme_densities(ax, pm: dict, k: int, members: Optional[int] = None):
    """Exact Barenblatt profile, discrete JKO reference and the density of the first ``members`` members (all by
    default) at step ``k``."""
    xs, dens = pm["xs"], pm["dens"][:members]
    ax.plot(xs, pde.barenblatt(xs[:, None], k * PME_STEP, m=PME_M, t0=PME_T0), "k-", label="exact Barenblatt")
    ax.plot(xs, pde.lagrangian_density(pm["ref"][k], xs), "g--", label="discrete JKO reference")
    label = f"ours, member {pm['members'][0]}" if len(dens) == 1 else "ours (change of variables), one line per member"
    seed_lines(ax, xs, [d_s[k] for d_s in dens], label=label, color="r", lw=1)
    ax.set(xlabel="x", ylabel="density")


def pme_figure(pm: dict):
    """Fig. 4 at the last step: a histogram of member 0's samples, the exact profile, the discrete JKO
    reference and every member's density; and the L1 distances per step, one line per member. Returns the figure."""
    import matplotlib.pyplot as plt

    K, tables = pm["K"], pm["tables"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4))
    ax.hist(pm["samples"], bins=80, density=True, color="tab:blue", alpha=0.25,
            label=f"ours, member {pm['members'][0]} (histogram of samples)")
    _pme_densities(ax, pm, K)
    ax.set(title=f"t = t0 + {K} a = {PME_T0 + K * PME_STEP:.3f}")
    ax.legend(fontsize=8)
    ks = [r["k"] for r in tables[0]]
    ax2.plot(ks, [r["ref_exact"] for r in tables[0]], "ko-", label="L1(discrete JKO, exact)")
    seed_lines(ax2, ks, [[r["ours_ref"] for r in tb] for tb in tables], label="L1(ours, discrete JKO)", color="C0",
               marker="o")
    seed_lines(ax2, ks, [[r["ours_exact"] for r in tb] for tb in tables], label="L1(ours, exact)", color="C1",
               marker="s", ls="--")
    ax2.set(xlabel="JKO step k", ylabel="L1 distance", yscale="log", title="one line per member")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pme_step_figures(pm: dict) -> dict:
    """``{"k = ...": figure}``: the densities at every step (exact, discrete JKO, member 0)."""

    def draw(ax, _, k):
        _pme_densities(ax, pm, k, members=1)
        ax.set(title=f"k = {k}")
        ax.legend(fontsize=7)

    return {f"k = {k}": panel_grid([0], [k], draw, size=(5, 3.2)) for k in range(1, pm["K"] + 1)}


def pme_frames(st: Setup, pm: dict) -> tuple[np.ndarray, list]:
    """``(frames (K + 1, 300, 2), times)``: 300 fresh samples of member 0's :math:`P_0` (the stream
    ``(seed, ".../frames", 0)``) pushed to every step, drawn against the particle index (vertical axis in [-1, 1])."""
    flow = pm["flows"][0]
    x = push_frames(flow, flow.sample_p0(300, stream(st.seed, _purpose(_PME, "frames"), 0, st.device)).to(st.device))
    frames = np.stack([np.stack([f[:, 0], np.linspace(-1, 1, 300)], 1) for f in x])
    return frames, [PME_T0 + k * PME_STEP for k in range(len(frames))]


def run_pme_hd(st: Setup, members: Sequence[int], hdr: Optional[dict] = None) -> dict:
    """The n-D flows (``dims_hd``, ``steps_hd`` steps, ``outer_hd`` map updates) of ``members``, each on the stream
    ``(seed, ".../flow-<n>d", member)``: :math:`E|X|^2` of 20000 samples at every step against the Barenblatt
    profile's; appended to ``hdr`` when given (a later look).

    Returns ``hd`` (rows ``member``, ``n``, ``k``, ``ours``, ``exact``), ``growth`` (per member, n -> growth of ours
    / exact growth over the run) and ``members``. Prints one line per member.
    """
    sz = st.sizes
    hdr = dict(hd=[], growth=[], members=[]) if hdr is None else hdr
    for s in members:
        g_s = {}
        for n in sz["dims_hd"]:
            e_n, f_n = pme_flow(st, n, sz["outer_hd"], s)
            run_variational(e_n, f_n, PME_STEP, sz["steps_hd"], desc=f"{n}-D JKO member {s}")
            rows = []
            for k in range(0, sz["steps_hd"] + 1):
                x = f_n.sample(20000, k=k).double()
                rows.append(dict(member=s, n=n, k=k, ours=float((x**2).sum(-1).mean()),
                                 exact=pde.barenblatt_second_moment(k * PME_STEP, n, m=PME_M, t0=PME_T0)))
            hdr["hd"] += rows
            g_s[n] = (rows[-1]["ours"] - rows[0]["ours"]) / (rows[-1]["exact"] - rows[0]["exact"])
        hdr["growth"].append(g_s)
        hdr["members"].append(s)
        print(f"member {s}: spreading ratio (growth of E|X|^2 / exact growth):",
              {n: round(v, 3) for n, v in g_s.items()})
    return hdr


def _pme_configurations(st: Setup, n_members: int) -> tuple[dict, dict]:
    sizes = dict(st.sizes, n_seeds=n_members)
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
    return conf, conf_hd


def run_pme(st: Setup) -> dict:
    """The porous-medium ensemble over the seed plan: :func:`run_pme_1d` and :func:`run_pme_hd` for the members of
    each look while a claim is inconclusive (:func:`wgf_core.claims.run_plan`).

    Returns ``{"1d": ..., "hd": ..., "entries": [...]}`` (the two claims' entries; each is decided on the
    members of its look, ``entry["seeds"]``).
    """
    state = {"1d": None, "hd": None}

    def measure(new):
        state["1d"] = run_pme_1d(st, new, state["1d"])
        state["hd"] = run_pme_hd(st, new, state["hd"])
        out = []
        for s in new:
            tb = state["1d"]["tables"][state["1d"]["members"].index(s)][-1]
            g = state["hd"]["growth"][state["hd"]["members"].index(s)]
            out.append({"pme-1d-time-discretisation-dominates": dict(
                l1_ours_ref=tb["ours_ref"], l1_ours_exact=tb["ours_exact"], l1_ref_exact=tb["ref_exact"]),
                "pme-hd-spreading": dict(growth=[g[n] for n in st.sizes["dims_hd"]], dims=st.sizes["dims_hd"])})
        return out

    c1, chd = get_claim("pme-1d-time-discretisation-dominates"), get_claim("pme-hd-spreading")
    first = c1.plan.looks(st.profile, st.first)[0]
    conf, conf_hd = _pme_configurations(st, first)
    e1 = run_plan([c1, chd], measure, configuration=conf, first=st.first, base_seed=st.seed)
    # the n-D claim's configuration lists its own sizes
    e1[1]["configuration"] = conf_hd
    return {"1d": state["1d"], "hd": state["hd"], "entries": e1}


def pme_hd_figure(st: Setup, hdr: dict):
    """:math:`E|X|^2` over the steps per dimension (one line per member) and the Barenblatt profile's (dashed)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ks = list(range(st.sizes["steps_hd"] + 1))
    for c, n in enumerate(st.sizes["dims_hd"]):
        rows = [[r["ours"] for r in hdr["hd"] if r["n"] == n and r["member"] == s] for s in hdr["members"]]
        seed_lines(ax, ks, rows, label=f"ours, n={n} (one line per member)", color=f"C{c}", marker="o")
        ax.plot(ks, [r["exact"] for r in hdr["hd"] if r["n"] == n and r["member"] == hdr["members"][0]], "k--", lw=1)
    ax.set(xlabel="JKO step k", ylabel="E|X|^2 (dashed: Barenblatt)")
    ax.legend()
    return fig


def pme_live(st: Setup, pm: dict, n_steps: int = 3, outer: int = 100):
    """The live panel's run: a 1-D flow (stream ``(seed, ".../live-1d", 0)``) with ``outer`` map updates,
    ``n_steps`` steps; a histogram of its samples against the exact profile."""
    import matplotlib.pyplot as plt

    e_l, f_l = pme_flow(st, 1, int(outer), 0, what="live")
    run_variational(e_l, f_l, PME_STEP, int(n_steps))
    f, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(f_l.sample(20000).cpu().numpy()[:, 0], bins=60, density=True, alpha=0.4, label="ours")
    xs = pm["xs"]
    ax.plot(xs, pde.barenblatt(xs[:, None], n_steps * PME_STEP, m=PME_M, t0=PME_T0), "k-", label="exact")
    ax.set(xlabel="x", ylabel="density")
    ax.legend()
    return f


def pme_verdicts(st: Setup, res: dict) -> list:
    """Display the record of the porous-medium claims decided by :func:`run_pme`; returns the claim entries."""
    pm, hdr, entries = res["1d"], res["hd"], res["entries"]
    last = [tb[-1] for tb in pm["tables"]]
    record_metrics(
        st.key, st.profile, st.seed, entries,
        checks={"no_nan": bool(all(np.isfinite(v).all() for d_s in pm["dens"] for v in d_s.values())),
                "mass_close_to_one": bool(all(abs(r["mass"] - 1) < 0.1 for r in last)),
                "spreads": bool(np.var(pm["samples"]) > pde.barenblatt_second_moment(0.0, 1, t0=PME_T0))},
        metrics={"l1_tables": pm["tables"], "hd": hdr["hd"],
                 "growth": [{str(n): v for n, v in g.items()} for g in hdr["growth"]], "sizes": st.sizes,
                 "members": pm["members"]})
    return entries


def pme_glue(st: Setup, res: dict) -> dict:
    """The values the porous-medium notebook's text glues, by name."""
    pm, hdr, entries = res["1d"], res["hd"], res["entries"]
    tables, members = pm["tables"], pm["members"]
    last = [tb[-1] for tb in tables]
    holds = [[r["k"] for r in tb if r["ours_ref"] < min(r["ours_exact"], r["ref_exact"])] for tb in tables]
    return dict(
        pme_n_seeds=len(members), pme_K=pm["K"], pme_ours_ref_min=min(r["ours_ref"] for r in last),
        pme_ours_ref_max=max(r["ours_ref"] for r in last), pme_ref_exact=last[0]["ref_exact"],
        pme_holds_at="; ".join(f"member {s}: " + (", ".join(map(str, h)) if h else "none")
                               for s, h in zip(members, holds)),
        pme_1d_verdict=entries[0]["status"], pme_hd_verdict=entries[1]["status"],
        pme_1d_n=len(entries[0]["seeds"]), pme_hd_n=len(entries[1]["seeds"]),
        pme_growth="; ".join(f"n = {n}: " + ", ".join(f"{g[n]:.2f}" for g in hdr["growth"])
                             for n in st.sizes["dims_hd"]))


# --------------------------------------------------------------------------------------------
# Aggregation-diffusion (Sec. 4.4)
# --------------------------------------------------------------------------------------------
_AGG = "03_aggregation_diffusion"


def aggregation_scheme(mode: str, sz: dict, generator: torch.Generator, *, outer: Optional[int] = None, m: float = 3.0,
                       nu: float = 0.1, interaction: Optional[Interaction] = None,
                       device="cpu") -> tuple[WithInteraction, VariationalJKO]:
    r"""``(energy, scheme)`` of :math:`\partial_t P = \nabla\cdot(P\nabla W * P) + \nu\Delta P^m` from the uniform
    law on :math:`[-3, 3]^2`: :math:`\nu\mathcal G_m + \mathcal W` (``interaction``, default
    :func:`gaussian_attraction`), ``mode`` "fb" or "non_fb", ICNN maps, dual 16 x 3, a carried pool of
    ``sz["pool"]`` particles, the scheme's generator ``generator`` (a :func:`wgf_core.random.stream` on
    ``device``)."""
    dev = check_device(device)
    check_choice("mode", mode, ("fb", "non_fb"))
    p0 = lambda n, gen: 3 * (2 * torch.rand(n, 2, generator=gen, device=dev) - 1)
    scheme = VariationalJKO(2, p0, mode=mode, map=MapConfig("icnn", sz["width"], sz["depth"]), dual=DualConfig(16, 3),
                            train=TrainConfig(outer or sz["outer"], sz["inner"], sz["batch"], sz["lr"], sz["lr"]),
                            pool=PoolConfig(sz["pool"], fresh=False), device=dev, generator=generator)
    inter = gaussian_attraction() if interaction is None else interaction
    return WithInteraction(GeneralizedEntropy(m, weight=nu), inter), scheme


def run_aggregation(mode: str, steps: int, member: int, sz: dict, *, seed: int = 0, step: float = 0.5,
                    keep: bool = False, energy_points: int = 1500, what: str = "", **kw) -> dict:
    """``steps`` steps of :func:`aggregation_scheme` for ensemble member ``member`` of base seed ``seed`` (the stream
    ``(seed, "variational/03_aggregation_diffusion/<what or mode>", member)``); per step ``k = 1..steps`` of the
    carried cloud: ``modes`` (:func:`count_density_modes`), ``spread`` (:func:`quadrant_spread`) and ``energy``
    (the interaction's U-statistic on its first ``energy_points`` particles); ``timeline``
    (:func:`pulse_timeline`), ``member``, ``wall`` (seconds of the steps); with ``keep``, the scheme (``flow``) and
    3000 fresh :math:`P_0` samples (``x0``, the stream ``(seed, ".../<what or mode>/x0", member)``). Extra keywords
    go to :func:`aggregation_scheme`."""
    member = check_int("member", member, minimum=0)
    name = what or mode
    dev = check_device(kw.get("device", "cpu"))
    energy, scheme = aggregation_scheme(mode, sz, stream(seed, _purpose(_AGG, name), member, dev), **kw)
    traj = run_variational(energy, scheme, step, check_int("steps", steps), snapshot_every=1,
                           desc=f"{mode} member {member}")
    clouds = traj.x_snapshots[1:, 0]   # the carried particle cloud of P_k, k = 1..steps
    modes = [count_density_modes(x) for x in clouds]
    spread = [quadrant_spread(x) for x in clouds]
    inter = energy.interaction
    en = [float(inter.energy(torch.as_tensor(x[:energy_points], device=scheme.device))) for x in clouds]
    out = dict(modes=np.array(modes), energy=np.array(en), spread=np.array(spread), timeline=pulse_timeline(modes),
               member=member, wall=sum(h["time_s"] for h in scheme.history))
    if keep:
        out["flow"] = scheme
        out["x0"] = scheme.sample_p0(3000, stream(seed, _purpose(_AGG, f"{name}/x0"), member, scheme.device))
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


def _agg_horizons(st: Setup) -> tuple[int, int]:
    """The paper's last FB and non-FB steps (92 and 42; fewer only at ci)."""
    return min(AGG_FB_STEPS[-1], st.sizes["n_steps_fb"]), min(AGG_NONFB_STEPS[-1], st.sizes["n_steps_nonfb"])


def _agg_configuration(st: Setup, n_members: int, fvr: Optional[dict] = None) -> dict:
    sizes = dict(st.sizes, n_seeds=n_members)
    notes = ["modes counted on the carried particle cloud at every step"]
    if fvr is not None:
        notes = [f"PDE: our finite-volume solution ({sizes['fv_cells']}^2 cells) for the paper's finite differences, "
                 f"read at t = 0.5 k to k = {fvr['K_ref']}; the paper's FB merge step k = 92 from Fig. 5"]
    return configuration(st.profile, sizes, st.paper, notes)


def run_agg(st: Setup) -> dict:
    """FB and non-FB runs (:func:`run_aggregation`) over the seed plan of the aggregation claims (FB first for each
    member; more members while a claim is inconclusive, :func:`wgf_core.claims.run_plan`), member 0's schemes kept.

    Returns ``runs`` (``{"fb": [...], "non_fb": [...]}``, one dict per member), ``members``, ``entries`` (the
    claims decided over the members) and ``push`` (per scheme, a :class:`PushCache` of member 0's 3000 fresh
    :math:`P_0` samples). Prints each run's timeline and modes.
    """
    runs = {"fb": [], "non_fb": []}
    H_FB, H_NONFB = _agg_horizons(st)
    four_by = min(AGG_FB_STEPS[0], H_FB)

    def measure(new):
        out = []
        for s in new:
            for scheme, K in (("fb", st.sizes["n_steps_fb"]), ("non_fb", st.sizes["n_steps_nonfb"])):
                r = run_aggregation(scheme, K, s, st.sizes, seed=st.seed, step=AGG_STEP, keep=(s == 0), m=AGG_M,
                                    nu=AGG_NU, device=st.device)
                print(f"{scheme} member {s}: timeline {r['timeline']}; modes over k: "
                      + "".join(str(min(v, 9)) for v in r["modes"]))
                runs[scheme].append(r)
            fb = [int(m) for m in runs["fb"][-1]["modes"][:H_FB]]
            nonfb = [int(m) for m in runs["non_fb"][-1]["modes"][:H_NONFB]]
            out.append({"agg-fb-four-then-one": dict(modes=fb, horizon=H_FB),
                        "agg-fb-timeline": dict(modes=fb, four_by=four_by, one_at=H_FB),
                        "agg-nonfb-four-pulses": dict(modes=nonfb, horizon=H_NONFB)})
        return out

    claims = [get_claim(c) for c in ("agg-fb-four-then-one", "agg-fb-timeline", "agg-nonfb-four-pulses")]
    first = claims[0].plan.looks(st.profile, st.first)[0]
    entries = run_plan(claims, measure, configuration=_agg_configuration(st, first), first=st.first,
                       base_seed=st.seed)
    return dict(runs=runs, members=list(range(len(runs["fb"]))), entries=entries,
                push={sc: PushCache(rs[0]["flow"], rs[0]["x0"]) for sc, rs in runs.items()})


def _paper_steps(K: int, steps: Sequence[int]) -> list:
    return [k for k in steps if k <= K] or [max(1, K // 2), K]


def agg_hist_figures(st: Setup, fvr: dict, agg: dict) -> dict:
    """Fig. 5 (FB), the finite-volume solution (the paper's FB steps and the step at which it merges) and Fig. 8
    (non-FB): 2-D histograms of member 0's fresh samples at the paper's steps; ``{title: figure}``."""
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
    """Number of modes, pulse width and interaction energy over the steps, one line per member and scheme, with the
    finite-volume solution's; prints the timelines. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    K_show = max(st.sizes["n_steps_fb"], st.sizes["n_steps_nonfb"])
    ks_ref = np.arange(1, K_show + 1)
    axes[0].step(ks_ref, fvr["modes"][:K_show], where="mid", color="k", lw=2.5, alpha=0.4, label="finite volumes")
    axes[1].plot(ks_ref, fvr["spread"][:K_show], color="k", lw=2.5, alpha=0.4, label="finite volumes")
    for c, (scheme, rs) in enumerate(agg["runs"].items()):
        ks, lab, style = np.arange(1, len(rs[0]["modes"]) + 1), f"{scheme} (one line per member)", dict(lw=1, alpha=0.6)
        seed_lines(axes[0], ks, [r["modes"] for r in rs], label=lab, color=f"C{c}", draw="step", where="mid", **style)
        seed_lines(axes[1], ks, [r["spread"] for r in rs], label=lab, color=f"C{c}", **style)
        seed_lines(axes[2], ks, [r["energy"] for r in rs], label=lab, color=f"C{c}", **style)
    for ax, what in zip(axes, ("number of modes", "RMS radius per quadrant (length units)",
                               "interaction energy W(P_k)")):
        ax.set(xlabel="JKO step k (t = 0.5 k)", ylabel=what)
        ax.legend(fontsize=8)
    fig.tight_layout()
    for name, tl in ([("finite volumes", fvr["timeline"])] + [(f"{sc} member {r['member']}", r["timeline"])
                                                             for sc, rs in agg["runs"].items() for r in rs]):
        print(f"{name:>18}: four pulses from k = {tl['first']} to k = {tl['last']}, one pulse from k = {tl['one_from']}")
    return fig


def agg_frames(agg: dict) -> tuple[np.ndarray, list]:
    """``(frames, times)``: 400 fresh samples of FB member 0 pushed to about 24 evenly spaced steps."""
    fl = agg["runs"]["fb"][0]["flow"]
    every = max(1, len(fl.maps) // 23)
    frames = push_frames(fl, agg["runs"]["fb"][0]["x0"][:400], every)
    return frames, [AGG_STEP * k for k in range(0, len(fl.maps) + 1, every)]


def agg_live(st: Setup, scheme: str = "fb", n_steps: int = 10, outer: int = 10):
    """The live panel's run: ``n_steps`` steps of ``scheme`` (stream ``(seed, ".../live-<scheme>", 0)``) with
    ``outer`` map updates; a 2-D histogram of 3000 samples."""
    import matplotlib.pyplot as plt

    e_l, f_l = aggregation_scheme(scheme, st.sizes, stream(st.seed, _purpose(_AGG, f"live-{scheme}"), 0, st.device),
                                  outer=int(outer), m=AGG_M, nu=AGG_NU, device=st.device)
    run_variational(e_l, f_l, AGG_STEP, int(n_steps))
    x = f_l.sample(3000).cpu().numpy()
    f, ax = plt.subplots(figsize=(4, 4))
    ax.hist2d(x[:, 0], x[:, 1], bins=60, range=[[-4, 4], [-4, 4]], cmap="Blues")
    ax.set(xlabel="x1", ylabel="x2", title=f"{scheme}, k = {n_steps}")
    return f


def agg_verdicts(st: Setup, fvr: dict, agg: dict) -> list:
    """Decide agg-fb-vs-pde on the finite-volume solution (one deterministic run) beside the claims decided over
    the members by :func:`run_agg`, and display the record; returns the claim entries."""
    runs, tl_ref = agg["runs"], fvr["timeline"]
    H_FB, H_NONFB = _agg_horizons(st)
    e_pde = assess(get_claim("agg-fb-vs-pde"), [dict(k_one_reference=tl_ref["one_from"], k_solved=fvr["K_ref"])], [0],
                   configuration=_agg_configuration(st, 1, fvr), base_seed=st.seed)
    entries = agg["entries"][:2] + [e_pde] + agg["entries"][2:]
    fb_modes = [[int(m) for m in r["modes"][:H_FB]] for r in runs["fb"]]
    nonfb_modes = [[int(m) for m in r["modes"][:H_NONFB]] for r in runs["non_fb"]]
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
                 "energy_fb": [r["energy"] for r in runs["fb"]], "sizes": st.sizes, "members": agg["members"]},
        timings={f"{sc}_seconds_member_{r['member']}": round(r["wall"], 2) for sc in runs for r in runs[sc]})
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
    members, runs, tl_ref, K_ref = agg["members"], agg["runs"], fvr["timeline"], fvr["K_ref"]
    H_FB, H_NONFB = _agg_horizons(st)
    fb_modes = [[int(m) for m in r["modes"][:H_FB]] for r in runs["fb"]]
    nonfb_modes = [[int(m) for m in r["modes"][:H_NONFB]] for r in runs["non_fb"]]
    out = {e["id"].replace("-", "_") + "_verdict": e["status"] for e in entries}
    out.update(agg_n_seeds=len(members), agg_h_fb=H_FB, agg_h_nonfb=H_NONFB,
               agg_fb_timelines="; ".join(f"member {s}: " + _timeline_words(m, H_FB)
                                          for s, m in zip(members, fb_modes)),
               agg_nonfb_timelines="; ".join(f"member {s}: " + _timeline_words(m, H_NONFB)
                                             for s, m in zip(members, nonfb_modes)),
               agg_ref_four=tl_ref["first"] if tl_ref["first"] else float("nan"),
               agg_ref_one="k = " + str(tl_ref["one_from"]) if tl_ref["one_from"] else f"not by k = {K_ref}",
               agg_ref_one_t=f"t = {AGG_STEP * tl_ref['one_from']:g}" if tl_ref["one_from"] else "—",
               agg_ref_modes_at_h=int(fvr["modes"][H_FB - 1]))
    fb_first = [pulse_timeline(m)["first"] for m in fb_modes]
    if all(f is not None for f in fb_first) and tl_ref["first"]:
        rel = ("at the equation's onset or later" if min(fb_first) >= tl_ref["first"] else
               "earlier than the equation" if max(fb_first) < tl_ref["first"] else "around the equation's onset")
        out["agg_fb_onset"] = (f"from k = {min(fb_first)} to k = {max(fb_first)} over the members, {rel} (finite "
                               f"volumes: k = {tl_ref['first']})")
    else:
        out["agg_fb_onset"] = "not in every member within the paper's steps"
    merged = [pulse_timeline(m)["one_from"] for m in fb_modes]
    ref_one = tl_ref["one_from"]
    if all(k is None for k in merged):
        order = (f"reaches one pulse by k = {H_FB} in no member" + (
            f"; neither does the equation, which merges at k = {ref_one}, so whether FB merges later or earlier than "
            f"the equation is not decided at the paper's horizon" if ref_one is not None and ref_one > H_FB else ""))
    elif ref_one is None:
        order = (f"reaches one pulse by k = {H_FB} in {sum(k is not None for k in merged)} of {len(merged)} members, "
                 f"while the finite-volume solution does not merge within its {K_ref} steps")
    else:
        earlier = sum(k is not None and k < ref_one for k in merged)
        order = f"merges before the equation (k = {ref_one}) in {earlier} of {len(merged)} members"
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
    # the paper's timeline read with its own "3x": FB one pulse at k = 92 puts the finite differences at k = 92 / 3
    out["agg_paper_fd_merge"] = AGG_FB_STEPS[-1] / 3.0
    out["agg_pde_vs_paper_fd"] = (ref_one / (AGG_FB_STEPS[-1] / 3.0)) if ref_one else float("nan")
    return out



# --------------------------------------------------------------------------------------------
# KL sampling (Sec. 4.1)
# --------------------------------------------------------------------------------------------
_KL = "04_kl_sampling"
KL_TARGETS = ("moons", "gmm8", "gmm13")
#: The stream of the stand-in targets' means (fixed: the same problem for every base seed and member).
_TARGET_STREAM = (0, _purpose(_KL, "target-means"), 0)


def make_target(name: str, d: int = 2, device="cpu") -> GaussianMixture:
    r"""The stand-in targets (fixed: the stream ``(0, "variational/04_kl_sampling/target-means", 0)``, the same
    for every base seed and member).

    ``"moons"``: 16 components of std 0.2 on two interleaved half circles of radius 2 in 2-D (``d``
    ignored); otherwise 9 components with means uniform on :math:`[-3, 3]^d` and covariance :math:`0.5 I`.
    """
    dev = check_device(device)
    check_choice("name", name, KL_TARGETS)
    if name == "moons":
        th = torch.linspace(0, math.pi, 8)
        up = torch.stack([2 * torch.cos(th) - 1, 2 * torch.sin(th) - 0.5], 1)
        down = torch.stack([1 - 2 * torch.cos(th), 0.5 - 2 * torch.sin(th)], 1)
        return GaussianMixture.create(torch.cat([up, down]), 0.04 * torch.eye(2), device=dev)   # std 0.2
    d = check_int("d", d)
    means = 6 * torch.rand(9, d, generator=stream(*_TARGET_STREAM)) - 3
    return GaussianMixture.create(means.to(dev), 0.5 * torch.eye(d, device=dev), device=dev)


def kl_scheme(target: GaussianMixture, sz: dict, generator: torch.Generator, *,
              device="cpu") -> tuple[KLDivergence, VariationalJKO]:
    r"""``(energy, scheme)`` of KL sampling from :math:`P_0 = N(0, 2.25 I)`: :math:`D(P\|Q)` with the target's
    log density, residual maps ``sz["T"]`` = (width, hidden layers), dual ``sz["h"]``, learning rates 1e-3, a
    fresh pool of ``10 * batch`` samples per step, the scheme's generator ``generator`` (a
    :func:`wgf_core.random.stream` on ``device``)."""
    dev = check_device(device)
    d = sz["d"]
    scheme = VariationalJKO(d, lambda n, gen: 1.5 * torch.randn(n, d, generator=gen, device=dev),
                            map=MapConfig("residual", sz["T"][0], sz["T"][1]), dual=DualConfig(sz["h"][0], sz["h"][1]),
                            train=TrainConfig(sz["outer"], sz["inner"], sz["batch"], 1e-3, 1e-3),
                            pool=PoolConfig(10 * sz["batch"]), device=dev, generator=generator)
    return KLDivergence(target.log_prob), scheme


def run_kl(name: str, sz: dict, member: int, *, seed: int = 0, step: float = 0.3, steps: Optional[int] = None,
           device="cpu", what: str = "") -> tuple[VariationalJKO, GaussianMixture, Trajectory]:
    """``(scheme, target, trajectory)`` after ``steps`` (default ``sz["K"]``) steps of :func:`kl_scheme` on
    :func:`make_target` ``(name, sz["d"])`` for ensemble member ``member`` of base seed ``seed`` (the stream
    ``(seed, "variational/04_kl_sampling/<what or flow-name>", member)``)."""
    dev = check_device(device)
    target = make_target(name, sz["d"], dev)
    g = stream(seed, _purpose(_KL, what or f"flow-{name}"), check_int("member", member, minimum=0), dev)
    energy, scheme = kl_scheme(target, sz, g, device=dev)
    traj = run_variational(energy, scheme, step, steps or sz["K"], desc=f"{name} member {member}")
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
#: The file of the fixed null references of the sampling test.
KL_REFERENCES = Path(__file__).resolve().parents[1] / "claims" / "references" / "variational.json"


def kl_null_reference(name: str, d: int, n: int, *, draws: int = KL_REF_DRAWS, quantile: float = KL_REF_QUANTILE,
                      device="cpu") -> dict:
    r"""The fixed reference of the sampling test: the ``quantile`` of the energy distance between two independent
    ``n``-samples of the target :func:`make_target` ``(name, d)``, over ``draws`` draws.

    Draw ``i`` samples both from the stream ``(0, "variational/04_kl_sampling/null-<name>-d<d>-n<n>", i)``, so
    the reference does not depend on any notebook's base seed. Under the null hypothesis (our samples have the
    target's law) the test statistic :math:`\mathrm{ED}(x, y)` of :func:`run_kl_ensemble` has this distribution,
    so ``ED <= q`` holds with probability ``quantile``.

    Returns ``{"q95", "quantile", "draws", "median", "max", "n", "d", "purpose"}`` (``q95`` is the quantile).
    """
    dev = check_device(device)
    draws, n = check_int("draws", draws, minimum=2), check_int("n", n, minimum=2)
    target = make_target(name, d, dev)
    purpose = _purpose(_KL, f"null-{name}-d{d}-n{n}")
    values = []
    for i in range(draws):
        g = stream(0, purpose, i, dev)
        values.append(float(energy_distance(target.sample(n, g), target.sample(n, g))))
    v = np.asarray(values)
    return {"q95": float(np.quantile(v, quantile)), "quantile": float(quantile), "draws": draws,
            "median": float(np.median(v)), "max": float(v.max()), "n": n, "d": int(d), "purpose": purpose}


def _kl_ref_key(d: int, n: int) -> str:
    return f"d={int(d)},n_test={int(n)}"


def kl_reference(name: str, d: int, n: int, device="cpu") -> tuple[dict, bool]:
    """``(reference, stored)``: the null reference of target ``name`` (dimension ``d``) at ``n`` test samples from
    :data:`KL_REFERENCES` (read once, on first use), or computed now by :func:`kl_null_reference` (the same
    fixed-seed code) when the file has no entry for these sizes (``stored`` False)."""
    from ..claims.lock import stored_references

    entry = stored_references("variational").get(KL_CLAIM_IDS[name], {}).get("configurations", {}).get(
        _kl_ref_key(d, n))
    if entry is not None:
        return entry, True
    return kl_null_reference(name, d, n, device=device), False


def write_kl_references(path: Optional[Path] = None) -> dict:
    """Compute :func:`kl_null_reference` for every target at the test sizes of every profile of
    ``04_kl_sampling`` and write them to ``path`` (default :data:`KL_REFERENCES`); returns the written dict."""
    out: dict = {}
    for prof in ("ci", "default", "paper"):
        sizes = PROFILES[_KL][prof]
        for name, sz in sizes["targets"].items():
            key = _kl_ref_key(sz["d"], sizes["n_test"])
            slot = out.setdefault(KL_CLAIM_IDS[name], {
                "what": (f"the {KL_REF_QUANTILE:.0%} quantile (q95) of the energy distance between two independent "
                         f"n-samples of the stand-in target over {KL_REF_DRAWS} draws (draw i from the stream "
                         "(0, purpose, i))"),
                "code": "python -m wgf_core.experiments.variational (wgf_core.experiments.variational."
                        "write_kl_references, kl_null_reference)",
                "configurations": {}})["configurations"]
            if key not in slot:
                slot[key] = kl_null_reference(name, sz["d"], sizes["n_test"])
                print(f"{KL_CLAIM_IDS[name]} {key}: q95 = {slot[key]['q95']:.5f} (median {slot[key]['median']:.5f})")
    path = KL_REFERENCES if path is None else Path(path)
    path.write_text(json.dumps(out, indent=1) + "\n")
    from ..claims.lock import stored_references

    stored_references.cache_clear()
    return out


def run_kl_ensemble(st: Setup) -> dict:
    """The sampling ensemble over the seed plan: for every new member and target of ``st.sizes["targets"]``,
    :func:`run_kl` then the two-sample test of the run (``n_test`` samples of ours against ``n_test`` fresh target
    samples, the stream ``(seed, ".../test-<name>", member)``), members added while a claim is inconclusive
    (:func:`wgf_core.claims.run_plan`).

    Returns ``{"results": {name: [per member dict]}, "entries": [...], "members", "refs"}``; a member's dict has
    ``member``, ``target``, ``x`` / ``y`` (ours / target test samples), ``ed`` (energy distance of ours to ``y``),
    ``ref`` (the null reference's q95, :func:`kl_reference`), ``ed0`` (the same for :math:`P_0`), ``fractions`` and
    ``tv_weights`` (component populations), ``dual_values``, ``wall``; member 0 also keeps its ``flow``. Prints
    one line per run.
    """
    n_test, targets = st.sizes["n_test"], st.sizes["targets"]
    results = {name: [] for name in targets}
    refs = {name: kl_reference(name, sz["d"], n_test, st.device) for name, sz in targets.items()}

    def measure(new):
        out = []
        for s in new:
            got = {}
            for name, sz in targets.items():
                flow, target, _ = run_kl(name, sz, s, seed=st.seed, step=KL_STEP, device=st.device)  # K steps
                gen = stream(st.seed, _purpose(_KL, f"test-{name}"), s, st.device)   # the test's draws of member s
                y = target.sample(n_test, gen)
                x = flow.sample(n_test, generator=gen)
                x0 = flow.sample(n_test, k=0, generator=gen)
                fr = component_fractions(target, x)
                q = refs[name][0]["q95"]
                r = dict(member=s, flow=flow, target=target, x=x, y=y, ed=float(energy_distance(x, y)), ref=q,
                         ed0=float(energy_distance(x0, y)), fractions=fr.cpu().numpy(),
                         tv_weights=float(0.5 * (fr - target.weights.double().cpu()).abs().sum()),
                         dual_values=[h["dual_value"] for h in flow.history],
                         wall=sum(h["time_s"] for h in flow.history))
                if s != 0:
                    del r["flow"]   # only member 0's maps are kept (figures, animation)
                results[name].append(r)
                got[KL_CLAIM_IDS[name]] = dict(energy_distance=r["ed"], reference=q)
                print(f"{name} member {s}: energy distance {r['ed0']:.4f} (P_0) -> {r['ed']:.4f} (P_K); null q95 "
                      f"{q:.4f}; TV of component weights {r['tv_weights']:.3f}")
            out.append(got)
        return out

    claims = [get_claim(KL_CLAIM_IDS[name]) for name in targets]
    first = claims[0].plan.looks(st.profile, st.first)[0]
    entries = run_plan(claims, measure, configuration=_kl_configuration(st, next(iter(targets)), first),
                       first=st.first, base_seed=st.seed)
    for e, name in zip(entries, targets):
        e["configuration"] = _kl_configuration(st, name, first)
        ref, stored = refs[name]
        e["reason"] = (f"reference q95 = {ref['q95']:.4g} (" + ("references/variational.json" if stored else
                       "computed at run time by kl_null_reference, the same fixed-seed code: these sizes are not "
                       "in references/variational.json") + f"; {ref['draws']} null draws, d = {ref['d']}, "
                       f"n = {ref['n']})")
    return dict(results=results, entries=entries, members=list(range(len(next(iter(results.values()))))),
                refs={name: r[0] for name, r in refs.items()})


def _kl_configuration(st: Setup, name: str, n_members: int) -> dict:
    sz = st.sizes["targets"][name]
    return configuration(st.profile, dict(sz, n_test=st.sizes["n_test"], n_seeds=n_members), st.paper[name], [
        "targets: stand-ins (the paper does not list the mixtures' means)",
        f"network sizes T = {tuple(sz['T'])}, h = {tuple(sz['h'])} (width, hidden layers)"])


def kl_moons_figure(ens: dict):
    """Fig. 1: the two-moons target's test samples beside ours (member 0)."""
    import matplotlib.pyplot as plt

    r = ens["results"]["moons"][0]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharex=True, sharey=True)
    axes[0].scatter(*r["y"].cpu().numpy().T, s=2, c="grey")
    axes[0].set(title="target (16-component mixture)", xlabel="x1", ylabel="x2")
    axes[1].scatter(*r["x"].cpu().numpy().T, s=2, c="tab:blue")
    axes[1].set(title=f"ours, member {r['member']}, k = {len(r['flow'].maps)}", xlabel="x1")
    return fig


def kl_frames(st: Setup, ens: dict) -> tuple[np.ndarray, list, np.ndarray]:
    """``(frames, times, target)``: 500 fresh :math:`P_0` samples of two-moons member 0 (the stream
    ``(seed, ".../frames", 0)``) pushed to every step, and 500 of the target's test samples."""
    r = ens["results"]["moons"][0]
    fl = r["flow"]
    frames = push_frames(fl, fl.sample_p0(500, stream(st.seed, _purpose(_KL, "frames"), 0, st.device)))
    return frames, [KL_STEP * k for k in range(len(frames))], r["y"][:500].cpu().numpy()


def kl_pca_figures(ens: dict) -> dict:
    """Fig. 2: for each mixture target, the target's and our test samples (member 0) on the target's first two
    principal components with KDE contours; ``{name: figure}``."""
    import matplotlib.pyplot as plt
    from scipy.stats import gaussian_kde
    from sklearn.decomposition import PCA

    results = ens["results"]
    figs = {}
    for name in (n for n in results if n != "moons"):
        r = results[name][0]
        pca = PCA(2).fit(r["y"].cpu().numpy())
        py, px = pca.transform(r["y"].cpu().numpy()), pca.transform(r["x"].cpu().numpy())
        f, axes = plt.subplots(1, 2, figsize=(9, 4), sharex=True, sharey=True)
        lo, hi = py.min(0) - 1, py.max(0) + 1
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 80), np.linspace(lo[1], hi[1], 80))
        for ax, pts, title in ((axes[0], py, "target"), (axes[1], px, f"ours, member {r['member']}")):
            ax.scatter(*py.T, s=1, c="lightgrey")
            kde = gaussian_kde(pts.T)
            ax.contour(gx, gy, kde(np.stack([gx.ravel(), gy.ravel()])).reshape(gx.shape), levels=8)
            ax.set(title=f"{name}: {title} (KDE contours)", xlabel="PC 1", ylabel="PC 2")
        f.tight_layout()
        figs[name] = f
    return figs


def kl_test_figure(st: Setup, ens: dict):
    """The two-sample test: per target, ours against the target (one dot per member) and the fixed reference q95
    (mark)."""
    import matplotlib.pyplot as plt

    results = ens["results"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(results)
    seed_dots(ax, range(len(names)), [[r["ed"] for r in results[n]] for n in names], offset=0.1,
              label="ours vs target (one dot per member)", floors=[[ens["refs"][n]["q95"]] for n in names],
              floor_label=f"target vs target: {KL_REF_QUANTILE:.0%} quantile of {KL_REF_DRAWS} draws",
              floor_color="grey", log=True)
    ax.set(xticks=range(len(names)), xticklabels=names, ylabel=f"energy distance (n = {st.sizes['n_test']})")
    ax.legend(fontsize=8)
    return fig


def kl_live(st: Setup, target: str = "moons", n_steps: int = 5, outer: int = 100):
    """The live panel's run: ``n_steps`` steps on ``target`` (stream ``(seed, ".../live-<target>", 0)``) with
    ``outer`` map updates; 2000 samples of ours and of the target on the target's first two principal components."""
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    targets = st.sizes["targets"]
    sz = dict(targets.get(target, targets["moons"]), outer=int(outer))
    f_l, tgt, _ = run_kl(target, sz, 0, seed=st.seed, step=KL_STEP, steps=int(n_steps), device=st.device,
                         what=f"live-{target}")
    x = f_l.sample(2000).cpu().numpy()
    y = tgt.sample(2000, stream(st.seed, _purpose(_KL, f"live-{target}/target"), 0, st.device)).cpu().numpy()
    pca = PCA(2).fit(y)
    f, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(*pca.transform(y).T, s=1, c="lightgrey", label="target")
    ax.scatter(*pca.transform(x).T, s=1, c="tab:blue", label="ours")
    ax.set(xlabel="PC 1", ylabel="PC 2")
    ax.legend()
    return f


def kl_verdicts(st: Setup, ens: dict) -> list:
    """Display the record of the sampling claims decided by :func:`run_kl_ensemble`; returns the entries."""
    results, entries = ens["results"], ens["entries"]
    keep = ("member", "ed", "ed0", "ref", "fractions", "tv_weights", "dual_values")
    record_metrics(
        st.key, st.profile, st.seed, entries,
        checks={"no_nan": bool(all(torch.isfinite(r["x"]).all() for rs in results.values() for r in rs)),
                # the JKO energy (variational KL estimate at the trained dual) decreases along the flow
                "kl_energy_decreased": bool(all(r["dual_values"][-1] < r["dual_values"][0]
                                                for rs in results.values() for r in rs))},
        metrics={**{name: [{k: v for k, v in r.items() if k in keep} for r in rs] for name, rs in results.items()},
                 "references": ens["refs"]},
        timings={f"{name}_seconds_member_{r['member']}": round(r["wall"], 2) for name, rs in results.items()
                 for r in rs})
    return entries


def kl_glue(st: Setup, ens: dict) -> dict:
    """The values the sampling notebook's text glues: the ensemble and test sizes, the reference and one summary
    line per target (test ratios per member, the same for :math:`P_0`, component weights, verdict)."""
    summary = []
    for e in ens["entries"]:
        name = e["id"].replace("kl-sampling-", "")
        rs = ens["results"][name]
        ratios = ", ".join(f"{r['ed'] / r['ref']:.2g}" for r in rs)
        tv = ", ".join(f"{r['tv_weights']:.2f}" for r in rs)
        start = ", ".join(f"{r['ed0'] / r['ref']:.2g}" for r in rs)
        better = sum(r["ed"] < r["ed0"] for r in rs)
        summary.append(f"- **{name}**: energy distance / the null's {KL_REF_QUANTILE:.0%} quantile per member "
                       f"{ratios} (a match needs below 1; the same ratio for the initial $P_0$: {start}, so "
                       f"{better} of {len(rs)} members end closer to the target than they started); total "
                       f"variation of the component weights {tv}; verdict **{e['status']}**.")
    return dict(kl_n_seeds=len(ens["members"]), kl_n_test=st.sizes["n_test"], kl_ref_draws=KL_REF_DRAWS,
                kl_ref_quantile=f"{KL_REF_QUANTILE:.0%}", kl_summary="\n".join(summary))


if __name__ == "__main__":   # python -m wgf_core.experiments.variational: regenerate the fixed KL references
    write_kl_references()
