r"""Experiment drivers of the IFT paper (Gladin, Dvurechensky, Mielke, Zhu, NeurIPS 2024).

What the notebooks ``notebooks/ift/01_particles_2d.ipynb`` (2-D targets, parameter ``target``) and
``notebooks/ift/03_mixture_100d.ipynb`` (100-D mixture) call, on top of the flows of
:mod:`wgf_core.flows.ift`:

* :func:`setup_2d`, :func:`setup_100d`: the profiles, the validation of every parameter (a
  :class:`~wgf_core.errors.ParameterError` naming it), the runs and ensemble members and the
  configuration of the verdicts (:class:`Setup`); :func:`problem`: the initial law, the target, the
  noise floor and the settings shared by every run (:class:`Problem`);
* :func:`run_methods`: the main runs of the schemes, one batch per method; :func:`distance_to_law`;
* :func:`plot_mmd2` (the MMD² curves with mean +- std band, noise floor and noise switch-off),
  :func:`trajectories_figure` (2-D paths), :func:`projection_figure` (100-D particles on the plane of
  the component means);
* :func:`verdicts_2d`, :func:`verdicts_100d`: the claims of :mod:`wgf_core.claims.ift` decided by their
  seed plans (:func:`wgf_core.claims.run_plan`: more members only while a claim is inconclusive),
  and the numbers the prose glues; :func:`record_2d`, :func:`record_100d`: checks and metrics of
  the record;
* the extras: :func:`qp_vs_pgd` (2-D), :func:`eta_grid` (100-D), and the
  live panels' callbacks :func:`live_flow_2d`, :func:`live_flow_100d`;
* the convention sweep, a sweep of its own (``notebooks/ift/conventions_2d.ipynb``, one run per convention
  and seed, run by :mod:`wgf_core.cli`): :func:`setup_convention_run`, :func:`convention_run`.

Random draws: run ``r`` of a page is the ensemble member ``r`` of the notebook's base seed ``seed``
(:func:`wgf_core.random.stream`, purposes ``"<page>/sample"``, ``"<page>/loop"``, ``"<page>/floor"``,
``"<page>/law"``, ``"<page>/subsample"``, ``"<page>/live"`` with ``<page>`` the page key, e.g.
``"ift/01_gaussian_2d"``); a 2-D claim member ``m`` is the runs ``m k, ..., m k + k - 1``
(``k = runs_per_member``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Sequence

import numpy as np
import torch

from .. import claims as C
from .. import gaussian_targets
from ..claims import ift as claims_ift
from ..errors import ParameterError
from ..flows import ift
from ..kernels import KERNELS, Kernel, get_kernel
from ..random import numpy_stream
from ..validation import (
    KERNEL_BLOCK_BYTES,
    PAIR_FLOPS,
    check_choice,
    check_device,
    check_int,
    check_positive,
    check_sizes,
    flow_memory,
    select_profile,
)

__all__ = ["TARGETS_2D", "Setup", "Problem", "setup_2d", "setup_100d", "problem", "run_methods", "distance_to_law",
           "final_lines", "mixture_summary",
           "plot_mmd2", "curves_figure", "main_curves", "trajectories_figure", "projector", "projection_figure", "animation",
           "checks", "early_ratio", "verdicts_2d", "verdicts_100d",
           "record_2d", "record_100d", "CONVENTION_CHOICES", "setup_convention_run",
           "convention_run", "convention_figure", "qp_vs_pgd", "eta_grid", "live_flow_2d",
           "live_flow_100d", "METHODS_2D", "METHODS_100D", "LIVE_CONTROLS_2D", "LIVE_CONTROLS_100D"]

#: The schemes of the 2-D experiments and of the 100-D one.
METHODS_2D = ("mmd", "mmd_noise", "ift")
METHODS_100D = ("mmd", "mmd_noise", "ift", "wfr")
#: Abscissa of every MMD² curve: the paper counts an IFT / WFR iteration as 2 steps.
STEPS_LABEL = "steps (one IFT iteration = 2 steps)"

#: What differs between the paper's two 2-D experiments; notebooks/pages.toml makes a book page of each.
TARGETS_2D = {
    "gaussian": dict(
        page="ift/01_gaussian_2d", claims=("ift-stuck", "ift-noise", "ift-noise-late", "ift-fast", "ift-teleport"),
        sample=gaussian_targets.gaussian_2d_target, show=4000, lim=(-3, 9),
        figures="**Fig. 3(a) and Fig. 4**", fig_curves="Fig. 3(a)", fig_paths="Fig. 4",
        target_formula=r"$\pi = \mathcal N\left(0, \begin{pmatrix}1 & 1/2\\ 1/2 & 2\end{pmatrix}\right)$",
        claims_from="The paper states these claims in its paragraph on this experiment (Sec. 4, *Gaussian "
                    "target in 2D experiment*)."),
    "mixture": dict(
        page="ift/02_mixture_2d", claims=("iftmix-stuck", "iftmix-noise", "iftmix-noise-late", "iftmix-fast",
                                          "iftmix-teleport"),
        sample=gaussian_targets.mixture_2d_target, show=5000, lim=(-4, 10),
        figures="**Fig. 3(b) and Fig. 5**", fig_curves="Fig. 3(b)", fig_paths="Fig. 5",
        target_formula=r"$\pi = \tfrac13\left[\mathcal N\left(0, \begin{pmatrix}1 & 1/2\\ 1/2 & 2\end{pmatrix}\right) "
                               r"+ \mathcal N\left(\begin{pmatrix}3\\-1\end{pmatrix}, I\right) + \mathcal N\left(\begin{pmatrix}1\\4"
                               r"\end{pmatrix}, \begin{pmatrix}3 & 1/2\\ 1/2 & 1\end{pmatrix}\right)\right]$",
        claims_from="The paper states these claims in its paragraph on the 2-D Gaussian experiment; for this "
                    "mixture it says only *The second experiment has a similar setup* and shows Fig. 3(b) and "
                    "Fig. 5, so the claims below are our readings: they carry the Gaussian paragraph's words to "
                    "the mixture (their `where` says so)."),
}
#: The prose of a 2-D page that depends on its target (glued by name).
PROSE_2D = ("figures", "target_formula", "fig_curves", "fig_paths", "claims_from")

# The paper's configuration of the 2-D experiments (Sec. 4). The convention fields are the claim registry's
# (claims_ift.CONVENTION_2D, reasons in claims_ift.CONVENTION_2D_NOTES): the verdicts are decided there,
# whatever the convention sweep shows.
PAPER_2D = dict(runs_per_member=50, n=100, steps=6000, sigma=10.0, tau=50.0, eta=0.1, noise=10.0, noise_off=3000,
                bandwidth=claims_ift.CONVENTION_2D["bandwidth"], step_scale=claims_ift.CONVENTION_2D["step_scale"],
                energy=claims_ift.CONVENTION_2D["energy"], target_mode=claims_ift.CONVENTION_2D["target"])
PROFILES_2D = {
    "ci": dict(PAPER_2D, runs=2, runs_per_member=1, n=30, steps=300, noise_off=150, log_every=10, snapshot_every=30,
               sweep_steps=200, qp_runs=1, qp_steps=20),
    "default": dict(PAPER_2D, runs=20, runs_per_member=5, log_every=50, snapshot_every=200,
                    sweep_steps=1600, qp_runs=2, qp_steps=200),
    "paper": dict(PAPER_2D, runs=150, runs_per_member=50, log_every=20, snapshot_every=100,
                  sweep_steps=2000, qp_runs=2, qp_steps=400),
}
# the paper's values (dim, steps, noise_off) and the authors' script's (the others; see
# claims_ift.CONVENTION_100D_NOTES)
PAPER_100D = dict(runs=20, n=10_000, dim=100, steps=9000, sigma=10.0, tau=1.0, eta_ift=0.001, eta_wfr=0.5, noise=2.0,
                  noise_off=4000, kernel="gauss")
PROFILES_100D = {
    "ci": dict(PAPER_100D, runs=2, n=30, steps=600, noise_off=300, log_every=20, snapshot_every=30,
               grid_runs=1, grid_steps=200),
    "default": dict(PAPER_100D, runs=3, n=100, log_every=50, snapshot_every=300, grid_runs=1, grid_steps=2000),
    "paper": dict(PAPER_100D, log_every=50, snapshot_every=150, grid_runs=2, grid_steps=9000),
}
_CONVENTION_FIELDS = ("bandwidth", "step_scale", "energy", "target_mode")

# The size caps of runs, n, steps and dim (wgf_core.validation.check_sizes) come from :func:`_estimate`: each
# method's flow of runs x n particles (wgf_core.validation.flow_memory: snapshots, logs, steps), the kernel sums in
# blocks of about 48 MiB (wgf_core.kernels), and the floating-point operations of the kernel sums.
#: The 2-D page's QP extra (:func:`qp_vs_pgd`): copies of the n x n QP matrix per run (the matrix, FISTA's
#: temporaries) and the FISTA iterations per step (its qp_max_iter).
QP_COPIES, QP_ITERS = 4, 100
#: Independent pairs of target samples per run of the 2-D noise floor (:func:`problem`), and reruns of the 100-D
#: weight-step grid (:func:`eta_grid`: 6 settings, 2 of them the main runs').
FLOOR_REPEATS, GRID_RERUNS = 20, 4


def _estimate(sz: dict, dim: int, itemsize: int, methods: int) -> tuple:
    """``(bytes, flops, steps)`` of one IFT page at the sizes ``sz`` (see the constants above): the main runs of
    ``methods`` methods, with the 2-D page's noise floors and QP extra or the 100-D page's weight-step grid."""
    runs, n, steps, d = sz["runs"], sz["n"], sz["steps"], sz.get("dim", dim)
    pair = n * n * (d + 2) * PAIR_FLOPS  # one kernel sum with its gradient over n x n pairs
    mem = methods * flow_memory(steps, runs, n, d, itemsize=itemsize, log_every=sz["log_every"],
                                snapshot_every=sz["snapshot_every"]) + KERNEL_BLOCK_BYTES
    flops, loop = methods * steps * runs * pair, methods * steps
    if "qp_runs" in sz:
        mem += sz["qp_runs"] * n * n * itemsize * QP_COPIES
        flops += sz["qp_steps"] * sz["qp_runs"] * (pair + QP_ITERS * 2 * n * n) + runs * FLOOR_REPEATS * 3 * pair
        loop += 2 * sz["qp_steps"]
    if "grid_runs" in sz:
        flops += GRID_RERUNS * sz["grid_steps"] * sz["grid_runs"] * pair
        loop += GRID_RERUNS * sz["grid_steps"]
    return mem, flops, loop


@dataclass
class Setup:
    """The validated setup of one IFT notebook (:func:`setup_2d`, :func:`setup_100d`)."""

    notebook: str  #: the record's key
    profile: str
    seed: int
    device: torch.device
    sizes: dict  #: the profile's sizes with the parameters given
    kernel: str  #: kernel name
    kernel_obj: Kernel
    convention: ift.Convention
    runs: list  #: the main runs: run r is the stream member r of the base seed
    members: list  #: the claim ensemble's members of the first look (2-D: runs_per_member runs each)
    conf: dict  #: the configuration of the verdicts (wgf_core.claims.configuration)
    purpose: str  #: prefix of the purposes of the streams (wgf_core.random): the page key
    dim: int = 2
    spec: dict = field(default_factory=dict)  #: 2-D: the target's entry of TARGETS_2D
    target_seed: int = 0  #: 100-D: seed of the random mixture (the problem instance)

    @property
    def dtype(self) -> torch.dtype:
        # 2-D: MMD^2 reaches 1e-8, float32 cancellation in the V-statistic is ~1e-7; 100-D: MMD^2 stays
        # above 1e-3, float32 is exact enough and twice as fast
        return torch.float64 if self.dim == 2 else torch.float32

    def __str__(self) -> str:
        skip = _CONVENTION_FIELDS if self.dim == 2 else ()
        deviations = self.conf["deviations"] or "the paper's values"
        k = self.sizes.get("runs_per_member", 1)
        runs = f"runs 0-{len(self.runs) - 1}" if len(self.runs) > 1 else "run 0"
        return "\n".join([f"profile={self.profile!r} device={self.device} base seed {self.seed}: {runs} "
                          f"({len(self.members)} members of {k} run{'s' if k > 1 else ''}) kernel={self.kernel_obj}",
                          f"convention: {self.convention.label}", f"configuration of the verdicts: {deviations}",
                          str({k: v for k, v in self.sizes.items() if k not in skip})])


def _override(sizes: dict, ints: dict, positives: dict, *, profile: str, dev, dim: int, itemsize: int,
              methods: int) -> None:
    """Set the parameters given (not None) in ``sizes``: ``noise_off`` an integer >= 0, the other ``ints`` sizes
    within their caps (:func:`_estimate`, :func:`wgf_core.validation.check_sizes`), ``positives`` numbers > 0."""
    if ints.get("noise_off") is not None:
        sizes["noise_off"] = check_int("noise_off", ints["noise_off"], minimum=0)
    for name, value in positives.items():
        if value is not None:
            sizes[name] = check_positive(name, value)
    table = PROFILES_2D if dim == 2 else PROFILES_100D
    check_sizes({k: v for k, v in ints.items() if k != "noise_off"}, sizes,
                lambda sz: _estimate(sz, dim, itemsize, methods), device=dev, profile_sizes=table[profile],
                model=f"{methods} methods' flows of runs x n particles and their n x n kernel sums")


def setup_2d(profile: str, device="cpu", seed: int = 0, *, target: str = "gaussian", page: Optional[str] = None,
             runs=None, n=None, steps=None, kernel: str = "gauss", sigma=None, tau=None, eta=None, noise=None,
             noise_off=None, bandwidth=None, step_scale=None, energy=None, target_mode=None) -> Setup:
    """The validated setup of ``ift/01_particles_2d`` (:data:`PROFILES_2D`); None takes the profile's value.

    ``target`` is a key of :data:`TARGETS_2D`; ``page`` the record's key (None: the target's page; another
    target's page is refused). Raises :class:`~wgf_core.errors.ParameterError` naming the first bad parameter.
    """
    target = check_choice("target", target, tuple(TARGETS_2D))
    spec = TARGETS_2D[target]
    notebook = spec["page"] if page is None else check_choice("page", page, (spec["page"],))
    dev = check_device(device)
    seed = check_int("seed", seed, minimum=0)
    sizes = select_profile(profile, PROFILES_2D)
    _override(sizes, dict(runs=runs, n=n, steps=steps, noise_off=noise_off),
              dict(sigma=sigma, tau=tau, eta=eta, noise=noise), profile=profile, dev=dev, dim=2, itemsize=8,
              methods=len(METHODS_2D))
    for name, value, allowed in [("bandwidth", bandwidth, ("2sigma2", "sigma2")),
                                 ("step_scale", step_scale, ("none", "1/n")),
                                 ("energy", energy, ("half", "full")), ("target_mode", target_mode, ("fixed", "fresh"))]:
        if value is not None:
            sizes[name] = check_choice(name, value, allowed)
    kernel_obj = get_kernel(check_choice("kernel", kernel, tuple(KERNELS)), sizes["sigma"])
    convention = ift.Convention(*(sizes[k] for k in _CONVENTION_FIELDS))
    if kernel == "gauss":
        kernel_obj = convention.kernel(sizes["sigma"])
    k = sizes["runs_per_member"]
    if sizes["runs"] % k:
        raise ParameterError(f"parameter 'runs' = {sizes['runs']} is not allowed: a multiple of "
                             f"{k} (runs per ensemble member at profile={profile!r})")
    # one ensemble member = the mean over runs_per_member runs (the paper's Fig. 3 shows the mean over 50 runs)
    members = list(range(sizes["runs"] // k))
    _check_members("runs", sizes["runs"], len(members), k, profile)
    conf = C.configuration(profile, dict(sizes, kernel=kernel), dict(PAPER_2D, kernel="gauss"),
                           notes=claims_ift.CONVENTION_2D_NOTES)
    return Setup(notebook, profile, seed, dev, sizes, kernel, kernel_obj, convention, list(range(sizes["runs"])),
                 members, conf, spec["page"], dim=2, spec=spec)


def _check_members(name: str, runs: int, members: int, k: int, profile: str) -> None:
    """A stochastic claim's first look needs ``C.MIN_SEEDS`` members outside ``profile="ci"``."""
    if profile != "ci" and members < C.MIN_SEEDS:
        raise ParameterError(f"parameter {name!r} = {runs} is not allowed at profile={profile!r}: at least "
                             f"{C.MIN_SEEDS * k} ({C.MIN_SEEDS} ensemble members of {k} run{'s' if k > 1 else ''})")


