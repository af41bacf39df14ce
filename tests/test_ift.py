import numpy as np
import pytest
import torch

from wgf_core import gaussian_targets as gt
from wgf_core.diagnostics import FlowDivergedError
from wgf_core.energies import MMD
from wgf_core.fista import project_simplex, solve_simplex_qp
from wgf_core.flows import ift
from wgf_core.gmm import GaussianMixture
from wgf_core.kernels import get_kernel
from wgf_core.measures import Particles
from wgf_core.metrics import mmd2
from wgf_core.random import standard_normal_like, stream
from wgf_core.runner import Trajectory, run
from wgf_core.schemes import IFT, Euler, ift_weight_qp
from wgf_core.validation import ParameterError

F64 = torch.float64


def _gen(member=0, device="cpu"):
    return stream(0, "tests/ift", member, device)


def _reference_projection(v: np.ndarray) -> np.ndarray:
    """Projection onto the simplex by bisection on the threshold theta (independent method)."""
    lo, hi = v.min() - 1.0, v.max()
    for _ in range(200):
        th = 0.5 * (lo + hi)
        if np.maximum(v - th, 0).sum() > 1:
            lo = th
        else:
            hi = th
    return np.maximum(v - 0.5 * (lo + hi), 0)


def test_project_simplex_matches_bisection(device):
    v = torch.randn(5, 4, 17, generator=_gen(0, device), dtype=F64, device=device) * 3
    p = project_simplex(v)
    assert torch.allclose(p.sum(-1), torch.ones(5, 4, dtype=F64, device=device))
    assert bool((p >= 0).all())
    ref = np.stack([_reference_projection(row) for row in v.reshape(-1, 17).cpu().numpy()])
    np.testing.assert_allclose(p.reshape(-1, 17).cpu().numpy(), ref, atol=1e-10)
    assert torch.allclose(project_simplex(p), p)  # idempotent on the simplex


def _random_qp(batch, n, seed, device="cpu"):
    g = _gen(seed, device)
    m = torch.randn(batch, n, n, generator=g, dtype=F64, device=device)
    A = m @ m.transpose(-1, -2) / n + 0.1 * torch.eye(n, dtype=F64, device=device)
    c = torch.randn(batch, n, generator=g, dtype=F64, device=device)
    return A, c


def test_simplex_qp_against_scipy_and_kkt(device):
    scipy_opt = pytest.importorskip("scipy.optimize")
    A, c = _random_qp(3, 6, 1, device)
    beta, info = solve_simplex_qp(A, c, tol=1e-12, max_iter=20000)
    assert bool((info["gap"] <= 1e-10).all())
    for b in range(3):
        An, cn = A[b].cpu().numpy(), c[b].cpu().numpy()
        res = scipy_opt.minimize(lambda z: 0.5 * z @ An @ z - cn @ z, np.full(6, 1 / 6), jac=lambda z: An @ z - cn,
                                 method="SLSQP", bounds=[(0, None)] * 6,
                                 constraints=[{"type": "eq", "fun": lambda z: z.sum() - 1}],
                                 options={"ftol": 1e-14, "maxiter": 1000})
        np.testing.assert_allclose(beta[b].cpu().numpy(), res.x, atol=1e-5)
        # KKT: gradient equals a multiplier lam on the support and is >= lam off it
        grad = An @ beta[b].cpu().numpy() - cn
        supp = beta[b].cpu().numpy() > 1e-9
        lam = grad[supp].mean()
        np.testing.assert_allclose(grad[supp], lam, atol=1e-6)
        assert np.all(grad[~supp] >= lam - 1e-6)


def test_simplex_qp_brute_force_small():
    # n = 3: minimise on a fine grid of the simplex
    A, c = _random_qp(1, 3, 7)
    beta, _ = solve_simplex_qp(A, c, tol=1e-12, max_iter=20000)
    t = np.linspace(0, 1, 401)
    a, b = np.meshgrid(t, t)
    keep = a + b <= 1
    Z = np.stack([a[keep], b[keep], 1 - a[keep] - b[keep]], 1)
    An, cn = A[0].numpy(), c[0].numpy()
    q = 0.5 * np.einsum("ni,ij,nj->n", Z, An, Z) - Z @ cn
    qb = 0.5 * beta[0].numpy() @ An @ beta[0].numpy() - cn @ beta[0].numpy()
    assert qb <= q.min() + 1e-12


