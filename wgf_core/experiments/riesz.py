r"""Drivers of the Riesz notebooks (``notebooks/riesz``): Altekrüger, Hertrich, Steidl (ICML 2023).

The flows run through :func:`wgf_core.flows.riesz.run_experiment` (one scheme by name on the
Riesz MMD energy, with the one runner). Here is what the notebooks call, in their order:

* :func:`setup_page` -- the one notebook's (``notebooks/riesz/riesz_flows.ipynb``) first cell: its
  ``experiment`` (:data:`EXPERIMENTS`) and ``page``, then :func:`setup`;
* :func:`prose` -- the page's prose (``notebooks/riesz/prose/<page>.md``) with the run's values;
* :func:`setup` -- the profile's sizes (:data:`PROFILES`), the parameters validated once and the
  ensembles of seeds (:class:`Setup`);
* :func:`run_ensemble` -- every scheme on every member of the ensemble, with the numbers the
  claims need (:class:`Ensemble`): the interaction energy from a Dirac and its exact solution
  (``01``, for any Riesz exponent ``r``), the flows onto a target sample with their noise floors (``02``-``04``), the MNIST flow
  with its real-digit sets (``05``);
* the figures -- :func:`snapshot_figure`, :func:`curves_figure`, :func:`animation_frames`,
  :func:`step_size_figures` and the live panel's :func:`live_flow` (:data:`LIVE_CONTROLS`), built
  from :mod:`wgf_core.plotting`;
* :func:`verdicts` -- ``claims.assess`` per claim of :mod:`wgf_core.claims.riesz`, the record's
  checks, metrics and timings, and the values glued into the prose.

The seeding convention of the notebooks' random draws is :func:`stream`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .. import claims
from .. import riesz as rz
from ..claims.riesz import PAPER_SETTINGS
from ..data import max_und_moritz_points, mnist_digits, smiley_points
from ..flows.riesz import SCHEMES, paper_mnist_taus, run_experiment, scheme_notes
from ..kernels import get_kernel
from ..metrics import energy_distance, mmd2
from ..plotting import image_rows, run_lines, scatter_figure, snapshot_frames, snapshot_grid
from ..random import make_generator
from ..reporting import fill_glue, prose_sections
from ..validation import (
    ParameterError,
    check_choice,
    check_device,
    check_int,
    check_positive,
    check_range,
    select_profile,
)
from .base import NotebookSetup

__all__ = ["stream", "ENSEMBLE_STRIDE", "DRAW_OFFSET", "NOTEBOOKS", "EXPERIMENTS", "PROFILES", "Setup", "setup",
           "setup_page", "prose", "Ensemble",
           "run_ensemble", "snapshot_figure", "curves_figure", "animation_frames", "step_size_figures", "live_flow",
           "LIVE_CONTROLS", "LIVE_DEFAULTS", "verdicts"]

#: Ensemble member ``s`` runs its schemes with the seed ``s * ENSEMBLE_STRIDE``
#: (:func:`wgf_core.flows.riesz.run_experiment` adds ``1000 k`` for scheme ``k``).
ENSEMBLE_STRIDE = 2**20
#: Offset of the seeds of the notebooks' random draws from an ensemble member's scheme seed.
DRAW_OFFSET = 10_000


def stream(seed: int, purpose: int, device="cpu") -> torch.Generator:
    r"""The generator of one random draw of ensemble member ``seed``: seeded
    :math:`\mathrm{seed}\cdot 2^{20} + 10\,000 + \mathrm{purpose}` on ``device``.

    ``purpose`` numbers the draws of a notebook (1: the target sample, 2: the jittered start,
    100 + k: the k-th independent sample of the noise floor, ...). The schemes of the member draw
    from ``seed * 2**20 + 1000 k`` (:func:`wgf_core.flows.riesz.run_experiment`), so the streams
    never meet for ``purpose < 2**20 - 10_000``.
    """
    seed = check_int("seed", seed, minimum=0)
    purpose = check_int("purpose", purpose, minimum=0)
    return make_generator(seed * ENSEMBLE_STRIDE + DRAW_OFFSET + purpose, device)


# ----------------------------------------------------------------------------- configuration
NOTEBOOKS = ("01_interaction_energy", "02_diracs", "03_smiley", "04_max_und_moritz", "05_mnist")
_TARGET_NOTEBOOKS = ("02_diracs", "03_smiley", "04_max_und_moritz")
#: The ``experiment`` parameter of ``notebooks/riesz/riesz_flows.ipynb``: its value -> the page it makes
#: (``riesz/<notebook>``, the key its record and claims use; ``notebooks/pages.toml``).
EXPERIMENTS = {"interaction_energy": "01_interaction_energy", "diracs": "02_diracs", "smiley": "03_smiley",
               "max_und_moritz": "04_max_und_moritz", "mnist": "05_mnist"}
#: The Riesz exponent of the paper's interaction energy (``01``'s claims are registered for it).
PAPER_R = 1.0

#: The sizes of each notebook by profile (``paper``: the authors' scripts, :data:`PAPER_SETTINGS`).
PROFILES = {
    "01_interaction_energy": {
        "ci": dict(n_seeds=1, n_particles=300, tau=0.05, end_time=1.2, iters=3, first_iters=40, width=32, depth=2,
                   batch=300, latent_dim=2, lr=3e-3, start_jitter=1e-9),
        "default": dict(n_seeds=3, n_particles=2000, tau=0.05, end_time=1.2, iters=60, first_iters=300, width=64,
                        depth=2, batch=400, latent_dim=2, lr=3e-3, start_jitter=1e-9),
        "paper": dict(PAPER_SETTINGS["01_interaction_energy"], n_seeds=3),
    },
    "02_diracs": {
        "ci": dict(n_seeds=1, n_particle_seeds=1, n_particles=200, tau=0.4, end_time=4.0, iters=4, first_iters=40,
                   width=32, depth=2, batch=200, latent_dim=2, lr=2e-3, start_jitter=1e-9),
        "default": dict(n_seeds=3, n_particle_seeds=10, n_particles=600, tau=0.4, end_time=40.0, iters=20,
                        first_iters=300, width=64, depth=3, batch=300, latent_dim=2, lr=2e-3, start_jitter=1e-9),
        "paper": dict(PAPER_SETTINGS["02_diracs"], n_seeds=3, n_particle_seeds=10),
    },
    "03_smiley": {
        "ci": dict(n_seeds=1, n_particle_seeds=1, n_particles=300, tau=1.0, end_time=6.0, iters=3, first_iters=40,
                   width=32, depth=2, batch=300, latent_dim=2, lr=2e-3, start_jitter=1e-9),
        "default": dict(n_seeds=3, n_particle_seeds=3, n_particles=800, tau=1.0, end_time=50.0, iters=20,
                        first_iters=300, width=64, depth=3, batch=400, latent_dim=2, lr=2e-3, start_jitter=1e-9),
        "paper": dict(PAPER_SETTINGS["03_smiley"], n_seeds=3, n_particle_seeds=3),
    },
    "04_max_und_moritz": {
        "ci": dict(n_seeds=1, n_particle_seeds=1, n_particles=400, tau=1.0, end_time=6.0, iters_forward=3,
                   first_iters_forward=40, iters_backward=3, first_iters_backward=40, width=32, depth=2, batch=400,
                   latent_dim=2, lr=2e-3, backward_estimator="svrg", fourier_features=16, start_jitter=1e-9),
        "default": dict(n_seeds=3, n_particle_seeds=3, n_particles=2000, tau=1.0, end_time=100.0, iters_forward=10,
                        first_iters_forward=400, iters_backward=10, first_iters_backward=400, width=128, depth=4,
                        batch=500, latent_dim=2, lr=1e-3, backward_estimator="svrg", fourier_features=64,
                        start_jitter=1e-9),
        "paper": dict(PAPER_SETTINGS["04_max_und_moritz"], n_seeds=3, n_particle_seeds=3),
    },
    "05_mnist": {
        "ci": dict(n_seeds=1, n_particles=16, particle_end_time=60.0, tau=6.0, end_time=60.0, iters=3, first_iters=30,
                   width=64, depth=2, latent_dim=8, batch=16, lr=1e-3, start_jitter=1e-9),
        "default": dict(n_seeds=3, n_particles=25, particle_end_time=PAPER_SETTINGS["05_mnist"]["end_time"], tau=6.0,
                        end_time=720.0, iters=20, first_iters=300, width=256, depth=2, latent_dim=32, batch=25,
                        lr=1e-3, start_jitter=1e-9),
        "paper": dict(PAPER_SETTINGS["05_mnist"], n_seeds=3,
                      particle_end_time=PAPER_SETTINGS["05_mnist"]["end_time"]),
    },
}
#: The parameters each notebook declares beyond ``profile``, ``device`` and ``seed``.
PARAMETERS = {
    "01_interaction_energy": ("n_seeds", "n_particles", "tau", "end_time", "iters", "first_iters", "width", "r"),
    "02_diracs": ("n_seeds", "n_particles", "tau", "end_time", "iters", "first_iters", "width"),
    "03_smiley": ("n_seeds", "n_particles", "tau", "end_time", "iters", "first_iters", "width"),
    "04_max_und_moritz": ("n_seeds", "n_particles", "tau", "end_time", "iters", "first_iters", "width",
                          "backward_estimator", "fourier_features"),
    "05_mnist": ("n_seeds", "n_particles", "end_time", "iters", "first_iters", "width"),
}
#: The Dirac starts of ``02``-``04`` (centres; each holds half of the particles).
CENTRES = {"02_diracs": [[-1.0, 1.0], [1.0, -1.0]], "03_smiley": [[-0.5, 0.0], [0.5, 0.0]],
           "04_max_und_moritz": [[-0.5, 0.0], [0.5, 0.0]]}
#: The exact target of ``02``: two Diracs (no sampling).
DIRAC_TARGET = [[1.0, 1.0], [-1.0, -1.0]]
#: Width of the Gaussian kernel of the fine-scale MMD of ``04`` (an eye of the drawing is about 0.03 wide).
FINE_SIGMA = 0.02
#: Plot settings: axis limits and marker size of the 2-D notebooks.
PLOT = {"02_diracs": dict(xlim=(-1.8, 1.8), ylim=(-1.8, 1.8), s=2.0),
        "03_smiley": dict(xlim=(-0.7, 0.7), ylim=(-0.7, 0.7), s=1.5),
        "04_max_und_moritz": dict(xlim=(-0.62, 0.55), ylim=(-0.42, 0.42), s=1.0)}
#: The step-size selectors: the particle flow's steps, and the time it runs to (None: the notebook's horizon).
STEP_GRID = {"01_interaction_energy": ((0.4, 0.2, 0.05), None), "02_diracs": ((1.0, 0.5, 0.2), 4.0),
             "03_smiley": ((2.0, 1.0, 0.5), 6.0), "04_max_und_moritz": ((2.0, 1.0, 0.5), 6.0),
             "05_mnist": ((12.0, 6.0, 2.0), None)}
#: The controls of each notebook's live panel (:func:`wgf_core.widgets.live_panel`) for :func:`live_flow`.
LIVE_CONTROLS = {
    "01_interaction_energy": dict(scheme=list(SCHEMES), n=(100, 2000, 100), tau_live=(0.02, 0.4, 0.02),
                                  t_end=(0.2, 2.0, 0.2), iters_live=(5, 200, 5)),
    **{nb: dict(scheme=list(SCHEMES), tau_live=(0.1, 2.0, 0.1), t_end=(1.0, 100.0, 1.0), iters_live=(2, 100, 2))
       for nb in _TARGET_NOTEBOOKS},
    "05_mnist": dict(scheme=list(SCHEMES), tau_live=(0.5, 8.0, 0.5), t_end=(10.0, 500.0, 10.0), iters_live=(1, 50, 1)),
}


@dataclass
class Setup(NotebookSetup):
    """What a notebook's first cell settles, validated: profile, device, seeds, sizes and the schemes' settings.

    ``seeds``: the neural schemes' ensemble; ``particle_seeds``: the particle flow's (larger in
    ``02`` at ``default``: it is cheap); ``steps`` / ``particle_steps``: steps of the neural schemes
    and of the particle flow; ``options``: the neural schemes' options by name; ``taus``: ``05``'s
    step sizes by scheme (the paper's schedule for the particle flow); ``r``: the Riesz exponent of
    ``01``'s interaction energy (the paper's :data:`PAPER_R` elsewhere).
    """

    particle_seeds: list
    steps: int = 0
    particle_steps: int = 0
    options: dict = field(default_factory=dict)
    taus: dict = field(default_factory=dict)
    r: float = PAPER_R

    @property
    def paper(self) -> dict:
        """The authors' settings (:data:`wgf_core.claims.riesz.PAPER_SETTINGS`)."""
        return PAPER_SETTINGS[self.notebook]

    @property
    def all_seeds(self) -> list:
        """The larger of the two ensembles: member ``s`` runs its schemes with the seed ``s * 2**20``."""
        return self.seeds if len(self.seeds) >= len(self.particle_seeds) else self.particle_seeds

    def flow(self, name: str) -> dict:
        """The step keywords of :func:`~wgf_core.flows.riesz.run_experiment` for scheme ``name``."""
        if self.taus:
            return dict(taus=self.taus[name])
        if name == "particle":
            return dict(tau=self.sizes.get("particle_tau", self.sizes["tau"]), steps=self.particle_steps)
        return dict(tau=self.sizes["tau"], steps=self.steps)

    def __str__(self) -> str:
        if self.taus:
            steps = f"particle steps={len(self.taus['particle'])} neural steps={len(self.taus['neural_forward'])}"
        elif self.notebook == "01_interaction_energy":
            steps = f"steps={self.steps}" + (f" r={self.r:g}" if self.r != PAPER_R else "")
        else:
            steps = f"particle seeds={self.particle_seeds} steps={self.steps} particle steps={self.particle_steps}"
        return f"profile={self.profile} device={self.device} seeds={self.seeds} {steps} {self.sizes}"


