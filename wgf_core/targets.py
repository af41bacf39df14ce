r"""Target measures and priors of the Stein et al. (2024) experiments, seeded.

Stein, Neumayer, Rux, Steidl, arXiv:2402.04613 (2024); target names as in the reference
README (seed ``000_cf692f27b033444f``): ``bananas`` (two parabolas), ``circles`` (three
circles), ``cross`` (four Neal's funnels at 0/90/180/270 degrees), ``GMM`` (two equal Gaussians
mirror-symmetric about :math:`y = -x`), ``four_wells`` (four unequal Gaussians, no symmetry; the
prior sits on one of them), ``swiss_roll_2d``, ``moons``, ``annulus`` and the 3-D
``swiss_roll_3d`` and ``s_curve``. ``moons`` and the swiss rolls / S-curve use the scikit-learn
generators (seeded from the torch generator); all others are sampled with torch.

The README does not spell out every constant, so the sizes here are ours: every target lives in
roughly :math:`[-1.5, 1.5]^d` (so that the reference kernel widths, e.g. ``imq`` with ``s = 0.1``,
are meaningful), and each prior is a small Gaussian placed away from (or, for ``four_wells``, on
one mode of) the target, so the flow has to transport mass.

All samplers: ``(n, generator, device, dtype) -> Tensor (n, d)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .validation import check_choice, check_device, check_dtype, check_int

__all__ = ["TARGETS", "Target", "sample_target", "sample_prior", "target_and_prior", "target_dim"]


def _randn(n, d, g, dev, dt):
    return torch.randn(n, d, generator=g, device=g.device, dtype=dt).to(dev)


def _rand(n, d, g, dev, dt):
    return torch.rand(n, d, generator=g, device=g.device, dtype=dt).to(dev)


def _np_seed(g) -> int:
    return int(torch.randint(0, 2**31 - 1, (1,), generator=g, device=g.device).item())


def _split(n):
    return n // 2, n - n // 2


def _bananas(n, g, dev, dt):
    n1, n2 = _split(n)
    t1, t2 = 2 * _rand(n1, 1, g, dev, dt) - 1, 2 * _rand(n2, 1, g, dev, dt) - 1
    up = torch.cat([t1, 0.8 * t1**2 + 0.2], 1)
    down = torch.cat([t2, -0.8 * t2**2 - 0.2], 1)
    return torch.cat([up, down]) + 0.03 * _randn(n, 2, g, dev, dt)


def _circles(n, g, dev, dt):
    radii = torch.tensor([0.35, 0.75, 1.15], device=dev, dtype=dt)
    k = torch.randint(0, 3, (n,), generator=g, device=g.device).to(dev)
    phi = 2 * math.pi * _rand(n, 1, g, dev, dt)[:, 0]
    r = radii[k] + 0.02 * _randn(n, 1, g, dev, dt)[:, 0]
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi)], 1)


def _cross(n, g, dev, dt):
    # Neal's funnel along each arm: v ~ N(0,1) sets the position along the arm and the spread across it
    k = torch.randint(0, 4, (n,), generator=g, device=g.device).to(dev)
    v = _randn(n, 1, g, dev, dt)[:, 0]
    along = 0.8 + 0.25 * v
    across = 0.08 * torch.exp(0.7 * v) * _randn(n, 1, g, dev, dt)[:, 0]
    ang = k.to(dt) * (math.pi / 2)
    c, s = torch.cos(ang), torch.sin(ang)
    return torch.stack([along * c - across * s, along * s + across * c], 1)


def _gmm(n, g, dev, dt):
    n1, n2 = _split(n)
    a = torch.tensor([0.8, 0.0], device=dev, dtype=dt) + 0.2 * _randn(n1, 2, g, dev, dt)
    b = torch.tensor([0.0, -0.8], device=dev, dtype=dt) + 0.2 * _randn(n2, 2, g, dev, dt)
    return torch.cat([a, b])


_WELLS = ((-0.9, -0.9, 0.15, 0.35), (0.9, -0.7, 0.25, 0.25), (0.8, 1.0, 0.12, 0.2), (-0.7, 0.8, 0.2, 0.2))


def _four_wells(n, g, dev, dt):
    w = torch.tensor([c[3] for c in _WELLS], dtype=torch.float64)
    k = torch.multinomial(w, n, replacement=True, generator=g if g.device.type == "cpu" else None).to(dev)
    mu = torch.tensor([c[:2] for c in _WELLS], device=dev, dtype=dt)
    sd = torch.tensor([c[2] for c in _WELLS], device=dev, dtype=dt)
    return mu[k] + sd[k, None] * _randn(n, 2, g, dev, dt)


def _moons(n, g, dev, dt):
    from sklearn.datasets import make_moons

    x, _ = make_moons(n, noise=0.05, random_state=_np_seed(g))
    x = (x - np.array([0.5, 0.25])) * np.array([1.0, 1.3])
    return torch.as_tensor(x, dtype=dt, device=dev)


def _annulus(n, g, dev, dt):
    phi = 2 * math.pi * _rand(n, 1, g, dev, dt)[:, 0]
    r = torch.sqrt(0.6**2 + (1.0**2 - 0.6**2) * _rand(n, 1, g, dev, dt)[:, 0])  # uniform on the ring
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi)], 1)


def _swiss3(n, g, dev, dt):
    from sklearn.datasets import make_swiss_roll

    x, _ = make_swiss_roll(n, noise=0.2, random_state=_np_seed(g))
    return torch.as_tensor(x / 10.0 - np.array([0.0, 1.0, 0.0]), dtype=dt, device=dev)


def _swiss2(n, g, dev, dt):
    return _swiss3(n, g, dev, dt)[:, [0, 2]]


def _s_curve(n, g, dev, dt):
    from sklearn.datasets import make_s_curve

    x, _ = make_s_curve(n, noise=0.05, random_state=_np_seed(g))
    return torch.as_tensor(x / 2.0 - np.array([0.0, 0.5, 0.0]), dtype=dt, device=dev)


@dataclass(frozen=True)
class Target:
    """A target sampler with its prior (a Gaussian ``N(prior_mean, prior_std^2 I)``)."""

    name: str
    dim: int
    sampler: Callable
    prior_mean: tuple
    prior_std: float
    description: str


TARGETS: dict[str, Target] = {
    "bananas": Target("bananas", 2, _bananas, (0.0, 0.0), 0.2, "two parabolas, one opening up, one down"),
    "circles": Target("circles", 2, _circles, (0.0, 0.0), 0.1, "three concentric circles"),
    "cross": Target("cross", 2, _cross, (0.0, 0.0), 0.1, "four Neal's funnels at 0/90/180/270 degrees"),
    "GMM": Target("GMM", 2, _gmm, (-0.6, 0.6), 0.1, "two equal Gaussians, mirror-symmetric about y = -x"),
    "four_wells": Target("four_wells", 2, _four_wells, (-0.9, -0.9), 0.15, "four unequal Gaussians; prior on one"),
    "swiss_roll_2d": Target("swiss_roll_2d", 2, _swiss2, (0.0, 0.0), 0.1, "sklearn swiss roll, (x, z) plane"),
    "moons": Target("moons", 2, _moons, (0.0, 0.0), 0.1, "sklearn two moons"),
    "annulus": Target("annulus", 2, _annulus, (0.0, 0.0), 0.1, "uniform on the ring 0.6 <= r <= 1"),
    "swiss_roll_3d": Target("swiss_roll_3d", 3, _swiss3, (0.0, 0.0, 0.0), 0.1, "sklearn swiss roll (3-D)"),
    "s_curve": Target("s_curve", 3, _s_curve, (0.0, 0.0, 0.0), 0.1, "sklearn S-curve (3-D)"),
}


def target_dim(name: str) -> int:
    """Dimension of target ``name``."""
    check_choice("target", name, TARGETS)
    return TARGETS[name].dim


def sample_target(name: str, n: int, generator: torch.Generator, *, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """``n`` samples of target ``name``, shape ``(n, d)``."""
    check_choice("target", name, TARGETS)
    n = check_int("M", n)
    return TARGETS[name].sampler(n, generator, check_device(device), check_dtype(dtype))


def sample_prior(name: str, n: int, generator: torch.Generator, *, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """``n`` samples of the prior (initial measure) used with target ``name``, shape ``(n, d)``."""
    check_choice("target", name, TARGETS)
    n = check_int("N", n)
    t = TARGETS[name]
    dev, dt = check_device(device), check_dtype(dtype)
    mean = torch.tensor(t.prior_mean, device=dev, dtype=dt)
    return mean + t.prior_std * _randn(n, t.dim, generator, dev, dt)


def target_and_prior(name: str, N: int, M: int, seed: int = 0, *, device="cpu", dtype=torch.float32):
    """``(x0, y)``: ``N`` prior particles and ``M`` target samples from one CPU generator, the stream
    ``(seed, "targets/<name>")`` of :func:`wgf_core.random.stream`."""
    from .random import stream

    g = stream(seed, f"targets/{name}")
    y = sample_target(name, M, g, device="cpu", dtype=dtype).to(check_device(device))
    x0 = sample_prior(name, N, g, device="cpu", dtype=dtype).to(check_device(device))
    return x0, y
