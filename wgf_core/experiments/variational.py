r"""Experiment drivers of the variational JKO paper (Fan, Zhang, Taghvaei, Chen, ICML 2022).

Every flow here is an energy of :mod:`wgf_core.energies.variational` and the scheme
:class:`~wgf_core.schemes.VariationalJKO`, run by the one runner :func:`wgf_core.runner.run` from the
scheme's first sample pool (:meth:`~wgf_core.schemes.VariationalJKO.initial`) with the scheme's generator,
so that every seeded draw comes from one stream in the order of Algorithm 1.

* :func:`run_variational`: that call, for any energy and scheme of the paper;
* :func:`ou_problem`, :func:`run_ou`: the Ornstein-Uhlenbeck experiment (Sec. 4.2, Fig. 3), with a
  diverged seed recorded as diverged (its errors NaN) instead of raising;
* :func:`porous_scheme`: the porous-medium scheme (Sec. 4.3);
* :func:`aggregation_scheme`, :func:`run_aggregation`, :class:`PushCache`: the aggregation-diffusion
  experiment (Sec. 4.4), with the mode count, pulse width and interaction energy of the carried cloud at
  every step; :func:`count_density_modes`, :func:`quadrant_spread`, :func:`pulse_timeline` read them;
* :func:`make_target`, :func:`run_kl`, :func:`component_fractions`: KL sampling (Sec. 4.1).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch

from .. import pde
from ..energies.variational import (
    GeneralizedEntropy,
    Interaction,
    KLDivergence,
    WithInteraction,
    gaussian_attraction,
)
from ..errors import ParameterError
from ..gmm import GaussianMixture
from ..metrics import fit_gaussian, gaussian_symkl
from ..plotting import to_numpy
from ..random import make_generator
from ..runner import Trajectory, run
from ..schemes.variational import DualConfig, MapConfig, PoolConfig, TrainConfig, VariationalJKO
from ..validation import check_choice, check_device, check_int, check_positive

__all__ = ["run_variational", "ou_problem", "run_ou", "porous_scheme", "aggregation_scheme", "run_aggregation",
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
        m, S = fit_gaussian(x)
        mt, St = pde.ou_solution(A, b, k * step)
        curve.append(float(gaussian_symkl(m, S, mt, St)))
        if keep_frames:
            frames.append(x[:400].numpy())
        for t in t_eval:
            if abs(k * step - t) < 1e-9:
                # the headline numbers use n_eval_final samples (the paper's 5e5): with fewer, the sampling
                # error of the fitted covariance dominates in high d
                mf, Sf = fit_gaussian(scheme.sample(sz["n_eval_final"], k=k, generator=eval_gen).double().cpu())
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