def setup(notebook: str, profile: str, device="cpu", seed: int = 0, **params) -> Setup:
    r"""The validated setup of a Riesz notebook (:data:`NOTEBOOKS`); a parameter that is None takes the
    profile's value (:data:`PROFILES`).

    ``params`` are the notebook's parameters (:data:`PARAMETERS`): ``n_seeds`` (both ensembles),
    ``n_particles``, ``tau``, ``end_time``, ``iters``, ``first_iters``, ``width``, in ``01`` the
    Riesz exponent ``r`` in (0, 2) (default :data:`PAPER_R`; otherwise every scheme runs on
    :math:`-\frac12\iint|x-y|^r` and the particle flow starts on the exact short-time profile, since
    from the jittered Dirac its outer edge does not reach the closed form's support), and in ``04``
    ``backward_estimator`` and ``fourier_features`` (``iters`` / ``first_iters`` there set both
    neural schemes). Outside ``ci`` the particle flow of ``02``-``04`` runs at the paper's step (it is
    cheap, and its accuracy and stability are set by ``tau``). In ``05`` the particle flow runs the
    paper's step schedule to ``particle_end_time``; the neural schemes a constant ``tau`` (the
    schedule at ``paper``) to ``end_time``.

    Raises :class:`~wgf_core.errors.ParameterError` naming the first bad parameter.
    """
    check_choice("notebook", notebook, NOTEBOOKS)
    check_choice("profile", profile, ("ci", "default", "paper"))
    dev = check_device(device)
    seed = check_int("seed", seed, minimum=0)
    unknown = sorted(set(params) - set(PARAMETERS[notebook]))
    if unknown:
        raise ParameterError(f"parameter {unknown[0]!r} is not a parameter of {notebook}: its parameters are "
                             f"{', '.join(PARAMETERS[notebook])}")
    p = {k: params.get(k) for k in PARAMETERS[notebook]}
    sizes = select_profile(profile, PROFILES[notebook])
    if notebook == "05_mnist":
        return _setup_mnist(profile, dev, seed, sizes, p)
    if notebook in _TARGET_NOTEBOOKS:
        sizes["particle_tau"] = sizes["tau"] if profile == "ci" else PAPER_SETTINGS[notebook]["tau"]
    ints = dict(n_seeds=p["n_seeds"], n_particles=p["n_particles"], width=p["width"])
    if notebook != "01_interaction_energy":
        ints["n_particle_seeds"] = p["n_seeds"]
    if notebook != "04_max_und_moritz":
        ints.update(iters=p["iters"], first_iters=p["first_iters"])
    for k in ("n_seeds", "n_particle_seeds", "n_particles", "iters", "first_iters", "width"):
        if ints.get(k) is not None:
            sizes[k] = check_int(k, ints[k])
    if notebook == "04_max_und_moritz":
        for k in ("iters", "first_iters"):
            if p[k] is not None:
                sizes[k + "_forward"] = sizes[k + "_backward"] = check_int(k, p[k])
        if p["backward_estimator"] is not None:
            sizes["backward_estimator"] = check_choice("backward_estimator", p["backward_estimator"],
                                                       ("minibatch", "svrg"))
        if p["fourier_features"] is not None:
            sizes["fourier_features"] = check_int("fourier_features", p["fourier_features"], minimum=0)
    for k in ("tau", "end_time"):
        if p[k] is not None:
            sizes[k] = check_positive(k, p[k])
    steps = max(1, round(sizes["end_time"] / sizes["tau"]))
    seeds = claims.seed_list(seed, sizes["n_seeds"])
    nn = dict(width=sizes["width"], depth=sizes["depth"], latent_dim=sizes["latent_dim"], lr=sizes["lr"],
              batch_size=sizes["batch"])
    if notebook == "01_interaction_energy":
        r = PAPER_R if p["r"] is None else check_range("r", p["r"], 0.0, 2.0)
        options = {name: dict(iters=sizes["iters"], first_iters=sizes["first_iters"], **nn)
                   for name in ("neural_backward", "neural_forward")}
        if r != PAPER_R:
            options["particle"] = dict(split_diracs_first=True)
        return Setup(notebook, profile, dev, seed, sizes, seeds, seeds, steps, steps, options, r=r)
    if notebook == "04_max_und_moritz":
        # the control variate ("svrg") and Fourier features of x (scale 10: ~0.1 wavelengths) are not the paper's
        options = {"neural_forward": dict(nn, iters=sizes["iters_forward"], first_iters=sizes["first_iters_forward"]),
                   "neural_backward": dict(nn, iters=sizes["iters_backward"],
                                           first_iters=sizes["first_iters_backward"],
                                           estimator=sizes["backward_estimator"],
                                           fourier_features=sizes["fourier_features"], fourier_scale=10.0)}
    else:
        nn = dict(iters=sizes["iters"], first_iters=sizes["first_iters"], **nn)
        options = {"neural_backward": nn, "neural_forward": nn}
    return Setup(notebook, profile, dev, seed, sizes, seeds, claims.seed_list(seed, sizes["n_particle_seeds"]),
                 steps, max(1, round(sizes["end_time"] / sizes["particle_tau"])), options)


