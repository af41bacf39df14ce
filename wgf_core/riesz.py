r"""Riesz-kernel energies, their (one-sided) derivatives, and the exact interaction-energy flow.

Altekrüger, Hertrich, Steidl, "Neural Wasserstein gradient flows for discrepancies with Riesz
kernels", ICML 2023 (arXiv:2301.11624), sections 2-4 and 6.1.

Conventions (``book/conventions.md``). Riesz kernel :math:`K(x, y) = -|x - y|^r`, :math:`r \in (0, 2)`
(``kernels.get_kernel("riesz", r)``). For empirical measures
:math:`\mu = \frac1N\sum_i \delta_{x_i}` (or weights :math:`w`), :math:`\nu = \frac1M\sum_j \delta_{y_j}`:

.. math::

    \mathcal E_K(\mu) &= -\tfrac12 \iint |x - y|^r \,d\mu\,d\mu
        \quad\text{(interaction energy, } K=-|x-y|^r)\\
    \mathcal V_{K,\nu}(\mu) &= \iint |x - y|^r \,d\mu\,d\nu \quad\text{(potential energy)}\\
    \mathcal F_\nu(\mu) &= \mathcal E_K(\mu) + \mathcal V_{K,\nu}(\mu) + \mathcal E_K(\nu)
        = \tfrac12 \mathrm{MMD}_K^2(\mu, \nu)

(:func:`wgf_core.metrics.mmd2` is the V-statistic :math:`\mathrm{MMD}^2` without the 1/2.)

Gradients. The Wasserstein gradient of :math:`\mathcal F_\nu` at a particle is
:math:`\nabla \Phi(x)`, :math:`\Phi(x) = -\int |x-y|^r d\mu(y) + \int |x-y|^r d\nu(y)`. The kernel is
not differentiable at coincident points; we use the **one-sided choice 0** there (the gradient
of :math:`|x - y|^r` at :math:`x = y` is the minimal-norm element of its subdifferential for
:math:`r = 1`), which :func:`wgf_core.kernels.kernel_grad_sum` already implements. The exact
*directional* (one-sided) derivative :math:`\lim_{h\downarrow 0}(\mathcal F(x + h v) - \mathcal F(x))/h`
adds, for ``r = 1``, the terms :math:`-\tfrac12\sum_{x_i = x_j} w_i w_j |v_i - v_j|` and
:math:`\sum_{x_i = y_j} w_i \nu_j |v_i|` (:func:`riesz_directional_derivative`); it is what lets
mass leave a Dirac.

Exact solution (paper section 4, r = 1, d = 2). The Wasserstein gradient flow of
:math:`\mathcal E_K` from :math:`\delta_0` is self-similar, rotation invariant, supported on the
ball of radius :math:`R(t) = \pi t / 4` with density

.. math::

    \rho_t(x) = \frac{1}{2\pi R \sqrt{R^2 - |x|^2}}, \qquad |x| < R(t).

Its radial law has CDF :math:`F(s) = 1 - \sqrt{1 - (s/R)^2}`, hence the inverse-CDF sampler
:math:`|x| = R\sqrt{U(2 - U)}`, :math:`U \sim \mathcal U(0, 1)`, angle uniform; and
:math:`\mathbb E|x| = R \int_0^1 u^2 (1-u^2)^{-1/2} du = \pi R / 4 = \pi^2 t / 16`
(0.74022 at t = 1.2).
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from .backends import kernel_grad_sum, kernel_sum
from .kernels import get_kernel, pairwise_distances, uniform_weights
from .metrics import kernel_energy, mmd2
from .validation import ParameterError, check_int, check_positive, check_range

__all__ = [
    "interaction_energy",
    "potential_energy",
    "riesz_mmd2",
    "riesz_energy",
    "riesz_gradient",
    "riesz_energy_gradient",
    "riesz_directional_derivative",
    "directional_derivative_parts",
    "DifferentiableRieszEnergy",
    "exact_interaction_radius",
    "exact_interaction_mean_norm",
    "exact_interaction_density",
    "sample_exact_interaction",
    "spiral_exact_interaction",
    "split_diracs",
    "interaction_profile_constant",
    "interaction_time_unit",
    "geometric_time_steps",
    "self_similar_step_error",
    "steps_for_accuracy",
    "jittered_diracs",
    "sample_atoms",
    "null_mmds",
    "mean_nearest_distance",
]


def interaction_energy(x: torch.Tensor, r: float = 1.0, w: Optional[torch.Tensor] = None, *,
                       block_size: Optional[int] = None, backend: str = "auto") -> torch.Tensor:
    r"""Interaction energy :math:`-\tfrac12\sum_{i,j} w_i w_j |x_i - x_j|^r`.

    Parameters
    ----------
    x : Tensor ``(..., N, d)``; w : Tensor ``(..., N)`` (uniform if None); r : exponent in (0, 2).
    block_size, backend : of the kernel sums (:func:`wgf_core.backends.kernel_sum`; here and below).

    Returns
    -------
    Tensor ``(...)``.
    """
    return 0.5 * kernel_energy(get_kernel("riesz", r), x, w, block_size=block_size, backend=backend)


def potential_energy(x: torch.Tensor, y: torch.Tensor, r: float = 1.0, wx=None, wy=None, *,
                     block_size: Optional[int] = None, backend: str = "auto") -> torch.Tensor:
    r"""Potential energy :math:`\sum_{i,j} w_i \nu_j |x_i - y_j|^r`, shape ``(...)``."""
    k = get_kernel("riesz", r)
    wx = uniform_weights(x) if wx is None else wx
    return -(wx * kernel_sum(k, x, y, wy, block_size=block_size, backend=backend)).sum(-1)


def riesz_mmd2(x: torch.Tensor, y: torch.Tensor, r: float = 1.0, wx=None, wy=None, *,
               block_size: Optional[int] = None, target_energy: Optional[torch.Tensor] = None,
               backend: str = "auto") -> torch.Tensor:
    r""":math:`\mathrm{MMD}_K^2(\mu,\nu) = 2(\mathcal E_K(\mu) + \mathcal V_{K,\nu}(\mu) + \mathcal E_K(\nu))`
    for :math:`K = -|x-y|^r` (for r = 1 the energy distance), shape ``(...)``; clamped at 0.

    ``target_energy``: :math:`\mathcal E_K(\nu)` (``interaction_energy(y, r, wy)``) when already
    computed, e.g. for many ``x`` against one target; the result is the same."""
    if target_energy is None:
        target_energy = interaction_energy(y, r, wy, block_size=block_size, backend=backend)
    val = 2 * (interaction_energy(x, r, wx, block_size=block_size, backend=backend)
               + potential_energy(x, y, r, wx, wy, block_size=block_size, backend=backend)
               + target_energy)
    return val.clamp_min(0.0)


def riesz_energy(x: torch.Tensor, target: Optional[torch.Tensor] = None, r: float = 1.0, *,
                 block_size: Optional[int] = None, backend: str = "auto") -> torch.Tensor:
    r"""The flow's energy: :math:`\mathcal E_K(\mu)` if ``target`` is None, else
    :math:`\mathcal F_\nu(\mu) = \tfrac12\mathrm{MMD}_K^2(\mu, \nu)` (uniform weights)."""
    if target is None:
        return interaction_energy(x, r, block_size=block_size, backend=backend)
    return 0.5 * riesz_mmd2(x, target, r, block_size=block_size, backend=backend)


def riesz_gradient(x: torch.Tensor, target: Optional[torch.Tensor] = None, r: float = 1.0, *,
                   block_size: Optional[int] = None, backend: str = "auto", unbiased: bool = False) -> torch.Tensor:
    r"""Wasserstein gradient :math:`\nabla\Phi(x_i)` of :func:`riesz_energy` at the particles.

    .. math::

        \nabla\Phi(x_i) = \frac1N\sum_j \nabla_1 K(x_i, x_j) - \frac1M \sum_j \nabla_1 K(x_i, y_j),
        \qquad \nabla_1 K(x, y) = -r|x-y|^{r-2}(x - y),

    with the one-sided value 0 at coincident points. The particle flow moves
    :math:`\dot x_i = -\nabla\Phi(x_i)`; the Euclidean gradient of the energy w.r.t. ``x_i`` is
    this divided by ``N``.

    ``unbiased=True`` averages the first sum over the ``N - 1`` other particles (a U-statistic): for
    ``x`` a random batch of a larger cloud, this is an unbiased estimate of the cloud's interaction term.

    Returns
    -------
    Tensor ``(..., N, d)``.
    """
    k = get_kernel("riesz", r)
    n = x.shape[-2]
    # kernel_grad_sum averages over all N columns, the own one being 0: the U-statistic divides by N - 1
    wself = 1.0 / max(1, n - 1) if unbiased else 1.0 / n
    if target is not None:
        # one pass over the columns [x, target] with signed weights [1/N ..., -1/M ...]: the same sums, half
        # the distance passes (it matters for small clouds in high dimension, e.g. 25 images against 100)
        m = target.shape[-2]
        ys = torch.cat([x, target.to(x.dtype).expand(*x.shape[:-2], m, x.shape[-1])], dim=-2)
        w = torch.cat([x.new_full(x.shape[:-1], wself), x.new_full((*x.shape[:-2], m), -1.0 / m)], dim=-1)
        return kernel_grad_sum(k, x, ys, w, block_size=block_size, backend=backend)
    g = kernel_grad_sum(k, x, x, block_size=block_size, backend=backend)
    return g * (n / max(1, n - 1)) if unbiased else g


def _coincident_groups(x: torch.Tensor):
    """Index tensors of groups of >= 2 exactly coincident rows of ``x`` (N, d)."""
    _, inv, counts = torch.unique(x, dim=0, return_inverse=True, return_counts=True)
    return [torch.nonzero(inv == g).flatten() for g in torch.nonzero(counts > 1).flatten().tolist()]


def _safe_norm(v: torch.Tensor) -> torch.Tensor:
    # |v| with gradient 0 (not NaN) at v = 0
    sq = (v * v).sum(-1)
    pos = sq > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def riesz_directional_derivative(x: torch.Tensor, v: torch.Tensor, target: Optional[torch.Tensor] = None,
                                 r: float = 1.0, *, block_size: Optional[int] = None,
                                 max_group: int = 4096, parts: Optional[dict] = None,
                                 backend: str = "auto") -> torch.Tensor:
    r"""Exact one-sided directional derivative :math:`D_v\mathcal F(\mu) = \lim_{h\downarrow0}
    (\mathcal F((x + h v)_\#\mu) - \mathcal F(\mu))/h` for uniform empirical ``x`` (N, d).

    .. math::

        D_v\mathcal F = \frac1N\sum_i \nabla\Phi(x_i)\cdot v_i
          \;-\; \frac{1}{2N^2}\sum_{x_i = x_j} |v_i - v_j|
          \;+\; \frac{1}{NM}\sum_{x_i = y_j} |v_i| \qquad (r = 1),

    the last two sums only for ``r = 1`` (for ``r > 1`` they vanish; for ``r < 1`` coincident
    points make the derivative :math:`-\infty` and a :class:`ParameterError` is raised).
    Differentiable in ``v`` (``v`` (N, d); used as the neural forward scheme's loss; ``x`` is
    treated as fixed). ``parts`` (from :func:`directional_derivative_parts`) caches the
    ``x``-only quantities across many calls with the same ``x``. A coincident group larger than
    ``max_group`` uses an evenly spaced subset for its pairwise term, rescaled.

    Returns
    -------
    Tensor ``()``.
    """
    if parts is None:
        parts = directional_derivative_parts(x, target, r, block_size=block_size, backend=backend)
    n = parts["n"]
    val = (parts["grad"] * v).sum() / n
    for idx in parts["groups"]:
        full = idx.numel()
        if full > max_group:
            idx = idx[torch.linspace(0, full - 1, max_group, device=idx.device).long()]
        vg = v[idx]
        pair = _safe_norm(vg.unsqueeze(0) - vg.unsqueeze(1)).sum() * (full / idx.numel()) ** 2
        val = val - pair / (2 * n * n)
    if parts["hits"] is not None:
        val = val + (parts["hits"] * _safe_norm(v)).sum() / (n * parts["m"])
    return val


def directional_derivative_parts(x: torch.Tensor, target: Optional[torch.Tensor] = None, r: float = 1.0, *,
                                 block_size: Optional[int] = None, backend: str = "auto") -> dict:
    """The ``x``-only pieces of :func:`riesz_directional_derivative`: the one-sided gradient
    (N, d), the groups of coincident particles and the per-particle count of coinciding targets."""
    x = x.detach()
    parts = {"n": x.shape[-2], "grad": riesz_gradient(x, target, r, block_size=block_size, backend=backend),
             "groups": [], "hits": None, "m": None}
    if r > 1.0:
        return parts
    parts["groups"] = _coincident_groups(x)
    if parts["groups"] and r < 1.0:
        raise ParameterError(f"parameter 'r' = {r}: coincident particles have infinite slope for r < 1")
    if target is not None:
        t = target.detach()
        cnt = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        b = max(1, 2**24 // max(1, t.shape[0]))
        for i in range(0, x.shape[0], b):
            cnt[i:i + b] = (pairwise_distances(x[i:i + b], t) == 0).sum(-1).to(x.dtype)
        if cnt.any():
            if r < 1.0:
                raise ParameterError(f"parameter 'r' = {r}: particles on target points have infinite slope for r < 1")
            parts["hits"], parts["m"] = cnt, t.shape[0]
    return parts


def riesz_energy_gradient(x: torch.Tensor, target: Optional[torch.Tensor] = None, r: float = 1.0, *,
                          backend: str = "auto") -> torch.Tensor:
    r"""The Euclidean gradient :math:`\partial F/\partial x_i = \nabla\Phi(x_i)/N` of :func:`riesz_energy` at
    ``x`` ``(N, d)`` (one-sided at coincident points), shape ``(N, d)``: the backward pass of
    :class:`DifferentiableRieszEnergy`, and the detached factor of
    :meth:`wgf_core.energies.MMD.minibatch_value_surrogate` (one function, so both give the same bits)."""
    return riesz_gradient(x, target, r, backend=backend) / x.shape[-2]


class DifferentiableRieszEnergy(torch.autograd.Function):
    r"""``F(x)`` (:func:`riesz_energy`) with the backward pass
    :math:`\partial F/\partial x_i = \nabla\Phi(x_i)/N` using the one-sided gradient 0 at coincident
    points (plain autograd through ``|x_i - x_j|`` would give NaN there).
    Call as ``DifferentiableRieszEnergy.apply(x, target, r, backend)`` with ``x`` of shape (N, d); ``backend``
    (optional, default ``"torch"``) of the kernel sums of the value and of the gradient."""

    @staticmethod
    def forward(ctx, x, target, r, backend="auto"):
        ctx.save_for_backward(x, target if target is not None else torch.empty(0))
        ctx.has_target = target is not None
        ctx.r = r
        ctx.backend = backend
        return riesz_energy(x, target, r, backend=backend)

    @staticmethod
    def backward(ctx, grad_out):
        x, target = ctx.saved_tensors
        target = target if ctx.has_target else None
        g = riesz_energy_gradient(x, target, ctx.r, backend=ctx.backend)
        return grad_out * g, None, None, None


# ----------------------------------------------------------------------------- exact solution

def _check_r(r: float) -> float:
    return check_range("r", r, 0.0, 2.0)


def interaction_profile_constant(r: float = 1.0) -> float:
    r"""The slope :math:`\kappa(r)` of the potential of the unit profile (d = 2).

    With :math:`\Phi(u) = \frac{2-r}{2\pi}(1-|u|^2)_+^{-r/2}` (mass 1 on the unit disc),
    :math:`U = |\cdot|^r * \Phi` is a quadratic :math:`A + B|w|^2` on the disc, so
    :math:`\nabla U(w) = \kappa w` with :math:`\kappa = 2B`. The Laplacian at 0 gives
    :math:`4B = \Delta U(0) = r^2\int |u|^{r-2}\Phi(u)\,du`, hence

    .. math:: \kappa(r) = \frac{r^2 (2-r)}{4}\,\Gamma(r/2)\,\Gamma(1 - r/2)

    (:math:`\pi/4` at r = 1; tested against Monte Carlo gradients).
    """
    r = _check_r(r)
    return r * r * (2 - r) * math.gamma(r / 2) * math.gamma(1 - r / 2) / 4


def exact_interaction_radius(t: float, r: float = 1.0) -> float:
    r"""Support radius :math:`R(t)` of the exact flow of :math:`-\frac12\iint|x-y|^r` from :math:`\delta_0` (d = 2).

    Self-similar solution :math:`\rho_t(x) = R^{-2}\Phi_r(x/R)`, :math:`\Phi_r(u) = \frac{2-r}{2\pi}
    (1-|u|^2)_+^{-r/2}`: its velocity :math:`\nabla(|\cdot|^r*\rho_t)(x) = \kappa R^{r-2}x` must equal
    :math:`\dot R x / R`, so :math:`R^{1-r}\dot R = \kappa` and
    :math:`R(t) = (\kappa(r)(2-r)\,t)^{1/(2-r)}` (:func:`interaction_profile_constant`);
    :math:`\pi t / 4` at r = 1.
    """
    r = _check_r(r)
    t = check_positive("t", t, strict=False)
    return (interaction_profile_constant(r) * (2 - r) * t) ** (1 / (2 - r))


def interaction_time_unit(r: float = 1.0) -> float:
    r"""The time :math:`T_1` at which the exact support radius is 1: :math:`R(T_1) = 1`,
    :math:`T_1 = 1/(\kappa(r)(2-r))` (:func:`exact_interaction_radius`).

    The flow of :math:`-\frac12\iint|x-y|^r` is invariant under :math:`x \mapsto Lx`,
    :math:`t \mapsto L^{2-r}t`, so a run to time :math:`T` equals, in units of length
    :math:`L = R(T)`, the run to :math:`T_1`. Near r = 2 the radius at a fixed time under- or overflows
    (:math:`R(1.2) \approx 4\cdot10^{-163}` at r = 1.99); at :math:`T_1` it is 1.
    """
    r = _check_r(r)
    return 1.0 / (interaction_profile_constant(r) * (2 - r))


def geometric_time_steps(t0: float, t1: float, steps: int) -> list:
    r"""The steps :math:`\tau_k = t_k(q - 1)` of the geometric grid :math:`t_k = t_0 q^k`, :math:`q = (t_1/t_0)^{1/K}`,
    ``steps`` = K of them from ``t0`` to ``t1`` (``0 < t0 < t1``): constant in :math:`\log t`, where the
    self-similar flow's radius :math:`R \propto t^{1/(2-r)}` grows by the same factor per step."""
    t0, t1 = check_positive("t0", t0), check_positive("t1", t1)
    if t1 <= t0:
        raise ParameterError(f"parameter 't1' = {t1!r} is not allowed: a time > t0 = {t0!r}")
    steps = check_int("steps", steps)
    q = (t1 / t0) ** (1.0 / steps)
    return [t0 * q**k * (q - 1) for k in range(steps)]


