"""wgf_core.backends.numba_mlp.NumbaMLP: forward pass, gradients and Adam against torch (autograd, torch.optim.Adam)."""

import pytest
import torch
from torch import nn

from wgf_core.backends.numba_mlp import ACTIVATIONS, NumbaMLP, supports
from wgf_core.errors import ParameterError
from wgf_core.networks import mlp

pytest.importorskip("numba")

TOL = {torch.float64: 1e-12, torch.float32: 2e-5}


def _pair(activation, dtype, width=16, depth=3, n_in=5, n_out=3, seed=0):
    """A network and an exact copy of it."""
    torch.manual_seed(seed)
    net = mlp(n_in, n_out, width, depth, activation).to(dtype)
    ref = mlp(n_in, n_out, width, depth, activation).to(dtype)
    ref.load_state_dict(net.state_dict())
    return net, ref


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_forward_and_gradient_equal_autograd(activation, dtype):
    net, ref = _pair(activation, dtype)
    m = NumbaMLP(net, lr=1e-3)
    g = torch.Generator().manual_seed(1)
    u = 2 * torch.randn(41, 5, generator=g, dtype=dtype)  # both signs of every pre-activation, softplus' linear part
    G = torch.randn(41, 3, generator=g, dtype=dtype)
    out = m.forward(u)
    ref_out = ref(u)
    assert _rel(out, ref_out.detach()) < TOL[dtype]
    (ref_out * G).sum().backward()
    m.step(G)
    flat_ref = torch.cat([torch.cat([lin.weight.grad.flatten(), lin.bias.grad]) for lin in ref[0::2]])
    assert _rel(m.gradient(), flat_ref) < TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_adam_steps_equal_torch_adam(dtype):
    # 30 steps of forward / backward / Adam against autograd + torch.optim.Adam on the same batches; the torch module
    # trained by NumbaMLP evaluates the trained weights (its parameters are views of the buffer)
    net, ref = _pair("relu", dtype)
    m = NumbaMLP(net, lr=1e-2, betas=(0.8, 0.99), eps=1e-7)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-2, betas=(0.8, 0.99), eps=1e-7)
    g = torch.Generator().manual_seed(2)
    for _ in range(30):
        u = torch.randn(17, 5, generator=g, dtype=dtype)
        target = torch.randn(17, 3, generator=g, dtype=dtype)
        out = m.forward(u)
        m.step(2 * (out - target) / out.numel())  # the gradient of the mean squared error
        opt.zero_grad()
        ((ref(u) - target) ** 2).mean().backward()
        opt.step()
    for a, b in zip(net.parameters(), ref.parameters()):
        assert _rel(a.detach(), b.detach()) < 50 * TOL[dtype]
    u = torch.randn(9, 5, generator=g, dtype=dtype)
    assert _rel(net(u).detach(), ref(u).detach()) < 50 * TOL[dtype]
    assert m.steps == 30
    # a failing input: the same training with torch's default betas ends elsewhere
    net2, _ = _pair("relu", dtype)
    m2 = NumbaMLP(net2, lr=1e-2)
    g = torch.Generator().manual_seed(2)
    for _ in range(30):
        u = torch.randn(17, 5, generator=g, dtype=dtype)
        target = torch.randn(17, 3, generator=g, dtype=dtype)
        out = m2.forward(u)
        m2.step(2 * (out - target) / out.numel())
    assert max(_rel(a.detach(), b.detach()) for a, b in zip(net2.parameters(), ref.parameters())) > 1e-3


def test_first_step_is_minus_lr_times_the_sign_of_the_gradient():
    # Adam's first update is -lr * g / (|g| + eps (1 - beta2)^(1/2)): -lr sign(g) where |g| >> eps
    net, _ = _pair("tanh", torch.float64)
    m = NumbaMLP(net, lr=0.01)
    before = m.flat.clone()
    m.forward(torch.randn(8, 5, dtype=torch.float64))
    m.step(torch.randn(8, 3, dtype=torch.float64))
    grad = m.gradient()
    big = grad.abs() > 1e-3  # there eps / |g| <= 1e-5
    assert big.sum() > grad.numel() // 2
    assert torch.allclose((m.flat - before)[big], -0.01 * grad.sign()[big], rtol=1e-5, atol=0)


