r"""Experiment setup of the MMD-regularised f-divergence flows (Stein, Neumayer, Rux, Steidl 2024).

:func:`run_flow` is what the notebooks ``notebooks/mmd_fdiv/*.ipynb`` and
``benchmarks/bench_mmd_fdiv.py`` call: it builds the energy :math:`D^\lambda_{f,\nu}`
(:func:`make_energy`: kernel, entropy, :math:`\lambda` or its annealing schedule, the inner solver's
settings), the scheme (explicit Euler, or Euler with step control when ``error_tol`` is set:
:func:`make_scheme`) and the logs (:func:`flow_log`), and runs them with
:func:`wgf_core.runner.run`. The :class:`~wgf_core.runner.Trajectory` carries, by name, the metrics
of :func:`flow_log` (``metrics[name]`` of shape ``(1, T)``), the snapshots, and in ``extra`` the
solver's and the step control's counters.

The notebooks' setup, runs, figures and records live here too, so the notebooks keep only calls:
``01_flow`` (:func:`setup_flow`, :func:`main_flow`, :func:`reference_ensemble`, :func:`lambda_grid`,
:func:`live_flow`, :func:`flow_verdicts`) and ``02_comparisons`` (:func:`setup_comparisons`,
:class:`Comparisons`); the profiles' sizes are :data:`FLOW_PROFILES` and :data:`COMPARISON_PROFILES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
import torch

from ..claims import MIN_SEEDS, configuration, run_plan
from ..claims import mmd_fdiv as R
from ..divergences import ENTROPIES, Entropy, get_entropy
from ..energies import MoreauFDivergence
from ..errors import ParameterError
from ..flows.mmd_fdiv import envelope_along, lambda_schedule, moreau_envelope
from ..kernels import KERNELS, Kernel, get_kernel
from ..measures import Particles
from ..random import stream
from ..runner import Trajectory, run
from ..schemes import Euler, StepControlledEuler
from ..targets import TARGETS, sample_prior, sample_target
from ..validation import (
    PAIR_FLOPS,
    check_choice,
    check_device,
    check_int,
    check_positive,
    check_sizes,
    check_step_count,
    flow_memory,
    select_profile,
)

__all__ = ["make_energy", "make_scheme", "flow_log", "run_flow", "LOGGED", "FLOW_PROFILES", "COMPARISON_PROFILES",
           "PURPOSES", "draw", "Setup", "setup_flow", "main_flow", "flow_summary", "plot_flow", "Reference",
           "reference_ensemble", "extend_reference",
           "plot_reference", "reference_glue", "lambda_grid", "final_figures", "live_flow", "plot_compare",
           "plot_ensemble", "flow_verdicts", "setup_comparisons", "Comparisons"]

#: The metrics :func:`flow_log` records (``"w2"`` only with ``compute_w2``).
LOGGED = ("functional", "dual", "gap", "mmd2", "inner", "lambda", "w2")


def make_energy(y: torch.Tensor, *, kernel: Union[str, Kernel] = "imq", s: Optional[float] = None,
                divergence: Union[str, Entropy] = "tsallis", alpha: Optional[float] = None, lambd: float = 0.01,
                tight: bool = False, line_search: str = "armijo", annealing: bool = False,
                annealing_factor: float = 10.0, annealing_stages: int = 2, n_steps: int = 1, tol: float = 5e-4,
                max_inner: int = 2000, solver_dtype: torch.dtype = torch.float64) -> MoreauFDivergence:
    r"""The energy :math:`D^\lambda_{f,\nu}` to the target sample ``y`` ``(M, d)``.

    Parameters
    ----------
    kernel, s : kernel name (or :class:`~wgf_core.kernels.Kernel`) and its parameter
    divergence, alpha : entropy name (or :class:`~wgf_core.divergences.Entropy`) and its parameter
    lambd : float
        :math:`\lambda > 0` (the final one when annealing).
    tight, line_search : the tight variant (:math:`\sigma` a probability) and its mirror-descent step rule
    annealing, annealing_factor, annealing_stages, n_steps :
        :math:`\lambda_j` for :math:`j = 0..n_{steps}` by
        :func:`~wgf_core.flows.mmd_fdiv.lambda_schedule` (constant without annealing)
    tol, max_inner, solver_dtype : the inner solver's relative duality gap, iteration cap and dtype
    """
    kern = kernel if isinstance(kernel, Kernel) else get_kernel(kernel, s)
    ent = divergence if isinstance(divergence, Entropy) else get_entropy(divergence, alpha)
    lambd = check_positive("lambd", lambd)
    check_choice("annealing", annealing, (True, False))
    lams = lambda_schedule(lambd, check_int("n_steps", n_steps) + 1, annealing=annealing,
                           factor=check_positive("annealing_factor", annealing_factor),
                           stages=check_int("annealing_stages", annealing_stages, minimum=0))
    return MoreauFDivergence(kern, ent, lams, tight, y, line_search=line_search, tol=tol, max_inner=max_inner,
                             solver_dtype=solver_dtype)


def make_scheme(error_tol: Optional[float] = None, max_substeps: int = 100):
    """Explicit Euler (``error_tol`` None, as the reference method) or :class:`~wgf_core.schemes.StepControlledEuler`."""
    max_substeps = check_int("max_substeps", max_substeps)
    return Euler() if error_tol is None else StepControlledEuler(error_tol, max_substeps)


def _scalar(v) -> torch.Tensor:
    return torch.tensor([float(v)], dtype=torch.float64)


def flow_log(y: torch.Tensor, compute_w2: bool = False) -> dict:
    r"""The logs of a flow, by name (each ``(mu, energy) -> (1,)``, float64).

    ``functional``: the primal value :math:`P \ge D^\lambda_{f,\nu}(\mu_t)` at the step's
    :math:`\lambda`; ``dual``: the certified lower bound; ``gap``: :math:`(P - D)/|P|`; ``mmd2``:
    :math:`\mathrm{MMD}^2(\mu_t, \nu)` (flow kernel, no 1/2); ``inner``: iterations of the last solve;
    ``lambda``; ``w2``: :math:`W_2(\mu_t, \nu_y)` by exact OT (POT, CPU) when ``compute_w2``.
    """
    log = {"functional": lambda m, e: e.value(m).to(torch.float64),
           "dual": lambda m, e: _scalar(e.state(m).dual),
           "gap": lambda m, e: _scalar(e.state(m).gap),
           "mmd2": lambda m, e: _scalar(e.mmd2(m)),
           "inner": lambda m, e: _scalar(e.state(m).iterations),
           "lambda": lambda m, e: _scalar(e.state(m).lam)}
    if compute_w2:
        from ..metrics import w2

        log["w2"] = lambda m, e: _scalar(w2(m.x[0], y))
    return log


def run_flow(x0: torch.Tensor, y: torch.Tensor, *, step_size: float = 0.01, n_steps: int = 100,
             error_tol: Optional[float] = None, max_substeps: int = 100, log_every: int = 1, snapshot_every: int = 10,
             compute_w2: bool = False, show_progress: bool = True, **problem) -> Trajectory:
    r"""The Wasserstein flow of :math:`D^\lambda_{f,\nu}` from ``x0`` ``(N, d)`` to the sample ``y`` ``(M, d)``.

    Parameters
    ----------
    step_size, n_steps : :math:`\tau` and the number of steps (flow time ``n_steps * step_size``)
    error_tol, max_substeps : step control (:func:`make_scheme`); None: plain explicit Euler
    log_every, snapshot_every : log / snapshot period in steps (step 0 and the last always)
    compute_w2 : also log ``w2`` (:func:`flow_log`)
    **problem : the energy's settings, :func:`make_energy` (``kernel``, ``s``, ``divergence``,
        ``alpha``, ``lambd``, ``tight``, ``line_search``, ``annealing``, ``annealing_factor``,
        ``annealing_stages``, ``tol``, ``max_inner``, ``solver_dtype``)

    Returns
    -------
    Trajectory
        ``metrics``: :data:`LOGGED` by name, ``(1, T)``; ``x_snapshots`` ``(S, 1, N, d)``; ``extra``:
        ``total_inner`` (inner iterations of every solve), ``substeps`` ``(n_steps,)`` (accepted
        Euler substeps per step: all 1 without ``error_tol``), ``rejected`` (rejected substeps),
        ``sigma_weights`` (weights of :math:`\hat\sigma` on the free atoms: ``y``, then ``x`` if
        :math:`f'_\infty < \infty`, at the end).
    """
    if not (isinstance(x0, torch.Tensor) and isinstance(y, torch.Tensor) and x0.dim() == 2 and y.dim() == 2
            and x0.shape[1] == y.shape[1]):
        shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in (x0, y)]
        raise ParameterError(f"x0 {shapes[0]} and y {shapes[1]} must be tensors (N, d) and (M, d)")
    step_size = check_positive("step_size", step_size)
    n_steps = check_int("n_steps", n_steps)
    energy = make_energy(y, n_steps=n_steps, **problem)
    scheme = make_scheme(error_tol, max_substeps)
    traj = run(energy, scheme, Particles.of(x0), step_size, n_steps, log=flow_log(y, compute_w2),
               log_every=check_int("log_every", log_every), snapshot_every=check_int("snapshot_every", snapshot_every),
               show_progress=show_progress, desc=f"{energy.entropy.name} flow", num_threads=None)
    substeps = getattr(scheme, "substeps", [1] * traj.iterations)
    traj.extra.update(total_inner=energy.total_inner, substeps=np.asarray(substeps, dtype=np.int64),
                      rejected=int(getattr(scheme, "rejected", 0)),
                      sigma_weights=energy.anchor.sol.w.detach().cpu().numpy())
    return traj


# --------------------------------------------------------------------------------------------------
# The notebooks' configuration, runs, figures and records (notebooks/mmd_fdiv/01_flow, 02_comparisons)
# --------------------------------------------------------------------------------------------------

#: Sizes of ``01_flow`` by profile (the reference configuration: bananas, Tsallis 2, imq s = 0.1, lambda = 0.01).
#: The ensemble's members come from the seed plan of the claims (:data:`wgf_core.claims.mmd_fdiv.FLOW_PLAN`).
FLOW_PROFILES = {
    "ci": dict(target="bananas", kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.01,
               N=50, M=50, step_size=1e-3, max_time=0.06, grid_N=20, grid_steps=10, frames=8, grid_lams=(1e-2, 1.0),
               ref_N=50, ref_steps=30, ref_half_step=True),
    "default": dict(target="bananas", kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.01,
                    N=300, M=300, step_size=1e-3, max_time=0.4, grid_N=60, grid_steps=100, frames=15,
                    grid_lams=(1e-2, 1.0), ref_N=150, ref_steps=1000, ref_half_step=False),
    "paper": dict(target="bananas", kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.01,
                  N=300, M=300, step_size=1e-3, max_time=1.0, grid_N=300, grid_steps=1000, frames=50,
                  grid_lams=(1e-3, 1e-2, 1e-1, 1.0), ref_N=300, ref_steps=1000, ref_half_step=True),
}
#: Sizes of ``02_comparisons`` by profile (members: the claims' seed plans, :mod:`wgf_core.claims.mmd_fdiv`).
COMPARISON_PROFILES = {
    "ci": dict(target="bananas", kernel="imq", s=0.1, lambd=0.01, N=20, step_size=1e-3, n_steps=15, error_tol=3e-3,
               tv=False),
    "default": dict(target="bananas", kernel="imq", s=0.1, lambd=0.01, N=100, step_size=1e-3, n_steps=200,
                    error_tol=3e-3, tv=False),
    "paper": dict(target="bananas", kernel="imq", s=0.1, lambd=0.01, N=300, step_size=1e-3, n_steps=1000,
                  error_tol=3e-3, tv=True),
}
#: The reference method's default problem (issue 3), its step and our step control's error bound there.
REF = dict(kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.01)
REF_STEP, REF_TOL = 0.01, 3e-3
#: The authors' code's defaults (issue 3) and the reference sizes of the comparisons (N = M).
REFERENCE_SIZES = dict(N=300, M=300, n_steps=1000, step_size=0.01)
PAPER_SIZES = dict(N=300, n_steps=1000)
#: Comparisons: stored particle sets per flow (plus the start), inner-iteration cap, the lambdas of section 4
#: and of the closed-form limit.
N_SNAP, MAX_INNER = 3, 500
#: Relative duality gap of the envelopes compared in section 3 (the tight comparison's certified bounds).
ENVELOPE_TOL = 5e-4
LAMS, LIMIT_LAMS = (1e-3, 1e-2, 1e-1, 1.0), (1e-2, 1e-1, 1.0, 10.0, 100.0)
_GAP_FLOOR = 1e-16  # relative gaps drawn on a log axis: an exact 0 drawn here
#: The purposes of the random streams (:func:`wgf_core.random.stream_seed`): one per kind of draw.
PURPOSES = {"main": "mmd_fdiv/01_flow/main", "reference": "mmd_fdiv/01_flow/reference",
            "grid": "mmd_fdiv/01_flow/lambda_grid", "live": "mmd_fdiv/01_flow/live",
            "comparisons": "mmd_fdiv/02_comparisons/draw"}


def draw(target: str, N: int, M: int, seed: int, purpose: str, member: int = 0, device="cpu") -> tuple:
    """``(x0, y)``: ``M`` target samples, then ``N`` prior particles (float64) of ensemble member
    ``member``, drawn on the CPU from the stream (``seed``, ``purpose``, ``member``) of
    :func:`wgf_core.random.stream`."""
    g = stream(seed, purpose, member)
    y = sample_target(target, M, g, device="cpu", dtype=torch.float64).to(check_device(device))
    x0 = sample_prior(target, N, g, device="cpu", dtype=torch.float64).to(check_device(device))
    return x0, y


@dataclass
class Setup:
    """What a notebook's first cell settles (validated): profile, base seed, members, device, flow settings.

    ``seed``: the base seed of every stream; ``first``: the notebook's ``n_seeds`` (None: the seed
    plans' first looks); ``members``: the ensemble members of the first look, ``0 .. n - 1``;
    ``cfg``: the settings (a parameter, or the profile's value when it is None); ``sizes``: the
    profile's sizes; ``options``: the remaining flow options (``tight``, ``annealing``,
    ``error_tol``); ``n_steps``: steps of the main flow.
    """

    profile: str
    seed: int
    members: list
    device: torch.device
    cfg: dict
    sizes: dict
    options: dict = field(default_factory=dict)
    n_steps: int = 0
    first: Optional[int] = None

    def __str__(self) -> str:
        return (f"profile={self.profile} device={self.device} base seed={self.seed} members={self.members} "
                f"steps={self.n_steps} {self.options}\n{self.cfg}")


# The size caps of N, M, n_seeds and of the steps (max_time / step_size, n_steps) come from :func:`_flow_cost`:
# the Moreau solver of every step assembles (M + N) x (M + N) Gram matrices in float64
# (wgf_core.energies.MoreauFDivergence._solve), each inner iteration multiplies by one, and the kernel's largest
# eigenvalue on the target takes an M x M eigendecomposition per flow; the runner keeps logs and snapshots.
#: Float64 (M + N) x (M + N) matrices a Moreau step holds at once (the Gram matrix, its blocks, the solver's).
MOREAU_COPIES = 6
#: Inner iterations per step at the least (the solver warm-starts; it takes tens where the flow moves fast).
INNER_MIN = 1
#: Floating-point operations per entry of an M x M symmetric eigendecomposition (about 10 M^3 in all).
EIG_FLOPS = 10
#: Runner steps (wgf_core.validation.STEP_SECONDS) one Moreau step costs at the least: measured 366 us for
#: N = M = 5, against 85 us for a plain Euler step.
MOREAU_STEP_WEIGHT = 4
#: Flows per member of the first look in ``02_comparisons`` (Tsallis 2 and 1/2, tight, three more lambdas) and
#: those of member 0 alone (Tsallis 1 and 3, TV).
COMPARISON_FLOWS, COMPARISON_EXTRA = 6, 3


def _flow_cost(N: float, M: float, steps: float, *, logs: int = len(LOGGED), frames: int = 20, d: int = 3) -> tuple:
    """``(bytes, flops, steps)`` of one flow of ``N`` particles to ``M`` target points for ``steps`` steps."""
    z = M + N
    mem = MOREAU_COPIES * 8.0 * z * z + flow_memory(steps, 1, N, d, log_every=max(1.0, steps / 50),
                                                   snapshot_every=max(1.0, steps / frames), logs=logs)
    flops = steps * (INNER_MIN * 2.0 * z * z + N * z * (d + 2) * PAIR_FLOPS) + EIG_FLOPS * M ** 3
    return mem, flops, MOREAU_STEP_WEIGHT * steps


def _flow_page_cost(z: dict) -> tuple:
    """``(bytes, flops, steps)`` of ``01_flow`` at ``z``, its flows one after another: the main flow, the
    reference flow of each member and the lambda grid's flows."""
    main = _flow_cost(z["N"], z["M"], z["n_steps"])
    ref = _flow_cost(z["ref_N"], z["ref_N"], z["ref_steps"])
    grid = _flow_cost(z["grid_N"], z["grid_N"], z["grid_steps"])
    k, g = z["n_seeds"], len(z["grid_lams"])
    return max(main[0], ref[0], grid[0]), main[1] + k * ref[1] + g * grid[1], main[2] + k * ref[2] + g * grid[2]


