r"""The schemes of Altekrüger, Hertrich, Steidl (ICML 2023) on the one API, and the experiment driver.

Altekrüger, Hertrich, Steidl, "Neural Wasserstein gradient flows for discrepancies with Riesz
kernels", ICML 2023 (arXiv:2301.11624), sections 3 (neural backward scheme), 5 (neural forward
scheme) and 6. The energy is :class:`wgf_core.energies.MMD` with the Riesz kernel
:math:`K(x, y) = -|x - y|^r` and scale 1/2: the interaction energy :math:`\mathcal E_K` when there
is no target, else :math:`\mathcal F_\nu = \tfrac12\mathrm{MMD}_K^2(\cdot,\nu)`
(:mod:`wgf_core.riesz`; its Riesz fast path gives the numbers of :func:`wgf_core.riesz.riesz_mmd2`
and :func:`wgf_core.riesz.riesz_gradient` bit for bit). The three schemes, by name (:data:`SCHEMES`):

* ``"particle"`` -- :class:`wgf_core.schemes.RieszEuler`: explicit Euler
  :math:`x_i \leftarrow x_i - \tau\nabla\Phi(x_i)` with the one-sided gradient 0 between coincident
  particles. Coincident particles therefore never separate by themselves, while the exact flow
  spreads a Dirac at once. As in the authors' scripts, a Dirac start is given to the particle flow
  as :func:`wgf_core.riesz.jittered_diracs` (the Diracs plus a uniform 1e-9 jitter, float64): the
  first Euler step then spreads each Dirac over a region of size :math:`\tau`, shaped by the
  scheme itself. (``split_diracs_first=True`` instead places every group of coincident particles
  on the exact short-time profile at the first step, :func:`wgf_core.riesz.split_diracs`; that
  start already *is* the exact solution of the interaction energy at :math:`t = \tau`, so no
  claim about the scheme is decided from it at r = 1.) For :math:`r \ne 1` the jittered start does
  not work: the one-sided gradient :math:`r|x|^{r-1}` at a 1e-9 separation is about 3e4 at
  r = 0.5 (the first step explodes) and 3e-5 at r = 1.5 (the Dirac barely moves), so there the
  split start (the exact :math:`\rho_\tau` for that r) is the way to leave a Dirac. Explicit Euler
  follows the self-similar flow exactly only at r = 1 (its radius is linear in t); at r = 1.5 its
  first-order error is about 12 % at t = 1.2 with :math:`\tau` = 0.05 and 1.3 % with 0.0025 (tested).
* ``"neural_backward"`` -- :class:`wgf_core.schemes.NeuralBackward`: a generative Markov kernel
  :math:`T_\theta(x, z) = x + g_\theta(x, z)` trained at every step on the JKO objective (paper
  section 3), :math:`F` on minibatches with the one-sided gradient. Options beyond the paper (off
  by default): ``estimator="svrg"`` (a full-gradient control variate) and ``fourier_features``.
* ``"neural_forward"`` -- :class:`wgf_core.schemes.NeuralForward`: a network for the
  disintegration of the steepest-descent velocity plan, trained on the normalised exact one-sided
  slope (with the Dirac-splitting term), and the normalised step. (Our reading of the paper's
  "normalised" forward scheme; its Theorem on the interaction energy is checked in the tests: from
  :math:`\delta_0` the optimal plan is :math:`\rho_1` and the step lands on :math:`\rho_\tau`.)

:func:`run_experiment` runs one scheme by name with the one runner :func:`wgf_core.runner.run`
(logging the energy and :math:`\mathrm{MMD}_K` to the target by name, snapshots, blow-up checks,
a progress bar) and returns its :class:`~wgf_core.runner.Trajectory`.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..energies import MMD
from ..kernels import get_kernel
from ..measures import Particles
from ..random import stream
from ..runner import Trajectory, run
from ..schemes import NeuralBackward, NeuralForward, RieszEuler
from ..validation import ParameterError, check_choice, check_int, check_positive, check_range

__all__ = ["SCHEMES", "SCHEME_CLASSES", "riesz_mmd_energy", "riesz_logs", "run_experiment",
           "paper_mnist_tau", "paper_mnist_taus", "scheme_notes"]

SCHEMES = ("particle", "neural_backward", "neural_forward")
#: The scheme class of each name; its keyword options are the ``options`` of :func:`run_experiment`.
SCHEME_CLASSES = {"particle": RieszEuler, "neural_backward": NeuralBackward, "neural_forward": NeuralForward}


def riesz_mmd_energy(target: Optional[torch.Tensor] = None, r: float = 1.0, *, block_size: Optional[int] = None,
                 backend: str = "auto") -> MMD:
    r"""The energy of the paper: :math:`\tfrac12\mathrm{MMD}_K^2(\cdot, \nu)`, :math:`K(x, y) = -|x - y|^r`.

    ``MMD(get_kernel("riesz", r), target, scale=0.5)``: with ``target`` (m, d) the discrepancy
    :math:`\mathcal F_\nu`, with None the interaction energy :math:`\mathcal E_K = -\tfrac12\iint|x-y|^r`.
    ``r`` in (0, 2); ``block_size`` / ``backend`` of the Riesz kernel sums (default ``"auto"``: the fused
    numba sums on the CPU where autograd does not record and there are at least
    :data:`wgf_core.backends.AUTO_MIN_PAIRS` pairs, else the blocked torch loop; the same sums to
    round-off, 2-4x faster at the book's sizes, ``benchmarks/bench_riesz.py``).
    """
    return MMD(get_kernel("riesz", check_range("r", r, 0.0, 2.0)), target, scale=0.5, block_size=block_size,
               backend=backend)


def riesz_logs(energy: MMD) -> dict:
    r"""The metrics of a Riesz flow for :func:`wgf_core.runner.run`: ``"energy"`` :math:`F(\mu)`, and with a
    target ``"mmd"`` :math:`\mathrm{MMD}_K(\mu, \nu)`, both ``(runs,)``, from one MMD pass per log
    (:math:`F = c\,\mathrm{MMD}_K^2`)."""
    if energy.target is None:
        def value(mu, e):
            with torch.no_grad():
                return e.value(mu)
        return {"energy": value}
    last = {}

    def m2(mu, e):
        if last.get("x") is not mu.x or last.get("e") is not e:
            with torch.no_grad():
                last.update(x=mu.x, e=e, m2=e.mmd2(mu))
        return last["m2"]

    return {"energy": lambda mu, e: e.scale * m2(mu, e), "mmd": lambda mu, e: m2(mu, e).sqrt()}


def run_experiment(name: str, x0: torch.Tensor, target: Optional[torch.Tensor] = None, *, r: float = 1.0,
                   tau: Optional[float] = None, steps: Optional[int] = None, taus: Optional[Sequence[float]] = None,
                   options: Optional[dict] = None, seed: int = 0, member: int = 0, purpose: Optional[str] = None,
                   log_every: int = 1, snapshot_every: Optional[int] = None, block_size: Optional[int] = None,
                   backend: str = "auto", show_progress: bool = True, desc: str = "") -> Trajectory:
    r"""Run the scheme ``name`` (:data:`SCHEMES`) on :func:`riesz_mmd_energy` from the particles ``x0`` (n, d).

    ``steps`` steps of size ``tau``, or one step per entry of ``taus`` (a step-size schedule, e.g.
    :func:`paper_mnist_taus`). ``options`` are the scheme's keyword options (:data:`SCHEME_CLASSES`:
    neural ``latent_dim, width, depth, activation, iters, first_iters, lr, batch_size,
    fourier_features, fourier_scale, standardize``; neural backward also ``estimator, refresh``;
    particle ``split_diracs_first``). The scheme draws its randomness (network initialisation,
    latents, minibatches) from the stream :func:`wgf_core.random.stream` ``(seed, purpose, member)``
    on ``x0``'s device: ``seed`` the base seed, ``purpose`` by default ``"riesz/<name>"``, ``member``
    the ensemble member; so a run is the same alone or next to other schemes and members. The
    neural networks take the dtype of ``x0``.

    Logs ``"energy"`` (and ``"mmd"`` with a target, :func:`riesz_logs`) at t = 0, every
    ``log_every`` steps and at the end; snapshots every ``snapshot_every`` steps (default
    ``steps // 20``) and at 0 and the end. Returns the :class:`~wgf_core.runner.Trajectory` of
    one run (``traj.x[0]`` the final particles (n, d)); ``traj.extra["scheme"]`` is ``name``.
    """
    check_choice("scheme", name, SCHEMES)
    if taus is None:
        if tau is None or steps is None:
            raise ParameterError("run_experiment needs 'tau' and 'steps', or 'taus'")
        tau, steps = check_positive("tau", tau), check_int("steps", steps)
    else:
        taus = [check_positive("taus", t) for t in taus]
        steps = check_int("steps", len(taus))
    if not isinstance(x0, torch.Tensor) or x0.dim() != 2:
        raise ParameterError(f"parameter 'x0' must be a tensor (n, d), got {getattr(x0, 'shape', type(x0).__name__)}")
    energy = riesz_mmd_energy(target, r, block_size=block_size, backend=backend)
    scheme = SCHEME_CLASSES[name](**(options or {}))
    gen = stream(seed, purpose or f"riesz/{name}", member, x0.device)
    snapshot_every = check_int("snapshot_every", snapshot_every or max(1, steps // 20))
    traj = run(energy, scheme, Particles.of(x0), taus if taus is not None else tau, steps,
               log=riesz_logs(energy), log_every=check_int("log_every", log_every), snapshot_every=snapshot_every,
               generator=gen, show_progress=show_progress, desc=desc or name)
    traj.extra["scheme"] = name
    return traj


def paper_mnist_tau(t: float) -> float:
    """The MNIST step size of the authors' ``run_mnist.py`` at time ``t``: 0.5 before t = 5, 1 before
    25, 2 up to 50, 3 before 6000, then 6."""
    if t >= 6000:
        return 6.0
    if t > 50:
        return 3.0
    if t >= 25:
        return 2.0
    if t >= 5:
        return 1.0
    return 0.5


def paper_mnist_taus(end_time: float) -> list:
    """The step sizes of :func:`paper_mnist_tau` from t = 0 until ``end_time`` is reached (48000 in
    the paper: 9026 steps; the script's loop count overshoots to t = 48204)."""
    end_time = check_positive("end_time", end_time)
    taus, t = [], 0.0
    while t < end_time - 1e-9:
        taus.append(paper_mnist_tau(t))
        t += taus[-1]
    return taus


def scheme_notes(name: str, options: Optional[dict] = None) -> list:
    """What a scheme's ``options`` change against the paper's scheme, as configuration notes
    (:func:`wgf_core.claims.configuration`): the svrg estimator and Fourier features of the neural
    backward scheme, and a particle flow started on the exact short-time profile."""
    options = options or {}
    notes = []
    if name == "neural_backward" and options.get("estimator", "minibatch") == "svrg":
        notes.append("neural backward scheme with the svrg gradient estimator (a full-gradient control variate "
                     "of the same JKO objective): not in the paper, which uses plain (mini)batches")
    if name in ("neural_backward", "neural_forward") and int(options.get("fourier_features", 0) or 0) > 0:
        notes.append(f"{name.replace('_', ' ')} network fed {int(options['fourier_features'])} Fourier features of x "
                     f"(scale {options.get('fourier_scale', 10.0):g}): not in the paper, whose networks see x itself")
    if name == "particle" and options.get("split_diracs_first"):
        notes.append("particle flow started on the exact short-time profile of each Dirac (not the paper's jitter)")
    return notes
