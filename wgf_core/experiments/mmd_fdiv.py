r"""Experiment setup of the MMD-regularised f-divergence flows (Stein, Neumayer, Rux, Steidl 2024).

:func:`run_flow` is what the notebooks ``notebooks/mmd_fdiv/*.ipynb`` and
``benchmarks/bench_mmd_fdiv.py`` call: it builds the energy :math:`D^\lambda_{f,\nu}`
(:func:`make_energy`: kernel, entropy, :math:`\lambda` or its annealing schedule, the inner solver's
settings), the scheme (explicit Euler, or Euler with step control when ``error_tol`` is set:
:func:`make_scheme`) and the logs (:func:`flow_log`), and runs them with
:func:`wgf_core.runner.run`. The :class:`~wgf_core.runner.Trajectory` carries, by name, the metrics
of :func:`flow_log` (``metrics[name]`` of shape ``(1, T)``), the snapshots, and in ``extra`` the
solver's and the step control's counters.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch

from ..divergences import Entropy, get_entropy
from ..energies import MoreauFDivergence
from ..errors import ParameterError
from ..flows.mmd_fdiv import lambda_schedule
from ..kernels import Kernel, get_kernel
from ..measures import Particles
from ..runner import Trajectory, run
from ..schemes import Euler, StepControlledEuler
from ..validation import check_choice, check_int, check_positive

__all__ = ["make_energy", "make_scheme", "flow_log", "run_flow", "LOGGED"]

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
