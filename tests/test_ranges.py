"""Every accepted parameter range is checked over the range (issue 18): the table of
``book/conventions.md`` ("Accepted ranges, and what checks them") names, for each public energy, scheme
and runner argument, the range accepted, the first value refused and the check (a closed form or a
test). Here: the table's tests exist, each constructor refuses the value listed, and the checks that
no other test made: the ends of each range against a closed form or a limit."""

import ast
import math
import re
from pathlib import Path

import pytest
import torch

from wgf_core.backends import kernel_grad_sum
from wgf_core.divergences import get_entropy
from wgf_core.energies import MMD, GeneralizedEntropy, JensenShannon, KLDivergence, MoreauFDivergence
from wgf_core.energies.variational import BoxReference, Interaction, f_entropy, f_entropy_conjugate, gaussian_attraction
from wgf_core.errors import ParameterError
from wgf_core.fista import solve_simplex_qp
from wgf_core.kernels import KERNELS, get_kernel, kernel_matrix
from wgf_core.measures import Particles
from wgf_core.metrics import mmd2
from wgf_core.runner import run
from wgf_core.schemes import (
    IFT,
    WFR,
    DualConfig,
    Euler,
    MapConfig,
    NeuralBackward,
    NeuralForward,
    PoolConfig,
    RieszEuler,
    StepControlledEuler,
    TrainConfig,
    VariationalJKO,
)

ROOT = Path(__file__).resolve().parents[1]
D = torch.float64
TEST_REF = re.compile(r"(tests/test_\w+\.py)::(test_\w+)")


