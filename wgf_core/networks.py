"""Neural networks used by the neural flow schemes."""

from __future__ import annotations

import math

import torch
from torch import nn

_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "silu": nn.SiLU, "softplus": nn.Softplus,
                "leaky_relu": nn.LeakyReLU, "prelu": nn.PReLU}


def mlp(in_dim: int, out_dim: int, width: int = 64, depth: int = 2, activation: str = "relu") -> nn.Sequential:
    """A fully connected network ``in_dim -> width x depth hidden layers -> out_dim``."""
    if activation not in _ACTIVATIONS:
        from .validation import ParameterError

        raise ParameterError(f"parameter 'activation' = {activation!r} is not allowed: one of {list(_ACTIVATIONS)}")
    layers, d = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, width), _ACTIVATIONS[activation]()]
        d = width
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class ResidualMLP(nn.Module):
    r"""Residual map :math:`T(x) = x + \mathrm{MLP}(x)`, initialised at the identity.

    Used for the transport map of the variational JKO step (Fan et al. 2022, App. C). With
    ``activation="identity"`` the map is affine (the paper's "linear residual feed-forward NN",
    App. C.2). The last layer is zero-initialised, so ``T = id`` before training.

    Parameters
    ----------
    dim : input and output dimension. width, depth : hidden layers ``depth x width``.
    activation : one of ``relu, elu, tanh, silu, softplus, leaky_relu, prelu, identity``.
    """

    def __init__(self, dim: int, width: int = 64, depth: int = 2, activation: str = "prelu",
                 generator: torch.Generator | None = None):
        super().__init__()
        if activation == "identity":
            layers, d = [], dim
            for _ in range(depth):
                layers.append(nn.Linear(d, width))
                d = width
            layers.append(nn.Linear(d, dim))
            self.net = nn.Sequential(*layers)
        else:
            self.net = mlp(dim, dim, width, depth, activation)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """With ``generator``: every linear layer redrawn from it (:func:`init_linear_`); then the last
        layer zero, so ``T = id``. Without: the layers keep their construction draws."""
        if generator is not None:
            init_linear_(self.net, generator)
        with torch.no_grad():
            self.net[-1].weight.zero_()
            self.net[-1].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., dim) -> (..., dim)``."""
        return x + self.net(x)


class DualMLP(nn.Module):
    """Scalar test function ``h_raw(x)`` ``(..., dim) -> (...)``: an MLP with optional dropout before each hidden layer."""

    def __init__(self, dim: int, width: int = 64, depth: int = 3, activation: str = "prelu", dropout: float = 0.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        base = mlp(dim, 1, width, depth, activation)
        if dropout > 0:
            mods = []
            for layer in base:
                if isinstance(layer, nn.Linear) and mods:
                    mods.append(nn.Dropout(dropout))
                mods.append(layer)
            base = nn.Sequential(*mods)
        self.net = base
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """With ``generator``: every linear layer redrawn from it (:func:`init_linear_`); without: unchanged."""
        if generator is not None:
            init_linear_(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def init_linear_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    r"""Redraw every :class:`torch.nn.Linear` of ``module`` from ``generator``, in module order; returns ``module``.

    Weight and bias :math:`\sim U(-1/\sqrt{\text{fan\_in}},\ 1/\sqrt{\text{fan\_in}})`: torch's default law
    for a linear layer, drawn without the global generator.
    """
    with torch.no_grad():
        for mod in module.modules():
            if isinstance(mod, nn.Linear):
                bound = 1.0 / math.sqrt(mod.in_features)
                mod.weight.uniform_(-bound, bound, generator=generator)
                if mod.bias is not None:
                    mod.bias.uniform_(-bound, bound, generator=generator)
    return module


# -- an mlp's backward pass written out -----------------------------------------------------------------------------
def _relu_backward(act, grad, z, a):
    return torch.ops.aten.threshold_backward(grad, a, 0)


def _leaky_relu_backward(act, grad, z, a):
    return torch.ops.aten.leaky_relu_backward(grad, z, act.negative_slope, False)


def _elu_backward(act, grad, z, a):
    return torch.ops.aten.elu_backward(grad, act.alpha, 1, 1, False, z)


def _tanh_backward(act, grad, z, a):
    return torch.ops.aten.tanh_backward(grad, a)


def _silu_backward(act, grad, z, a):
    return torch.ops.aten.silu_backward(grad, z)


def _softplus_backward(act, grad, z, a):
    return torch.ops.aten.softplus_backward(grad, z, act.beta, act.threshold)


#: The activations :class:`ExplicitMLP` differentiates: module -> the backward kernel autograd calls for it
#: (``tools/autograd/derivatives.yaml`` of torch 2.x: ``relu``: ``threshold_backward(grad, result, 0)``, ...).
EXPLICIT_BACKWARDS = {nn.ReLU: _relu_backward, nn.LeakyReLU: _leaky_relu_backward, nn.ELU: _elu_backward,
                      nn.Tanh: _tanh_backward, nn.SiLU: _silu_backward, nn.Softplus: _softplus_backward}


def mlp_layers(net: nn.Module):
    """``(linears, activations)`` of an :func:`mlp`-shaped ``nn.Sequential`` (``Linear, act, ..., Linear``, every
    ``Linear`` with a bias), else None: the networks that :class:`ExplicitMLP` and
    :class:`wgf_core.backends.numba_mlp.NumbaMLP` train."""
    if not isinstance(net, nn.Sequential) or len(net) % 2 != 1:
        return None
    linears, acts = list(net)[0::2], list(net)[1::2]
    if not all(type(m) is nn.Linear and m.bias is not None for m in linears):
        return None
    return linears, acts


def flatten_linears(linears, extra=()) -> tuple:
    """``(flat, offsets)``: one buffer ``(P,)`` holding each layer's weight (row-major) then bias, layer by layer,
    then the parameters ``extra`` (e.g. PReLU weights) in order, and each layer's ``(weight offset, bias offset)``
    in it. The parameters are rebound to views of ``flat`` (``.data``), so the module evaluates whatever is written
    there."""
    p = linears[0].weight
    flat = torch.empty(sum(lin.weight.numel() + lin.bias.numel() for lin in linears) + sum(e.numel() for e in extra),
                       dtype=p.dtype, device=p.device)
    offsets, off = [], 0
    with torch.no_grad():
        for lin in linears:
            wo, bo = off, off + lin.weight.numel()
            off = bo + lin.bias.numel()
            flat[wo:bo].copy_(lin.weight.reshape(-1))
            flat[bo:off].copy_(lin.bias)
            lin.weight.data = flat[wo:bo].view(lin.weight.shape)
            lin.bias.data = flat[bo:off]
            offsets.append((wo, bo))
        for e in extra:
            flat[off:off + e.numel()].copy_(e.reshape(-1))
            e.data = flat[off:off + e.numel()].view(e.shape)
            off += e.numel()
    return flat, offsets


def _one_prelu(act) -> bool:
    return type(act) is nn.PReLU and act.weight.numel() == 1


def explicit_supported(net: nn.Module, parametric: bool = False) -> bool:
    """True if :class:`ExplicitMLP` can take ``net``: an :func:`mlp` (``Linear, act, ..., Linear``, one
    activation of :data:`EXPLICIT_BACKWARDS`, not in place; with ``parametric`` also ``nn.PReLU`` with one weight)
    whose parameters are on one device, of one dtype."""
    lay = mlp_layers(net)
    if lay is None:
        return False
    if any(not (parametric and _one_prelu(a)) and (type(a) not in EXPLICIT_BACKWARDS or getattr(a, "inplace", False))
           for a in lay[1]):
        return False
    ps = list(net.parameters())
    return len({(p.device, p.dtype) for p in ps}) == 1


#: :class:`ExplicitMLP` with ``narrow``: a product with at most this many result columns is computed transposed.
NARROW = 8


class ExplicitMLP:
    r"""The forward and backward passes of an :func:`mlp` written out: the kernels autograd runs, without its graph.

    For the layers :math:`a_0 = u`, :math:`z_l = a_{l-1}W_l^\top + b_l`, :math:`a_l = \sigma(z_l)`, output
    :math:`o = a_L W_{L+1}^\top + b_{L+1}` and a given :math:`G = \partial\mathcal L/\partial o`:

    .. math::

        \delta_{L+1} = G,\qquad \frac{\partial\mathcal L}{\partial W_l} = \delta_l^\top a_{l-1},\qquad
        \frac{\partial\mathcal L}{\partial b_l} = \textstyle\sum_b \delta_{l,b},\qquad
        \delta_l = \sigma'(z_l)\odot(\delta_{l+1} W_{l+1}).

    Each product is the call autograd makes for ``nn.Linear`` (``addmm(b, a, W.t())`` forward;
    ``mm(delta.t(), a)``, ``delta.sum(0)`` and ``mm(delta, W)`` backward) and each :math:`\sigma'` the
    activation's own backward kernel (:data:`EXPLICIT_BACKWARDS`), so the gradients are autograd's, bit for
    bit (``tests/test_networks.py``), without building and walking a graph of some sixty nodes per
    iteration. The parameters of ``net`` become views of one flat buffer :attr:`flat` (a leaf with
    ``requires_grad``) whose ``grad`` is :attr:`grad`: one optimiser tensor instead of one per layer. The
    module keeps working (``net(u)`` evaluates the same weights).

    With ``parametric``, a PReLU with one weight :math:`s` (:math:`\sigma(z) = z` for :math:`z > 0`, else :math:`sz`)
    is taken too: its weight sits in :attr:`flat` after the layers' parameters, :math:`\sigma'` is
    ``leaky_relu_backward`` with the slope :math:`s` (the same input gradient as autograd's PReLU backward) and
    :math:`\partial\mathcal L/\partial s = \sum \delta\odot\min(z, 0)`, a dot product summed in another order than
    autograd's (equal to float rounding), about 15x faster than torch's PReLU backward on the CPU.

    Parameters
    ----------
    net : nn.Sequential
        An :func:`mlp` (see :func:`explicit_supported`).
    parametric : bool
        Take PReLU activations with one weight (see above).
    narrow : bool
        Compute a product whose result has at most :data:`NARROW` columns (the first layer's weight gradient and the
        input gradient of a network of a few inputs) as the transpose of the product of the transposes: MKL's
        kernels for such a result ran 7-10x slower than for its transpose on the 2-core reference CPU (a ``(64, 2)``
        weight gradient over 2000 rows: 155 against 22 us). The sums run in another order than autograd's (equal to
        float rounding, not bit for bit).

    Use: ``o = m.forward(u)`` (``u`` ``(B, n_in)``), then ``m.backward(G)`` (``G`` ``(B, n_out)``) writes
    :math:`\partial(\sum o\odot G)/\partial\theta` into :attr:`grad`, or ``m.input_grad(G)`` returns
    :math:`\partial(\sum o\odot G)/\partial u` ``(B, n_in)``.
    """

    def __init__(self, net: nn.Sequential, parametric: bool = False, narrow: bool = False):
        if not explicit_supported(net, parametric):
            from .validation import ParameterError

            raise ParameterError("ExplicitMLP takes a wgf_core.networks.mlp (Linear layers with biases, one "
                                 f"activation of {sorted(c.__name__ for c in EXPLICIT_BACKWARDS)}"
                                 f"{', or PReLU with one weight' if parametric else ''}), got {net}")
        self.linears, self.acts = mlp_layers(net)
        prelus = [a.weight for a in self.acts if type(a) is nn.PReLU]
        self.flat, offsets = flatten_linears(self.linears, prelus)
        self.grad = torch.zeros_like(self.flat)
        # the gradient of each layer's weight and bias: views of grad at the parameters' offsets
        self._views = [(self.grad[wo:bo].view(lin.weight.shape), self.grad[bo:bo + lin.bias.numel()])
                       for (wo, bo), lin in zip(offsets, self.linears)]
        tail = self.flat.numel() - len(prelus)
        self._act_views = {id(w): self.grad[tail + i:tail + i + 1] for i, w in enumerate(prelus)}
        self.narrow = bool(narrow)
        self.flat.requires_grad_(True)
        self.flat.grad = self.grad
        self._saved = None

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``net(u)`` for ``u`` ``(B, n_in)``, keeping the pre-activations and activations for :meth:`backward`."""
        with torch.no_grad():
            a, zs, acts = u, [], [u]
            for lin, act in zip(self.linears, self.acts):
                z = torch.addmm(lin.bias, a, lin.weight.t())
                a = act(z)
                zs.append(z)
                acts.append(a)
            last = self.linears[-1]
            out = torch.addmm(last.bias, a, last.weight.t())
        self._saved = (zs, acts)
        return out

    def backward(self, grad_out: torch.Tensor) -> None:
        r""":math:`\partial(\sum o\odot G)/\partial\theta` for the last :meth:`forward` into :attr:`grad`
        (``G = grad_out`` ``(B, n_out)``)."""
        if self._saved is None:
            from .validation import ParameterError

            raise ParameterError("ExplicitMLP.backward: call forward first (each backward needs its own forward)")
        zs, acts = self._saved
        delta = grad_out
        with torch.no_grad():
            for l in range(len(self.linears) - 1, -1, -1):
                gw, gb = self._views[l]
                if self.narrow and acts[l].shape[1] <= NARROW:
                    gw.copy_(torch.mm(acts[l].t(), delta).t())
                else:
                    torch.mm(delta.t(), acts[l], out=gw)
                torch.sum(delta, 0, out=gb)
                if l > 0:
                    delta = self._act_backward(l - 1, torch.mm(delta, self.linears[l].weight), zs, acts, True)
        self._saved = None

    def _act_backward(self, i: int, grad: torch.Tensor, zs, acts, weights: bool) -> torch.Tensor:
        """The gradient at the pre-activation ``zs[i]`` from ``grad`` at activation ``i``; a PReLU's weight gradient
        into :attr:`grad` when ``weights``."""
        act = self.acts[i]
        if type(act) is nn.PReLU:
            if weights:
                self._act_views[id(act.weight)].copy_(torch.dot(grad.reshape(-1), zs[i].clamp(max=0).reshape(-1)))
            return torch.ops.aten.leaky_relu_backward(grad, zs[i], float(act.weight), False)
        return EXPLICIT_BACKWARDS[type(act)](act, grad, zs[i], acts[i + 1])

    def input_grad(self, grad_out: torch.Tensor) -> torch.Tensor:
        r""":math:`\partial(\sum o\odot G)/\partial u` ``(B, n_in)`` for the last :meth:`forward` (``G = grad_out``
        ``(B, n_out)``), without the parameters' gradients (:attr:`grad` is left as it is)."""
        if self._saved is None:
            from .validation import ParameterError

            raise ParameterError("ExplicitMLP.input_grad: call forward first (each backward needs its own forward)")
        zs, acts = self._saved
        delta = grad_out
        with torch.no_grad():
            for l in range(len(self.linears) - 1, 0, -1):
                delta = self._act_backward(l - 1, torch.mm(delta, self.linears[l].weight), zs, acts, False)
            W = self.linears[0].weight
            out = torch.mm(W.t().contiguous(), delta.t()).t() if self.narrow and W.shape[1] <= NARROW \
                else torch.mm(delta, W)
        self._saved = None
        return out
