"""Moreau-envelope solver (primal = dual, KKT, envelope gradient) and the flow for every option."""


import numpy as np
import pytest
import torch

from wgf_core.divergences import ENTROPIES, get_entropy
from wgf_core.flows.mmd_fdiv import (
    LINE_SEARCHES,
    MoreauProblem,
    envelope_along,
    lambda_schedule,
    moreau_envelope,
    primal_value,
    run_mmd_fdiv_flow,
    solve_moreau,
    witness_grad,
)
from wgf_core.kernels import KERNELS, get_kernel, kernel_matrix
from wgf_core.targets import TARGETS, target_and_prior
from wgf_core.validation import ParameterError

D = torch.float64


def _problem(name, alpha=None, M=15, N=12, lambd=0.05, tight=False, seed=0, x=None, y=None):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(M, 2, generator=g, dtype=D) * 0.5 + 0.6 if y is None else y
    x = torch.randn(N, 2, generator=g, dtype=D) * 0.3 if x is None else x
    k = get_kernel("imq", 0.5)
    z = torch.cat([y, x])
    K = kernel_matrix(k, z, z)
    return MoreauProblem.from_full(K, M, N, get_entropy(name, alpha), lambd, tight), k, x, y


SOLVER_CASES = [("kl", None), ("tsallis", 2.0), ("tsallis", 0.5), ("tsallis", 3.0), ("jeffreys", None),
                ("chi", 1.5), ("burg", None), ("jensen_shannon", None), ("tv", None),
                ("lindsay", 0.5), ("equality_indicator", None), ("matusita", 0.5), ("perimeter", 0.5)]


@pytest.mark.parametrize("name,alpha", SOLVER_CASES, ids=[f"{n}-{a}" for n, a in SOLVER_CASES])
def test_primal_equals_dual_at_optimum(name, alpha):
    prob, *_ = _problem(name, alpha)
    sol = solve_moreau(prob, tol=1e-6, max_iter=20000, check_every=10)
    assert sol.dual <= sol.primal + 1e-12  # weak duality
    assert sol.gap < 1e-5 + 1e-12, (sol.primal, sol.dual, sol.gap)
    assert bool((sol.w >= 0).all())


def test_zero_recession_weak_duality_only():
    """f'_inf = 0 (Marton): scaling h into {h <= 0} gives only the trivial bound D = 0 (known limit)."""
    prob, *_ = _problem("marton")
    sol = solve_moreau(prob, tol=1e-7, max_iter=3000)
    assert sol.dual <= sol.primal + 1e-12 and sol.primal > 0


def test_matches_independent_scipy_minimiser():
    scipy_opt = pytest.importorskip("scipy.optimize")
    for name in ("tsallis", "kl"):
        prob, *_ = _problem(name, 2.0 if name == "tsallis" else None)
        sol = solve_moreau(prob, tol=1e-9, max_iter=50000)

        def fun(v):
            t = torch.tensor(v, dtype=D, requires_grad=True)
            val = primal_value(prob, t)
            (gr,) = torch.autograd.grad(val, t)
            return float(val.detach()), gr.numpy()

        res = scipy_opt.minimize(fun, np.full(prob.M, 1.0 / prob.M), jac=True, method="L-BFGS-B",
                                 bounds=[(1e-12, None)] * prob.M, options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000})
        assert abs(res.fun - sol.primal) <= 1e-6 * abs(sol.primal)


def test_kkt_conditions_tsallis2():
    prob, *_ = _problem("tsallis", 2.0)
    sol = solve_moreau(prob, tol=1e-10, max_iter=50000)
    e, M = prob.entropy, prob.M
    q, hY = sol.w[:M], sol.h[:M]
    pos = q > 1e-6
    torch.testing.assert_close(e.df(M * q[pos]), hY[pos], rtol=1e-4, atol=1e-4)
    assert bool((hY[~pos] <= e.df0 + 1e-4).all())


