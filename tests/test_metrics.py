"""Metrics against closed forms, scipy and POT."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from wgf_core.errors import ParameterError
from wgf_core.kernels import get_kernel, kernel_matrix
from wgf_core.metrics import (
    energy_distance,
    fit_gaussian,
    gaussian_kl,
    gaussian_symkl,
    kernel_energy,
    mmd2,
    mmd2_noise_floor,
    mmd_witness,
    mmd_witness_grad,
    mmd_witness_terms,
    sinkhorn_divergence,
    w2,
)


def _gauss_kernel_expectation(a, A, b, B, s):
    """E exp(-|X-Y|^2/(2s)) for X~N(a,A), Y~N(b,B) independent (closed form)."""
    d = a.shape[0]
    C = A + B
    m = a - b
    det = torch.linalg.det(torch.eye(d, dtype=C.dtype) + C / s)
    quad = m @ torch.linalg.solve(C + s * torch.eye(d, dtype=C.dtype), m)
    return det**-0.5 * torch.exp(-0.5 * quad)


def test_mmd2_between_gaussians_matches_closed_form():
    dt = torch.float64
    a, A = torch.tensor([0.0, 0.0], dtype=dt), torch.tensor([[1.0, 0.5], [0.5, 2.0]], dtype=dt)
    b, B = torch.tensor([1.0, -0.5], dtype=dt), torch.eye(2, dtype=dt) * 0.5
    s = 2.0
    k = get_kernel("gauss", s)
    pop = (
        _gauss_kernel_expectation(a, A, a, A, s)
        - 2 * _gauss_kernel_expectation(a, A, b, B, s)
        + _gauss_kernel_expectation(b, B, b, B, s)
    )
    g = torch.Generator().manual_seed(0)
    n = 3000
    vals = []
    for _ in range(4):
        x = a + torch.randn(n, 2, generator=g, dtype=dt) @ torch.linalg.cholesky(A).T
        y = b + torch.randn(n, 2, generator=g, dtype=dt) @ torch.linalg.cholesky(B).T
        vals.append(float(mmd2(k, x, y)))
    # the V-statistic's bias: (1 - E k(X,X'))/n for each sample
    bias = (1 - _gauss_kernel_expectation(a, A, a, A, s)) / n + (1 - _gauss_kernel_expectation(b, B, b, B, s)) / n
    assert np.mean(vals) == pytest.approx(float(pop + bias), rel=0.03)


def test_mmd2_is_the_weighted_quadratic_form():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(7, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    wx = torch.softmax(torch.randn(7, generator=g, dtype=torch.float64), 0)
    wy = torch.softmax(torch.randn(5, generator=g, dtype=torch.float64), 0)
    k = get_kernel("imq", 0.5)
    z = torch.cat([x, y])
    v = torch.cat([wx, -wy])
    expected = v @ kernel_matrix(k, z, z) @ v
    assert float(mmd2(k, x, y, wx, wy)) == pytest.approx(float(expected), rel=1e-10)
    assert float(mmd2(k, x, x, wx, wx)) == pytest.approx(0.0, abs=1e-12)


def test_kernel_energy_and_a_precomputed_target_term():
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(2, 7, 3, generator=g, dtype=torch.float64), torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    wx = torch.softmax(torch.randn(2, 7, generator=g, dtype=torch.float64), -1)
    k = get_kernel("gauss", 0.8)
    quad = torch.einsum("bi,bij,bj->b", wx, kernel_matrix(k, x, x), wx)
    torch.testing.assert_close(kernel_energy(k, x, wx), quad)
    kyy = kernel_energy(k, y)
    assert torch.equal(mmd2(k, x, y, wx, target_term=kyy), mmd2(k, x, y, wx))   # the same terms, the same bits
    assert not torch.equal(mmd2(k, x, y, wx, target_term=kyy + 1), mmd2(k, x, y, wx))


def test_witness_without_target_and_with_a_scale():
    """Without y the witness is K_zx wx (the first variation of 1/2 int int k dmu dmu); scale multiplies."""
    g = torch.Generator().manual_seed(6)
    z, x = torch.randn(4, 2, generator=g, dtype=torch.float64), torch.randn(6, 2, generator=g, dtype=torch.float64)
    for name in ("gauss", "imq", "W2_1"):   # the fast Gaussian path, a radial kernel, a non-radial one
        k = get_kernel(name, 0.9)
        h, gr = mmd_witness_terms(k, z, x, scale=3.0)
        torch.testing.assert_close(h, 3.0 * kernel_matrix(k, z, x).mean(-1))
        zr = z.clone().requires_grad_(True)
        kernel_matrix(k, zr, x).mean(-1).sum().backward()
        torch.testing.assert_close(gr, 3.0 * zr.grad)
        # the row blocks of radial kernels give the same numbers
        hb, gb = mmd_witness_terms(k, z, x, scale=3.0, max_block=6)
        torch.testing.assert_close(hb, h)
        torch.testing.assert_close(gb, gr)


def test_witness_gradient_is_the_particle_gradient_of_half_mmd2():
    """d/dx_i [1/2 MMD^2] = w_i * grad h(x_i), h the witness (conventions page)."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(9, 2, generator=g, dtype=torch.float64)
    y = torch.randn(6, 2, generator=g, dtype=torch.float64)
    wx = torch.softmax(torch.randn(9, generator=g, dtype=torch.float64), 0)
    for name, s in (("gauss", 1.0), ("matern2", 0.7), ("riesz", 1.0)):
        k = get_kernel(name, s)
        xr = x.clone().requires_grad_(True)
        z = torch.cat([xr, y])
        v = torch.cat([wx, -torch.full((6,), 1 / 6, dtype=torch.float64)])
        (0.5 * v @ kernel_matrix(k, z, z) @ v).backward()
        ours = wx[:, None] * mmd_witness_grad(k, x, x, y, wx)
        torch.testing.assert_close(ours, xr.grad)
        # the witness is the first variation: h = K_zx wx - K_zy wy
        h = mmd_witness(k, x, x, y, wx)
        torch.testing.assert_close(h, kernel_matrix(k, x, x) @ wx - kernel_matrix(k, x, y).mean(-1))