def self_similar_step_error(r: float, growth: float, steps: int, *, implicit: bool = False) -> float:
    r"""Signed relative error of the radius after ``steps`` Euler steps on the self-similar interaction flow.

    On the exact solution (:func:`exact_interaction_radius`) every particle moves with
    :math:`\dot x = \alpha x/t`, :math:`\alpha = 1/(2-r)`. On the geometric grid
    (:func:`geometric_time_steps`) over which the exact radius grows by ``growth`` =
    :math:`G`, :math:`q = G^{(2-r)/K}` per step, explicit Euler multiplies :math:`x` by
    :math:`1 + \alpha(q-1)` and implicit (backward) Euler by :math:`1/(1 - \alpha(1 - 1/q))`, against the
    exact :math:`q^\alpha`:

    .. math:: e_K = \Bigl(\frac{1 + \alpha(q - 1)}{q^\alpha}\Bigr)^K - 1 \quad\text{(explicit)},

    :math:`\approx -(r-1)(\log G)^2/(2K)` for large K; 0 at r = 1, where the radius is linear in t.
    ``inf`` where the implicit step is unstable (:math:`\alpha(1 - 1/q) \ge 1`). The schemes of
    :mod:`wgf_core.flows.riesz` follow this velocity field up to their particle or training error.
    """
    r, steps = _check_r(r), check_int("steps", steps)
    growth = check_positive("growth", growth)
    a, q = 1.0 / (2 - r), growth ** ((2 - r) / steps)
    if implicit:
        den = 1 - a * (1 - 1 / q)
        if den <= 0:
            return math.inf
        log_factor = -math.log(den)
    else:
        log_factor = math.log1p(a * (q - 1))
    return math.expm1(steps * (log_factor - a * math.log(q)))