def _comparisons_cost(z: dict) -> tuple:
    """``(bytes, flops, steps)`` of ``02_comparisons`` at ``z``: :data:`COMPARISON_FLOWS` flows per member and
    :data:`COMPARISON_EXTRA` more, each of ``N`` particles to ``N`` target points."""
    one = _flow_cost(z["N"], z["N"], z["n_steps"])
    flows = COMPARISON_FLOWS * z["n_seeds"] + COMPARISON_EXTRA
    return one[0], flows * one[1], flows * one[2]


def _members(profile: str, looks: tuple) -> dict:
    """The smallest ``n_seeds`` (:data:`~wgf_core.claims.MIN_SEEDS` outside ``ci``: the claims depend on random
    draws), the profile's own (the seed plan's first look, ``plan``) and the most its plan runs (its last look,
    ``last``: never refused)."""
    return dict(minimum=1 if profile == "ci" else MIN_SEEDS, plan=looks[0], last=looks[-1])


def _settle(profile, table, device, seed, n_seeds, params) -> tuple:
    check_choice("profile", profile, ("ci", "default", "paper"))
    sizes = select_profile(profile, table)
    cfg = {k: (v if v is not None else sizes[k]) for k, v in params.items()}
    dev = check_device(device)
    seed = check_int("seed", seed, minimum=0)
    check_choice("target", cfg["target"], TARGETS)
    check_choice("kernel", cfg["kernel"], KERNELS)
    get_kernel(cfg["kernel"], cfg["s"])  # validates s
    return sizes, cfg, dev, seed