def _table() -> list[dict]:
    """The rows of the section "Accepted ranges, and what checks them" of book/conventions.md."""
    text = (ROOT / "book" / "conventions.md").read_text()
    section = text.split("## Accepted ranges, and what checks them", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 5 or cells[0] in ("class", "") or set(cells[0]) <= set("-: "):
            continue
        rows.append(dict(zip(("cls", "param", "accepted", "refused", "check"), cells)))
    return rows


def test_the_table_lists_every_public_class_and_its_tests_exist():
    rows = _table()
    assert len(rows) >= 60
    classes = {r["cls"].strip("`") for r in rows}
    for name in ("get_kernel", "get_entropy", "MMD", "MoreauFDivergence", "KLDivergence", "GeneralizedEntropy",
                 "JensenShannon", "Interaction", "gaussian_attraction", "Euler", "IFT", "WFR", "StepControlledEuler",
                 "RieszEuler", "NeuralBackward", "NeuralForward", "VariationalJKO", "MapConfig", "DualConfig",
                 "TrainConfig", "PoolConfig", "run"):
        assert name in classes, name
    missing = []
    for r in rows:
        refs = TEST_REF.findall(r["check"])
        assert refs or "closed form" in r["check"] or "validity only" in r["check"], r
        for path, name in refs:
            source = (ROOT / path).read_text() if (ROOT / path).exists() else ""
            if not re.search(rf"^def {name}\(", source, re.M):
                missing.append(f"{path}::{name}")
    assert not missing, missing


# --- each constructor refuses the first out-of-range value of the table ---------------------------------------
def _y():
    return torch.randn(6, 2, generator=torch.Generator().manual_seed(0), dtype=D)


def _moreau(**kw):
    args = dict(kernel=get_kernel("imq", 0.5), entropy=get_entropy("tsallis", 2.0), lambd=0.1, target=_y())
    args.update(kw)
    return MoreauFDivergence(**args)


def _run(**kw):
    args = dict(tau=0.1, steps=2, show_progress=False)
    args.update(kw)
    return run(MMD(get_kernel("gauss", 1.0), _y()), Euler(), Particles.of(_y() + 1), args.pop("tau"),
               args.pop("steps"), **args)


def _jko(**kw):
    return VariationalJKO(2, lambda n, g: torch.randn(n, 2, generator=g), **kw)


def _keywords(cls: str, factory, params) -> dict:
    """Builders ``value -> factory(param=value)`` of the rows ``(cls, param)``."""
    return {(cls, p): (lambda v, p=p: factory(**{p: v})) for p in params}


BUILDERS = {
    **{("get_kernel", f"s ({name})"): (lambda v, name=name: get_kernel(name, v)) for name in KERNELS},
    ("get_kernel", "name"): lambda v: get_kernel(v),
    ("get_entropy", "name"): lambda v: get_entropy(v),
    **{("get_entropy", f"alpha ({name})"): (lambda v, name=name: get_entropy(name, v))
       for name in ("tsallis", "chi", "matusita", "kafka", "perimeter", "lindsay")},
    ("MMD", "kernel"): lambda v: MMD(v, _y()),
    ("MMD", "target"): lambda v: MMD(get_kernel("gauss", 1.0), v),
    ("MMD", "block_size"): lambda v: MMD(get_kernel("riesz", 1.0), _y(), block_size=v),
    **_keywords("MMD", lambda **kw: MMD(get_kernel("gauss", 1.0), _y(), **kw), ("scale", "max_block", "backend")),
    **_keywords("MoreauFDivergence", _moreau, ("kernel", "entropy", "lambd", "tight", "target", "line_search", "tol",
                                               "max_inner", "solver_dtype")),
    **_keywords("KLDivergence", lambda **kw: KLDivergence(lambda x: -(x * x).sum(-1), **kw), ("weight", "reference")),
    **_keywords("GeneralizedEntropy", GeneralizedEntropy, ("m", "weight", "margin")),
    ("JensenShannon", "weight"): lambda v: JensenShannon(lambda n, g: torch.zeros(n, 2), weight=v),
    ("Interaction", "substeps"): lambda v: Interaction(lambda z: z.sum(-1), lambda z: z, substeps=v),
    **_keywords("gaussian_attraction", gaussian_attraction, ("mass", "substeps")),
    ("Euler", "noise"): lambda v: Euler(noise=v),
    ("Euler", "noise_off"): lambda v: Euler(noise=1.0, noise_off=v),
    ("IFT", "eta"): lambda v: IFT(v),
    ("IFT", "weight_step"): lambda v: IFT(0.1, v),
    ("IFT", "backend"): lambda v: IFT(0.1, backend=v),
    **_keywords("IFT", lambda **kw: IFT(0.1, "qp", **kw), ("qp_tol", "qp_max_iter")),
    ("WFR", "eta"): lambda v: WFR(v),
    ("StepControlledEuler", "error_tol"): lambda v: StepControlledEuler(v),
    ("StepControlledEuler", "max_substeps"): lambda v: StepControlledEuler(1e-3, v),
    ("RieszEuler", "split_diracs_first"): lambda v: RieszEuler(split_diracs_first=v),
    **_keywords("NeuralBackward", NeuralBackward, ("latent_dim", "width", "depth", "activation", "iters",
                                                   "first_iters", "lr", "batch_size", "fourier_features",
                                                   "fourier_scale", "standardize", "estimator", "refresh", "backend")),
    ("NeuralForward", "max_group"): lambda v: NeuralForward(max_group=v),
    ("VariationalJKO", "dim"): lambda v: VariationalJKO(v, lambda n, g: torch.randn(n, 2, generator=g)),
    **_keywords("VariationalJKO", _jko, ("mode", "cpu_threads", "autograd")),
    **_keywords("MapConfig", MapConfig, ("kind", "width", "depth")),
    **_keywords("DualConfig", DualConfig, ("width", "depth", "dropout")),
    **_keywords("TrainConfig", TrainConfig, ("outer", "inner", "batch", "lr_map", "lr_dual", "lr_final_factor",
                                             "lr_dual_final_factor")),
    **_keywords("PoolConfig", PoolConfig, ("size", "fresh")),
    **_keywords("run", _run, ("tau", "steps", "log_every", "snapshot_every", "check_every", "max_growth", "max_rise",
                              "on_divergence", "seed", "num_threads")),
}


def _value(text: str):
    """A cell of the column "refused": a Python literal in backquotes, or a short name for an object."""
    text = text.strip().strip("`")
    objects = {"get_kernel('riesz')": get_kernel("riesz", 1.0), "torch.float16": torch.float16,
               "tensor (3,)": torch.zeros(3), "inf": math.inf, "nan": math.nan}
    return objects[text] if text in objects else ast.literal_eval(text)


def _refusals():
    return [(r["cls"].strip("`"), r["param"].strip("`"), r["refused"]) for r in _table()
            if r["refused"] not in ("", "-", "—")]


@pytest.mark.parametrize("cls,param,refused", _refusals(), ids=lambda v: str(v))
def test_each_constructor_refuses_the_first_out_of_range_value(cls, param, refused):
    build = BUILDERS[(cls, param)]
    word = param.split(" ")[0]
    names = {"name": "kernel|divergence", "kind": "map_type", "size": "pool_size"}
    if cls in ("DualConfig", "MapConfig") and word in ("width", "depth", "dropout"):
        names[word] = f"{'dual' if cls == 'DualConfig' else 'map'}_{word}"
    with pytest.raises(ParameterError, match=names.get(word, word)):
        build(_value(refused))


def test_every_refusable_row_has_a_builder():
    rows = {(c, p) for c, p, _ in _refusals()}
    assert rows <= set(BUILDERS), rows - set(BUILDERS)


# --- checks at the ends of the ranges that no other test makes -------------------------------------------------
#: each kernel's shape parameter at the two ends of its range and in the middle
S_RANGE = {name: (0.05, 1.0, 1.95) if name == "riesz" else (1e-2, 1.0, 1e2) for name in KERNELS}


@pytest.mark.parametrize("name", list(KERNELS))
def test_kernel_gradients_match_autograd_over_the_parameter_range(name):
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(9, 2, generator=g, dtype=D), torch.randn(7, 2, generator=g, dtype=D)
    w = torch.rand(7, generator=g, dtype=D)
    for s in S_RANGE[name]:
        k = get_kernel(name, s)
        xr = x.clone().requires_grad_(True)
        (kernel_matrix(k, xr, y) @ w).sum().backward()
        torch.testing.assert_close(kernel_grad_sum(k, x, y, w), xr.grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("with_target", [True, False])
def test_mmd_energy_matches_autograd_for_every_kernel_at_the_ends_of_s_and_scale(name, with_target):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 6, 2, generator=g, dtype=D)
    w = torch.softmax(torch.randn(1, 6, generator=g, dtype=D), -1)
    y = torch.randn(1, 5, 2, generator=g, dtype=D) if with_target else None
    wy = torch.softmax(torch.randn(1, 5, generator=g, dtype=D), -1) if with_target else None
    for s, scale in zip(S_RANGE[name][::2], (1e-3, 1e3)):
        e = MMD(get_kernel(name, s), y, scale=scale, target_weights=wy)
        xr = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(e.value(Particles(xr, w)).sum(), xr)
        _, gr = e.first_variation(Particles(x, w), x)
        torch.testing.assert_close(w.unsqueeze(-1) * gr, gx, rtol=1e-8, atol=1e-12 * scale)


def _moreau_pair(name, alpha, lambd, **kw):
    g = torch.Generator().manual_seed(0)
    y = torch.randn(8, 2, generator=g, dtype=D) * 0.5 + 0.6
    x = torch.randn(6, 2, generator=g, dtype=D) * 0.3
    e = MoreauFDivergence(get_kernel("imq", 0.5), get_entropy(name, alpha), lambd, False, y, **kw)
    return e, Particles.of(x)


@pytest.mark.parametrize("name,alpha", [("tsallis", 2.0), ("tsallis", 0.5), ("kl", None), ("burg", None),
                                        ("chi", 1.5), ("tv", None)])
def test_moreau_envelope_tends_to_half_mmd2_over_lambda_as_lambda_grows(name, alpha):
    """sigma = nu gives lambda D^lambda <= MMD^2 / 2 for every lambda, with equality in the limit
    lambda -> inf (f'_inf > 0); the deviation is O(1 / lambda)."""
    devs = []
    for lam in (1e2, 1e4):
        e, mu = _moreau_pair(name, alpha, lam, tol=1e-9, max_inner=100000)
        half = 0.5 * e.mmd2(mu)
        dual = e.state(mu).dual
        assert lam * dual <= half * (1 + 1e-9)
        devs.append(1 - lam * float(e.value(mu)) / half)
    assert devs[0] < 1e-2 and devs[1] <= max(devs[0] / 50, 1e-12)


def test_moreau_envelope_tends_to_the_f_divergence_as_lambda_shrinks():
    """TV, mu and nu on disjoint atoms: D_f(mu | nu) = f(0) + f'_inf = 2 (sigma = mu), so D^lambda <= 2 for
    every lambda, and D^lambda -> 2 as lambda -> 0 (the Gram matrix is invertible: only sigma = mu has
    m_sigma = m_mu)."""
    vals = []
    for lam in (1e-2, 1e-6):
        e, mu = _moreau_pair("tv", None, lam, tol=1e-9, max_inner=100000)
        vals.append(float(e.value(mu)))
        assert e.state(mu).dual <= 2.0 + 1e-12
    assert vals[0] < vals[1] and 2.0 - vals[1] < 1e-3


def test_moreau_max_inner_one_is_an_upper_bound():
    """max_inner = 1 (the end of its range) stops the solve early: its primal value still bounds the
    envelope from above (a feasible sigma), the certified dual from below."""
    early, mu = _moreau_pair("tsallis", 2.0, 0.1, max_inner=1)
    exact, _ = _moreau_pair("tsallis", 2.0, 0.1, tol=1e-10, max_inner=100000)
    assert early.state(mu).iterations == 1
    assert float(early.value(mu)) >= exact.state(mu).dual - 1e-12


def _weighted_problem():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 6, 2, generator=g, dtype=D)
    w = torch.softmax(torch.randn(1, 6, generator=g, dtype=D), -1)
    return MMD(get_kernel("gauss", 1.0), torch.randn(1, 5, 2, generator=g, dtype=D) + 0.5), Particles(x, w)


