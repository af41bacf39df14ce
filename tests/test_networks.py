"""wgf_core.networks.ExplicitMLP: an mlp's forward and backward passes written out, autograd's bit for bit."""

import pytest
import torch
from torch import nn

from wgf_core.errors import ParameterError
from wgf_core.networks import EXPLICIT_BACKWARDS, ExplicitMLP, explicit_supported, flatten_linears, mlp, mlp_layers
from wgf_core.optim import Adam

NAMES = {nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.ELU: "elu", nn.Tanh: "tanh", nn.SiLU: "silu",
         nn.Softplus: "softplus"}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("activation", [NAMES[c] for c in EXPLICIT_BACKWARDS])
def test_explicit_training_equals_autograd_bit_for_bit(activation, dtype):
    # 60 steps of forward / backward / Adam on one flat tensor against autograd and Adam on the module's parameters
    torch.manual_seed(0)
    net = mlp(5, 3, 24, 3, activation).to(dtype)
    ref = mlp(5, 3, 24, 3, activation).to(dtype)
    ref.load_state_dict(net.state_dict())
    m = ExplicitMLP(net)
    opt, ref_opt = Adam([m.flat], lr=1e-2), Adam(ref.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for _ in range(60):
        u = 3 * torch.randn(37, 5, generator=g, dtype=dtype)  # both signs of every pre-activation, softplus' linear part
        G = torch.randn(37, 3, generator=g, dtype=dtype)
        out = m.forward(u)
        m.backward(G)
        opt.step()
        r = ref(u)
        ref_opt.zero_grad()
        (r * G).sum().backward()
        ref_opt.step()
        assert torch.equal(out, r.detach())
    for a, b in zip(net.parameters(), ref.parameters()):
        assert torch.equal(a.detach(), b.detach())
    assert torch.equal(net(u), ref(u))  # the module evaluates the trained weights (views of the flat buffer)


def test_gradient_equals_autograd_and_fails_on_another_input():
    torch.manual_seed(2)
    net = mlp(4, 2, 16, 2, "relu")
    ref = mlp(4, 2, 16, 2, "relu")
    ref.load_state_dict(net.state_dict())
    m = ExplicitMLP(net)
    u, G = torch.randn(10, 4), torch.randn(10, 2)
    m.forward(u)
    m.backward(G)
    (ref(u) * G).sum().backward()
    flat_ref = torch.cat([p.grad.flatten() for p in ref.parameters()])
    assert torch.equal(m.grad, flat_ref)
    m.forward(u)
    m.backward(2 * G)
    assert not torch.equal(m.grad, flat_ref)


def test_supported_networks_and_refusals():
    assert explicit_supported(mlp(2, 2, 8, 2, "relu"))
    assert not explicit_supported(mlp(2, 2, 8, 2, "prelu"))  # a trained activation parameter
    assert not explicit_supported(nn.Sequential(nn.Linear(2, 8), nn.ReLU(inplace=True), nn.Linear(8, 2)))
    assert not explicit_supported(nn.Sequential(nn.Linear(2, 8, bias=False), nn.ReLU(), nn.Linear(8, 2)))
    assert not explicit_supported(nn.Linear(2, 2))
    with pytest.raises(ParameterError, match="ExplicitMLP takes"):
        ExplicitMLP(mlp(2, 2, 8, 2, "prelu"))
    m = ExplicitMLP(mlp(2, 2, 8, 2, "relu"))
    with pytest.raises(ParameterError, match="call forward first"):
        m.backward(torch.zeros(3, 2))


def test_flatten_linears_keeps_the_network_and_shares_its_buffer():
    torch.manual_seed(3)
    net = mlp(3, 2, 8, 2, "tanh").double()
    u = torch.randn(5, 3, dtype=torch.float64)
    before = net(u).detach()
    linears, acts = mlp_layers(net)
    assert len(linears) == 3 and len(acts) == 2
    flat, offsets = flatten_linears(linears)
    assert flat.numel() == sum(p.numel() for p in net.parameters())
    assert torch.equal(net(u), before)  # the same weights, now views of flat
    wo, bo = offsets[1]
    assert torch.equal(flat[wo:bo].view(8, 8), linears[1].weight) and torch.equal(flat[bo:bo + 8], linears[1].bias)
    with torch.no_grad():
        flat[bo:bo + 8] += 1.0  # written into the buffer: the module sees it
    assert not torch.allclose(net(u), before)
    assert mlp_layers(nn.Sequential(nn.Linear(2, 8, bias=False), nn.ReLU(), nn.Linear(8, 2))) is None
    assert mlp_layers(nn.Sequential(nn.Linear(2, 8), nn.ReLU())) is None