def setup_100d(profile: str, device="cpu", seed: int = 0, *, runs=None, n=None, steps=None, dim=None,
               kernel: str = "gauss", sigma=None, tau=None, eta_ift=None, eta_wfr=None, noise=None, noise_off=None,
               target_seed: int = 0) -> Setup:
    """The validated setup of ``ift/03_mixture_100d`` (:data:`PROFILES_100D`); None takes the profile's value.

    The convention is the authors' script's, the registry's ``claims_ift.CONVENTION_100D``.
    Raises :class:`~wgf_core.errors.ParameterError` naming the first bad parameter.
    """
    dev = check_device(device)
    seed = check_int("seed", seed, minimum=0)
    target_seed = check_int("target_seed", target_seed, minimum=0)
    sizes = select_profile(profile, PROFILES_100D)
    _override(sizes, dict(runs=runs, n=n, steps=steps, dim=dim, noise_off=noise_off),
              dict(sigma=sigma, tau=tau, eta_ift=eta_ift, eta_wfr=eta_wfr, noise=noise), profile=profile, dev=dev,
              dim=PAPER_100D["dim"], itemsize=4, methods=len(METHODS_100D))
    kernel_obj = get_kernel(check_choice("kernel", kernel, tuple(KERNELS)), sizes["sigma"])
    sizes["kernel"] = kernel
    convention = ift.Convention(**claims_ift.CONVENTION_100D)  # the authors' script's
    if kernel == "gauss":
        kernel_obj = convention.kernel(sizes["sigma"])
    _check_members("runs", sizes["runs"], sizes["runs"], 1, profile)
    runs = list(range(sizes["runs"]))  # one run per ensemble member
    conf = C.configuration(profile, sizes, PAPER_100D, notes=claims_ift.CONVENTION_100D_NOTES)
    return Setup("ift/03_mixture_100d", profile, seed, dev, sizes, kernel, kernel_obj, convention, runs, list(runs),
                 conf, "ift/03_mixture_100d", dim=sizes["dim"], target_seed=target_seed)


