import pytest
import torch

from wgf_core.errors import ParameterError
from wgf_core.measures import Particles


def test_particles_shapes_weights_and_runs():
    x = torch.randn(3, 5, 2)
    p = Particles(x)
    assert (p.runs, p.n, p.d) == (3, 5, 2)
    assert torch.allclose(p.weights(), torch.full((3, 5), 0.2))
    one = Particles.of(torch.randn(5, 2), torch.full((5,), 0.2))
    assert one.x.shape == (1, 5, 2) and one.w.shape == (1, 5)
    assert torch.equal(p.run(1).x, x[1:2])
    c = p.cpu()
    assert c.x.device.type == "cpu" and c.x is not p.x


@pytest.mark.parametrize("bad", [torch.randn(5, 2), torch.randn(2, 3, 4, 5), [1.0, 2.0]])
def test_particles_refuse_bad_positions(bad):
    with pytest.raises(ParameterError, match=r"x must be a tensor of shape \(runs, n, d\)"):
        Particles(bad)


def test_particles_refuse_bad_weights():
    with pytest.raises(ParameterError, match="w must have shape"):
        Particles(torch.randn(2, 3, 2), torch.ones(3))
    with pytest.raises(ParameterError, match="sum to 1"):
        Particles.of(torch.randn(2, 3, 2), torch.ones(2, 3))
    with pytest.raises(ParameterError, match="nonnegative"):
        Particles.of(torch.randn(1, 2, 2), torch.tensor([[1.5, -0.5]]))
