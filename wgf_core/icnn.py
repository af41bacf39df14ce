r"""Strongly convex input-convex neural networks (ICNN) and densities by change of variables.

Fan, Zhang, Taghvaei, Chen (ICML 2022), Sec. 3.4-3.5: when densities are needed, the JKO map is
:math:`T = \nabla\varphi` with :math:`\varphi` a strongly convex ICNN (Amos et al. 2017). Then

* the inverse map is :math:`T^{-1}(y) = \arg\max_x \langle x, y\rangle - \varphi(x)` (eq. 14), a
  strongly convex problem solved here by damped Newton steps (:meth:`StronglyConvexICNN.inverse`);
* densities follow from the change of variables (eq. 15)

  .. math::

      \log P_k(x_k) = \log P_0(x_0) - \sum_{i=1}^k \log\det \nabla^2\varphi_i(x_{i-1}),
      \qquad x_{i-1} = (\nabla\varphi_i)^{-1}(x_i),

  :func:`pushforward_log_density`.

Architecture (shapes for a batch ``(B, d)``):

.. math::

    z_1 = \sigma(A_0 x + b_0), \quad z_{l+1} = \sigma(W_l z_l + A_l x + b_l), \quad
    \varphi(x) = w^\top z_L + c^\top x + \tfrac12(\mathrm{softplus}(s) + \alpha)|x|^2,

with :math:`W_l \ge 0`, :math:`w \ge 0` (kept non-negative by :meth:`StronglyConvexICNN.clamp_weights`
after each optimiser step), :math:`\sigma` = softplus (convex, non-decreasing, smooth so the Hessian
exists), and :math:`\alpha > 0` the guaranteed strong-convexity modulus. At initialisation
:math:`w = 0, c = 0, \mathrm{softplus}(s) + \alpha = 1`, so :math:`\nabla\varphi` is the identity.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .validation import check_int, check_positive


class StronglyConvexICNN(nn.Module):
    """Strongly convex ICNN :math:`\\varphi: R^d \\to R`; its gradient is the transport map.

    Parameters
    ----------
    dim : input dimension ``d``. width, depth : hidden widths / number of hidden layers (>= 1).
    strong_convexity : the modulus :math:`\\alpha` added to the learnable quadratic term.
    """

    def __init__(self, dim: int, width: int = 16, depth: int = 3, strong_convexity: float = 1e-2,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.dim = check_int("dim", dim)
        depth = check_int("depth", depth)
        self.alpha = check_positive("strong_convexity", strong_convexity)
        self.A = nn.ModuleList([nn.Linear(dim, width) for _ in range(depth)])
        self.W = nn.ModuleList([nn.Linear(width, width, bias=False) for _ in range(depth - 1)])
        self.reset_parameters(generator)
        self.w = nn.Parameter(torch.zeros(width))
        self.c = nn.Parameter(torch.zeros(dim))
        # softplus(s) + alpha = 1 at init
        self.s = nn.Parameter(torch.tensor(math.log(math.expm1(1.0 - self.alpha))))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        r"""The non-negative weights ``W`` :math:`\sim U(0, 1/\text{width})`. With ``generator``, every linear
        layer is first redrawn from it (:func:`wgf_core.networks.init_linear_`) and ``W`` is drawn from it
        too; without, from the global generator (the other layers keep their construction draws)."""
        if generator is not None:
            from .networks import init_linear_

            init_linear_(self, generator)
        with torch.no_grad():
            for W in self.W:
                W.weight.uniform_(0.0, 1.0 / W.weight.shape[1], generator=generator)

    def clamp_weights(self) -> None:
        """Project the weights that must be non-negative back onto ``[0, inf)`` (in place)."""
        with torch.no_grad():
            for W in self.W:
                W.weight.clamp_(min=0.0)
            self.w.clamp_(min=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\varphi(x)`: ``(..., d) -> (...)``."""
        z = F.softplus(self.A[0](x))
        for A, W in zip(self.A[1:], self.W):
            z = F.softplus(W(z) + A(x))
        quad = 0.5 * (F.softplus(self.s) + self.alpha) * (x * x).sum(-1)
        return z @ self.w + x @ self.c + quad

    def grad_map(self, x: torch.Tensor, create_graph: Optional[bool] = None) -> torch.Tensor:
        """:math:`T(x) = \\nabla\\varphi(x)`, ``(..., d) -> (..., d)``.

        ``create_graph`` defaults to ``torch.is_grad_enabled()`` (needed to train through ``T``).
        """
        create_graph = torch.is_grad_enabled() if create_graph is None else create_graph
        with torch.enable_grad():
            xg = x if (x.requires_grad and create_graph) else x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self(xg).sum(), xg, create_graph=create_graph)
        return g

    def hessian(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\nabla^2\\varphi(x)`, ``(B, d) -> (B, d, d)`` (``d`` backward passes; no graph kept)."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            g = self.grad_map(xg, create_graph=True)
            rows = [torch.autograd.grad(g[..., i].sum(), xg, retain_graph=i < self.dim - 1)[0]
                    for i in range(self.dim)]
        H = torch.stack(rows, dim=-2)
        return 0.5 * (H + H.transpose(-1, -2))

    def log_det_hessian(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\log\\det\\nabla^2\\varphi(x)`, ``(B, d) -> (B,)``."""
        return torch.linalg.slogdet(self.hessian(x))[1]

    def inverse(self, y: torch.Tensor, *, tol: float = 1e-6, max_iter: int = 100) -> torch.Tensor:
        """:math:`(\\nabla\\varphi)^{-1}(y) = \\arg\\min_x \\varphi(x) - \\langle x, y\\rangle` (eq. 14), ``(B, d)``.

        Damped Newton steps with per-point backtracking on the (separable, strongly convex)
        objective, started at ``x = y``; stops when every residual ``|grad phi(x) - y|`` < ``tol``.
        """
        y = y.detach()
        x = y.clone()

        def objective(z):
            with torch.no_grad():
                return self(z) - (z * y).sum(-1)

        for _ in range(max_iter):
            r = self.grad_map(x, create_graph=False) - y
            if float(r.norm(dim=-1).max()) < tol:
                break
            H = self.hessian(x)
            step = torch.linalg.solve(H, r.unsqueeze(-1)).squeeze(-1)
            f0 = objective(x)
            t = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
            for _ls in range(30):
                xn = x - t.unsqueeze(-1) * step
                bad = objective(xn) > f0 - 1e-4 * t * (r * step).sum(-1) + 1e-7 * f0.abs()
                if not bool(bad.any()):
                    break
                t = torch.where(bad, 0.5 * t, t)
            x = (x - t.unsqueeze(-1) * step).detach()
        return x


def pushforward_log_density(maps: Sequence[StronglyConvexICNN], log_p0: Callable[[torch.Tensor], torch.Tensor],
                            y: torch.Tensor, *, tol: float = 1e-6, max_iter: int = 100) -> torch.Tensor:
    """:math:`\\log P_k(y)` for :math:`P_k = (\\nabla\\varphi_k \\circ\\dots\\circ\\nabla\\varphi_1)_\\sharp P_0` (eq. 15).

    Parameters
    ----------
    maps : the ICNNs ``phi_1 .. phi_k`` in the order they were applied.
    log_p0 : ``(B, d) -> (B,)`` log-density of ``P_0``.
    y : ``(B, d)`` evaluation points.

    Returns
    -------
    ``(B,)`` log-densities.
    """
    x = y.detach()
    total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for phi in reversed(list(maps)):
        x = phi.inverse(x, tol=tol, max_iter=max_iter)
        total = total - phi.log_det_hessian(x).detach()
    return log_p0(x) + total
