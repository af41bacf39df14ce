r"""Energies of the variational (primal-dual) JKO scheme of Fan, Zhang, Taghvaei, Chen (ICML 2022).

These energies are evaluated *through samples and a dual network* (the capability ``"samples_dual"``),
as in the paper's primal-dual formula (eq. 4-5, 9): for a map :math:`T` and a dual function :math:`h`,

.. math::

    V(T, h) = \mathbb E_{P_k}\big[A(T(X), h)\big] - \mathbb E_\Gamma\big[B(h(Z))\big], \qquad
    \sup_h V(T, h) = F(T_\sharp P_k) \;(\text{up to an additive constant}),

so that no density of :math:`P_k` is ever needed. They provide neither a value nor a Wasserstein
gradient of a particle measure: a particle scheme (:class:`~wgf_core.schemes.Euler`, which needs
``"gradient"``) refuses them, and the variational JKO (:class:`~wgf_core.schemes.VariationalJKO`,
which needs ``"samples_dual"``) refuses an energy without this form (e.g. :class:`~wgf_core.energies.MMD`),
both with :class:`~wgf_core.errors.ParameterError` (:func:`~wgf_core.schemes.check_pair`).

The f / f* table (paper Table 1 / slides) is ``f_kl``, ``f_entropy``, ``f_jsd`` and their ``*_conjugate``.

* :class:`KLDivergence` (Prop. 1, eq. 10): :math:`D(P\|Q)` for an unnormalised :math:`Q`,
  :math:`A = \log h(T) + \log\mu(T) - \log Q(T)`, :math:`B = h`, :math:`\Gamma = \mu_k` the Gaussian
  with the mean and covariance of :math:`P_k` (refitted each step). The formula holds for *any*
  :math:`\mu` with a density, so ``KLDivergence(..., reference="pushed")`` may instead refit
  :math:`\mu` to the pushed samples :math:`T_\sharp P_k` at every map iteration (a fixed subsample of
  the pool, pushed through the current map, detached): the dual then only has to learn
  :math:`\log(T_\sharp P_k/\mu) \approx 0` instead of :math:`\log(T_\sharp P_k/P_k)`, which a piecewise
  linear network cannot follow when :math:`T` contracts a stiff direction (measured: the OU problem in
  d = 12 and 32 diverges on such draws with ``reference="start"``). Not the paper's choice.
* :class:`GeneralizedEntropy` (Prop. 2, eq. 11): :math:`\frac1{m-1}\int P^m`,
  :math:`A = \Omega^{1-m}\frac{m}{m-1}h(T)^{m-1}`, :math:`B = \Omega^{1-m}h^m`, :math:`\Gamma` uniform
  on a box of volume :math:`\Omega` around the support of :math:`P_k` (refitted each step).
* :class:`JensenShannon` (slides): :math:`f(x) = -(x+1)\log\frac{1+x}2 + x\log x`,
  :math:`f^*(y) = -\log(2 - e^y)`, :math:`\Gamma = Q` (samples of the target).

Interaction energy :math:`\mathcal W(P) = \frac12\iint W(x-y)\,dP\,dP` (:class:`Interaction`,
capability ``"interaction"``; it also provides its value and Wasserstein gradient on particles). The
variational JKO takes it either as an explicit forward step before the JKO step,
:math:`P \leftarrow (I - a\nabla W * P)_\sharp P` (``mode="fb"``, eq. 12-13), or inside the JKO
objective as :math:`\frac12\mathbb E[W(T(X) - T(Y))]` (``mode="non_fb"``, App. B.3). The paper writes
:math:`\mathbb E_{X,Y}[W(T(X)-T(Y))]` without the 1/2 in the non-FB objective; with the 1/2 both schemes
discretise the same PDE :math:`\partial_t P = \nabla\cdot(P\,\nabla W * P) + \dots` (the gradient of
:math:`\frac12\iint W` is :math:`\nabla W * P` for even :math:`W`), which we use.
:class:`WithInteraction` is the sum :math:`F + \mathcal W` of a variational energy and an interaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import torch
from torch.nn import functional as F

from ..divergences import get_entropy
from ..errors import ParameterError
from ..measures import Particles
from ..metrics import fit_gaussian
from ..validation import check_choice, check_int, check_positive

__all__ = ["VARIATIONAL_CAPABILITIES", "f_kl", "f_kl_conjugate", "f_entropy", "f_entropy_conjugate", "f_jsd",
           "f_jsd_conjugate", "GaussianReference", "BoxReference", "SampleReference", "VariationalEnergy",
           "KLDivergence", "GeneralizedEntropy", "JensenShannon", "Interaction", "gaussian_attraction",
           "WithInteraction", "split_energy", "REFIT_POINTS"]

#: What the energies of this module provide beyond :data:`wgf_core.energies.CAPABILITIES`:
#: ``"samples_dual"`` (the primal-dual form :math:`V(T, h)` evaluated on samples with a dual network) and
#: ``"interaction"`` (a pairwise kernel :math:`W` with :math:`\nabla W`, for a forward step or a U-statistic).
VARIATIONAL_CAPABILITIES = ("samples_dual", "interaction")
#: ``KLDivergence(reference="pushed")``: the Gaussian reference is refitted to this many pool points pushed
#: by the current map.
REFIT_POINTS = 20000

# f-divergence table (paper Table 1 / slides): f and its convex conjugate f*. KL and JSD are the
# entries of the entropy registry (wgf_core.divergences), which fixes the KL convention.
# --------------------------------------------------------------------------------------------
def f_kl(x):
    r""":math:`f(x) = x\log x - x + 1`: the KL entry of the registry (``get_entropy("kl").f``).

    The paper's Table 1 writes :math:`x\log x`; the two differ by the affine :math:`x - 1`, whose
    integral against a probability reference is :math:`1 - 1 = 0`, so they give the same KL between
    probability measures (between unnormalised ones they differ by :math:`\nu(\mathbb R^d) - \sigma(\mathbb R^d)`;
    see :mod:`wgf_core.divergences`). :class:`KLDivergence` is the dual formula of this :math:`f`.
    """
    return get_entropy("kl").f(x)


def f_kl_conjugate(y):
    r""":math:`f^*(y) = e^y - 1` (``get_entropy("kl").conj``; :math:`e^{y-1}` for the paper's :math:`x\log x`)."""
    return get_entropy("kl").conj(y)


def f_entropy(x, m: float):
    r""":math:`f(x) = (x^m - x)/(m-1)` (generalized entropy)."""
    return (x**m - x) / (m - 1)


def f_entropy_conjugate(y, m: float):
    r""":math:`f^*(y) = \big(((m-1)y + 1)/m\big)^{m/(m-1)}` for :math:`(m-1)y + 1 \ge 0`."""
    return (((m - 1) * y + 1) / m) ** (m / (m - 1))


def f_jsd(x):
    r""":math:`f(x) = -(x+1)\log\frac{1+x}{2} + x\log x` (Jensen-Shannon; ``get_entropy("jensen_shannon").f``)."""
    return get_entropy("jensen_shannon").f(x)


def f_jsd_conjugate(y):
    r""":math:`f^*(y) = -\log(2 - e^y)` for :math:`y < \log 2` (``get_entropy("jensen_shannon").conj``)."""
    return get_entropy("jensen_shannon").conj(y)


# --------------------------------------------------------------------------------------------
# Reference distributions Gamma
# --------------------------------------------------------------------------------------------
@dataclass
class GaussianReference:
    """:math:`\\mu_k = N(m, \\Sigma)` fitted to samples of :math:`P_k` (mean ``(d,)``, cov ``(d, d)``)."""

    mean: torch.Tensor
    cov: torch.Tensor
    chol: torch.Tensor = field(init=False)

    def __post_init__(self):
        d = self.mean.shape[-1]
        jitter = 1e-6 * torch.eye(d, dtype=self.cov.dtype, device=self.cov.device) * self.cov.diagonal().mean()
        self.chol = torch.linalg.cholesky(self.cov + jitter)

    @classmethod
    def fit(cls, x: torch.Tensor) -> "GaussianReference":
        """Fitted to samples ``x`` ``(n, d)``: their mean and unbiased covariance
        (:func:`wgf_core.metrics.fit_gaussian` with ``ddof=1``)."""
        return cls(*fit_gaussian(x, ddof=1))

    def sample(self, n: int, generator=None) -> torch.Tensor:
        z = torch.randn(n, self.mean.shape[-1], generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + z @ self.chol.T

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\log N(x; m, \Sigma)` at ``x`` ``(n, d)``: one triangular solve :math:`L^{-1}(x - m)^\top` with
        the ``n`` points as right-hand sides (a batch of ``n`` single solves broadcast ``L`` to ``(n, d, d)``:
        a third of an OU step in d = 32)."""
        d = self.mean.shape[-1]
        xc = (x - self.mean).reshape(-1, d)
        sol = torch.linalg.solve_triangular(self.chol, xc.mT, upper=False).mT.reshape(x.shape)
        logdet = 2 * torch.log(torch.diagonal(self.chol)).sum()
        return -0.5 * ((sol * sol).sum(-1) + logdet + d * math.log(2 * math.pi))


@dataclass
class BoxReference:
    """Uniform distribution on the box ``[low, high]`` (each ``(d,)``) of volume :math:`\\Omega`."""

    low: torch.Tensor
    high: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor, margin: float = 0.5, min_side: float = 1e-2) -> "BoxReference":
        """Bounding box of ``x`` widened by ``margin`` x its side length on each side; a side shorter than
        ``min_side`` is widened to it about its centre (a cloud collapsing to a point, as the pulses of the
        aggregation experiment can, would otherwise give a box of volume 0 and a non-finite energy)."""
        lo, hi = x.min(0).values, x.max(0).values
        w = hi - lo
        short = w < min_side
        if bool(short.any()):
            mid = 0.5 * (lo + hi)
            lo = torch.where(short, mid - 0.5 * min_side, lo)
            hi = torch.where(short, mid + 0.5 * min_side, hi)
            w = torch.clamp(w, min=min_side)
        return cls(lo - margin * w, hi + margin * w)

    @property
    def log_volume(self) -> float:
        return float(torch.log(self.high - self.low).sum())

    def sample(self, n: int, generator=None) -> torch.Tensor:
        u = torch.rand(n, self.low.shape[-1], generator=generator, dtype=self.low.dtype, device=self.low.device)
        return self.low + u * (self.high - self.low)


class SampleReference:
    """Reference given by a sampler ``(n, generator) -> (n, d)`` (e.g. the target for JSD)."""

    def __init__(self, sampler: Callable):
        self._sampler = sampler

    def sample(self, n: int, generator=None) -> torch.Tensor:
        return self._sampler(n, generator)


# --------------------------------------------------------------------------------------------
# Energies in variational form
# --------------------------------------------------------------------------------------------
class VariationalEnergy:
    r"""Base class: ``value(h_raw_ty, h_raw_z, ty, ref)`` returns :math:`V(T, h)` (a scalar)
    whose sup over ``h`` is the energy of :math:`T_\sharp P_k` (up to an additive constant).
    ``refit_pushed``: refit the reference to the pushed samples at every map iteration.

    ``h_ty`` ``(B,)`` is the raw dual at the pushed batch ``ty`` ``(B, d)``, ``h_z`` ``(B,)`` the raw dual
    at reference samples; ``reference(x)`` fits :math:`\Gamma` to samples ``x`` ``(n, d)`` of :math:`P_k`.
    Provides ``"samples_dual"`` only (no value or gradient on particles)."""

    name = "variational energy"
    provides = frozenset({"samples_dual"})
    weight: float = 1.0
    refit_pushed: bool = False

    def reference(self, x: torch.Tensor):  # pragma: no cover - interface
        raise NotImplementedError

    def value(self, h_ty, h_z, ty, ref) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def dual_grads(self, h_ty, h_z, ty, ref) -> tuple:
        r"""``(dV/dh_ty (B,), dV/dh_z (B,))``: the gradient of :meth:`value` in the dual's values, by autograd of
        :meth:`value` (an energy may give it in closed form)."""
        with torch.enable_grad():
            a, b = h_ty.detach().requires_grad_(True), h_z.detach().requires_grad_(True)
            return torch.autograd.grad(self.value(a, b, ty.detach(), ref), (a, b))


class KLDivergence(VariationalEnergy):
    r""":math:`D(P\|Q)` for :math:`Q \propto e^{\log q}` (Prop. 1, eq. 10), with ``h = exp(h_raw)``:

    .. math::

        D(P\|Q) = 1 + \sup_h \mathbb E_P\big[\log h(X) + \log\mu(X) - \log q(X)\big] - \mathbb E_\mu[h(Z)]
        \;(+\log Z_Q \text{ if } q \text{ is unnormalised}),

    optimal :math:`h = P/\mu`; :math:`\mu = \mu_k` is the Gaussian fitted to :math:`P_k`. This is the
    dual :math:`\sup_g \mathbb E_P[g] - \mathbb E_Q[f^*(g)]` of the registry's KL entropy
    (:func:`f_kl`, :math:`f^*(s) = e^s - 1`, :mod:`wgf_core.divergences`) with
    :math:`g = \log h + \log\mu - \log q`: :math:`\mathbb E_Q[e^g] = \mathbb E_\mu[h]` and the constant
    1 is :math:`-\mathbb E_Q[-1]` for a probability :math:`Q`. The paper derives it from :math:`x\log x`
    (:math:`f^* = e^{y-1}`, :math:`g` shifted by 1); both give the same KL between probability measures.

    Parameters
    ----------
    log_target : ``(B, d) -> (B,)`` unnormalised :math:`\log q`, differentiable.

    reference : "start" (the paper: :math:`\mu_k` fitted to :math:`P_k` once per step) or "pushed"
        (refitted to :math:`T_\sharp P_k` at every map iteration; see the module docstring).
    """

    REFERENCES = ("start", "pushed")
    name = "kl"

    def __init__(self, log_target: Callable[[torch.Tensor], torch.Tensor], weight: float = 1.0,
                 reference: str = "start"):
        self.log_target = log_target
        self.weight = check_positive("weight", weight)
        self.refit_pushed = check_choice("reference", reference, self.REFERENCES) == "pushed"

    def reference(self, x):
        return GaussianReference.fit(x.detach())

    @staticmethod
    def affine_reference(moments, W: torch.Tensor, c: torch.Tensor, dtype) -> GaussianReference:
        r""":meth:`reference` of the pushed samples :math:`x_iW + c` of an affine map, in closed form.

        ``moments`` = ``(m, S)``, the mean ``(d,)`` and unbiased covariance ``(d, d)`` of the samples
        :math:`x_i` (:func:`wgf_core.metrics.fit_gaussian` with ``ddof=1``); ``W`` ``(d, d)``, ``c`` ``(d,)``.
        The fit of the pushed samples is then exactly :math:`N(mW + c,\; W^\top S W)` (the mean and the
        unbiased covariance are affine-equivariant), so the refit at every map iteration costs
        :math:`O(d^3)` instead of a push and a fit of ``REFIT_POINTS`` samples (tested against the fit
        of the pushed samples). Computed in the dtype of the inputs, returned in ``dtype``.
        """
        m, S = moments
        cov = W.mT @ S @ W
        return GaussianReference((m @ W + c).to(dtype), (0.5 * (cov + cov.mT)).to(dtype))

    def value(self, h_ty, h_z, ty, ref):
        return 1 + (h_ty + ref.log_prob(ty) - self.log_target(ty)).mean() - torch.exp(h_z).mean()

    def dual_grads(self, h_ty, h_z, ty, ref) -> tuple:
        r"""``(1/B, -e^{h_z}/B)``: :meth:`value`'s gradient in ``h_ty`` ``(B,)`` and ``h_z`` ``(B,)`` in closed form."""
        return torch.full_like(h_ty, 1.0 / h_ty.shape[0]), torch.exp(h_z) * (-1.0 / h_z.shape[0])


class GeneralizedEntropy(VariationalEnergy):
    r""":math:`\mathcal G(P) = \frac1{m-1}\int P^m` (Prop. 2, eq. 11), with ``h = softplus(h_raw)``:

    .. math::

        \mathcal G(P) = \Omega^{1-m}\sup_h \Big(\mathbb E_P\big[\tfrac{m}{m-1}h^{m-1}(X)\big]
        - \mathbb E_{U_\Omega}[h^m(Z)]\Big),

    optimal :math:`h = P\,\Omega`; :math:`U_\Omega` is uniform on a box around the support of
    :math:`P_k`, refitted every step (``margin`` x side length added on each side).
    """

    name = "generalized entropy"

    def __init__(self, m: float = 2.0, weight: float = 1.0, margin: float = 0.5):
        self.m = check_positive("m - 1", m - 1) + 1
        self.weight = check_positive("weight", weight)
        self.margin = check_positive("margin", margin, strict=False)

    def reference(self, x):
        return BoxReference.fit(x.detach(), self.margin)

    def value(self, h_ty, h_z, ty, ref):
        m = self.m
        scale = math.exp((1 - m) * ref.log_volume)
        hty, hz = F.softplus(h_ty), F.softplus(h_z)
        return scale * ((m / (m - 1)) * hty ** (m - 1)).mean() - scale * (hz**m).mean()


class JensenShannon(VariationalEnergy):
    r"""JSD as the f-divergence with :math:`f(x) = -(x+1)\log\frac{1+x}2 + x\log x` (slides):

    .. math::

        D_f(P\|Q) = \sup_g \mathbb E_P[g(X)] + \mathbb E_Q[\log(2 - e^{g(Z)})], \qquad g < \log 2,

    with ``g = log 2 - softplus(h_raw)``. This is :math:`D(P\|M) + D(Q\|M)`, :math:`M = (P+Q)/2`
    (the slides' JSD, twice the "1/2 + 1/2" convention). ``target_sampler(n, generator)`` gives Q.
    """

    name = "jensen-shannon"

    def __init__(self, target_sampler: Callable, weight: float = 1.0):
        self.target_sampler = target_sampler
        self.weight = check_positive("weight", weight)

    def reference(self, x):
        return SampleReference(self.target_sampler)

    def value(self, h_ty, h_z, ty, ref):
        g_ty = math.log(2) - F.softplus(h_ty)
        g_z = math.log(2) - F.softplus(h_z)
        return g_ty.mean() + torch.log(2 - torch.exp(g_z)).mean()


class Interaction:
    r"""Interaction energy :math:`\mathcal W(P) = \frac12\iint W(x - y)\,dP(x)\,dP(y)` for an even ``W``.

    Parameters
    ----------
    potential : ``(..., d) -> (...)`` the kernel :math:`W`.
    gradient : ``(..., d) -> (..., d)`` :math:`\nabla W` (checked against autograd in the tests), kept as
        :attr:`grad_potential` (:meth:`gradient` is the Wasserstein gradient of the energy at particles).
    substeps : the forward step of size :math:`a` is taken as ``substeps`` explicit Euler steps of size
        :math:`a/n`, the cloud moving with them (1 = the paper's single step, eq. 12). An explicit step
        is stable only while :math:`a\,\|\nabla^2 W * P\| < 2`; a concentrated pulse of mass :math:`M` under
        :math:`W = -e^{-|x|^2}/\pi` has :math:`\|\nabla^2 W * P\| \approx 2M/\pi`.
    """

    name = "interaction"
    provides = frozenset({"interaction", "value", "gradient"})

    def __init__(self, potential: Callable, gradient: Callable, substeps: int = 1):
        self.potential = potential
        self.grad_potential = gradient
        self.substeps = check_int("substeps", substeps)

    def field(self, x: torch.Tensor, cloud: torch.Tensor, block: int = 2048) -> torch.Tensor:
        r""":math:`(\nabla W * P)(x) = \frac1N\sum_j \nabla W(x_i - y_j)`, ``(B, d)``, blockwise in ``x``."""
        out = []
        for i in range(0, x.shape[0], block):
            out.append(self.grad_potential(x[i:i + block, None, :] - cloud[None, :, :]).mean(1))
        return torch.cat(out)

    def cloud_path(self, cloud: torch.Tensor, step: float) -> List[torch.Tensor]:
        """The cloud at the start of each of the ``substeps`` substeps, then the cloud after the step
        (``substeps + 1`` tensors); the cloud moves by its own field."""
        h = step / self.substeps
        path = [cloud]
        for _ in range(self.substeps):
            cloud = cloud - h * self.field(cloud, cloud)
            path.append(cloud)
        return path

    def forward_step(self, x: torch.Tensor, cloud, step: float) -> torch.Tensor:
        r"""Explicit step :math:`x \mapsto x - a(\nabla W * P)(x)` with :math:`P` = ``cloud`` (eq. 12).

        ``cloud`` is a tensor (its path is computed) or a path from :meth:`cloud_path` (as stored by
        the FB scheme); with ``substeps = n`` the step is n substeps of size a/n along the path."""
        path = self.cloud_path(cloud, step) if torch.is_tensor(cloud) else cloud
        h = step / self.substeps
        for c in path[:self.substeps]:
            x = x - h * self.field(x, c)
        return x

    def value(self, mu: Particles) -> torch.Tensor:
        r""":math:`\mathcal W(\mu) = \frac12\sum_{i,j} w_i w_j W(x_i - x_j)` per run, ``(runs,)`` (a V-statistic:
        the diagonal :math:`W(0)` counts, as for the measure itself)."""
        x, w = mu.x, mu.weights()
        Wm = self.potential(x[:, :, None, :] - x[:, None, :, :])
        return 0.5 * torch.einsum("ri,rij,rj->r", w, Wm, w)

    def gradient(self, mu: Particles) -> torch.Tensor:
        r"""Wasserstein gradient :math:`\nabla\frac{\delta\mathcal W}{\delta\mu}(x_i) = \sum_j w_j\nabla W(x_i - x_j)`
        (even :math:`W`), ``(runs, n, d)``."""
        x, w = mu.x, mu.weights()
        return torch.einsum("rijd,rj->rid", self.grad_potential(x[:, :, None, :] - x[:, None, :, :]), w)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        r"""U-statistic of :math:`\frac12\mathbb E[W(X - Y)]`, :math:`X \ne Y` from the batch ``(B, d)``."""
        B = x.shape[0]
        Wm = self.potential(x[:, None, :] - x[None, :, :])
        return 0.5 * (Wm.sum() - torch.diagonal(Wm).sum()) / (B * (B - 1))


def gaussian_attraction(mass: float = 1.0, substeps: int = 1) -> Interaction:
    r""":math:`W(x) = -M e^{-|x|^2}/\pi`, :math:`\nabla W(x) = \frac{2M}{\pi} x e^{-|x|^2}` (paper Sec. 4.4).

    ``mass`` = :math:`M`: the flow of a density of mass :math:`M` written for the probability
    :math:`P/M` (the interaction then scales by :math:`M`, an entropy :math:`\int P^m` by :math:`M^{m-1}`).
    """
    M = check_positive("mass", mass)
    return Interaction(lambda z: -M * torch.exp(-(z * z).sum(-1)) / math.pi,
                       lambda z: (2 * M / math.pi) * z * torch.exp(-(z * z).sum(-1, keepdim=True)), substeps=substeps)


class WithInteraction:
    r"""The sum :math:`F + \mathcal W` of a variational energy :math:`F` (``"samples_dual"``) and an
    interaction energy :math:`\mathcal W` (:class:`Interaction`), as in the aggregation-diffusion
    experiment (paper Sec. 4.4: :math:`\nu\,\mathcal G_m + \mathcal W`).

    Parameters
    ----------
    energy : VariationalEnergy
        :math:`F`, with its weight (e.g. ``GeneralizedEntropy(3, weight=0.1)``).
    interaction : Interaction
        :math:`\mathcal W`.

    Provides ``"samples_dual"`` and ``"interaction"``; the variational JKO with ``mode="fb"`` takes
    :math:`\mathcal W` as a forward step, with ``mode="non_fb"`` inside the JKO objective.
    """

    name = "variational energy + interaction"
    provides = frozenset({"samples_dual", "interaction"})

    def __init__(self, energy: VariationalEnergy, interaction: Interaction):
        if not isinstance(energy, VariationalEnergy):
            raise ParameterError(f"parameter 'energy' must be a VariationalEnergy (KL, entropy, JSD), got "
                                 f"{type(energy).__name__}")
        if not isinstance(interaction, Interaction):
            raise ParameterError(f"parameter 'interaction' must be an Interaction, got {type(interaction).__name__}")
        self.energy, self.interaction = energy, interaction


def split_energy(energy) -> tuple[Optional[VariationalEnergy], Optional[Interaction]]:
    """``(variational part or None, interaction part or None)`` of an energy of this module."""
    if isinstance(energy, WithInteraction):
        return energy.energy, energy.interaction
    if isinstance(energy, Interaction):
        return None, energy
    if isinstance(energy, VariationalEnergy):
        return energy, None
    return None, None