def setup_flow(profile: str, device="cpu", seed: int = 0, n_seeds: Optional[int] = None, *, target=None,
               kernel=None, s=None, divergence=None, alpha=None, lambd=None, N=None, M=None, step_size=None,
               max_time=None, tight: bool = False, annealing: bool = False,
               error_tol: Optional[float] = None) -> Setup:
    """The validated setup of ``01_flow`` (:data:`FLOW_PROFILES`); None takes the profile's value.

    The first look's members are ``0 .. n - 1`` with ``n`` the first look of
    :data:`wgf_core.claims.mmd_fdiv.FLOW_PLAN` at ``profile`` (``n_seeds`` replaces it). Raises
    :class:`~wgf_core.errors.ParameterError` naming the first bad parameter.
    """
    sizes, cfg, dev, seed = _settle(profile, FLOW_PROFILES, device, seed, n_seeds, dict(
        target=target, kernel=kernel, s=s, divergence=divergence, alpha=alpha, lambd=lambd, N=N, M=M,
        step_size=step_size, max_time=max_time))
    check_choice("divergence", cfg["divergence"], tuple(ENTROPIES))  # one value (a list is not a name)
    get_entropy(cfg["divergence"], cfg["alpha"])  # validates divergence and alpha
    for name in ("lambd", "step_size", "max_time"):
        cfg[name] = check_positive(name, cfg[name])
    seeds = _members(profile, R.FLOW_PLAN.looks(profile))
    profile_steps = max(1, int(round(sizes["max_time"] / sizes["step_size"])))
    z = dict(sizes, n_seeds=seeds["plan"], n_steps=profile_steps)
    model = "the main flow, the reference flows of the members and the lambda grid, (M + N)^2 Gram matrices"
    check_sizes(dict(N=N, M=M, n_seeds=n_seeds), z, _flow_page_cost, device=dev, model=model,
                minimum=dict(n_seeds=seeds["minimum"]), profile_sizes=dict(sizes, n_seeds=seeds["last"]))
    cfg["N"], cfg["M"], first = z["N"], z["M"], None if n_seeds is None else z["n_seeds"]
    given = "max_time" if max_time is not None else "step_size"
    n_steps = check_step_count(given, cfg[given], cfg["max_time"] / cfg["step_size"],
                               lambda v: _flow_page_cost(dict(z, n_steps=v)), device=dev, keep=profile_steps,
                               model=model, ratio="max_time / step_size")
    check_choice("tight", tight, (True, False))
    check_choice("annealing", annealing, (True, False))
    if error_tol is not None:
        error_tol = check_positive("error_tol", error_tol)
    if TARGETS[cfg["target"]].dim != 2:
        print("note: a 3-D target; plots show the first two coordinates")
    members = list(range(R.FLOW_PLAN.looks(profile, first)[0]))
    return Setup(profile, seed, members, dev, cfg, sizes, dict(tight=tight, annealing=annealing, error_tol=error_tol),
                 n_steps, first)


def _problem(cfg: dict) -> dict:
    return {k: cfg[k] for k in ("kernel", "s", "divergence", "alpha") if k in cfg}


