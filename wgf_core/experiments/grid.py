"""Energies x schemes: every pairing of a few energies and a few schemes on one 2-D problem.

No single paper's code can run these pairs: the IFT weight step on the Riesz discrepancy, the WFR
splitting on the inverse multiquadric MMD, and so on. The one API makes each pair one call of
:func:`wgf_core.runner.run`; a pair whose energy lacks what the scheme needs is refused before any
step (:func:`wgf_core.schemes.check_pair`) and shown as refused.

The common yardstick of every run is the energy distance to a large independent target sample,
:math:`\\mathrm{ED}(\\mu, \\nu) = \\mathrm{MMD}^2_{-|x-y|}(\\mu, \\nu)` (``book/conventions.md``), whatever
energy the run descends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import torch

from ..energies import MMD
from ..errors import ParameterError
from ..gaussian_targets import gaussian_2d_init, mixture_2d_target
from ..kernels import get_kernel
from ..measures import Particles
from ..metrics import energy_distance
from ..random import streams
from ..runner import Trajectory, run
from ..schemes import IFT, WFR, Euler, check_pair
from ..validation import check_int, check_positive

__all__ = ["EnergySpec", "SchemeSpec", "ENERGIES", "SCHEMES", "Cell", "energies_x_schemes"]


@dataclass(frozen=True)
class EnergySpec:
    """An energy of the grid: a label, a factory ``target -> energy``, and its step size ``tau``.

    The step size belongs to the energy (its gradient's scale), not to the scheme, so that every
    scheme of a row moves at the same speed.
    """

    label: str
    make: Callable = field(repr=False)
    tau: float


@dataclass(frozen=True)
class SchemeSpec:
    """A scheme of the grid: a label and a factory ``() -> scheme``."""

    label: str
    make: Callable = field(repr=False)


#: The default energies: the MMD with the Gaussian kernel of the IFT paper (bandwidth 1, F = MMD^2 / 2),
#: the Riesz discrepancy of Altekrüger et al. (r = 1, the energy distance), and the inverse
#: multiquadric MMD (the kernel of Stein et al.'s experiments).
ENERGIES = {
    "gauss": EnergySpec("MMD, Gaussian kernel (s = 1)", lambda y: MMD(get_kernel("gauss", 1.0), y), 2.0),
    "riesz": EnergySpec("Riesz discrepancy (r = 1)", lambda y: MMD(get_kernel("riesz", 1.0), y), 0.5),
    "imq": EnergySpec("MMD, inverse multiquadric (s = 1)", lambda y: MMD(get_kernel("imq", 1.0), y), 2.0),
}

#: The default schemes: explicit Euler (the MMD particle flow), the IFT splitting (one projected
#: weight step, eta = 0.1) and the WFR splitting (eta = 0.1).
SCHEMES = {
    "euler": SchemeSpec("explicit Euler (particle flow)", lambda: Euler()),
    "ift": SchemeSpec("IFT (Wasserstein + MMD weight step)", lambda: IFT(0.1)),
    "wfr": SchemeSpec("WFR (Wasserstein + Fisher-Rao weight step)", lambda: WFR(0.1)),
}


@dataclass
class Cell:
    """One pair of the grid: its trajectory, or why the pair was refused (``refused``)."""

    energy: str
    scheme: str
    trajectory: Optional[Trajectory] = None
    refused: Optional[str] = None


def energies_x_schemes(*, n: int = 100, steps: int = 200, seed: int = 0, members: Sequence[int] = (0,),
                       reference_size: int = 2000,
                       energies: Optional[Mapping[str, EnergySpec]] = None,
                       schemes: Optional[Mapping[str, SchemeSpec]] = None, log_every: int = 10,
                       snapshot_every: Optional[int] = None, device="cpu", dtype=torch.float64,
                       show_progress: bool = False) -> dict:
    """Run every (energy, scheme) pair from the same start, over the ensemble members as one batch of runs.

    Run ``r`` is the member ``members[r]`` of the base seed ``seed`` (:func:`wgf_core.random.stream`):
    it draws its ``n`` initial particles (:func:`wgf_core.gaussian_targets.gaussian_2d_init`) and ``n``
    target points (:func:`~wgf_core.gaussian_targets.mixture_2d_target`) from the stream
    ``(seed, "api/energies_x_schemes/sample", member)``, its yardstick sample of ``reference_size``
    target points from ``(seed, "api/energies_x_schemes/reference", member)`` and its in-loop draws
    from ``(seed, "api/energies_x_schemes/loop", member)``, so a member gives the same numbers
    whichever other members run beside it.

    Returns
    -------
    dict ``(energy key, scheme key) -> Cell``; each trajectory logs ``"energy_distance"`` (runs, T)
    to the yardstick sample and its own ``"energy"``.
    """
    n = check_int("n", n, minimum=2)
    steps = check_int("steps", steps, minimum=1)
    reference_size = check_int("reference_size", reference_size, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    members = [check_int("members", m, minimum=0) for m in members]
    if not members:
        raise ParameterError("parameter 'members' = [] is not allowed: at least one member")
    if len(set(members)) != len(members):
        raise ParameterError(f"parameter 'members' = {members} is not allowed: repeated entries")
    energies = dict(ENERGIES if energies is None else energies)
    schemes = dict(SCHEMES if schemes is None else schemes)
    init, target = gaussian_2d_init(device=device, dtype=dtype), mixture_2d_target(device=device, dtype=dtype)
    purpose = "api/energies_x_schemes"
    gens = streams(seed, f"{purpose}/sample", members, device)
    x0 = torch.stack([init.sample(n, g) for g in gens])
    y = torch.stack([target.sample(n, g) for g in gens])
    ref = torch.stack([target.sample(reference_size, g)
                       for g in streams(seed, f"{purpose}/reference", members, device)])
    log = {"energy_distance": lambda mu, e: energy_distance(mu.x, ref, mu.weights())}
    out = {}
    for ek, espec in energies.items():
        check_positive(f"tau of energy {ek!r}", espec.tau)
        energy = espec.make(y)
        for sk, sspec in schemes.items():
            scheme = sspec.make()
            try:
                check_pair(energy, scheme)
            except ParameterError as err:
                out[ek, sk] = Cell(ek, sk, refused=str(err))
                continue
            log_e = dict(log, energy=lambda mu, e: e.value(mu)) if "value" in energy.provides else log
            traj = run(energy, scheme, Particles(x0), espec.tau, steps * scheme.steps_per_iteration, log=log_e,
                       log_every=log_every * scheme.steps_per_iteration, snapshot_every=snapshot_every,
                       generator=streams(seed, f"{purpose}/loop", members, device),
                       show_progress=show_progress, desc=f"{ek} x {sk}", on_divergence="stop")
            traj.extra.update(y=y, reference=ref)
            out[ek, sk] = Cell(ek, sk, trajectory=traj)
    return out


def summary(grid: Mapping) -> dict:
    """What the page reports of a grid (:func:`energies_x_schemes`), measured, nothing decided.

    Returns
    -------
    dict with ``ran`` (label ``"e x s"`` -> Trajectory of the pairs that ran), ``start`` (runs,) and
    ``final`` (label -> (runs,)) energy distances, ``ratios`` (one dict per run: label -> F(end) / F(start)
    of the pair's own energy), ``best`` / ``worst`` (labels of the smallest / largest median final
    energy distance), and ``vanished`` (label -> fraction of particles whose weight ended below 1e-3 / n,
    over all runs).
    """
    ran = {f"{ek} x {sk}": c.trajectory for (ek, sk), c in grid.items() if c.trajectory is not None}
    if not ran:
        raise ParameterError("the grid has no pair that ran")
    final = {k: t.metrics["energy_distance"][:, -1] for k, t in ran.items()}
    runs = next(iter(ran.values())).metrics["energy_distance"].shape[0]
    ratios = [{k: float(t.metrics["energy"][r, -1] / t.metrics["energy"][r, 0]) for k, t in ran.items()}
              for r in range(runs)]
    med = {k: float(torch.as_tensor(v).median()) for k, v in final.items()}
    vanished = {k: float((t.w < 1e-3 / t.w.shape[-1]).double().mean()) for k, t in ran.items()}
    return {"ran": ran, "start": next(iter(ran.values())).metrics["energy_distance"][:, 0], "final": final,
            "ratios": ratios, "best": min(med, key=med.get), "worst": max(med, key=med.get), "vanished": vanished}