@dataclass
class Problem:
    """The initial law, the target, the noise floor and the settings every main run shares."""

    init: Any  #: GaussianMixture of the initial particles
    target: Any  #: GaussianMixture of the target
    floors: list  #: 2-D: MMD² between two independent n-point target samples, per main run (100-D: empty)
    floor: float  #: the dashed line: 2-D the median of ``floors``; 100-D the expected floor (stored reference)
    floor_note: str  #: where the floor comes from (the 100-D reference: stored or computed now)
    common: dict  #: keyword arguments of ift.run_experiment shared by the main runs
    eta: dict  #: weight step per method


def problem(S: Setup) -> Problem:
    """The problem of a setup: 2-D, the paper's initial law and the page's target, with the noise floor
    of each run from its member stream; 100-D, the standard normal and the random mixture of
    ``S.target_seed``, with the expected noise floor of ``claims_ift.noise_floor_reference``."""
    sz, dev, dtype = S.sizes, S.device, S.dtype
    if S.dim == 2 and S.spec:
        init = gaussian_targets.gaussian_2d_init(device=dev, dtype=dtype)
        target = S.spec["sample"](device=dev, dtype=dtype)
        floors = ift.target_noise_floors(target, S.kernel_obj, sz["n"], seed=S.seed, members=S.runs,
                                         purpose=f"{S.purpose}/floor", repeats=20, device=dev)
        floor, note = float(np.median(floors)), "median over the runs of the floor from 20 pairs of samples per run"
        eta = {m: sz["eta"] for m in ift.METHODS}
    else:
        init = gaussian_targets.standard_normal(S.dim, device=dev, dtype=dtype)
        target = gaussian_targets.random_mixture(S.dim, 3, seed=S.target_seed, device=dev, dtype=dtype)
        floors = []
        floor, note = claims_ift.noise_floor_reference(sz["n"], dim=S.dim, target_seed=S.target_seed,
                                                       sigma=sz["sigma"], kernel=S.kernel)
        eta = {"mmd": 0.1, "mmd_noise": 0.1, "ift": sz["eta_ift"], "wfr": sz["eta_wfr"]}  # unused by MMD flows
    common = dict(n=sz["n"], members=S.runs, seed=S.seed, purpose=S.purpose, steps=sz["steps"], sigma=sz["sigma"],
                  tau=sz["tau"], noise=sz["noise"], noise_off=sz["noise_off"], convention=S.convention, device=dev,
                  dtype=dtype, log_every=sz["log_every"], snapshot_every=sz["snapshot_every"], kernel=S.kernel)
    return Problem(init, target, floors, floor, note, common, eta)


