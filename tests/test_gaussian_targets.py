import pytest
import torch

from wgf_core import gaussian_targets as gt
from wgf_core.validation import ParameterError


def test_2d_laws_match_the_paper():
    init, tgt, mix = gt.gaussian_2d_init(), gt.gaussian_2d_target(), gt.mixture_2d_target()
    assert torch.allclose(init.means, torch.tensor([[5.0, 5.0]]))
    assert torch.allclose(init.covs[0], torch.eye(2))
    assert torch.allclose(tgt.covs[0], torch.tensor([[1.0, 0.5], [0.5, 2.0]]))
    assert mix.means.shape == (3, 2)
    assert torch.allclose(mix.weights, torch.full((3,), 1 / 3))
    assert torch.allclose(mix.means[1], torch.tensor([3.0, -1.0]))
    assert torch.allclose(mix.covs[2], torch.tensor([[3.0, 0.5], [0.5, 1.0]]))


def test_2d_gaussian_sample_moments(device):
    tgt = gt.gaussian_2d_target(device=device, dtype=torch.float64)
    g = torch.Generator(device=device).manual_seed(0)
    x = tgt.sample(200_000, g)
    assert x.shape == (200_000, 2)
    cov = torch.cov(x.T)
    assert torch.allclose(x.mean(0), torch.zeros(2, dtype=torch.float64, device=device), atol=0.02)
    assert torch.allclose(cov, tgt.covs[0], atol=0.03)


def test_random_mixture_properties():
    mix = gt.random_mixture(100, 3, seed=3, dtype=torch.float64)
    assert mix.means.shape == (3, 100) and mix.covs.shape == (3, 100, 100)
    assert torch.allclose(mix.means.norm(dim=-1), torch.full((3,), 20.0, dtype=torch.float64))
    ev = torch.linalg.eigvalsh(mix.covs)
    assert bool((ev[:, 0] > 0.5).all())
    assert torch.allclose(mix.covs, mix.covs.transpose(-1, -2))
    again = gt.random_mixture(100, 3, seed=3, dtype=torch.float64)
    other = gt.random_mixture(100, 3, seed=4, dtype=torch.float64)
    # exactness is the property: the same seed gives the same problem
    assert torch.equal(mix.means, again.means) and torch.equal(mix.covs, again.covs)
    assert not torch.allclose(mix.means, other.means)


def test_random_mixture_sample_shape_and_init():
    mix = gt.random_mixture(10, 3, seed=0)
    g = torch.Generator().manual_seed(0)
    assert mix.sample(7, g, shape=(4,)).shape == (4, 7, 10)
    init = gt.standard_normal(10)
    assert init.sample(5, g).shape == (5, 10)


def test_bad_parameters():
    with pytest.raises(ParameterError, match="dim"):
        gt.random_mixture(0)
    with pytest.raises(ParameterError, match="mean_norm"):
        gt.random_mixture(5, mean_norm=-1)
    with pytest.raises(ParameterError, match="device"):
        gt.gaussian_2d_target(device="gpu0")
