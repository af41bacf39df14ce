"""KeOps backend equals the torch backend (runs only where pykeops is installed)."""

import pytest
import torch

from wgf_core.backends import kernel_grad_sum, kernel_sum
from wgf_core.kernels import get_kernel

pytest.importorskip("pykeops")


@pytest.mark.parametrize("name", ["gauss", "riesz", "compact", "W2_1"])
def test_keops_matches_torch_including_coincident_points(name):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 40, 2, generator=g, dtype=torch.float64)
    y = torch.randn(2, 30, 2, generator=g, dtype=torch.float64)
    y[:, :4] = x[:, :4]  # coincident pairs
    w = torch.rand(2, 30, generator=g, dtype=torch.float64)
    k = get_kernel(name, 1.0)
    torch.testing.assert_close(kernel_sum(k, x, y, w, backend="keops"), kernel_sum(k, x, y, w), rtol=1e-6, atol=1e-6)
    gk = kernel_grad_sum(k, x, y, w, backend="keops")
    assert torch.isfinite(gk).all()
    torch.testing.assert_close(gk, kernel_grad_sum(k, x, y, w), rtol=1e-6, atol=1e-6)