def test_supports_and_refusals():
    assert supports(mlp(2, 2, 8, 2, "relu"))
    assert not supports(mlp(2, 2, 8, 2, "prelu"))  # a trained activation parameter: not in the compiled code
    assert not supports(nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)))
    assert not supports(mlp(2, 2, 8, 2, "relu").to(torch.float16))
    assert not supports(nn.Sequential(nn.Linear(2, 8, bias=False), nn.ReLU(), nn.Linear(8, 2)))
    with pytest.raises(ParameterError, match="NumbaMLP trains"):
        NumbaMLP(mlp(2, 2, 8, 2, "prelu"))
    with pytest.raises(ParameterError, match="betas"):
        NumbaMLP(mlp(2, 2, 8, 2, "relu"), betas=(1.0, 0.9))
    with pytest.raises(ParameterError, match="'lr'"):
        NumbaMLP(mlp(2, 2, 8, 2, "relu"), lr=-1.0)
    m = NumbaMLP(mlp(2, 2, 8, 2, "relu"))
    with pytest.raises(ParameterError, match="call forward first"):
        m.step(torch.zeros(4, 2))
    with pytest.raises(ParameterError, match=r"input of shape \(B, 2\)"):
        m.forward(torch.zeros(4, 3))
    m.forward(torch.zeros(4, 2))
    with pytest.raises(ParameterError, match="grad_out of shape"):
        m.step(torch.zeros(5, 2))


def test_a_nan_reaches_the_weights():
    # no 'nnan' fast-math: a NaN in the loss's gradient is not optimised away (the runner's checks must see it)
    m = NumbaMLP(mlp(2, 2, 8, 2, "relu"))
    m.forward(torch.randn(4, 2))
    m.step(torch.full((4, 2), float("nan")))
    assert torch.isnan(m.flat).any()


def _neural_step(cls, backend, energy_backend, tau=0.05, target=None, lr=1e-2, **opts):
    """One float64 step (k = 0) of a neural Riesz scheme on 40 particles: its particles and trained weights (one
    vector), and the iterations each call of NumbaMLP.train_riesz (the fused loop) ran."""
    from wgf_core.flows.riesz import riesz_mmd_energy
    from wgf_core.measures import Particles

    x = 0.1 * torch.randn(40, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    scheme = cls(iters=6, width=8, depth=2, batch_size=12, latent_dim=2, lr=lr, backend=backend, **opts)
    calls = []
    if backend == "numba":
        real = NumbaMLP.train_riesz

        def spy(self, *a, **k):
            calls.append(a[1].shape[0])
            return real(self, *a, **k)

        NumbaMLP.train_riesz = spy
    try:
        energy = riesz_mmd_energy(target, 1.0, backend=energy_backend)
        out = scheme.step(energy, Particles.of(x), tau, 0, torch.Generator().manual_seed(4)).x[0]
    finally:
        if backend == "numba":
            NumbaMLP.train_riesz = real
    return torch.cat([out.flatten()] + [p.detach().flatten() for p in scheme.net.parameters()]), calls


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("with_target", [False, True])
def test_fused_backward_loop_equals_the_torch_path(standardize, with_target):
    # NumbaMLP.train_riesz runs 5 of the 6 iterations of the step (the last one reads the loss: per iteration); the
    # torch path (ExplicitMLP, torch sums) on the same draws gives the same particles in float64
    from wgf_core.schemes import NeuralBackward

    target = (None if not with_target
              else 0.3 * torch.randn(30, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    fused, calls = _neural_step(NeuralBackward, "numba", "numba", target=target, standardize=standardize)
    ref, _ = _neural_step(NeuralBackward, "torch", "torch", target=target, standardize=standardize)
    assert calls == [5]
    assert float((fused - ref).abs().max()) < 1e-10
    # a failing input: another step size moves the particles elsewhere
    other, _ = _neural_step(NeuralBackward, "torch", "torch", tau=0.07, target=target, standardize=standardize)
    assert float((fused - other).abs().max()) > 1e-6


@pytest.mark.parametrize("standardize", [False, True])
def test_fused_forward_loop_equals_the_torch_path(standardize):
    from wgf_core.schemes import NeuralForward

    fused, calls = _neural_step(NeuralForward, "numba", "numba", standardize=standardize)
    ref, _ = _neural_step(NeuralForward, "torch", "torch", standardize=standardize)
    assert calls == [6]
    assert float((fused - ref).abs().max()) < 1e-10
    other, _ = _neural_step(NeuralForward, "torch", "torch", standardize=standardize, lr=1.1e-2)
    assert float((fused - other).abs().max()) > 1e-6


def test_train_riesz_refuses_a_bad_call():
    m = NumbaMLP(mlp(4, 2, 8, 2, "relu").to(torch.float64))
    from wgf_core.kernels import get_kernel

    with pytest.raises(ParameterError, match="train_riesz"):
        m.train_riesz(get_kernel("riesz", 1.0), torch.zeros(3, 5, 4, dtype=torch.float64))  # neither x nor grad_rows
    with pytest.raises(ParameterError, match="train_riesz"):
        m.train_riesz(get_kernel("riesz", 1.0), torch.zeros(3, 5, 3, dtype=torch.float64),
                      grad_rows=torch.zeros(3, 5, 2, dtype=torch.float64))
