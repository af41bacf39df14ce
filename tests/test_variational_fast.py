"""The variational JKO's explicit path (autograd=False, the default where it applies) against autograd (autograd=True).

The two paths compute the same mathematics in another order of float operations: in float64 they agree to rounding
(maps, duals, losses and the OU driver's metrics); in float32 the training (Adam over hundreds of iterations) amplifies
rounding, so there the test compares the OU page's verdicts at ci.
"""

import contextlib
import io
import math

import pytest
import torch
from torch import nn

from wgf_core import pde
from wgf_core.energies.variational import GeneralizedEntropy, KLDivergence
from wgf_core.errors import ParameterError
from wgf_core.experiments import variational as ev
from wgf_core.networks import ExplicitMLP, ResidualMLP, mlp
from wgf_core.random import stream
from wgf_core.schemes.variational import (
    DualConfig,
    ExplicitAffineMap,
    MapConfig,
    PoolConfig,
    TrainConfig,
    VariationalJKO,
)

F64 = torch.float64


def _ou(dtype, seed=0):
    A, b = pde.random_ou_problem(2, stream(seed, "test/variational-fast/problem", 0))
    A, b = A.to(dtype), b.to(dtype)
    return lambda x: -0.5 * (((x - b) @ A) * (x - b)).sum(-1)


def _scheme(path, dtype=F64, seed=0, outer=15, lr_final_factor=1.0):
    return VariationalJKO(2, lambda n, gen: torch.randn(n, 2, generator=gen, dtype=dtype),
                          map=MapConfig("linear", 16, 2), dual=DualConfig(16, 3),
                          train=TrainConfig(outer, 2, 200, 5e-3, 5e-3, lr_final_factor=lr_final_factor),
                          pool=PoolConfig(4000, fresh=False), generator=stream(seed, "test/variational-fast/flow", 0),
                          dtype=dtype, autograd=path == "autograd")