def mixture_summary(target) -> str:
    """The norms of the component means and the smallest eigenvalue of each covariance, rounded."""
    norms = np.round(target.means.norm(dim=-1).tolist(), 3).tolist()
    eig = np.round(torch.linalg.eigvalsh(target.covs.double())[:, 0].tolist(), 3).tolist()
    return f"component mean norms: {norms}\nsmallest covariance eigenvalues: {eig}"


def final_lines(results: dict, precision: int = 2) -> str:
    """One line per method: its final MMD² per run."""
    return "\n".join(f"{ift.METHOD_LABELS[m]:28s} final MMD^2 per run "
                     f"{np.array2string(r.metrics['mmd2'][:, -1], precision=precision)}" for m, r in results.items())


def run_methods(P: Problem, methods: Sequence[str], runs: Optional[Sequence[int]] = None) -> tuple[dict, dict]:
    """The main runs (or the runs ``runs``, without snapshots): ``(results, timings)``, results by method
    (:class:`~wgf_core.runner.Trajectory`, all runs of a method in one batch) and ``{method}_seconds``."""
    kw = dict(P.common) if runs is None else dict(P.common, members=list(runs), snapshot_every=None)
    results, timings = {}, {}
    for method in methods:
        results[method] = ift.run_experiment(method, P.init, P.target, eta=P.eta[method], **kw)
        timings[f"{method}_seconds"] = results[method].seconds
    return results, timings