def steps_for_accuracy(r: float, growth: float, accuracy: float, *, implicit: bool = False, minimum: int = 1,
                       maximum: int = 100_000) -> int:
    r"""The fewest geometric Euler steps, at least ``minimum``, with
    :math:`|e_K| \le` ``accuracy`` (:func:`self_similar_step_error`); :math:`|e_K|` decreases in K.

    Raises :class:`~wgf_core.errors.ParameterError` naming ``r`` when more than ``maximum`` steps
    would be needed.
    """
    accuracy = check_positive("accuracy", accuracy)
    lo = check_int("minimum", minimum)

    def ok(k: int) -> bool:
        return abs(self_similar_step_error(r, growth, k, implicit=implicit)) <= accuracy

    if ok(lo):
        return lo
    hi = lo
    while not ok(hi):
        if hi >= maximum:
            raise ParameterError(f"parameter 'r' = {r!r} is not allowed here: the Euler steps would need more than "
                                 f"{maximum} steps for a relative error {accuracy:g} over a growth {growth:g}")
        lo, hi = hi, min(2 * hi, maximum)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def exact_interaction_mean_norm(t: float, r: float = 1.0) -> float:
    r""":math:`\mathbb E|x| = R(t)\,\frac{2-r}{2}\,B(3/2, 1-r/2)` under the exact solution
    (:math:`\pi^2 t / 16` at r = 1: 0.74022 at t = 1.2)."""
    r = _check_r(r)
    beta = math.gamma(1.5) * math.gamma(1 - r / 2) / math.gamma(2.5 - r / 2)
    return exact_interaction_radius(t, r) * (2 - r) / 2 * beta


