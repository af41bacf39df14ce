"""Moreau-envelope solver (primal = dual, KKT, envelope gradient), the energy MoreauFDivergence (its
gradient against finite differences of its value, its solver state), the step-controlled Euler scheme,
and the flow (wgf_core.experiments.mmd_fdiv.run_flow) for every option."""


import numpy as np
import pytest
import torch

from wgf_core.divergences import ENTROPIES, get_entropy
from wgf_core.energies import MMD, MoreauFDivergence
from wgf_core.experiments.mmd_fdiv import run_flow
from wgf_core.flows.mmd_fdiv import (
    LINE_SEARCHES,
    MoreauProblem,
    envelope_along,
    lambda_schedule,
    moreau_envelope,
    primal_value,
    solve_moreau,
    witness_grad,
)
from wgf_core.kernels import KERNELS, get_kernel, kernel_matrix
from wgf_core.measures import Particles
from wgf_core.random import stream
from wgf_core.runner import run
from wgf_core.schemes import Euler, StepControlledEuler
from wgf_core.targets import TARGETS, target_and_prior
from wgf_core.validation import ParameterError

D = torch.float64


def _problem(name, alpha=None, M=15, N=12, lambd=0.05, tight=False, seed=0, x=None, y=None):
    g = stream(seed, "tests/mmd_fdiv/problem")
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
    g = stream(0, "tests/mmd_fdiv/kkt_singular")
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
    r = run_flow(x0, y, **args)
    assert np.isfinite(r.x_snapshots).all() and np.isfinite(r.metrics["functional"]).all()
    assert np.isfinite(r.metrics["mmd2"]).all()
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
    r = run_flow(x0, y, kernel="imq", s=0.1, divergence="tsallis", lambd=0.01, step_size=1e-3,
                 n_steps=40, log_every=10, show_progress=False, compute_w2=True)
    mmd2, w2 = r.metrics["mmd2"][0], r.metrics["w2"][0]
    assert mmd2[-1] < 0.5 * mmd2[0]
    assert w2[-1] < w2[0]
    assert np.all(r.metrics["gap"] <= 5e-4 + 1e-12)
    assert len(r.steps) == 5 and r.x_snapshots.shape[1:] == (1, 30, 2)


def test_annealed_flow_runs():
    r = _tiny_flow(annealing=True, n_steps=6)
    assert r.metrics["lambda"][0, 0] > r.metrics["lambda"][0, -1]


def test_parameter_errors():
    x0, y = target_and_prior("bananas", 5, 5)
    with pytest.raises(ParameterError, match="lambd"):
        run_flow(x0, y, lambd=-1.0, show_progress=False)
    with pytest.raises(ParameterError, match="line_search"):
        run_flow(x0, y, line_search="wolfe", show_progress=False)
    with pytest.raises(ParameterError, match="divergence"):
        run_flow(x0, y, divergence="nope", show_progress=False)


def test_flow_step_matches_witness_gradient():
    """One flow step is x - tau grad h* with h* from an independently assembled Moreau problem
    (checks the flow's shared-distance gradient against kernels.kernel_grad_sum)."""
    x0, y = target_and_prior("bananas", 20, 25, seed=3, dtype=D)
    tau, lam = 1e-3, 0.05
    r = run_flow(x0, y, kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=lam,
                 step_size=tau, n_steps=1, tol=1e-12, max_inner=200000, show_progress=False)
    k = get_kernel("imq", 0.1)
    z = torch.cat([y, x0])
    prob = MoreauProblem.from_full(kernel_matrix(k, z, z), 25, 20, get_entropy("tsallis", 2.0), lam)
    sol = solve_moreau(prob, tol=1e-12, max_iter=200000)
    coef = torch.cat([-sol.w[:25] / lam, torch.full((20,), 1.0 / (20 * lam), dtype=D)])
    torch.testing.assert_close(r.x[0], x0 - tau * witness_grad(k, x0, z, coef), rtol=1e-6, atol=1e-7)


