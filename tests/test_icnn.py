"""Strongly convex ICNN: convexity, identity at init, inverse map, log-det, densities by change of variables."""

import math

import numpy as np
import torch

from wgf_core.icnn import StronglyConvexICNN, pushforward_log_density


def _random_icnn(dim, seed=0, width=8, depth=3):
    torch.manual_seed(seed)  # parameter init only; the library itself never touches the global RNG
    net = StronglyConvexICNN(dim, width=width, depth=depth, strong_convexity=0.1).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.w.copy_(torch.rand(width, generator=g, dtype=torch.float64))
        net.c.copy_(torch.randn(dim, generator=g, dtype=torch.float64) * 0.3)
        for W in net.W:
            W.weight.copy_(torch.randn(W.weight.shape, generator=g, dtype=torch.float64))
    net.clamp_weights()
    return net


def test_identity_at_init(device):
    net = StronglyConvexICNN(3).to(device)
    x = torch.randn(10, 3, device=device)
    assert torch.allclose(net.grad_map(x), x, atol=1e-6)


def test_clamp_keeps_weights_nonnegative_and_hessian_psd():
    net = _random_icnn(3)
    assert all(bool((W.weight >= 0).all()) for W in net.W) and bool((net.w >= 0).all())
    x = torch.randn(50, 3, dtype=torch.float64)
    H = net.hessian(x)
    assert float(torch.linalg.eigvalsh(H).min()) >= 0.1 - 1e-9
    # Hessian agrees with autograd.functional.hessian
    H0 = torch.autograd.functional.hessian(lambda z: net(z), x[0])
    assert torch.allclose(H[0], H0, atol=1e-10)
    # convexity along random chords
    y = torch.randn(50, 3, dtype=torch.float64)
    mid = net(0.5 * (x + y))
    assert bool((mid <= 0.5 * (net(x) + net(y)) + 1e-12).all())


def test_inverse_map():
    net = _random_icnn(2)
    y = 2 * torch.randn(64, 2, dtype=torch.float64)
    x = net.inverse(y, tol=1e-10)
    assert torch.allclose(net.grad_map(x, create_graph=False), y, atol=1e-8)


def test_log_det_matches_slogdet_of_autograd_hessian():
    net = _random_icnn(3, seed=2)
    x = torch.randn(5, 3, dtype=torch.float64)
    ld = net.log_det_hessian(x)
    for i in range(5):
        H0 = torch.autograd.functional.hessian(lambda z: net(z), x[i])
        assert abs(float(ld[i]) - float(torch.linalg.slogdet(H0)[1])) < 1e-9


def test_pushforward_density_integrates_to_one_and_matches_histogram_1d():
    maps = [_random_icnn(1, seed=s) for s in (3, 4)]
    log_p0 = lambda x: -0.5 * (x**2).sum(-1) - 0.5 * math.log(2 * math.pi)
    # support of the pushforward: push a wide range of P0 quantiles
    x0 = torch.linspace(-7, 7, 3, dtype=torch.float64)[:, None]
    lo_hi = x0
    for phi in maps:
        lo_hi = phi.grad_map(lo_hi, create_graph=False)
    ys = torch.linspace(float(lo_hi[0, 0]), float(lo_hi[-1, 0]), 3001, dtype=torch.float64)[:, None]
    p = pushforward_log_density(maps, log_p0, ys, tol=1e-10).exp()[:, None]
    mass = np.trapezoid(p[:, 0].numpy(), ys[:, 0].numpy())
    assert abs(mass - 1) < 1e-4
    # agrees with the law of pushed samples (CDF at a few points)
    g = torch.Generator().manual_seed(0)
    s = torch.randn(200000, 1, generator=g, dtype=torch.float64)
    for phi in maps:
        s = phi.grad_map(s, create_graph=False)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:, 0] + p[:-1, 0]).numpy() * np.diff(ys[:, 0].numpy()))])
    for q in (0.1, 0.5, 0.9):
        xq = float(torch.quantile(s[:, 0], q))
        assert abs(np.interp(xq, ys[:, 0].numpy(), cdf) - q) < 5e-3


def test_pushforward_density_2d_matches_gaussian_for_quadratic_potential():
    # phi(x) = 0.5 * c |x|^2 + ... with w = 0: T(x) = c x + shift, a Gaussian pushforward
    net = StronglyConvexICNN(2, strong_convexity=0.1).double()
    with torch.no_grad():
        net.s.fill_(math.log(math.expm1(1.9)))  # coefficient softplus(s) + 0.1 = 2
        net.c.copy_(torch.tensor([0.5, -1.0], dtype=torch.float64))
    log_p0 = lambda x: -0.5 * (x**2).sum(-1) - math.log(2 * math.pi)
    y = torch.randn(20, 2, dtype=torch.float64)
    lp = pushforward_log_density([net], log_p0, y, tol=1e-12)
    # Y = 2 X + c ~ N(c, 4 I)
    ref = -0.5 * ((y - net.c.detach()) ** 2).sum(-1) / 4 - math.log(2 * math.pi * 4)
    assert torch.allclose(lp, ref, atol=1e-9)


def test_generator_gives_the_initial_weights_without_the_global_generator():
    from wgf_core.random import stream

    state = torch.get_rng_state()
    with torch.random.fork_rng(devices=[]):   # nn.Linear's own construction draws are not the point here
        a = StronglyConvexICNN(3, width=8, depth=3, generator=stream(0, "tests/icnn"))
        b = StronglyConvexICNN(3, width=8, depth=3, generator=stream(0, "tests/icnn"))
        c = StronglyConvexICNN(3, width=8, depth=3, generator=stream(1, "tests/icnn"))
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(u, v) for u, v in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(u, v) for u, v in zip(a.parameters(), c.parameters()))
    for W in a.W:
        assert 0.0 <= float(W.weight.min()) and float(W.weight.max()) <= 1.0 / 8
