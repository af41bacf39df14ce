"""The one runner: ``run(energy, scheme, mu0, tau, steps, ...) -> Trajectory``.

:func:`run` moves a :class:`~wgf_core.measures.Particles` by ``scheme`` on ``energy`` and alone
handles what every flow needs: logging metrics by name, snapshots, wall time, progress bars,
per-run generators, and **blow-up detection**. A run stops with
:class:`~wgf_core.errors.FlowDivergedError` naming the step, what blew up and the usual cure (a
smaller step) when, at a check:

* positions, weights, a logged metric or the scheme's training loss is not finite;
* the positions spread beyond ``max_growth`` times their reference extent (the larger of the
  initial extent about the initial centre, the target's extent, and 1);
* a logged metric or the training loss grows beyond ``max_rise`` times its first value (at
  least 1 in absolute value);
* a linear-algebra routine fails inside the step (a Cholesky factorisation of a matrix that is
  no longer positive definite, a singular solve).

With ``on_divergence="stop"`` the run returns instead, with :attr:`Trajectory.diverged` set and
the trajectory up to the last state that passed the checks: a notebook records such a seed as
diverged rather than crashing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from . import backends
from .errors import FlowDivergedError
from .measures import Particles
from .progress import progress
from .schemes import check_pair
from .validation import check_choice, check_int, check_positive, check_range

__all__ = ["Trajectory", "run"]


@dataclass
class Trajectory:
    """The one result type of :func:`run` (numpy arrays on the host, the final state as tensors).

    Attributes
    ----------
    steps : ndarray ``(T,)``
        Logged step counts (an iteration of a splitting scheme is ``scheme.steps_per_iteration`` steps).
    times : ndarray ``(T,)``
        Flow time at the logged steps: the sum of the step sizes of the iterations done.
    metrics : dict of name -> ndarray ``(runs, T)``
        The logged metrics (``log`` of :func:`run`); ``"loss"`` ``(1, T)`` when the scheme trains.
    snapshot_steps, snapshot_times : ndarray ``(S,)``
    x_snapshots : ndarray ``(S, runs, n, d)``; w_snapshots : ndarray ``(S, runs, n)``
    final : Particles
        The last state that passed the checks.
    seconds : float
        Wall time of the loop (logging included).
    iterations : int
        Scheme iterations done.
    diverged : str or None
        The divergence message when the run stopped early (``on_divergence="stop"``).
    extra : dict
        Further records; :func:`run` stores ``"backends"``, the backend each operation ran with
        (``{operation: [names]}``, :func:`wgf_core.backends.recording`).
    """

    steps: np.ndarray
    times: np.ndarray
    metrics: dict
    snapshot_steps: np.ndarray
    snapshot_times: np.ndarray
    x_snapshots: np.ndarray
    w_snapshots: np.ndarray
    final: Particles
    seconds: float
    iterations: int
    diverged: Optional[str] = None
    extra: dict = field(default_factory=dict)

    @property
    def x(self) -> torch.Tensor:
        """Final positions ``(runs, n, d)``."""
        return self.final.x

    @property
    def w(self) -> torch.Tensor:
        """Final weights ``(runs, n)``."""
        return self.final.weights()

    def metric_at(self, name: str, step: int) -> np.ndarray:
        """Metric ``name`` ``(runs,)`` at the last logged step ``<= step``."""
        i = int(np.searchsorted(self.steps, step, side="right")) - 1
        return self.metrics[name][:, max(i, 0)]

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(1, int(self.steps[-1]) if len(self.steps) else 1)


def _extent(x: torch.Tensor, centre: torch.Tensor) -> float:
    return float((x - centre).norm(dim=-1).max()) if x.numel() else 0.0


_LINALG_WORDS = ("cholesky", "singular", "positive-definite", "positive definite", "linalg", "not invertible")


def run(energy, scheme, mu0: Union[Particles, torch.Tensor], tau: Union[float, Sequence[float]], steps: int, *,
        log: Optional[Mapping[str, Callable]] = None, log_every: int = 1, snapshot_every: Optional[int] = None,
        generator=None, seed: Optional[int] = None, check_every: Optional[int] = None, max_growth: float = 1e3,
        max_rise: float = 1e6, on_divergence: str = "raise", show_progress: bool = True, desc: str = "",
        num_threads: Union[int, str, None] = "auto") -> Trajectory:
    r"""Run ``scheme`` on ``energy`` from ``mu0`` for ``steps`` steps; the one driver of every flow.

    Parameters
    ----------
    energy
        An energy (:mod:`wgf_core.energies`); it must provide what ``scheme.needs``
        (else :class:`~wgf_core.errors.ParameterError` naming both). If it has a ``next(generator)``
        method, it is called before every iteration (a fresh target sample).
    scheme
        A scheme (:mod:`wgf_core.schemes`).
    mu0 : Particles or Tensor ``(runs, n, d)`` / ``(n, d)``
    tau : float or sequence of float
        The step size, or one per iteration (a schedule; its length fixes the iterations).
    steps : int
        Steps to run: ``steps // scheme.steps_per_iteration`` iterations.
    log : mapping name -> callable ``(mu, energy) -> Tensor (runs,)``, optional
        Metrics logged every ``log_every`` steps and at the end (default: the energy's value, as
        ``"energy"``, when it provides one).
    snapshot_every : int, optional
        Store positions and weights every ``snapshot_every`` steps (and at 0 and the end).
    generator : torch.Generator or sequence of them, optional
        The in-loop randomness (noise, fresh targets, minibatches): one for the batch, or one per
        run. ``seed`` builds one when ``generator`` is None: the stream ``(seed, "runner/noise")``
        of :func:`wgf_core.random.stream`.
    check_every : int, optional
        Blow-up checks every ``check_every`` steps (default: at every log; each check is a host sync).
    max_growth, max_rise : float
        The blow-up factors of the module docstring, each >= 1 (below 1 the start itself would count
        as a blow-up).
    on_divergence : {"raise", "stop"}
    num_threads : int, "auto" or None
        CPU threads for the loop (restored afterwards). ``"auto"``: 1 when the per-iteration kernel
        block ``runs * n * (n + m)`` has fewer than ``2**22`` entries (small ops: on a 2-core CPU two
        threads took 5x the CPU time of one, measured), else unchanged; None: unchanged.

    Returns
    -------
    Trajectory
    """
    mu = mu0 if isinstance(mu0, Particles) else Particles.of(mu0)
    check_pair(energy, scheme)
    spi = int(getattr(scheme, "steps_per_iteration", 1))
    if isinstance(tau, (list, tuple, np.ndarray)):
        taus = [check_positive("tau", t) for t in tau]
        iters = len(taus)
    else:
        steps = check_int("steps", steps, minimum=0)
        iters = steps // spi
        taus = [check_positive("tau", tau)] * iters
    log_every = check_int("log_every", log_every)
    log_it = max(1, log_every // spi)
    snap_it = None if snapshot_every is None else max(1, check_int("snapshot_every", snapshot_every) // spi)
    chk_it = log_it if check_every is None else max(1, check_int("check_every", check_every) // spi)
    # factors below 1 would call the start itself a blow-up (the references are the start's extent and values)
    max_growth = check_range("max_growth", max_growth, 1.0, math.inf, closed="left")
    max_rise = check_range("max_rise", max_rise, 1.0, math.inf, closed="left")
    check_choice("on_divergence", on_divergence, ("raise", "stop"))
    if generator is None and seed is not None:
        from .random import stream

        generator = stream(check_int("seed", seed, minimum=0), "runner/noise", 0, mu.x.device)
    if log is None:
        log = {"energy": lambda m, e: e.value(m)} if "value" in getattr(energy, "provides", ()) else {}
    log = dict(log)

    threads_before = torch.get_num_threads()
    if mu.x.device.type == "cpu" and num_threads is not None:
        if num_threads == "auto":
            target = getattr(energy, "target", None)
            m = 0 if target is None else int(target.shape[-2])
            small = mu.x.shape[:-1].numel() * (mu.n + m) < 2**22
            want = 1 if small else threads_before
        else:
            want = check_int("num_threads", num_threads)
        torch.set_num_threads(want)
    try:
        with backends.recording() as used:
            traj = _loop(energy, scheme, mu, taus, iters, spi, log, log_it, snap_it, chk_it, generator, max_growth,
                         max_rise, on_divergence, show_progress, desc)
        traj.extra["backends"] = used
        return traj
    finally:
        torch.set_num_threads(threads_before)


def _loop(energy, scheme, mu, taus, iters, spi, log, log_it, snap_it, chk_it, generator, max_growth, max_rise,
          on_divergence, show_progress, desc) -> Trajectory:
    log_steps, log_times, logs, losses = [], [], {k: [] for k in log}, []
    snap_steps, snap_times, xs, ws = [], [], [], []
    centre = mu.x.detach().mean(-2, keepdim=True)
    ref = max(_extent(mu.x.detach(), centre), 1.0)
    target = getattr(energy, "target", None)
    if isinstance(target, torch.Tensor) and target.numel():
        ref = max(ref, _extent(target.detach().reshape(-1, target.shape[-1]),
                               target.detach().reshape(-1, target.shape[-1]).mean(0)))
    first = {}
    t_now = 0.0

    def record(it):
        log_steps.append(it * spi)
        log_times.append(t_now)
        for k, fn in log.items():
            logs[k].append(torch.as_tensor(fn(mu, energy)).detach().reshape(-1))
        if not math.isnan(scheme.last_loss):
            losses.append(float(scheme.last_loss))

    def snapshot(it):
        snap_steps.append(it * spi), snap_times.append(t_now)
        xs.append(mu.x.detach().clone()), ws.append(mu.weights().detach().clone())

    def check(it, logged_now):
        step = it * spi
        what = None
        # one pass over the positions: their extent is NaN or inf exactly when a position is (a norm and a max
        # propagate both), or when a finite square overflows, which the finiteness test below tells apart
        ext = _extent(mu.x.detach(), centre)
        if not math.isfinite(ext) and not bool(torch.isfinite(mu.x).all()):
            what = "non-finite positions"
        elif mu.w is not None and not bool(torch.isfinite(mu.w).all()):
            what = "non-finite weights"
        elif ext > max_growth * ref:
            what = f"positions spread to {ext:.3g}, beyond {max_growth:g} x their reference extent {ref:.3g}"
        if what is None and logged_now:
            for k in log:
                v = logs[k][-1]
                if not bool(torch.isfinite(v).all()):
                    what = f"non-finite {k}"
                    break
                big = float(v.abs().max())
                first.setdefault(k, max(float(logs[k][0].abs().max()), 1.0))
                if big > max_rise * first[k]:
                    what = f"{k} grew to {big:.3g}, beyond {max_rise:g} x its first value {first[k]:.3g}"
                    break
        loss = scheme.last_loss
        if what is None and not math.isnan(loss):
            if not math.isfinite(loss):
                what = "a non-finite training loss"
            else:
                first.setdefault("loss", max(abs(loss), 1.0))
                if abs(loss) > max_rise * first["loss"]:
                    what = f"the training loss grew to {loss:.3g}, beyond {max_rise:g} x its first value"
        if what is not None:
            return (f"step {step}: {what}: the flow diverged (scheme {scheme.name!r}); try a smaller step size "
                    f"tau (now {taus[max(it - 1, 0)]:g})")
        return None

    t0 = time.perf_counter()
    record(0)
    if snap_it is not None:
        snapshot(0)
    diverged, last_good = None, mu
    for it in progress(range(1, iters + 1), total=iters, desc=desc or getattr(scheme, "name", ""),
                       enabled=None if show_progress else False):
        if hasattr(energy, "next"):
            energy = energy.next(generator)
        k = (it - 1) * spi
        try:
            new = scheme.step(energy, mu, taus[it - 1], k, generator)
        except (torch.linalg.LinAlgError, RuntimeError) as err:
            if isinstance(err, FlowDivergedError):
                raise
            msg = str(err)
            if not (isinstance(err, torch.linalg.LinAlgError) or any(w in msg.lower() for w in _LINALG_WORDS)):
                raise
            diverged = (f"step {it * spi}: a linear-algebra failure inside the step ({msg.splitlines()[0][:160]}): "
                        f"the flow diverged (scheme {scheme.name!r}); try a smaller step size tau "
                        f"(now {taus[it - 1]:g})")
            break
        mu = new
        t_now += taus[it - 1]
        logged_now = it % log_it == 0 or it == iters
        if logged_now:
            record(it)
        if it % chk_it == 0 or it == iters:
            diverged = check(it, logged_now)
            if diverged is not None:
                break
            last_good = mu
        if snap_it is not None and (it % snap_it == 0 or it == iters):
            snapshot(it)
    else:
        it = iters
    seconds = time.perf_counter() - t0
    if diverged is not None:
        if on_divergence == "raise":
            raise FlowDivergedError(diverged)
        mu = last_good
    metrics = {k: torch.stack(v, dim=-1).cpu().numpy() if v else np.zeros((mu.runs, 0)) for k, v in logs.items()}
    if losses:
        metrics["loss"] = np.asarray(losses, dtype=float)[None, :]
    if xs:
        xs_np, ws_np = torch.stack(xs).cpu().numpy(), torch.stack(ws).cpu().numpy()
    else:
        xs_np, ws_np = np.zeros((0,) + tuple(mu.x.shape)), np.zeros((0,) + tuple(mu.x.shape[:2]))
    return Trajectory(np.asarray(log_steps), np.asarray(log_times), metrics, np.asarray(snap_steps, dtype=int),
                      np.asarray(snap_times), xs_np, ws_np, mu, seconds, it if diverged is None else it - 1,
                      diverged)