def setup_page(experiment: str, profile: str, device="cpu", seed: int = 0, page: Optional[str] = None,
               **params) -> Setup:
    """The validated setup of one page of ``notebooks/riesz/riesz_flows.ipynb``: :func:`setup` of the
    notebook :data:`EXPERIMENTS` ``[experiment]``.

    ``page`` is the key the run records under (``scripts/build_book.py`` passes it from
    ``notebooks/pages.toml``); None or ``"riesz/<notebook>"``. ``params`` are the notebook's
    parameters, the union over the experiments (:data:`PARAMETERS`): those that are None take the
    profile's value, and one given to an experiment that lacks it is refused. Raises
    :class:`~wgf_core.errors.ParameterError` naming the first bad parameter.
    """
    notebook = EXPERIMENTS[check_choice("experiment", experiment, tuple(EXPERIMENTS))]
    if page is not None and page != f"riesz/{notebook}":
        raise ParameterError(f"parameter 'page' = {page!r} is not the page of experiment {experiment!r}: "
                             f"'riesz/{notebook}' (or None)")
    known = {k for ks in PARAMETERS.values() for k in ks}
    return setup(notebook, profile, device, seed,
                 **{k: v for k, v in params.items() if v is not None or k not in known})


def _setup_mnist(profile, dev, seed, sizes, p) -> Setup:
    for k in ("n_seeds", "n_particles", "iters", "first_iters", "width"):
        if p[k] is not None:
            sizes[k] = check_int(k, p[k])
    if p["end_time"] is not None:
        sizes["end_time"] = check_positive("end_time", p["end_time"])
    sizes["batch"] = sizes["n_particles"]   # full batches, as in the script
    # step sizes: the paper's schedule (0.5 until t = 5, then 1, 2, 3, and 6 from t = 6000) for the particle flow at
    # every profile; for the neural schemes at `paper`
    neural = (paper_mnist_taus(sizes["end_time"]) if sizes["tau"] == "schedule"
              else [sizes["tau"]] * max(1, round(sizes["end_time"] / sizes["tau"])))
    seeds = claims.seed_list(seed, sizes["n_seeds"])
    options = {name: {k: sizes[k] for k in ("iters", "first_iters", "width", "depth", "latent_dim", "lr")}
               for name in ("neural_backward", "neural_forward")}
    taus = {"particle": paper_mnist_taus(sizes["particle_end_time"]), "neural_backward": neural,
            "neural_forward": neural}
    return Setup("05_mnist", profile, dev, seed, sizes, seeds, seeds, len(neural), len(taus["particle"]), options,
                 taus)


