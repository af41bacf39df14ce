"""One step of the Riesz neural backward and forward schemes: today's path against the previous one.

The configuration is the paper's interaction-energy experiment (Altekrüger, Hertrich, Steidl, ICML 2023,
section 6; :data:`wgf_core.claims.riesz.PAPER_SETTINGS` ``["01_interaction_energy"]``): N = 2000 particles
in 2-D, a 64 x 2 network with a 2-D latent, batches of 100, Adam with learning rate 1e-3, 5000 network
iterations per step, on :math:`\\mathcal E_K = -\\frac12\\iint|x - y|` (no target). The particles are those
after one short step from the Dirac at 0 (the exact first step, a disc of radius ~0.05), so every timed
step starts from the same spread-out cloud; one untimed step warms up (numba's compile or cache load).

Paths, each timed in this one run, on one thread (as the book's workers):

* ``numba``: ``backend="numba"``: the network's forward pass, backward pass and Adam in numba
  (:class:`wgf_core.backends.numba_mlp.NumbaMLP`), the loss's gradient in the network's output without autograd
  (:meth:`~wgf_core.energies.MMD.minibatch_value_gradient`; the forward scheme's normalised slope in closed form);
  equal to the other paths to round-off;
* ``today``: the defaults (the book's path): the network's passes written out
  (:class:`wgf_core.networks.ExplicitMLP`: autograd's updates bit for bit, one flat :class:`wgf_core.optim.Adam`
  tensor), Riesz sums on ``backend="auto"`` (numba's fused sums where autograd does not record), the backward
  scheme's loss without the energy's value before the last iteration
  (:meth:`~wgf_core.energies.MMD.minibatch_value_surrogate`);
* ``previous``: the path before issue 17, kept here: Riesz sums on ``backend="torch"``, autograd through the
  network (the scheme's ``autograd=True``), the energy's value at every iteration
  (:class:`ValueEveryIteration`), per-tensor Adam (:class:`PerTensorAdam*`).

The three paths draw the same network, latents and batches; their steps agree to round-off (printed: the
largest difference of the moved particles from the previous path's; float32 training amplifies round-off over
5000 iterations).

    python benchmarks/bench_neural.py [--iters 5000] [--repeats 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from wgf_core.energies import MMD
from wgf_core.flows.riesz import riesz_mmd_energy
from wgf_core.measures import Particles
from wgf_core.random import stream
from wgf_core.schemes import NeuralBackward, NeuralForward


class ValueEveryIteration(MMD):
    """The previous loss of the backward scheme: the energy's value (and its backward pass) at every iteration."""

    def minibatch_value_surrogate(self, x, target=None):
        return self.minibatch_value(x, target)


def _per_tensor(cls):
    class PerTensorAdam(cls):
        """The previous optimiser: Adam's per-tensor loop (torch's CPU default)."""

        def build(self, dim, generator=None, *, device="cpu", dtype=torch.float32):
            super().build(dim, generator, device=device, dtype=dtype)
            self.opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)

    PerTensorAdam.__name__ = f"PerTensorAdam{cls.__name__}"
    return PerTensorAdam


def _energy(path: str) -> MMD:
    if path in ("today", "numba"):
        return riesz_mmd_energy(None, 1.0)
    e = riesz_mmd_energy(None, 1.0, backend="torch")
    return ValueEveryIteration(e.kernel, None, scale=e.scale, backend="torch")


def _scheme(name: str, path: str, iters: int):
    cls = {"neural_backward": NeuralBackward, "neural_forward": NeuralForward}[name]
    cls = _per_tensor(cls) if path == "previous" else cls
    return cls(iters=iters, first_iters=iters, width=64, depth=2, batch_size=100, latent_dim=2, lr=1e-3,
               backend="numba" if path == "numba" else "torch", autograd=path == "previous")


def time_step(name: str, path: str, iters: int, repeats: int, x0: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Best wall seconds of ``repeats`` steps (k = 1, each from ``x0`` and a fresh network from one stream) after one
    warm-up step; returns the seconds and the last step's particles."""
    energy = _energy(path)
    best, out = float("inf"), None
    for rep in range(repeats + 1):
        scheme = _scheme(name, path, iters if rep else 50)
        g = stream(0, "benchmarks/bench_neural/network")
        scheme.build(2, g)
        t = time.perf_counter()
        out = scheme.step(energy, Particles.of(x0), 0.05, 1, g).x[0]
        if rep:
            best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=5000, help="network iterations per step (paper: 5000)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    x0 = 0.05 * torch.randn(2000, 2, generator=stream(0, "benchmarks/bench_neural/x0"))
    print(f"one Riesz neural step, interaction energy, N = 2000, d = 2, 64 x 2 network, batch 100, "
          f"{args.iters} iterations, 1 thread, torch {torch.__version__}, {platform.machine()}")
    print(f"{'scheme':16s} | {'path':8s} | {'s/step':>7} | {'speed-up vs previous':>20} | max |dx| vs previous")
    rows = []
    for name in ("neural_backward", "neural_forward"):
        old, xo = time_step(name, "previous", args.iters, args.repeats, x0)
        print(f"{name:16s} | {'previous':8s} | {old:7.2f} | {1.0:19.2f}x |", flush=True)
        row = {"scheme": name, "previous_s": old}
        for path in ("today", "numba"):
            new, xn = time_step(name, path, args.iters, args.repeats, x0)
            dx = float((xn - xo).abs().max())
            row.update({f"{path}_s": new, f"{path}_speedup": old / new, f"{path}_max_dx": dx})
            print(f"{name:16s} | {path:8s} | {new:7.2f} | {old / new:19.2f}x | {dx:.1e}", flush=True)
        rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