def test_ift_weight_qp_is_objective_23():
    """q(beta) - q(beta') equals J(beta) - J(beta') with J the objective of eq. (23)."""
    k = get_kernel("gauss", 2.0)
    g = _gen(2)
    x, y = torch.randn(2, 7, 2, generator=g, dtype=F64), torch.randn(2, 9, 2, generator=g, dtype=F64)
    alpha = project_simplex(torch.rand(2, 7, generator=g, dtype=F64))
    eta, c_f = 0.3, 0.5
    A, c = ift_weight_qp(k, x, alpha, y, eta=eta, scale=c_f)

    def J(b):
        return c_f * mmd2(k, x, y, b) + mmd2(k, x, x, b, alpha) / (2 * eta)

    def q(b):
        return 0.5 * (b * (A @ b.unsqueeze(-1)).squeeze(-1)).sum(-1) - (c * b).sum(-1)

    b1 = project_simplex(torch.randn(2, 7, generator=g, dtype=F64))
    b2 = project_simplex(torch.randn(2, 7, generator=g, dtype=F64))
    assert torch.allclose(q(b1) - q(b2), J(b1) - J(b2), atol=1e-10)
    # the exact MMD step does not increase J, and the PGD step's gradient is the first variation
    beta, _ = solve_simplex_qp(A, c, alpha, tol=1e-12, max_iter=20000)
    assert bool((J(beta) <= J(alpha) + 1e-12).all())
    h, _ = MMD(k, y, c_f).first_variation(Particles(x, alpha), x, with_grad=False)
    grad_q = (A @ alpha.unsqueeze(-1)).squeeze(-1) - c
    assert torch.allclose(grad_q, h, atol=1e-10)


@pytest.mark.parametrize("kernel_name,param", [("gauss", 3.0), ("imq", 1.0), ("matern2", 2.0)])
@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_first_variation_matches_autograd(kernel_name, param, scale, device):
    k = get_kernel(kernel_name, param)
    g = _gen(3, device)
    x = torch.randn(2, 6, 3, generator=g, dtype=F64, device=device).requires_grad_(True)
    y = torch.randn(2, 8, 3, generator=g, dtype=F64, device=device)
    w = project_simplex(torch.rand(2, 6, generator=g, dtype=F64, device=device)).requires_grad_(True)
    F = scale * mmd2(k, x, y, w)
    gx, gw = torch.autograd.grad(F.sum(), (x, w))
    h, gr = MMD(k, y, scale).first_variation(Particles(x.detach(), w.detach()), x.detach())
    # dF/dw_i = dF/dmu(x_i);  dF/dx_i = w_i grad dF/dmu(x_i)
    assert torch.allclose(h, gw, atol=1e-10)
    assert torch.allclose(w.detach().unsqueeze(-1) * gr, gx, atol=1e-10)


def test_first_variation_row_blocks_equal_one_block():
    k = get_kernel("gauss", 2.0)
    g = _gen(9)
    x, y = torch.randn(3, 11, 4, generator=g, dtype=F64), torch.randn(3, 7, 4, generator=g, dtype=F64)
    w = project_simplex(torch.rand(3, 11, generator=g, dtype=F64))
    h1, g1 = MMD(k, y).first_variation(Particles(x, w), x)
    h2, g2 = MMD(k, y, max_block=100).first_variation(Particles(x, w), x)  # 100 // (3 * 18) = 1 row per block
    assert torch.allclose(h1, h2) and torch.allclose(g1, g2)