def test_step_control_follows_the_flow():
    """At the reference lambda = 0.01 and tau = 0.01 plain Euler leaves the flow; the step-controlled
    run with the same tau stays close to a fine-step (tau / 50) Euler reference."""
    x0, y = target_and_prior("bananas", 40, 40, seed=0, dtype=D)
    args = dict(kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.01, show_progress=False,
                log_every=1000)
    fine = run_flow(x0, y, step_size=2e-4, n_steps=250, **args)
    plain = run_flow(x0, y, step_size=0.01, n_steps=5, **args)
    ctrl = run_flow(x0, y, step_size=0.01, n_steps=5, error_tol=1e-3, **args)
    err_plain = float((plain.x - fine.x).norm(dim=-1).max())
    err_ctrl = float((ctrl.x - fine.x).norm(dim=-1).max())
    assert err_ctrl < 0.05 and err_plain > 4 * err_ctrl, (err_ctrl, err_plain)
    sub = ctrl.extra["substeps"]
    assert sub.shape == (5,) and sub.min() >= 1 and sub.sum() > 5
    assert plain.extra["substeps"].tolist() == [1] * 5 and plain.extra["rejected"] == 0
    assert ctrl.times[-1] == pytest.approx(0.05)


def test_step_control_parameter_error():
    x0, y = target_and_prior("bananas", 5, 5)
    with pytest.raises(ParameterError, match="error_tol"):
        run_flow(x0, y, error_tol=0.0, show_progress=False)


def test_moreau_envelope_matches_flow_log_and_certifies():
    """moreau_envelope at the flow's start reproduces the flow's logged functional (same problem),
    and its bounds bracket the value: dual <= primal, relative gap <= tol."""
    x0, y = target_and_prior("bananas", 20, 25, seed=2, dtype=D)
    args = dict(kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.05)
    r = run_flow(x0, y, step_size=1e-3, n_steps=1, tol=1e-9, max_inner=100000, show_progress=False, **args)
    v = moreau_envelope(x0, y, tol=1e-9, max_iter=100000, **args)
    assert v.dual <= v.primal and v.gap <= 1e-9
    assert abs(v.primal - r.metrics["functional"][0, 0]) <= 1e-7 * abs(v.primal)
    assert abs(v.mmd2 - r.metrics["mmd2"][0, 0]) <= 1e-10 * abs(v.mmd2)


def test_tight_envelope_above_nontight_along_a_flow():
    """Along the flow (not only at t = 0): at the same particles the tight envelope (a constrained
    minimum) is never certifiably below the non-tight one, and sigma's mass is 1 exactly when tight."""
    x0, y = target_and_prior("bananas", 15, 15, seed=4, dtype=D)
    args = dict(kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.01)
    r = run_flow(x0, y, step_size=1e-3, n_steps=20, snapshot_every=5, show_progress=False, error_tol=3e-3, **args)
    assert r.x_snapshots.shape[0] == 5
    loose = envelope_along(r.x_snapshots[:, 0], y, **args)
    tight = envelope_along(r.x_snapshots[:, 0], y, tight=True, **args)
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


# --- the energy MoreauFDivergence and the scheme StepControlledEuler --------------------------------------
def _energy(name="tsallis", alpha=2.0, M=8, N=6, lambd=0.05, tight=False, seed=0, **kw):
    g = stream(seed, "tests/mmd_fdiv/energy")
    y = torch.randn(M, 2, generator=g, dtype=D) * 0.5 + 0.6
    x = torch.randn(N, 2, generator=g, dtype=D) * 0.3
    e = MoreauFDivergence(get_kernel("imq", 0.5), get_entropy(name, alpha), lambd, tight, y, **kw)
    return e, Particles.of(x)