def distance_to_law(S: Setup, P: Problem, results: dict) -> dict:
    """Final MMD² of every run against a large independent target sample, by method
    (:func:`wgf_core.flows.ift.mmd2_to_law`, stream purpose ``"<page>/law"``)."""
    return {m: ift.mmd2_to_law(r, S.kernel_obj, P.target, seed=S.seed, members=r.extra["members"],
                               purpose=f"{S.purpose}/law") for m, r in results.items()}


# ----------------------------------------------------------------------------- figures


def plot_mmd2(ax, curves: dict, *, floor: Optional[float] = None, floor_label: str = "noise floor",
              noise_off: Optional[int] = None, xlabel: str = STEPS_LABEL, ylabel: str = "MMD²",
              title: Optional[str] = None, title_size: float = 9, legend_size: Optional[float] = 7):
    """MMD² curves, each the mean over runs with a +-1 std band (log scale, :func:`~wgf_core.plotting.mean_std_band`).

    ``curves``: label -> :class:`~wgf_core.runner.Trajectory` (its ``steps`` and ``metrics["mmd2"]``) or a pair
    ``(steps, values (runs, T))``. ``floor``: a dashed noise floor; ``noise_off``: a dotted line where the
    noise is switched off. Returns ``ax``.
    """
    from ..plotting import band_curves

    if not hasattr(curves, "items") or not curves:
        raise ParameterError(f"parameter 'curves' must be a non-empty mapping label -> trajectory or (steps, values), "
                             f"got {type(curves).__name__}")
    band_curves(ax, {label: ((c.steps, c.metrics["mmd2"]) if hasattr(c, "metrics") else c)
                     for label, c in curves.items()}, xlabel=xlabel, ylabel=ylabel, legend=False)
    if floor is not None:
        ax.axhline(floor, ls="--", c="k", lw=1, label=floor_label)
    if noise_off is not None:
        ax.axvline(noise_off, ls=":", c="0.5", lw=1, label="noise switched off")
    if title:
        ax.set_title(title, fontsize=title_size)
    ax.legend(fontsize=legend_size)
    return ax


def curves_figure(curves: dict, *, figsize=(6, 3.6), close: bool = False, **kw):
    """A figure of :func:`plot_mmd2` (closed with ``close``, for a selector). Returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    plot_mmd2(ax, curves, **kw)
    if close:
        plt.close(fig)
    return fig


def main_curves(S: Setup, P: Problem, results: dict):
    """The paper's Fig. 3 / Fig. 6: the main runs' MMD² curves, with noise floor and noise switch-off."""
    n, runs = S.sizes["n"], S.sizes["runs"]
    if S.dim == 2:
        kw = dict(ylabel="MMD² to the target sample", title_size=8,
                  title=f"mean ± std (log scale) over {runs} runs; {S.convention.label}")
    else:
        kw = dict(ylabel="MMD² to the evaluation sample", xlabel="steps (one IFT / WFR iteration = 2 steps)",
                  title=f"d = {S.dim}, n = {n}, mean ± std (log scale) over {runs} runs")
    return curves_figure({ift.METHOD_LABELS[m]: r for m, r in results.items()}, figsize=(6.5, 4), floor=P.floor,
                         floor_label=f"noise floor (two {n}-point target samples)", noise_off=S.sizes["noise_off"], **kw)


def trajectories_figure(S: Setup, results: dict, *, n_shown: int = 30):
    """The paper's Fig. 4 / Fig. 5: a random subsample of ``n_shown`` particles of the first run, paths from
    step 0 to the page's shown step (weight as colour intensity, vanished particles hollow)."""
    import matplotlib.pyplot as plt

    from ..plotting import scatter_particles

    show, lim, n = min(S.spec["show"], S.sizes["steps"]), S.spec["lim"], S.sizes["n"]
    sub = numpy_stream(S.seed, f"{S.purpose}/subsample").choice(n, size=min(n_shown, n), replace=False)
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 4), sharex=True, sharey=True)
    for ax, (method, r) in zip(np.atleast_1d(axes), results.items()):
        k = int(np.searchsorted(r.snapshot_steps, show, side="right")) - 1
        path = r.x_snapshots[: k + 1, 0][:, sub]
        for i in range(path.shape[1]):
            ax.plot(path[:, i, 0], path[:, i, 1], c="0.7", lw=0.5, zorder=0)
        ax.scatter(path[0, :, 0], path[0, :, 1], s=8, c="0.4", marker="x", label="step 0")
        scatter_particles(ax, path[-1], weights=r.w_snapshots[k, 0][sub], target=r.extra['y'][0],
                          label=f"step {int(r.snapshot_steps[k])}", xlim=lim, ylim=lim, title=ift.METHOD_LABELS[method])
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    plt.tight_layout()
    return fig


def projector(target):
    """``project(points (..., d)) -> (..., 2)`` numpy: coordinates in the plane through the three component
    means of ``target`` (orthonormal basis, origin their centroid)."""
    basis, _ = torch.linalg.qr((target.means[1:] - target.means[0]).T.double())  # (d, 2) orthonormal
    origin = target.means.mean(0).double()
    return lambda points: ((torch.as_tensor(points).double() - origin) @ basis).numpy()