def test_kkt_singular_part_finite_recession():
    """f'_inf = 1 (tv): h <= f'_inf on the particles, with equality where sigma has singular mass.

    The particles sit far from the target (k(x, y) ~ 0.06), so without singular mass the witness on
    them would be about m_mu(x_i) / lambda >> 1 = f'_inf: the singular part must be active, and the
    equality check always runs (it used to be skipped when no weight exceeded 1e-6)."""
    g = torch.Generator().manual_seed(0)
    y = torch.randn(15, 2, generator=g, dtype=D) * 0.3
    x = torch.randn(12, 2, generator=g, dtype=D) * 0.3 + 4.0
    prob, *_ = _problem("tv", None, lambd=0.01, x=x, y=y)
    sol = solve_moreau(prob, tol=1e-8, max_iter=100000)
    hX, p = sol.h[prob.M:], sol.w[prob.M:]
    assert float(hX.max()) <= 1.0 + 1e-2  # h <= f'_inf on the particles
    active = p > 1e-6
    assert int(active.sum()) >= prob.N // 2, p  # the singular part is used (the check below runs)
    torch.testing.assert_close(hX[active], torch.ones_like(hX[active]), rtol=0, atol=2e-2)


@pytest.mark.parametrize("name", ["tsallis", "kl", "tv"])
def test_witness_gradient_is_envelope_gradient(name):
    """d/dx_i D^lambda(mu) = (1/N) grad h*(x_i) (envelope theorem) vs autograd at fixed w*."""
    prob, k, x, y = _problem(name)
    sol = solve_moreau(prob, tol=1e-10, max_iter=100000)
    N, M = prob.N, prob.M
    xr = x.clone().requires_grad_(True)
    atoms = torch.cat([y, x])[: sol.w.shape[0]]  # sigma's atoms stay fixed (envelope theorem)
    u = torch.full((N,), 1.0 / N, dtype=D)
    quad = sol.w @ kernel_matrix(k, atoms, atoms) @ sol.w - 2 * sol.w @ kernel_matrix(k, atoms, xr) @ u \
        + u @ kernel_matrix(k, xr, xr) @ u
    (g_auto,) = torch.autograd.grad(quad / (2 * prob.lambd), xr)
    coef_x = torch.full((N,), 1.0 / (N * prob.lambd), dtype=D)
    if prob.singular:
        coef_x = coef_x - sol.w[M:] / prob.lambd
    coef = torch.cat([-sol.w[:M] / prob.lambd, coef_x])
    g = witness_grad(k, x, torch.cat([y, x]), coef) / N
    torch.testing.assert_close(g, g_auto, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("line_search", LINE_SEARCHES)
@pytest.mark.parametrize("name", ["tsallis", "kl", "tv"])
def test_tight_variant_is_probability_and_closes_gap(line_search, name):
    prob, *_ = _problem(name, tight=True)
    if line_search == "const" or name == "tv":  # fixed step / non-smooth f: no convergence rate; weak duality and mass only
        sol = solve_moreau(prob, tol=1e-4, max_iter=300, line_search=line_search, eta0=0.01)
        assert sol.dual <= sol.primal + 1e-10
        assert abs(float(sol.w.sum()) - 1) < 1e-10
        return
    sol = solve_moreau(prob, tol=1e-4, max_iter=5000, line_search=line_search, eta0=0.5)
    assert abs(float(sol.w.sum()) - 1) < 1e-10
    assert sol.dual <= sol.primal + 1e-10
    assert sol.gap < 1e-3, sol.gap
    # the tight optimum is above the non-tight one (a constrained minimum)
    loose = solve_moreau(_problem(name)[0], tol=1e-8, max_iter=50000)
    assert sol.primal >= loose.primal - 1e-8


def test_lambda_schedule():
    lam = lambda_schedule(0.01, 60, annealing=True, factor=10.0, stages=2)
    assert lam[0] == pytest.approx(1.0) and lam[-1] == pytest.approx(0.01)
    assert np.all(np.diff(lam) <= 0)
    assert np.all(lambda_schedule(0.01, 5, annealing=False) == 0.01)  # exact: no annealing returns lambd itself


def _tiny_flow(**kw):
    x0, y = target_and_prior(kw.pop("target", "bananas"), 10, 12, seed=1)
    args = dict(kernel="imq", s=0.1, divergence="tsallis", lambd=0.05, step_size=1e-3, n_steps=3,
                show_progress=False, max_inner=60)
    args.update(kw)
    r = run_mmd_fdiv_flow(x0, y, **args)
    assert np.isfinite(r.snapshots).all() and np.isfinite(r.functional).all() and np.isfinite(r.mmd2).all()
    return r


@pytest.mark.parametrize("kernel", [k for k in KERNELS if k != "riesz"])  # riesz: not in the seed, not p.d.
def test_flow_every_kernel(kernel):
    _tiny_flow(kernel=kernel, s=(1.0 if kernel == "riesz" else None))


@pytest.mark.parametrize("name", list(ENTROPIES))
def test_flow_every_entropy(name):
    _tiny_flow(divergence=name)


@pytest.mark.parametrize("name", ["kl", "tv", "burg", "jensen_shannon"])
def test_flow_every_entropy_tight(name):
    _tiny_flow(divergence=name, tight=True)


@pytest.mark.parametrize("target", list(TARGETS))
def test_flow_every_target(target):
    _tiny_flow(target=target)


def test_flow_decreases_mmd_and_logs():
    x0, y = target_and_prior("GMM", 30, 30, seed=0, dtype=D)
    r = run_mmd_fdiv_flow(x0, y, kernel="imq", s=0.1, divergence="tsallis", lambd=0.01, step_size=1e-3,
                          n_steps=40, log_every=10, show_progress=False, compute_w2=True)
    assert r.mmd2[-1] < 0.5 * r.mmd2[0]
    assert r.w2[-1] < r.w2[0]
    assert np.all(r.gap <= 5e-4 + 1e-12)
    assert len(r.steps) == 5 and r.snapshots.shape[1:] == (30, 2)


def test_annealed_flow_runs():
    r = _tiny_flow(annealing=True, n_steps=6)
    assert r.lambdas[0] > r.lambdas[-1]


def test_parameter_errors():
    x0, y = target_and_prior("bananas", 5, 5)
    with pytest.raises(ParameterError, match="lambd"):
        run_mmd_fdiv_flow(x0, y, lambd=-1.0, show_progress=False)
    with pytest.raises(ParameterError, match="line_search"):
        run_mmd_fdiv_flow(x0, y, line_search="wolfe", show_progress=False)
    with pytest.raises(ParameterError, match="divergence"):
        run_mmd_fdiv_flow(x0, y, divergence="nope", show_progress=False)


def test_flow_step_matches_witness_gradient():
    """One flow step is x - tau grad h* with h* from an independently assembled Moreau problem
    (checks the flow's shared-distance gradient against kernels.kernel_grad_sum)."""
    x0, y = target_and_prior("bananas", 20, 25, seed=3, dtype=D)
    tau, lam = 1e-3, 0.05
    r = run_mmd_fdiv_flow(x0, y, kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=lam,
                          step_size=tau, n_steps=1, tol=1e-12, max_inner=200000, show_progress=False)
    k = get_kernel("imq", 0.1)
    z = torch.cat([y, x0])
    prob = MoreauProblem.from_full(kernel_matrix(k, z, z), 25, 20, get_entropy("tsallis", 2.0), lam)
    sol = solve_moreau(prob, tol=1e-12, max_iter=200000)
    coef = torch.cat([-sol.w[:25] / lam, torch.full((20,), 1.0 / (20 * lam), dtype=D)])
    torch.testing.assert_close(r.x_final, x0 - tau * witness_grad(k, x0, z, coef), rtol=1e-6, atol=1e-7)


def test_step_control_follows_the_flow():
    """At the reference lambda = 0.01 and tau = 0.01 plain Euler leaves the flow; the step-controlled
    run with the same tau stays close to a fine-step (tau / 50) Euler reference."""
    x0, y = target_and_prior("bananas", 40, 40, seed=0, dtype=D)
    args = dict(kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.01, show_progress=False,
                log_every=1000)
    fine = run_mmd_fdiv_flow(x0, y, step_size=2e-4, n_steps=250, **args)
    plain = run_mmd_fdiv_flow(x0, y, step_size=0.01, n_steps=5, **args)
    ctrl = run_mmd_fdiv_flow(x0, y, step_size=0.01, n_steps=5, error_tol=1e-3, **args)
    err_plain = float((plain.x_final - fine.x_final).norm(dim=1).max())
    err_ctrl = float((ctrl.x_final - fine.x_final).norm(dim=1).max())
    assert err_ctrl < 0.05 and err_plain > 4 * err_ctrl, (err_ctrl, err_plain)
    assert ctrl.substeps.shape == (5,) and ctrl.substeps.min() >= 1 and ctrl.substeps.sum() > 5
    assert plain.substeps.tolist() == [1] * 5 and plain.rejected == 0
    assert ctrl.times[-1] == pytest.approx(0.05)


def test_step_control_parameter_error():
    x0, y = target_and_prior("bananas", 5, 5)
    with pytest.raises(ParameterError, match="error_tol"):
        run_mmd_fdiv_flow(x0, y, error_tol=0.0, show_progress=False)


def test_moreau_envelope_matches_flow_log_and_certifies():
    """moreau_envelope at the flow's start reproduces the flow's logged functional (same problem),
    and its bounds bracket the value: dual <= primal, relative gap <= tol."""
    x0, y = target_and_prior("bananas", 20, 25, seed=2, dtype=D)
    args = dict(kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.05)
    r = run_mmd_fdiv_flow(x0, y, step_size=1e-3, n_steps=1, tol=1e-9, max_inner=100000, show_progress=False, **args)
    v = moreau_envelope(x0, y, tol=1e-9, max_iter=100000, **args)
    assert v.dual <= v.primal and v.gap <= 1e-9
    assert abs(v.primal - r.functional[0]) <= 1e-7 * abs(v.primal)
    assert abs(v.mmd2 - r.mmd2[0]) <= 1e-10 * abs(v.mmd2)


def test_tight_envelope_above_nontight_along_a_flow():
    """Along the flow (not only at t = 0): at the same particles the tight envelope (a constrained
    minimum) is never certifiably below the non-tight one, and sigma's mass is 1 exactly when tight."""
    x0, y = target_and_prior("bananas", 15, 15, seed=4, dtype=D)
    args = dict(kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.01)
    r = run_mmd_fdiv_flow(x0, y, step_size=1e-3, n_steps=20, snapshot_every=5, show_progress=False,
                          error_tol=3e-3, **args)
    assert r.snapshots.shape[0] == 5
    loose = envelope_along(r.snapshots, y, **args)
    tight = envelope_along(r.snapshots, y, tight=True, **args)
    assert np.all(tight["primal"] >= loose["dual"])
    assert np.all(np.abs(tight["sigma_mass"] - 1) < 1e-10)
    assert np.all(loose["dual"] <= loose["primal"]) and np.all(tight["dual"] <= tight["primal"])


def test_lambda_to_mmd_sandwich_tsallis2():
    """f = (x - 1)^2: (MMD^2/2) / (1 + ||T|| / (2 lambda)) <= lambda D^lambda <= MMD^2 / 2 (closed form),
    so lambda D^lambda -> MMD^2 / 2 as lambda -> inf."""
    x0, y = target_and_prior("bananas", 20, 20, seed=0, dtype=D)
    devs = []
    for lam in (0.01, 1.0, 100.0):
        v = moreau_envelope(x0, y, kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=lam,
                            tol=1e-10, max_iter=100000)
        half = 0.5 * v.mmd2
        assert lam * v.dual <= half * (1 + 1e-9)
        assert lam * v.primal >= half / (1 + v.op_norm / (2 * lam)) * (1 - 1e-9)
        devs.append(1 - lam * v.primal / half)
    assert devs[0] > devs[1] > devs[2] >= -1e-9


def test_moreau_envelope_parameter_errors():
    x0, y = target_and_prior("bananas", 5, 5)
    with pytest.raises(ParameterError, match="lambd"):
        moreau_envelope(x0, y, lambd=0.0)
    with pytest.raises(ParameterError, match="must be"):
        moreau_envelope(x0, y[:, :1])
