"""The numba backend of the kernel sums equals the torch backend: every registry kernel, value / gradient /
both, coincident points, batches, float32 precision; ``backend="auto"``; refusals; threads; memory."""

import math
import os
import sys

import pytest
import torch

pytest.importorskip("numba")

from wgf_core import backends  # noqa: E402
from wgf_core.backends import kernel_grad_sum, kernel_sum  # noqa: E402
from wgf_core.backends import numba_sums as kernels_numba  # noqa: E402
from wgf_core.kernels import KERNELS, get_kernel  # noqa: E402
from wgf_core.validation import ParameterError  # noqa: E402

D = torch.float64
PARAM = {"riesz": 1.3}


def _kernel(name, s=None):
    return get_kernel(name, PARAM.get(name, 0.8) if s is None else s)


def _points(n, m, d, seed, batch=()):
    """x (batch, n, d), y (batch, m, d) with coincident points (x containing some y exactly) and a
    duplicated x, weights (batch, m)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*batch, n, d, generator=g, dtype=D)
    y = torch.randn(*batch, m, d, generator=g, dtype=D) * 0.8
    x[..., :4, :] = y[..., 3:7, :]  # coincident pairs
    x[..., 5, :] = x[..., 6, :]  # duplicated x
    w = torch.rand(*batch, m, generator=g, dtype=D)
    return x, y, w


def _close(a, b, rtol=1e-10):
    """Relative to the size of the reference, plus an elementwise relative tolerance."""
    assert a.shape == b.shape and a.dtype == b.dtype
    torch.testing.assert_close(a, b, rtol=rtol, atol=1e-12 * float(b.abs().max()))


@pytest.mark.parametrize("name,s", [(n, None) for n in KERNELS] + [("riesz", 1.0), ("riesz", 0.5), ("compact", 0.3)])
def test_numba_equals_torch_value_gradient_both_incl_coincident_points(name, s):
    k = _kernel(name, s)
    for d in (1, 2, 5):
        x, y, w = _points(37, 29, d, seed=d)
        v_ref, g_ref = kernel_grad_sum(k, x, y, w, with_value=True, backend="torch")
        v = kernel_sum(k, x, y, w, backend="numba")
        g = kernel_grad_sum(k, x, y, w, backend="numba")
        v2, g2 = kernel_grad_sum(k, x, y, w, backend="numba", with_value=True)
        assert torch.isfinite(g).all() and torch.isfinite(v).all()
        for a, b in ((v, v_ref), (g, g_ref), (v2, v_ref), (g2, g_ref)):
            _close(a, b)


@pytest.mark.parametrize("name", ["gauss", "riesz", "compact", "matern2", "W2_1"])
def test_numba_batched_runs_with_per_run_weights_and_a_shared_target(name):
    k = _kernel(name)
    x, _, _ = _points(40, 31, 2, seed=5, batch=(3,))
    _, y, w = _points(40, 31, 2, seed=6, batch=(3,))
    y = y[0]  # shared target (m, d)
    x[:, :3] = y[:3]  # coincident with the shared target
    v_ref, g_ref = kernel_grad_sum(k, x, y, w, with_value=True, backend="torch")
    v, g = kernel_grad_sum(k, x, y, w, backend="numba", with_value=True)
    assert v.shape == (3, 40) and g.shape == (3, 40, 2)
    _close(v, v_ref)
    _close(g, g_ref)
    _close(kernel_sum(k, x, y, w, backend="numba"), v_ref)
    for b in range(3):  # batched = per run
        _close(g[b], kernel_grad_sum(k, x[b], y, w[b], backend="numba"))
    # the other way round: one x, a batch of targets and weights (shapes broadcast like the torch path)
    x1, yb = x[0], torch.stack([y, y.flip(0), 2 * y])
    _close(kernel_grad_sum(k, x1, yb, w, backend="numba"), kernel_grad_sum(k, x1, yb, w))
    # non-contiguous inputs
    xt = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    _close(kernel_sum(k, xt, y, w, backend="numba"), v_ref)


@pytest.mark.parametrize("name", ["gauss", "imq", "matern", "riesz", "student", "W2_2"])
def test_numba_float32_relative_error_below_1e_5(name):
    """N = M = 2000, float32 against float64 on the same rounded points (max-norm relative error)."""
    k = _kernel(name)
    g = torch.Generator().manual_seed(7)
    x32, y32 = torch.randn(2000, 2, generator=g), torch.randn(2000, 2, generator=g)
    y32[:50] = x32[:50]
    w32 = torch.rand(2000, generator=g)
    v_ref, g_ref = kernel_grad_sum(k, x32.double(), y32.double(), w32.double(), with_value=True, backend="torch")
    v, gr = kernel_grad_sum(k, x32, y32, w32, backend="numba", with_value=True)
    assert v.dtype == torch.float32 and gr.dtype == torch.float32
    for a, b in ((v, v_ref), (gr, g_ref)):
        err = float((a.double() - b).abs().max() / b.abs().max())
        assert err <= 1e-5, err


@pytest.fixture
def calls(monkeypatch):
    """Counts the calls of the numba entry points (which path ran)."""
    n = {"numba": 0}
    for fn in ("numba_kernel_sum", "numba_kernel_grad_sum"):
        orig = getattr(kernels_numba, fn)

        def counted(*a, _orig=orig, **kw):
            n["numba"] += 1
            return _orig(*a, **kw)

        monkeypatch.setattr(kernels_numba, fn, counted)
    return n


def test_auto_takes_torch_below_the_threshold_and_numba_from_it(calls):
    k = get_kernel("gauss", 1.0)
    x = torch.randn(1, 2, dtype=D)
    below, at = torch.randn(backends.AUTO_MIN_PAIRS - 1, 2, dtype=D), torch.randn(backends.AUTO_MIN_PAIRS, 2, dtype=D)
    for y in (below, at):
        ref = kernel_grad_sum(k, x, y, with_value=True, backend="torch")
        out = kernel_grad_sum(k, x, y, backend="auto", with_value=True)
        for a, b in zip(out, ref):
            _close(a, b)
    assert calls["numba"] == 1
    kernel_sum(k, x, below, backend="auto")
    assert calls["numba"] == 1
    kernel_sum(k, x, at, backend="auto")
    assert calls["numba"] == 2
    # the batch counts: 2 runs of half the pairs
    half = torch.randn(backends.AUTO_MIN_PAIRS // 2, 2, dtype=D)
    kernel_sum(k, torch.randn(2, 1, 2, dtype=D), half, backend="auto")
    assert calls["numba"] == 3


def test_auto_takes_torch_when_autograd_records_or_numba_is_missing(calls, monkeypatch):
    k = get_kernel("gauss", 1.0)
    x = torch.randn(1, 2, dtype=D, requires_grad=True)
    y = torch.randn(backends.AUTO_MIN_PAIRS, 2, dtype=D)
    kernel_sum(k, x, y, backend="auto").sum().backward()  # torch: autograd works
    assert calls["numba"] == 0 and x.grad is not None and torch.isfinite(x.grad).all()
    with torch.no_grad():
        kernel_sum(k, x, y, backend="auto")
    assert calls["numba"] == 1
    monkeypatch.setattr(kernels_numba, "available", lambda: False)
    kernel_sum(k, x.detach(), y, backend="auto")
    assert calls["numba"] == 1


def test_refusals_name_the_parameter():
    k = get_kernel("gauss", 1.0)
    x = torch.randn(4, 2)
    with pytest.raises(ParameterError, match="'backend'.*'auto', 'torch', 'numba', 'keops'"):
        kernel_sum(k, x, x, backend="numbaa")
    with pytest.raises(ParameterError, match="'backend'.*'numba'.*autograd"):
        kernel_grad_sum(k, x.clone().requires_grad_(True), x, backend="numba")
    with torch.no_grad():  # not recording: allowed
        kernel_grad_sum(k, x.clone().requires_grad_(True), x, backend="numba")
    with pytest.raises(ParameterError, match="'numba'.*float32 and float64"):
        kernel_sum(k, x.half(), x.half(), backend="numba")
    # a non-CPU tensor (the meta device stands in for CUDA on a CPU-only machine)
    devices = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        with pytest.raises(ParameterError, match="'numba' runs on CPU tensors only"):
            kernel_sum(k, x.to(dev), x.to(dev), backend="numba")
        if dev != "meta":  # auto falls back to torch there
            big = torch.randn(backends.AUTO_MIN_PAIRS, 2, device=dev)
            assert kernel_sum(k, big[:1], big, backend="auto").device.type == dev


def test_missing_numba_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba -> ImportError
    monkeypatch.setattr(kernels_numba, "_STATE", {})
    monkeypatch.setattr(kernels_numba, "_COMPILED", {})
    assert not kernels_numba.available()
    with pytest.raises(ImportError, match="pip install .*numba"):
        kernel_sum(get_kernel("gauss"), torch.randn(3, 2), torch.randn(3, 2), backend="numba")


def test_threads_follow_torch_and_small_sums_use_one(monkeypatch):
    """Worker threads are asked for only with torch.get_num_threads() > 1 and from PARALLEL_MIN_PAIRS pairs
    on; the chunks they share give the same sums as one thread."""
    submitted = []
    pool = kernels_numba._pool()

    class Spy:
        def submit(self, fn):
            submitted.append(fn)
            return pool.submit(fn)

    monkeypatch.setattr(kernels_numba, "_pool", lambda: Spy())
    monkeypatch.setattr(kernels_numba, "_CHUNK_PAIRS", 2**12)  # many chunks: every thread takes some
    k = get_kernel("gauss", 1.0)
    g = torch.Generator().manual_seed(3)
    y = torch.randn(kernels_numba.PARALLEL_MIN_PAIRS // 64, 2, generator=g, dtype=D)
    x = torch.randn(2, 32, 2, generator=g, dtype=D)  # 64 rows: exactly PARALLEL_MIN_PAIRS pairs
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = kernel_grad_sum(k, x, y, backend="numba", with_value=True)
        assert submitted == []
        torch.set_num_threads(2)
        two = kernel_grad_sum(k, x, y, backend="numba", with_value=True)
        assert len(submitted) == min(2, os.cpu_count()) - 1
        kernel_grad_sum(k, x[:, :31], y, backend="numba", with_value=True)  # below PARALLEL_MIN_PAIRS
        assert len(submitted) == min(2, os.cpu_count()) - 1
    finally:
        torch.set_num_threads(old)
    for a, b in zip(one, two):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=0)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads resident memory from /proc")
def test_numba_memory_is_linear_in_n():
    """N = M = 20000 float32: the N x M matrix would be 1526 MiB; the fused pass keeps O(N) memory."""

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    k = get_kernel("gauss", 1.0)
    kernel_grad_sum(k, torch.randn(50, 2), torch.randn(50, 2), backend="numba", with_value=True)  # compile
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20000, 2, generator=g), torch.randn(20000, 2, generator=g)
    before = rss_mib()
    v, gr = kernel_grad_sum(k, x, y, backend="numba", with_value=True)
    grown = rss_mib() - before
    assert v.shape == (20000,) and gr.shape == (20000, 2) and math.isfinite(float(v.sum()))
    assert grown < 40, f"resident memory grew by {grown:.0f} MiB"