def projection_figure(P: Problem, results: dict):
    """The 100-D particles of the first run at the last step, projected on the plane of the component means."""
    import matplotlib.pyplot as plt

    from ..plotting import scatter_particles

    project = projector(P.target)
    fig, axes = plt.subplots(1, len(results), figsize=(3.75 * len(results), 3.8), sharex=True, sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (method, r) in zip(axes, results.items()):
        scatter_particles(ax, project(r.x[0]), weights=r.w[0], target=project(r.extra['y'][0]),
                          title=f"{ift.METHOD_LABELS[method]}, step {int(r.steps[-1])}", legend=ax is axes[0])
        ax.scatter(*project(P.target.means).T, marker="*", s=120, c="r", label="component means")
        ax.set_xlabel("first in-plane coordinate")
    axes[0].set_ylabel("second in-plane coordinate")
    plt.tight_layout()
    return fig


def animation(S: Setup, P: Problem, r, title: str = "IFT particle GD"):
    """The animation of the first run of ``r`` (2-D: the plane; 100-D: the projection of :func:`projector`)."""
    from ..plotting import particle_animation

    times = [f"step {s}" for s in r.snapshot_steps]
    if S.dim == 2:
        return particle_animation(r.x_snapshots[:, 0], weights=r.w_snapshots[:, 0], target=r.extra['y'][0],
                                  times=times, xlim=S.spec["lim"], ylim=S.spec["lim"], title=title)
    project = projector(P.target)
    return particle_animation(np.stack([project(x) for x in r.x_snapshots[:, 0]]), weights=r.w_snapshots[:, 0],
                              target=project(r.extra['y'][0]), times=times, title=title + " (projection)")


# ----------------------------------------------------------------------------- verdicts and records


def _spread(glued: dict, name: str, vals) -> None:
    glued[f"{name}_med"] = float(np.median(vals))
    glued[f"{name}_min"] = float(np.min(vals))
    glued[f"{name}_max"] = float(np.max(vals))


def _per_run(measured: list, key: str) -> np.ndarray:
    return np.array([m_run[key] for m_run in measured])


def _decide(S: Setup, P: Problem, claim_ids: Sequence[str], methods: Sequence[str], per_run: list, measure_runs,
            reasons: Optional[dict] = None) -> list:
    """The claims ``claim_ids`` decided by their seed plan (:func:`wgf_core.claims.run_plan`).

    ``per_run`` holds the measurements of the main runs and grows in place: a later look runs the
    methods on the runs of its new members (:func:`run_methods` with ``runs``) and appends
    ``measure_runs(results, runs)``. A member is ``runs_per_member`` consecutive runs (2-D) or one run.
    """
    k = S.sizes.get("runs_per_member", 1)
    claims = [C.get(cid) for cid in claim_ids]

    def measure(members: list) -> list:
        need = (members[-1] + 1) * k
        if need > len(per_run):
            runs = list(range(len(per_run), need))
            more, _ = run_methods(P, methods, runs)
            per_run.extend(measure_runs(more, runs))
        groups = claims_ift.member_means(per_run[members[0] * k:need], k)
        return [{c.id: claims_ift.measured_for(c, g) for c in claims} for g in groups]

    return C.run_plan(claims, measure, configuration=S.conf, first=len(S.members), base_seed=S.seed, reasons=reasons)


def verdicts_2d(S: Setup, P: Problem, results: dict, vs_law: dict) -> tuple[list, list, dict]:
    """The page's claims (``S.spec["claims"]``) decided on the ensemble members (means over
    ``runs_per_member`` runs) by their seed plan: ``(entries, measured per run, glued numbers of the
    prose)``. The runs a later look adds are measured too, and their distances to the law are
    appended to ``vs_law``; the glued numbers are over every run measured."""
    def measure_runs(res: dict, runs: list) -> list:
        if res is not results:
            for m, law in distance_to_law(S, P, res).items():
                vs_law[m] = list(vs_law[m]) + law
        return ift.run_measurements(res, target=P.target, noise_off=S.sizes["noise_off"],
                                    early_step=claims_ift.EARLY_STEP, threshold=claims_ift.STUCK_THRESHOLD)

    measured = measure_runs(results, S.runs)
    entries = _decide(S, P, S.spec["claims"], METHODS_2D, measured, measure_runs)
    glued = dict(n_runs=len(measured), n_members=max(len(e["seeds"]) for e in entries),
                 runs_per_member=S.sizes["runs_per_member"])
    for m in results:
        _spread(glued, f"{m}_final", _per_run(measured, f"{m}_final"))
        glued[f"{m}_law_med"] = float(np.median(vs_law[m]))
    glued["stuck_counts"] = ", ".join(str(c) for c in _per_run(measured, "mmd_stuck_count"))
    glued["ift_early_med"] = float(np.median(_per_run(measured, "ift_early")))
    glued["van_below_ift"] = int((_per_run(measured, "mmd_final") < _per_run(measured, "ift_final")).sum())
    return entries, measured, glued


def early_ratio(measured: list) -> np.ndarray:
    """Extra, not a claim: the 2-D paragraph's "already after 1000 steps" carried to 100-D, IFT's MMD² at
    step ``claims_ift.EARLY_STEP`` over the noisy MMD flow's final value, per run."""
    return _per_run(measured, "ift_early") / _per_run(measured, "mmd_noise_final")


def verdicts_100d(S: Setup, P: Problem, results: dict) -> tuple[list, list, dict]:
    """The claims of ``ift/03_mixture_100d`` decided on the runs by their seed plan: ``(entries, measured,
    glued)``. Every run's ``floor`` is the expected noise floor ``P.floor`` (the stored reference)."""
    def measure_runs(res: dict, runs: list) -> list:
        out = ift.run_measurements(res, early_step=claims_ift.EARLY_STEP)
        for m_run in out:
            m_run["floor"] = P.floor
        return out

    measured = measure_runs(results, S.runs)
    entries = _decide(S, P, ("ift100-vs-wfr", "ift100-vanilla"), METHODS_100D, measured, measure_runs,
                      reasons={"ift100-vanilla": P.floor_note})
    glued = dict(n_runs=len(measured))
    for m in results:
        _spread(glued, f"{m}_final", _per_run(measured, f"{m}_final"))
    glued["ift_below_wfr"] = int((_per_run(measured, "ift_final") < _per_run(measured, "wfr_final")).sum())
    glued["ift_below_mmd"] = int((_per_run(measured, "ift_final") < _per_run(measured, "mmd_final")).sum())
    _spread(glued, "early_ratio", early_ratio(measured))
    return entries, measured, glued


def checks(results: dict, simplex: Sequence[str] = ("ift",), atol: float = 1e-8) -> dict:
    """The record's checks: no NaN, MMD² decreased on every run, weights of ``simplex`` methods on the simplex."""
    return {
        "no_nan": bool(all(np.isfinite(r.metrics['mmd2']).all() for r in results.values())),
        "mmd_decreased_every_run": bool(all((r.metrics['mmd2'][:, -1] < r.metrics['mmd2'][:, 0]).all()
                                            for r in results.values())),
        "weights_on_simplex": bool(all(torch.allclose(results[m].w.sum(-1), torch.ones((), dtype=results[m].w.dtype),
                                                      atol=atol) and bool((results[m].w >= 0).all()) for m in simplex)),
    }


def record_2d(S: Setup, P: Problem, results: dict, measured: list, vs_law: dict, qp_cmp: dict) -> dict:
    """``checks`` and ``metrics`` of the 2-D record (for :func:`wgf_core.reporting.record_metrics`)."""
    return dict(checks=checks(results), metrics={
        "convention": S.convention.label, "runs": len(measured), "runs_per_member": S.sizes["runs_per_member"],
        "n": S.sizes["n"], "steps": S.sizes["steps"], "noise_floor_per_main_run": P.floors, "per_run": measured,
        "final_mmd2_vs_law_per_run": vs_law,
        "extra_qp_vs_pgd_final_mmd2": {m: r.metrics['mmd2'][:, -1].tolist() for m, r in qp_cmp.items()},
    })


def record_100d(S: Setup, P: Problem, results: dict, measured: list, grid_final: dict) -> dict:
    """``checks`` and ``metrics`` of the 100-D record (for :func:`wgf_core.reporting.record_metrics`)."""
    sz = S.sizes
    return dict(checks=checks(results, simplex=("ift", "wfr"), atol=1e-4), metrics={
        "runs": len(measured), "n": sz["n"], "steps": sz["steps"], "dim": S.dim, "noise_floor_reference": P.floor,
        "per_run": measured, "settings": {k: sz[k] for k in ("sigma", "tau", "eta_ift", "eta_wfr", "noise", "noise_off")},
        "extra_ift_at_1000_over_noisy_final": early_ratio(measured).tolist(),
        "extra_weight_step_grid_final_mmd2": grid_final})


# ----------------------------------------------------------------------------- extras


#: The four conventions the paper leaves open, with their choices (the grid of the convention sweep).
CONVENTION_CHOICES = {"bandwidth": ("2sigma2", "sigma2"), "step_scale": ("none", "1/n"), "energy": ("half", "full"),
                      "target_mode": ("fixed", "fresh")}


def setup_convention_run(profile: str, device="cpu", seed: int = 0, *, target: str = "gaussian", bandwidth=None,
                         step_scale=None, energy=None, target_mode=None) -> Setup:
    """The validated setup of one run of the convention sweep (``notebooks/ift/conventions_2d.ipynb``).

    Validation and sizes are :func:`setup_2d`'s (None takes the verdicts' convention); the run is the
    member 0 of the base seed ``seed`` with the page's streams (the page's run 0 draws the same initial
    particles and target sample), for ``sweep_steps`` steps. Its record's key is ``ift/conventions_2d``.
    """
    S = setup_2d(profile, device, seed, target=target, bandwidth=bandwidth, step_scale=step_scale, energy=energy,
                 target_mode=target_mode)
    return replace(S, notebook="ift/conventions_2d", runs=[0], members=[0])


def convention_run(S: Setup, methods: Sequence[str] = METHODS_2D) -> tuple[dict, dict]:
    """One run of the convention sweep (an extra: it decides no verdict): the three schemes, member 0 of
    the base seed ``S.seed``, for ``sweep_steps`` steps, the noise switched off halfway, under ``S.convention``.

    Returns ``(row, results)``: the row holds the run's final MMD² per scheme, IFT's MMD² at step
    ``claims_ift.EARLY_STEP``, the vanilla flow's stuck particles, the run's noise floor and, for
    information, which of the page's claims' criteria this single short run meets; ``results`` the
    trajectories by method.
    """
    sz = S.sizes
    P = problem(S)
    half = sz["sweep_steps"] // 2
    kw = dict(P.common, steps=sz["sweep_steps"], noise_off=half, snapshot_every=None,
              log_every=max(sz["log_every"], 50), show_progress=False)
    results = {m: ift.run_experiment(m, P.init, P.target, eta=P.eta[m], **kw) for m in methods}
    meas = ift.run_measurements(results, target=P.target, noise_off=half, early_step=claims_ift.EARLY_STEP,
                                threshold=claims_ift.STUCK_THRESHOLD)[0]
    meas["floor"] = P.floors[0]
    met = {cid: C.get(cid).check(claims_ift.measured_for(C.get(cid), meas)).passed for cid in S.spec["claims"]}
    row = dict(target=[k for k, v in TARGETS_2D.items() if v is S.spec][0], convention=S.convention.label,
               **{k: getattr(S.convention, k if k != "target_mode" else "target") for k in CONVENTION_CHOICES},
               steps=sz["sweep_steps"], floor=meas["floor"],
               **{k: meas[k] for k in ("mmd_final", "mmd_noise_final", "ift_final", "ift_early", "mmd_stuck_count")},
               criteria_met=met, all_criteria_met=all(met.values()))
    return row, results


def convention_figure(row: dict, results: dict):
    """The MMD² curves of one :func:`convention_run` with its noise floor, titled by its convention."""
    return curves_figure({ift.METHOD_LABELS[m]: r for m, r in results.items()}, floor=row["floor"],
                         title=row["convention"])


def qp_vs_pgd(S: Setup, P: Problem, qp_max_iter: int = 100) -> tuple[dict, dict, object]:
    """IFT with one projected-gradient weight step against the exact QP step (the first ``qp_runs`` runs,
    ``qp_steps`` steps): ``(results by method, timings, figure)``."""
    kw = dict(P.common, members=S.runs[: S.sizes["qp_runs"]], steps=S.sizes["qp_steps"], snapshot_every=None,
              log_every=20)
    cmp = {m: ift.run_experiment(m, P.init, P.target, eta=P.eta[m], qp_max_iter=qp_max_iter, **kw)
           for m in ("ift", "ift_qp")}
    timings = {f"{m}_comparison_seconds": r.seconds for m, r in cmp.items()}
    fig = curves_figure({ift.METHOD_LABELS[m]: r for m, r in cmp.items()}, floor=P.floor, ylabel="MMD²")
    return cmp, timings, fig


def eta_grid(S: Setup, P: Problem, results: dict) -> tuple[dict, dict, float]:
    """The weight-step grid of the 100-D notebook (extra): IFT's and WFR's weight step around the main
    runs' (first ``grid_runs`` runs, ``grid_steps`` steps; the main runs' step is read off the main runs).

    Returns ``(figures by label (closed), final MMD² per run by setting, seconds)``.
    """
    sz = S.sizes
    figs, final = {}, {}
    t0 = time.perf_counter()
    for method, etas in (("ift", [sz["eta_ift"] / 10, sz["eta_ift"], sz["eta_ift"] * 10]),
                         ("wfr", [sz["eta_wfr"] / 10, sz["eta_wfr"], sz["eta_wfr"] * 4])):
        for eta_value in etas:
            if eta_value == P.eta[method]:  # the main runs' first runs, up to the grid's horizon: no rerun
                keep = results[method].steps <= sz["grid_steps"]
                steps, mmd2 = results[method].steps[keep], results[method].metrics['mmd2'][: sz["grid_runs"], keep]
            else:
                kw = dict(P.common, members=S.runs[: sz["grid_runs"]], steps=sz["grid_steps"], snapshot_every=None,
                          show_progress=False)
                res = ift.run_experiment(method, P.init, P.target, eta=eta_value, **kw)
                steps, mmd2 = res.steps, res.metrics['mmd2']
            fig = curves_figure({f"{ift.METHOD_LABELS[method]}, η = {eta_value:g}": (steps, mmd2)}, floor=P.floor,
                                xlabel="steps (one iteration = 2 steps)", close=True)
            final[f"{method}, eta = {eta_value:g}"] = mmd2[:, -1].tolist()
            figs[f"{method}, eta = {eta_value:g} (MMD² at step {int(steps[-1])}: {mmd2[:, -1].mean():.2e})"] = fig
    return figs, final, time.perf_counter() - t0


#: Controls of the live panels (wgf_core.widgets.live_panel).
LIVE_CONTROLS_2D = dict(method=list(ift.METHODS), sigma=(1.0, 20.0, 0.5), tau=(0.5, 100.0, 0.5),
                        eta=(0.01, 1.0, 0.01), n=(10, 300, 10), steps=(100, 6000, 100), step_scale=["none", "1/n"])
LIVE_CONTROLS_100D = dict(method=list(ift.METHODS), dim=(2, 100, 1), n=(20, 500, 10), steps=(200, 9000, 200),
                          tau=(0.1, 5.0, 0.1), eta=(0.0001, 1.0, 0.0001), sigma=(1.0, 30.0, 0.5))


def live_flow_2d(S: Setup, P: Problem, method="ift", sigma=10.0, tau=50.0, eta=0.1, n=100, steps=1000,
                 step_scale="none"):
    """The 2-D live panel's flow: 3 runs with the chosen settings; MMD² curve and final particles of run 0."""
    import matplotlib.pyplot as plt

    from ..plotting import scatter_particles

    c = S.convention
    r = ift.run_experiment(method, P.init, P.target, n=n, runs=3, seed=S.seed, purpose=f"{S.purpose}/live",
                           steps=steps, sigma=sigma, tau=tau, eta=eta, noise=S.sizes["noise"], noise_off=steps // 2,
                           convention=ift.Convention(c.bandwidth, step_scale, c.energy, c.target), device=S.device,
                           dtype=S.dtype, log_every=10, show_progress=False)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    plot_mmd2(a1, {ift.METHOD_LABELS[method]: r}, xlabel="steps", legend_size=None)
    scatter_particles(a2, r.x[0], weights=r.w[0], target=r.extra['y'][0], title="final particles, run 0")
    return fig


def live_flow_100d(S: Setup, method="ift", dim=20, n=100, steps=2000, tau=1.0, eta=0.001, sigma=10.0):
    """The 100-D live panel's flow: 2 runs in dimension ``dim`` with the chosen settings; MMD² curve."""
    law0 = gaussian_targets.standard_normal(dim, device=S.device, dtype=S.dtype)
    law = gaussian_targets.random_mixture(dim, 3, seed=S.target_seed, device=S.device, dtype=S.dtype)
    r = ift.run_experiment(method, law0, law, n=n, runs=2, seed=S.seed, purpose=f"{S.purpose}/live", steps=steps,
                           sigma=sigma, tau=tau, eta=eta, noise=S.sizes["noise"], noise_off=steps // 2,
                           convention=S.convention, device=S.device, dtype=S.dtype, log_every=20, show_progress=False)
    return curves_figure({ift.METHOD_LABELS[method]: r}, figsize=(6, 4), xlabel="steps", legend_size=None)
