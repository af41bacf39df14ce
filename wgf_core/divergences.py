r"""Entropy functions :math:`f` of f-divergences: value, derivatives, conjugate, prox, recession.

Stein, Neumayer, Rux, Steidl, "Wasserstein gradient flows for Moreau envelopes of
f-divergences in reproducing kernel Hilbert spaces", arXiv:2402.04613 (2024), section 2 and
Table 1; the list of entries and their names follows the README of the authors' reference code
(seed ``000_cf692f27b033444f``). For a convex, lower semicontinuous
:math:`f: [0, \infty) \to [0, \infty]` with :math:`f(1) = 0` the f-divergence of
:math:`\sigma = \rho\,\nu + \sigma^\perp` (Lebesgue decomposition) is

.. math::

    D_f(\sigma \mid \nu) = \int f(\rho)\,d\nu + f'_\infty\,\sigma^\perp(\mathbb R^d),
    \qquad f'_\infty = \lim_{x \to \infty} \frac{f(x)}{x} \in [0, \infty].

Each :class:`Entropy` supplies

* ``f(x)``, ``df(x)`` (:math:`f'`), ``d2f(x)`` (:math:`f''`) for ``x >= 0`` (tensors, any shape);
* ``conj(s)`` :math:`f^*(s) = \sup_{x \ge 0} xs - f(x)` (``+inf`` outside its domain) and
  ``conj_grad(s)`` :math:`(f^*)'(s) = \operatorname{argmax}_x`, i.e. :math:`(f')^{-1}(s)`,
  0 for :math:`s \le f'(0^+)`;
* ``prox(v, tau)`` :math:`\operatorname{prox}_{\tau f}(v) = \operatorname{argmin}_{x \ge 0}
  \tau f(x) + \tfrac12 (x - v)^2`, the root of :math:`x + \tau f'(x) = v` (or 0);
* ``recession`` :math:`f'_\infty`, ``df0`` :math:`f'(0^+)`, ``domain`` (a string).

Closed forms are used where they exist; otherwise :math:`(f')^{-1}` and the prox are found by a
vectorised safeguarded Newton/bisection solve (monotone in :math:`x`, so always bracketed). All
functions are device- and dtype-agnostic (pass float64 for tight tolerances).

Corrections to the seed's formulas (the reference README):

* Jensen-Shannon: the seed writes :math:`\log x - (x+1)\log\frac{x+1}2`, which is not convex
  (:math:`f'' = -1/x^2 - \dots`) and not the JS entropy. We use the standard
  :math:`f(x) = x\log x - (x+1)\log\frac{x+1}{2}`, with :math:`f^*(s) = -\log(2 - e^s)` on
  :math:`s < \log 2 = f'_\infty`.
* KL is Tsallis at :math:`\alpha = 1` (the limit), :math:`f = x\log x - x + 1`,
  :math:`f^* = e^s - 1`; the reference code divides by :math:`\alpha - 1` there and crashes.
* :math:`\chi^\alpha`: :math:`|x - 1|^\alpha` is convex only for :math:`\alpha \ge 1`
  (:math:`\alpha = 1` is total variation).
* Matusita :math:`|1 - x^\alpha|^{1/\alpha}` and Kafka
  :math:`|1-x|^{1/\alpha}(1+x)^{(\alpha-1)/\alpha}` are convex for :math:`\alpha \in (0, 1]`;
  perimeter for :math:`\alpha \in (0, 1)` (and :math:`\alpha < 0`); Lindsay
  :math:`(x-1)^2/(a + (1-a)x)` for :math:`a \in [0, 1]`.
* ``zero`` (:math:`f \equiv 0`) is not strictly an entropy (it gives :math:`D_f = 0`, so the
  Moreau envelope is 0 on the atoms it can use); ``equality_indicator``
  :math:`\iota_{\{1\}}` gives :math:`\sigma = \nu`, i.e. the plain MMD flow.

KL convention (the one of the package; ``book/conventions.md``). The KL entropy is
:math:`f(x) = x\log x - x + 1` (``get_entropy("kl")``): :math:`f \ge 0`, :math:`f(1) = f'(1) = 0`, so that

.. math::

    D_{\mathrm{KL}}(\sigma\mid\nu) = \int \rho\log\rho\,d\nu - \sigma(\mathbb R^d) + \nu(\mathbb R^d)
    \ge 0 \qquad (\sigma = \rho\,\nu),

the generalised KL of unnormalised measures. Between probability measures the affine part
integrates to :math:`-1 + 1 = 0` and this is the usual :math:`\int\rho\log\rho\,d\nu`; between
unnormalised ones the two differ by :math:`\nu(\mathbb R^d) - \sigma(\mathbb R^d)`. The variational KL of
:mod:`wgf_core.energies.variational` (:class:`~wgf_core.energies.variational.KLDivergence`) is the
dual formula of this entry, :math:`\sup_g \mathbb E_P[g] - \mathbb E_Q[f^*(g)]` with :math:`f^* = e^s - 1`.

Conventions: see ``book/conventions.md`` ("MMD-regularized f-divergences").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from .validation import ParameterError, check_choice, check_range

__all__ = ["Entropy", "ENTROPIES", "ALIASES", "get_entropy", "monotone_solve"]

INF = math.inf


def monotone_solve(
    phi: Callable,
    dphi: Optional[Callable],
    target: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    *,
    iters: int = 100,
    rtol: float = 1e-13,
) -> torch.Tensor:
    r"""Solve :math:`\phi(x) = t` elementwise for increasing :math:`\phi` on a bracket.

    Safeguarded Newton: a Newton step is taken when it lands strictly inside the current
    bracket ``[lo, hi]`` (with :math:`\phi(lo) \le t \le \phi(hi)`), otherwise bisection; the
    bracket is updated with the sign of the residual every step, so the method always converges.

    Parameters
    ----------
    phi, dphi : callables on tensors (``dphi`` may be None: pure bisection)
    target, lo, hi : Tensors of one shape

    Returns
    -------
    Tensor, the root (same shape).
    """
    lo, hi = lo.clone(), hi.clone()
    x = 0.5 * (lo + hi)
    for it in range(iters):
        r = phi(x) - target
        neg = r < 0
        lo = torch.where(neg, x, lo)
        hi = torch.where(neg, hi, x)
        if it % 2 == 1 and bool((((hi - lo) <= rtol * (1 + hi.abs())) | (r.abs() <= rtol * (1 + target.abs()))).all()):
            break
        mid = 0.5 * (lo + hi)
        if dphi is not None and it % 8 != 7:  # a bisection step every 8th iteration guards slow Newton
            xn = x - r / dphi(x)
            ok = torch.isfinite(xn) & (xn > lo) & (xn < hi)
            x = torch.where(ok, xn, mid)
        else:
            x = mid
    return x


@dataclass(frozen=True)
class Entropy:
    r"""One entropy function :math:`f` (see the module docstring for the attributes)."""

    name: str
    alpha: Optional[float]
    f_: Callable = field(repr=False)
    df_: Callable = field(repr=False)
    d2f_: Optional[Callable] = field(repr=False)
    df0: float  # f'(0+) (may be -inf)
    recession: float  # f'_inf (may be inf)
    domain: str
    formula: str
    conj_: Optional[Callable] = field(default=None, repr=False)
    conj_grad_: Optional[Callable] = field(default=None, repr=False)
    prox_: Optional[Callable] = field(default=None, repr=False)
    conj_closed_at_recession: bool = False

    # --- value and derivatives -------------------------------------------------------------
    def f(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`f(x)`, ``+inf`` outside the domain (x < 0)."""
        v = self.f_(torch.clamp(x, min=0))
        return torch.where(x < 0, torch.full_like(v, INF), v)

    def df(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`f'(x)` for x > 0 (the right derivative at 0 is ``df0``)."""
        return self.df_(x)

    def d2f(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`f''(x)` (closed form, or autograd of :math:`f'` where none is written)."""
        if self.d2f_ is not None:
            return self.d2f_(x)
        with torch.enable_grad():
            xx = x.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(self.df_(xx).sum(), xx)
        return g

    # --- conjugate -------------------------------------------------------------------------
    def _inverse_df(self, s: torch.Tensor) -> torch.Tensor:
        """:math:`(f')^{-1}(s)` for ``df0 < s < recession`` (generic solve)."""
        one = torch.ones_like(s)
        hi = one.clone()
        for _ in range(80):  # expand the bracket until f'(hi) >= s
            bad = self.df_(hi) < s
            if not bool(bad.any()):
                break
            hi = torch.where(bad, hi * 4, hi)
        lo = torch.where(s > 0, torch.ones_like(s), torch.zeros_like(s))
        hi = torch.where(s > 0, hi, one)
        return monotone_solve(self.df_, self.d2f_, s, lo, hi)  # bisection where no closed-form f''


    def conj_grad(self, s: torch.Tensor) -> torch.Tensor:
        r""":math:`(f^*)'(s) = (f')^{-1}(s)`, 0 for :math:`s \le f'(0^+)`, inf beyond the domain."""
        if self.conj_grad_ is not None:
            return self.conj_grad_(s)
        inside = (s > self.df0) & (s < self.recession)
        sc = torch.where(inside, s, torch.zeros_like(s))
        x = self._inverse_df(sc)
        x = torch.where(s <= self.df0, torch.zeros_like(s), x)
        return torch.where(s >= self.recession, torch.full_like(s, INF), x)

    def conj(self, s: torch.Tensor) -> torch.Tensor:
        r""":math:`f^*(s) = \sup_{x \ge 0} xs - f(x)` (``+inf`` outside the domain)."""
        if self.conj_ is not None:
            return self.conj_(s)
        inside = (s > self.df0) & (s < self.recession)
        sc = torch.where(inside, s, torch.zeros_like(s))
        x = self._inverse_df(sc)
        val = x * sc - self.f_(x)
        if math.isfinite(self.df0):
            f0 = float(self.f_(torch.zeros((), dtype=torch.float64)))
            val = torch.where(s <= self.df0, torch.full_like(s, -f0), val)
        return torch.where(s >= self.recession, torch.full_like(s, INF), val)

    # --- proximal map ----------------------------------------------------------------------
    def prox(self, v: torch.Tensor, tau) -> torch.Tensor:
        r""":math:`\operatorname{argmin}_{x \ge 0} \tau f(x) + \tfrac12 (x - v)^2` (``tau`` > 0,
        scalar or broadcastable tensor)."""
        if self.prox_ is not None:
            return self.prox_(v, tau)
        tau = torch.as_tensor(tau, dtype=v.dtype, device=v.device)
        # x = 0 when v <= tau f'(0+) (never when f'(0+) = -inf)
        zero = v <= tau * self.df0 if math.isfinite(self.df0) else torch.zeros_like(v, dtype=torch.bool)
        hi = torch.clamp(v, min=1.0)  # f'(1) = 0 and f' increasing, so phi(max(v,1)) >= v
        lo = torch.zeros_like(v)
        x = monotone_solve(
            lambda x: x + tau * self.df_(x),
            (lambda x: 1 + tau * self.d2f_(x)) if self.d2f_ is not None else None,
            v,
            lo,
            hi,
        )
        return torch.where(zero, torch.zeros_like(v), x)


# ------------------------------------------------------------------------------------------
# entries
# ------------------------------------------------------------------------------------------


def _kl_prox(v, tau):
    r"""x + tau log x = v  <=>  x = tau W(e^{v/tau} / tau): Newton on w + log w = v/tau - log tau."""
    tau = torch.as_tensor(tau, dtype=v.dtype, device=v.device)
    L = v / tau - torch.log(tau)
    # initial guess: w ~ L - log L for large L, e^L for very negative L
    w = torch.where(L > 1, L - torch.log(torch.clamp(L, min=1.0)), torch.exp(torch.clamp(L, max=1.0)) / 1.5)
    for _ in range(40):
        lw = torch.log(w)
        step = (w + lw - L) / (1 + 1 / w)
        wn = torch.where(w - step > 0, w - step, w / 10)
        done = (wn - w).abs() <= 1e-15 * wn
        w = wn
        if bool(done.all()):
            break
    return tau * w


def _kl() -> Entropy:
    r"""KL in the package's convention :math:`f(x) = x\log x - x + 1`, :math:`f^*(s) = e^s - 1` (module docstring)."""
    return Entropy(
        "kl", 1.0,
        f_=lambda x: torch.xlogy(x, x) - x + 1,
        df_=lambda x: torch.log(x),
        d2f_=lambda x: 1 / x,
        df0=-INF, recession=INF, domain="[0, inf)", formula="x log x - x + 1",
        conj_=lambda s: torch.expm1(s),
        conj_grad_=lambda s: torch.exp(s),
        prox_=_kl_prox,
    )


def _tsallis3_prox(v, tau):
    r"""Tsallis :math:`\alpha = 3`: :math:`x + \tfrac{3\tau}2 (x^2 - 1) = v`, a quadratic; its
    non-negative root :math:`x = 2c / (1 + \sqrt{1 + 6\tau c})`, :math:`c = v + \tfrac32\tau`
    (0 when :math:`c \le 0`, i.e. :math:`v \le \tau f'(0^+)`); written without cancellation."""
    tau = torch.as_tensor(tau, dtype=v.dtype, device=v.device)
    c = torch.clamp(v + 1.5 * tau, min=0)
    return 2 * c / (1 + torch.sqrt(1 + 6 * tau * c))


def _tsallis_half_prox(v, tau):
    r"""Tsallis :math:`\alpha = 1/2` (:math:`f' = 1 - x^{-1/2}`): with :math:`u = \sqrt x`,
    :math:`x + \tau f'(x) = v` is the cubic :math:`g(u) = u^3 + p u - \tau = 0`, :math:`p = \tau - v`.

    It has exactly one positive root :math:`u^*` (:math:`g(0) = -\tau < 0`; :math:`g` is convex on
    :math:`u > 0`). Where the discriminant :math:`\Delta = \tau^2/4 + p^3/27 \ge 0` (always when
    :math:`p > 0`) Cardano's :math:`u = A + B`, :math:`A = (\tau/2 + \sqrt\Delta)^{1/3}`,
    :math:`B = -p/(3A)`, is evaluated as :math:`u = \tau / (A^2 + p/3 + B^2)` (from
    :math:`A^3 + B^3 = \tau`), which has no cancellation; otherwise (three real roots) the largest
    root of the trigonometric form. Then Newton steps polish it (usually one). CPU tensors are
    computed in NumPy: the solver calls this on short vectors every iteration, where torch's
    per-operation overhead dominates.
    """
    if v.device.type == "cpu" and not v.requires_grad and not (torch.is_tensor(tau) and tau.requires_grad):
        vn = v.numpy()
        tn = tau.numpy() if torch.is_tensor(tau) else np.asarray(tau, dtype=vn.dtype)
        u = _tsallis_half_root(vn, tn.astype(vn.dtype, copy=False), np, np.cbrt, lambda a: np.maximum(a, 0.0))
        return torch.from_numpy(np.asarray(u * u, dtype=vn.dtype))
    tau_t = torch.as_tensor(tau, dtype=v.dtype, device=v.device)
    u = _tsallis_half_root(v, tau_t, torch, lambda a: a ** (1 / 3), lambda a: torch.clamp(a, min=0))
    return u * u


def _tsallis_half_root(v, tau, xp, cbrt, relu):
    """The positive root u of u^3 + (tau - v) u - tau = 0 (see :func:`_tsallis_half_prox`); ``xp``
    is ``numpy`` or ``torch``, ``cbrt`` the cube root of a non-negative array, ``relu`` max(., 0)."""
    p = tau - v
    p3 = p / 3
    q2 = tau / 2
    disc = q2 * q2 + p3 * p3 * p3
    A = cbrt(q2 + xp.sqrt(relu(disc)))  # > 0
    B = p3 / A
    u = tau / (A * A + p3 + B * B)  # Cardano without cancellation (valid where disc >= 0)
    three = disc < 0
    if bool(three.any()):  # three real roots (p < 0, r^3 > tau / 2 > 0): the largest, trigonometric form
        r = xp.sqrt(relu(-p3))
        r3 = xp.where(three, r * r * r, 1 + 0 * r)
        trig = 2 * r * xp.cos(xp.arccos(xp.where(three, q2 / r3, 0 * r)) / 3)
        u = xp.where(three, trig, u)
    for _ in range(20):  # g' = 3u^2 + p > 0 at the (simple) root, and the start is next to it
        step = (u * (u * u + p) - tau) / (3 * u * u + p)
        u = relu(u - step)
        if bool((xp.abs(step) <= 4e-16 * u).all()):
            break
    return u


def _tsallis(a: float) -> Entropy:
    if a == 1.0:
        e = _kl()
        return Entropy(**{**e.__dict__, "name": "tsallis"})
    rec = INF if a > 1 else a / (1 - a)
    df0 = -a / (a - 1) if a > 1 else -INF

    def conj_grad(s):
        base = 1 + (a - 1) * s / a
        ok = base > 0
        x = torch.where(ok, torch.clamp(base, min=1e-300) ** (1 / (a - 1)), torch.zeros_like(s))
        if a < 1:
            x = torch.where(s >= rec, torch.full_like(s, INF), x)
        return x

    def conj(s):
        # f*(s) = x s - f(x) at x = (f')^{-1}(s), which simplifies to x^a - 1 = (1 + (a-1)s/a)^{a/(a-1)} - 1
        if a > 1:
            base = torch.clamp(1 + (a - 1) * s / a, min=0)
            return base ** (a / (a - 1)) - 1
        ok = s < rec
        b = torch.where(ok, 1 + (a - 1) * s / a, torch.ones_like(s))
        val = b ** (a / (a - 1)) - 1
        return torch.where(ok, val, torch.full_like(s, INF))

    prox = {2.0: lambda v, tau: torch.clamp((v + 2 * tau) / (1 + 2 * tau), min=0),  # noqa: E731
            3.0: _tsallis3_prox, 0.5: _tsallis_half_prox}.get(a)
    return Entropy(
        "tsallis", a,
        f_=lambda x: (x**a - a * x + a - 1) / (a - 1),
        df_=lambda x: a / (a - 1) * (x ** (a - 1) - 1),
        d2f_=lambda x: a * x ** (a - 2),
        df0=df0, recession=rec, domain="[0, inf)",
        formula=f"(x^a - a x + a - 1) / (a - 1), a = {a}",
        conj_=conj, conj_grad_=conj_grad, prox_=prox,
    )


def _jeffreys() -> Entropy:
    return Entropy(
        "jeffreys", None,
        f_=lambda x: (x - 1) * torch.log(x),
        df_=lambda x: torch.log(x) + 1 - 1 / x,
        d2f_=lambda x: 1 / x + 1 / x**2,
        df0=-INF, recession=INF, domain="(0, inf)", formula="(x - 1) log x",
    )


def _tv() -> Entropy:
    def prox(v, tau):
        x = torch.where(v > 1 + tau, v - tau, torch.where(v < 1 - tau, v + tau, torch.ones_like(v)))
        return torch.clamp(x, min=0)

    return Entropy(
        "tv", None,
        f_=lambda x: (x - 1).abs(),
        df_=lambda x: torch.sign(x - 1),
        d2f_=lambda x: torch.zeros_like(x),
        df0=-1.0, recession=1.0, domain="[0, inf)", formula="|x - 1|",
        conj_=lambda s: torch.where(s > 1, torch.full_like(s, INF), torch.clamp(s, min=-1.0)),
        conj_grad_=lambda s: torch.where(s > 1, torch.full_like(s, INF), (s > -1).to(s.dtype)),
        prox_=prox, conj_closed_at_recession=True,
    )


def _chi(a: float) -> Entropy:
    if a == 1.0:
        e = _tv()
        return Entropy(**{**e.__dict__, "name": "chi", "alpha": 1.0})

    def conj_grad(s):
        x = 1 + torch.sign(s) * (s.abs() / a) ** (1 / (a - 1))
        return torch.where(s <= -a, torch.zeros_like(s), x)

    def conj(s):
        val = s + (a - 1) * (s.abs() / a) ** (a / (a - 1))
        return torch.where(s <= -a, torch.full_like(s, -1.0), val)

    prox = None
    if a == 2.0:
        prox = lambda v, tau: torch.clamp((v + 2 * tau) / (1 + 2 * tau), min=0)  # noqa: E731
    return Entropy(
        "chi", a,
        f_=lambda x: (x - 1).abs() ** a,
        df_=lambda x: a * (x - 1).abs() ** (a - 1) * torch.sign(x - 1),
        d2f_=lambda x: a * (a - 1) * (x - 1).abs() ** (a - 2),
        df0=-a, recession=INF, domain="[0, inf)", formula=f"|x - 1|^a, a = {a}",
        conj_=conj, conj_grad_=conj_grad, prox_=prox,
    )


def _burg() -> Entropy:
    def prox(v, tau):
        # x + tau (1 - 1/x) = v  <=>  x^2 + (tau - v) x - tau = 0, positive root
        b = tau - v
        return 0.5 * (-b + torch.sqrt(b * b + 4 * tau))

    return Entropy(
        "burg", None,
        f_=lambda x: x - 1 - torch.log(x),
        df_=lambda x: 1 - 1 / x,
        d2f_=lambda x: 1 / x**2,
        df0=-INF, recession=1.0, domain="(0, inf)", formula="x - 1 - log x",
        conj_=lambda s: torch.where(s < 1, -torch.log1p(-torch.clamp(s, max=1.0)), torch.full_like(s, INF)),
        conj_grad_=lambda s: torch.where(s < 1, 1 / (1 - torch.clamp(s, max=1.0)), torch.full_like(s, INF)),
        prox_=prox,
    )


def _jensen_shannon() -> Entropy:
    ln2 = math.log(2.0)

    def conj(s):
        ok = s < ln2
        e = torch.exp(torch.where(ok, s, torch.zeros_like(s)))
        return torch.where(ok, -torch.log(2 - e), torch.full_like(s, INF))

    def conj_grad(s):
        ok = s < ln2
        e = torch.exp(torch.where(ok, s, torch.zeros_like(s)))
        return torch.where(ok, e / (2 - e), torch.full_like(s, INF))

    return Entropy(
        "jensen_shannon", None,
        f_=lambda x: torch.xlogy(x, x) - (x + 1) * torch.log((x + 1) / 2),
        df_=lambda x: torch.log(2 * x / (x + 1)),
        d2f_=lambda x: 1 / x - 1 / (x + 1),
        df0=-INF, recession=ln2, domain="[0, inf)",
        formula="x log x - (x + 1) log((x + 1) / 2)",
        conj_=conj, conj_grad_=conj_grad,
    )


def _matusita(a: float) -> Entropy:
    if a == 1.0:
        e = _tv()
        return Entropy(**{**e.__dict__, "name": "matusita", "alpha": 1.0})
    b = 1 / a - 1

    def df(x):
        g = 1 - x**a
        return -torch.sign(g) * g.abs() ** b * x ** (a - 1)

    def d2f(x):
        g = 1 - x**a
        return a * b * g.abs() ** (b - 1) * x ** (2 * a - 2) + (1 - a) * torch.sign(g) * g.abs() ** b * x ** (a - 2)

    return Entropy(
        "matusita", a,
        f_=lambda x: (1 - x**a).abs() ** (1 / a),
        df_=df, d2f_=d2f,
        df0=-INF, recession=1.0, domain="[0, inf)", formula=f"|1 - x^a|^(1/a), a = {a}",
    )


def _kafka(a: float) -> Entropy:
    if a == 1.0:
        e = _tv()
        return Entropy(**{**e.__dict__, "name": "kafka", "alpha": 1.0})

    def f(x):
        return (1 - x).abs() ** (1 / a) * (1 + x) ** ((a - 1) / a)

    def df(x):
        return (1 / a) * (1 - x).abs() ** (1 / a - 1) * torch.sign(x - 1) * (1 + x) ** ((a - 1) / a) + (
            1 - x
        ).abs() ** (1 / a) * ((a - 1) / a) * (1 + x) ** (-1 / a)

    return Entropy(
        "kafka", a, f_=f, df_=df, d2f_=None,
        df0=-(1 / a) + (a - 1) / a if a < 1 else -1.0,
        recession=1.0, domain="[0, inf)",
        formula=f"|1 - x|^(1/a) (1 + x)^((a - 1)/a), a = {a}",
    )


def _marton() -> Entropy:
    def prox(v, tau):
        return torch.where(v >= 1, v, torch.clamp((v + 2 * tau) / (1 + 2 * tau), min=0))

    return Entropy(
        "marton", None,
        f_=lambda x: torch.clamp(1 - x, min=0) ** 2,
        df_=lambda x: -2 * torch.clamp(1 - x, min=0),
        d2f_=lambda x: 2.0 * (x < 1).to(x.dtype),
        df0=-2.0, recession=0.0, domain="[0, inf)", formula="max(1 - x, 0)^2",
        conj_=lambda s: torch.where(
            s > 0, torch.full_like(s, INF), torch.where(s < -2, torch.full_like(s, -1.0), s + s * s / 4)
        ),
        conj_grad_=lambda s: torch.where(
            s > 0, torch.full_like(s, INF), torch.clamp(1 + s / 2, min=0)
        ),
        prox_=prox, conj_closed_at_recession=True,
    )


def _perimeter(a: float) -> Entropy:
    sg = 1.0 if a > 0 else -1.0
    c = sg / (1 - a)

    def f(x):
        return c * ((x ** (1 / a) + 1) ** a - 2 ** (a - 1) * (x + 1))

    def df(x):
        # (x^(1/a) + 1)^(a-1) x^(1/a-1) = (1 + x^(-1/a))^(a-1): no overflow of x^(1/a) (x -> 0 for a < 0)
        return c * ((1 + x ** (-1 / a)) ** (a - 1) - 2 ** (a - 1))

    # a in (0, 1): x^(1/a-1) (x^(1/a)+1)^(a-1) -> 0 as x -> 0 and -> 1 as x -> inf; a < 0: the reverse
    rec = c * (1 - 2 ** (a - 1)) if a > 0 else -c * 2 ** (a - 1)
    df0 = -c * 2 ** (a - 1) if a > 0 else c * (1 - 2 ** (a - 1))
    return Entropy(
        "perimeter", a, f_=f, df_=df, d2f_=None, df0=df0, recession=rec, domain="[0, inf)",
        formula=f"sign(a)/(1-a) ((x^(1/a) + 1)^a - 2^(a-1) (x + 1)), a = {a}",
    )


def _lindsay(a: float) -> Entropy:
    def f(x):
        return (x - 1) ** 2 / (a + (1 - a) * x)

    def df(x):
        den = a + (1 - a) * x
        return (2 * (x - 1) * den - (1 - a) * (x - 1) ** 2) / den**2

    def d2f(x):
        den = a + (1 - a) * x
        return 2 / den**3  # (x-1)^2/den has second derivative 2 (a + (1-a))^2 / den^3 = 2 / den^3

    rec = INF if a == 1 else 1 / (1 - a)
    df0 = -INF if a == 0 else (-2 * a - (1 - a)) / a**2
    prox = None
    if a == 1.0:
        prox = lambda v, tau: torch.clamp((v + 2 * tau) / (1 + 2 * tau), min=0)  # noqa: E731
    return Entropy(
        "lindsay", a, f_=f, df_=df, d2f_=d2f, df0=df0, recession=rec,
        domain="[0, inf)" if a > 0 else "(0, inf)",
        formula=f"(x - 1)^2 / (a + (1 - a) x), a = {a}", prox_=prox,
    )


def _zero() -> Entropy:
    return Entropy(
        "zero", None,
        f_=lambda x: torch.zeros_like(x),
        df_=lambda x: torch.zeros_like(x),
        d2f_=lambda x: torch.zeros_like(x),
        df0=0.0, recession=0.0, domain="[0, inf)", formula="0",
        conj_=lambda s: torch.where(s > 0, torch.full_like(s, INF), torch.zeros_like(s)),
        conj_grad_=lambda s: torch.where(s > 0, torch.full_like(s, INF), torch.zeros_like(s)),
        prox_=lambda v, tau: torch.clamp(v, min=0),
        conj_closed_at_recession=True,
    )


def _equality() -> Entropy:
    return Entropy(
        "equality_indicator", None,
        f_=lambda x: torch.where(x == 1, torch.zeros_like(x), torch.full_like(x, INF)),
        df_=lambda x: torch.zeros_like(x),
        d2f_=lambda x: torch.zeros_like(x),
        df0=-INF, recession=INF, domain="{1}", formula="iota_{1}(x)",
        conj_=lambda s: s.clone(),
        conj_grad_=lambda s: torch.ones_like(s),
        prox_=lambda v, tau: torch.ones_like(v),
    )


# name -> (builder, default alpha or None, alpha check)
def _alpha_pos(a):
    return check_range("alpha", a, 0.0, math.inf)


def _alpha_ge1(a):
    return check_range("alpha", a, 1.0, math.inf, closed="left")


def _alpha_01(a):
    return check_range("alpha", a, 0.0, 1.0, closed="right")


def _alpha_per(a):
    v = check_range("alpha", a, -math.inf, 1.0)
    if v == 0:
        raise ParameterError("parameter 'alpha' = 0 is not allowed: perimeter needs alpha in (-inf, 0) or (0, 1)")
    return v


def _alpha_lind(a):
    return check_range("alpha", a, 0.0, 1.0, closed="both")


ENTROPIES: dict = {
    "kl": (_kl, None, None),
    "tsallis": (_tsallis, 2.0, _alpha_pos),
    "jeffreys": (_jeffreys, None, None),
    "chi": (_chi, 2.0, _alpha_ge1),
    "burg": (_burg, None, None),
    "jensen_shannon": (_jensen_shannon, None, None),
    "tv": (_tv, None, None),
    "matusita": (_matusita, 0.5, _alpha_01),
    "kafka": (_kafka, 0.5, _alpha_01),
    "marton": (_marton, None, None),
    "perimeter": (_perimeter, 0.5, _alpha_per),
    "lindsay": (_lindsay, 0.5, _alpha_lind),
    "zero": (_zero, None, None),
    "equality_indicator": (_equality, None, None),
}
"""Registry: name -> (builder, default alpha, alpha check). Names of the reference code are
accepted through :data:`ALIASES`."""

ALIASES = {"tsa": "tsallis", "chi_entr": "chi", "reverse_kl": "burg", "per": "perimeter", "lind": "lindsay"}


def get_entropy(name: str, alpha: Optional[float] = None) -> Entropy:
    """Entropy ``name`` (registry name or reference alias) with parameter ``alpha``.

    ``alpha`` is ignored by the parameter-free entries; None takes the entry's default
    (Tsallis 2, chi 2, Matusita / Kafka / perimeter / Lindsay 0.5).
    """
    name = ALIASES.get(name, name)
    check_choice("divergence", name, list(ENTROPIES) + list(ALIASES))
    build, default, check = ENTROPIES[name]
    if check is None:
        return build()
    a = default if alpha is None else check(alpha)
    return build(float(a))