def exact_interaction_density(x: torch.Tensor, t: float, r: float = 1.0) -> torch.Tensor:
    r"""Density :math:`\rho_t(x) = \frac{2-r}{2\pi R^2}(1 - |x|^2/R^2)^{-r/2}` on :math:`|x| < R`, 0 outside
    (:math:`(2\pi R\sqrt{R^2 - |x|^2})^{-1}` at r = 1); ``x`` (..., 2) -> (...)."""
    R = exact_interaction_radius(t, r)
    s2 = (x * x).sum(-1) / (R * R)
    inside = s2 < 1
    val = (2 - r) / (2 * math.pi * R * R) * torch.where(inside, 1 - s2, torch.ones_like(s2)) ** (-r / 2)
    return torch.where(inside, val, torch.zeros_like(val))


def _radial_inverse_cdf(u: torch.Tensor, R: float, r: float = 1.0) -> torch.Tensor:
    # radial CDF of rho_t: F(s) = 1 - (1 - s^2 / R^2)^(1 - r/2)
    return R * torch.sqrt((1 - (1 - u).clamp_min(0) ** (2 / (2 - r))).clamp_min(0))


def sample_exact_interaction(n: int, t: float, *, r: float = 1.0, generator: Optional[torch.Generator] = None,
                             device="cpu", dtype=torch.float32) -> torch.Tensor:
    r"""``n`` i.i.d. samples (n, 2) of :math:`\rho_t`: :math:`|x| = R\sqrt{1 - (1-U)^{2/(2-r)}}`
    (:math:`R\sqrt{U(2-U)}` at r = 1), angle uniform."""
    u = torch.rand(n, generator=generator, device=device, dtype=dtype)
    a = 2 * math.pi * torch.rand(n, generator=generator, device=device, dtype=dtype)
    rad = _radial_inverse_cdf(u, exact_interaction_radius(t, r), r)
    return torch.stack([rad * torch.cos(a), rad * torch.sin(a)], -1)


