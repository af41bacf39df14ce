"""The backend layer (wgf_core.backends): one vocabulary, one rule, the defaults equal to torch, one source of the math."""

import logging
import re
from pathlib import Path

import pytest
import torch

from wgf_core import backends
from wgf_core.backends import kernel_grad_sum, kernel_sum
from wgf_core.backends import numba_sums as NS
from wgf_core.energies import MMD
from wgf_core.fista import project_simplex
from wgf_core.kernels import get_kernel
from wgf_core.measures import Particles
from wgf_core.runner import run
from wgf_core.schemes import IFT, NeuralBackward
from wgf_core.validation import ParameterError

ROOT = Path(__file__).resolve().parents[1] / "wgf_core"
F64 = torch.float64
HAS_NUMBA = NS.available()
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")

# -- where backends are chosen: only in wgf_core/backends ---------------------------------------------------------
#: A test of a backend's name (``backend == "numba"``, ``"keops" != self.backend``, ``backend in (...)``) or a rule
#: of one's own (``_resolve_backend``).
_BRANCH = re.compile(r"""\bbackend\s*(==|!=|\bin\b|\bnot\s+in\b)"""
                     r"""|['"](auto|torch|numba|keops)['"]\s*(==|!=)\s*[\w.]*backend\b"""
                     r"""|\b_?resolve_backend\b""")


def _branches(text: str) -> list:
    """The lines of ``text`` (code, comments and strings alike) that test a backend's name."""
    return [line.strip() for line in text.splitlines() if _BRANCH.search(line)]


def test_backend_branching_lives_only_in_the_backends_package():
    assert _branches('if self.backend == "numba":') and _branches('if "keops" != backend:')  # failing inputs
    assert _branches("    wanted = backend in ('numba', 'auto')") and _branches("b = _resolve_backend(b, x)")
    assert not _branches('kernel_sum(k, x, y, backend=backend)')  # passing the name on is fine
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        if "backends" in path.relative_to(ROOT).parts:
            continue
        lines = _branches(path.read_text())
        if lines:
            found[str(path.relative_to(ROOT))] = lines
    assert not found, f"backend tests outside wgf_core/backends: {found}"
    assert _branches((ROOT / "backends" / "__init__.py").read_text())  # the rule itself is where it belongs


# -- the vocabulary and the rule ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["cuda", "Torch", "", True, None, ["numba"]])
def test_one_vocabulary_refused_naming_backend(bad):
    with pytest.raises(ParameterError, match="parameter 'backend'"):
        backends.check_backend(bad)
    for ok in backends.BACKENDS:
        assert backends.check_backend(ok) == ok


def test_operations_without_an_implementation_refuse_it():
    with pytest.raises(ParameterError, match="'backend' = 'keops' is not allowed for ift_pgd_gauss"):
        IFT(0.1, backend="keops")
    with pytest.raises(ParameterError, match="'backend' = 'keops'"):
        NeuralBackward(backend="keops")
    assert IFT(0.1, backend="torch").backend == "torch"


def test_auto_rule():
    r = backends.resolve
    big = backends.AUTO_MIN_PAIRS
    auto_numba = "numba" if HAS_NUMBA else "torch"
    assert r("kernel_sum", "cpu", torch.float32, big) == auto_numba
    assert r("kernel_sum", "cpu", torch.float32, big - 1) == "torch"
    assert r("kernel_sum", "cpu", torch.float32, big, grad=True) == "torch"
    assert r("kernel_sum", "cuda", torch.float32, big) == "torch"
    assert r("kernel_sum", "cpu", torch.float16, big) == "torch"
    assert r("ift_pgd_gauss", "cpu", F64, backends.IFT_AUTO_MAX_DIM) == auto_numba
    assert r("ift_pgd_gauss", "cpu", F64, backends.IFT_AUTO_MAX_DIM + 1) == "torch"
    assert r("ift_pgd_gauss", "cpu", F64, 2, applicable=False) == "torch"
    assert r("mlp_train", "cpu", torch.float32, 0) == auto_numba
    assert r("kernel_sum", "cpu", torch.float32, 1, backend="torch") == "torch"
    with pytest.raises(ParameterError, match="'backend' = 'numba' runs on CPU tensors only"):
        r("kernel_sum", "meta", torch.float32, big, backend="numba")
    with pytest.raises(ParameterError, match="'backend' = 'numba' does not record autograd"):
        r("kernel_grad_sum", "cpu", torch.float32, big, grad=True, backend="numba")