def prose(S: Setup, name: str, values: Optional[dict] = None, folder="prose"):
    """Section ``name`` of the page's prose, as Markdown to display (a code cell's last value).

    The sections are those of ``<folder>/<S.notebook>.md`` (:func:`wgf_core.reporting.prose_sections`;
    ``folder`` relative to the working directory, the notebook's). Section ``name + "_r"`` follows
    when ``S.r`` is not the paper's. Glue roles are filled from ``values`` and ``r``
    (:func:`wgf_core.reporting.fill_glue`); a section the page lacks is empty.
    """
    from IPython.display import Markdown

    sections = prose_sections(Path(folder) / f"{S.notebook}.md")
    parts = [sections.get(name, "")] + ([sections.get(f"{name}_r", "")] if S.r != PAPER_R else [])
    return Markdown(fill_glue("\n\n".join(p for p in parts if p), {"r": S.r, **(values or {})}))


# ----------------------------------------------------------------------------- the runs
@dataclass
class Ensemble:
    """Every scheme on every member of the ensemble, and the numbers the claims need.

    ``runs``: per member of ``Setup.all_seeds``, scheme name -> :class:`~wgf_core.runner.Trajectory`
    (a member outside a scheme's ensemble lacks it). ``mmd_paths``: scheme -> per seed of its
    ensemble, the logged :math:`\\mathrm{MMD}_K` to the target; ``nulls``: per member, the 19
    :math:`\\mathrm{MMD}_K` of independent samples of the target law (``05``: sets of real digits);
    ``fine_nulls`` / ``fine_end``: the same with ``04``'s fine-scale kernel. ``values``: what one
    notebook alone needs (``01``: ``measured``, ``mmd_exact``, ``floors``, ``exact_mean``, ``t_end``, ``max_norm``;
    ``05``: ``nearest``, ``null_near``, ``target``, ``x_dirac``).
    """

    runs: list
    mmd_paths: dict = field(default_factory=dict)
    nulls: list = field(default_factory=list)
    fine_nulls: list = field(default_factory=list)
    fine_end: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)

    @property
    def results(self) -> dict:
        """The first member's runs (the ones plotted)."""
        return self.runs[0]


def run_ensemble(S: Setup) -> Ensemble:
    """Every scheme of ``S.notebook`` on every member of its ensemble (progress and a summary printed)."""
    if S.notebook == "01_interaction_energy":
        return _interaction_ensemble(S)
    if S.notebook == "05_mnist":
        return _mnist_ensemble(S)
    return _target_ensemble(S)


def _interaction_start(S: Setup, name: str, s: int, n: int) -> torch.Tensor:
    """``01``'s start of scheme ``name`` for member ``s``: the neural schemes' exact Dirac, the particle
    flow's jittered Dirac (float64), or at ``r != 1`` its exact Dirac (split at the first step)."""
    dev = S.device
    if name != "particle":
        return torch.zeros(n, 2, device=dev)
    if S.r != PAPER_R:
        return torch.zeros(n, 2, device=dev, dtype=torch.float64)
    return rz.jittered_diracs([[0.0, 0.0]], [n], width=S.sizes["start_jitter"], generator=stream(s, 1, dev), device=dev)


def _riesz_mmd(x: torch.Tensor, y: torch.Tensor, r: float) -> float:
    r""":math:`\mathrm{MMD}_K` with :math:`K = -|x-y|^r` (the energy distance's square root at r = 1)."""
    return float((energy_distance(x, y) if r == PAPER_R else rz.riesz_mmd2(x, y, r)).sqrt())