def spiral_exact_interaction(n: int, t: float, *, r: float = 1.0, device="cpu", dtype=torch.float32) -> torch.Tensor:
    r"""A deterministic quantised version (n, 2) of :math:`\rho_t`: radial quantiles
    :math:`u_k = (k + 1/2)/n` through the inverse CDF, golden-angle azimuths (a Vogel spiral).
    No randomness: used to leave a Dirac in the particle flow (:func:`split_diracs`)."""
    k = torch.arange(n, device=device, dtype=torch.float64)
    rad = _radial_inverse_cdf((k + 0.5) / n, exact_interaction_radius(t, r), r)
    a = k * math.pi * (3 - math.sqrt(5))
    return torch.stack([rad * torch.cos(a), rad * torch.sin(a)], -1).to(dtype)


def split_diracs(x: torch.Tensor, t0: float, *, r: float = 1.0,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    r"""Replace every group of coincident particles by the flow's short-time profile at ``t0``.

    A Dirac of mass :math:`m` under the Riesz flow (exponent ``r``) spreads at once: for small times its
    own interaction energy dominates and (d = 2) it becomes :math:`\rho_{m t_0}` centred at the
    Dirac (the exact self-similar solution with time rescaled by the mass). The particle flow's
    one-sided gradient is 0 between coincident particles, so it cannot do this by itself; we
    place each group of ``g`` coincident particles (N in all, mass ``g/N``) on
    :func:`spiral_exact_interaction` (``g`` points, time ``t0 g / N``), deterministically.
    For ``d != 2`` (no closed form here) the group is put uniformly on the sphere of radius
    ``t0 g / N`` with directions from ``generator`` (an approximation; stated in the notebooks).

    x : (N, d) -> (N, d) (a copy).
    """
    x = x.clone()
    n, d = x.shape
    for idx in _coincident_groups(x):
        g = idx.numel()
        tm = t0 * g / n
        if d == 2:
            off = spiral_exact_interaction(g, tm, r=r, device=x.device, dtype=x.dtype)
        else:
            z = torch.randn(g, d, generator=generator, device=x.device, dtype=x.dtype)
            off = tm * z / z.norm(dim=-1, keepdim=True)
        x[idx] = x[idx] + off
    return x


# ----------------------------------------------------------------------------- starts and noise floors

def jittered_diracs(centres, counts, *, width: float = 1e-9, generator: Optional[torch.Generator] = None,
                    dtype=torch.float64, device="cpu") -> torch.Tensor:
    r"""The particle flow's start in the authors' scripts: ``counts[k]`` particles at ``centres[k]``
    plus an independent uniform jitter in :math:`[-w/2, w/2]` per coordinate (``w = width``,
    1e-9 there), in float64 (a 1e-9 jitter is lost in float32 around a centre of size 1).

    The one-sided gradient between distinct particles has unit-size terms, so the first explicit
    Euler step spreads each jittered Dirac over a region of size :math:`\tau` whose shape the
    jitter decides: the scheme, not a closed form, produces the profile (unlike
    :func:`split_diracs`).

    centres : (K, d); counts : K ints -> (sum counts, d).
    """
    centres = torch.as_tensor(centres, dtype=dtype, device=device)
    if centres.ndim != 2:
        raise ParameterError(f"parameter 'centres' must have shape (K, d), not {tuple(centres.shape)}")
    counts = [int(c) for c in counts]
    if len(counts) != centres.shape[0] or min(counts) < 1:
        raise ParameterError(f"parameter 'counts' = {counts}: one positive count per centre")
    width = check_positive("width", width)
    parts = [c + width * (torch.rand(k, centres.shape[1], generator=generator, dtype=dtype, device=device) - 0.5)
             for c, k in zip(centres, counts)]
    return torch.cat(parts)


def sample_atoms(atoms: torch.Tensor, n: int, *, weights: Optional[torch.Tensor] = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``n`` i.i.d. draws (n, d) of the discrete law with ``atoms`` (K, d) and ``weights`` (uniform if None)."""
    k = atoms.shape[0]
    w = torch.full((k,), 1.0 / k, dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    idx = torch.multinomial(w, int(n), replacement=True, generator=generator)
    return atoms[idx.to(atoms.device)]


def null_mmds(draw, target: torch.Tensor, *, draws: int = 19, r: float = 1.0, kernel=None,
              block_size: Optional[int] = None, backend: str = "auto") -> list:
    r"""The noise floor of an MMD to ``target``: the MMDs of ``draws`` independent samples of the
    target law (``draw(k)`` returns the k-th, (n, d)) to ``target``.

    With ``kernel=None`` the Riesz MMD :math:`\mathrm{MMD}_K` (:func:`riesz_mmd2`, exponent ``r``),
    else :math:`\sqrt{}` of :func:`wgf_core.metrics.mmd2` with ``kernel``. An end state whose MMD is
    at most the largest of 19 such values passes a Monte Carlo two-sample test at level 1/20.
    For i.i.d. samples of size n of a law :math:`\nu` and r = 1,
    :math:`\mathbb E\,\mathrm{MMD}^2(\hat\nu_n, \nu) = \mathbb E|Y - Y'| / n` (V-statistic), which the
    tests check. ``backend`` runs the Riesz sums (:mod:`wgf_core.backends`).
    """
    out = []
    if kernel is None:
        ey = interaction_energy(target, r, block_size=block_size, backend=backend)
    else:  # the target's self term of metrics.mmd2, once
        kyy = kernel_energy(kernel, target, block_size=block_size)
    for k in range(check_int("draws", draws)):
        x = draw(k).to(dtype=target.dtype, device=target.device)
        if kernel is None:
            v = riesz_mmd2(x, target, r, block_size=block_size, target_energy=ey, backend=backend)
        else:
            v = mmd2(kernel, x, target, block_size=block_size, target_term=kyy)
        out.append(float(v.sqrt()))
    return out


def mean_nearest_distance(x: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over the rows of ``x`` (N, d) of the Euclidean distance to the nearest row of ``target`` (M, d)."""
    return float(pairwise_distances(x.to(target.dtype), target).min(dim=-1).values.mean())