def test_mmd_flow_decreases_energy_and_batch_equals_loop():
    init, tgt = gt.gaussian_2d_init(), gt.gaussian_2d_target()
    kw = dict(n=20, steps=40, sigma=2.0, tau=1.0, log_every=1, show_progress=False)
    batched = ift.run_experiment("mmd", init, tgt, runs=3, seed=5, **kw)
    assert batched.metrics["mmd2"].shape == (3, 41)
    assert bool(np.all(np.diff(batched.metrics["mmd2"], axis=1) <= 1e-12))
    for r in range(3):
        alone = ift.run_experiment("mmd", init, tgt, members=[r], seed=5, **kw)
        np.testing.assert_allclose(alone.metrics["mmd2"][0], batched.metrics["mmd2"][r], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("method", ["ift", "ift_qp", "wfr"])
def test_weighted_schemes_keep_weights_on_simplex_and_count_two_steps(method):
    init, tgt = gt.gaussian_2d_init(), gt.mixture_2d_target()
    res = ift.run_experiment(method, init, tgt, n=15, runs=2, steps=20, sigma=3.0, tau=2.0, eta=0.1,
                             log_every=2, snapshot_every=4, show_progress=False)
    assert res.iterations == 10 and list(res.steps) == list(range(0, 21, 2))
    assert res.x_snapshots.shape == (6, 2, 15, 2) and list(res.snapshot_steps) == [0, 4, 8, 12, 16, 20]
    assert torch.allclose(res.w.sum(-1), torch.ones(2, dtype=F64))
    assert bool((res.w >= 0).all())
    assert res.metrics["mmd2"][:, -1].mean() < res.metrics["mmd2"][:, 0].mean()


def test_ift_weight_step_moves_mass_to_the_target():
    """Particles split between the target mode and a far cluster: the weight steps move the far
    cluster's mass to the near one (not all of it: with few particles some far mass lowers the
    near particles' self-interaction, so the minimiser over the simplex keeps a few per cent), decreasing F,
    and converge to the minimiser of F over the simplex (checked with the QP solver)."""
    k = get_kernel("gauss", 1.0)
    g = _gen(4)
    y = torch.randn(1, 50, 2, generator=g, dtype=F64)
    x = torch.cat([torch.randn(1, 10, 2, generator=g, dtype=F64), 8 + 0.1 * torch.randn(1, 10, 2, generator=g, dtype=F64)], 1)
    w = torch.full((1, 20), 0.05, dtype=F64)
    scheme = IFT(0.05, "pgd")  # PGD is stable for eta < 2 / lambda_max(K)
    energy = MMD(k, y)
    F = [float(mmd2(k, x, y, w))]
    for _ in range(2000):
        mu = scheme.step(energy, Particles(x, w), 1e-6, 0)
        x, w = mu.x, mu.w
        F.append(float(mmd2(k, x, y, w)))
    assert float(w[0, 10:].sum()) < 0.2
    assert np.all(np.diff(F) <= 1e-12)
    kxx = k(x, x)
    best, _ = solve_simplex_qp(kxx, (k(x, y)).mean(-1), tol=1e-12, max_iter=50000)
    assert F[-1] <= float(mmd2(k, x, y, best)) + 1e-5


def test_noise_switched_off_equals_vanilla():
    init, tgt = gt.gaussian_2d_init(), gt.gaussian_2d_target()
    kw = dict(n=10, runs=2, steps=10, sigma=2.0, tau=1.0, show_progress=False)
    a = ift.run_experiment("mmd", init, tgt, **kw)
    b = ift.run_experiment("mmd_noise", init, tgt, noise=5.0, noise_off=0, **kw)
    c = ift.run_experiment("mmd_noise", init, tgt, noise=5.0, noise_off=None, **kw)
    assert torch.allclose(a.x, b.x)
    assert not torch.allclose(a.x, c.x)


def test_conventions():
    conv = ift.Convention("sigma2", "1/n", "full", "fresh")
    k = conv.kernel(10.0)
    x, y = torch.zeros(1, 2), torch.tensor([[3.0, 4.0]])
    assert torch.allclose(k(x, y), torch.tensor([[np.exp(-25 / 100)]], dtype=torch.float32))
    assert torch.allclose(ift.Convention().kernel(10.0)(x, y), torch.tensor([[np.exp(-25 / 200)]], dtype=torch.float32))
    assert conv.step(50, 100) == 0.5 and ift.Convention().step(50, 100) == 50
    assert conv.energy_scale == 1.0 and ift.Convention().energy_scale == 0.5
    assert len(ift.convention_grid()) == 16 and len(set(ift.convention_grid())) == 16
    fields = ("bandwidth", "step_scale", "energy", "target")
    for base in (ift.Convention(), conv):
        near = ift.convention_neighbours(base)
        assert near[0] == base and len(set(near)) == 5 and set(near) <= set(ift.convention_grid())
        assert all(sum(getattr(c, f) != getattr(base, f) for f in fields) == 1 for c in near[1:])
    res = ift.run_experiment("mmd", gt.gaussian_2d_init(), gt.gaussian_2d_target(), n=10, runs=2, steps=5,
                             sigma=3.0, tau=1.0, convention=conv, show_progress=False)
    assert np.isfinite(res.metrics["mmd2"]).all()


def test_nan_stops_with_step_number():
    k = get_kernel("gauss", 1.0)
    x0 = torch.randn(2, 5, 2, dtype=F64)
    x0[1, 2, 0] = float("nan")
    with pytest.raises(FlowDivergedError, match="step 1"):
        run(MMD(k, torch.randn(2, 5, 2, dtype=F64)), Euler(), x0, 0.1, 5, show_progress=False)


def test_make_scheme_runs_ift_fused_by_default():
    # the experiments' IFT takes the fused iteration (tested above against the generic path); "torch" keeps it off
    assert ift.make_scheme("ift").backend == "auto" and ift.make_scheme("ift", backend="torch").backend == "torch"
    k = get_kernel("gauss", 1.0)
    for d, fused in ((2, True), (IFT.AUTO_MAX_DIM, True), (IFT.AUTO_MAX_DIM + 1, False)):
        mu = Particles(torch.randn(1, 5, d, dtype=F64))
        assert ift.make_scheme("ift").fused(MMD(k, torch.randn(1, 4, d, dtype=F64)), mu) is fused
    with pytest.raises(ParameterError, match="backend"):
        ift.make_scheme("ift", backend="cuda")


def test_bad_parameters():
    with pytest.raises(ParameterError, match="method"):
        ift.make_scheme("sgd")
    with pytest.raises(ParameterError, match="noise"):
        Euler(noise=-1.0)
    with pytest.raises(ParameterError, match="eta"):
        IFT(0.0)
    with pytest.raises(ParameterError, match="tau"):
        run(MMD(get_kernel("gauss", 1.0), torch.zeros(1, 3, 2)), Euler(), torch.zeros(1, 3, 2), -1.0, 2)
    with pytest.raises(ParameterError, match="bandwidth"):
        ift.Convention(bandwidth="sigma")
    with pytest.raises(ParameterError, match="'n'"):
        ift.run_experiment("mmd", gt.gaussian_2d_init(), gt.gaussian_2d_target(), n=0, runs=1, steps=1, sigma=1,
                           tau=1)


def test_stuck_mass():
    tgt = gt.gaussian_2d_target(dtype=F64)
    x = torch.tensor([[[0.0, 0.0], [10.0, 10.0], [20.0, 0.0]]], dtype=F64)
    w = torch.tensor([[0.5, 0.5, 0.0]], dtype=F64)
    mass, count = ift.stuck_mass(x, w, tgt)
    assert float(mass[0]) == pytest.approx(0.5) and int(count[0]) == 1
    assert ift.far_from_target(x, tgt).tolist() == [[False, True, True]]


def test_far_from_target_threshold_is_mahalanobis():
    # target N(0, diag(1, 4)): (0, 7.9) is at Mahalanobis distance 3.95, (0, 8.1) at 4.05
    tgt = GaussianMixture(torch.zeros(1, 2, dtype=F64), torch.diag(torch.tensor([1.0, 4.0], dtype=F64))[None],
                          torch.ones(1, dtype=F64))
    x = torch.tensor([[[0.0, 7.9], [0.0, 8.1], [4.1, 0.0], [3.9, 0.0]]], dtype=F64)
    assert ift.far_from_target(x, tgt, threshold=4.0).tolist() == [[False, True, True, False]]
    with pytest.raises(ParameterError, match="threshold"):
        ift.far_from_target(x, tgt, threshold=0.0)


def _result(mmd2_rows, steps, x, w):
    """A Trajectory with given logs and final state (for the measurement functions)."""
    return Trajectory(np.asarray(steps), np.asarray(steps, dtype=float), {"mmd2": np.asarray(mmd2_rows, dtype=float)},
                      np.zeros(0, dtype=int), np.zeros(0), np.zeros(0), np.zeros(0), Particles(x, w), 0.0,
                      int(steps[-1]))


def test_run_measurements_per_run():
    """Measurement only (the claims' thresholds live in wgf_core.claims.ift): per run, final MMD²,
    MMD² before the noise switch-off and at an early step, and the stuck-particle numbers."""
    tgt = gt.gaussian_2d_target(dtype=F64)
    near, far = [0.0, 0.0], [20.0, 0.0]
    x = torch.tensor([[near, far, far], [near, near, far]], dtype=F64)
    w_van = torch.full((2, 3), 1 / 3, dtype=F64)
    w_ift = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.4 - 1e-9, 1e-9]], dtype=F64)
    steps = [0, 50, 100, 150]
    res = {"mmd": _result([[4, 3, 2, 1], [8, 6, 4, 2]], steps, x, w_van),
           "ift": _result([[4, 1, 0.5, 0.25], [8, 2, 1, 0.5]], steps, x, w_ift)}
    out = ift.run_measurements(res, target=tgt, noise_off=100, early_step=60)
    assert len(out) == 2
    assert out[0]["mmd_final"] == pytest.approx(1) and out[1]["ift_final"] == pytest.approx(0.5)
    assert out[0]["mmd_before_off"] == pytest.approx(3) and out[1]["ift_before_off"] == pytest.approx(2)  # step 99 -> log 50
    assert out[0]["ift_early"] == pytest.approx(1) and out[1]["mmd_early"] == pytest.approx(6)  # step 60 -> log 50
    assert (out[0]["mmd_far_count"], out[0]["mmd_stuck_count"]) == (2, 2)
    assert out[0]["mmd_stuck_mass"] == pytest.approx(2 / 3)
    assert (out[0]["ift_far_count"], out[0]["ift_stuck_count"], out[0]["ift_stuck_mass"]) == (2, 0, 0.0)
    assert (out[1]["ift_far_count"], out[1]["ift_stuck_count"]) == (1, 0)  # 1e-9 < 1e-3 / 3: vanished
    assert out[1]["ift_stuck_mass"] == pytest.approx(1e-9)
    assert all(o["n"] == 3 for o in out)
    assert isinstance(out[0]["mmd_far_count"], int) and isinstance(out[0]["mmd_final"], float)
    bare = ift.run_measurements(res)
    assert set(bare[0]) == {"mmd_final", "ift_final", "n"}
    with pytest.raises(ParameterError, match="runs"):
        ift.run_measurements({"mmd": res["mmd"], "one": _result([[1, 1, 1, 1]], steps, x[:1], w_van[:1])})