def _flat(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def _two_steps(path, reference, dtype=F64, seed=0, **kw):
    scheme, energy = _scheme(path, dtype, seed, **kw), KLDivergence(_ou(dtype), reference=reference)
    mu = scheme.initial()
    for k in range(2):
        mu = scheme.step(energy, mu, 0.05, k)
    return scheme


@pytest.mark.parametrize("reference", ["pushed", "start"])
def test_explicit_and_torch_paths_agree_in_float64(reference):
    fast, slow = _two_steps("explicit", reference), _two_steps("autograd", reference)
    assert fast.history[-1]["path"] == "explicit" and slow.history[-1]["path"] == "autograd"
    # the same maps, duals and losses to float64 rounding (30 map iterations, each with 2 Adam steps of the dual)
    assert torch.allclose(_flat(fast._current), _flat(slow._current), rtol=0, atol=1e-10)
    assert torch.allclose(_flat(fast.dual), _flat(slow.dual), rtol=0, atol=1e-10)
    for key in ("loss", "transport", "dual_value"):
        assert fast.history[-1][key] == pytest.approx(slow.history[-1][key], rel=1e-10, abs=1e-12)
    # and the maps did move: another seed's torch path is far from both
    other = _two_steps("autograd", reference, seed=1)
    assert float((_flat(other._current) - _flat(slow._current)).abs().max()) > 1e-3


def test_explicit_path_follows_the_learning_rate_schedule():
    fast = _two_steps("explicit", "pushed", lr_final_factor=0.1)
    slow = _two_steps("autograd", "pushed", lr_final_factor=0.1)
    assert torch.allclose(_flat(fast._current), _flat(slow._current), rtol=0, atol=1e-10)
    const = _two_steps("explicit", "pushed")
    assert float((_flat(const._current) - _flat(fast._current)).abs().max()) > 1e-4


def test_path_choice_and_refusals():
    assert _scheme("explicit")._explicit_for(KLDivergence(_ou(F64)))
    assert not _scheme("autograd")._explicit_for(KLDivergence(_ou(F64)))
    assert not _scheme("explicit")._explicit_for(None)   # no variational energy: autograd
    residual = VariationalJKO(2, lambda n, g: torch.randn(n, 2, generator=g), map=MapConfig("residual", 8, 1))
    assert not residual._explicit_for(KLDivergence(_ou(torch.float32)))   # not an affine map: autograd
    dropout = VariationalJKO(2, lambda n, g: torch.randn(n, 2, generator=g), map=MapConfig("linear", 8, 1),
                             dual=DualConfig(8, 2, dropout=0.1))
    assert not dropout._explicit_for(KLDivergence(_ou(torch.float32)))
    with pytest.raises(ParameterError, match="autograd"):
        VariationalJKO(2, lambda n, g: torch.randn(n, 2, generator=g), autograd="yes")


@pytest.mark.parametrize("act", ["prelu", "tanh"])
@pytest.mark.parametrize("narrow", [False, True])
def test_explicit_mlp_gradients_with_prelu_and_narrow_products(act, narrow):
    g = stream(0, "test/variational-fast/mlp", 0)
    net = mlp(2, 1, 16, 3, act).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=F64))
    u = torch.randn(50, 2, generator=g, dtype=F64)
    G = torch.randn(50, 1, generator=g, dtype=F64)
    ug = u.clone().requires_grad_(True)
    ref_param = torch.autograd.grad((net(ug) * G).sum(), list(net.parameters()) + [ug])
    ref_flat = torch.cat([t.reshape(-1) for t in ref_param[:-1]])
    m = ExplicitMLP(net, parametric=True, narrow=narrow)
    assert torch.allclose(m.forward(u), net(u), rtol=0, atol=1e-12)
    m.backward(G)
    # the flat buffer holds the linears' parameters, then the PReLU weights: the modules' order differs, so compare
    # parameter by parameter
    grads = {id(p): gp for p, gp in zip(net.parameters(), ref_param[:-1])}
    for lin, (gw, gb) in zip(m.linears, m._views):
        assert torch.allclose(gw, grads[id(lin.weight)], rtol=1e-12, atol=1e-12)
        assert torch.allclose(gb, grads[id(lin.bias)], rtol=1e-12, atol=1e-12)
    for a in m.acts:
        if type(a) is nn.PReLU:
            assert torch.allclose(m._act_views[id(a.weight)], grads[id(a.weight)], rtol=1e-12, atol=1e-12)
    assert ref_flat.abs().max() > 0
    m.forward(u)
    assert torch.allclose(m.input_grad(G), ref_param[-1], rtol=1e-12, atol=1e-12)
    with pytest.raises(ParameterError, match="call forward first"):
        m.input_grad(G)
    if act == "prelu":
        with pytest.raises(ParameterError, match="ExplicitMLP takes"):
            ExplicitMLP(mlp(2, 1, 8, 2, "prelu"))   # without parametric: refused, as before


def test_explicit_affine_map_form_and_gradient():
    g = stream(0, "test/variational-fast/affine", 0)
    net = ResidualMLP(3, activation="identity", width=8, depth=2, generator=g).double()
    with torch.no_grad():
        net.net[-1].weight.normal_(generator=g)
        net.net[-1].bias.normal_(generator=g)
    y = torch.randn(40, 3, generator=g, dtype=F64)
    G = torch.randn(40, 3, generator=g, dtype=F64)
    grads = torch.autograd.grad((net(y) * G).sum(), list(net.parameters()))
    x = ExplicitAffineMap(net)
    A, c = x.form()
    W64, c64 = VariationalJKO.affine_form64(net, 3)
    assert torch.allclose(A, W64, atol=1e-12) and torch.allclose(c, c64, atol=1e-12)
    assert torch.allclose(y @ A + c, net(y), atol=1e-12)
    x.backward(G.t() @ y, G.sum(0))
    assert torch.allclose(x.grad, torch.cat([t.reshape(-1) for t in grads]), rtol=1e-12, atol=1e-12)
    with pytest.raises(ParameterError, match="ExplicitAffineMap takes"):
        ExplicitAffineMap(ResidualMLP(3, activation="tanh", width=8, depth=2))