@pytest.mark.parametrize("scheme", ["pgd", "qp", "wfr"])
def test_weight_steps_at_the_ends_of_eta(scheme):
    """eta -> 0: the weights do not move; eta -> inf: pgd and the WFR mirror step put all the mass on the
    particle of least first variation, the QP step gives the simplex minimiser of MMD^2 at the new positions."""
    energy, mu = _weighted_problem()
    tau = 0.1
    make = (lambda eta: WFR(eta)) if scheme == "wfr" else (lambda eta: IFT(eta, scheme, qp_tol=1e-10,
                                                                        qp_max_iter=2000))
    small = make(1e-6).step(energy, mu, tau, 0)
    torch.testing.assert_close(small.weights(), mu.weights(), rtol=0, atol=1e-5)
    big = make(1e6).step(energy, mu, tau, 0)
    x = mu.x - tau * energy.gradient(mu)
    if scheme == "qp":
        k = energy.kernel
        best, _ = solve_simplex_qp(kernel_matrix(k, x, x), kernel_matrix(k, x, energy.target).mean(-1), tol=1e-8,
                                   max_iter=5000)
        assert float(mmd2(k, x[0], energy.target[0], big.weights()[0])) <= float(
            mmd2(k, x[0], energy.target[0], best[0])) + 1e-7
    else:
        at = Particles(x, mu.weights()) if scheme == "pgd" else mu
        h, _ = energy.first_variation(at, x, with_grad=False)
        assert float(big.weights()[0, int(h[0].argmin())]) == pytest.approx(1.0, abs=1e-6)


