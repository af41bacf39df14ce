"""Kernels: values against the stated formulas, gradients against autograd, blocked sums."""

import math
import os

import pytest
import torch

from wgf_core.backends import kernel_grad_sum, kernel_sum
from wgf_core.kernels import (
    KERNELS,
    broadcast_batch,
    get_kernel,
    kernel_matrix,
    pairwise_distances,
)
from wgf_core.validation import ParameterError

NAMES = list(KERNELS)
PARAM = {"riesz": 1.3}


def _kernel(name, s=None):
    return get_kernel(name, PARAM.get(name, 0.8) if s is None else s)


def _autograd_grad_sums(kernel, x, y, w):
    xr = x.clone().requires_grad_(True)
    (kernel_matrix(kernel, xr, y) @ w).sum().backward()
    return xr.grad


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_autograd_at_random_points(name):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    y = torch.randn(30, 3, generator=g, dtype=torch.float64) * 0.7
    w = torch.rand(30, generator=g, dtype=torch.float64)
    k = _kernel(name)
    ours = kernel_grad_sum(k, x, y, w, block_size=7)
    ref = _autograd_grad_sums(k, x, y, w)
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_finite_and_correct_at_coincident_points(name):
    """x_i == y_i exactly: no NaN, and the gradient equals the autograd gradient of the
    remaining (non-coincident) terms, i.e. the coincident term contributes 0."""
    g = torch.Generator().manual_seed(2)
    y = torch.randn(12, 2, generator=g, dtype=torch.float64)
    x = y[:5].clone()
    w = torch.rand(12, generator=g, dtype=torch.float64)
    k = _kernel(name)
    ours = kernel_grad_sum(k, x, y, w)
    assert torch.isfinite(ours).all()
    # reference: autograd with the self-term removed (its true gradient is 0 for kernels
    # differentiable at 0, and 0 is our stated choice at a kink)
    ref = torch.zeros_like(x)
    for i in range(5):
        mask = torch.ones(12, dtype=torch.bool)
        mask[i] = False
        ref[i] = _autograd_grad_sums(k, x[i : i + 1], y[mask], w[mask])[0]
        ref[i] += _extra_self_grad(name, x[i], w[i])
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-10)


def _extra_self_grad(name, xi, wi):
    """Gradient of the non-radial extra term of the W2 kernels for the coincident pair."""
    if name == "W2_1":
        return wi * torch.sign(xi) * xi.abs()
    if name == "W2_2":
        return wi * 2 * xi * xi * xi
    return torch.zeros_like(xi)


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("compact", "riesz", "W2_1", "W2_2")])
def test_smooth_kernels_have_zero_gradient_limit(name):
    """For radial kernels differentiable at 0 the gradient near coincidence tends to 0."""
    k = _kernel(name)
    y = torch.zeros(1, 2, dtype=torch.float64)
    for eps in (1e-3, 1e-6):
        x = torch.tensor([[eps, 0.0]], dtype=torch.float64)
        assert kernel_grad_sum(k, x, y).abs().max() < 50 * eps


def test_values_match_formulas():
    r = torch.tensor([0.0, 0.3, 0.9, 1.7], dtype=torch.float64)
    s = 0.8
    expected = {
        "gauss": torch.exp(-(r**2) / (2 * s)),
        "imq": (s + r**2) ** -0.5,
        "matern": (1 + math.sqrt(3) * r / s) * torch.exp(-math.sqrt(3) * r / s),
        "matern2": (1 + math.sqrt(5) * r / s + 5 * r**2 / (3 * s**2)) * torch.exp(-math.sqrt(5) * r / s),
        "compact": torch.clamp(1 - r, min=0) ** (s + 2),
        "compact2": torch.clamp(1 - r, min=0) ** (s + 3) * ((s + 3) * r + 1),
        "inv_log": (s + torch.log(1 + r**2)) ** -0.5,
        "inv_quad": 1 / (1 + s * r**2),
        "student": math.gamma((s + 1) / 2)
        / (math.sqrt(s * math.pi) * math.gamma(s / 2))
        * (1 + r**2 / s) ** (-(s + 1) / 2),
        "riesz": -(r**s),
    }
    for name, val in expected.items():
        torch.testing.assert_close(get_kernel(name, s).profile(r), val)


def test_student_is_a_density_in_1d():
    """The student kernel profile is the t-density: it integrates to 1 over the line."""
    k = get_kernel("student", 3.0)
    r = torch.linspace(0, 2000, 2_000_001, dtype=torch.float64)
    integral = 2 * torch.trapezoid(k.profile(r), r)
    assert abs(float(integral) - 1) < 1e-3


def test_w2_kernels_extra_terms():
    x = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    y = torch.tensor([[0.5, 3.0]], dtype=torch.float64)
    g = math.exp(-((0.5**2 + 5**2)) / 2)
    assert float(kernel_matrix(get_kernel("W2_1", 1.0), x, y)) == pytest.approx(g + 0.5 + 6)
    assert float(kernel_matrix(get_kernel("W2_2", 1.0), x, y)) == pytest.approx(g + 0.25 + 36)


@pytest.mark.parametrize("name", ["gauss", "riesz", "W2_2"])
def test_blocked_sums_equal_dense_and_batched(name):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 50, 2, generator=g, dtype=torch.float64)
    y = torch.randn(4, 33, 2, generator=g, dtype=torch.float64)
    w = torch.softmax(torch.randn(4, 33, generator=g, dtype=torch.float64), -1)
    k = _kernel(name)
    dense = torch.einsum("bnm,bm->bn", kernel_matrix(k, x, y), w)
    torch.testing.assert_close(kernel_sum(k, x, y, w, block_size=6), dense)
    v, gr = kernel_grad_sum(k, x, y, w, block_size=6, with_value=True)
    torch.testing.assert_close(v, dense)
    for b in range(4):  # batched = per-run
        torch.testing.assert_close(gr[b], kernel_grad_sum(k, x[b], y[b], w[b]))


