"""wgf_core.optim.Adam: the updates of torch.optim.Adam(foreach=True), bit for bit."""

import pytest
import torch

from wgf_core.errors import ParameterError
from wgf_core.networks import mlp
from wgf_core.optim import Adam


def _train(make_opt, dtype, steps=300, skip_every=7, schedule=True):
    """Train a small MLP on a fixed regression; every ``skip_every``-th step the last layer has no gradient,
    and the learning rate decays linearly (as the variational schemes' map). Returns the final parameters."""
    g = torch.Generator().manual_seed(0)
    net = mlp(3, 2, width=16, depth=2, activation="prelu").to(dtype)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype) * 0.3)
    x = torch.randn(64, 3, generator=g, dtype=dtype)
    y = torch.randn(64, 2, generator=g, dtype=dtype)
    params = list(net.parameters())
    opt = make_opt(params)
    for k in range(steps):
        if schedule:
            opt.param_groups[0]["lr"] = 1e-2 * (1.0 - 0.9 * k / steps)
        loss = ((net(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        if skip_every and k % skip_every == 0:
            params[-1].grad = None
        opt.step()
    return [p.detach().clone() for p in params], opt


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adam_equals_torch_foreach_adam_bit_for_bit(dtype):
    ours, opt = _train(lambda ps: Adam(ps, lr=1e-2), dtype)
    ref, ref_opt = _train(lambda ps: torch.optim.Adam(ps, lr=1e-2, foreach=True), dtype)
    for a, b in zip(ours, ref):
        assert torch.equal(a, b)
    # the skipped steps did not advance the last bias's counter, as torch's
    last = list(opt.state.values())[-1]
    assert last[0] == int(list(ref_opt.state.values())[-1]["step"]) < 300
    for st, rst in zip(opt.state.values(), ref_opt.state.values()):
        assert torch.equal(st[1], rst["exp_avg"]) and torch.equal(st[2], rst["exp_avg_sq"])


def test_adam_differs_from_torch_with_other_betas():
    """The comparison above can fail: other moments give other parameters."""
    ours, _ = _train(lambda ps: Adam(ps, lr=1e-2, betas=(0.8, 0.99)), torch.float32, steps=20)
    ref, _ = _train(lambda ps: torch.optim.Adam(ps, lr=1e-2, foreach=True), torch.float32, steps=20)
    assert any(not torch.equal(a, b) for a, b in zip(ours, ref))


def test_adam_first_step_closed_form():
    """At t = 1 the update is -lr * g / (|g| + eps) elementwise (m = (1-b1) g, v = (1-b2) g^2, bias-corrected)."""
    p = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    g = torch.tensor([0.3, -4.0, 1e-3], dtype=torch.float64)
    opt = Adam([p], lr=0.1, eps=1e-8)
    p.grad = g.clone()
    opt.step()
    expected = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) - 0.1 * g / (g.abs() + 1e-8)
    assert torch.allclose(p.detach(), expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("kw, match", [({"lr": 0.0}, "lr"), ({"betas": (1.0, 0.999)}, r"betas\[0\]"),
                                       ({"betas": (0.9, -0.1)}, r"betas\[1\]"), ({"eps": -1.0}, "eps")])
def test_adam_rejects_bad_parameters(kw, match):
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ParameterError, match=match):
        Adam([p], **kw)
    with pytest.raises(ParameterError, match="empty"):
        Adam([])


@pytest.mark.parametrize("scheme", ["neural_backward", "neural_forward"])
def test_neural_schemes_move_as_with_torch_adam(scheme):
    """The neural schemes' optimiser (autograd=True: Adam per parameter) against torch.optim.Adam(foreach=True):
    the same particles after two steps."""
    from wgf_core.flows.riesz import riesz_mmd_energy
    from wgf_core.measures import Particles
    from wgf_core.random import make_generator
    from wgf_core.schemes import NeuralBackward, NeuralForward

    base = {"neural_backward": NeuralBackward, "neural_forward": NeuralForward}[scheme]

    class WithTorchAdam(base):
        def build(self, dim, generator=None, *, device="cpu", dtype=torch.float32):
            super().build(dim, generator, device=device, dtype=dtype)
            self.opt = torch.optim.Adam(self.net.parameters(), lr=self.lr, foreach=True)

    x0 = 0.05 * torch.randn(200, 2, generator=make_generator(1))
    energy = riesz_mmd_energy(None, 1.0)
    out = []
    for cls in (base, WithTorchAdam):
        s = cls(iters=40, width=16, depth=2, batch_size=50, latent_dim=2, lr=1e-3, backend="torch", autograd=True)
        g, mu = make_generator(0), Particles.of(x0)
        for k in range(2):
            mu = s.step(energy, mu, 0.05, k, g)
        assert isinstance(s.opt, Adam) == (cls is base)
        out.append(mu.x)
    assert torch.equal(out[0], out[1]) and not torch.equal(out[0][0], x0)