@pytest.mark.parametrize("name,alpha,tight", [("tsallis", 2.0, False), ("kl", None, False), ("tsallis", 2.0, True)])
def test_energy_gradient_is_value_gradient(name, alpha, tight):
    """Danskin: d/dx_i D^lambda(mu) = (1/N) grad h*(x_i) for mu = (1/N) sum delta_{x_i}; central finite
    differences of value (each solved to a relative gap 1e-13) against gradient, for two entropies and
    the tight variant (f'_inf = inf: sigma lives on the fixed target atoms)."""
    kw = dict(tol=1e-13, max_inner=200000, line_search="armijo")
    e, mu = _energy(name, alpha, tight=tight, **kw)
    g = e.gradient(mu)[0]
    N, h = mu.n, 1e-5
    fd = torch.zeros_like(g)
    for i in range(N):
        for j in range(2):
            xp, xm = mu.x.clone(), mu.x.clone()
            xp[0, i, j] += h
            xm[0, i, j] -= h
            vp = _energy(name, alpha, tight=tight, **kw)[0].value(Particles(xp))
            vm = _energy(name, alpha, tight=tight, **kw)[0].value(Particles(xm))
            fd[i, j] = float(vp - vm) / (2 * h)
    torch.testing.assert_close(g / N, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,alpha", [("tsallis", 2.0), ("tsallis", 0.5), ("kl", None)])
def test_first_variation_is_the_witness(name, alpha):
    """first_variation(mu, z) is h*: its z-gradient is autograd of its value, and at z = x it is gradient(mu)."""
    e, mu = _energy(name, alpha, tol=1e-10, max_inner=100000)
    h, g = e.first_variation(mu, mu.x)
    torch.testing.assert_close(g, e.gradient(mu), rtol=1e-10, atol=1e-12)
    z = (torch.randn(1, 5, 2, generator=stream(3, "tests/mmd_fdiv/probe"), dtype=D) * 0.5).requires_grad_(True)
    hz, gz = e.first_variation(mu, z)
    (auto,) = torch.autograd.grad(hz.sum(), z)
    torch.testing.assert_close(gz, auto, rtol=1e-10, atol=1e-12)
    # h* = (m_mu - m_sigma) / lambda from the solver's weights on the atoms (y, then x if f'_inf < inf)
    st = e.state(mu)
    y = e.target
    atoms = torch.cat([y, mu.x[0]])[: st.sol.w.shape[0]]
    k = e.kernel
    ref = (kernel_matrix(k, mu.x[0], mu.x[0]).mean(1) - kernel_matrix(k, mu.x[0], atoms) @ st.sol.w) / e.lambd
    torch.testing.assert_close(h[0], ref, rtol=1e-10, atol=1e-12)


def test_energy_schedule_and_warm_starts():
    """After j calls of next, value logs lambda_j and gradient steps with lambda_{j-1}; a new particle set is
    solved with the lambda of the step that made it, then re-solved at a switch; cached solves are reused."""
    e, mu0 = _energy(lambd=[1.0, 0.1, 0.01])
    assert e.state(mu0).lam == 1.0 and e.solves == 1
    e.next()
    g = e.gradient(mu0)
    assert e.solves == 1  # the log's solve serves the step
    mu1 = Particles(mu0.x - 1e-3 * g)
    assert e.state(mu1).lam == 0.1 and e.solves == 3  # x1 at lambda_0, then at lambda_1 from it
    e.next()
    e.gradient(mu1)
    assert e.solves == 3
    # the same with the log skipped: the next step's gradient does the two solves
    f, _ = _energy(lambd=[1.0, 0.1, 0.01])
    f.next()
    f.gradient(mu0)
    f.next()
    f.gradient(mu1)
    assert f.solves == 3 and f.anchor.lam == 0.1
    torch.testing.assert_close(f.gradient(mu1), e.gradient(mu1), rtol=0, atol=0)
    # beyond the schedule the last lambda holds
    for _ in range(5):
        e.next()
    assert e.lam_at(10) == 0.01 and e.lambd == 0.01


def test_trial_does_not_move_the_anchor():
    e, mu = _energy()
    e.next()
    g = e.gradient(mu)
    anchor = e.anchor
    trial = Particles(mu.x - 1e-2 * g)
    e.trial_gradient(trial)
    assert e.anchor is anchor
    with pytest.raises(ParameterError, match="last trial"):
        e.accept(mu)
    e.accept(trial)
    assert e.anchor is not anchor and torch.equal(e.anchor.x, trial.x[0])


def test_step_control_with_a_loose_tolerance_is_euler():
    """With an error bound no substep reaches, the step control takes one substep per step: the same
    particles as explicit Euler, bitwise (for the Moreau energy through trial / accept, for the MMD
    energy, which has no trial, through gradient)."""
    x0, y = target_and_prior("bananas", 12, 10, seed=5, dtype=D)
    args = dict(kernel="imq", s=0.1, divergence="tsallis", alpha=2.0, lambd=0.05, step_size=1e-3, n_steps=4,
                log_every=2, show_progress=False)
    a, b = run_flow(x0, y, **args), run_flow(x0, y, error_tol=1e6, **args)
    assert torch.equal(a.x, b.x) and all(np.array_equal(a.metrics[k], b.metrics[k]) for k in a.metrics)
    assert b.extra["substeps"].tolist() == [1] * 4 and b.extra["total_inner"] == a.extra["total_inner"]
    energy = MMD(get_kernel("gauss", 1.0), y)
    ra = run(energy, Euler(), Particles.of(x0), 0.1, 5, show_progress=False)
    rb = run(energy, StepControlledEuler(1e6), Particles.of(x0), 0.1, 5, show_progress=False)
    assert torch.equal(ra.x, rb.x)


def test_step_control_on_the_mmd_energy_follows_the_flow():
    """The scheme needs only a gradient: on the MMD energy with a large step it stays near a fine Euler run."""
    x0, y = target_and_prior("bananas", 20, 20, seed=1, dtype=D)
    energy = MMD(get_kernel("gauss", 0.5), y)
    fine = run(energy, Euler(), Particles.of(x0), 0.01, 200, show_progress=False)
    coarse = run(energy, Euler(), Particles.of(x0), 0.5, 4, show_progress=False)
    scheme = StepControlledEuler(1e-3)
    ctrl = run(energy, scheme, Particles.of(x0), 0.5, 4, show_progress=False)
    err_ctrl = float((ctrl.x - fine.x).norm(dim=-1).max())
    assert err_ctrl < 0.02 and float((coarse.x - fine.x).norm(dim=-1).max()) > 2 * err_ctrl
    assert sum(scheme.substeps) > 4


def test_energy_and_scheme_parameter_errors():
    y = torch.zeros(4, 2, dtype=D)
    k, f = get_kernel("imq", 0.1), get_entropy("kl")
    for kw, match in ((dict(lambd=0.0), "lambd"), (dict(lambd=[]), "lambd"), (dict(lambd=[0.1, -1.0]), "lambd"),
                      (dict(line_search="wolfe"), "line_search"), (dict(tol=0.0), "tol"),
                      (dict(max_inner=0), "max_inner"), (dict(tight="yes"), "tight")):
        args = dict(lambd=0.1)
        args.update(kw)
        with pytest.raises(ParameterError, match=match):
            MoreauFDivergence(k, f, target=y, **args)
    with pytest.raises(ParameterError, match="kernel"):
        MoreauFDivergence("imq", f, 0.1, target=y)
    with pytest.raises(ParameterError, match="entropy"):
        MoreauFDivergence(k, "kl", 0.1, target=y)
    with pytest.raises(ParameterError, match="target"):
        MoreauFDivergence(k, f, 0.1, target=torch.zeros(2, 4, 2))
    e = MoreauFDivergence(k, f, 0.1, target=y)
    with pytest.raises(ParameterError, match="runs = 1"):
        e.value(Particles(torch.zeros(2, 3, 2, dtype=D)))
    with pytest.raises(ParameterError, match="runs = 1"):
        e.gradient(Particles.of(torch.zeros(3, 2, dtype=D), torch.full((3,), 1 / 3, dtype=D)))
    with pytest.raises(ParameterError, match="error_tol"):
        StepControlledEuler(-1.0)
    with pytest.raises(ParameterError, match="max_substeps"):
        StepControlledEuler(1e-3, max_substeps=0)
