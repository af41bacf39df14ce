r"""Neural backward and forward schemes (Altekrüger, Hertrich, Steidl, ICML 2023).

"Neural Wasserstein gradient flows for discrepancies with Riesz kernels" (arXiv:2301.11624),
sections 3 (neural backward scheme) and 5 (neural forward scheme). Both schemes move the
particles :math:`x` ``(n, d)`` of :math:`\mu_k = \frac1n\sum_i\delta_{x_i}` (one run: ``mu.x`` of
shape ``(1, n, d)``, uniform weights) by a network trained at every step, warm-started from the
previous step's network. The network is built at the first step of a run (``k == 0``) from the
step's generator, which then also draws the latents and minibatches: a run is reproducible from
its seed, and a scheme object can be reused for another run.

* :class:`NeuralBackward` -- a generative Markov kernel :math:`T_\theta(x, z) = x + g_\theta(x, z)`,
  :math:`z\sim\mathcal N(0, I_{d_z})`, trained on the JKO objective

  .. math::

      \mathcal L(\theta) = \frac{1}{2\tau}\,\mathbb E_{x\sim\mu_k, z}|x - T_\theta(x, z)|^2
      + F\big(T_{\theta\#}(\mu_k\otimes\mathcal N(0, I))\big),

  with :math:`F` evaluated on a minibatch of pushed particles and a minibatch of the target
  (``energy.minibatch_value``: it needs ``"minibatch_value"``, which :class:`wgf_core.energies.MMD`
  provides for every kernel; for the Riesz kernel its backward pass is the one-sided gradient);
  then :math:`x_i \leftarrow T_\theta(x_i, z_i)` with fresh :math:`z_i`. ``estimator="svrg"``
  estimates the gradient of the same objective with a full-gradient control variate (needs
  ``"gradient"`` and ``"minibatch_gradient"``).
* :class:`NeuralForward` -- a network :math:`v_\theta(x, z)` for the disintegration of the
  steepest-descent velocity plan, trained on the normalised one-sided slope

  .. math::

      \mathcal L(\theta) = \frac{D_{v_\theta}F(\mu_k)}{\|v_\theta\|_{L^2}},\qquad
      \|v\|_{L^2}^2 = \mathbb E|v_\theta(x, z)|^2,

  with the exact one-sided derivative (``energy.directional_derivative_parts`` and
  :func:`wgf_core.riesz.riesz_directional_derivative`, which includes the Dirac-splitting term
  :math:`-\tfrac12\sum_{x_i=x_j}|v_i - v_j|/n^2`; it needs ``"directional_derivative"``, the Riesz
  kernel), and the step :math:`x_i \leftarrow x_i + \tau\,|\mathcal L|\, v_i / \|v\|_{L^2}`.

Options beyond the paper (off by default): ``fourier_features`` feeds :math:`\sin/\cos(2\pi Bx)`
to the network; ``standardize`` feeds it the particles in the step's frame (centre and RMS scale).

Training (``backend``, :mod:`wgf_core.backends`, operation ``"mlp_train"``). ``"torch"``: the network's forward
and backward passes are written out (:class:`wgf_core.networks.ExplicitMLP`: the kernels autograd runs for an
``mlp``, without its graph) and autograd differentiates only the loss in the network's output; Adam steps one flat
parameter buffer. The updates are those of autograd and :class:`wgf_core.optim.Adam` on the module's parameters,
bit for bit (``tests/test_flows_riesz.py``); ``autograd=True`` (or the activation ``"prelu"``) is that path.
``"numba"`` trains the network with :class:`wgf_core.backends.numba_mlp.NumbaMLP` (forward, backward and Adam
compiled) and the loss's gradient in the network's output without autograd
(:meth:`~wgf_core.energies.MMD.minibatch_value_gradient`; the forward scheme's slope in closed form): the same
objective, batches, latents and initialisation, the updates equal to round-off, not bit for bit. With an
:class:`~wgf_core.energies.MMD` of the Riesz kernel whose sums run on numba (the backward scheme's
``"minibatch"`` estimator; the forward scheme without coincident particles), a step's iterations run in one
compiled loop (:meth:`~wgf_core.backends.numba_mlp.NumbaMLP.train_riesz`) on the minibatches and latents drawn
beforehand in the order the iterations draw them (the same draws); the backward scheme's last iteration, whose
loss value is read, runs on its own. It is faster
for small networks on the CPU (the paper's 64 x 2 network, batch 100: 3.2-3.7x the step before issue 17 in
three runs of ``benchmarks/bench_neural.py``), slower for wide ones (it does not use the BLAS); float32 training
amplifies round-off to seed-level spread. ``"auto"`` (the default): numba on the CPU where the activation is one
of its :data:`~wgf_core.backends.numba_mlp.ACTIVATIONS` and numba is installed, else torch.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import nn

from .. import backends
from ..backends.numba_mlp import ACTIVATIONS as NUMBA_ACTIVATIONS
from ..energies import MMD
from ..errors import ParameterError
from ..measures import Particles
from ..networks import _ACTIVATIONS, ExplicitMLP, explicit_supported, mlp
from ..optim import Adam
from ..riesz import riesz_directional_derivative
from ..validation import check_choice, check_int, check_positive
from .base import Scheme

__all__ = ["NeuralBackward", "NeuralForward"]


def _init_(net: nn.Module, generator: Optional[torch.Generator], scale_last: float = 1.0) -> nn.Module:
    """Seeded re-initialisation of every Linear layer (PyTorch's default uniform law), last layer scaled."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for i, lin in enumerate(linears):
            bound = 1.0 / math.sqrt(lin.in_features)
            s = scale_last if i == len(linears) - 1 else 1.0
            lin.weight.uniform_(-bound, bound, generator=generator).mul_(s)
            lin.bias.uniform_(-bound, bound, generator=generator).mul_(s)
    return net


class _LatentNet(nn.Module):
    r"""``(x, z) -> mlp([x, z])`` with z of ``latent_dim`` standard normal coordinates.

    With ``fourier_features = m > 0`` the input also holds :math:`\sin(2\pi Bx), \cos(2\pi Bx)`
    for a fixed random :math:`B \in \mathbb R^{m\times d}`, :math:`B_{ij}\sim\mathcal N(0, s^2)`,
    ``s = fourier_scale`` (Tancik et al., NeurIPS 2020): an MLP learns functions of x that vary on
    the scale :math:`1/s` far faster with these features (plain MLPs learn high frequencies last).
    """

    def __init__(self, dim, latent_dim, width, depth, activation, fourier_features=0, fourier_scale=10.0,
                 generator=None):
        super().__init__()
        self.latent_dim = latent_dim
        B = torch.zeros(0, dim)
        if fourier_features:  # drawn only when asked, so the generator's stream is otherwise unchanged
            B = torch.randn(fourier_features, dim, generator=generator,
                            device=generator.device if generator is not None else None).cpu()
        self.register_buffer("B", (2 * math.pi * fourier_scale) * B)
        self.net = mlp(dim + 2 * fourier_features + latent_dim, dim, width=width, depth=depth, activation=activation)

    def forward(self, x, z):
        if self.B.shape[0] == 0:
            return self.net(torch.cat([x, z], -1))
        p = x @ self.B.T
        return self.net(torch.cat([x, torch.sin(p), torch.cos(p), z], -1))


def _autograd_of(fn, y: torch.Tensor, *args) -> torch.Tensor:
    """The gradient of the 0-d ``fn(y, *args)`` in ``y`` (autograd on a detached copy of ``y``)."""
    with torch.enable_grad():
        yl = y.detach().requires_grad_(True)
        return torch.autograd.grad(fn(yl, *args), yl)[0]


def _one_run(mu: Particles, scheme: str) -> torch.Tensor:
    if mu.runs != 1 or mu.w is not None:
        raise ParameterError(f"scheme {scheme!r} moves one run of uniform weights at a time (runs = 1, w None), got "
                             f"runs = {mu.runs}" + ("" if mu.w is None else " with weights")
                             + ": run one seed per call of wgf_core.runner.run")
    return mu.x[0]


def _target_of(energy) -> Optional[torch.Tensor]:
    y = getattr(energy, "target", None)
    if y is not None and y.dim() == 3:
        if y.shape[0] != 1:
            raise ParameterError(f"the neural schemes need one target sample (m, d) or (1, m, d), got {tuple(y.shape)}")
        y = y[0]
    return y


class _NeuralScheme(Scheme):
    r"""Common parts of the neural schemes (network, optimiser, latents, minibatches, frame).

    Parameters
    ----------
    latent_dim : int
        :math:`d_z` of the latent :math:`z\sim\mathcal N(0, I_{d_z})`.
    width, depth, activation
        The MLP (:func:`wgf_core.networks.mlp`) of ``[x, (Fourier features), z] -> R^d``.
    iters, first_iters : int
        Adam iterations per step (``first_iters`` at the first step; default ``iters``).
    lr : float
        Adam's learning rate.
    batch_size : int, optional
        Minibatch of particles (and of the target) per iteration; None: all.
    fourier_features : int
        Number :math:`m` of random Fourier features of x (0: none, the paper's network).
    fourier_scale : float
        Scale :math:`s` of their frequencies.
    standardize : bool
        Feed the network the particles in the step's frame (:meth:`_g`).
    backend : {"auto", "torch", "numba"}
        How the network is trained (see the module): ``"torch"`` (:class:`wgf_core.networks.ExplicitMLP`, the
        network's passes written out, one flat Adam tensor; a graph through the network with ``autograd``),
        ``"numba"`` (:class:`wgf_core.backends.numba_mlp.NumbaMLP` on CPU tensors, equal to round-off), ``"auto"``:
        numba where it applies (CPU, an activation of its ``ACTIVATIONS``), else torch.
    autograd : bool
        ``"torch"`` training through one autograd graph (Adam per parameter) instead of the written-out passes:
        the same updates, bit for bit (the reference path; always taken for ``"prelu"``).
    """

    _last_scale = 1.0

    def __init__(self, *, latent_dim: int = 2, width: int = 64, depth: int = 3, activation: str = "relu",
                 iters: int = 100, first_iters: Optional[int] = None, lr: float = 1e-3,
                 batch_size: Optional[int] = None, fourier_features: int = 0, fourier_scale: float = 10.0,
                 standardize: bool = False, backend: str = "auto", autograd: bool = False):
        self.standardize = check_choice("standardize", standardize, (False, True))
        self.backend = backends.check_backend(backend, "mlp_train")
        self.autograd = check_choice("autograd", autograd, (False, True))
        backends.refuse_inapplicable(self.backend, "mlp_train", activation in NUMBA_ACTIVATIONS,
                                     f"trains the activations {sorted(NUMBA_ACTIVATIONS)}, not activation = "
                                     f"{activation!r}: use 'auto'")
        self._centre, self._scale = None, None
        self.latent_dim = check_int("latent_dim", latent_dim)
        self.width, self.depth = check_int("width", width), check_int("depth", depth)
        self.activation = check_choice("activation", activation, tuple(_ACTIVATIONS))
        self.iters = check_int("iters", iters)
        self.first_iters = check_int("first_iters", first_iters if first_iters is not None else iters)
        self.lr = check_positive("lr", lr)
        self.batch_size = None if batch_size is None else check_int("batch_size", batch_size)
        self.fourier_features = check_int("fourier_features", fourier_features, minimum=0)
        self.fourier_scale = check_positive("fourier_scale", fourier_scale)
        self.generator = None
        self.net, self.opt, self.explicit, self.numba = None, None, None, None
        self.last_loss = float("nan")

    def build(self, dim: int, generator: Optional[torch.Generator] = None, *, device="cpu",
              dtype=torch.float32) -> None:
        """A fresh network for ``dim``-dimensional particles, initialised from ``generator``, and its optimiser.

        Called by :meth:`step` at the first step of a run; the draws (Fourier frequencies, then the
        layers' uniform initialisation) come first in the generator's stream.
        """
        self.generator = generator
        self.net = _init_(_LatentNet(check_int("dim", dim), self.latent_dim, self.width, self.depth, self.activation,
                                     self.fourier_features, self.fourier_scale, generator), generator,
                          scale_last=self._last_scale).to(device=device, dtype=dtype)
        # wgf_core.optim.Adam: torch's Adam updates, bit for bit, with less Python per step
        self.explicit = self.numba = None
        numba_mlp = backends.implementation("mlp_train", self.backend, device, dtype, 0,
                                            applicable=self.activation in NUMBA_ACTIVATIONS)
        if numba_mlp is not None:
            self.numba = self.opt = numba_mlp(self.net.net, lr=self.lr)  # forward, backward and Adam compiled
        elif not self.autograd and explicit_supported(self.net.net):
            self.explicit = ExplicitMLP(self.net.net)   # the module's parameters become views of its flat buffer
            self.opt = Adam([self.explicit.flat], lr=self.lr)
        else:
            self.opt = Adam(self.net.parameters(), lr=self.lr)

    def _inputs(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The network's input (B, d_in), as :meth:`_g` and :class:`_LatentNet` form it: ``[x', (sin, cos of
        2 pi x' B^T), z]`` with ``x'`` the particles in the step's frame."""
        if self._scale is not None:
            x = (x - self._centre) / self._scale
        if self.net.B.shape[0] == 0:
            return torch.cat([x, z], -1)
        p = x @ self.net.B.T
        return torch.cat([x, torch.sin(p), torch.cos(p), z], -1)

    def _g_of(self, out: torch.Tensor) -> torch.Tensor:
        """:meth:`_g` from the network's output ``out``."""
        return out if self._scale is None else self._scale * out

    def _train(self, x: torch.Tensor, z: torch.Tensor, loss_of_g, grad_of_g, want_loss: bool = True):
        """One Adam step on ``loss_of_g(g(x, z))`` (a 0-d tensor); returns the loss (None for numba without
        ``want_loss``).

        Explicit: the network's forward pass without a graph, autograd of the loss alone in the network's
        output, the network's backward pass written out (:class:`~wgf_core.networks.ExplicitMLP`); autograd:
        one graph through the network. The same gradients, bit for bit. Numba: ``grad_of_g(g)``, the loss's
        gradient in ``g`` without autograd, into :class:`NumbaMLP`."""
        if self.numba is not None:
            g = self._g_of(self.numba.forward(self._inputs(x, z)))
            grad = grad_of_g(g)
            loss = None
            if want_loss:
                with torch.no_grad():
                    loss = loss_of_g(g)
            self.numba.step(grad if self._scale is None else self._scale * grad)
            return loss
        if self.explicit is None:
            loss = loss_of_g(self._g(x, z))
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            return loss
        out = self.explicit.forward(self._inputs(x, z))
        with torch.enable_grad():
            leaf = out.requires_grad_(True)
            loss = loss_of_g(self._g_of(leaf))
            (grad,) = torch.autograd.grad(loss, leaf)
        self.explicit.backward(grad)
        self.opt.step()
        return loss

    def _start(self, mu: Particles, k: int, generator) -> torch.Tensor:
        x = _one_run(mu, self.name)
        if isinstance(generator, (list, tuple)):
            generator = generator[0]
        if k == 0 or self.net is None:
            self.build(x.shape[-1], generator, device=x.device, dtype=x.dtype)
        self.generator = generator
        self._frame(x)
        return x

    def _frame(self, x: torch.Tensor) -> None:
        r"""Fix this step's frame: with ``standardize``, the centre :math:`m` and the scale
        :math:`s = (\frac1{nd}\sum_i |x_i - m|^2)^{1/2}` of the particles at the start of the step."""
        if not self.standardize:
            self._centre, self._scale = None, None
            return
        with torch.no_grad():
            m = x.mean(0)
            sc = ((x - m) ** 2).mean().sqrt()
        if not torch.isfinite(sc) or float(sc) <= 0.0:
            raise ParameterError(f"standardize=True needs particles with a positive spread, got scale {float(sc):g} "
                                 "(start from a spread-out measure, e.g. the exact first step, not a Dirac)")
        self._centre, self._scale = m, sc

    def _g(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        r"""The network's output at particles ``x`` (B, d) and latents ``z`` (B, d_z).

        With ``standardize``, the network sees the particles in the frame of the step,
        :math:`g(x, z) = s\,\mathrm{net}((x - m)/s, z)`: a measure that shrinks or grows by a factor
        (the self-similar flows of the Riesz interaction energy at r != 1 spread as
        :math:`t^{1/(2-r)}`, from radius 1e-3 to 1) looks the same to the network, whose
        initialisation and learning rate are tuned for inputs and outputs of order one.
        """
        if self._scale is None:
            return self.net(x, z)
        return self._scale * self.net((x - self._centre) / self._scale, z)

    def _z(self, n, like):
        return torch.randn(n, self.latent_dim, generator=self.generator, device=like.device, dtype=like.dtype)

    def _batch(self, t: torch.Tensor) -> torch.Tensor:
        if self.batch_size is None or t.shape[0] <= self.batch_size:
            return t
        idx = torch.randperm(t.shape[0], generator=self.generator, device=t.device)[: self.batch_size]
        return t[idx]

    def _n_iters(self, k: int) -> int:
        return self.first_iters if k == 0 else self.iters

    def _draws(self, x: torch.Tensor, target: Optional[torch.Tensor], n_iters: int, parts: Optional[dict] = None):
        """The minibatches and latents of ``n_iters`` iterations, drawn as the iterations draw them one by one, in
        chunks of iterations ``(xs (K, B, d), ts (K, C, d) or None, zs (K, B, d_z))``; with ``parts`` (the forward
        scheme, no target) ``(xs, gradient rows (K, B, d), zs)`` from :meth:`NeuralForward._sub_parts`."""
        rows = min(x.shape[0], self.batch_size or x.shape[0])
        chunk = max(1, 2**18 // (rows * (x.shape[1] + self.latent_dim)))
        for start in range(0, n_iters, chunk):
            xs, ts, zs = [], [], []
            for _ in range(min(chunk, n_iters - start)):
                if parts is None:
                    xs.append(self._batch(x))
                    if target is not None:
                        ts.append(self._batch(target))
                else:
                    sub, xb = self._sub_parts(parts, x)
                    xs.append(xb)
                    ts.append(sub["grad"])
                zs.append(self._z(xs[-1].shape[0], x))
            xs, zs = torch.stack(xs), torch.stack(zs)
            ts = torch.stack(ts) if ts else None
            yield xs, ts, zs

    def _fused_backward(self, energy, x: torch.Tensor, target: Optional[torch.Tensor], n_iters: int) -> bool:
        """Whether the backward scheme's training runs in :meth:`NumbaMLP.train_riesz`: numba trains the network,
        the energy is an :class:`~wgf_core.energies.MMD` of the Riesz kernel with its own loss gradient, and its
        gradient sums resolve to numba (``kernel_grad_sum`` over the loop's pairs)."""
        if (self.numba is None or not isinstance(energy, MMD) or energy.kernel.name != "riesz"
                or type(energy).minibatch_value_gradient is not MMD.minibatch_value_gradient
                or energy.target_weights is not None or n_iters < 2):
            return False
        rows = min(x.shape[0], self.batch_size or x.shape[0])
        cols = rows + (0 if target is None else min(target.shape[0], self.batch_size or target.shape[0]))
        return backends.resolve("kernel_grad_sum", x.device, x.dtype, (n_iters - 1) * rows * cols,
                                backend=energy.backend) == "numba"


class NeuralBackward(_NeuralScheme):
    r"""Neural backward (JKO) scheme with a generative residual network :math:`T(x,z) = x + g(x,z)`.

    Parameters
    ----------
    estimator : {"minibatch", "svrg"}
        How the gradient of :math:`F` in the loss is estimated on a batch (see :meth:`step`).
        ``"minibatch"`` needs ``"minibatch_value"`` from the energy; ``"svrg"`` needs
        ``"gradient"`` and ``"minibatch_gradient"``.
    refresh : int, optional
        With ``estimator="svrg"``, iterations between two full-gradient snapshots (default: one
        snapshot per step, at its start).
    **options
        Of the network and training (:class:`_NeuralScheme`).
    """

    name = "neural_backward"
    _last_scale = 0.1

    def __init__(self, *, estimator: str = "minibatch", refresh: Optional[int] = None, **options):
        super().__init__(**options)
        self.estimator = check_choice("estimator", estimator, ("minibatch", "svrg"))
        self.refresh = None if refresh is None else check_int("refresh", refresh)
        self.needs = frozenset({"minibatch_value"} if self.estimator == "minibatch"
                               else {"gradient", "minibatch_gradient"})

    def step(self, energy, mu, tau, k, generator=None):
        r"""Train the network on the JKO objective of this step, then move every particle by it.

        ``estimator="minibatch"``: the loss is the objective with :math:`F` evaluated on a
        batch of pushed particles and a batch of the target (``batch_size`` each), as in the paper.

        ``estimator="svrg"``: the same objective, its gradient estimated with a control variate
        (stochastic variance-reduced gradient, Johnson & Zhang 2013). Each particle keeps one
        latent :math:`z_i` for the whole step. At a snapshot :math:`\tilde y = T_{\tilde\theta}(x, z)`
        the exact Wasserstein gradient :math:`\nabla\Phi(\tilde y_i)` is computed for all particles;
        a batch :math:`b` (rows = columns, and a target batch :math:`c`) then uses

        .. math::

            \hat g_i = \nabla\Phi(\tilde y_i) + \hat\nabla\Phi_b(y_i) - \hat\nabla\Phi_b(\tilde y_i),
            \qquad \hat\nabla\Phi_b(y_i) = \frac{1}{|b|-1}\sum_{j\in b}\nabla_1K(y_i, y_j)
            - \frac1{|c|}\sum_{j\in c}\nabla_1K(y_i, t_j),

        and the surrogate :math:`\frac1{|b|}\sum_{i\in b}\big(\frac{|y_i - x_i|^2}{2\tau}
        + \hat g_i\cdot y_i\big)` (:math:`\hat g` detached), whose parameter gradient is an
        unbiased estimate of the full objective's (:math:`\partial F/\partial y_i =
        \nabla\Phi(y_i)/n`). Its variance vanishes as :math:`y \to \tilde y`.

        ``mu`` : one run ``(1, n, d)``, uniform weights; returns the moved particles.
        """
        x = self._start(mu, k, generator)
        target = _target_of(energy)
        if self.estimator == "svrg":
            return Particles(self._step_svrg(energy, x, target, tau, k).unsqueeze(0))
        n_iters = self._n_iters(k)
        # the loss value is read after the last iteration only: before it, a surrogate with the same gradient
        # (bit for bit) and no energy value, where the energy has one
        surrogate = getattr(energy, "minibatch_value_surrogate", energy.minibatch_value)
        grad_f = getattr(energy, "minibatch_value_gradient", None) or (
            lambda y, tb: _autograd_of(energy.minibatch_value, y, tb))
        # numba with the Riesz kernel's numba sums: every iteration but the last (whose loss value is read) in one
        # compiled loop on the same draws (NumbaMLP.train_riesz)
        fused = n_iters - 1 if self._fused_backward(energy, x, target, n_iters) else 0
        for xs, ts, zs in self._draws(x, target, fused):
            self.numba.train_riesz(energy.kernel, self._inputs(xs, zs), x=xs, target=ts, tau=tau,
                                   frame_scale=1.0 if self._scale is None else float(self._scale),
                                   factor=2.0 * energy.scale)
        for it in range(fused, n_iters):
            xb = self._batch(x)
            tb = None if target is None else self._batch(target)
            value = energy.minibatch_value if it == n_iters - 1 else surrogate

            def loss_of_g(g, xb=xb, tb=tb, value=value):
                y = xb + g
                return ((y - xb) ** 2).sum(-1).mean() / (2 * tau) + value(y, tb)

            def grad_of_g(g, xb=xb, tb=tb):  # numba: (y - x_b) / (tau B) + dF_b/dy
                y = xb + g
                return grad_f(y, tb) + (y - xb) / (tau * xb.shape[0])

            last = it == n_iters - 1
            loss = self._train(xb, self._z(xb.shape[0], xb), loss_of_g, grad_of_g, want_loss=last)
        self.last_loss = float(loss.detach())
        with torch.no_grad():
            return Particles((x + self._g(x, self._z(x.shape[0], x))).unsqueeze(0))

    def svrg_surrogate(self, energy, x, z, idx, tb, snap, snap_grad, tau):
        """The surrogate loss of the "svrg" estimator on the batch ``idx`` (rows of ``x`` (n, d), latents
        ``z`` (n, d_z)) with target batch ``tb`` (C, d) or None, snapshot positions ``snap`` (n, d) and
        their exact gradients ``snap_grad`` (n, d) (see :meth:`step`)."""
        xb = x[idx]
        return self._svrg_loss(energy, xb, xb + self._g(xb, z[idx]), tb, snap[idx], snap_grad[idx], tau)

    @staticmethod
    def _svrg_loss(energy, xb, y, tb, snap_b, snap_grad_b, tau):
        """:meth:`svrg_surrogate` at the moved batch ``y`` = T(xb, z) (B, d), snapshot rows ``snap_b``, ``snap_grad_b``."""
        with torch.no_grad():
            g = (snap_grad_b + energy.minibatch_gradient(y, tb, unbiased=True)
                 - energy.minibatch_gradient(snap_b, tb, unbiased=True))
        return ((y - xb) ** 2).sum(-1).mean() / (2 * tau) + (g * y).sum(-1).mean()

    def _step_svrg(self, energy, x, target, tau, k):
        n = x.shape[0]
        z = self._z(n, x)
        n_iters = self._n_iters(k)
        refresh = self.refresh or n_iters
        bsz = min(n, self.batch_size or n)
        snap = snap_grad = None
        for it in range(n_iters):
            if it % refresh == 0:
                with torch.no_grad():
                    snap = x + self._g(x, z)
                    snap_grad = energy.gradient(Particles(snap.unsqueeze(0)))[0]
            idx = torch.randperm(n, generator=self.generator, device=x.device)[:bsz]
            tb = None if target is None else self._batch(target)
            xb, sb, sg = x[idx], snap[idx], snap_grad[idx]

            def grad_of_g(g, xb=xb, tb=tb, sb=sb, sg=sg):  # numba: ((y - x_b) / tau + g_hat) / B
                y = xb + g
                gh = sg + energy.minibatch_gradient(y, tb, unbiased=True) - energy.minibatch_gradient(sb, tb,
                                                                                                      unbiased=True)
                return ((y - xb) / tau + gh) / xb.shape[0]

            loss = self._train(xb, z[idx], lambda g, xb=xb, tb=tb, sb=sb, sg=sg:
                               self._svrg_loss(energy, xb, xb + g, tb, sb, sg, tau), grad_of_g,
                               want_loss=it == n_iters - 1)
        with torch.no_grad():
            x_new = x + self._g(x, z)
        self.last_loss = float(loss.detach())  # the surrogate's value (its gradient, not its value, is the objective's)
        return x_new


class NeuralForward(_NeuralScheme):
    r"""Neural forward scheme: learned unit steepest-descent velocity plan, normalised step.

    Needs ``"directional_derivative"`` (the exact one-sided derivative of the Riesz MMD).

    Parameters
    ----------
    max_group : int
        A coincident group larger than this uses an evenly spaced subset for its pairwise term
        (:func:`wgf_core.riesz.riesz_directional_derivative`).
    **options
        Of the network and training (:class:`_NeuralScheme`).
    """

    name = "neural_forward"
    needs = frozenset({"directional_derivative"})

    def __init__(self, *, max_group: int = 512, **options):
        super().__init__(**options)
        self.max_group = check_int("max_group", max_group, minimum=2)

    def _loss(self, parts, v):
        d = riesz_directional_derivative(None, v, parts=parts, max_group=self.max_group)
        return d / (v * v).sum(-1).mean().clamp_min(1e-30).sqrt()

    def _loss_gradient(self, parts, v):
        r"""The gradient of :meth:`_loss` in ``v`` ``(B, d)`` (CPU tensors; the numba backend). Without coincident
        particles or targets, :math:`\mathcal L = D/N`, :math:`D = \frac1B\sum_i \nabla\Phi(x_i)\cdot v_i`,
        :math:`N = (\frac1B\sum_i|v_i|^2)^{1/2}`, in closed form:
        :math:`\partial\mathcal L/\partial v_i = \nabla\Phi(x_i)/(BN) - D\,v_i/(BN^3)` (no second term where
        :math:`N^2` is clamped at 1e-30); else autograd of :meth:`_loss`."""
        if parts["groups"] or parts["hits"] is not None:
            return _autograd_of(lambda vv: self._loss(parts, vv), v)
        # numpy views of the CPU tensors: a numpy operation costs ~1 us, torch's ~5
        vn, gn = v.detach().numpy(), parts["grad"].detach().to(v.dtype).numpy()
        B, n = vn.shape[0], parts["n"]
        D = float(np.dot(gn.ravel(), vn.ravel())) / n
        n2 = float(np.dot(vn.ravel(), vn.ravel())) / B
        if n2 < 1e-30:
            return torch.from_numpy(gn * (1.0 / (n * 1e-15)))
        N = math.sqrt(n2)
        return torch.from_numpy(gn * (1.0 / (n * N)) - vn * (D / (B * N * n2)))

    def _sub_parts(self, parts, x):
        """Parts restricted to a random minibatch of rows (all rows if no ``batch_size``)."""
        n = x.shape[0]
        if self.batch_size is None or n <= self.batch_size:
            return parts, x
        idx = torch.randperm(n, generator=self.generator, device=x.device)[: self.batch_size]
        groups = []
        if parts["groups"]:
            pos = torch.full((n,), -1, dtype=torch.long, device=x.device)
            pos[idx] = torch.arange(idx.numel(), device=x.device)
        for gidx in parts["groups"]:
            sub = pos[gidx]
            sub = sub[sub >= 0]
            if sub.numel() > 1:
                groups.append(sub)
        hits = None if parts["hits"] is None else parts["hits"][idx]
        return {"n": idx.numel(), "grad": parts["grad"][idx], "groups": groups, "hits": hits, "m": parts["m"]}, x[idx]

    def step(self, energy, mu, tau, k, generator=None):
        """Train the velocity network on the normalised slope, then take the normalised step (see the module)."""
        x = self._start(mu, k, generator)
        parts = energy.directional_derivative_parts(mu)
        if self.numba is not None and not parts["groups"] and parts["hits"] is None:
            # numba, no coincident particles: the closed-form loss gradient, all iterations in one compiled loop
            for xs, grads, zs in self._draws(x, None, self._n_iters(k), parts):
                self.numba.train_riesz(energy.kernel, self._inputs(xs, zs), grad_rows=grads,
                                       frame_scale=1.0 if self._scale is None else float(self._scale))
            return self._forward_move(energy, parts, x, tau)
        for _ in range(self._n_iters(k)):
            sub, xb = self._sub_parts(parts, x)
            self._train(xb, self._z(xb.shape[0], xb), lambda v, sub=sub: self._loss(sub, v),
                        lambda v, sub=sub: self._loss_gradient(sub, v), want_loss=False)
        return self._forward_move(energy, parts, x, tau)

    def _forward_move(self, energy, parts, x, tau):
        """The normalised step with the trained network (see the module)."""
        with torch.no_grad():
            v = self._g(x, self._z(x.shape[0], x))
            slope = -self._loss(parts, v)
            self.last_loss = float(-slope)
            if slope <= 0:  # the learned direction does not descend: stay (stationary to the net's precision)
                return Particles(x.unsqueeze(0))
            return Particles((x + tau * slope * v / (v * v).sum(-1).mean().sqrt()).unsqueeze(0))
