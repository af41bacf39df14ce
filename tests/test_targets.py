"""Targets and priors: shapes, seeding, dimensions, bounded support."""

import pytest
import torch

from wgf_core.targets import TARGETS, sample_prior, sample_target, target_and_prior, target_dim
from wgf_core.validation import ParameterError


@pytest.mark.parametrize("name", list(TARGETS))
def test_shapes_seeding_and_scale(name):
    x0, y = target_and_prior(name, 17, 23, seed=3)
    d = target_dim(name)
    assert x0.shape == (17, d) and y.shape == (23, d)
    assert torch.isfinite(y).all() and torch.isfinite(x0).all()
    x1, y1 = target_and_prior(name, 17, 23, seed=3)
    assert torch.equal(x0, x1) and torch.equal(y, y1)  # exactness is the property: same seed, same draws
    _, y2 = target_and_prior(name, 17, 23, seed=4)
    assert not torch.equal(y, y2)
    big = sample_target(name, 2000, torch.Generator().manual_seed(0))
    assert float(big.abs().quantile(0.99)) < 3.0  # lives at the scale of the reference kernels


def test_specific_geometry():
    g = torch.Generator().manual_seed(0)
    ring = sample_target("annulus", 5000, g)
    r = ring.norm(dim=1)
    assert float(r.min()) >= 0.6 - 1e-6 and float(r.max()) <= 1.0 + 1e-6
    gm = sample_target("GMM", 20000, g)
    # mirror symmetry about y = -x: (a, b) -> (-b, -a) preserves the law; compare means
    assert torch.allclose(gm.mean(0), torch.stack([-gm[:, 1], -gm[:, 0]], 1).mean(0), atol=0.02)
    p = sample_prior("four_wells", 4000, g)
    assert torch.allclose(p.mean(0), torch.tensor([-0.9, -0.9]), atol=0.02)


def test_errors():
    with pytest.raises(ParameterError, match="target"):
        target_and_prior("banana", 3, 3)
    with pytest.raises(ParameterError, match="N"):
        sample_prior("moons", 0, torch.Generator())