def test_energy_distance_matches_scipy_in_1d():
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=200), rng.normal(0.5, 1.3, size=150)
    ours = float(energy_distance(torch.tensor(u[:, None]), torch.tensor(v[:, None])))
    # scipy returns sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|)
    assert math.sqrt(ours) == pytest.approx(scipy.stats.energy_distance(u, v), rel=1e-9)


def test_w2_translation_and_weights():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(60, 2, generator=g, dtype=torch.float64)
    shift = torch.tensor([0.3, -1.2], dtype=torch.float64)
    assert w2(x, x + shift) == pytest.approx(float(shift.norm()), rel=1e-8)
    # a Dirac at 0 against two points at distance 1 and 3 with weights 3/4, 1/4: W2^2 = 3/4 + 9/4
    d = torch.zeros(1, 1)
    y = torch.tensor([[1.0], [3.0]])
    assert w2(d, y, None, torch.tensor([0.75, 0.25])) == pytest.approx(math.sqrt(3.0), rel=1e-8)


def test_sinkhorn_divergence_of_a_translation_is_the_squared_shift():
    """OT_eps(mu, mu + v) = OT_eps(mu, mu) + |v|^2 exactly, so S_eps = |v|^2."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(40, 2, generator=g, dtype=torch.float64)
    v = torch.tensor([0.4, 0.2], dtype=torch.float64)
    assert sinkhorn_divergence(x, x + v, reg=0.1) == pytest.approx(float(v @ v), rel=1e-4)
    assert sinkhorn_divergence(x, x, reg=0.1) == pytest.approx(0.0, abs=1e-8)


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(6)
    d = 4
    m0, m1 = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    R0, R1 = torch.randn(d, d, generator=g, dtype=torch.float64), torch.randn(d, d, generator=g, dtype=torch.float64)
    S0, S1 = R0 @ R0.T + 0.5 * torch.eye(d), R1 @ R1.T + 0.5 * torch.eye(d)
    P = torch.distributions.MultivariateNormal(m0, S0)
    Q = torch.distributions.MultivariateNormal(m1, S1)
    ref = torch.distributions.kl_divergence(P, Q)
    assert float(gaussian_kl(m0, S0, m1, S1)) == pytest.approx(float(ref), rel=1e-9)
    sym = torch.distributions.kl_divergence(Q, P) + ref
    assert float(gaussian_symkl(m0, S0, m1, S1)) == pytest.approx(float(sym), rel=1e-9)


def test_fit_gaussian_weighted():
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    m, S = fit_gaussian(x, torch.tensor([0.25, 0.75], dtype=torch.float64))
    torch.testing.assert_close(m, torch.tensor([1.5, 0.0], dtype=torch.float64))
    assert float(S[0, 0]) == pytest.approx(0.25 * 1.5**2 + 0.75 * 0.5**2)


def test_fit_gaussian_unbiased_and_batched():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 50, 3, generator=g, dtype=torch.float64)   # 4 clouds in a batch
    m, S = fit_gaussian(x, ddof=1)
    assert m.shape == (4, 3) and S.shape == (4, 3, 3)
    for b in range(4):
        torch.testing.assert_close(S[b], torch.cov(x[b].T))        # the textbook sample covariance
    # uniform weights give the same fit by the weighted formula, with c = 1 - sum w^2 = (N - 1) / N
    w = torch.full((4, 50), 1 / 50, dtype=torch.float64)
    mw, Sw = fit_gaussian(x, w, ddof=1)
    torch.testing.assert_close(mw, m)
    torch.testing.assert_close(Sw, S)
    torch.testing.assert_close(fit_gaussian(x)[1], S * 49 / 50)


def test_fit_gaussian_rejects_other_ddof():
    with pytest.raises(ParameterError, match="ddof"):
        fit_gaussian(torch.zeros(3, 2), ddof=2)


def test_noise_floor_scales_like_one_over_n():
    k = get_kernel("gauss", 1.0)

    def sampler(n, gen):
        return torch.randn(n, 2, generator=gen, dtype=torch.float64)

    g = torch.Generator().manual_seed(7)
    small = mmd2_noise_floor(k, sampler, 50, repeats=30, generator=g)
    large = mmd2_noise_floor(k, sampler, 400, repeats=30, generator=g)
    assert 4 < small / large < 16  # exact expectation ratio is 8