def test_fallback_is_one_info_line_and_no_warning(monkeypatch, caplog, recwarn):
    monkeypatch.setattr(NS, "available", lambda: False)
    monkeypatch.setattr(backends, "_NOTICED", set())
    k = get_kernel("gauss", 1.0)
    x, y = torch.randn(4, 2), torch.randn(backends.AUTO_MIN_PAIRS, 2)
    with caplog.at_level(logging.DEBUG, logger="wgf_core.backends"):
        for _ in range(3):
            kernel_sum(k, x, y)
    assert backends.chosen()["kernel_sum"] == "torch"
    notes = [rec for rec in caplog.records if rec.name == "wgf_core.backends"]
    assert len(notes) == 1 and notes[0].levelno == logging.INFO and "numba is not installed" in notes[0].getMessage()
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING] and len(recwarn) == 0


def test_runs_record_their_backends():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(1, 20, 2, generator=g, dtype=F64), torch.randn(20, 2, generator=g, dtype=F64)
    t = run(MMD(get_kernel("gauss", 1.0), y), IFT(0.1, backend="torch"), Particles(x), 0.1, 2, show_progress=False)
    assert t.extra["backends"]["ift_pgd_gauss"] == ["torch"]
    assert "witness_sums" in t.extra["backends"]
    with backends.recording() as rec:
        kernel_sum(get_kernel("gauss", 1.0), x[0], y, backend="torch")
    assert rec == {"kernel_sum": ["torch"]}