def test_batch_equals_alone_with_noise_and_fresh_targets():
    """Run r of a batch is the ensemble member members[r]: alone it gives the same numbers, also for the
    in-loop draws (noise injection, fresh target samples); one generator for the whole batch would make
    row r depend on the number of runs."""
    init, tgt = gt.gaussian_2d_init(), gt.mixture_2d_target()
    conv = ift.Convention(target="fresh")
    kw = dict(n=12, steps=30, sigma=3.0, tau=2.0, eta=0.1, noise=1.0, noise_off=20, convention=conv, log_every=2,
              show_progress=False)
    members = [7, 8, 11]
    for method in ("mmd_noise", "ift", "wfr"):
        batched = ift.run_experiment(method, init, tgt, members=members, seed=2, **kw)
        for r, s in enumerate(members):
            alone = ift.run_experiment(method, init, tgt, members=[s], seed=2, **kw)
            np.testing.assert_allclose(alone.metrics["mmd2"][0], batched.metrics["mmd2"][r], rtol=1e-10, atol=1e-14)
            assert torch.allclose(alone.x[0], batched.x[r], rtol=1e-10, atol=1e-12)


def test_run_members_and_streams():
    assert ift.run_members(3) == [0, 1, 2]
    assert ift.run_members(members=[3, 1]) == [3, 1]
    assert ift.run_members(2, [4, 9]) == [4, 9]
    for bad in (dict(runs=None), dict(members=[]), dict(members=[1, 1]), dict(runs=3, members=[1, 2])):
        with pytest.raises(ParameterError):
            ift.run_members(**{"runs": None, **bad})
    kw = dict(n=5, steps=2, sigma=2.0, tau=1.0, show_progress=False)
    init, tgt = gt.gaussian_2d_init(), gt.gaussian_2d_target()
    a = ift.run_experiment("mmd", init, tgt, runs=2, seed=3, **kw)
    b = ift.run_experiment("mmd", init, tgt, members=[0, 1], seed=3, **kw)
    np.testing.assert_allclose(a.metrics["mmd2"], b.metrics["mmd2"], rtol=1e-12)
    assert a.extra["members"] == [0, 1]
    g = stream(3, "ift/run/sample", 1)  # member 1: its initial particles, then its target sample
    init.to("cpu", F64).sample(5, g)
    assert torch.equal(a.extra["y"][1], tgt.to("cpu", F64).sample(5, g))
    # the streams of another base seed or another purpose give other runs
    c = ift.run_experiment("mmd", init, tgt, runs=2, seed=4, **kw)
    d = ift.run_experiment("mmd", init, tgt, runs=2, seed=3, purpose="other", **kw)
    assert not np.allclose(a.metrics["mmd2"], c.metrics["mmd2"]) and not np.allclose(a.metrics["mmd2"],
                                                                                     d.metrics["mmd2"])


