r"""The size caps of the Riesz notebooks (:func:`wgf_core.experiments.riesz.setup`), from a memory and time estimate.

:func:`check` validates a notebook's sizes before anything is allocated: the integers ``n_particles``,
``iters``, ``first_iters``, ``width``, ``fourier_features`` and ``n_seeds`` each within the cap that
:func:`cost` derives (:func:`wgf_core.validation.check_sizes`: this machine's memory, a day at an
optimistic throughput), and the steps ``end_time / tau`` within theirs
(:func:`wgf_core.validation.check_step_count`, naming ``end_time`` or ``tau``). ``n_seeds`` is at least
:data:`~wgf_core.claims.MIN_SEEDS` outside ``ci`` (the claims depend on random draws: fewer members
would fail when the claims are decided, after the compute).

The estimate (:func:`cost`) of one member is the particle flow (Riesz kernel sums over
``n_particles`` x ``n_particles`` pairs per step, in blocks; the runner's logs and snapshots,
:func:`wgf_core.validation.flow_memory`), the two neural schemes (a training iteration of a
``depth``-layer network of ``width`` units on ``batch`` samples, ``first_iters`` at the first step and
``iters`` at each later one, and the push of the particles through it), the step-size selector's
particle flows and the null draws of the references; the members run one after another.
"""

from __future__ import annotations

import math
from typing import Optional

from ..claims import MIN_SEEDS
from ..claims.riesz import REFERENCE_DRAWS
from ..flows.riesz import paper_mnist_tau, paper_mnist_taus
from ..validation import (
    KERNEL_BLOCK_BYTES,
    NET_FLOPS,
    PAIR_FLOPS,
    check_choice,
    check_positive,
    check_sizes,
    check_step_count,
    flow_memory,
)

__all__ = ["cost", "check", "DIMENSION", "NET_BYTES", "ACTIVATION_COPIES", "SELECTOR_FLOWS",
           "NEURAL_ITERATION_WEIGHT"]

#: The dimension of the particles of each notebook (2 but for MNIST's 28 x 28 images).
DIMENSION = {"05_mnist": 784}
#: Bytes per weight of a network in training: float32 weights, gradients and Adam's two moments.
NET_BYTES = 16
#: float32 activations per unit and sample a training iteration keeps (forward values and their gradients).
ACTIVATION_COPIES = 4
#: Particle flows of the step-size selector (wgf_core.experiments.riesz.STEP_GRID: three step sizes).
SELECTOR_FLOWS = 3
#: Runner steps (wgf_core.validation.STEP_SECONDS) one training iteration costs at the least (a forward and a
#: backward pass and an optimiser step: a few tens of tensor operations).
NEURAL_ITERATION_WEIGHT = 2


def _weights(d: int, width: float, depth: float, fourier: float) -> float:
    """Weights of a network ``d (+ 2 fourier) -> width -> ... -> d`` of ``depth`` hidden layers."""
    inputs = d + 2 * fourier
    return (inputs + 1) * width + max(depth - 1, 0) * (width + 1) * width + (width + 1) * d


def cost(notebook: str, z: dict) -> tuple:
    """``(bytes, flops, steps)`` of a Riesz notebook at the sizes ``z``: ``n_particles``, ``width``, ``depth``,
    ``batch``, ``iters``, ``first_iters``, ``fourier_features``, ``n_seeds`` (members), ``steps`` (neural) and
    ``particle_steps``; see the module's docstring."""
    d = DIMENSION.get(notebook, 2)
    n, width, depth, batch = z["n_particles"], z["width"], z["depth"], z["batch"]
    steps, psteps, members = z["steps"], z["particle_steps"], z["n_seeds"]
    weights = _weights(d, width, depth, z.get("fourier_features", 0))
    iterations = z["first_iters"] + max(steps - 1, 0) * z["iters"]
    pairs = n * n * (d + 2) * PAIR_FLOPS  # one kernel sum with its gradient
    flops = (1 + SELECTOR_FLOWS) * psteps * pairs + 2 * (iterations * batch * weights * NET_FLOPS
                                                        + steps * n * weights * 2)
    flops = members * flops + 2 * REFERENCE_DRAWS * pairs
    mem = (flow_memory(psteps, 1, n, d, log_every=1, snapshot_every=max(1.0, psteps / 20), logs=2)
           + 2 * (NET_BYTES * weights + 4.0 * ACTIVATION_COPIES * batch * width * depth)
           + KERNEL_BLOCK_BYTES)
    loop = members * ((1 + SELECTOR_FLOWS) * psteps + 2 * NEURAL_ITERATION_WEIGHT * iterations)
    return mem, flops, loop


