import numpy as np
import pytest
import torch

from wgf_core import gaussian_targets as gt
from wgf_core.diagnostics import FlowDivergedError
from wgf_core.flows import ift
from wgf_core.kernels import get_kernel
from wgf_core.metrics import mmd2
from wgf_core.validation import ParameterError

F64 = torch.float64


def _gen(seed=0, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


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
    p = ift.project_simplex(v)
    assert torch.allclose(p.sum(-1), torch.ones(5, 4, dtype=F64, device=device))
    assert bool((p >= 0).all())
    ref = np.stack([_reference_projection(row) for row in v.reshape(-1, 17).cpu().numpy()])
    np.testing.assert_allclose(p.reshape(-1, 17).cpu().numpy(), ref, atol=1e-10)
    assert torch.allclose(ift.project_simplex(p), p)  # idempotent on the simplex


def _random_qp(batch, n, seed, device="cpu"):
    g = _gen(seed, device)
    m = torch.randn(batch, n, n, generator=g, dtype=F64, device=device)
    A = m @ m.transpose(-1, -2) / n + 0.1 * torch.eye(n, dtype=F64, device=device)
    c = torch.randn(batch, n, generator=g, dtype=F64, device=device)
    return A, c


def test_simplex_qp_against_scipy_and_kkt(device):
    scipy_opt = pytest.importorskip("scipy.optimize")
    A, c = _random_qp(3, 6, 1, device)
    beta, info = ift.solve_simplex_qp(A, c, tol=1e-12, max_iter=20000)
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
    beta, _ = ift.solve_simplex_qp(A, c, tol=1e-12, max_iter=20000)
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
    alpha = ift.project_simplex(torch.rand(2, 7, generator=g, dtype=F64))
    eta, c_f = 0.3, 0.5
    A, c = ift.ift_weight_qp(k, x, alpha, y, eta=eta, scale=c_f)

    def J(b):
        return c_f * mmd2(k, x, y, b) + mmd2(k, x, x, b, alpha) / (2 * eta)

    def q(b):
        return 0.5 * (b * (A @ b.unsqueeze(-1)).squeeze(-1)).sum(-1) - (c * b).sum(-1)

    b1 = ift.project_simplex(torch.randn(2, 7, generator=g, dtype=F64))
    b2 = ift.project_simplex(torch.randn(2, 7, generator=g, dtype=F64))
    assert torch.allclose(q(b1) - q(b2), J(b1) - J(b2), atol=1e-10)
    # the exact MMD step does not increase J, and the PGD step's gradient is the first variation
    beta, _ = ift.solve_simplex_qp(A, c, alpha, tol=1e-12, max_iter=20000)
    assert bool((J(beta) <= J(alpha) + 1e-12).all())
    h, _ = ift.MMDEnergy(k, c_f).first_variation(x, x, alpha, y, with_grad=False)
    grad_q = (A @ alpha.unsqueeze(-1)).squeeze(-1) - c
    assert torch.allclose(grad_q, h, atol=1e-10)


@pytest.mark.parametrize("kernel_name,param", [("gauss", 3.0), ("imq", 1.0), ("matern2", 2.0)])
@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_first_variation_matches_autograd(kernel_name, param, scale, device):
    k = get_kernel(kernel_name, param)
    g = _gen(3, device)
    x = torch.randn(2, 6, 3, generator=g, dtype=F64, device=device).requires_grad_(True)
    y = torch.randn(2, 8, 3, generator=g, dtype=F64, device=device)
    w = ift.project_simplex(torch.rand(2, 6, generator=g, dtype=F64, device=device)).requires_grad_(True)
    F = scale * mmd2(k, x, y, w)
    gx, gw = torch.autograd.grad(F.sum(), (x, w))
    h, gr = ift.MMDEnergy(k, scale).first_variation(x.detach(), x.detach(), w.detach(), y)
    # dF/dw_i = dF/dmu(x_i);  dF/dx_i = w_i grad dF/dmu(x_i)
    assert torch.allclose(h, gw, atol=1e-10)
    assert torch.allclose(w.detach().unsqueeze(-1) * gr, gx, atol=1e-10)


def test_first_variation_row_blocks_equal_one_block():
    k = get_kernel("gauss", 2.0)
    g = _gen(9)
    x, y = torch.randn(3, 11, 4, generator=g, dtype=F64), torch.randn(3, 7, 4, generator=g, dtype=F64)
    w = ift.project_simplex(torch.rand(3, 11, generator=g, dtype=F64))
    h1, g1 = ift.MMDEnergy(k).first_variation(x, x, w, y)
    h2, g2 = ift.MMDEnergy(k, max_block=100).first_variation(x, x, w, y)  # 100 // (3 * 18) = 1 row per block
    assert torch.allclose(h1, h2) and torch.allclose(g1, g2)


def test_mmd_flow_decreases_energy_and_batch_equals_loop():
    init, tgt = gt.gaussian_2d_init(), gt.gaussian_2d_target()
    kw = dict(n=20, steps=40, sigma=2.0, tau=1.0, log_every=1, show_progress=False)
    batched = ift.run_experiment("mmd", init, tgt, runs=3, seed=5, **kw)
    assert batched.mmd2.shape == (3, 41)
    assert bool(np.all(np.diff(batched.mmd2, axis=1) <= 1e-12))
    for r in range(3):
        alone = ift.run_experiment("mmd", init, tgt, runs=1, seed=5 + r, **kw)
        np.testing.assert_allclose(alone.mmd2[0], batched.mmd2[r], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("method", ["ift", "ift_qp", "wfr"])
def test_weighted_schemes_keep_weights_on_simplex_and_count_two_steps(method):
    init, tgt = gt.gaussian_2d_init(), gt.mixture_2d_target()
    res = ift.run_experiment(method, init, tgt, n=15, runs=2, steps=20, sigma=3.0, tau=2.0, eta=0.1,
                             log_every=2, snapshot_every=4, show_progress=False)
    assert res.iterations == 10 and list(res.steps) == list(range(0, 21, 2))
    assert res.x_snapshots.shape == (6, 2, 15, 2) and list(res.snapshot_steps) == [0, 4, 8, 12, 16, 20]
    assert torch.allclose(res.w.sum(-1), torch.ones(2, dtype=F64))
    assert bool((res.w >= 0).all())
    assert res.mmd2[:, -1].mean() < res.mmd2[:, 0].mean()


def test_ift_weight_step_moves_mass_to_the_target():
    """Particles split between the target mode and a far cluster: the weight steps move the far
    cluster's mass to the near one (not all of it: with few particles some far mass lowers the
    near particles' self-interaction, so the minimiser over the simplex keeps ~12 %), decreasing F,
    and converge to the minimiser of F over the simplex (checked with the QP solver)."""
    k = get_kernel("gauss", 1.0)
    g = _gen(4)
    y = torch.randn(1, 50, 2, generator=g, dtype=F64)
    x = torch.cat([torch.randn(1, 10, 2, generator=g, dtype=F64), 8 + 0.1 * torch.randn(1, 10, 2, generator=g, dtype=F64)], 1)
    w = torch.full((1, 20), 0.05, dtype=F64)
    scheme = ift.IFTFlow(1e-6, 0.05, "pgd")  # PGD is stable for eta < 2 / lambda_max(K)
    energy = ift.MMDEnergy(k)
    F = [float(mmd2(k, x, y, w))]
    for _ in range(1000):
        x, w = scheme.iterate(energy, x, w, y, 0, None)
        F.append(float(mmd2(k, x, y, w)))
    assert float(w[0, 10:].sum()) < 0.2
    assert np.all(np.diff(F) <= 1e-12)
    kxx = k(x, x)
    best, _ = ift.solve_simplex_qp(kxx, (k(x, y)).mean(-1), tol=1e-12, max_iter=50000)
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
    res = ift.run_experiment("mmd", gt.gaussian_2d_init(), gt.gaussian_2d_target(), n=10, runs=2, steps=5,
                             sigma=3.0, tau=1.0, convention=conv, show_progress=False)
    assert np.isfinite(res.mmd2).all()


def test_nan_stops_with_step_number():
    k = get_kernel("gauss", 1.0)
    x0 = torch.randn(2, 5, 2, dtype=F64)
    x0[1, 2, 0] = float("nan")
    with pytest.raises(FlowDivergedError, match="step 1"):
        ift.run_flow(ift.MMDFlow(0.1), ift.MMDEnergy(k), x0, torch.randn(2, 5, 2, dtype=F64), steps=5, log_every=1,
                     show_progress=False)


def test_bad_parameters():
    with pytest.raises(ParameterError, match="method"):
        ift.make_scheme("sgd", tau=1.0)
    with pytest.raises(ParameterError, match="tau"):
        ift.MMDFlow(-1.0)
    with pytest.raises(ParameterError, match="eta"):
        ift.IFTFlow(1.0, 0.0)
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
    assert float(mass[0]) == 0.5 and int(count[0]) == 1


def test_noise_floor_positive():
    tgt = gt.gaussian_2d_target()
    nf = ift.target_noise_floor(tgt, get_kernel("gauss", 100.0), 100, repeats=5)
    assert 0 < nf < 0.01
