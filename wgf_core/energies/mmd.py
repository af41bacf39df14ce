"""Energies on measures, for the one runner (:func:`wgf_core.runner.run`).

An energy says what it provides (:attr:`provides`), so that a scheme can declare what it needs
(:attr:`wgf_core.schemes.Scheme.needs`) and the runner can refuse a pair that cannot work:

* ``"value"``: :math:`F(\\mu)` per run, shape ``(runs,)``;
* ``"first_variation"``: :math:`\\frac{\\delta F}{\\delta\\mu}[\\mu](z)` at points ``z``, and its
  gradient in ``z``;
* ``"gradient"``: the Wasserstein gradient :math:`\\nabla\\frac{\\delta F}{\\delta\\mu}[\\mu](x_i)`
  at the particles.

:class:`MMD` is :math:`F(\\mu) = c\\,\\mathrm{MMD}_k^2(\\mu, \\nu)` (``book/conventions.md``: no 1/2
inside MMD², :math:`c = 1/2` gives the energy of the conventions page). With the Riesz kernel
:math:`k(x, y) = -|x - y|^r` it is the discrepancy of Altekrüger et al. (2023); with ``target``
None it is the interaction energy :math:`c\\iint k\\,d\\mu\\,d\\mu`.

Riesz fast path. With the Riesz kernel and uniform weights (``mu.w`` and ``target_weights``
None), :meth:`MMD.value`, :meth:`MMD.mmd2` and :meth:`MMD.gradient` are the functions of
:mod:`wgf_core.riesz` (:func:`~wgf_core.riesz.riesz_energy`, :func:`~wgf_core.riesz.riesz_mmd2` with
the target's self term computed once, :func:`~wgf_core.riesz.riesz_gradient` with the one-sided
value 0 at coincident points), applied run by run, so a Riesz flow gives the numbers of those
functions bit for bit. The Riesz kernel also provides what the neural schemes of Altekrüger et al.
need (``"directional_derivative"``: the exact one-sided derivative, and ``"riesz"``: the exponent
for the exact short-time profile of a Dirac); every kernel provides a differentiable value on
minibatches (``"minibatch_value"``), radial kernels the batch Wasserstein gradient
(``"minibatch_gradient"``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..backends import check_backend, kernel_grad_sum
from ..errors import ParameterError
from ..kernels import MAX_BLOCK, Kernel
from ..measures import Particles
from ..metrics import kernel_energy, mmd2, mmd_witness_terms
from ..riesz import (
    DifferentiableRieszEnergy,
    directional_derivative_parts,
    interaction_energy,
    riesz_energy_gradient,
    riesz_gradient,
    riesz_mmd2,
)
from ..validation import check_int
from .base import CAPABILITIES

__all__ = ["MMD"]


@dataclass(frozen=True)
class MMD:
    r""":math:`F(\mu) = c\,\mathrm{MMD}_k^2(\mu, \nu)`, :math:`\nu = \frac1m\sum_j\delta_{y_j}` (or weighted).

    Parameters
    ----------
    kernel : Kernel
        From :func:`wgf_core.kernels.get_kernel` (any registry kernel; Riesz included).
    target : Tensor ``(runs, m, d)`` or ``(m, d)``, or None
        The target sample :math:`y` (one per run, or one shared by every run). None: no target,
        :math:`F(\mu) = c\iint k\,d\mu\,d\mu` (the interaction energy for the Riesz kernel).
    scale : float
        :math:`c` (1/2 in the papers: the energy of ``book/conventions.md``).
    target_weights : Tensor ``(runs, m)`` or ``(m,)``, optional
        Weights of the target (uniform if None).
    sampler : callable ``generator -> (runs, m, d)``, optional
        A fresh target sample at every iteration (the "fresh target" convention of the IFT
        experiments): the runner calls :meth:`next` once per iteration.
    max_block : int
        Entries (>= 1) of the ``(batch, rows, n + m)`` kernel block formed at once.
    block_size : int (>= 1), optional
        Row block of the kernel sums of the Riesz fast path (None: automatic; see
        :func:`wgf_core.backends.kernel_sum`).
    backend : {"auto", "torch", "numba", "keops"}
        Backend of the kernel sums (:mod:`wgf_core.backends`): the first variation and every Riesz kernel sum
        (values, gradients, minibatches, directional derivatives). ``"auto"``: numba's fused value and gradient
        sums on the CPU where they are faster, else torch.

    The first variation is :math:`2c\,h` with the witness :math:`h(z) = \int k(z,\cdot)\,d(\mu-\nu)`
    and the Wasserstein gradient :math:`2c\,\nabla h(x_i)` (tested against autograd of
    :meth:`value`).
    """

    kernel: Kernel
    target: Optional[torch.Tensor] = None
    scale: float = 0.5
    target_weights: Optional[torch.Tensor] = None
    sampler: Optional[Callable] = dataclasses.field(default=None, compare=False)
    max_block: int = MAX_BLOCK
    block_size: Optional[int] = None
    backend: str = "auto"
    _cache: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def provides(self) -> frozenset:
        """What this energy provides (:data:`~wgf_core.energies.CAPABILITIES` and more, see the module)."""
        out = set(CAPABILITIES) | {"kernel_quadratic"}
        if self.target_weights is None:
            out.add("minibatch_value")
            if self.kernel.is_radial:
                out.add("minibatch_gradient")
            if self.kernel.name == "riesz":
                out |= {"directional_derivative", "riesz"}
        return frozenset(out)

    def __post_init__(self):
        if not isinstance(self.kernel, Kernel):
            raise ParameterError(f"MMD: kernel must be a wgf_core.kernels.Kernel, got {type(self.kernel).__name__}")
        if not (isinstance(self.scale, (int, float)) and math.isfinite(self.scale) and self.scale > 0):
            raise ParameterError(f"parameter 'scale' = {self.scale!r} is not allowed: a finite number > 0")
        if self.target is not None and (not isinstance(self.target, torch.Tensor) or self.target.dim() not in (2, 3)):
            raise ParameterError("MMD: target must be a tensor (m, d) or (runs, m, d), or None")
        check_backend(self.backend)
        check_int("max_block", self.max_block)  # rows = max_block // (n + m): 0 would be a row block of 0
        if self.block_size is not None:
            check_int("block_size", self.block_size)  # a block of <= 0 rows would give an empty kernel sum

    @property
    def name(self) -> str:
        return f"MMD[{self.kernel.name}]" if self.target is not None else f"interaction[{self.kernel.name}]"

    # -- the target --------------------------------------------------------------------------
    def with_target(self, target: torch.Tensor) -> "MMD":
        """The same energy with another target sample."""
        return dataclasses.replace(self, target=target)

    def next(self, generator) -> "MMD":
        """The energy of the next iteration: a fresh target from ``sampler`` (itself if none)."""
        return self if self.sampler is None else self.with_target(self.sampler(generator))

    def _y(self, mu: Particles):
        """Target points and weights broadcast to the runs of ``mu``: ``(runs, m, d)``, ``(runs, m)``."""
        y = self.target
        if y.dim() == 2:
            y = y.unsqueeze(0).expand(mu.runs, -1, -1)
        if self.target_weights is None:
            wy = torch.full(y.shape[:-1], 1.0 / y.shape[-2], dtype=mu.x.dtype, device=mu.x.device)
        else:
            wy = self.target_weights if self.target_weights.dim() == 2 else self.target_weights.expand(mu.runs, -1)
        return y, wy

    def _target_term(self, y: torch.Tensor, wy: torch.Tensor) -> torch.Tensor:
        r""":math:`w_y^\top K_{yy} w_y` of the broadcast target ``(runs, m, d)``, computed once per shape.

        The energy's target is fixed (a fresh target is a new energy, :meth:`next`), so the self
        term of :func:`~wgf_core.metrics.mmd2` is the same at every logged step: it is computed by
        the same call as inside :func:`~wgf_core.metrics.mmd2` (same shapes, so the same numbers)
        and kept, instead of once per call (about a third of a logged value's cost).
        """
        key = ("target_term", tuple(y.shape), y.dtype, y.device)
        if key not in self._cache:
            self._cache[key] = kernel_energy(self.kernel, y, wy)
        return self._cache[key]

    # -- the Riesz fast path -----------------------------------------------------------------
    def _riesz(self, mu: Optional[Particles] = None) -> bool:
        """Whether the Riesz functions apply: Riesz kernel, uniform weights (of ``mu`` and the target)."""
        return self.kernel.name == "riesz" and self.target_weights is None and (mu is None or mu.w is None)

    def _target_run(self, r: int) -> Optional[torch.Tensor]:
        """The target points ``(m, d)`` of run ``r`` (None without a target)."""
        if self.target is None:
            return None
        return self.target if self.target.dim() == 2 else self.target[r]

    def _riesz_mmd2(self, x: torch.Tensor, r: int) -> torch.Tensor:
        """:func:`~wgf_core.riesz.riesz_mmd2` of run ``r`` (``x`` (n, d)), the target's self term cached."""
        y = self._target_run(r)
        key = ("target_energy", 0 if self.target.dim() == 2 else r)
        if key not in self._cache:  # E_K(nu), once per target sample
            self._cache[key] = interaction_energy(y, self.kernel.param, block_size=self.block_size,
                                                  backend=self.backend)
        return riesz_mmd2(x, y, self.kernel.param, block_size=self.block_size, target_energy=self._cache[key],
                          backend=self.backend)

    def _per_run(self, fn, mu: Particles) -> torch.Tensor:
        out = [fn(mu.x[r], r) for r in range(mu.runs)]
        return out[0].unsqueeze(0) if len(out) == 1 else torch.stack(out)

    # -- what it provides --------------------------------------------------------------------
    def value(self, mu: Particles) -> torch.Tensor:
        """:math:`F(\\mu)` per run, shape ``(runs,)`` (differentiable in ``mu.x``)."""
        if self._riesz(mu):
            f = 2.0 * self.scale  # riesz_energy is F at scale 1/2
            if self.target is None:
                v = self._per_run(lambda x, r: interaction_energy(x, self.kernel.param, block_size=self.block_size,
                                                                  backend=self.backend), mu)
                return v if f == 1.0 else f * v
            return self._per_run(lambda x, r: self.scale * self._riesz_mmd2(x, r), mu)
        w = mu.weights()
        if self.target is None:
            return self.scale * kernel_energy(self.kernel, mu.x, w)
        y, wy = self._y(mu)
        return self.scale * mmd2(self.kernel, mu.x, y, w, wy, target_term=self._target_term(y, wy))

    def mmd2(self, mu: Particles) -> torch.Tensor:
        r""":math:`\mathrm{MMD}_k^2(\mu, \nu)` per run, ``(runs,)`` (no ``scale``; the V-statistic of
        :func:`wgf_core.metrics.mmd2`, for the Riesz kernel :func:`wgf_core.riesz.riesz_mmd2`)."""
        if self.target is None:
            raise ParameterError("MMD.mmd2 needs a target: this energy is an interaction energy (target None)")
        if self._riesz(mu):
            return self._per_run(self._riesz_mmd2, mu)
        y, wy = self._y(mu)
        return mmd2(self.kernel, mu.x, y, mu.weights(), wy, target_term=self._target_term(y, wy))

    def gradient(self, mu: Particles) -> torch.Tensor:
        r"""Wasserstein gradient at the particles, ``(runs, n, d)``.

        Riesz fast path: :math:`2c\,\nabla\Phi(x_i)` with :func:`wgf_core.riesz.riesz_gradient`
        (one-sided value 0 at coincident points), run by run.
        """
        if self._riesz(mu):
            f = 2.0 * self.scale
            g = self._per_run(lambda x, r: riesz_gradient(x, self._target_run(r), self.kernel.param,
                                                          block_size=self.block_size, backend=self.backend), mu)
            return g if f == 1.0 else f * g
        return self.first_variation(mu, mu.x)[1]

    # -- minibatches and one-sided derivatives (the neural schemes) --------------------------
    def _check_batch(self, x: torch.Tensor, target: Optional[torch.Tensor]):
        if x.dim() != 2 or (target is not None and (target.dim() != 2 or target.shape[-1] != x.shape[-1])):
            raise ParameterError(f"MMD minibatch: x must be (B, d) and the target batch (C, d) or None, got "
                                 f"{tuple(x.shape)} and {None if target is None else tuple(target.shape)}")
        if (target is None) != (self.target is None):
            raise ParameterError("MMD minibatch: give a target batch exactly when the energy has a target")
        if self.target_weights is not None:
            raise ParameterError("MMD minibatch: not defined for a weighted target (target_weights given)")

    def minibatch_value(self, x: torch.Tensor, target: Optional[torch.Tensor] = None) -> torch.Tensor:
        r""":math:`F` of the minibatch :math:`\frac1B\sum_i\delta_{x_i}` against the target batch, differentiable.

        :math:`c\,\mathrm{MMD}_k^2(\frac1B\sum_i\delta_{x_i}, \frac1C\sum_j\delta_{y_j})`, or
        :math:`c\iint k\,d\mu_B\,d\mu_B` without a target. ``x`` ``(B, d)``, ``target`` ``(C, d)`` (a batch of
        :attr:`target`) or None; returns a 0-d tensor. For the Riesz kernel the backward pass uses the
        one-sided gradient (:class:`wgf_core.riesz.DifferentiableRieszEnergy`, times :math:`2c`);
        other kernels are differentiated by autograd.
        """
        self._check_batch(x, target)
        if self.kernel.name == "riesz":
            f = 2.0 * self.scale
            v = DifferentiableRieszEnergy.apply(x, target, self.kernel.param, self.backend)
            return v if f == 1.0 else f * v
        if target is None:
            return self.scale * kernel_energy(self.kernel, x)
        return self.scale * mmd2(self.kernel, x, target.to(x.dtype))

    def minibatch_value_surrogate(self, x: torch.Tensor, target: Optional[torch.Tensor] = None) -> torch.Tensor:
        r"""A 0-d tensor with the gradient of :meth:`minibatch_value` in ``x`` but not its value (Riesz kernel).

        :math:`2c\,\frac1B\sum_i \mathrm{sg}[\nabla\Phi(x_i)]\cdot x_i` (:math:`\mathrm{sg}`: no gradient), whose
        gradient is the one :class:`wgf_core.riesz.DifferentiableRieszEnergy` returns, bit for bit, without
        its forward pass (the energy's value: two kernel sums). For training iterations whose loss value is not
        read. Other kernels: :meth:`minibatch_value` itself.
        """
        self._check_batch(x, target)
        if self.kernel.name != "riesz":
            return self.minibatch_value(x, target)
        with torch.no_grad():
            g = riesz_energy_gradient(x, target, self.kernel.param, backend=self.backend)
        f = 2.0 * self.scale
        v = (g * x).sum()
        return v if f == 1.0 else f * v

    def minibatch_value_gradient(self, x: torch.Tensor, target: Optional[torch.Tensor] = None) -> torch.Tensor:
        r""":math:`\partial/\partial x_i` of :meth:`minibatch_value`, ``(B, d)``, not recording autograd.

        Riesz kernel: :math:`2c\,\nabla\Phi(x_i)/B` (:func:`wgf_core.riesz.riesz_energy_gradient`, one-sided at
        coincident points), the gradient that :meth:`minibatch_value`'s backward pass and
        :meth:`minibatch_value_surrogate` give, without autograd. Other kernels: autograd of :meth:`minibatch_value`.
        """
        self._check_batch(x, target)
        if self.kernel.name == "riesz":
            g = riesz_energy_gradient(x.detach(), target, self.kernel.param, backend=self.backend)
            f = 2.0 * self.scale
            return g if f == 1.0 else f * g
        with torch.enable_grad():
            xl = x.detach().requires_grad_(True)
            return torch.autograd.grad(self.minibatch_value(xl, target), xl)[0]

    def minibatch_gradient(self, x: torch.Tensor, target: Optional[torch.Tensor] = None, *,
                           unbiased: bool = False) -> torch.Tensor:
        r"""Wasserstein gradient of :meth:`minibatch_value` at the batch points, ``(B, d)`` (radial kernels).

        .. math::

            2c\Big(\frac{1}{B'}\sum_{j}\nabla_1k(x_i, x_j) - \frac1C\sum_j\nabla_1k(x_i, y_j)\Big),

        :math:`B' = B`, or :math:`B - 1` with ``unbiased`` (the U-statistic: for a random batch of a larger
        cloud an unbiased estimate of the cloud's interaction term; the own term is 0 for a radial kernel).
        Riesz kernel: :func:`wgf_core.riesz.riesz_gradient` (one-sided at coincident points).
        """
        self._check_batch(x, target)
        if not self.kernel.is_radial:
            raise ParameterError(f"MMD.minibatch_gradient: the kernel {self.kernel.name!r} is not radial")
        f = 2.0 * self.scale
        if self.kernel.name == "riesz":
            g = riesz_gradient(x, target, self.kernel.param, unbiased=unbiased, backend=self.backend)
            return g if f == 1.0 else f * g
        n = x.shape[-2]
        w = x.new_full((n,), 1.0 / max(1, n - 1) if unbiased else 1.0 / n)
        pts = x
        if target is not None:
            pts = torch.cat([x, target.to(x.dtype)], dim=-2)
            w = torch.cat([w, x.new_full((target.shape[-2],), -1.0 / target.shape[-2])])
        return f * kernel_grad_sum(self.kernel, x, pts, w, backend=self.backend)

    def directional_derivative_parts(self, mu: Particles) -> dict:
        r"""The ``x``-only pieces of the exact one-sided directional derivative of :math:`F` (Riesz kernel).

        :func:`wgf_core.riesz.directional_derivative_parts` of the one run of ``mu`` (runs = 1):
        the one-sided gradient, the groups of coincident particles and the coincidences with
        target points; :func:`wgf_core.riesz.riesz_directional_derivative` with these parts is
        :math:`D_v F(\mu)` at scale :math:`c = 1/2` (the paper's :math:`\tfrac12\mathrm{MMD}_K^2`).
        """
        if "directional_derivative" not in self.provides:
            raise ParameterError(f"the directional derivative is implemented for the Riesz kernel with an unweighted "
                                 f"target, not {self.name!r}")
        if self.scale != 0.5:
            raise ParameterError(f"parameter 'scale' = {self.scale!r}: the directional derivative is that of "
                                 "F = MMD^2 / 2 (scale 0.5)")
        if mu.runs != 1 or mu.w is not None:
            raise ParameterError(f"the directional derivative needs one run of uniform weights, got runs = {mu.runs}"
                                 + ("" if mu.w is None else " with weights"))
        return directional_derivative_parts(mu.x[0], self._target_run(0), self.kernel.param,
                                            block_size=self.block_size, backend=self.backend)

    def first_variation(self, mu: Particles, z: torch.Tensor, *, with_grad: bool = True):
        r"""First variation :math:`\frac{\delta F}{\delta\mu}[\mu](z) = 2c\,h(z)` and its gradient.

        Parameters
        ----------
        mu : Particles
        z : Tensor ``(runs, P, d)``

        Returns
        -------
        h : Tensor ``(runs, P)``; g : Tensor ``(runs, P, d)`` or None.

        :func:`wgf_core.metrics.mmd_witness_terms` with :math:`c` = ``2 * scale`` (radial kernels: the
        ``(runs, P, n + m)`` kernel matrix in row blocks of at most ``max_block`` entries).
        """
        y, wy = self._y(mu) if self.target is not None else (None, None)
        return mmd_witness_terms(self.kernel, z, mu.x, y, mu.weights(), wy, scale=2.0 * self.scale,
                                 with_grad=with_grad, max_block=self.max_block, backend=self.backend)