def _interaction_ensemble(S: Setup) -> Ensemble:
    sizes, dev, steps, r = S.sizes, S.device, S.steps, S.r
    n, T = sizes["n_particles"], steps * sizes["tau"]
    exact_mean = rz.exact_interaction_mean_norm(T, r)
    runs, measured, mmd_exact, floors = [], {name: [] for name in SCHEMES}, {name: [] for name in SCHEMES}, []
    max_norm = {name: [] for name in SCHEMES}
    for s in S.seeds:
        res = {name: run_experiment(name, _interaction_start(S, name, s, n), r=r, tau=sizes["tau"], steps=steps,
                                    options=S.options.get(name), seed=s * 2**20, snapshot_every=max(1, steps // 8))
               for name in SCHEMES}
        runs.append(res)
        # the MMD_K to an exact sample, and the level of two independent exact samples (same size)
        exact = rz.sample_exact_interaction(n, T, r=r, generator=stream(s, 2, dev), device=dev, dtype=torch.float64)
        floors.append(_riesz_mmd(rz.sample_exact_interaction(n, T, r=r, generator=stream(s, 3, dev), device=dev,
                                                             dtype=torch.float64), exact, r))
        for name, tr in res.items():
            norms = tr.x[0].norm(dim=-1)
            measured[name].append(dict(mean_norm=float(norms.mean()), exact_mean=exact_mean, n=n, tau=sizes["tau"],
                                       t_end=T))
            max_norm[name].append(float(norms.max()))
            mmd_exact[name].append(_riesz_mmd(tr.x[0].double(), exact, r))
    print(f"exact mean |x| at t={T:.2f}: {exact_mean:.4f}" + (f" (r = {r:g}; support radius "
                                                               f"{rz.exact_interaction_radius(T, r):.4f})"
                                                               if r != PAPER_R else ""))
    for name in SCHEMES:
        print(f"{name:16s} mean|x| per seed: " + ", ".join(f"{m['mean_norm']:.4f}" for m in measured[name])
              + "; MMD_K to an exact sample: " + ", ".join(f"{v:.3g}" for v in mmd_exact[name])
              + " (two exact samples: " + ", ".join(f"{v:.3g}" for v in floors) + ")")
    return Ensemble(runs, values=dict(measured=measured, mmd_exact=mmd_exact, floors=floors, exact_mean=exact_mean,
                                      t_end=T, max_norm=max_norm))


def _dirac_start(S: Setup, exact: bool = True, member: Optional[int] = None) -> torch.Tensor:
    """``02``-``04``'s start: the exact Diracs (neural schemes), or the authors' jittered Diracs in float64
    drawn for ``member`` (the particle flow)."""
    n = S.sizes["n_particles"]
    centres, counts = CENTRES[S.notebook], [n // 2, n - n // 2]
    if exact:
        return torch.cat([torch.tensor([c], device=S.device).repeat(k, 1) for c, k in zip(centres, counts)])
    return rz.jittered_diracs(centres, counts, width=S.sizes["start_jitter"], generator=stream(member, 2, S.device),
                              device=S.device)


def _target_sample(S: Setup, s: int, purpose: int = 1) -> torch.Tensor:
    """``02``-``04``'s target for member ``s`` (float64): the exact Diracs, or a sample of the image's law
    (``purpose`` 1; 100 + k: the k-th independent sample of the noise floor)."""
    n, dev = S.sizes["n_particles"], S.device
    if S.notebook == "02_diracs":
        target = torch.tensor(DIRAC_TARGET, device=dev, dtype=torch.float64)
        return target if purpose == 1 else rz.sample_atoms(target, n, generator=stream(s, purpose, dev))
    points = smiley_points if S.notebook == "03_smiley" else max_und_moritz_points
    return points(n, generator=stream(s, purpose, dev), device=dev, dtype=torch.float64)


def _target_ensemble(S: Setup) -> Ensemble:
    x_dirac = _dirac_start(S)
    fine = get_kernel("gauss", FINE_SIGMA**2) if S.notebook == "04_max_und_moritz" else None
    every = 20 if fine is not None else 100   # logs of the particle flow (04: also of the neural schemes)
    runs, nulls, fine_nulls = [], [], []
    mmd_paths, fine_end = {name: [] for name in SCHEMES}, {name: [] for name in SCHEMES}
    for s in S.all_seeds:
        target = _target_sample(S, s)
        res = {}
        if s in S.particle_seeds:
            res["particle"] = run_experiment("particle", _dirac_start(S, False, s), target, **S.flow("particle"),
                                             seed=s * 2**20, log_every=max(1, S.particle_steps // every),
                                             snapshot_every=max(1, S.particle_steps // 8))
        if s in S.seeds:
            for name in ("neural_backward", "neural_forward"):
                res[name] = run_experiment(name, x_dirac, target.float(), **S.flow(name), options=S.options[name],
                                           seed=s * 2**20, log_every=max(1, S.steps // 20) if fine is not None else 1,
                                           snapshot_every=max(1, S.steps // 8))
        runs.append(res)
        # noise floor, computed in the run: MMD_K of 19 independent samples of the target law (size n) to the target
        def draw(k, s=s):
            return _target_sample(S, s, 100 + k)
        nulls.append(rz.null_mmds(draw, target))
        if fine is not None:
            fine_nulls.append(rz.null_mmds(draw, target, kernel=fine))
        print(f"seed {s}: noise floor (19 independent samples) median {np.median(nulls[-1]):.4f}, "
              f"largest {max(nulls[-1]):.4f}")
        for name, r in res.items():
            mmd_paths[name].append(r.metrics["mmd"][0].tolist())
            if fine is not None:
                fine_end[name].append(float(mmd2(fine, r.x[0].double(), target).clamp_min(0).sqrt()))
            print(f"  {name:16s} MMD: start {mmd_paths[name][-1][0]:.4f} -> end {mmd_paths[name][-1][-1]:.4f}"
                  + (f";  fine-scale end {fine_end[name][-1]:.4f} (floor largest {max(fine_nulls[-1]):.4f})"
                     if fine_nulls else ""))
    return Ensemble(runs, mmd_paths, nulls, fine_nulls, fine_end)


def _mnist_ensemble(S: Setup) -> Ensemble:
    sizes, dev = S.sizes, S.device
    n = sizes["n_particles"]
    digits = mnist_digits(2100, device=dev, dtype=torch.float64)   # 100 targets, then a pool of 2000 other digits
    target, pool = digits[:100], digits[100:]
    x_dirac = torch.full((n, 784), 0.5, device=dev)
    runs, null_mmd, null_near = [], [], []
    mmd_paths, nearest = {name: [] for name in SCHEMES}, {name: [] for name in SCHEMES}
    for s in S.seeds:
        x_jit = rz.jittered_diracs([[0.5] * 784], [n], width=sizes["start_jitter"], generator=stream(s, 2, dev),
                                   device=dev)
        res = {}
        for name in SCHEMES:
            taus = S.taus[name]
            res[name] = run_experiment(name, x_jit if name == "particle" else x_dirac,
                                       target if name == "particle" else target.float(), taus=taus,
                                       options=S.options.get(name), seed=s * 2**20, log_every=max(1, len(taus) // 200),
                                       snapshot_every=max(1, len(taus) // 6))
        runs.append(res)
        # noise floor, computed in the run: 19 sets of n real digits that are not among the targets
        sets = [pool[torch.randperm(len(pool), generator=stream(s, 100 + k, dev), device=dev)[:n]] for k in range(19)]
        null_mmd.append(rz.null_mmds(lambda k, sets=sets: sets[k], target))
        null_near.append([rz.mean_nearest_distance(x, target) for x in sets])
        for name, r in res.items():
            mmd_paths[name].append(r.metrics["mmd"][0].tolist())
            nearest[name].append(rz.mean_nearest_distance(r.x[0], target))
    for k, s in enumerate(S.seeds):
        print(f"seed {s}: {n} real digits: MMD median {np.median(null_mmd[k]):.3f}, largest {max(null_mmd[k]):.3f}; "
              f"nearest-digit distance largest {max(null_near[k]):.2f}")
        for name in SCHEMES:
            r, p = runs[k][name], mmd_paths[name][k]
            print(f"  {name:16s} t={r.times[-1]:.0f}  MMD: start {p[0]:.3f} -> end {p[-1]:.3f};  "
                  f"nearest-digit distance {nearest[name][k]:.2f}")
    return Ensemble(runs, mmd_paths, null_mmd,
                    values=dict(nearest=nearest, null_near=null_near, target=target, x_dirac=x_dirac))


# ----------------------------------------------------------------------------- figures
def _circle(ax, t: float, lw: Optional[float] = 0.8, r: float = PAPER_R):
    """Draw the exact support circle :math:`|x| = R(t)` of the interaction flow (exponent ``r``) on ``ax``."""
    import matplotlib.pyplot as plt

    ax.add_patch(plt.Circle((0, 0), rz.exact_interaction_radius(t, r), fill=False, color="k",
                            **({} if lw is None else dict(lw=lw))))


def _circle_of(S: Setup):
    """:func:`_circle` with ``S.r`` (a ``decorate`` of :mod:`wgf_core.plotting`)."""
    return lambda ax, t, lw=0.8: _circle(ax, t, lw, S.r)


def _digits(trajs: dict, snapshot: Optional[int] = None):
    rows = [r.x[0].cpu() if snapshot is None else r.x_snapshots[snapshot, 0] for r in trajs.values()]
    return image_rows(rows, [f"{name}, t = {(r.times[-1] if snapshot is None else r.snapshot_times[snapshot]):.0f}"
                             for name, r in trajs.items()])


def snapshot_figure(S: Setup, E: Ensemble):
    """The first member's runs at evenly spaced times (rows: schemes); ``05``: the end states as images."""
    if S.notebook == "05_mnist":
        return _digits(E.results)
    if S.notebook == "01_interaction_energy":
        lim = 1.1 * rz.exact_interaction_radius(E.values["t_end"], S.r)
        return snapshot_grid(E.results, n_cols=4, xlim=(-lim, lim), ylim=(-lim, lim), panel=(2.6, 2.6),
                             time_format=".2f", decorate=_circle_of(S))
    return snapshot_grid(E.results, **PLOT[S.notebook])


def curves_figure(S: Setup, E: Ensemble):
    """One line per scheme and seed: ``01`` the energy and the mean radius against the exact solution; else
    the :math:`\\mathrm{MMD}_K` to the target with the noise floor's largest value, and the energy."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    per = {name: [r[name] for r in E.runs if name in r] for name in SCHEMES}
    if S.notebook == "01_interaction_energy":
        # self-similarity: E_K(rho_t) = (R(t) / R(1))^r E_K(rho_1) and E|x| = R(t) E|x|_1 (linear in t at r = 1)
        big = rz.sample_exact_interaction(4000, 1.0, r=S.r, generator=stream(S.seeds[0], 4, S.device), device=S.device)
        e1, tt = float(rz.interaction_energy(big, S.r)), np.linspace(0, E.values["t_end"], 50)
        grow = np.array([rz.exact_interaction_radius(t, S.r) for t in tt]) / rz.exact_interaction_radius(1.0, S.r)
        run_lines(ax[0], {k: [(r.times, r.metrics["energy"][0]) for r in v] for k, v in per.items()},
                  xlabel="time t", ylabel=r"interaction energy $\mathcal{E}_K(\mu_t)$",
                  reference=(tt, e1 * grow**S.r, "exact"))
        run_lines(ax[1], {k: [(r.snapshot_times, np.linalg.norm(r.x_snapshots[:, 0], axis=-1).mean(-1)) for r in v]
                          for k, v in per.items()}, xlabel="time t", ylabel=r"mean $|x|$", marker="o", ms=3,
                  reference=(tt, rz.exact_interaction_mean_norm(1.0, S.r) * grow, "exact"))
    else:
        mnist = S.notebook == "05_mnist"
        skip = 1 if mnist else 0
        run_lines(ax[0], {k: [(r.times[1:], r.metrics["mmd"][0, 1:]) for r in v] for k, v in per.items()},
                  xlabel="time t", ylabel=r"$\mathrm{MMD}_K(\mu_t, \nu)$ (r = 1)", yscale="log",
                  xscale="log" if mnist else "linear", floor=max(max(nl) for nl in E.nulls),
                  floor_label=f"{S.sizes['n_particles']} real digits (largest)" if mnist else "noise floor (largest)")
        run_lines(ax[1], {k: [(r.times[skip:], r.metrics["energy"][0, skip:]) for r in v] for k, v in per.items()},
                  xlabel="time t", ylabel=r"$\mathcal{F}_\nu(\mu_t) = \frac{1}{2} \mathrm{MMD}_K^2$",
                  xscale="log" if mnist else "linear")
    fig.tight_layout()
    return fig


def animation_frames(S: Setup, E: Ensemble) -> list:
    """The frames of the first member's animation (:func:`wgf_core.widgets.frame_slider`)."""
    if S.notebook == "05_mnist":
        return [_digits(E.results, c) for c in range(min(len(r.snapshot_times) for r in E.results.values()))]
    if S.notebook == "01_interaction_energy":
        return snapshot_frames(E.results, xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), s=1.0, time_format=".2f",
                               decorate=_circle_of(S))
    return snapshot_frames(E.results, **PLOT[S.notebook])


def _first_member(S: Setup, E: Ensemble) -> tuple:
    """The first member's starts and targets: (particle start, particle target, neural start, neural target)."""
    s0, dev, n = S.seeds[0], S.device, S.sizes["n_particles"]
    if S.notebook == "01_interaction_energy":
        return _interaction_start(S, "particle", s0, n), None, _interaction_start(S, "neural_forward", s0, n), None
    if S.notebook == "05_mnist":
        x_jit = rz.jittered_diracs([[0.5] * 784], [n], width=S.sizes["start_jitter"], generator=stream(s0, 2, dev),
                                   device=dev)
        target = E.values["target"]
        return x_jit, target, E.values["x_dirac"], target.float()
    target = _target_sample(S, s0)
    return _dirac_start(S, False, s0), target, _dirac_start(S), target.float()


def step_size_figures(S: Setup, E: Ensemble) -> dict:
    """The first member's particle flow at several steps (:data:`STEP_GRID`): ``"tau = ..."`` -> figure."""
    taus, t_grid = STEP_GRID[S.notebook]
    if t_grid is None:
        t_grid = E.values["t_end"] if S.notebook == "01_interaction_energy" else sum(S.taus["neural_forward"])
    x0, target = _first_member(S, E)[:2]
    grid = {}
    for g in taus:
        k_g = max(1, round(t_grid / g))
        rg = run_experiment("particle", x0, target, r=S.r, tau=g, steps=k_g, options=S.options.get("particle"),
                            seed=S.seeds[0] * 2**20, log_every=k_g)
        if S.notebook == "01_interaction_energy":
            mean, exact = float(rg.x[0].norm(dim=-1).mean()), E.values["exact_mean"]
            fig = scatter_figure(rg.x[0], s=1, size=(3.6, 3.6), decorate=lambda ax: _circle(ax, t_grid, None, S.r),
                                 title=f"tau={g}: mean|x|={mean:.4f} (exact {exact:.4f})")
        elif S.notebook == "05_mnist":
            fig = image_rows([rg.x[0].cpu()], [f"particle flow, tau = {g}, t = {rg.times[-1]:.0f}, "
                                               f"MMD = {rg.metrics['mmd'][0, -1]:.3f}"])
        else:
            fig = scatter_figure(rg.x[0], **PLOT[S.notebook],
                                 title=f"tau={g}, t={rg.times[-1]:.1f}: MMD={rg.metrics['mmd'][0, -1]:.4f}")
        grid[f"tau = {g}"] = fig
    return grid


#: The live panel's starting values (step, end time, network iterations per step; ``01`` also particles).
LIVE_DEFAULTS = {"01_interaction_energy": dict(tau_live=0.1, t_end=1.2, iters_live=20, n=500),
                 **{nb: dict(tau_live=0.5, t_end=10.0, iters_live=10) for nb in _TARGET_NOTEBOOKS},
                 "05_mnist": dict(tau_live=2.0, t_end=60.0, iters_live=5)}


def live_flow(S: Setup, E: Ensemble):
    """The live panel's callback (controls :data:`LIVE_CONTROLS`, starting values :data:`LIVE_DEFAULTS`):
    ``callback(scheme, tau_live, t_end, iters_live)`` (``01``: also ``n`` particles) runs ``scheme``
    from the first member's start with step ``tau_live`` to ``t_end``, ``iters_live`` network
    iterations per step (small networks), and returns the end state's figure."""
    d = LIVE_DEFAULTS[S.notebook]
    if S.notebook == "01_interaction_energy":
        def callback(scheme="particle", n=d["n"], tau_live=d["tau_live"], t_end=d["t_end"], iters_live=d["iters_live"]):
            return _live(S, E, scheme, tau_live, t_end, iters_live, n)
    else:
        def callback(scheme="particle", tau_live=d["tau_live"], t_end=d["t_end"], iters_live=d["iters_live"]):
            return _live(S, E, scheme, tau_live, t_end, iters_live)
    return callback


def _live(S: Setup, E: Ensemble, scheme: str, tau_live: float, t_end: float, iters_live: int, n: int = 0):
    check_choice("scheme", scheme, SCHEMES)
    iters_live = check_int("iters_live", iters_live)
    steps = max(1, round(check_positive("t_end", t_end) / check_positive("tau_live", tau_live)))
    if S.notebook == "01_interaction_energy":
        opts = (S.options.get("particle") or {} if scheme == "particle"
                else dict(iters=iters_live, first_iters=10 * iters_live, width=32, depth=2))
        start = (rz.jittered_diracs([[0.0, 0.0]], [check_int("n", n)], generator=stream(S.seeds[0], 5, S.device))
                 if scheme == "particle" and S.r == PAPER_R else torch.zeros(n, 2, dtype=torch.float64))
        r = run_experiment(scheme, start if scheme == "particle" else start.float(), r=S.r, tau=tau_live, steps=steps,
                           options=opts, seed=S.seeds[0] * 2**20)
        return scatter_figure(r.x[0], s=2, size=(4, 4), decorate=lambda ax: _circle(ax, r.times[-1], None, S.r),
                              title=f"{scheme}, t = {r.times[-1]:.2f}")
    x_jit, target, x_dirac, target_f = _first_member(S, E)
    start, tgt = (x_jit, target) if scheme == "particle" else (x_dirac, target_f)
    if S.notebook == "05_mnist":
        opts = dict(iters=iters_live, first_iters=20 * iters_live, width=128, depth=2, latent_dim=16)
    else:
        opts = dict(iters=iters_live, first_iters=10 * iters_live, width=64, depth=3, batch_size=500)
    r = run_experiment(scheme, start, tgt, tau=tau_live, steps=steps, options={} if scheme == "particle" else opts,
                       seed=S.seeds[0] * 2**20)
    if S.notebook == "05_mnist":
        return image_rows([r.x[0].cpu()], [f"{scheme}, t = {r.times[-1]:.0f}, MMD = {r.metrics['mmd'][0, -1]:.3f}"])
    return scatter_figure(r.x[0], **PLOT[S.notebook], size=(4, 3.6),
                          title=f"{scheme}, t = {r.times[-1]:.1f}, MMD = {r.metrics['mmd'][0, -1]:.4f}")


# ----------------------------------------------------------------------------- verdicts
#: The claim-id stem of each notebook (``riesz-<stem>-<scheme>-<kind>``) and its claim kinds.
CLAIM_KINDS = {"01_interaction_energy": ("interaction", ("mean",)),
               "02_diracs": ("diracs", ("monotone", "reaches-target")),
               "03_smiley": ("smiley", ("monotone", "reaches-target")),
               "04_max_und_moritz": ("maxmoritz", ("monotone", "reaches-target", "recognisable")),
               "05_mnist": ("mnist", ("monotone", "digits"))}
#: How the target sample of ``03`` / ``04`` differs from the authors' scripts (a configuration note).
DATA_NOTES = {
    "03_smiley": ["target sampled by wgf_core.data.image_to_points (aspect kept, box of side 1.2, blur 0.5 px) and "
                  "Diracs at (±0.5, 0); the authors' script maps the image to [-0.5, 0.5]^2 (blur 2 px plus a faint "
                  "background) and starts at (±1, 0)"],
    "04_max_und_moritz": ["target sampled by wgf_core.data.image_to_points (aspect kept, box of side 1.2, blur 0.5 "
                          "px); the authors' script resizes the drawing to 100 x 100 on [-0.5, 0.5]^2 (blur 0.1 px "
                          "plus a faint background)"],
}
_NEURAL_KEYS = ("n_particles", "tau", "end_time", "iters", "first_iters", "width", "depth", "batch", "latent_dim", "lr")


def _claim(S: Setup, name: str, kind: str):
    stem, kinds = CLAIM_KINDS[S.notebook]
    return claims.get(f"riesz-{stem}-{name}-{kind}")


def _used(S: Setup, name: str) -> dict:
    """The settings a scheme's verdicts ran at (against the paper's, :func:`wgf_core.claims.configuration`)."""
    sizes = S.sizes
    if S.notebook == "01_interaction_energy":
        keys = ("n_particles", "tau", "end_time", "start_jitter") if name == "particle" else _NEURAL_KEYS
        return {**{k: sizes[k] for k in keys}, "r": S.r}
    if name == "particle":
        return dict(n_particles=sizes["n_particles"], tau="schedule" if S.taus else sizes["particle_tau"],
                    end_time=sizes["particle_end_time" if S.taus else "end_time"], start_jitter=sizes["start_jitter"])
    if S.notebook == "05_mnist":
        return {k: sizes[k] for k in ("n_particles", "tau", "end_time", "iters", "first_iters", "width", "depth",
                                      "latent_dim", "batch", "lr")}
    if S.notebook == "04_max_und_moritz":
        other = "forward" if name == "neural_backward" else "backward"
        keys = ("n_particles", "tau", "end_time", "iters_forward", "first_iters_forward", "iters_backward",
                "first_iters_backward", "width", "depth", "batch", "latent_dim", "lr", "backward_estimator",
                "fourier_features")
        return {k: sizes[k] for k in keys if not k.endswith("_" + other)
                and (name == "neural_backward" or k not in ("backward_estimator", "fourier_features"))}
    return {k: sizes[k] for k in _NEURAL_KEYS}


def _configuration(S: Setup, name: str) -> dict:
    paper = {**S.paper, "r": PAPER_R} if S.notebook == "01_interaction_energy" else S.paper
    return claims.configuration(S.profile, _used(S, name), paper,
                                notes=scheme_notes(name, S.options.get(name)) + DATA_NOTES.get(S.notebook, []))


def _timings(S: Setup, E: Ensemble) -> dict:
    return {f"{k}_seconds_seed_{s}": round(r.seconds, 2) for s, res in zip(S.all_seeds, E.runs) for k, r in res.items()}


def verdicts(S: Setup, E: Ensemble) -> tuple:
    """``claims.assess`` per claim of the notebook (:mod:`wgf_core.claims.riesz`), over its ensembles.

    Returns ``(entries, record, glued)``: the assessed claims, the keywords ``checks``, ``metrics``
    and ``timings`` of :func:`wgf_core.reporting.record_metrics`, and the values glued into the
    notebook's prose by name.
    """
    if S.notebook == "01_interaction_energy":
        return _interaction_verdicts(S, E)
    if S.notebook == "05_mnist":
        return _mnist_verdicts(S, E)
    return _target_verdicts(S, E)


def _interaction_verdicts(S: Setup, E: Ensemble) -> tuple:
    v, trajs = E.values, [r for res in E.runs for r in res.values()]
    entries = [claims.assess(_claim(S, name, "mean"), v["measured"][name], S.seeds,
                             configuration=_configuration(S, name)) for name in SCHEMES]
    record = dict(
        checks={"no_nan": all(np.isfinite(r.metrics["energy"]).all() for r in trajs),
                "energy_decreased": all(r.metrics["energy"][0, -1] < r.metrics["energy"][0, 0] for r in trajs),
                "particles_left_dirac": all(float(r.x[0].norm(dim=-1).max()) > 1e-6 for r in trajs)},
        metrics={"exact_mean_norm": v["exact_mean"], "mmd_two_exact_samples": v["floors"],
                 **{f"{k}_mean_norm": [m["mean_norm"] for m in v["measured"][k]] for k in SCHEMES},
                 **{f"{k}_mmd_to_exact": v["mmd_exact"][k] for k in SCHEMES}, "profile_sizes": S.sizes},
        timings=_timings(S, E))
    glued = dict(n_seeds=len(S.seeds), t_end=v["t_end"], exact_mean=v["exact_mean"], mmd_floor_max=max(v["floors"]),
                 particle_start="from the jittered Dirac" if S.r == PAPER_R else "from the Dirac split at the first step")
    for e, name in zip(entries, SCHEMES):
        glued.update({f"{name}_min": e["min"], f"{name}_max": e["max"], f"{name}_verdict": e["status"],
                      f"{name}_mmd_max": max(v["mmd_exact"][name])})
    if S.r != PAPER_R:  # beyond the paper: the closed form's support radius too (the record at r = 1 is unchanged)
        radius = rz.exact_interaction_radius(v["t_end"], S.r)
        record["metrics"].update(r=S.r, exact_radius=radius, **{f"{k}_max_norm": v["max_norm"][k] for k in SCHEMES})
        glued.update(r=S.r, exact_radius=radius)
        for k in SCHEMES:
            glued.update({f"{k}_radius_min": min(v["max_norm"][k]), f"{k}_radius_max": max(v["max_norm"][k]),
                          f"{k}_mean_err": _worst_percent([d["mean_norm"] for d in v["measured"][k]], v["exact_mean"]),
                          f"{k}_radius_err": _worst_percent(v["max_norm"][k], radius)})
    return entries, record, glued


def _worst_percent(values, exact: float) -> float:
    """The relative error of ``values`` to ``exact`` largest in size, in percent (signed)."""
    return max((100 * (x / exact - 1) for x in values), key=abs)


def _target_verdicts(S: Setup, E: Ensemble) -> tuple:
    kinds = CLAIM_KINDS[S.notebook][1]
    entries, by = [], {}
    for name in SCHEMES:
        ens = S.particle_seeds if name == "particle" else S.seeds
        nl_ens = [E.nulls[S.all_seeds.index(s)] for s in ens]
        conf, paths = _configuration(S, name), E.mmd_paths[name]
        per_kind = {"monotone": [dict(mmd=p, null=nl) for p, nl in zip(paths, nl_ens)],
                    "reaches-target": [dict(value=p[-1], null=nl) for p, nl in zip(paths, nl_ens)]}
        if "recognisable" in kinds:
            fine_ens = [E.fine_nulls[S.all_seeds.index(s)] for s in ens]
            per_kind["recognisable"] = [dict(value=x, null=nl) for x, nl in zip(E.fine_end[name], fine_ens)]
        for kind in kinds:
            by[name, kind] = claims.assess(_claim(S, name, kind), per_kind[kind], ens, configuration=conf)
            entries.append(by[name, kind])
    record = _mmd_record(S, E, metrics={
        "null_mmds": E.nulls, **{f"{k}_mmd_path": E.mmd_paths[k] for k in SCHEMES},
        **({"fine_null_mmds": E.fine_nulls, **{f"{k}_fine_mmd_end": E.fine_end[k] for k in SCHEMES}}
           if E.fine_nulls else {}), "profile_sizes": S.sizes})
    glued = dict(n_seeds=len(S.seeds), n_particle_seeds=len(S.particle_seeds), t_end=S.steps * S.sizes["tau"],
                 floor_max=max(max(nl) for nl in E.nulls),
                 floor_median=float(np.median([np.median(nl) for nl in E.nulls])))
    for name in SCHEMES:
        reach = by[name, "reaches-target"]
        glued.update({f"{name}_end_min": reach["min"], f"{name}_end_max": reach["max"],
                      f"{name}_reach": reach["status"], f"{name}_mono": by[name, "monotone"]["status"]})
        if E.fine_nulls:
            glued.update({f"{name}_fine_min": min(E.fine_end[name]), f"{name}_fine_max": max(E.fine_end[name]),
                          f"{name}_recog": by[name, "recognisable"]["status"]})
    if E.fine_nulls:
        glued["fine_floor_max"] = max(max(nl) for nl in E.fine_nulls)
        glued["backward_changes"] = ("; ".join(scheme_notes("neural_backward", S.options["neural_backward"]))
                                     or "none: the paper's plain minibatch estimator and network inputs")
    return entries, record, glued


def _mmd_record(S: Setup, E: Ensemble, metrics: dict) -> dict:
    return dict(checks={"no_nan": all(np.isfinite(r.metrics["energy"]).all() for res in E.runs for r in res.values()),
                        **{f"{k}_mmd_decreased": all(p[-1] < p[0] for p in E.mmd_paths[k]) for k in SCHEMES}},
                metrics=metrics, timings=_timings(S, E))


def _mnist_verdicts(S: Setup, E: Ensemble) -> tuple:
    nearest, null_near, null_mmd = E.values["nearest"], E.values["null_near"], E.nulls
    entries, by = [], {}
    for name in SCHEMES:
        conf, paths = _configuration(S, name), E.mmd_paths[name]
        by[name, "monotone"] = claims.assess(_claim(S, name, "monotone"),
                                             [dict(mmd=p, null=nm) for p, nm in zip(paths, null_mmd)], S.seeds,
                                             configuration=conf)
        by[name, "digits"] = claims.assess(_claim(S, name, "digits"),
                                           [dict(mmd=p[-1], nearest=d, null_mmd=nm, null_nearest=nn)
                                            for p, d, nm, nn in zip(paths, nearest[name], null_mmd, null_near)],
                                           S.seeds, configuration=conf)
        entries += [by[name, "monotone"], by[name, "digits"]]
    first = E.results
    record = _mmd_record(S, E, metrics={
        "real_digit_sets_mmd": null_mmd, "real_digit_sets_nearest": null_near,
        **{f"{k}_mmd_end": [p[-1] for p in E.mmd_paths[k]] for k in SCHEMES},
        **{f"{k}_nearest": nearest[k] for k in SCHEMES},
        **{f"{k}_end_time": float(first[k].times[-1]) for k in SCHEMES}, "profile_sizes": S.sizes})
    glued = dict(n_seeds=len(S.seeds), null_mmd_max=max(max(v) for v in null_mmd),
                 null_near_max=max(max(v) for v in null_near))
    for name in SCHEMES:
        ends = [p[-1] for p in E.mmd_paths[name]]
        glued.update({f"{name}_t": float(first[name].times[-1]), f"{name}_mmd_min": min(ends),
                      f"{name}_mmd_max": max(ends), f"{name}_near_min": min(nearest[name]),
                      f"{name}_near_max": max(nearest[name]), f"{name}_digits": by[name, "digits"]["status"],
                      f"{name}_mono": by[name, "monotone"]["status"]})
    return entries, record, glued