@pytest.mark.parametrize("d", [2, 17, 784])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pairwise_distances_exact_at_coincident_and_close_points(d, dtype):
    # against float64 differences; high d takes the matrix-product path with recomputed close pairs
    g = torch.Generator().manual_seed(d)
    x = torch.rand(3, 30, d, generator=g, dtype=torch.float64) + 2.0  # large norms: cancellation-prone
    y = torch.rand(3, 40, d, generator=g, dtype=torch.float64) + 2.0
    y[:, :10] = x[:, :10]  # coincident
    y[:, 10:20] = x[:, 10:20] + 1e-4 * torch.randn(3, 10, d, generator=g, dtype=torch.float64)  # close
    r = pairwise_distances(x.to(dtype), y.to(dtype))
    xe = x.to(dtype).double()
    exact = (xe.unsqueeze(-2) - y.to(dtype).double().unsqueeze(-3)).norm(dim=-1)  # same rounded inputs
    assert r.shape == (3, 30, 40) and r.dtype == dtype
    # exactness is the property: coincident points give a distance of exactly 0, and only they do
    assert torch.equal(r == 0, exact == 0) and int((r == 0).sum()) == 3 * 10
    rel = ((r.double() - exact).abs() / exact.clamp_min(1e-300))[exact > 0]
    assert float(rel.max()) < (2e-5 if dtype == torch.float32 else 1e-12)
    # broadcast batch shapes, like torch.cdist
    assert pairwise_distances(x[0].to(dtype), y.to(dtype)).shape == (3, 30, 40)


def test_uniform_weights_default():
    x = torch.randn(10, 2)
    y = torch.randn(8, 2)
    k = get_kernel("imq", 1.0)
    torch.testing.assert_close(kernel_sum(k, x, y), kernel_matrix(k, x, y).mean(-1))


def test_float32_and_device(device):
    k = get_kernel("gauss", 1.0)
    x = torch.randn(20, 2, device=device)
    out = kernel_grad_sum(k, x, x)
    assert out.dtype == torch.float32 and out.device.type == device.type


def test_bad_parameters_are_named():
    with pytest.raises(ParameterError, match="'kernel'.*gaus.*one of"):
        get_kernel("gaus", 1.0)
    with pytest.raises(ParameterError, match="'s'"):
        get_kernel("gauss", -1.0)
    with pytest.raises(ParameterError, match=r"'s'.*\(0.0, 2.0\)"):
        get_kernel("riesz", 2.5)
    with pytest.raises(ParameterError, match="'backend'"):
        kernel_sum(get_kernel("gauss"), torch.zeros(2, 2), torch.zeros(2, 2), backend="cuda")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads resident memory from /proc")
def test_blocked_sums_free_their_blocks():
    """Memory stays O(block x M) with the default blocks, over many blocks.

    x: 6000 points, y: 50000 points, float32: the full matrix is 1144 MiB. With blocks of
    temporaries below glibc's mmap threshold the freed blocks were not reused (the resident
    memory grew by most of the matrix; N = M = 10^5 was killed at 24 GiB).
    """

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(6000, 2, generator=g), torch.randn(50000, 2, generator=g)
    k = get_kernel("gauss", 1.0)
    before = rss_mib()
    s = kernel_sum(k, x, y)
    v, gr = kernel_grad_sum(k, x, y, with_value=True)
    grown = rss_mib() - before
    assert torch.allclose(s, v, rtol=1e-4, atol=1e-6) and gr.shape == (6000, 2)
    assert grown < 400, f"resident memory grew by {grown:.0f} MiB (the full matrix is 1144 MiB)"


@pytest.mark.parametrize("name", NAMES)
def test_profile_and_coefficient_in_one_pass(name):
    """The fused (in-place) path equals profile() and coefficient(), incl. r = 0, and leaves r alone."""
    k = _kernel(name)
    r = torch.cat([torch.zeros(3, dtype=torch.float64), torch.rand(50, generator=torch.Generator().manual_seed(2),
                                                                 dtype=torch.float64) * 2])
    r0 = r.clone()
    psi, c = k.profile_and_coefficient(r)
    torch.testing.assert_close(psi, k.profile(r), rtol=1e-14, atol=0)
    torch.testing.assert_close(c, k.coefficient(r), rtol=1e-14, atol=0)
    assert torch.equal(r, r0)  # exactness is the property: the input is not modified in place


def test_kernels_module_imports_no_backend():
    """No import circle: wgf_core.kernels (the math) imports nothing of wgf_core.backends, which imports it."""
    import subprocess
    import sys

    code = ("import sys, wgf_core.kernels; assert not [m for m in sys.modules if m.startswith('wgf_core.backends')], "
            "sorted(sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("shapes", [((), ()), ((3,), ()), ((1, 4), (5, 1)), ((2, 1, 3), (4, 1), ()), ((7,), (1,), (7,))])
def test_broadcast_batch_is_torch_broadcast_shapes(shapes):
    assert broadcast_batch(*shapes) == tuple(torch.broadcast_shapes(*shapes))


def test_broadcast_batch_refuses_shapes_that_do_not_broadcast():
    with pytest.raises(RuntimeError, match="broadcast|match"):
        broadcast_batch((3,), (4,))
