"""Accelerated projected gradient (FISTA with adaptive restart) for QPs on the probability simplex.

The one home of this solver: the IFT weight step (the QP (23) of Gladin et al. 2024) and any other
simplex-constrained quadratic use :func:`solve_simplex_qp`; :func:`project_simplex` is the
Euclidean projection onto the simplex.
"""

from __future__ import annotations

from typing import Optional

import torch

__all__ = ["project_simplex", "frank_wolfe_gap", "solve_simplex_qp"]


def project_simplex(v: torch.Tensor) -> torch.Tensor:
    r"""Euclidean projection onto the probability simplex along the last axis (sort-based).

    .. math::

        P_\Delta(v) = (v - \theta)_+,\quad \theta = \frac{\sum_{j\le\rho} u_j - 1}{\rho},\quad
        \rho = \max\{j : u_j - (\textstyle\sum_{k\le j} u_k - 1)/j > 0\},

    with :math:`u` the entries of :math:`v` sorted in decreasing order (Held, Wolfe, Crowder 1974;
    Duchi et al. 2008). Shape ``(..., n)`` to ``(..., n)``; :math:`O(n\log n)`, no Python loop.
    """
    n = v.shape[-1]
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = u.cumsum(-1) - 1.0
    k = torch.arange(1, n + 1, dtype=v.dtype, device=v.device)
    rho = (u - css / k > 0).sum(-1, keepdim=True)  # >= 1 always
    theta = css.gather(-1, rho - 1) / rho.to(v.dtype)
    return torch.clamp(v - theta, min=0.0)


def _qp_grad(A, c, b):
    return (A @ b.unsqueeze(-1)).squeeze(-1) - c


def frank_wolfe_gap(A, c, b) -> torch.Tensor:
    r"""Frank-Wolfe gap :math:`\nabla q(\beta)^\top\beta - \min_i \nabla q(\beta)_i \ge q(\beta) - q^*`
    of :math:`q(\beta) = \tfrac12\beta^\top A\beta - c^\top\beta` on the simplex; shape ``(...)``."""
    gr = _qp_grad(A, c, b)
    return (gr * b).sum(-1) - gr.min(-1).values


def solve_simplex_qp(A: torch.Tensor, c: torch.Tensor, x0: Optional[torch.Tensor] = None, *,
                     tol: float = 1e-7, max_iter: int = 1000, check_every: int = 10):
    r"""Solve :math:`\min_{\beta\in\Delta_n} \tfrac12\beta^\top A\beta - c^\top\beta` (A symmetric PSD),
    batched over leading dimensions, by accelerated projected gradient (FISTA) with adaptive restart.

    Iteration (Beck & Teboulle 2009; restart of O'Donoghue & Candès 2015):
    :math:`\beta^{k+1} = P_\Delta(z^k - \nabla q(z^k)/L)`,
    :math:`z^{k+1} = \beta^{k+1} + \frac{t_k - 1}{t_{k+1}}(\beta^{k+1} - \beta^k)`, momentum reset
    (:math:`t = 1`) where :math:`(z^k - \beta^{k+1})^\top(\beta^{k+1} - \beta^k) > 0`.
    :math:`1/L` with :math:`L = \min(\operatorname{tr} A, \max_i\sum_j|A_{ij}|) \ge \lambda_{\max}(A)`
    (cheap bounds, tight for the nearly rank-one Gram matrices of wide kernels). Stops when the Frank-Wolfe gap, an upper bound
    on :math:`q(\beta) - q^*`, is ``<= tol`` for every problem in the batch (checked every
    ``check_every`` iterations, the only host syncs), or after ``max_iter`` iterations.

    Parameters
    ----------
    A : Tensor ``(..., n, n)``; c : Tensor ``(..., n)``; x0 : Tensor ``(..., n)``, optional start
        (projected onto the simplex; uniform if omitted).

    Returns
    -------
    beta : Tensor ``(..., n)``, on the simplex.
    info : dict with ``iterations`` (int) and ``gap`` (Tensor ``(...)``, the final Frank-Wolfe gap).
    """
    n = c.shape[-1]
    beta = torch.full_like(c, 1.0 / n) if x0 is None else project_simplex(x0)
    # upper bounds on lambda_max(A) for a PSD A: the trace and the largest absolute row sum
    trace = torch.diagonal(A, dim1=-2, dim2=-1).sum(-1)
    L = torch.minimum(trace, A.abs().sum(-1).max(-1).values).clamp(min=torch.finfo(A.dtype).tiny)
    inv_l = (1.0 / L).unsqueeze(-1)
    z = beta.clone()
    t = torch.ones_like(L).unsqueeze(-1)
    it = 0
    gap = frank_wolfe_gap(A, c, beta)
    for it in range(1, max_iter + 1):
        new = project_simplex(z - inv_l * _qp_grad(A, c, z))
        restart = ((z - new) * (new - beta)).sum(-1, keepdim=True) > 0
        t_new = 0.5 * (1 + torch.sqrt(1 + 4 * t * t))
        mom = torch.where(restart, torch.zeros_like(t), (t - 1) / t_new)
        z = new + mom * (new - beta)
        t = torch.where(restart, torch.ones_like(t), t_new)
        beta = new
        if it % check_every == 0:
            gap = frank_wolfe_gap(A, c, beta)
            if bool((gap <= tol).all()):
                break
    gap = frank_wolfe_gap(A, c, beta)
    return beta, {"iterations": it, "gap": gap}
