r"""Particle schemes for the MMD energy: MMD flow (with noise), IFT particle GD, WFR particle GD.

Gladin, Dvurechensky, Mielke, Zhu, "Interaction-Force Transport gradient flows",
NeurIPS 2024 (arXiv:2405.17075), section 3.3, section 4 and appendix (Algorithm 1, eq. 23-24,
the WFR scheme). All schemes act on weighted particle measures
:math:`\mu = \sum_i \alpha_i \delta_{x_i}`, :math:`\alpha \in \Delta_n`, batched over independent
runs: positions ``(runs, n, d)``, weights ``(runs, n)``, target samples ``(runs, m, d)``.

Energy (``book/conventions.md``): :math:`F(\mu) = c\,\mathrm{MMD}^2(\mu, \pi)` with
:math:`c = 1/2` (default, as in the paper) or :math:`c = 1` (a convention the sweep tests), so

.. math::

    \frac{\delta F}{\delta\mu}[\mu](z) = 2c\Big(\sum_i \alpha_i k(z, x_i) - \frac1m\sum_j k(z, y_j)\Big)
    = 2c\, h_\mu(z).

Schemes (one *iteration* each; IFT and WFR iterations do two sub-steps and count as **2 steps**
in plots, as in the paper):

* MMD flow (Arbel et al. 2019), paper eq. (15) with uniform weights:
  :math:`x_i \leftarrow x_i - \tau \nabla \tfrac{\delta F}{\delta\mu}[\mu](x_i + \beta u_i)`,
  :math:`u_i \sim \mathcal N(0, I)` (noise injection; :math:`\beta = 0` after ``noise_off`` steps).
* IFT particle GD (Algorithm 1): the same Wasserstein step, then the MMD step on the weights at
  the new positions, eq. (23):

  .. math::

      \alpha^{\ell+1} = \operatorname*{argmin}_{\beta \in \Delta_n}
      F\Big(\sum_i \beta_i \delta_{x_i^{\ell+1}}\Big)
      + \frac1{2\eta}\mathrm{MMD}^2\Big(\sum_i \beta_i\delta_{x_i^{\ell+1}}, \sum_i \alpha^\ell_i\delta_{x_i^{\ell+1}}\Big),

  a convex QP on the simplex (eq. 24) :math:`\min_\beta \tfrac12\beta^\top A\beta - c^\top\beta`
  with :math:`A = (2c + 1/\eta) K_{XX}`, :math:`c = 2c\,K_{XY}\mathbf 1/m + K_{XX}\alpha^\ell/\eta`.
  (Eq. 24 in the paper writes the reference measure on the old positions, :math:`K_{X\bar X}`,
  and a factor :math:`\tau` where :math:`\eta` is meant; we follow the text of Algorithm 1 and
  eq. 23, where the reference measure sits on the new positions.) ``weight_step="qp"`` solves it
  with :func:`solve_simplex_qp` to a Frank-Wolfe gap ``qp_tol``; ``weight_step="pgd"`` is the
  paper's cheap variant, a single projected-gradient step on (23) from :math:`\beta = \alpha^\ell`
  with step :math:`\eta`: :math:`\alpha^{\ell+1} = P_{\Delta_n}(\alpha^\ell - \eta\,
  \tfrac{\delta F}{\delta\mu}[\mu^{\ell+1/2}](x^{\ell+1}))` (the gradient of (23) at
  :math:`\beta = \alpha^\ell` is the first variation; the step size is our reading of the paper).
* WFR particle GD (appendix): the same Wasserstein step, then the entropic mirror-descent (KL)
  step :math:`\alpha_i \leftarrow \alpha_i \exp(-\eta\,\tfrac{\delta F}{\delta\mu}[\mu^\ell](x_i^{\ell+1}))`,
  normalised to the simplex.

The schemes are :class:`wgf_core.schemes.Euler`, :class:`~wgf_core.schemes.IFT` and
:class:`~wgf_core.schemes.WFR` on the energy :class:`wgf_core.energies.MMD`, run by the one runner
:func:`wgf_core.runner.run`, which logs :math:`\mathrm{MMD}^2` for all runs every ``log_every``
steps against a fixed evaluation sample (:func:`mmd2_logger`), stops a blow-up with the step number,
stores snapshots for animations and shows a progress bar. :func:`run_experiment` builds the
initial particles / targets per run from its ensemble member's streams (:mod:`wgf_core.random`)
and applies a :class:`Convention`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch

from ..energies import MMD
from ..gmm import GaussianMixture
from ..kernels import Kernel, get_kernel, uniform_weights
from ..measures import Particles
from ..metrics import kernel_energy, mmd2, mmd2_noise_floor
from ..random import stream, streams
from ..runner import Trajectory, run
from ..schemes import IFT, WFR, Euler, Scheme
from ..validation import (
    ParameterError,
    check_choice,
    check_device,
    check_dtype,
    check_int,
    check_positive,
)

__all__ = [
    "Convention",
    "METHODS",
    "make_scheme",
    "mmd2_logger",
    "run_experiment",
    "target_noise_floor",
    "convention_grid",
    "convention_neighbours",
    "far_from_target",
    "stuck_mass",
    "run_measurements",
    "run_members",
    "expected_noise_floor",
    "fresh_target_sampler",
    "target_noise_floors",
    "mmd2_to_law",
]


# ---------------------------------------------------------------------------------------------
# Conventions left open by the paper


@dataclass(frozen=True)
class Convention:
    r"""The choices the paper leaves open (swept in the 2-D notebooks).

    Parameters
    ----------
    bandwidth : {"2sigma2", "sigma2"}
        Gaussian kernel :math:`\exp(-|x-y|^2/(2\sigma^2))` (``gauss`` with ``s = sigma**2``) or
        :math:`\exp(-|x-y|^2/\sigma^2)` (``s = sigma**2 / 2``).
    step_scale : {"none", "1/n"}
        Particle step :math:`\tau` or :math:`\tau / n` (the authors' 100-D code uses ``lr / n``).
    energy : {"half", "full"}
        :math:`F = \tfrac12\mathrm{MMD}^2` or :math:`F = \mathrm{MMD}^2` (doubles every gradient).
    target : {"fixed", "fresh"}
        One target sample per run for the whole flow, or a fresh sample each iteration.
    """

    bandwidth: str = "2sigma2"
    step_scale: str = "none"
    energy: str = "half"
    target: str = "fixed"

    def __post_init__(self):
        check_choice("bandwidth", self.bandwidth, ("2sigma2", "sigma2"))
        check_choice("step_scale", self.step_scale, ("none", "1/n"))
        check_choice("energy", self.energy, ("half", "full"))
        check_choice("target", self.target, ("fixed", "fresh"))

    def kernel(self, sigma: float) -> Kernel:
        """The Gaussian kernel with bandwidth ``sigma`` under this convention."""
        sigma = check_positive("sigma", sigma)
        return get_kernel("gauss", sigma**2 if self.bandwidth == "2sigma2" else sigma**2 / 2)

    def step(self, tau: float, n: int) -> float:
        """The particle step actually applied: ``tau`` or ``tau / n``."""
        return float(tau) / n if self.step_scale == "1/n" else float(tau)

    @property
    def energy_scale(self) -> float:
        """:math:`c` in :math:`F = c\\,\\mathrm{MMD}^2`."""
        return 0.5 if self.energy == "half" else 1.0

    @property
    def label(self) -> str:
        bw = "exp(-r²/2σ²)" if self.bandwidth == "2sigma2" else "exp(-r²/σ²)"
        st = "τ" if self.step_scale == "none" else "τ/n"
        en = "½MMD²" if self.energy == "half" else "MMD²"
        return f"{bw}, step {st}, F={en}, {self.target} target"


# ---------------------------------------------------------------------------------------------
# Per-run random draws


def fresh_target_sampler(target: GaussianMixture, m: int) -> Callable:
    """``sampler(generators) -> (runs, m, d)``: a fresh ``m``-point sample of ``target`` per run.

    Run ``r`` draws its component labels and its normal vectors from ``generators[r]`` in the
    order :meth:`GaussianMixture.sample` uses (labels, then normals), so its sample equals
    ``target.sample(m, generators[r])`` and does not depend on the other runs. The Cholesky factors
    are computed once; each component's affine map is one product over the points of all runs that
    drew it.
    """
    chol_t = torch.linalg.cholesky(target.covs).transpose(-1, -2).contiguous()  # (K, d, d), once
    d = target.dim

    def sampler(generators):
        comp = torch.stack([torch.multinomial(target.weights, m, replacement=True, generator=g) for g in generators])
        z = torch.stack([torch.randn(m, d, generator=g, dtype=target.means.dtype, device=target.means.device)
                         for g in generators])
        out = target.means[comp]  # (runs, m, d)
        for k in range(chol_t.shape[0]):
            mask = comp == k
            out[mask] += z[mask] @ chol_t[k]
        return out

    return sampler


# ---------------------------------------------------------------------------------------------
# Methods: the IFT paper's schemes on the one runner (wgf_core.schemes, wgf_core.runner)


METHODS = ("mmd", "mmd_noise", "ift", "ift_qp", "wfr")
METHOD_LABELS = {"mmd": "MMD flow", "mmd_noise": "MMD flow + noise", "ift": "IFT GD (1 PG weight step)",
                 "ift_qp": "IFT GD (exact QP)", "wfr": "WFR GD"}


def make_scheme(method: str, *, eta: float = 0.1, noise: float = 0.0, noise_off=None, qp_tol: float = 1e-7,
                qp_max_iter: int = 1000, backend: str = "auto") -> Scheme:
    """The scheme (:mod:`wgf_core.schemes`) of ``method`` in :data:`METHODS`; the step size goes to :func:`run`.

    ``backend`` of ``"ift"`` (:class:`~wgf_core.schemes.IFT`): ``"auto"`` (default) runs each iteration of the
    low-dimensional Gaussian-kernel flows on the CPU as one compiled call (the same iteration to round-off:
    final MMD² of the 2-D page equal to 1e-18; 1.9x faster there), anything else (d > 8, another kernel, a GPU)
    the generic path; ``"numba"`` forces the compiled call wherever it applies, ``"torch"`` the generic path."""
    check_choice("method", method, METHODS)
    if method == "mmd":
        return Euler()
    if method == "mmd_noise":
        return Euler(noise=check_positive("noise", noise), noise_off=noise_off)
    if method == "ift":
        return IFT(eta, "pgd", backend=backend)
    if method == "ift_qp":
        return IFT(eta, "qp", qp_tol=qp_tol, qp_max_iter=qp_max_iter)
    return WFR(eta)


def mmd2_logger(eval_y: torch.Tensor):
    r"""The metric ``"mmd2"`` of the IFT runs: :math:`\mathrm{MMD}^2(\mu, \hat\pi)` per run against the
    fixed sample ``eval_y`` ``(runs, m, d)`` (the run's initial target sample)."""
    cache = {}

    def logger(mu, energy):
        # the sample's self term w^T K_yy w is the same at every log: computed once per kernel (by the
        # same call as inside mmd2, so the same numbers)
        key = (energy.kernel, mu.x.dtype)
        if key not in cache:
            cache[key] = kernel_energy(energy.kernel, eval_y, uniform_weights(eval_y))
        return mmd2(energy.kernel, mu.x, eval_y, mu.weights(), target_term=cache[key])

    return logger


def run_experiment(method: str, init: GaussianMixture, target: GaussianMixture, *, n: int,
                   runs: Optional[int] = None, members: Optional[Sequence[int]] = None, seed: int = 0,
                   purpose: str = "ift/run", steps: int, sigma: float, tau: float, eta: float = 0.1,
                   noise: float = 0.0, noise_off: Optional[int] = None, convention: Convention = Convention(),
                   m: Optional[int] = None, device="cpu", dtype=torch.float64, log_every: int = 10,
                   snapshot_every: Optional[int] = None, qp_tol: float = 1e-7, qp_max_iter: int = 1000,
                   kernel: Optional[str] = None, show_progress: bool = True) -> Trajectory:
    r"""One method of the IFT experiments on independent runs in one batch, one run per ensemble member.

    Run ``r`` is the ensemble member ``members[r]`` (default ``r`` for ``r < runs``) of the base seed
    ``seed`` (:func:`wgf_core.random.stream`): it draws its ``n`` initial particles, then its ``m``
    (default ``n``) target points, from the stream ``(seed, purpose + "/sample", member)``, and its
    in-loop randomness (noise injection, fresh target samples) from the stream
    ``(seed, purpose + "/loop", member)``. So every method sees the same samples, and member ``r``
    alone (``members=[members[r]]``) gives the same numbers as row ``r`` of the batch: all members in
    one tensor pass. The MMD² is logged against the run's initial target sample. ``tau`` is the
    paper's step; the convention may divide it by ``n``. ``kernel``: a name from
    :data:`wgf_core.kernels.KERNELS` other than ``"gauss"`` replaces the Gaussian kernel, with shape
    parameter ``s = sigma`` (the bandwidth convention then does not apply).
    """
    check_choice("method", method, METHODS)
    n = check_int("n", n)
    members = run_members(runs, members)
    seed = check_int("seed", seed, minimum=0)
    m = n if m is None else check_int("m", m)
    dev = check_device(device)
    dtype = check_dtype(dtype)
    init, target = init.to(dev, dtype), target.to(dev, dtype)
    gens = streams(seed, f"{purpose}/sample", members, dev)
    x0 = torch.stack([init.sample(n, g) for g in gens])
    y = torch.stack([target.sample(m, g) for g in gens])
    kern = convention.kernel(sigma) if kernel in (None, "gauss") else get_kernel(kernel, sigma)
    scheme = make_scheme(method, eta=eta, noise=noise, noise_off=noise_off, qp_tol=qp_tol, qp_max_iter=qp_max_iter)
    loop_gens = streams(seed, f"{purpose}/loop", members, dev)
    sampler = fresh_target_sampler(target, m) if convention.target == "fresh" else None
    energy = MMD(kern, y, convention.energy_scale, sampler=sampler)
    traj = run(energy, scheme, Particles(x0), convention.step(check_positive("tau", tau), n), steps,
               log={"mmd2": mmd2_logger(y)}, log_every=log_every, snapshot_every=snapshot_every, generator=loop_gens,
               show_progress=show_progress, desc=METHOD_LABELS[method])
    traj.extra["y"] = y
    traj.extra["members"] = members
    return traj


def run_members(runs: Optional[int] = None, members: Optional[Sequence[int]] = None) -> list[int]:
    """The ensemble members of the runs: ``members`` if given (``runs``, if also given, must match), else
    ``0, 1, ..., runs - 1``."""
    if members is None:
        if runs is None:
            raise ParameterError("give 'runs' or 'members'")
        return list(range(check_int("runs", runs)))
    members = [check_int("members", s, minimum=0) for s in members]
    if not members:
        raise ParameterError("parameter 'members' = [] is not allowed: at least one member")
    if len(set(members)) != len(members):
        raise ParameterError(f"parameter 'members' = {members} is not allowed: repeated entries")
    if runs is not None and check_int("runs", runs) != len(members):
        raise ParameterError(f"'runs' = {runs} but {len(members)} members")
    return members


def target_noise_floor(target: GaussianMixture, kernel: Kernel, n: int, *, repeats: int = 20, seed: int = 0,
                       purpose: str = "ift/floor", member: int = 0, device="cpu", dtype=torch.float64) -> float:
    """MMD² between two independent ``n``-point target samples, averaged over ``repeats`` pairs
    (the curves' noise floor), drawn from the stream ``(seed, purpose, member)``."""
    target = target.to(check_device(device), check_dtype(dtype))
    g = stream(check_int("seed", seed, minimum=0), purpose, member, device)
    return mmd2_noise_floor(kernel, lambda k, gen: target.sample(k, gen), n, repeats=repeats, generator=g)


def target_noise_floors(target: GaussianMixture, kernel: Kernel, n: int, *, seed: int = 0,
                        members: Sequence[int], purpose: str = "ift/floor", repeats: int = 20, device="cpu",
                        dtype=torch.float64) -> list[float]:
    """:func:`target_noise_floor` of each run, from that run's member stream (one value per member)."""
    return [target_noise_floor(target, kernel, n, repeats=repeats, seed=seed, purpose=purpose, member=s,
                               device=device, dtype=dtype) for s in run_members(members=members)]


def expected_noise_floor(target: GaussianMixture, kernel: Kernel, n: int, *, points: int = 2000,
                         batches: int = 50, seed: int = 0, purpose: str = "ift/expected_floor") -> dict:
    r"""The expected two-sample noise floor of ``n``-point target samples, from a fixed-seed estimate.

    For two independent samples :math:`Y, Y'` of ``n`` points of :math:`\pi` the V-statistic of
    :func:`wgf_core.metrics.mmd2` has the expectation

    .. math::

        \mathbb E\,\mathrm{MMD}^2_V(Y, Y') = \frac2n\big(\mathbb E\,k(y, y) - \kappa\big),
        \qquad \kappa = \mathbb E\,k(y, y'),\quad y, y' \sim \pi \text{ independent},

    (the diagonal terms :math:`k(y_i, y_i)` of the two self sums carry the :math:`1/n`). The
    expectations are estimated in float64 from ``batches`` samples of ``points`` points, drawn from
    the streams ``(seed, purpose, b)``: :math:`\mathbb E\,k(y, y)` by the mean of the diagonal,
    :math:`\kappa` by the mean of the off-diagonal entries (a U-statistic) per batch, averaged over
    the batches.

    Returns
    -------
    dict
        ``{"floor", "kappa", "kappa_se", "self", "n", "points", "batches"}``: the floor at ``n``, the
        estimate of :math:`\kappa` with its standard error over the batches, and of
        :math:`\mathbb E\,k(y, y)`.
    """
    n = check_int("n", n)
    points = check_int("points", points, minimum=2)
    batches = check_int("batches", batches, minimum=2)
    target = target.to(torch.device("cpu"), torch.float64)
    kappas, selfs = [], []
    for b in range(batches):
        y = target.sample(points, stream(check_int("seed", seed, minimum=0), purpose, b))
        kmat = kernel(y, y)
        diag = torch.diagonal(kmat)
        selfs.append(float(diag.mean()))
        kappas.append(float((kmat.sum() - diag.sum()) / (points * (points - 1))))
    kappa = sum(kappas) / batches
    se = (sum((k - kappa) ** 2 for k in kappas) / (batches - 1) / batches) ** 0.5
    self_term = sum(selfs) / batches
    return {"floor": 2.0 * (self_term - kappa) / n, "kappa": kappa, "kappa_se": se, "self": self_term, "n": n,
            "points": points, "batches": batches}


def mmd2_to_law(result: Trajectory, kernel: Kernel, target: GaussianMixture, *, seed: int = 0,
                members: Sequence[int], purpose: str = "ift/law", size: int = 2000) -> list[float]:
    r"""Final :math:`\mathrm{MMD}^2` of each run against a large independent target sample of ``size``
    points drawn from the stream ``(seed, purpose, members[r])`` (the flows with a fixed target
    sample fit that sample, not the law: this is the distance to the law)."""
    members = run_members(members=members)
    x, w = result.x, result.w
    if len(members) != x.shape[0]:
        raise ParameterError(f"parameter 'members': {len(members)} members for {x.shape[0]} runs")
    target = target.to(x.device, x.dtype)
    out = []
    for r, s in enumerate(members):
        big = target.sample(check_int("size", size), stream(seed, purpose, s, x.device))
        out.append(float(mmd2(kernel, x[r], big, w[r])))
    return out


# ---------------------------------------------------------------------------------------------
# Diagnostics used by the notebooks


def convention_grid() -> list[Convention]:
    """All 16 combinations of the :class:`Convention` choices (the sweep of the 2-D notebooks)."""
    out = []
    for bw in ("2sigma2", "sigma2"):
        for st in ("none", "1/n"):
            for en in ("half", "full"):
                for tg in ("fixed", "fresh"):
                    out.append(Convention(bw, st, en, tg))
    return out


def convention_neighbours(base: Convention = Convention()) -> list[Convention]:
    """``base`` and the 4 conventions that differ from it in exactly one field (5 in all).

    A one-at-a-time sensitivity sweep: each row changes one choice the paper leaves open.
    """
    out = [base]
    options = {"bandwidth": ("2sigma2", "sigma2"), "step_scale": ("none", "1/n"), "energy": ("half", "full"),
               "target": ("fixed", "fresh")}
    for name, values in options.items():
        other = values[1] if getattr(base, name) == values[0] else values[0]
        out.append(Convention(**{**{k: getattr(base, k) for k in options}, name: other}))
    return out


def far_from_target(x: torch.Tensor, target: GaussianMixture, *, threshold: float = 4.0) -> torch.Tensor:
    r"""Whether each particle is *far* from the target: its Mahalanobis distance
    :math:`\sqrt{(x-m_k)^\top\Sigma_k^{-1}(x-m_k)}` to every component is above ``threshold``.

    ``x`` ``(..., n, d)`` to a bool tensor ``(..., n)``. With ``threshold = 4`` in 2-D a draw of a
    component lies that far with probability :math:`e^{-8} \approx 3\cdot10^{-4}` (the squared
    distance is :math:`\chi^2_2`).
    """
    check_positive("threshold", threshold)
    target = target.to(x.device, x.dtype)
    L = torch.linalg.cholesky(target.covs)
    diff = x.unsqueeze(-2) - target.means  # (..., n, K, d)
    sol = torch.linalg.solve_triangular(L, diff.unsqueeze(-1), upper=False).squeeze(-1)
    maha = (sol * sol).sum(-1).sqrt().min(-1).values  # (..., n)
    return maha > threshold


#: A particle whose weight is below ``VANISHED / n`` (a thousandth of the uniform weight) has
#: vanished: the trajectory plots draw it hollow, as the paper's Fig. 4 and 5 do.
VANISHED = 1e-3


def stuck_mass(x: torch.Tensor, w: torch.Tensor, target: GaussianMixture, *, threshold: float = 4.0):
    r"""Mass and count of particles far from every target component (:func:`far_from_target`).

    Returns ``(mass (runs,), count (runs,))``: the total weight of the far particles, and the number
    of far particles that have not vanished (weight above ``VANISHED / n``).
    """
    far = far_from_target(x, target, threshold=threshold)
    alive = w > VANISHED / x.shape[-2]
    return (w * far).sum(-1), (far & alive).sum(-1)


def run_measurements(results: dict, *, target: Optional[GaussianMixture] = None, noise_off: Optional[int] = None,
                     early_step: Optional[int] = None, threshold: float = 4.0) -> list[dict]:
    r"""What each run measured, for the claims of :mod:`wgf_core.claims.ift` (one dict per run).

    Measurement only: no threshold of a claim is applied here.

    Parameters
    ----------
    results : dict
        Method name (``"mmd"``, ``"mmd_noise"``, ``"ift"``, ``"wfr"``, ...) to :class:`~wgf_core.runner.Trajectory`,
        all over the same runs.
    target : GaussianMixture, optional
        If given, the stuck-particle numbers (:func:`stuck_mass`) at the final step.
    noise_off : int, optional
        If given, :math:`\mathrm{MMD}^2` just before the noise is switched off (the last log before
        step ``noise_off``).
    early_step : int, optional
        If given, :math:`\mathrm{MMD}^2` at step ``early_step`` (last log at or before it).

    Returns
    -------
    list of dict
        Per run, for each method ``m``: ``{m}_final`` (:math:`\mathrm{MMD}^2` at the last step);
        ``{m}_before_off`` and ``{m}_early`` if asked; with ``target``: ``{m}_stuck_mass`` (weight
        of the far particles), ``{m}_stuck_count`` (far particles that have not vanished) and
        ``{m}_far_count`` (all far particles) and ``{m}_far_weight_max`` (:math:`n` times the largest
        weight of a far particle, 0 if none is far: below :data:`VANISHED` every far particle has
        vanished); and ``n``, the number of particles.
    """
    if not results:
        raise ParameterError("'results' is empty")
    runs = {r.metrics["mmd2"].shape[0] for r in results.values()}
    if len(runs) != 1:
        raise ParameterError(f"the results have different numbers of runs: {sorted(runs)}")
    runs = runs.pop()
    out = [dict() for _ in range(runs)]
    for key, r in results.items():
        cols = {f"{key}_final": r.metrics["mmd2"][:, -1]}
        if noise_off is not None:
            cols[f"{key}_before_off"] = r.metric_at("mmd2", max(0, check_int("noise_off", noise_off, minimum=0) - 1))
        if early_step is not None:
            cols[f"{key}_early"] = r.metric_at("mmd2", check_int("early_step", early_step, minimum=0))
        if target is not None:
            mass, count = stuck_mass(r.x, r.w, target, threshold=threshold)
            cols[f"{key}_stuck_mass"] = mass.detach().cpu().numpy()
            cols[f"{key}_stuck_count"] = count.cpu().numpy()
            far = far_from_target(r.x, target, threshold=threshold)
            cols[f"{key}_far_count"] = far.sum(-1).cpu().numpy()
            cols[f"{key}_far_weight_max"] = (r.x.shape[-2] * (r.w * far).amax(-1)).detach().cpu().numpy()
        for name, col in cols.items():
            for i in range(runs):
                v = col[i]
                out[i][name] = int(v) if name.endswith("_count") else float(v)
        for i in range(runs):
            out[i]["n"] = int(r.x.shape[-2])
    return out
