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