def _notebook_claims(notebook: str) -> list:
    return [c for c in R.CLAIMS if c.notebook == notebook]


def main_flow(S: Setup):
    """The flow of ``01_flow`` (stream ``PURPOSES["main"]``, member 0), with W2 logged: returns ``(y, Trajectory)``."""
    cfg, n = S.cfg, S.n_steps
    x0, y = draw(cfg["target"], cfg["N"], cfg["M"], S.seed, PURPOSES["main"], 0, S.device)
    res = run_flow(x0, y, **_problem(cfg), lambd=cfg["lambd"], step_size=cfg["step_size"], n_steps=n,
                   tight=S.options["tight"], annealing=S.options["annealing"], error_tol=S.options["error_tol"],
                   log_every=max(1, n // 30), snapshot_every=max(1, n // S.sizes["frames"]), compute_w2=True)
    return y, res
def flow_summary(res: Trajectory) -> str:
    """Steps, inner iterations, MMD², W2 and the largest duality gap of a :func:`main_flow` run."""
    log = {k: v[0] for k, v in res.metrics.items()}
    return (f"{res.iterations} steps, inner iterations {res.extra['total_inner']} (mean {log['inner'].mean():.1f} "
            f"per logged step)\nMMD^2: {log['mmd2'][0]:.3e} -> {log['mmd2'][-1]:.3e}; W2: {log['w2'][0]:.3f} -> "
            f"{log['w2'][-1]:.3f}; max relative duality gap {log['gap'].max():.1e}")


def plot_flow(res: Trajectory):
    """Four panels along a flow: primal and dual values, MMD², relative duality gap, W2 (if logged)."""
    import matplotlib.pyplot as plt

    from ..plotting import band_curves

    m, t = res.metrics, res.times
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    band_curves(axes[0], {"primal $P$": (t, m["functional"]), "dual $D$": (t, m["dual"])}, xlabel="time t",
                ylabel=r"$D^\lambda_{f,\nu}(\mu_t)$", title="functional")
    band_curves(axes[1], {"MMD²": (t, m["mmd2"])}, xlabel="time t", ylabel=r"MMD$^2(\mu_t,\nu)$",
                title="MMD² to target", legend=False)
    band_curves(axes[2], {"gap": (t, np.maximum(m["gap"], _GAP_FLOOR))}, xlabel="time t", ylabel="(P - D) / P",
                title="relative duality gap", floor=1e-3, floor_label="1e-3")
    if "w2" in m:
        band_curves(axes[3], {"W2": (t, m["w2"])}, xlabel="time t", ylabel=r"$W_2(\mu_t,\nu)$", log=False,
                    title="W2 to target (POT)", legend=False)
    fig.tight_layout()
    return fig


@dataclass
class Reference:
    """The reference configuration over the ensemble: step-controlled ``runs`` of the ``members``
    (``runs[i]`` is member ``members[i]``, its draw ``data[i]``), plain Euler runs of member 0 by
    label (``plain``), and the sizes. :func:`extend_reference` adds members."""

    members: list
    N: int
    n_steps: int
    runs: list
    plain: dict
    data: list


def _ref_run(S: Setup, x0, y, n: int, **kw) -> Trajectory:
    return run_flow(x0, y, **REF, **kw, n_steps=n, log_every=max(1, n // 50), snapshot_every=n, show_progress=False)


def extend_reference(S: Setup, ref: Reference, member: int) -> Trajectory:
    """Run the step-controlled reference flow of ensemble member ``member`` (stream
    ``PURPOSES["reference"]``) and add it to ``ref``; returns its trajectory."""
    if member in ref.members:
        return ref.runs[ref.members.index(member)]
    x0, y = draw("bananas", ref.N, ref.N, S.seed, PURPOSES["reference"], member, S.device)
    r = _ref_run(S, x0, y, ref.n_steps, step_size=REF_STEP, error_tol=REF_TOL)
    ref.members.append(member)
    ref.runs.append(r)
    ref.data.append((x0, y))
    return r


def reference_ensemble(S: Setup) -> Reference:
    """:data:`REF` at :data:`REF_STEP` for ``sizes["ref_steps"]`` iterations, ``N = M = sizes["ref_N"]``:
    with step control (:data:`REF_TOL`) for every member of the first look, plain Euler for member 0
    (and at half the step when ``sizes["ref_half_step"]``). Member ``k`` draws its prior and target
    samples from the stream (``S.seed``, ``PURPOSES["reference"]``, ``k``)."""
    ref = Reference([], S.sizes["ref_N"], S.sizes["ref_steps"], [], {}, [])
    for k in S.members:
        extend_reference(S, ref, k)
    x0, y = ref.data[0]
    ref.plain["tau = 0.01, plain Euler"] = _ref_run(S, x0, y, ref.n_steps, step_size=REF_STEP)
    if S.sizes["ref_half_step"]:  # plain Euler with half the step (not at default: CPU budget)
        ref.plain["tau = 0.005, plain Euler"] = _ref_run(S, x0, y, ref.n_steps, step_size=REF_STEP / 2)
    return ref


def _drop(r: Trajectory) -> float:
    return float(r.metrics["mmd2"][0, 0] / max(r.metrics["mmd2"][0, -1], 1e-300))


def _n_outside(r: Trajectory, y: torch.Tensor) -> int:
    lo, hi = y.min(0).values - 0.5, y.max(0).values + 0.5  # the target's box, widened by 0.5
    return int(((r.x[0] < lo) | (r.x[0] > hi)).any(1).sum())


def plot_reference(ref: Reference):
    """MMD² and duality gap per iteration (step control: mean +- std over the members; plain Euler:
    member 0), and member 0's final particles of plain Euler and of the step control."""
    import matplotlib.pyplot as plt

    from ..plotting import band_curves

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    sc = f"step control, members {ref.members}"
    for ax, key, ylabel, title, floor in ((axes[0], "mmd2", r"MMD$^2(\mu_k,\nu)$", "reference configuration", None),
                                          (axes[1], "gap", "(P - D) / P", "relative duality gap", 1e-3)):
        curves = {sc: (ref.runs[0].steps,
                       np.maximum(np.concatenate([r.metrics[key] for r in ref.runs]), _GAP_FLOOR))}
        curves.update({f"{k}, member 0": (r.steps, np.maximum(r.metrics[key], _GAP_FLOOR))
                       for k, r in ref.plain.items()})
        band_curves(ax, curves, xlabel="iteration", ylabel=ylabel, title=title, floor=floor, floor_label="1e-3")
    y = ref.data[0][1].cpu().numpy()
    axes[2].scatter(*y.T[:2], s=5, c="0.6", label="target")
    axes[2].scatter(*ref.plain["tau = 0.01, plain Euler"].x[0].cpu().numpy().T[:2], s=7, c="C1",
                    label="tau = 0.01, plain Euler")
    axes[2].scatter(*ref.runs[0].x[0].cpu().numpy().T[:2], s=7, c="C0", marker="x", label="tau = 0.01, step control")
    axes[2].set(xlabel="$x_1$", ylabel="$x_2$", title=f"member 0: particles at t = {ref.n_steps * REF_STEP:g}")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def reference_glue(ref: Reference) -> dict:
    """The values the text of the reference section quotes, by glue name."""
    r_pl, half = ref.plain["tau = 0.01, plain Euler"], ref.plain.get("tau = 0.005, plain Euler")
    drops = [_drop(r) for r in ref.runs]
    substeps = [float(r.extra["substeps"].mean()) for r in ref.runs]
    return {"ref_n_seeds": len(ref.members), "drop_plain": _drop(r_pl),
            "half_sentence": (f", against {_drop(half):.3g} for plain Euler with $\\tau = 0.005$" if half is not None
                              else " (plain Euler with $\\tau = 0.005$ runs at `ci` and `paper` only)"),
            "drop_sc_min": min(drops), "drop_sc_max": max(drops),
            "substeps_min": min(substeps), "substeps_max": max(substeps),
            "out_plain": _n_outside(r_pl, ref.data[0][1]), "out_sc": _n_outside(ref.runs[0], ref.data[0][1]),
            "ref_gap_max": max(float(r.metrics["gap"].max()) for r in list(ref.runs) + list(ref.plain.values())),
            "plain_stalls": "stalls" if _drop(r_pl) < min(drops) / 10 else "does not stall"}


def live_flow(S: Setup, divergence="tsallis", alpha=2.0, lambd=0.01, steps=100):
    """The live panel of ``01_flow``: a flow of 80 particles (stream ``PURPOSES["live"]``), its final
    particles and MMD² curve."""
    x_, y_ = draw(S.cfg["target"], 80, 80, S.seed, PURPOSES["live"], 0, S.device)
    r = run_flow(x_, y_, kernel=S.cfg["kernel"], s=S.cfg["s"], divergence=divergence, alpha=alpha, lambd=lambd,
                 step_size=S.cfg["step_size"], n_steps=int(steps), error_tol=S.options["error_tol"],
                 show_progress=False)
    return plot_compare({f"{divergence} (alpha={alpha}), lambda={lambd}": r}, y_, "live run")


def plot_compare(runs: dict, y, title: str):
    """MMD² along each flow (left) next to each run's final particles over the target sample ``y``."""
    import matplotlib.pyplot as plt

    from ..plotting import band_curves, scatter_particles

    fig, axes = plt.subplots(1, len(runs) + 1, figsize=(3.3 * (len(runs) + 1), 3.1))
    band_curves(axes[0], {lab: (r.times, r.metrics["mmd2"]) for lab, r in runs.items()}, xlabel="time t",
                ylabel=r"MMD$^2(\mu_t,\nu)$", title=title)
    for ax, (lab, r) in zip(axes[1:], runs.items()):
        scatter_particles(ax, r.x[0], target=y, title=lab, legend=False)
    fig.tight_layout()
    return fig


def _verdict_glue(entries: list, keys: dict, bounds: bool) -> dict:
    """Per claim key: its verdict, the number of members it was decided on, and (``bounds``) the
    spread of its values."""
    by_id, out = {e["id"]: e for e in entries}, {}
    for key, cid in keys.items():
        out[f"{key}_verdict"] = by_id[cid]["status"]
        out[f"{key}_n"] = len(by_id[cid]["seeds"])
        if bounds:
            for b in ("min", "max"):
                out[f"{key}_{b}"] = by_id[cid][b] if by_id[cid][b] is not None else float("nan")
    return out


def _flow_measure(r: Trajectory) -> dict:
    """One reference member's measurements for the claims of ``01_flow``."""
    return {"mmdfdiv-gap": dict(max_gap=float(r.metrics["gap"].max())),
            "mmdfdiv-mmd-drop": dict(mmd2_initial=float(r.metrics["mmd2"][0, 0]),
                                     mmd2_final=float(r.metrics["mmd2"][0, -1])),
            "mmdfdiv-descent": dict(primal=r.metrics["functional"][0].tolist(), dual=r.metrics["dual"][0].tolist())}


def flow_verdicts(S: Setup, res: Trajectory, ref: Reference) -> tuple:
    """Decide the claims of ``01_flow`` over the reference ensemble by their seed plan
    (:func:`wgf_core.claims.run_plan`: members of later looks are run here, by :func:`extend_reference`,
    only while a claim is inconclusive).

    Returns ``(entries, record, glued)``: the claims' record entries, the keyword arguments
    ``checks``, ``metrics``, ``timings`` of :func:`wgf_core.reporting.record_metrics`, and the
    values the text quotes by glue name.
    """
    cfg, n_steps = S.cfg, S.n_steps
    conf = configuration(S.profile, dict(N=ref.N, M=ref.N, n_steps=ref.n_steps, step_size=REF_STEP),
                         REFERENCE_SIZES, notes=[
        f"Euler step control error_tol = {REF_TOL:g} within each step of 0.01 (the reference code takes plain explicit "
        "Euler steps, which stall here; plain Euler runs are shown for member 0)",
        "reference configuration = the authors' code's defaults as issue 3 fixed them; the paper's own settings are "
        "not in shared/seeds"])

    def measure(members):
        return [_flow_measure(extend_reference(S, ref, k)) for k in members]

    claims = _notebook_claims("mmd_fdiv/01_flow")
    entries = run_plan(claims, measure, configuration=conf, first=S.first, base_seed=S.seed)
    by_id = {e["id"]: e for e in entries}
    # why the descent check fails where it does (generated; it does not decide): where along the run the first
    # certified rise sits, and the flow of 'The flow' section at the finer step, shown as an extra
    used = by_id["mmdfdiv-descent"]["seeds"]
    rises = []
    for k in used:
        r = ref.runs[ref.members.index(k)]
        primal, dual, mmd2 = (r.metrics[key][0] for key in ("functional", "dual", "mmd2"))
        up = [i for i in range(len(primal) - 1) if dual[i + 1] > primal[i]]
        if up:
            rises.append(float(mmd2[0] / max(mmd2[up[0]], 1e-300)))
    log = {k: v[0] for k, v in res.metrics.items()}
    extra = R.no_certified_increase(log["functional"].tolist(), log["dual"].tolist())
    by_id["mmdfdiv-descent"]["reason"] = (
        (f"Certified rises appear in {len(rises)} of {len(used)} members, the first once MMD^2 is already "
         f"{min(rises):.3g}x or more below its start; the step control bounds the local error as a length "
         f"(error_tol = {REF_TOL:g}), not relative to the small functional there. " if rises else "")
        + f"Extra, not deciding: the flow of 'The flow' section (tau = {cfg['step_size']:g}, {n_steps} steps, "
          f"N = {cfg['N']}) {'meets' if extra.passed else 'misses'} the criterion: {extra.text}.")
    runs = [res, *ref.runs, *ref.plain.values()]
    no_nan = bool(all(np.isfinite(r.x_snapshots).all() and np.isfinite(r.metrics["functional"]).all()
                      and np.isfinite(r.metrics["mmd2"]).all() for r in runs))
    totals = lambda r: dict(mmd2_initial=float(r.metrics["mmd2"][0, 0]),  # noqa: E731
                            mmd2_final=float(r.metrics["mmd2"][0, -1]), max_gap=float(r.metrics["gap"].max()),
                            inner_iterations_total=int(r.extra["total_inner"]))
    record = dict(
        checks={"no_nan": no_nan, "mmd_decreased": bool(log["mmd2"][-1] < log["mmd2"][0]),
                "weak_duality": _weak_duality(runs)},
        metrics={"mmd2_initial": log["mmd2"][0], "mmd2_final": log["mmd2"][-1], "w2_final": log["w2"][-1],
                 "max_gap": log["gap"].max(), "inner_iterations_total": res.extra["total_inner"], "n_steps": n_steps,
                 "reference_step_control": [dict(member=k, **totals(r), substeps_mean=float(r.extra["substeps"].mean()),
                                                 rejected=int(r.extra["rejected"]))
                                            for k, r in zip(ref.members, ref.runs)],
                 "reference_plain_member_0": {name: totals(r) for name, r in ref.plain.items()},
                 "ref_N": ref.N, "ref_steps": ref.n_steps, "error_tol": S.options["error_tol"], **cfg},
        timings={"flow_seconds_per_step": res.seconds_per_step,
                 **{f"reference_step_control_seconds_per_iteration_member_{k}": r.seconds_per_step
                    for k, r in zip(ref.members, ref.runs)},
                 **{f"reference_{name}_seconds_per_iteration": r.seconds_per_step for name, r in ref.plain.items()}})
    glued = _verdict_glue(entries, {"gap": "mmdfdiv-gap", "drop": "mmdfdiv-mmd-drop", "descent": "mmdfdiv-descent"},
                          bounds=True)
    return entries, record, glued


def _weak_duality(runs) -> bool:
    return all(bool((r.metrics["dual"] <= r.metrics["functional"] + 1e-9 * np.abs(r.metrics["functional"])).all())
               for r in runs)


def lambda_grid(S: Setup) -> tuple:
    """``01_flow``'s grid: plain Euler flows of ``sizes["grid_N"]`` particles for each ``sizes["grid_lams"]``
    from one draw (stream ``PURPOSES["grid"]``); returns ``(y, {"lambda = ...": Trajectory})``."""
    cfg, n = S.cfg, S.sizes["grid_steps"]
    x0, y = draw(cfg["target"], S.sizes["grid_N"], S.sizes["grid_N"], S.seed, PURPOSES["grid"], 0, S.device)
    return y, {f"lambda = {lam:g}": run_flow(x0, y, **_problem(cfg), lambd=lam, step_size=cfg["step_size"], n_steps=n,
                                             log_every=n, show_progress=False) for lam in S.sizes["grid_lams"]}


def final_figures(runs: dict, y) -> dict:
    """One figure per run of its final particles over ``y``, titled with the final MMD², for a selector."""
    from ..plotting import particles_figures

    return particles_figures({k: r.x[0] for k, r in runs.items()}, y,
                             titles={k: f"{k}: MMD² {r.metrics['mmd2'][0, -1]:.2e}" for k, r in runs.items()})


def plot_ensemble(curves: dict, title: str):
    """MMD² along the flow, mean +- std over the members, one band per label (``curves``: label -> runs)."""
    import matplotlib.pyplot as plt

    from ..plotting import band_curves

    fig, ax = plt.subplots(figsize=(5, 3.3))
    n = max(len(runs) for runs in curves.values())
    band_curves(ax, {lab: (runs[0].times, np.concatenate([r.metrics["mmd2"] for r in runs]))
                     for lab, runs in curves.items()},
                xlabel="time t", ylabel=r"MMD$^2(\mu_t,\nu)$", title=f"{title} ({n} members)")
    fig.tight_layout()
    return fig


def setup_comparisons(profile: str, device="cpu", seed: int = 0, n_seeds: Optional[int] = None, *, target=None,
                      kernel=None, s=None, lambd=None, N=None, step_size=None, n_steps=None,
                      error_tol=None) -> Setup:
    """The validated setup of ``02_comparisons`` (:data:`COMPARISON_PROFILES`; None takes the profile's
    value). The first look's members are ``0 .. n - 1``, ``n`` the first look of the claims' seed
    plans at ``profile`` (``n_seeds`` replaces it); member ``k`` draws ``N`` prior and ``N`` target
    points from the stream (``seed``, ``PURPOSES["comparisons"]``, ``k``) (:meth:`Comparisons.data`)."""
    sizes, cfg, dev, seed = _settle(profile, COMPARISON_PROFILES, device, seed, n_seeds, dict(
        target=target, kernel=kernel, s=s, lambd=lambd, N=N, step_size=step_size, n_steps=n_steps,
        error_tol=error_tol))
    for name in ("lambd", "step_size", "error_tol"):
        cfg[name] = check_positive(name, cfg[name])
    seeds = _members(profile, max(c.plan.looks(profile) for c in _notebook_claims("mmd_fdiv/02_comparisons")))
    z = dict(sizes, n_seeds=seeds["plan"])
    check_sizes(dict(N=N, n_steps=n_steps, n_seeds=n_seeds), z, _comparisons_cost, device=dev,
                model="the flows of the comparisons over the members, (2 N)^2 Gram matrices",
                minimum=dict(n_seeds=seeds["minimum"]), profile_sizes=dict(z, n_seeds=seeds["last"]))
    cfg["N"], cfg["n_steps"], first = z["N"], z["n_steps"], None if n_seeds is None else z["n_seeds"]
    firsts = {c.plan.looks(profile, first)[0] for c in _notebook_claims("mmd_fdiv/02_comparisons")}
    if len(firsts) != 1:  # the sections run the first look of every claim on the same members
        raise ValueError(f"the claims of mmd_fdiv/02_comparisons have different first looks {sorted(firsts)}")
    return Setup(profile, seed, list(range(firsts.pop())), dev, cfg, sizes, n_steps=cfg["n_steps"], first=first)


class Comparisons:
    """The four comparisons of ``02_comparisons`` on the ensemble of ``S`` (:func:`setup_comparisons`).

    Each section's method runs its flows (member 0, and every member of the first look where a
    claim is decided) and returns member 0's runs by label; ``runs`` collects them all,
    ``ensembles`` the first look's runs by comparison, ``measured[claim id][member]`` the
    criterion's keyword arguments. :meth:`verdicts` decides the claims by their seed plans,
    measuring the members of later looks (``measure_*``) only while a claim is inconclusive.
    """

    def __init__(self, S: Setup):
        self.S = S
        self._data, self._tsallis2, self._fin, self._tight, self._lam = {}, {}, {}, {}, {}
        self.y = self.data(0)[1]
        self.runs, self.ensembles = {}, {}
        self.measured = {c.id: {} for c in _notebook_claims("mmd_fdiv/02_comparisons")}
        self.env = dict(kernel=S.cfg["kernel"], s=S.cfg["s"], divergence="tsallis", alpha=2.0, lambd=S.cfg["lambd"])

    def data(self, member: int) -> tuple:
        """``(x0, y)`` of ensemble member ``member`` (stream ``PURPOSES["comparisons"]``), drawn once."""
        if member not in self._data:
            self._data[member] = draw(self.S.cfg["target"], self.S.cfg["N"], self.S.cfg["N"], self.S.seed,
                                      PURPOSES["comparisons"], member, self.S.device)
        return self._data[member]

    def flow(self, member: int = 0, **kw) -> Trajectory:
        """The flow of ensemble member ``member`` at the page's settings, ``kw`` overriding them."""
        cfg, n = self.S.cfg, self.S.cfg["n_steps"]
        xs, ys = self.data(member)
        args = dict(kernel=cfg["kernel"], s=cfg["s"], lambd=cfg["lambd"], step_size=cfg["step_size"], n_steps=n,
                    log_every=max(1, n // 25), snapshot_every=max(1, n // N_SNAP), error_tol=cfg["error_tol"],
                    show_progress=False, max_inner=MAX_INNER)
        args.update(kw)
        return run_flow(xs, ys, **args)

    def tsallis2(self, member: int) -> Trajectory:
        """The Tsallis-2 flow (f'_inf = inf) of ``member`` at the page's lambda, run once and shared by
        sections 2-4."""
        if member not in self._tsallis2:
            self._tsallis2[member] = self.flow(member, divergence="tsallis", alpha=2.0)
        return self._tsallis2[member]

    # ------------------------------------------------------------------ the measurements per member
    def measure_recession(self, member: int) -> dict:
        """``mmdfdiv-recession`` of ``member``: final MMD² of the Tsallis-1/2 and Tsallis-2 flows."""
        if member not in self.measured["mmdfdiv-recession"]:
            fin = self.flow(member, divergence="tsallis", alpha=0.5)
            self._fin[member] = fin
            self.measured["mmdfdiv-recession"][member] = dict(
                mmd2_finite=float(fin.metrics["mmd2"][0, -1]), mmd2_infinite=float(self.tsallis2(member).metrics["mmd2"][0, -1]))
        return self.measured["mmdfdiv-recession"][member]

    def measure_tight(self, member: int, tight: bool = True) -> dict:
        """``mmdfdiv-tight`` of ``member``: both envelopes (certified bounds) at the particles stored along
        the non-tight and the tight flow. ``tight=False`` is the deliberately broken variant (the
        "tight" flow and envelope without the mass constraint) the criterion must reject; it is not
        cached."""
        if tight and member in self.measured["mmdfdiv-tight"]:
            return self.measured["mmdfdiv-tight"][member]
        tight_run = self.flow(member, divergence="tsallis", alpha=2.0, tight=tight)
        yk = self.data(member)[1]
        td, tp, nd, npv, times = [], [], [], [], []
        for r in (self.tsallis2(member), tight_run):  # the same particles for both envelopes, along each flow
            et = envelope_along(r.x_snapshots[:, 0], yk, tight=tight, tol=ENVELOPE_TOL, **self.env)
            en = envelope_along(r.x_snapshots[:, 0], yk, tol=ENVELOPE_TOL, **self.env)
            td += et["dual"].tolist()
            tp += et["primal"].tolist()
            nd += en["dual"].tolist()
            npv += en["primal"].tolist()
            times.append(r.snapshot_times)
        out = dict(tight_dual=td, nontight_primal=npv)
        if tight:
            self.measured["mmdfdiv-tight"][member] = out
            self._tight[member] = dict(run=tight_run, times=times,
                                       excess=(np.array(tp) - np.array(npv)) / np.array(npv))
        return out

    def measure_lambda(self, member: int) -> dict:
        """``mmdfdiv-lambda`` of ``member``: final MMD² of the flows for each of :data:`LAMS` (the page's
        lambda is the shared Tsallis-2 flow)."""
        if member not in self.measured["mmdfdiv-lambda"]:
            runs = {lam: (self.tsallis2(member) if lam == self.S.cfg["lambd"] else
                          self.flow(member, divergence="tsallis", alpha=2.0, lambd=lam)) for lam in LAMS}
            self._lam[member] = runs
            self.measured["mmdfdiv-lambda"][member] = dict(
                lambdas=list(LAMS), mmd2_final=[float(runs[lam].metrics["mmd2"][0, -1]) for lam in LAMS])
        return self.measured["mmdfdiv-lambda"][member]

    def measure_limit(self, member: int, lam_scale: float = 1.0) -> dict:
        """``mmdfdiv-mmd-limit`` of ``member``: lambda D^lambda at the initial particles for :data:`LIMIT_LAMS`
        (Tsallis 2, solved to 1e-6). ``lam_scale != 1`` solves at ``lam_scale * lambda`` and still
        multiplies by ``lambda``: the deliberately broken variant (a factor slip in lambda) the criterion
        must reject; it is not cached."""
        if lam_scale == 1.0 and member in self.measured["mmdfdiv-mmd-limit"]:
            return self.measured["mmdfdiv-mmd-limit"][member]
        xs, ys = self.data(member)
        vals = [moreau_envelope(xs, ys, **{**self.env, "lambd": lam * lam_scale}, tol=1e-6, max_iter=20000)
                for lam in LIMIT_LAMS]
        out = dict(lambdas=list(LIMIT_LAMS), lam_primal=[lam * v.primal for lam, v in zip(LIMIT_LAMS, vals)],
                   lam_dual=[lam * v.dual for lam, v in zip(LIMIT_LAMS, vals)], half_mmd2=0.5 * vals[0].mmd2,
                   op_norm=vals[0].op_norm, kappa=2.0)
        if lam_scale == 1.0:
            self.measured["mmdfdiv-mmd-limit"][member] = out
        return out

    # ------------------------------------------------------------------ the page's sections (first look)
    def tsallis(self) -> dict:
        """Section 1: Tsallis alpha = 1, 2, 3 (member 0)."""
        self.tsallis_runs = {f"alpha={a:g}": (self.tsallis2(0) if a == 2.0 else self.flow(divergence="tsallis", alpha=a))
                             for a in (1.0, 2.0, 3.0)}
        self.runs.update({f"tsallis {k}": v for k, v in self.tsallis_runs.items()})
        return self.tsallis_runs

    def recession(self) -> dict:
        """Section 2: Tsallis 2 (f'_inf = inf) and 0.5 (f'_inf = 1) over the first look, TV when ``sizes["tv"]``."""
        for k in self.S.members:
            self.measure_recession(k)
        self.inf_runs = [self.tsallis2(k) for k in self.S.members]
        self.fin_runs = [self._fin[k] for k in self.S.members]
        rec = {"tsallis 2 (inf)": self.inf_runs[0], "tsallis 0.5 (1)": self.fin_runs[0]}
        if self.S.sizes["tv"]:
            rec["tv (1)"] = self.flow(divergence="tv")
        self.runs.update(rec)
        self.ensembles["recession"] = {"tsallis 2 (f'_inf = inf)": self.inf_runs,
                                       "tsallis 0.5 (f'_inf = 1)": self.fin_runs}
        return rec

    def tight(self) -> dict:
        """Section 3: tight vs non-tight flows over the first look, and both envelopes (certified bounds) at the
        particles stored along both flows."""
        for k in self.S.members:
            self.measure_tight(k)
        self.tight_runs = [self._tight[k]["run"] for k in self.S.members]
        self.excess_curves = [(self._tight[k]["times"], self._tight[k]["excess"]) for k in self.S.members]
        pair = {"non-tight": self.tsallis2(0), "tight (Armijo)": self.tight_runs[0]}
        self.runs.update(pair)
        return pair

    def plot_tight(self):
        """The functional of both flows (member 0) and the relative excess of the tight envelope (primal values)."""
        import matplotlib.pyplot as plt

        from ..plotting import band_curves

        fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
        band_curves(ax[0], {lab: (r.times, r.metrics["functional"]) for lab, r in
                            (("non-tight", self.tsallis2(0)), ("tight (Armijo)", self.tight_runs[0]))},
                    xlabel="time t", ylabel=r"$D^\lambda_{f,\nu}(\mu_t)$", title="functional, member 0")
        for k, (times, ex) in zip(self.S.members, self.excess_curves):
            n0 = len(times[0])
            ax[1].plot(times[0], ex[:n0], "o-", color=f"C{k}", label=f"along non-tight flow, member {k}")
            ax[1].plot(times[1], ex[n0:], "x--", color=f"C{k}", label=f"along tight flow, member {k}")
        ax[1].axhline(0, color="k", lw=0.8)
        ax[1].set(xlabel="time t", ylabel="(tight - non-tight) / non-tight", title="envelopes at the same particles")
        ax[1].legend(fontsize=6)
        fig.tight_layout()
        return fig

    def lambdas(self) -> dict:
        """Section 4: the flows for each of :data:`LAMS` over the first look (the page's lambda reuses section 2)."""
        for k in self.S.members:
            self.measure_lambda(k)
        self.lam_runs = {lam: [self._lam[k][lam] for k in self.S.members] for lam in LAMS}
        first = {f"lambda={lam:g}": runs[0] for lam, runs in self.lam_runs.items()}
        self.runs.update(first)
        self.ensembles["lambda"] = {f"lambda={lam:g}": runs for lam, runs in self.lam_runs.items()}
        return first

    def lambda_table(self) -> str:
        """The final MMD² of every lambda and measured member, one line per member."""
        return "\n".join(f"member {k}: final MMD^2 " + ", ".join(f"lambda={lam:g}: {v:.3e}" for lam, v in
                                                                 zip(LAMS, m["mmd2_final"]))
                         for k, m in sorted(self.measured["mmdfdiv-lambda"].items()))

    def limit(self) -> list:
        """lambda D^lambda at the initial particles for :data:`LIMIT_LAMS` over the first look."""
        return [self.measure_limit(k) for k in self.S.members]

    def plot_limit(self):
        """lambda D^lambda / (MMD²/2) against lambda per member, with the closed-form lower bound (dotted)."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.3))
        for k in self.S.members:
            m = self.measured["mmdfdiv-mmd-limit"][k]
            ax.plot(LIMIT_LAMS, [p / m["half_mmd2"] for p in m["lam_primal"]], "o-", color=f"C{k}", label=f"member {k}")
            ax.plot(LIMIT_LAMS, [1 / (1 + m["op_norm"] / (2 * lam)) for lam in LIMIT_LAMS], ":", color=f"C{k}")
        ax.axhline(1, color="k", lw=0.8)
        ax.set(xscale="log", xlabel=r"$\lambda$", ylabel=r"$\lambda D^\lambda / (\mathrm{MMD}^2/2)$",
               title="lambda -> inf: the squared MMD (dotted: lower bound)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def live(self, alpha=2.0, lambd=0.01, tight=False):
        """The live panel: a Tsallis flow of 60 steps on member 0's draw."""
        r = self.flow(divergence="tsallis", alpha=alpha, lambd=lambd, tight=tight, n_steps=60)
        return plot_compare({f"alpha={alpha}, lambda={lambd}": r}, self.y, "live run")

    def verdicts(self) -> tuple:
        """Decide the claims of ``02_comparisons`` by their seed plans (:func:`wgf_core.claims.run_plan`, one
        call per claim: their plans differ); call after every section. Returns ``(entries, record,
        glued)`` as :func:`flow_verdicts`."""
        S, cfg = self.S, self.S.cfg
        notes = [f"Euler step control error_tol = {cfg['error_tol']:g} in every flow (the reference code: plain "
                 "explicit Euler)", "the paper's figure settings are not in shared/seeds: sizes compared with the "
                 "reference code's (N = M = 300, 1000 steps)"]
        used = dict(N=cfg["N"], n_steps=cfg["n_steps"])
        conf = configuration(S.profile, used, PAPER_SIZES, notes=notes)
        confs = {"mmdfdiv-mmd-limit": configuration(S.profile, dict(N=cfg["N"]), dict(N=300), notes=[notes[1]]),
                 "mmdfdiv-recession": configuration(S.profile, used, PAPER_SIZES, notes=notes + (
                     [] if S.sizes["tv"] else ["total variation left out of the comparison at this profile (slow "
                                               "non-smooth inner problem)"]))}
        measures = {"mmdfdiv-recession": self.measure_recession, "mmdfdiv-tight": self.measure_tight,
                    "mmdfdiv-lambda": self.measure_lambda, "mmdfdiv-mmd-limit": self.measure_limit}
        entries = []
        for c in _notebook_claims("mmd_fdiv/02_comparisons"):
            one = measures[c.id]
            entries += run_plan([c], lambda members, one=one, cid=c.id: [{cid: one(k)} for k in members],
                                configuration=confs.get(c.id, conf), first=S.first, base_seed=S.seed)
        by_id = {e["id"]: e for e in entries}
        every = (list(self.runs.values()) + list(self._tsallis2.values()) + list(self._fin.values())
                 + [t["run"] for t in self._tight.values()] + [r for runs in self._lam.values() for r in runs.values()])
        no_nan = all(np.isfinite(r.x_snapshots).all() and np.isfinite(r.metrics["mmd2"]).all() for r in every)
        rec_ratio = {k: m["mmd2_finite"] / m["mmd2_infinite"] for k, m in sorted(self.measured["mmdfdiv-recession"].items())}
        dev_big = {k: 1 - m["lam_primal"][-1] / m["half_mmd2"] for k, m in sorted(self.measured["mmdfdiv-mmd-limit"].items())}
        record = dict(
            checks={"no_nan": bool(no_nan),
                    "mmd_decreased": all(bool(r.metrics["mmd2"][0, -1] < r.metrics["mmd2"][0, 0]) for r in every),
                    "weak_duality": _weak_duality(every)},
            metrics={"final_mmd2_member_0": {k: r.metrics["mmd2"][0, -1] for k, r in self.runs.items()},
                     "max_gap_member_0": {k: r.metrics["gap"].max() for k, r in self.runs.items()},
                     "recession_ratio": list(rec_ratio.values()),
                     "lambda_final_mmd2": [m["mmd2_final"] for _, m in sorted(self.measured["mmdfdiv-lambda"].items())],
                     "tight_relative_excess": [ex.tolist() for _, ex in self.excess_curves],
                     "limit_relative_deviation": list(dev_big.values()), "first_look_members": S.members, **cfg},
            timings={f"{k}_seconds_member_0": r.seconds for k, r in self.runs.items()})
        excess_all = np.concatenate([ex for _, ex in self.excess_curves])
        lam_bad = [p["seed"] for p in by_id["mmdfdiv-lambda"]["per_seed"] if not p["passed"]]
        glued = {"rec_ratio_min": by_id["mmdfdiv-recession"]["min"], "rec_ratio_max": by_id["mmdfdiv-recession"]["max"],
                 "fin_gap_max": max(float(r.metrics["gap"].max()) for r in self._fin.values()),
                 "tight_excess_min": float(excess_all.min()), "tight_excess_max": float(excess_all.max()),
                 "tight_margin_min": by_id["mmdfdiv-tight"]["min"], "tight_margin_max": by_id["mmdfdiv-tight"]["max"],
                 "tight_n_times": len(self.measured["mmdfdiv-tight"][0]["tight_dual"]),
                 "limit_dev_min": by_id["mmdfdiv-mmd-limit"]["min"], "limit_dev_max": by_id["mmdfdiv-mmd-limit"]["max"],
                 "limit_lam_max": LIMIT_LAMS[-1],
                 **_verdict_glue(entries, {"rec": "mmdfdiv-recession", "tight": "mmdfdiv-tight", "lam": "mmdfdiv-lambda",
                                           "limit": "mmdfdiv-mmd-limit"}, bounds=False),
                 "lam_failing": ", ".join(str(k) for k in lam_bad) if lam_bad else "none"}
        return entries, record, glued