def test_fresh_target_sampler_equals_mixture_sample_per_run():
    tgt = gt.mixture_2d_target(dtype=F64)
    sampler = ift.fresh_target_sampler(tgt, 9)
    out = sampler([_gen(1), _gen(2)])
    assert out.shape == (2, 9, 2)
    for r, s in enumerate((1, 2)):
        assert torch.allclose(out[r], tgt.sample(9, _gen(s)), atol=1e-12)


def test_standard_normal_like_per_run_generators():
    x = torch.zeros(3, 4, 2, dtype=F64)
    z = standard_normal_like(x, [_gen(0), _gen(1), _gen(2)])
    assert torch.allclose(z[1], torch.randn(4, 2, generator=_gen(1), dtype=F64))
    with pytest.raises(ParameterError, match="one generator per run"):
        standard_normal_like(x, [_gen(0)])


def test_noise_floors_and_distance_to_law_per_member():
    tgt = gt.gaussian_2d_target()
    k = get_kernel("gauss", 100.0)
    floors = ift.target_noise_floors(tgt, k, 50, seed=0, members=[0, 1], repeats=3)
    assert len(floors) == 2 and floors[0] != pytest.approx(floors[1]) and all(f > 0 for f in floors)
    assert ift.target_noise_floors(tgt, k, 50, seed=0, members=[1], repeats=3)[0] == pytest.approx(floors[1],
                                                                                                  rel=1e-12)
    res = ift.run_experiment("mmd", gt.gaussian_2d_init(), tgt, n=10, runs=2, steps=4, sigma=10.0, tau=50.0,
                             show_progress=False)
    law = ift.mmd2_to_law(res, k, tgt, members=[0, 1], size=200)
    assert len(law) == 2 and all(v > 0 for v in law)
    with pytest.raises(ParameterError, match="members"):
        ift.mmd2_to_law(res, k, tgt, members=[0], size=200)


