r"""Explicit Euler for Riesz-kernel energies, with the option to split Diracs at the first step.

Altekrüger, Hertrich, Steidl, "Neural Wasserstein gradient flows for discrepancies with Riesz
kernels", ICML 2023 (arXiv:2301.11624), sections 4 and 6. The particle flow of the paper is the
explicit Euler scheme :class:`~wgf_core.schemes.Euler` on :class:`wgf_core.energies.MMD` with the
Riesz kernel :math:`K(x, y) = -|x - y|^r`, whose Wasserstein gradient takes the one-sided value 0
between coincident particles (:func:`wgf_core.riesz.riesz_gradient`). Coincident particles
therefore never separate by themselves, while the exact flow spreads a Dirac at once.
:class:`RieszEuler` with ``split_diracs_first=True`` places every group of coincident particles on
the exact short-time profile :math:`\rho_{\tau m}` of the interaction flow at the first step
(:func:`wgf_core.riesz.split_diracs`), then moves on as explicit Euler.
"""

from __future__ import annotations

import torch

from ..measures import Particles
from ..random import standard_normal_like
from ..riesz import split_diracs
from ..validation import check_choice
from .particle import Euler

__all__ = ["RieszEuler"]


class RieszEuler(Euler):
    r"""Explicit Euler :math:`x_i \leftarrow x_i - \tau\nabla\frac{\delta F}{\delta\mu}[\mu](x_i)`, splitting Diracs first.

    Parameters
    ----------
    split_diracs_first : bool
        At the first step (``k == 0``) of a run, after the gradient is evaluated at the given
        particles, replace every group of ``g`` coincident particles of run ``r`` (``n`` in all) by
        :func:`wgf_core.riesz.split_diracs` with time :math:`\tau` (the exact profile
        :math:`\rho_{\tau g/n}` of the interaction flow with the energy's Riesz exponent around the
        Dirac, d = 2; on a sphere of radius :math:`\tau g / n` with directions from the step's
        generator otherwise):

        .. math:: x^1 = \mathrm{split}_\tau(x^0) - \tau\,\nabla\tfrac{\delta F}{\delta\mu}[\mu^0](x^0).

        Needs the Riesz kernel (the energy provides ``"riesz"``). False: plain :class:`Euler`.
    noise, noise_off
        As in :class:`~wgf_core.schemes.Euler`.

    ``step(energy, mu, tau, k, generator)`` with ``mu.x`` ``(runs, n, d)``; ``generator`` one
    :class:`torch.Generator` or one per run (used only by the split in ``d != 2``).
    """

    name = "particle"

    def __init__(self, split_diracs_first: bool = False, noise: float = 0.0, noise_off=None):
        super().__init__(noise=noise, noise_off=noise_off)
        self.split_diracs_first = check_choice("split_diracs_first", split_diracs_first, (False, True))
        if self.split_diracs_first:
            self.needs = self.needs | {"riesz"}

    def step(self, energy, mu, tau, k, generator=None):
        if not (self.split_diracs_first and k == 0):
            return super().step(energy, mu, tau, k, generator)
        noisy = self.noise > 0 and (self.noise_off is None or k < self.noise_off)
        if noisy:
            _, g = energy.first_variation(mu, mu.x + self.noise * standard_normal_like(mu.x, generator))
        else:
            g = energy.gradient(mu)
        xs = []
        for r in range(mu.runs):
            gen = generator[r] if isinstance(generator, (list, tuple)) else generator
            xs.append(split_diracs(mu.x[r], tau, r=energy.kernel.param, generator=gen))
        x = xs[0].unsqueeze(0) if mu.runs == 1 else torch.stack(xs)
        return Particles(x - tau * g, mu.w)