def _schedule_steps(end_time: float) -> float:
    """Steps of the paper's MNIST schedule up to ``end_time`` at the least (its largest step), without listing it."""
    return end_time / paper_mnist_tau(math.inf)


def check(notebook: str, profile: str, dev, sizes: dict, p: dict, looks: dict) -> Optional[int]:
    """Check the sizes ``p`` (the notebook's parameters, None: the profile's) of ``notebook`` into ``sizes``
    (the profile's, updated in place); returns ``n_seeds`` (None when not given).

    ``looks`` are the schemes' seed plans' looks at the profile: the estimate runs the largest first look,
    and ``n_seeds`` up to the largest last look is never refused (the plans run that many). In
    ``04_max_und_moritz`` ``iters`` / ``first_iters`` set both neural schemes; ``05_mnist`` takes no ``tau``
    (its steps: the profile's constant step, or the paper's schedule). Raises
    :class:`~wgf_core.errors.ParameterError` naming the first bad parameter.
    """
    mm = notebook == "04_max_und_moritz"
    if mm and p.get("backward_estimator") is not None:
        sizes["backward_estimator"] = check_choice("backward_estimator", p["backward_estimator"],
                                                   ("minibatch", "svrg"))
    base = dict(sizes)  # the profile's: the integer sizes' caps are taken at its steps
    for k in ("tau", "end_time"):
        if p.get(k) is not None:
            sizes[k] = check_positive(k, p[k])
    suffix = ("_forward", "_backward") if mm else ("",)

    def neural_steps(s: dict) -> float:
        if notebook == "05_mnist":
            return _schedule_steps(s["end_time"]) if s["tau"] == "schedule" else s["end_time"] / s["tau"]
        return s["end_time"] / s["tau"]

    def particle_steps(s: dict) -> float:
        if notebook == "05_mnist":
            return len(paper_mnist_taus(s["particle_end_time"]))
        return s["end_time"] / s.get("particle_tau", s["tau"])

    profile_sizes = dict(base, n_seeds=max(v[-1] for v in looks.values()),
                         **{k: max(base[k + x] for x in suffix) for k in ("iters", "first_iters")})
    profile_sizes.setdefault("fourier_features", 0)
    profile_steps = max(1, round(neural_steps(base)))
    z = dict(profile_sizes, n_seeds=max(v[0] for v in looks.values()), steps=profile_steps,
             particle_steps=max(1, round(particle_steps(base))))
    given = {k: p.get(k) for k in ("n_particles", "iters", "first_iters", "width", "n_seeds") if k in p}
    if mm:
        given["fourier_features"] = p.get("fourier_features")
    model = "each member's particle flow over n_particles^2 pairs and two networks trained on batches"
    check_sizes(given, z, lambda s: cost(notebook, s), device=dev, profile_sizes=profile_sizes, model=model,
                minimum=dict(n_seeds=1 if profile == "ci" else MIN_SEEDS, fourier_features=0))
    for k in ("n_particles", "width", "fourier_features"):
        if given.get(k) is not None:
            sizes[k] = z[k]
    for k in ("iters", "first_iters"):
        if given.get(k) is not None:
            for x in suffix:
                sizes[k + x] = z[k]
    if notebook == "05_mnist":
        sizes["batch"] = z["batch"] = sizes["n_particles"]  # full batches, as in the script
    ratio = "end_time / tau" if notebook != "05_mnist" else "end_time over the neural schemes' step"
    name = "end_time" if p.get("end_time") is not None or p.get("tau") is None else "tau"

    ratio_particle = 1.0 if notebook == "05_mnist" else sizes["tau"] / sizes.get("particle_tau", sizes["tau"])

    def at_steps(v: int) -> tuple:
        psteps = z["particle_steps"] if notebook == "05_mnist" else max(1.0, v * ratio_particle)
        return cost(notebook, dict(z, steps=v, particle_steps=psteps))

    check_step_count(name, p.get(name), neural_steps(sizes), at_steps, device=dev, keep=profile_steps, model=model,
                     ratio=ratio)
    return None if p.get("n_seeds") is None else z["n_seeds"]

