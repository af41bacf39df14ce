"""Neural networks used by the neural flow schemes."""

from __future__ import annotations

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

    def __init__(self, dim: int, width: int = 64, depth: int = 2, activation: str = "prelu"):
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
        last = self.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., dim) -> (..., dim)``."""
        return x + self.net(x)


class DualMLP(nn.Module):
    """Scalar test function ``h_raw(x)`` ``(..., dim) -> (...)``: an MLP with optional dropout before each hidden layer."""

    def __init__(self, dim: int, width: int = 64, depth: int = 3, activation: str = "prelu", dropout: float = 0.0):
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)
