r"""The backends of the compute-heavy operations: one vocabulary, one rule, one registry.

Every function of the library with a ``backend`` parameter takes one of :data:`BACKENDS`, checked by
:func:`check_backend`, and passes it down unchanged; only this package decides what runs.

* ``"torch"``: the torch code (the blocked loops of :mod:`wgf_core.kernels`; for the IFT iteration and the
  neural schemes' training step, the caller's own torch path).
* ``"numba"``: compiled CPU code: the fused kernel sums (:mod:`~wgf_core.backends.numba_sums`), the fused IFT
  iteration (:mod:`~wgf_core.backends.numba_ift`), the training step of a small MLP
  (:mod:`~wgf_core.backends.numba_mlp`). CPU tensors in float32/float64, autograd not recording.
* ``"keops"``: pykeops LazyTensors (:mod:`~wgf_core.backends.keops`; the kernel sums only, where pykeops is
  installed).
* ``"auto"`` (the default everywhere): :func:`resolve`'s rule, numba where it applies and is worth its
  call (CPU, float32/float64, no autograd, the operation's size within :data:`AUTO_RANGE`), else torch. When
  the rule picks a compiled backend that cannot be imported, it runs torch and says so once, as a ``logging``
  INFO line of the logger ``wgf_core.backends``.

:data:`REGISTRY` maps each operation to its implementations. What ran is recorded: :func:`chosen` gives the
last choice per operation, and :func:`recording` collects the choices made inside a ``with`` block (the runner
stores them in each run's :attr:`~wgf_core.runner.Trajectory.extra` under ``"backends"``).

The compiled code restates some torch formulas (profiles, the simplex projection, Adam, the MLP); each is
held equal to its torch definition in float64 by the tests (``tests/test_backends.py``,
``tests/test_backends_numba_sums.py``, ``tests/test_backends_numba_mlp.py``), and the profiles' constants come from the
functions of :mod:`wgf_core.kernels`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from typing import Callable, Optional

import torch

from ..errors import ParameterError
from ..kernels import (
    MAX_BLOCK,
    Kernel,
    broadcast_batch,
    torch_kernel_grad_sum,
    torch_kernel_sum,
    torch_witness_sums,
    uniform_weights,
)
from ..validation import check_choice
from . import keops as _keops
from . import numba_ift, numba_mlp, numba_sums

__all__ = [
    "BACKENDS",
    "AUTO_RANGE",
    "AUTO_MIN_PAIRS",
    "IFT_AUTO_MAX_DIM",
    "REGISTRY",
    "check_backend",
    "refuse_inapplicable",
    "resolve",
    "used",
    "AUTO_ENV",
    "implementation",
    "chosen",
    "recording",
    "kernel_sum",
    "kernel_grad_sum",
    "witness_sums",
]

#: The one vocabulary of the ``backend`` parameters.
BACKENDS = ("auto", "torch", "numba", "keops")

# backend="auto" takes numba for the kernel sums from this many pairs (batch x N x M) on. Measured (gauss, d = 2,
# float32, 1 thread, this project's 2-core CPU; best of repeated calls, us, torch / numba): value 135 / 138 at
# 1024 pairs, 143 / 141 at 2025, 157 / 144 at 4096, 584 / 238 at 65536; value + gradient and gradient alone:
# numba faster from 256 pairs on (209 / 144). Each call of numba costs ~140 us, a call of torch ~120 us.
AUTO_MIN_PAIRS = 2**12
#: Largest dimension at which ``backend="auto"`` takes the fused IFT iteration (measured 3.2x faster at d = 2;
#: the compiled loop is per coordinate: at d = 100, n = m = 100 it took 1.3x the generic path's time).
IFT_AUTO_MAX_DIM = 8

#: Operation -> (smallest, largest) size at which ``"auto"`` takes numba. Sizes: pairs for the kernel sums,
#: the dimension for the IFT iteration, unused (0) for the MLP training step.
AUTO_RANGE = {
    "kernel_sum": (AUTO_MIN_PAIRS, math.inf),
    "kernel_grad_sum": (AUTO_MIN_PAIRS, math.inf),
    "witness_sums": (AUTO_MIN_PAIRS, math.inf),
    "ift_pgd_gauss": (0, IFT_AUTO_MAX_DIM),
    "mlp_train": (0, math.inf),
}

_LOG = logging.getLogger(__name__)
_NOTICED: set = set()
_LAST: dict = {}
_RECORDS: list = []
#: Every backend that ran, per operation, since the process started (:func:`used`).
_USED: dict = {}
#: The environment variable that makes ``"auto"`` resolve to torch everywhere (the fast-versus-generic comparison).
AUTO_ENV = "WGF_AUTO_BACKEND"
_AVAILABLE = {"numba": lambda: numba_sums.available(), "keops": lambda: _keops.available()}  # looked up at each call
_FLOATS = (torch.float32, torch.float64)


# -- the implementations: one signature per operation ----------------------------------------------------------
def _torch_sum(kernel, x, y, w, *, block_size=None):
    return torch_kernel_sum(kernel, x, y, w, block_size=block_size)


def _numba_sum(kernel, x, y, w, *, block_size=None):
    return numba_sums.numba_kernel_sum(kernel, x, y, w)


def _keops_sum(kernel, x, y, w, *, block_size=None):
    return _keops.keops_kernel_sum(kernel, x, y, w)


def _torch_grad(kernel, x, y, w, *, block_size=None, with_value=False):
    return torch_kernel_grad_sum(kernel, x, y, w, block_size=block_size, with_value=with_value)


def _numba_grad(kernel, x, y, w, *, block_size=None, with_value=False):
    return numba_sums.numba_kernel_grad_sum(kernel, x, y, w, with_value=with_value)


def _keops_grad(kernel, x, y, w, *, block_size=None, with_value=False):
    g = _keops.keops_kernel_grad_sum(kernel, x, y, w)
    return (_keops.keops_kernel_sum(kernel, x, y, w), g) if with_value else g


def _fused_witness(name):
    def witness(kernel, z, pts, v, *, with_grad=True, max_block=MAX_BLOCK, block_size=None):
        if not with_grad:
            return REGISTRY["kernel_sum"][name](kernel, z, pts, v), None
        return REGISTRY["kernel_grad_sum"][name](kernel, z, pts, v, with_value=True)

    return witness


#: Operation -> backend -> implementation. ``None``: the caller's own torch path (the IFT iteration and the
#: MLP training step are written in torch by their schemes, :class:`~wgf_core.schemes.IFT` and
#: :class:`~wgf_core.schemes.NeuralBackward`).
REGISTRY: dict[str, dict[str, Optional[Callable]]] = {
    "kernel_sum": {"torch": _torch_sum, "numba": _numba_sum, "keops": _keops_sum},
    "kernel_grad_sum": {"torch": _torch_grad, "numba": _numba_grad, "keops": _keops_grad},
    "witness_sums": {"torch": torch_witness_sums, "numba": _fused_witness("numba"), "keops": _fused_witness("keops")},
    "ift_pgd_gauss": {"torch": None, "numba": numba_ift.ift_pgd_gauss},
    "mlp_train": {"torch": None, "numba": numba_mlp.NumbaMLP},
}


# -- the vocabulary and the rule -------------------------------------------------------------------------------
def check_backend(backend, operation: Optional[str] = None) -> str:
    """``backend`` if it is one of :data:`BACKENDS` (and, with ``operation``, ``"auto"`` or a backend with an
    implementation of it in :data:`REGISTRY`), else a :class:`~wgf_core.errors.ParameterError` naming it."""
    check_choice("backend", backend, BACKENDS)
    if operation is not None and backend != "auto" and backend not in REGISTRY[operation]:
        raise ParameterError(f"parameter 'backend' = {backend!r} is not allowed for {operation}: one of "
                             + ", ".join(map(repr, ("auto", *REGISTRY[operation]))))
    return backend


def refuse_inapplicable(backend: str, operation: str, applicable: bool, reason: str) -> None:
    """Refuse a compiled backend named for a case its implementation of ``operation`` does not cover
    (``applicable`` False), with a :class:`~wgf_core.errors.ParameterError` ``parameter 'backend' = ... <reason>``;
    ``"auto"`` and ``"torch"`` always pass."""
    check_backend(backend, operation)
    if backend not in ("auto", "torch") and not applicable:
        raise ParameterError(f"parameter 'backend' = {backend!r} {reason}")


def _device_type(device) -> str:
    return device if isinstance(device, str) else device.type


def _check_numba(device: str, dtype, grad: bool) -> None:
    """Refuse ``backend="numba"`` where the compiled code cannot run (the reason and what to use instead)."""
    if device != "cpu":
        raise ParameterError(f"parameter 'backend' = 'numba' runs on CPU tensors only, got a tensor on {device}: "
                             "use backend='torch' (or 'auto') there")
    if grad:
        raise ParameterError("parameter 'backend' = 'numba' does not record autograd, and autograd is recording "
                             "through the inputs: use backend='torch', or torch.no_grad() / detach()")
    if dtype not in _FLOATS:
        raise ParameterError(f"parameter 'backend' = 'numba' supports float32 and float64 tensors, not {dtype}")


def resolve(operation: str, device, dtype, size, *, grad: bool = False, backend: str = "auto",
            applicable: bool = True) -> str:
    r"""The backend that runs ``operation``: ``backend`` itself, or for ``"auto"`` the one rule.

    Parameters
    ----------
    operation : str
        A key of :data:`REGISTRY`.
    device, dtype
        Of the operation's tensors (a ``torch.device`` or its type name; a ``torch.dtype``).
    size : int
        The operation's size (see :data:`AUTO_RANGE`).
    grad : bool
        Whether autograd records through the inputs.
    backend : str
        One of :data:`BACKENDS` (checked).
    applicable : bool
        Whether the compiled implementation covers this case (the IFT iteration: Gaussian kernel, PGD weight
        step, a target; the MLP step: an activation of :data:`~wgf_core.backends.numba_mlp.ACTIVATIONS`).
        False: torch, for ``"auto"`` and ``"numba"`` alike.

    Returns
    -------
    str
        ``"auto"``: ``"numba"`` on CPU tensors in float32/float64 without autograd, where ``applicable`` and
        ``size`` lies in :data:`AUTO_RANGE` and numba can be imported (else torch, with a one-time INFO line
        when numba is missing); ``"torch"``. An explicit backend: itself, refused with a
        :class:`~wgf_core.errors.ParameterError` naming ``backend`` where it has no implementation of
        ``operation`` or cannot take the tensors (``"numba"`` off the CPU, with autograd, in another dtype).
    """
    check_backend(backend, operation)
    dev = _device_type(device)
    if backend == "auto" and _auto_is_torch():
        name = "torch"
    elif backend == "auto":
        lo, hi = AUTO_RANGE[operation]
        name = "torch"
        if applicable and dev == "cpu" and dtype in _FLOATS and not grad and lo <= size <= hi:
            name = "numba"
            if not _AVAILABLE[name]():
                if (operation, name) not in _NOTICED:
                    _NOTICED.add((operation, name))
                    _LOG.info("backend='auto': %s is not installed, %s runs with torch", name, operation)
                name = "torch"
    elif not applicable:
        name = "torch"
    else:
        if backend == "numba":
            _check_numba(dev, dtype, grad)
        name = backend
    _LAST[operation] = name
    _USED.setdefault(operation, set()).add(name)
    for rec in _RECORDS:
        names = rec.setdefault(operation, [])
        if name not in names:
            names.append(name)
    return name


def implementation(operation: str, backend: str, device, dtype, size, *, grad: bool = False,
                   applicable: bool = True) -> Optional[Callable]:
    """``REGISTRY[operation][resolve(...)]``: the implementation that runs (None: the caller's torch path)."""
    return REGISTRY[operation][resolve(operation, device, dtype, size, grad=grad, backend=backend,
                                       applicable=applicable)]


def _auto_is_torch() -> bool:
    """Whether :data:`AUTO_ENV` is ``"torch"`` (unset or ``"auto"``: the rule); another value is refused."""
    value = os.environ.get(AUTO_ENV, "auto")
    if value not in ("auto", "torch"):
        raise ParameterError(f"parameter {AUTO_ENV!r} = {value!r} is not allowed: 'auto' (the rule) or 'torch' "
                             "(every 'auto' runs the torch code)")
    return value == "torch"


def used() -> dict:
    """Every backend that ran since the process started: operation -> sorted names (a notebook's record holds it)."""
    return {op: sorted(names) for op, names in sorted(_USED.items())}


def chosen() -> dict:
    """The backend of the last call of each operation, ``{operation: name}`` (a copy)."""
    return dict(_LAST)


@contextlib.contextmanager
def recording():
    """Collect the backends chosen inside the ``with`` block: yields ``{operation: [names, in order of first use]}``."""
    rec: dict = {}
    _RECORDS.append(rec)
    try:
        yield rec
    finally:
        _RECORDS.remove(rec)


# -- the public kernel sums ------------------------------------------------------------------------------------
def _grad(*ts) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in ts)


