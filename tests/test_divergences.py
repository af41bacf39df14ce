"""Entropy registry: convexity, normalisation, conjugates, prox and recession constants."""

import math

import pytest
import torch

from wgf_core.divergences import ALIASES, ENTROPIES, get_entropy
from wgf_core.validation import ParameterError

D = torch.float64

CASES = [
    ("kl", None), ("tsallis", 0.5), ("tsallis", 1.0), ("tsallis", 2.0), ("tsallis", 3.0),
    ("jeffreys", None), ("chi", 1.0), ("chi", 1.5), ("chi", 2.0), ("chi", 3.0), ("burg", None),
    ("jensen_shannon", None), ("tv", None), ("matusita", 0.5), ("matusita", 0.8), ("kafka", 0.5),
    ("marton", None), ("perimeter", 0.5), ("perimeter", -1.0), ("lindsay", 0.0), ("lindsay", 0.5),
    ("lindsay", 1.0), ("zero", None), ("equality_indicator", None),
]
# the ends of each alpha range and a middle value (book/conventions.md, "Accepted ranges")
RANGE_CASES = [("tsallis", 0.1), ("tsallis", 10.0), ("chi", 8.0), ("matusita", 0.1), ("matusita", 1.0),
               ("kafka", 0.1), ("kafka", 0.9), ("kafka", 1.0), ("perimeter", 0.1), ("perimeter", 0.9),
               ("perimeter", -0.1), ("perimeter", -5.0), ("lindsay", 0.05), ("lindsay", 0.95)]
IDS = [f"{n}-{a}" for n, a in CASES]
ALL = CASES + RANGE_CASES
ALL_IDS = [f"{n}-{a}" for n, a in ALL]
SMOOTH_EXCLUDE = {"equality_indicator", "zero", "tv"}


def test_every_registry_entry_is_covered():
    assert {n for n, _ in CASES} == set(ENTROPIES)


@pytest.mark.parametrize("name,alpha", ALL, ids=ALL_IDS)
def test_normalised_nonnegative_convex(name, alpha):
    e = get_entropy(name, alpha)
    # f(1) = 0 up to rounding: the perimeter entropy computes 2^a - 2^(a-1) * 2, which is -4.4e-16 on
    # some CPUs (issue 14); a few ulps of the terms' size is the precision of the formula
    assert abs(float(e.f(torch.ones(1, dtype=D)))) <= 1e-14
    if name == "equality_indicator":
        assert math.isinf(float(e.f(torch.tensor([0.5], dtype=D))))
        return
    x = torch.linspace(1e-3, 20, 40001, dtype=D)
    fx = e.f(x)
    assert bool((fx >= -1e-12).all())
    second = fx[2:] - 2 * fx[1:-1] + fx[:-2]
    assert float(second.min()) >= -1e-9


@pytest.mark.parametrize("name,alpha", ALL, ids=ALL_IDS)
def test_derivatives_match_autograd(name, alpha):
    e = get_entropy(name, alpha)
    if name in SMOOTH_EXCLUDE:
        pytest.skip("not differentiable / trivial")
    x = torch.tensor([0.05, 0.3, 0.7, 1.4, 2.5, 7.0], dtype=D, requires_grad=True)
    (g,) = torch.autograd.grad(e.f(x).sum(), x)
    torch.testing.assert_close(e.df(x.detach()), g, rtol=1e-8, atol=1e-10)
    (g2,) = torch.autograd.grad(e.df(x).sum(), x)
    torch.testing.assert_close(e.d2f(x.detach()), g2, rtol=1e-7, atol=1e-9)


def _numerical_conj(e, s):
    x = torch.cat([torch.linspace(0, 4, 100001, dtype=D), torch.linspace(4, 60, 50001, dtype=D)])
    fx = e.f(x)
    return (s[:, None] * x[None, :] - fx[None, :]).max(dim=1)


