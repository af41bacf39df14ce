"""One step of the Riesz neural backward and forward schemes: the default (compiled) path against the generic torch one.

The configuration is the paper's interaction-energy experiment (Altekrüger, Hertrich, Steidl, ICML 2023,
section 6; :data:`wgf_core.claims.riesz.PAPER_SETTINGS` ``["01_interaction_energy"]``): N = 2000 particles
in 2-D, a 64 x 2 network with a 2-D latent, batches of 100, Adam with learning rate 1e-3, 5000 network
iterations per step, on :math:`\\mathcal E_K = -\\frac12\\iint|x - y|` (no target). The particles are those
after one short step from the Dirac at 0 (the exact first step, a disc of radius ~0.05), so every timed
step starts from the same spread-out cloud; one untimed step warms up (numba's compile or cache load).

Paths, each timed in this one run with interleaved repeats (the best of each), on one thread (as the book's
workers) (:data:`PATHS`):

* ``default``: the schemes' and the energy's defaults, ``backend="auto"``: on the CPU the network's forward
  pass, backward pass and Adam in numba (:class:`wgf_core.backends.numba_mlp.NumbaMLP`), the loss's gradient in
  the network's output without autograd, the fused Riesz sums;
* ``torch``: the generic path, ``backend="torch"`` for the scheme and the energy: the network's passes written
  out in torch (:class:`wgf_core.networks.ExplicitMLP`), the blocked torch sums;
* ``previous``: autograd through the network (``autograd=True``), the energy's value at every iteration
  (:class:`ValueEveryIteration`), per-tensor Adam (:class:`PerTensorAdam*`), torch sums: the path of the
  authors' code.

The paths draw the same network, latents and batches; their steps agree to round-off (printed: the largest
difference of the moved particles from the torch path's; float32 training amplifies round-off over the
iterations). The table goes to ``benchmarks/results/neural_step.json``.

    python benchmarks/bench_neural.py [--iters 5000] [--repeats 3] [--batch 100] [--lr 1e-3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

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


#: The paths, each timed in one run: the default (``backend="auto"``: numba's MLP step and fused sums), the generic
#: torch path (``backend="torch"`` for the scheme and the energy), and the previous path (autograd, per-tensor Adam,
#: the value at every iteration).
PATHS = ("default", "torch", "previous")


def _energy(path: str) -> MMD:
    if path == "default":
        return riesz_mmd_energy(None, 1.0)
    e = riesz_mmd_energy(None, 1.0, backend="torch")
    if path == "torch":
        return e
    return ValueEveryIteration(e.kernel, None, scale=e.scale, backend="torch")


def _scheme(name: str, path: str, iters: int, batch: int = 100, lr: float = 1e-3):
    cls = {"neural_backward": NeuralBackward, "neural_forward": NeuralForward}[name]
    cls = _per_tensor(cls) if path == "previous" else cls
    opts = {} if path == "default" else dict(backend="torch", autograd=path == "previous")
    return cls(iters=iters, first_iters=iters, width=64, depth=2, batch_size=batch, latent_dim=2, lr=lr, **opts)


def one_step(name: str, path: str, iters: int, x0: torch.Tensor, batch: int = 100,
             lr: float = 1e-3) -> tuple[float, torch.Tensor]:
    """Wall seconds of one step (k = 1, from ``x0`` and a fresh network from one stream) and its particles."""
    energy, scheme = _energy(path), _scheme(name, path, iters, batch, lr)
    g = stream(0, "benchmarks/bench_neural/network")
    scheme.build(2, g)
    t = time.perf_counter()
    out = scheme.step(energy, Particles.of(x0), 0.05, 1, g).x[0]
    return time.perf_counter() - t, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=5000, help="network iterations per step (paper: 5000)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=100, help="minibatch (paper: 100; the book's default profile: 400)")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (paper: 1e-3; the book's: 3e-3)")
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "neural_step.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    x0 = 0.05 * torch.randn(2000, 2, generator=stream(0, "benchmarks/bench_neural/x0"))
    print(f"one Riesz neural step, interaction energy, N = 2000, d = 2, 64 x 2 network, batch {args.batch}, "
          f"{args.iters} iterations, 1 thread, {args.repeats} interleaved repeats (best), torch {torch.__version__}, "
          f"{platform.machine()}")
    combos = [(name, path) for name in ("neural_backward", "neural_forward") for path in PATHS]
    for name, path in combos:   # warm-up: numba's compile or cache load
        one_step(name, path, 20, x0, args.batch, args.lr)
    best, out = {c: float("inf") for c in combos}, {}
    for rep in range(args.repeats):
        for c in combos[rep % len(combos):] + combos[:rep % len(combos)]:
            t, out[c] = one_step(*c, args.iters, x0, args.batch, args.lr)
            best[c] = min(best[c], t)
    print(f"{'scheme':16s} | {'path':8s} | {'s/step':>7} | {'default speed-up':>16} | max |dx| vs torch")
    rows = []
    for name in ("neural_backward", "neural_forward"):
        row = {"scheme": name}
        for path in PATHS:
            c = (name, path)
            dx = float((out[c] - out[(name, "torch")]).abs().max())
            speedup = best[c] / best[(name, "default")]
            row.update({f"{path}_s": best[c], f"default_speedup_vs_{path}": speedup, f"{path}_max_dx": dx})
            print(f"{name:16s} | {path:8s} | {best[c]:7.3f} | {speedup:15.2f}x | {dx:.1e}", flush=True)
        rows.append(row)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"args": vars(args), "machine": platform.machine(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
