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
