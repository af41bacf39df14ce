r"""Explicit Euler with step control (the flows of MMD-regularised f-divergences, Stein et al. 2024).

At the reference configuration of the Moreau-envelope flows (:math:`\lambda = 0.01`, :math:`\tau = 0.01`,
a concentrated prior) plain explicit Euler is unstable: the velocity is of order :math:`|k'|/\lambda`.
:class:`StepControlledEuler` still advances the time by :math:`\tau` per iteration, in adaptive Euler
substeps :math:`\delta t \le \tau` whose local error estimate (the Euler / Heun pair)

.. math::

    \mathrm{err} = \tfrac{\delta t}{2}\max_i \big|\nabla\tfrac{\delta F}{\delta\mu}[\mu'](x'_i)
        - \nabla\tfrac{\delta F}{\delta\mu}[\mu](x_i)\big|,\qquad x' = x - \delta t\,\nabla\tfrac{\delta F}{\delta\mu}[\mu](x),

is at most ``error_tol`` (a length, in the particles' units). A rejected substep is retried shorter,
:math:`\delta t \leftarrow \delta t\,\max(0.2,\ 0.8\sqrt{\varepsilon/\mathrm{err}})`; an accepted one
proposes :math:`\delta t\,\min(g,\ 0.8\sqrt{\varepsilon/\mathrm{err}})` for the next (:math:`g = 1.5`, 1
right after a rejection; not after a substep shortened to fit the step), and its gradient at the new
particles is reused by the next substep (one gradient per accepted substep).
"""

from __future__ import annotations

import math

from ..measures import Particles
from ..validation import check_int, check_positive
from .base import Scheme

__all__ = ["StepControlledEuler"]

_SAFETY, _GROW_MAX = 0.8, 1.5  # step control: safety factor and largest growth of the substep


class StepControlledEuler(Scheme):
    r"""Explicit Euler :math:`x \leftarrow x - \delta t\,\nabla\frac{\delta F}{\delta\mu}` in error-controlled
    substeps covering each step :math:`\tau` (module docstring).

    Parameters
    ----------
    error_tol : float
        :math:`\varepsilon > 0`, the bound on the local error estimate of a substep (a length).
    max_substeps : int
        Cap on substeps per step (the last one is then accepted whatever its error estimate).

    Notes
    -----
    Mutable state (one instance per run): ``dt_next`` (the proposed substep length, carried across
    steps; starts at the first ``tau``), ``substeps`` (accepted substeps per step) and ``rejected``
    (rejected trials). An energy that provides ``"trial"``
    (:class:`wgf_core.energies.MoreauFDivergence`) evaluates trial positions by ``trial_gradient``
    and is told the accepted ones by ``accept`` (its warm starts come from accepted solutions only);
    any other energy by ``gradient``. Weights are unchanged.
    """

    name = "euler-step-control"
    needs = frozenset({"gradient"})

    def __init__(self, error_tol: float, max_substeps: int = 100):
        self.error_tol = check_positive("error_tol", error_tol)
        self.max_substeps = check_int("max_substeps", max_substeps, minimum=1)
        self.dt_next = None
        self.substeps: list[int] = []
        self.rejected = 0

    def step(self, energy, mu, tau, k, generator=None):
        trial = "trial" in getattr(energy, "provides", ())
        evaluate = energy.trial_gradient if trial else energy.gradient
        eps, cap = self.error_tol, self.max_substeps - 1
        if self.dt_next is None:
            self.dt_next = tau
        x, grad = mu.x, energy.gradient(mu)
        remaining, n_sub = tau, 0
        while remaining > 1e-9 * tau:
            dt = min(remaining, self.dt_next)
            if remaining - dt < 0.2 * dt or n_sub >= cap:
                dt = remaining  # no sliver substep; the capped last one covers the rest
            truncated, retried = dt < self.dt_next, False
            while True:
                new = Particles(x - dt * grad, mu.w)
                grad_n = evaluate(new)
                if n_sub >= cap:
                    break
                # local error of Euler against Heun from the same two velocities
                err = 0.5 * dt * float((grad_n - grad).norm(dim=-1).max())
                if err <= eps:
                    grow = 1.0 if retried else _GROW_MAX  # no growth right after a rejection
                    if not truncated:
                        self.dt_next = dt * min(grow, _SAFETY * math.sqrt(eps / max(err, 1e-300)))
                    break
                self.rejected += 1
                retried, truncated = True, False
                dt = dt * max(0.2, _SAFETY * math.sqrt(eps / err))
            if trial:
                energy.accept(new)
            x, grad = new.x, grad_n
            n_sub += 1
            remaining -= dt
        self.substeps.append(n_sub)
        return Particles(x, mu.w)