def test_kl_dual_gradients_in_closed_form_match_autograd():
    g = stream(0, "test/variational-fast/kl", 0)
    kl = KLDivergence(_ou(F64))
    ty = torch.randn(30, 2, generator=g, dtype=F64)
    h_ty, h_z = torch.randn(30, generator=g, dtype=F64), torch.randn(30, generator=g, dtype=F64)
    ref = kl.reference(torch.randn(500, 2, generator=g, dtype=F64))
    closed = kl.dual_grads(h_ty, h_z, ty, ref)
    auto = super(KLDivergence, kl).dual_grads(h_ty, h_z, ty, ref)   # the base class: autograd of value
    for a, b in zip(closed, auto):
        assert torch.allclose(a, b, rtol=1e-14, atol=1e-16)
    ent = GeneralizedEntropy(2.0)
    got = ent.dual_grads(h_ty, h_z, ty, ent.reference(ty))
    assert not torch.allclose(got[1], closed[1])   # another energy, another gradient


def _ou_run(path, dtype):
    sz = dict(ev.PROFILES["01_ornstein_uhlenbeck"]["ci"], dims=[2])

    def scheme(d, sz, outer, generator, pool, dev):
        return VariationalJKO(d, lambda n, gen: torch.randn(n, d, generator=gen, device=dev),
                              map=MapConfig("linear", sz["width"], sz["depth"]), dual=DualConfig(sz["width"], sz["depth"] + 1),
                              train=TrainConfig(outer, sz["inner"], sz["batch"], 5e-3, 5e-3), pool=PoolConfig(pool, fresh=False),
                              device=dev, generator=generator, dtype=dtype, autograd=path == "autograd")
    return sz, scheme


def test_ou_driver_metrics_agree_in_float64(monkeypatch):
    """The OU page's run_ou at ci (d = 2) in float64: the same curve and errors on both paths."""
    got = {}
    for path in ("autograd", "explicit"):
        sz, scheme = _ou_run(path, F64)
        monkeypatch.setattr(ev, "_ou_scheme", scheme)
        monkeypatch.setattr(ev, "_ou_log_q", lambda A, b, dev: (lambda x: -0.5 * (((x - b) @ A) * (x - b)).sum(-1)))
        got[path] = ev.run_ou(2, 0, sz, step=0.05, t_eval=(0.5, 0.9))
    for t in (0.5, 0.9):
        for key in ("ours", "to_jko", "ours_exact_law"):
            a, b = got["autograd"]["at"][t][key], got["explicit"]["at"][t][key]
            assert math.log10(a) == pytest.approx(math.log10(b), abs=1e-6)
    assert torch.allclose(torch.as_tensor(got["autograd"]["curve"]), torch.as_tensor(got["explicit"]["curve"]), rtol=1e-6)


def test_ou_page_verdicts_at_ci_are_the_same_on_both_paths(monkeypatch):
    """The OU page's drivers at ci (float32, every dimension, both paths): the same status for every claim that is
    computed (the timing claim measures the machine and is left out)."""
    status = {}
    orig = ev._ou_scheme
    for path in ("autograd", "explicit"):
        def scheme(*a, path=path, **k):
            s = orig(*a, **k)
            s.autograd = path == "autograd"
            return s
        monkeypatch.setattr(ev, "_ou_scheme", scheme)
        with contextlib.redirect_stdout(io.StringIO()):
            st = ev.setup("01_ornstein_uhlenbeck", "ci", "cpu", 0)
            ens = ev.run_ou_ensemble(st)
            entries = ev.ou_verdicts(st, ens)
        status[path] = {e["id"]: e["status"] for e in entries if e["id"] != "ou-time-vs-d"}
    assert len(status["autograd"]) == 10 and status["autograd"] == status["explicit"]