# -- the defaults against torch -----------------------------------------------------------------------------------
def _points(dtype, n=80, m=70, d=2, seed=0):
    """``x`` ``(n, d)`` with a coincident pair and two points on target points; ``y`` ``(m, d)``; signed weights."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=F64)
    y = torch.randn(m, d, generator=g, dtype=F64)
    x[1] = x[0]
    x[2:4] = y[:2]
    w = torch.rand(m, generator=g, dtype=F64) - 0.3
    return x.to(dtype), y.to(dtype), w.to(dtype)


#: float64: round-off; float32: the relative error of float32 sums over ~70 terms (against the largest entry).
TOL = {F64: 1e-11, torch.float32: 2e-5}


@pytest.mark.parametrize("dtype", [F64, torch.float32])
@pytest.mark.parametrize("kernel", [("gauss", 1.0), ("riesz", 1.0), ("riesz", 0.5)])
def test_kernel_sums_default_equals_torch_at_coincident_points(kernel, dtype):
    k = get_kernel(*kernel)
    x, y, w = _points(dtype)
    assert x.shape[0] * y.shape[0] >= backends.AUTO_MIN_PAIRS  # the default takes the compiled sums where installed
    v, g = kernel_grad_sum(k, x, y, w, with_value=True)
    assert backends.chosen()["kernel_grad_sum"] == ("numba" if HAS_NUMBA else "torch")
    v_t, g_t = kernel_grad_sum(k, x, y, w, with_value=True, backend="torch")
    s, s_t = kernel_sum(k, x, y, w), kernel_sum(k, x, y, w, backend="torch")
    tol = TOL[dtype]
    for a, b in ((v, v_t), (g, g_t), (s, s_t)):
        assert a.dtype == dtype and torch.isfinite(a).all()
        assert float((a - b).abs().max()) <= tol * float(b.abs().max())
    # batched: two runs against a shared target
    xb = torch.stack([x, x.flip(0)])
    gb = kernel_grad_sum(k, xb, y, w)
    assert float((gb[1] - g_t.flip(0)).abs().max()) <= tol * float(g_t.abs().max())
    # a failing input: another kernel parameter is seen
    other = kernel_grad_sum(get_kernel(kernel[0], kernel[1] * 0.9), x, y, w, backend="torch")
    assert float((other - g_t).abs().max()) > 100 * tol * float(g_t.abs().max())


@pytest.mark.parametrize("kernel", [("gauss", 0.7), ("riesz", 1.0), ("riesz", 0.5)])
def test_mmd_energy_gradient_default_equals_torch(kernel):
    x, y, _ = _points(F64, n=90, m=60)
    mu = Particles.of(x)
    e, e_t = MMD(get_kernel(*kernel), y), MMD(get_kernel(*kernel), y, backend="torch")
    assert e.backend == "auto"
    g, g_t = e.gradient(mu), e_t.gradient(mu)
    torch.testing.assert_close(g, g_t, rtol=0, atol=1e-12 * float(g_t.abs().max()))
    h, gh = e.first_variation(mu, mu.x)
    h_t, gh_t = e_t.first_variation(mu, mu.x)
    torch.testing.assert_close(h, h_t, rtol=0, atol=1e-12)
    torch.testing.assert_close(gh, gh_t, rtol=0, atol=1e-12 * float(gh_t.abs().max()))
    assert float((MMD(get_kernel(kernel[0], kernel[1] * 0.8), y, backend="torch").gradient(mu) - g_t).abs().max()) > 1e-6


def _ift_case(seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 40, 2, generator=g, dtype=F64)
    y = torch.randn(2, 50, 2, generator=g, dtype=F64)
    x[:, 1] = x[:, 0]                                      # coincident particles
    x[:, 2] = y[:, 0]                                      # a particle on a target point
    w = torch.full((2, 40), 1 / 40, dtype=F64)
    w[:, :3] = 0.0
    w[:, 3:6] = 2 / 40 + 1 / 40 * 0.5                      # ties in the weights
    return x, y, w / w.sum(-1, keepdim=True)


def test_ift_step_default_equals_torch_at_coincident_points():
    x, y, w = _ift_case()
    energy, mu = MMD(get_kernel("gauss", 1.5), y, 0.5), Particles(x, w)
    default, ref = IFT(0.3), IFT(0.3, backend="torch")
    assert default.fused(energy, mu) is HAS_NUMBA and not ref.fused(energy, mu)
    a, b = default.step(energy, mu, 0.4, 0), ref.step(energy, mu, 0.4, 0)
    assert float((b.x - x).abs().max()) > 1e-3 and float((b.w - w).abs().max()) > 1e-4  # it moved
    torch.testing.assert_close(a.x, b.x, rtol=0, atol=1e-13)
    torch.testing.assert_close(a.w, b.w, rtol=0, atol=1e-13)
    c = IFT(0.3 * 1.01, backend="torch").step(energy, mu, 0.4, 0)
    assert float((c.w - b.w).abs().max()) > 1e-8  # a failing input: the weight step is seen


@needs_numba
def test_compiled_simplex_projection_equals_project_simplex_with_ties():
    # with tau = eta = 0 the fused iteration returns x and the projection of the weights given: the projection alone
    x, y, _ = _ift_case()
    v = torch.tensor([[0.3, 0.3, 0.3, 0.3, -0.1, 0.05, 0.05, 0.0] * 5,
                      [0.5, 0.5, 0.2, 0.2, 0.2, 0.0, 0.0, -1.0] * 5], dtype=F64)
    fused = backends.REGISTRY["ift_pgd_gauss"]["numba"]
    xn, p = fused(x, v, y, torch.full((2, 50), 1 / 50, dtype=F64), s=1.0, c=1.0, tau=0.0, eta=0.0)
    assert torch.equal(xn, x)
    ref = project_simplex(v)
    torch.testing.assert_close(p, ref, rtol=0, atol=1e-15)
    torch.testing.assert_close(p.sum(-1), torch.ones(2, dtype=F64), rtol=0, atol=1e-14)
    other = v.clone()
    other[:, 0] += 0.05  # a failing input: the tie broken
    assert not torch.allclose(project_simplex(other), ref)


def test_neural_step_default_equals_torch():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(60, 2, generator=g, dtype=F64)
    y = torch.randn(50, 2, generator=g, dtype=F64)
    energy = MMD(get_kernel("riesz", 1.0), y)
    opts = dict(iters=5, first_iters=5, width=8, depth=2, batch_size=30, lr=3e-3)
    out = []
    for backend in ("auto", "torch"):
        sch = NeuralBackward(backend=backend, **opts)
        mu = sch.step(energy, Particles.of(x), 0.2, 0, torch.Generator().manual_seed(5))
        out.append((mu.x, sch))
    (a, sa), (b, sb) = out
    assert (sa.numba is not None) is HAS_NUMBA and sb.numba is None
    assert float((b - x).abs().max()) > 1e-4
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_the_environment_makes_auto_resolve_to_torch_and_runs_are_recorded(monkeypatch):
    """WGF_AUTO_BACKEND=torch turns every "auto" into torch (explicit backends stay), another value is refused
    naming the variable, and used() lists every backend that ran."""
    x = torch.zeros(4, 2)
    monkeypatch.delenv(backends.AUTO_ENV, raising=False)
    assert backends.resolve("kernel_sum", "cpu", torch.float32, 10**6) == "numba"
    assert "numba" in backends.used()["kernel_sum"]
    monkeypatch.setenv(backends.AUTO_ENV, "torch")
    assert backends.resolve("kernel_sum", x.device, torch.float32, 10**6) == "torch"
    assert backends.resolve("kernel_sum", "cpu", torch.float32, 10**6, backend="numba") == "numba"
    assert backends.used()["kernel_sum"] == ["numba", "torch"]
    monkeypatch.setenv(backends.AUTO_ENV, "fast")
    with pytest.raises(ParameterError, match="'WGF_AUTO_BACKEND' = 'fast'"):
        backends.resolve("kernel_sum", "cpu", torch.float32, 10**6)
