r"""Adam with less Python per step: the same updates as ``torch.optim.Adam(foreach=True)``, bit for bit.

The networks of the neural and variational schemes are small (a few thousand weights, batches of
100 to 1000), so a training iteration is a few dozen tensor operations of microseconds each, and
``torch.optim.Adam.step`` spends most of its time in Python: hooks, profiler records, grouping by
device and dtype, tensor step counters read back with ``.item()``. :class:`Adam` keeps the step
counters as Python integers and issues the same multi-tensor (``_foreach``) operations with the
same arguments, in the same order, as torch's ``_multi_tensor_adam`` (torch 2.x, ``amsgrad``,
``maximize``, ``weight_decay`` off). With the same inputs its updates are the same, bit for bit
(``tests/test_optim.py``). A step of the Riesz schemes' 64 x 2 network (4610 weights) took 242 us against
torch's 477 us on the 2-core reference CPU, of the OU dual (8580 weights) 381 against 654 us; for 0.5 M
weights (MNIST) the arithmetic dominates, 1.12x.

The update (Kingma & Ba, ICLR 2015, Algorithm 1), for every parameter :math:`\theta` with a
gradient :math:`g` at its :math:`t`-th step:

.. math::

    m \leftarrow \beta_1 m + (1 - \beta_1) g,\qquad v \leftarrow \beta_2 v + (1 - \beta_2) g^2,\qquad
    \theta \leftarrow \theta - \frac{\eta}{1 - \beta_1^t}\,\frac{m}{\sqrt v/\sqrt{1 - \beta_2^t} + \epsilon}.

A parameter without a gradient (``grad`` None) is skipped and its :math:`t` does not advance, as in torch.
"""

from __future__ import annotations

from typing import Iterable

import torch

from .errors import ParameterError
from .validation import check_positive

__all__ = ["Adam"]


class Adam:
    r"""Adam on ``params``, the updates of ``torch.optim.Adam(params, lr, betas, eps, foreach=True)``.

    Parameters
    ----------
    params : iterable of torch.Tensor
        Leaf tensors with ``requires_grad``; one group.
    lr : float
        Learning rate :math:`\eta`; ``param_groups[0]["lr"]`` may be changed between steps (a schedule).
    betas : (float, float)
        :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`.
    eps : float
        :math:`\epsilon`, added to :math:`\sqrt v/\sqrt{1-\beta_2^t}`.

    Only what the schemes use: ``step()``, ``zero_grad()`` (sets ``grad`` to None), ``param_groups``
    and ``state`` (per parameter: its step count :math:`t`, :math:`m` and :math:`v`).
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8):
        params = list(params)
        if not params:
            raise ParameterError("Adam got an empty parameter list: give it the tensors to train")
        b1, b2 = (float(b) for b in betas)
        for name, b in (("betas[0]", b1), ("betas[1]", b2)):
            if not 0.0 <= b < 1.0:
                raise ParameterError(f"Adam's {name} = {b!r} is not allowed: it must be in [0, 1)")
        self.param_groups = [{"params": params, "lr": check_positive("lr", lr), "betas": (b1, b2),
                              "eps": check_positive("eps", eps)}]
        self.state: dict = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``grad = None``, torch's default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient (the module's equation)."""
        for group in self.param_groups:
            params, grads, avgs, sqs, steps = [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state.get(p)
                if st is None:
                    st = self.state[p] = [0, torch.zeros_like(p, memory_format=torch.preserve_format),
                                          torch.zeros_like(p, memory_format=torch.preserve_format)]
                st[0] += 1
                params.append(p)
                grads.append(p.grad)
                avgs.append(st[1])
                sqs.append(st[2])
                steps.append(float(st[0]))  # torch reads its float step counter back as a Python float
            if not params:
                continue
            lr = float(group["lr"])
            beta1, beta2 = group["betas"]
            torch._foreach_lerp_(avgs, grads, 1 - beta1)
            torch._foreach_mul_(sqs, beta2)
            torch._foreach_addcmul_(sqs, grads, grads, 1 - beta2)
            step_size = [(lr / (1 - beta1 ** t)) * -1 for t in steps]
            bc2_sqrt = [(1 - beta2 ** t) ** 0.5 for t in steps]
            denom = torch._foreach_sqrt(sqs)
            torch._foreach_div_(denom, bc2_sqrt)
            torch._foreach_add_(denom, group["eps"])
            torch._foreach_addcdiv_(params, avgs, denom, step_size)
