import pytest
import torch

from wgf_core.energies import MMD
from wgf_core.errors import ParameterError
from wgf_core.kernels import get_kernel
from wgf_core.measures import Particles
from wgf_core.metrics import mmd2

F64 = torch.float64


def _gen(s):
    return torch.Generator().manual_seed(s)


@pytest.mark.parametrize("name,param", [("gauss", 2.0), ("imq", 1.0), ("riesz", 1.0), ("riesz", 1.5), ("W2_1", 1.0)])
@pytest.mark.parametrize("with_target", [True, False])
def test_mmd_energy_gradient_and_first_variation_match_autograd(name, param, with_target):
    # F(mu) = c MMD^2(mu, nu) (or c iint k dmu dmu without a target): dF/dw_i is the first variation at x_i and
    # dF/dx_i = w_i * its gradient (the Wasserstein gradient weighted by the particle's mass)
    k = get_kernel(name, param)
    g = _gen(1)
    x = torch.randn(2, 7, 3, generator=g, dtype=F64).requires_grad_(True)
    w = torch.softmax(torch.randn(2, 7, generator=g, dtype=F64), -1).requires_grad_(True)
    y = torch.randn(2, 5, 3, generator=g, dtype=F64) if with_target else None
    e = MMD(k, y, scale=0.5)
    F = e.value(Particles(x, w))
    gx, gw = torch.autograd.grad(F.sum(), (x, w))
    mu = Particles(x.detach(), w.detach())
    h, gr = e.first_variation(mu, x.detach())
    assert torch.allclose(h - h.mean(-1, keepdim=True), gw - gw.mean(-1, keepdim=True), atol=1e-10)
    assert torch.allclose(h, gw, atol=1e-10)
    assert torch.allclose(w.detach().unsqueeze(-1) * gr, gx, atol=1e-10)
    assert torch.allclose(e.gradient(mu), gr)


def test_mmd_energy_value_is_half_mmd2_and_shared_target_broadcasts():
    k = get_kernel("gauss", 1.0)
    g = _gen(2)
    x, y = torch.randn(3, 6, 2, generator=g, dtype=F64), torch.randn(4, 2, generator=g, dtype=F64)
    v = MMD(k, y).value(Particles(x))
    ref = torch.stack([0.5 * mmd2(k, x[r], y) for r in range(3)])
    assert torch.allclose(v, ref, atol=1e-12)
    # fresh targets: next() draws from the sampler, and is the identity without one
    e = MMD(k, y, sampler=lambda gen: torch.zeros(3, 4, 2, dtype=F64))
    assert torch.equal(e.next(None).target, torch.zeros(3, 4, 2, dtype=F64))
    plain = MMD(k, y)
    assert plain.next(None) is plain


def test_mmd_energy_refuses_bad_parameters():
    with pytest.raises(ParameterError, match="scale"):
        MMD(get_kernel("gauss", 1.0), None, scale=0.0)
    with pytest.raises(ParameterError, match="kernel"):
        MMD("gauss", None)
    with pytest.raises(ParameterError, match="target"):
        MMD(get_kernel("gauss", 1.0), torch.zeros(3))


@pytest.mark.parametrize("name", ["gauss", "imq", "riesz", "W2_1"])
@pytest.mark.parametrize("shared_target", [True, False])
def test_mmd_numba_backend_first_variation_matches_torch(name, shared_target):
    """MMD(backend="numba"): the first variation and its gradient (one fused pass over [x; y] with the
    signed weights) equal the torch path to round-off, for a shared or per-run target, weighted particles,
    a kernel with a kink (riesz) and a non-radial one; a wrong backend is refused, naming it."""
    pytest.importorskip("numba")
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 30, 2, generator=g, dtype=torch.float64)
    y = torch.randn(25, 2, generator=g, dtype=torch.float64) if shared_target else \
        torch.randn(2, 25, 2, generator=g, dtype=torch.float64)
    x[0, :3] = (y if shared_target else y[0])[:3]   # coincident points
    w = torch.softmax(torch.randn(2, 30, generator=g, dtype=torch.float64), -1)
    mu = Particles(x, w)
    k = get_kernel(name, 1.0)
    h_t, g_t = MMD(k, y, 0.5).first_variation(mu, x)
    h_n, g_n = MMD(k, y, 0.5, backend="numba").first_variation(mu, x)
    torch.testing.assert_close(h_n, h_t, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g_n, g_t, rtol=1e-10, atol=1e-12)
    h_only, none = MMD(k, y, 0.5, backend="numba").first_variation(mu, x, with_grad=False)
    assert none is None
    torch.testing.assert_close(h_only, h_t, rtol=1e-10, atol=1e-12)
    assert float(g_t.abs().max()) > 1e-3
    with pytest.raises(ParameterError, match="backend"):
        MMD(k, y, 0.5, backend="cuda")
