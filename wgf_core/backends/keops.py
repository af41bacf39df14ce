"""Optional KeOps backend for :func:`wgf_core.backends.kernel_sum` / ``kernel_grad_sum``.

Used with ``backend="keops"`` when ``pykeops`` is installed (``pip install -e '.[keops]'``).
The kernel formulas are the same profile functions as the torch backend (written with tensor
methods, which KeOps ``LazyTensor`` shares); only the two coefficients with a ``1/r`` at
coincident points get lazy twins using ``ifelse``. Nothing is compiled at import time;
KeOps compiles each formula on first use (seconds on a CPU; cached per host).
"""

from __future__ import annotations

import torch

from ..kernels import Kernel, compact_power


def _lazy():
    try:
        from pykeops.torch import LazyTensor
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "backend='keops' needs pykeops: pip install -c constraints-cpu.txt -e '.[keops]'"
        ) from e
    return LazyTensor


def available() -> bool:
    """True if pykeops can be imported."""
    try:
        _lazy()
    except ImportError:
        return False
    return True


def _pair(x, y):
    LazyTensor = _lazy()
    xi = LazyTensor(x.unsqueeze(-2).contiguous())  # (..., N, 1, d)
    yj = LazyTensor(y.unsqueeze(-3).contiguous())  # (..., 1, M, d)
    return xi, yj


def _distance(xi, yj):
    return ((xi - yj) ** 2).sum(-1).sqrt()


def _lazy_coefficient(kernel: Kernel, r):
    s = kernel.param
    if kernel.name == "riesz":
        return (-r).ifelse(0.0, -s * r ** (s - 2))
    if kernel.name == "compact":
        q = compact_power(s)
        return (-r).ifelse(0.0, -q * (1 - r).relu() ** (q - 1) / r)
    return kernel.coefficient(r)


def _wj(w):
    LazyTensor = _lazy()
    return LazyTensor(w.unsqueeze(-1).unsqueeze(-3).contiguous())  # (..., 1, M, 1)


def keops_kernel_sum(kernel: Kernel, x, y, w) -> torch.Tensor:
    """``sum_j w_j k(x_i, y_j)``, shape ``(..., N)``, with KeOps."""
    xi, yj = _pair(x, y)
    k = kernel.profile(_distance(xi, yj))
    out = (k * _wj(w)).sum(dim=x.dim() - 1).squeeze(-1)
    if kernel.spec.extra is not None:
        out = out + kernel.spec.extra(x, y, w)[0]
    return out


def keops_kernel_grad_sum(kernel: Kernel, x, y, w) -> torch.Tensor:
    """``sum_j w_j grad_1 k(x_i, y_j)``, shape ``(..., N, d)``, with KeOps."""
    xi, yj = _pair(x, y)
    c = _lazy_coefficient(kernel, _distance(xi, yj))
    out = (c * _wj(w) * (xi - yj)).sum(dim=x.dim() - 1)
    if kernel.spec.extra is not None:
        out = out + kernel.spec.extra(x, y, w)[1]
    return out