def _pairs(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> int:
    return math.prod(broadcast_batch(x.shape[:-2], y.shape[:-2], w.shape[:-1])) * x.shape[-2] * y.shape[-2]


def kernel_sum(kernel: Kernel, x: torch.Tensor, y: torch.Tensor, w: Optional[torch.Tensor] = None, *,
               block_size: Optional[int] = None, backend: str = "auto") -> torch.Tensor:
    r"""Kernel sums :math:`s_i = \sum_j w_j k(x_i, y_j)`, shape ``(..., N)``.

    Parameters
    ----------
    kernel : Kernel
    x : Tensor, shape ``(..., N, d)``
    y : Tensor, shape ``(..., M, d)``
    w : Tensor, shape ``(..., M)``, optional
        Weights; uniform ``1/M`` if omitted. Batch shapes of ``x``, ``y``, ``w`` broadcast.
    block_size : int, optional
        Rows of ``x`` per block of the torch loop (:func:`wgf_core.kernels.torch_kernel_sum`).
    backend : {"auto", "torch", "numba", "keops"}
        ``"auto"``: numba on CPU tensors without autograd from :data:`AUTO_MIN_PAIRS` pairs on, else torch
        (:func:`resolve`). ``"torch"``: the blocked loop (differentiable). ``"numba"``: one fused pass over the
        pairs (:mod:`~wgf_core.backends.numba_sums`). ``"keops"``: pykeops.
    """
    w = uniform_weights(y) if w is None else w
    name = resolve("kernel_sum", x.device, x.dtype, _pairs(x, y, w), grad=_grad(x, y, w), backend=backend)
    return REGISTRY["kernel_sum"][name](kernel, x, y, w, block_size=block_size)


def kernel_grad_sum(kernel: Kernel, x: torch.Tensor, y: torch.Tensor, w: Optional[torch.Tensor] = None, *,
                    block_size: Optional[int] = None, backend: str = "auto", with_value: bool = False):
    r"""Gradient sums :math:`g_i = \sum_j w_j \nabla_1 k(x_i, y_j)`, shape ``(..., N, d)``.

    Parameters as in :func:`kernel_sum`; ``with_value``: also return the kernel sums, computed from the same
    distances (numba: in the same pass over the pairs), as a pair ``(sums (..., N), grads (..., N, d))``.
    """
    w = uniform_weights(y) if w is None else w
    name = resolve("kernel_grad_sum", x.device, x.dtype, _pairs(x, y, w), grad=_grad(x, y, w), backend=backend)
    return REGISTRY["kernel_grad_sum"][name](kernel, x, y, w, block_size=block_size, with_value=with_value)


def witness_sums(kernel: Kernel, z: torch.Tensor, pts: torch.Tensor, v: torch.Tensor, *, with_grad: bool = True,
                 max_block: int = MAX_BLOCK, block_size: Optional[int] = None, backend: str = "auto"):
    r"""Signed kernel sums :math:`h_i = \sum_j v_j k(z_i, p_j)` and, with ``with_grad``, their gradients in ``z``.

    The sums of :func:`wgf_core.metrics.mmd_witness_terms` (``pts = [x; y]``, ``v = c [w^x, -w^y]``). torch:
    :func:`wgf_core.kernels.torch_witness_sums` (``max_block``, ``block_size``); numba and keops: their kernel
    sums with the value. ``backend`` as in :func:`kernel_sum`. Returns ``(h (..., P), g (..., P, d) or None)``.
    """
    name = resolve("witness_sums", z.device, z.dtype, _pairs(z, pts, v), grad=_grad(z, pts, v), backend=backend)
    return REGISTRY["witness_sums"][name](kernel, z, pts, v, with_grad=with_grad, max_block=max_block,
                                          block_size=block_size)