def test_step_control_with_one_substep_is_explicit_euler():
    """max_substeps = 1 (the end of its range): the one substep covers the step, whatever its error."""
    energy, mu = _weighted_problem()
    a = run(energy, StepControlledEuler(1e-12, max_substeps=1), mu, 0.3, 4, show_progress=False)
    b = run(energy, Euler(), mu, 0.3, 4, show_progress=False)
    assert torch.equal(a.x, b.x)


def test_euler_noise_at_the_end_zero_of_its_range_is_noise_free():
    energy, mu = _weighted_problem()
    gen = torch.Generator().manual_seed(0)
    a = Euler(noise=1e-12).step(energy, mu, 0.1, 0, gen)
    torch.testing.assert_close(a.x, Euler().step(energy, mu, 0.1, 0).x, rtol=0, atol=1e-11)


def test_runner_at_the_ends_of_steps_and_the_blow_up_factors():
    """steps = 0 gives the start alone; max_growth = max_rise = 1 (the ends of their ranges) do not call a
    flow that contracts towards its target a blow-up."""
    energy, mu = _weighted_problem()
    t = run(energy, Euler(), mu, 0.1, 0, snapshot_every=5, show_progress=False)
    assert t.steps.tolist() == [0] and torch.equal(t.x, mu.x)
    centre = mu.x.mean(-2, keepdim=True)
    inward = MMD(energy.kernel, centre + 0.3 * (mu.x - centre))  # a contracted copy of the start
    t = run(inward, Euler(), mu, 0.1, 6, max_growth=1.0, max_rise=1.0, show_progress=False)
    assert t.steps.tolist()[-1] == 6


@pytest.mark.parametrize("m", [1.05, 2.0, 6.0])
def test_generalized_entropy_conjugate_over_the_range_of_m(m):
    """f(x) = (x^m - x) / (m - 1): f* against the numerical sup near m = 1, in the middle and large m."""
    xs = torch.linspace(0, 40, 400001, dtype=D)
    for y in (-0.9 / (m - 1), 0.0, 1.0, 3.0):  # the closed form's domain (m - 1) y + 1 >= 0
        num = float((xs * y - f_entropy(xs, m)).max())
        assert abs(num - float(f_entropy_conjugate(torch.tensor(y, dtype=D), m))) < 1e-6


def test_box_reference_with_margin_zero_is_the_bounding_box():
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=D)
    box = BoxReference.fit(x, 0.0)
    assert torch.equal(box.low, x.min(0).values) and torch.equal(box.high, x.max(0).values)
    assert GeneralizedEntropy(margin=0.0).reference(x).log_volume == pytest.approx(box.log_volume)


def test_moreau_solver_in_float32_agrees_with_float64():
    lo, mu = _moreau_pair("tsallis", 2.0, 0.1, solver_dtype=torch.float32)
    hi, _ = _moreau_pair("tsallis", 2.0, 0.1)
    assert float(lo.value(mu)) == pytest.approx(float(hi.value(mu)), rel=2e-3)
    torch.testing.assert_close(lo.gradient(mu), hi.gradient(mu), rtol=1e-2, atol=1e-4)