def test_expected_noise_floor_is_the_mean_two_sample_mmd2():
    """2(E k(y, y) - E k(y, y'))/n against the mean of many sampled two-sample MMD²s (V-statistic)."""
    from wgf_core.metrics import mmd2_noise_floor

    tgt = gt.mixture_2d_target()
    k = get_kernel("gauss", 1.0)
    est = ift.expected_noise_floor(tgt, k, 20, points=500, batches=10)
    assert est["self"] == pytest.approx(1.0) and 0 < est["kappa"] < 1 and est["kappa_se"] < 0.01
    sampled = mmd2_noise_floor(k, lambda m, g: tgt.sample(m, g), 20, repeats=2000, generator=_gen(5))
    assert est["floor"] == pytest.approx(sampled, rel=0.05)
    assert ift.expected_noise_floor(tgt, k, 20, points=500, batches=10) == est


def test_noise_floor_positive():
    tgt = gt.gaussian_2d_target()
    nf = ift.target_noise_floor(tgt, get_kernel("gauss", 100.0), 100, repeats=5, seed=1, member=2)
    assert 0 < nf < 0.01



def _gauss_ift_problem(runs=2, n=40, m=30, dtype=torch.float64):
    g = _gen(11)
    x = torch.randn(runs, n, 2, generator=g, dtype=dtype)
    y = torch.randn(runs, m, 2, generator=g, dtype=dtype) + 2.0
    w = project_simplex(torch.rand(runs, n, generator=g, dtype=dtype))
    return x, w, y

