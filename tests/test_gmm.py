"""Gaussian mixtures: log-density against scipy, score against autograd, sampling moments."""

import numpy as np
import pytest
import scipy.stats
import torch

from wgf_core.gmm import GaussianMixture


def _mixture(dtype=torch.float64):
    means = [[0.0, 0.0], [3.0, -1.0], [1.0, 4.0]]
    covs = [[[1.0, 0.5], [0.5, 2.0]], [[1.0, 0.0], [0.0, 1.0]], [[3.0, 0.5], [0.5, 1.0]]]
    return GaussianMixture.create(means, covs, [0.2, 0.3, 0.5], dtype=dtype)


def test_log_prob_matches_scipy():
    gm = _mixture()
    x = torch.randn(25, 2, dtype=torch.float64) * 3
    ref = np.log(
        sum(
            float(w) * scipy.stats.multivariate_normal(m.numpy(), c.numpy()).pdf(x.numpy())
            for w, m, c in zip(gm.weights, gm.means, gm.covs)
        )
    )
    np.testing.assert_allclose(gm.log_prob(x).numpy(), ref, rtol=1e-10)


def test_score_matches_autograd():
    gm = _mixture()
    x = (torch.randn(30, 2, dtype=torch.float64) * 3).requires_grad_(True)
    (g,) = torch.autograd.grad(gm.log_prob(x).sum(), x)
    torch.testing.assert_close(gm.score(x.detach()), g)


def test_sampling_moments_and_seed():
    gm = _mixture()
    a = gm.sample(200_000, torch.Generator().manual_seed(0))
    b = gm.sample(200_000, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)  # exactness is the property: same seed, same draws
    mean = (gm.weights[:, None] * gm.means).sum(0)
    torch.testing.assert_close(a.mean(0), mean, atol=0.02, rtol=0)
    assert gm.sample(5, shape=(3, 2)).shape == (3, 2, 5, 2)


def test_float32_default():
    gm = GaussianMixture.create([[0.0]], [[[1.0]]])
    assert gm.sample(4).dtype == torch.float32
    assert gm.log_prob(torch.zeros(1, 1)).item() == pytest.approx(-0.5 * np.log(2 * np.pi), rel=1e-6)


def test_log_prob_batch_shapes_agree_with_the_flat_points():
    """log_prob of (..., d): one solve per component over all points, reshaped back; a (3, 5, d) batch and a
    single point (d,) give the values of the same points passed as (n, d), and the scipy density's."""
    gm = _mixture()
    x = torch.randn(3, 5, 2, dtype=torch.float64) * 3
    flat = gm.log_prob(x.reshape(-1, 2))
    assert gm.log_prob(x).shape == (3, 5)
    torch.testing.assert_close(gm.log_prob(x), flat.reshape(3, 5), rtol=1e-13, atol=0)
    one = gm.log_prob(x[1, 2])
    assert one.shape == ()
    ref = np.log(sum(float(w) * scipy.stats.multivariate_normal(m.numpy(), c.numpy()).pdf(x[1, 2].numpy())
                     for w, m, c in zip(gm.weights, gm.means, gm.covs)))
    assert float(one) == pytest.approx(ref, rel=1e-10)