@pytest.mark.parametrize("name,alpha", ALL, ids=ALL_IDS)
def test_conjugate_against_numerical_sup(name, alpha):
    e = get_entropy(name, alpha)
    lo = max(e.df0 - 1.0, -4.0) if math.isfinite(e.df0) else -4.0
    hi = min(e.recession - 1e-2, 2.0) if math.isfinite(e.recession) else 2.0
    s = torch.linspace(lo, hi, 23, dtype=D)
    xs = e.conj_grad(s)
    keep = xs < 40  # argmax inside the grid
    s = s[keep]
    val, _ = _numerical_conj(e, s)
    fs = e.conj(s)
    # numerical sup is a lower bound that is tight on the fine grid
    assert bool((fs >= val - 1e-9).all())
    torch.testing.assert_close(fs, val, rtol=1e-5, atol=1e-5)
    # (f*)'(s) is the maximiser: f*(s) = s x - f(x)
    xs = e.conj_grad(s)
    if name != "equality_indicator":
        torch.testing.assert_close(s * xs - e.f(xs), fs, rtol=1e-7, atol=1e-8)
    # beyond the domain
    if math.isfinite(e.recession):
        assert math.isinf(float(e.conj(torch.tensor([e.recession + 0.5], dtype=D))))


@pytest.mark.parametrize("name,alpha", ALL, ids=ALL_IDS)
def test_conj_grad_is_derivative_of_conj(name, alpha):
    e = get_entropy(name, alpha)
    if name in SMOOTH_EXCLUDE | {"marton"}:
        pytest.skip("piecewise")
    lo = max(e.df0 + 0.05, -3.0) if math.isfinite(e.df0) else -3.0
    hi = min(e.recession - 0.05, 1.5) if math.isfinite(e.recession) else 1.5
    s = torch.linspace(lo, hi, 9, dtype=D)
    h = 1e-6
    num = (e.conj(s + h) - e.conj(s - h)) / (2 * h)
    torch.testing.assert_close(e.conj_grad(s), num, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,alpha", ALL, ids=ALL_IDS)
@pytest.mark.parametrize("tau", [0.05, 1.0])
def test_prox_against_numerical_argmin(name, alpha, tau):
    e = get_entropy(name, alpha)
    v = torch.tensor([-1.0, 0.0, 0.2, 0.9, 1.0, 1.3, 3.0], dtype=D)
    p = e.prox(v, tau)
    assert bool((p >= 0).all())
    x = torch.linspace(0, 5, 100001, dtype=D)
    obj = tau * e.f(x)[None, :] + 0.5 * (x[None, :] - v[:, None]) ** 2
    best, idx = obj.min(dim=1)
    ours = tau * e.f(p) + 0.5 * (p - v) ** 2
    assert bool((ours <= best + 1e-9).all()), (ours - best)
    if name not in {"zero"}:  # strictly convex objective: argmin unique
        torch.testing.assert_close(p, x[idx], rtol=0, atol=2e-4)


@pytest.mark.parametrize("name,alpha", CASES, ids=IDS)
def test_recession_constant_is_limit_of_f_over_x(name, alpha):
    e = get_entropy(name, alpha)
    if name == "equality_indicator":
        assert math.isinf(e.recession)
        return
    x = torch.tensor([1e6, 1e12], dtype=D)
    ratio = e.f(x) / x
    if math.isinf(e.recession):
        assert float(ratio[1]) > 10 and float(ratio[1]) > float(ratio[0])
    else:
        assert abs(float(ratio[1]) - e.recession) < 1e-3
        # and f'(x) -> f'_inf as well (dom f* = (-inf, f'_inf]); tv: f' = sign(x - 1) = 1 = f'_inf already
        assert abs(float(e.df(x[1:])) - e.recession) < 1e-3


@pytest.mark.parametrize("name,alpha", CASES, ids=IDS)
def test_df0_is_right_derivative_at_zero(name, alpha):
    e = get_entropy(name, alpha)
    if name == "equality_indicator":
        # f = +inf off x = 1, so f'(0+) is -inf by convention: f*(s) = s for every s, (f*)' = 1
        assert math.isinf(e.df0) and e.df0 < 0
        s = torch.tensor([-3.0, 0.0, 2.0], dtype=D)
        torch.testing.assert_close(e.conj(s), s, rtol=0, atol=1e-15)
        torch.testing.assert_close(e.conj_grad(s), torch.ones_like(s), rtol=0, atol=1e-15)
        return
    if name in {"zero", "tv"}:
        # piecewise linear: the right difference quotient at 0 is f'(0+) itself
        h = 1e-3
        f0, fh = e.f(torch.tensor([0.0, h], dtype=D))
        assert abs(float((fh - f0) / h) - e.df0) < 1e-9
        assert abs(float(e.df(torch.tensor([1e-14], dtype=D))) - e.df0) < 1e-12
        return
    d = float(e.df(torch.tensor([1e-14], dtype=D)))
    if math.isinf(e.df0):
        assert d < -5
    else:
        assert abs(d - e.df0) < 1e-3


@pytest.mark.parametrize("name,alpha", RANGE_CASES, ids=[f"{n}-{a}" for n, a in RANGE_CASES])
def test_limits_at_the_ends_of_the_alpha_range(name, alpha):
    """f'_inf = lim f(x)/x = lim f'(x) and f'(0+) = lim_{x -> 0} f'(x), probed far out: at the ends of an alpha
    range they converge like x^(-alpha) or x^(1/alpha - 1), too slowly for the probes of the tests above
    (matusita 0.1: f(x)/x = 1 - 10 x^(-0.1) + ..., probed at 1e80)."""
    e = get_entropy(name, alpha)
    big = torch.tensor([1e80 if name == "matusita" else 1e30], dtype=D)  # no overflow of x^(1/alpha) at 1e30
    small = torch.tensor([1e-100], dtype=D)
    if math.isinf(e.recession):
        assert float(e.f(big) / big) > 1e3
    else:
        assert abs(float(e.f(big) / big) - e.recession) < 1e-6
        assert abs(float(e.df(big)) - e.recession) < 1e-6
    d = float(e.df(small))
    assert d < -5 if math.isinf(e.df0) else abs(d - e.df0) < 1e-6


def test_aliases_and_errors():
    for alias, name in ALIASES.items():
        assert get_entropy(alias).name == name
    assert abs(get_entropy("tsallis", 1.0).conj(torch.zeros(1, dtype=D)).item()) <= 1e-15  # f*(0) = -inf f = 0
    with pytest.raises(ParameterError, match="divergence"):
        get_entropy("hellinger-ish")
    with pytest.raises(ParameterError, match="alpha"):
        get_entropy("chi", 0.5)
    with pytest.raises(ParameterError, match="alpha"):
        get_entropy("tsallis", -1.0)


def test_kl_is_tsallis_limit():
    x = torch.linspace(0.1, 4, 20, dtype=D)
    kl, t = get_entropy("kl"), get_entropy("tsallis", 1.0 + 1e-7)
    torch.testing.assert_close(t.f(x), kl.f(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.5, 3.0])
def test_tsallis_closed_form_prox_is_the_root(alpha):
    """The closed-form proxes (Tsallis 1/2: a cubic in sqrt(x); Tsallis 3: a quadratic) solve
    x + tau f'(x) = v to float64 precision over many orders of magnitude, against a 50-digit root."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    e = get_entropy("tsallis", alpha)
    vs = [-1e4, -10.0, -1.0, -1e-3, 0.0, 1e-6, 1e-3, 0.5, 1.0, 3.0, 1e3]
    for tau in (1e-8, 1e-3, 0.3, 1.0, 1e4):
        x = e.prox(torch.tensor(vs, dtype=D), tau)
        assert bool(torch.isfinite(x).all()) and bool((x >= 0).all())
        for v, xi in zip(vs, x.tolist()):
            if alpha == 0.5:  # u = sqrt(x): u^3 + (tau - v) u - tau = 0, one positive root
                p = mp.mpf(tau) - mp.mpf(v)
                u = mp.findroot(lambda u: u**3 + p * u - tau, mp.sqrt(mp.mpf(xi)) if xi > 0 else mp.mpf(tau) / p)
                exact = u * u
            else:  # 1.5 tau x^2 + x - (v + 1.5 tau) = 0, or 0 when v <= -1.5 tau
                c = mp.mpf(v) + mp.mpf(1.5) * tau
                exact = mp.mpf(0) if c <= 0 else (-1 + mp.sqrt(1 + 6 * tau * c)) / (3 * tau)
            if exact == 0:
                assert xi == 0.0  # exactly 0 is the property: the prox is clamped at the boundary
            else:
                assert abs(xi - float(exact)) <= 1e-13 * float(exact), (tau, v, xi, float(exact))
    # same answer from a tensor tau and in float32 (within its precision)
    v = torch.tensor([-1.0, 0.2, 2.0], dtype=D)
    # exact: a float tau and the same tau as a tensor run the same arithmetic
    torch.testing.assert_close(e.prox(v, torch.tensor(0.3, dtype=D)), e.prox(v, 0.3), rtol=0, atol=0)
    torch.testing.assert_close(e.prox(v.float(), 0.3), e.prox(v, 0.3).float(), rtol=1e-5, atol=1e-7)


def _kl_by_quadrature(f, a, b):
    """int f(rho) dnu for sigma = a N(0.3, 0.8^2), nu = b N(-0.2, 1.3^2) on a fine grid (rho = dsigma/dnu)."""
    x = torch.linspace(-15.0, 15.0, 200001, dtype=D)
    pdf = lambda m, s: torch.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))  # noqa: E731
    sig, nu = a * pdf(0.3, 0.8), b * pdf(-0.2, 1.3)
    return float(torch.trapezoid(f(sig / nu) * nu, x))


def test_kl_convention_of_the_registry_and_of_the_variational_table():
    """The registry's x log x - x + 1 and the paper's x log x give the same KL between probability
    measures (two Gaussians, closed form); between unnormalised ones they differ by nu(R) - sigma(R)."""
    from wgf_core.energies.variational import f_kl
    from wgf_core.metrics import gaussian_kl

    kl = get_entropy("kl")
    t = lambda v: torch.tensor([[v]], dtype=D)  # noqa: E731
    closed = float(gaussian_kl(t(0.3)[0], t(0.64), t(-0.2)[0], t(1.69)))
    assert closed == pytest.approx(math.log(1.3 / 0.8) + (0.8**2 + 0.5**2) / (2 * 1.3**2) - 0.5, rel=1e-12)
    x_log_x = lambda r: torch.xlogy(r, r)  # noqa: E731
    assert _kl_by_quadrature(kl.f, 1.0, 1.0) == pytest.approx(closed, rel=1e-8)
    assert _kl_by_quadrature(x_log_x, 1.0, 1.0) == pytest.approx(closed, rel=1e-8)
    assert _kl_by_quadrature(f_kl, 1.0, 1.0) == pytest.approx(closed, rel=1e-8)   # the variational table is the registry
    # unnormalised: sigma of mass a, nu of mass b
    a, b = 2.0, 0.5
    reg, plain = _kl_by_quadrature(kl.f, a, b), _kl_by_quadrature(x_log_x, a, b)
    assert plain == pytest.approx(a * closed + a * math.log(a / b), rel=1e-8)
    assert reg - plain == pytest.approx(b - a, rel=1e-8)   # nu(R) - sigma(R) = -1.5, not 0