def test_mmd_value_reuses_the_target_term():
    """MMD.value / MMD.mmd2 compute the target's self term once and keep it; the value is the same
    number as mmd2 computed from scratch (exactness is the property: the same call, kept), and a fresh
    target (with_target) gets its own term."""
    x, w, y = _gauss_ift_problem()
    energy = MMD(get_kernel("gauss", 2.0), y, 0.5)
    mu = Particles(x, w)
    v1 = energy.value(mu)
    assert any(k[0] == "target_term" for k in energy._cache)
    assert torch.equal(v1, 0.5 * mmd2(energy.kernel, x, y, w))
    assert torch.equal(energy.mmd2(mu), mmd2(energy.kernel, x, y, w))
    y2 = y + 1.0
    e2 = energy.with_target(y2)
    assert torch.allclose(e2.value(mu), 0.5 * mmd2(energy.kernel, x, y2, w), rtol=1e-12)
    assert not torch.allclose(e2.value(mu), v1, rtol=1e-3)
    log = ift.mmd2_logger(y)
    assert torch.equal(log(mu, energy), mmd2(energy.kernel, x, y, w))


def test_ift_fused_numba_iteration_follows_the_generic_path():
    """IFT(backend="numba"): the fused iteration (one compiled call) follows the generic scheme over 100
    iterations on a weighted, per-run problem to round-off in float64 and to float32 precision in float32;
    energies it does not cover (another kernel, the QP weight step) take the generic path."""
    pytest.importorskip("numba")
    x, w, y = _gauss_ift_problem(runs=3)
    energy = MMD(get_kernel("gauss", 3.0), y, 0.5)
    a = run(energy, IFT(0.1), Particles(x, w), 0.5, 200, log_every=100, show_progress=False)
    b = run(energy, IFT(0.1, backend="numba"), Particles(x, w), 0.5, 200, log_every=100, show_progress=False)
    assert float((a.x - x).abs().max()) > 1e-2   # the particles moved: not a comparison of two starts
    torch.testing.assert_close(b.x, a.x, rtol=0, atol=1e-11)
    torch.testing.assert_close(b.w, a.w, rtol=0, atol=1e-12)
    assert torch.allclose(b.w.sum(-1), torch.ones(3, dtype=b.w.dtype)) and bool((b.w >= 0).all())
    e32 = MMD(get_kernel("gauss", 3.0), y.float(), 0.5)
    c = run(e32, IFT(0.1, backend="numba"), Particles(x.float(), w.float()), 0.5, 200, log_every=100,
            show_progress=False)
    assert c.x.dtype == torch.float32
    torch.testing.assert_close(c.x.double(), a.x, rtol=0, atol=1e-4)
    mu = Particles(x, w)
    fused = IFT(0.1, backend="numba")
    assert fused.fused(energy, mu)
    assert not fused.fused(MMD(get_kernel("imq", 1.0), y, 0.5), mu)
    assert not IFT(0.1, "qp", backend="numba").fused(energy, mu) and not IFT(0.1, backend="torch").fused(energy, mu)
    with pytest.raises(ParameterError, match="backend"):
        IFT(0.1, backend="keops")
