r"""Drivers of the Riesz notebooks (``notebooks/riesz``): Altekrüger, Hertrich, Steidl (ICML 2023).

The flows run through :func:`wgf_core.flows.riesz.run_experiment` (one scheme by name on the
Riesz MMD energy, with the one runner). Here is what the notebooks call, in their order:

* :func:`setup_page` -- the one notebook's (``notebooks/riesz/riesz_flows.ipynb``) first cell: its
  ``experiment`` (:data:`EXPERIMENTS`) and ``page``, then :func:`setup`;
* :func:`prose` -- the page's prose (``notebooks/riesz/prose/<page>.md``) with the run's values;
* :func:`setup` -- the profile's sizes (:data:`PROFILES`), the parameters validated once and each
  scheme's looks of its claims' seed plan (:class:`Setup`);
* :func:`run_ensemble` -- every scheme on the members of its first look, with the numbers the
  claims need (:class:`Ensemble`): the interaction energy from a Dirac and its exact solution
  (``01``, for any Riesz exponent ``r``), the flows onto a target sample (``02``-``04``), the MNIST
  flow (``05``);
* the figures -- :func:`snapshot_figure`, :func:`curves_figure`, :func:`animation_frames`,
  :func:`step_size_figures` and the live panel's :func:`live_flow` (:data:`LIVE_CONTROLS`), built
  from :mod:`wgf_core.plotting`;
* :func:`verdicts` -- :func:`wgf_core.claims.run_plan` per scheme over the claims of
  :mod:`wgf_core.claims.riesz` (members are added look by look while a claim is inconclusive),
  the record's checks, metrics and timings, and the values glued into the prose.

Random draws: every draw of a run comes from :func:`wgf_core.random.stream` ``(seed, purpose,
member)`` with the notebook's base ``seed``, the ensemble ``member`` and ``purpose``
``"riesz/<notebook>/<what>"`` (:func:`purpose`): ``start`` (the jittered Diracs), ``target`` (the
member's target sample), ``<scheme>`` (the scheme's networks, latents and minibatches), ``exact``
and ``exact_floor`` (``01``'s exact samples), ``figure``, ``live``. A member's numbers do not depend
on which other members ran.

The fixed references of the claims (:func:`compute_references`; the sampling level of the target
law at the run's size ``n``) come from :data:`REFERENCE_DRAWS` draws of the streams
``(REFERENCE_SEED, "riesz/reference/<notebook>/n=<n>", k)``; ``python -m
wgf_core.experiments.riesz --references`` writes them to ``wgf_core/claims/references/riesz.json``,
and :func:`reference` computes one at run time for an ``n`` not in the file.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .. import claims
from .. import riesz as rz
from ..claims import riesz as cr
from ..claims.riesz import PAPER_SETTINGS, PLANS, REFERENCE_DRAWS, REFERENCE_KINDS
from ..data import max_und_moritz_points, mnist_digits, smiley_points
from ..flows.riesz import SCHEMES, paper_mnist_taus, run_experiment, scheme_notes
from ..kernels import get_kernel
from ..metrics import energy_distance, mmd2
from ..plotting import image_rows, run_lines, scatter_figure, snapshot_frames, snapshot_grid
from ..random import stream
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
from .riesz_sizes import check as check_sizes

__all__ = ["purpose", "NOTEBOOKS", "EXPERIMENTS", "PROFILES", "Setup", "setup", "setup_page", "prose", "Ensemble",
           "run_ensemble", "snapshot_figure", "curves_figure", "animation_frames", "step_size_figures", "live_flow",
           "LIVE_CONTROLS", "LIVE_DEFAULTS", "verdicts", "REFERENCE_SEED", "null_draws", "reference",
           "compute_references", "write_references", "main"]

#: The base seed of the references' null draws (fixed: a reference does not change with a notebook's seed).
REFERENCE_SEED = 0
#: Real digits of the MNIST references' pool (training digits 100, 101, ...; none is a target).
MNIST_POOL = 2000


def purpose(notebook: str, what: str) -> str:
    """The ``purpose`` of a notebook's random draw (:func:`wgf_core.random.stream`): ``"riesz/<notebook>/<what>"``."""
    return f"riesz/{notebook}/{what}"


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
        "ci": dict(n_particles=300, tau=0.05, end_time=1.2, iters=3, first_iters=40, width=32, depth=2, batch=300,
                   latent_dim=2, lr=3e-3, start_jitter=1e-9),
        "default": dict(n_particles=2000, tau=0.05, end_time=1.2, iters=60, first_iters=300, width=64,
                        depth=2, batch=400, latent_dim=2, lr=3e-3, start_jitter=1e-9),
        "paper": dict(PAPER_SETTINGS["01_interaction_energy"]),
    },
    "02_diracs": {
        "ci": dict(n_particles=200, tau=0.4, end_time=4.0, iters=4, first_iters=40,
                   width=32, depth=2, batch=200, latent_dim=2, lr=2e-3, start_jitter=1e-9),
        "default": dict(n_particles=600, tau=0.4, end_time=40.0, iters=20,
                        first_iters=300, width=64, depth=3, batch=300, latent_dim=2, lr=2e-3, start_jitter=1e-9),
        "paper": dict(PAPER_SETTINGS["02_diracs"]),
    },
    "03_smiley": {
        "ci": dict(n_particles=300, tau=1.0, end_time=6.0, iters=3, first_iters=40,
                   width=32, depth=2, batch=300, latent_dim=2, lr=2e-3, start_jitter=1e-9),
        "default": dict(n_particles=800, tau=1.0, end_time=50.0, iters=20,
                        first_iters=300, width=64, depth=3, batch=400, latent_dim=2, lr=2e-3, start_jitter=1e-9),
        "paper": dict(PAPER_SETTINGS["03_smiley"]),
    },
    "04_max_und_moritz": {
        "ci": dict(n_particles=400, tau=1.0, end_time=6.0, iters_forward=3,
                   first_iters_forward=40, iters_backward=3, first_iters_backward=40, width=32, depth=2, batch=400,
                   latent_dim=2, lr=2e-3, backward_estimator="svrg", fourier_features=16, start_jitter=1e-9),
        "default": dict(n_particles=2000, tau=1.0, end_time=100.0, iters_forward=10,
                        first_iters_forward=400, iters_backward=10, first_iters_backward=400, width=128, depth=4,
                        batch=500, latent_dim=2, lr=1e-3, backward_estimator="svrg", fourier_features=64,
                        start_jitter=1e-9),
        "paper": dict(PAPER_SETTINGS["04_max_und_moritz"]),
    },
    "05_mnist": {
        "ci": dict(n_particles=16, particle_end_time=60.0, tau=6.0, end_time=60.0, iters=3, first_iters=30,
                   width=64, depth=2, latent_dim=8, batch=16, lr=1e-3, start_jitter=1e-9),
        "default": dict(n_particles=25, particle_end_time=PAPER_SETTINGS["05_mnist"]["end_time"], tau=6.0,
                        end_time=720.0, iters=20, first_iters=300, width=256, depth=2, latent_dim=32, batch=25,
                        lr=1e-3, start_jitter=1e-9),
        "paper": dict(PAPER_SETTINGS["05_mnist"],
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
#: ``01`` at ``r != 1``: the exact radius grows by this factor from the runs' start (the exact profile) to their end.
INTERACTION_GROWTH = 10.0
#: ``01``: the relative error of mean |x| (particle flow: also of the largest |x|, the support radius) to the closed
#: form that each scheme must reach, by profile; a scheme not listed states none (``ci``'s networks train 3
#: iterations a step: a smoke run).
ACCURACY = {"ci": {"particle": 0.05},
            "default": {"particle": 0.02, "neural_backward": 0.05, "neural_forward": 0.05},
            "paper": {"particle": 0.02, "neural_backward": 0.05, "neural_forward": 0.05}}
#: The share of a stated accuracy that the step rule may spend on the time discretisation (the rest is left to
#: the particle approximation or the training).
STEP_SHARE = 0.5
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
    """What a notebook's first cell settles, validated: profile, device, base seed, sizes, each scheme's
    looks and the schemes' settings.

    ``looks``: scheme -> the cumulative member counts of its claims' seed plan at the profile
    (:data:`wgf_core.claims.riesz.PLANS`; the first replaced by ``n_seeds`` when given, ``first``);
    ``seeds``: the members the first looks run (``0, 1, ...``; member 0 is the one plotted);
    ``steps`` / ``particle_steps``: steps of the neural schemes and of the particle flow;
    ``options``: the neural schemes' options by name; ``taus``: ``05``'s step sizes by scheme (the
    paper's schedule for the particle flow); ``r``: the Riesz exponent of ``01``'s interaction
    energy (the paper's :data:`PAPER_R` elsewhere).
    """

    looks: dict = field(default_factory=dict)
    first: Optional[int] = None
    steps: int = 0
    particle_steps: int = 0
    options: dict = field(default_factory=dict)
    taus: dict = field(default_factory=dict)
    r: float = PAPER_R
    clock: Optional[float] = None
    t_start: float = 0.0

    @property
    def end_time(self) -> float:
        """The time the runs end at, in their units: ``01`` at ``r != 1`` :func:`wgf_core.riesz.interaction_time_unit`
        (:attr:`clock`), else the steps times ``tau``."""
        return self.clock if self.clock is not None else self.steps * self.sizes["tau"]

    @property
    def time_scale(self) -> float:
        """The profile's end time over :attr:`end_time`: a time of the runs times this is a time of the page's flow."""
        return self.sizes["end_time"] / self.end_time if self.clock is not None else 1.0

    @property
    def log10_unit(self) -> float:
        r""":math:`\log_{10}` of the runs' unit of length: ``01`` at ``r != 1`` the exact radius at ``end_time``
        (computed in logs: it underflows near r = 2), else 0."""
        if self.clock is None:
            return 0.0
        return math.log10(self.sizes["end_time"] / self.clock) / (2 - self.r)

    @property
    def paper(self) -> dict:
        """The authors' settings (:data:`wgf_core.claims.riesz.PAPER_SETTINGS`)."""
        return PAPER_SETTINGS[self.notebook]

    def members(self, name: str) -> list:
        """The members of scheme ``name``'s first look."""
        return list(range(self.looks[name][0]))

    def purpose(self, what: str) -> str:
        """:func:`purpose` of this notebook."""
        return purpose(self.notebook, what)

    def flow(self, name: str) -> dict:
        """The step keywords of :func:`~wgf_core.flows.riesz.run_experiment` for scheme ``name``."""
        if self.taus:
            return dict(taus=self.taus[name])
        if name == "particle":
            return dict(tau=self.sizes.get("particle_tau", self.sizes["tau"]), steps=self.particle_steps)
        return dict(tau=self.sizes["tau"], steps=self.steps)

    def __str__(self) -> str:
        looks = " ".join(f"{k}={'->'.join(map(str, v))}" for k, v in self.looks.items())
        if self.taus and self.notebook == "05_mnist":
            steps = f"particle steps={len(self.taus['particle'])} neural steps={len(self.taus['neural_forward'])}"
        elif self.notebook == "01_interaction_energy" and self.r != PAPER_R:
            steps = f"r={self.r:g} steps: " + " ".join(f"{k}={len(v)}" for k, v in self.taus.items())
        elif self.notebook == "01_interaction_energy":
            steps = f"steps={self.steps}"
        else:
            steps = f"steps={self.steps} particle steps={self.particle_steps}"
        return f"profile={self.profile} device={self.device} seed={self.seed} looks: {looks} {steps} {self.sizes}"


def _looks(notebook: str, profile: str, first: Optional[int]) -> dict:
    return {name: PLANS[notebook][name].looks(profile, first) for name in SCHEMES}


def setup(notebook: str, profile: str, device="cpu", seed: int = 0, **params) -> Setup:
    r"""The validated setup of a Riesz notebook (:data:`NOTEBOOKS`); a parameter that is None takes the
    profile's value (:data:`PROFILES`).

    ``params`` are the notebook's parameters (:data:`PARAMETERS`): ``n_seeds`` (the members of every
    scheme's first look; None: its seed plan's, :data:`wgf_core.claims.riesz.PLANS`),
    ``n_particles``, ``tau``, ``end_time``, ``iters``, ``first_iters``, ``width``, in ``01`` the
    Riesz exponent ``r`` in (0, 2) (default :data:`PAPER_R`; otherwise every scheme runs on
    :math:`-\frac12\iint|x-y|^r` from the exact profile, on geometric steps chosen for the page's
    accuracy, with no claim decided: :func:`_setup_interaction_r`), and in ``04``
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
        raise ParameterError(f"parameter {unknown[0]!r} = {params[unknown[0]]!r} is not allowed: None ({notebook} "
                             f"has no {unknown[0]!r})")
    p = {k: params.get(k) for k in PARAMETERS[notebook]}
    sizes = select_profile(profile, PROFILES[notebook])
    if notebook in _TARGET_NOTEBOOKS:
        sizes["particle_tau"] = sizes["tau"] if profile == "ci" else PAPER_SETTINGS[notebook]["tau"]
    # every size within its cap (a memory and time estimate)
    first = check_sizes(notebook, profile, dev, sizes, p, _looks(notebook, profile, None))
    looks = _looks(notebook, profile, first)
    seeds = list(range(max(v[0] for v in looks.values())))
    if notebook == "05_mnist":
        return _setup_mnist(profile, dev, seed, sizes, p, looks, first, seeds)
    steps = max(1, round(sizes["end_time"] / sizes["tau"]))
    nn = dict(width=sizes["width"], depth=sizes["depth"], latent_dim=sizes["latent_dim"], lr=sizes["lr"],
              batch_size=sizes["batch"])
    common = dict(notebook=notebook, profile=profile, device=dev, seed=seed, sizes=sizes, seeds=seeds, looks=looks,
                  first=first, steps=steps)
    if notebook == "01_interaction_energy":
        r = PAPER_R if p["r"] is None else check_range("r", p["r"], 0.0, 2.0)
        options = {name: dict(iters=sizes["iters"], first_iters=sizes["first_iters"], **nn)
                   for name in ("neural_backward", "neural_forward")}
        if r != PAPER_R:
            return _setup_interaction_r(common, options, r)
        return Setup(**common, particle_steps=steps, options=options, r=r)
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
    return Setup(**common, particle_steps=max(1, round(sizes["end_time"] / sizes["particle_tau"])), options=options)


def _setup_interaction_r(common: dict, options: dict, r: float) -> Setup:
    """``01``'s setup at a Riesz exponent ``r != 1``: every scheme from the exact profile at
    :data:`INTERACTION_GROWTH` times less radius, on the geometric steps the accuracy asks for.

    The runs are in the units where the exact radius at the end is 1 (time
    :func:`wgf_core.riesz.interaction_time_unit`); by the flow's scale invariance the relative
    errors are those of the run to ``end_time``. Each scheme takes at least the profile's
    ``end_time / tau`` steps, and as many as :func:`wgf_core.riesz.steps_for_accuracy` needs for
    :data:`STEP_SHARE` of its stated accuracy (:data:`ACCURACY`; implicit Euler for the backward
    scheme). The particle flow's start has no randomness: it runs one member.
    """
    profile, minimum = common["profile"], common["steps"]
    clock = rz.interaction_time_unit(r)
    t_start = clock * INTERACTION_GROWTH ** -(2 - r)
    taus = {}
    for name in SCHEMES:
        accuracy = ACCURACY[profile].get(name)
        n = minimum if accuracy is None else rz.steps_for_accuracy(
            r, INTERACTION_GROWTH, STEP_SHARE * accuracy, implicit=name == "neural_backward", minimum=minimum)
        taus[name] = rz.geometric_time_steps(t_start, clock, n)
    looks = dict(common["looks"], particle=(1,))
    common = dict(common, looks=looks, seeds=list(range(max(v[0] for v in looks.values()))))
    return Setup(**common, particle_steps=len(taus["particle"]), options=options, r=r, taus=taus, clock=clock,
                 t_start=t_start)


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


def _setup_mnist(profile, dev, seed, sizes, p, looks, first, seeds) -> Setup:
    # the sizes are checked (riesz_sizes.check), and the batches are full (batch = n_particles), as in the script
    # step sizes: the paper's schedule (0.5 until t = 5, then 1, 2, 3, and 6 from t = 6000) for the particle flow at
    # every profile; for the neural schemes at `paper`
    neural = (paper_mnist_taus(sizes["end_time"]) if sizes["tau"] == "schedule"
              else [sizes["tau"]] * max(1, round(sizes["end_time"] / sizes["tau"])))
    options = {name: {k: sizes[k] for k in ("iters", "first_iters", "width", "depth", "latent_dim", "lr")}
               for name in ("neural_backward", "neural_forward")}
    taus = {"particle": paper_mnist_taus(sizes["particle_end_time"]), "neural_backward": neural,
            "neural_forward": neural}
    return Setup(notebook="05_mnist", profile=profile, device=dev, seed=seed, sizes=sizes, seeds=seeds, looks=looks,
                 first=first, steps=len(neural), particle_steps=len(taus["particle"]), options=options, taus=taus)


def prose(S: Setup, name: str, values: Optional[dict] = None, folder="prose"):
    """Section ``name`` of the page's prose, as Markdown to display (a code cell's last value).

    The sections are those of ``<folder>/<S.notebook>.md`` (:func:`wgf_core.reporting.prose_sections`;
    ``folder`` relative to the working directory, the notebook's). Section ``name + "_r"`` follows
    when ``S.r`` is not the paper's, and section ``name + "_instead_r"`` replaces it then. Glue roles are filled from ``values`` and ``r``
    (:func:`wgf_core.reporting.fill_glue`); a section the page lacks is empty.
    """
    from IPython.display import Markdown

    sections = prose_sections(Path(folder) / f"{S.notebook}.md")
    parts = [sections.get(name, "")]
    if S.r != PAPER_R:
        parts = [sections[f"{name}_instead_r"]] if f"{name}_instead_r" in sections else parts + [sections.get(f"{name}_r", "")]
    return Markdown(fill_glue("\n\n".join(p for p in parts if p), {**_setup_glue(S), **(values or {})}))


def _setup_glue(S: Setup) -> dict:
    """The glue values the setup alone fixes: ``r``, and at ``01``'s ``r != 1`` the start and units of the runs."""
    if S.notebook != "01_interaction_energy" or S.r == PAPER_R:
        return {"r": S.r}
    return dict(r=S.r, growth=INTERACTION_GROWTH, t_start=S.t_start * S.time_scale, end_time=S.sizes["end_time"],
                log10_unit=S.log10_unit, step_share=100 * STEP_SHARE)


# ----------------------------------------------------------------------------- fixed references
def _law_sample(notebook: str, n: int, generator: torch.Generator, device="cpu") -> torch.Tensor:
    """``n`` i.i.d. points (float64) of the target law of ``02``-``04``: the two Diracs of ``02`` (each
    point one of them, with probability 1/2), the drawing's law of ``03`` / ``04``."""
    if notebook == "02_diracs":
        return rz.sample_atoms(torch.tensor(DIRAC_TARGET, device=device, dtype=torch.float64), n, generator=generator)
    points = smiley_points if notebook == "03_smiley" else max_und_moritz_points
    return points(n, generator=generator, device=device, dtype=torch.float64)


def _reference_purpose(notebook: str, n: int) -> str:
    return f"riesz/reference/{notebook}/n={n}"


@functools.lru_cache(maxsize=None)
def null_draws(notebook: str, n: int, draws: int = REFERENCE_DRAWS) -> dict:
    r"""The null distributions behind the references of ``notebook`` (``02``-``05``) at sample size ``n``.

    Draw ``k`` uses the stream ``(REFERENCE_SEED, "riesz/reference/<notebook>/n=<n>", k)`` alone.

    * ``02``-``04``: two independent samples of size ``n`` of the target law (``02``: the target is
      the exact pair of Diracs, so only one sample is drawn), and their
      :math:`\mathrm{MMD}_K` (``"riesz"``, :math:`K = -|x - y|`) and, in ``04``, the fine-scale
      Gaussian MMD of width :data:`FINE_SIGMA` (``"fine"``);
    * ``05``: ``n`` real digits drawn without replacement from the :data:`MNIST_POOL` training digits
      after the 100 targets: their :math:`\mathrm{MMD}_K` to the targets (``"mmd"``) and their mean
      distance to the nearest target (``"nearest"``).

    Returns ``{quantity: [draws values]}`` (cached per process). The Riesz sums run on ``backend="torch"``, the
    reference implementation, so that a reference does not depend on the backend a run resolves to.
    """
    check_choice("notebook", notebook, NOTEBOOKS[1:])
    n, draws = check_int("n", n), check_int("draws", draws)
    gens = [stream(REFERENCE_SEED, _reference_purpose(notebook, n), k) for k in range(draws)]
    if notebook == "05_mnist":
        digits = mnist_digits(100 + MNIST_POOL, dtype=torch.float64)
        target, pool = digits[:100], digits[100:]
        sets = [pool[torch.randperm(len(pool), generator=g)[:n]] for g in gens]
        return {"mmd": rz.null_mmds(lambda k: sets[k], target, draws=draws, backend="torch"),
                "nearest": [rz.mean_nearest_distance(x, target) for x in sets]}
    fine = get_kernel("gauss", FINE_SIGMA**2) if notebook == "04_max_und_moritz" else None
    out = {"riesz": []} if fine is None else {"riesz": [], "fine": []}
    exact = torch.tensor(DIRAC_TARGET, dtype=torch.float64)
    for g in gens:
        target = exact if notebook == "02_diracs" else _law_sample(notebook, n, g)
        x = _law_sample(notebook, n, g)
        out["riesz"].append(float(rz.riesz_mmd2(x, target, backend="torch").clamp_min(0).sqrt()))
        if fine is not None:
            out["fine"].append(float(mmd2(fine, x, target).clamp_min(0).sqrt()))
    return out


def _statistic(values, statistic: str) -> float:
    """``"q95"``: the 0.95 quantile (numpy's linear interpolation); ``"median"``."""
    return float(np.quantile(values, 0.95) if statistic == "q95" else np.median(values))


def _has_reference(notebook: str, kind: str) -> bool:
    return kind in REFERENCE_KINDS and not (notebook == "05_mnist" and kind == "monotone")


def _reference_value(notebook: str, kind: str, d: dict):
    statistic, quantities = REFERENCE_KINDS[kind]
    values = {q: _statistic(d[q], statistic) for q in quantities}
    return values[quantities[0]] if len(quantities) == 1 else values


def reference(notebook: str, kind: str, n: int, claim_id: str) -> tuple:
    """The fixed reference of claim ``claim_id`` (of ``kind``: :data:`wgf_core.claims.riesz.REFERENCE_KINDS`)
    at sample size ``n``: the value stored in ``wgf_core/claims/references/riesz.json``, or, for an ``n``
    not in the file, the same statistic of :func:`null_draws` computed now. Returns ``(value, source)``,
    ``source`` a sentence for the record."""
    stored = cr.stored_reference(claim_id, n)
    statistic = REFERENCE_KINDS[kind][0]
    what = f"{'95 % quantile' if statistic == 'q95' else 'median'} of {REFERENCE_DRAWS} null draws at n = {n}"
    if stored is not None:
        return stored, f"reference: {what}, stored in wgf_core/claims/references/riesz.json"
    return (_reference_value(notebook, kind, null_draws(notebook, n)),
            f"reference: {what}, computed at run time by the fixed-seed draws (n = {n} is not in "
            f"wgf_core/claims/references/riesz.json)")


def compute_references(draws: int = REFERENCE_DRAWS, notebooks=NOTEBOOKS[1:]) -> dict:
    """The references of every claim that has one, at the sample sizes of every profile (:data:`PROFILES`):
    ``{claim id: {"statistic", "quantity", "draws", "streams", "values": {"n=<n>": value}}}``
    (the content of ``wgf_core/claims/references/riesz.json``)."""
    quantity = {"riesz": "MMD_K (K = -|x-y|) between two independent samples of size n of the target law "
                         "(02: a sample of the two target Diracs against them)",
                "fine": f"Gaussian MMD (sigma = {FINE_SIGMA}) between two independent samples of size n of the drawing",
                "mmd": "MMD_K of n real digits (not targets) to the 100 target digits",
                "nearest": "mean Euclidean distance of n real digits (not targets) to their nearest target digit"}
    out = {"_about": ("Fixed references of the riesz claims (wgf_core.experiments.riesz.compute_references; "
                      "regenerate: python -m wgf_core.experiments.riesz --references). Keyed by claim id, then by "
                      "the sample size n of the run.")}
    for nb in notebooks:
        stem, kinds = CLAIM_KINDS[nb]
        for n in sorted({PROFILES[nb][p]["n_particles"] for p in PROFILES[nb]}):
            d = null_draws(nb, n, draws)
            for kind in kinds:
                if not _has_reference(nb, kind):
                    continue
                statistic, quantities = REFERENCE_KINDS[kind]
                value = _reference_value(nb, kind, d)
                for s in SCHEMES:
                    e = out.setdefault(f"riesz-{stem}-{s}-{kind}", {
                        "statistic": "0.95 quantile (numpy linear interpolation)" if statistic == "q95" else "median",
                        "quantity": "; ".join(f"{q}: {quantity[q]}" for q in quantities), "draws": draws,
                        "streams": (f"wgf_core.random.stream({REFERENCE_SEED}, "
                                    f"'{_reference_purpose(nb, '<n>')}', k), k = 0..{draws - 1}"),
                        "values": {}})
                    e["values"][f"n={n}"] = value
    return out


def write_references(path=None, draws: int = REFERENCE_DRAWS) -> Path:
    """Compute :func:`compute_references` and write it as JSON to ``path`` (default the registry's file)."""
    path = Path(path) if path is not None else cr.REFERENCE_PATH
    data = compute_references(draws)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    from ..claims.lock import stored_references

    stored_references.cache_clear()
    return path


def main(argv=None) -> int:
    """``python -m wgf_core.experiments.riesz --references [--draws N] [--out PATH]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m wgf_core.experiments.riesz",
                                 description="Write the fixed references of the riesz claims.")
    ap.add_argument("--references", action="store_true", help="compute and write the references")
    ap.add_argument("--draws", type=int, default=REFERENCE_DRAWS)
    ap.add_argument("--out", default=None, help="default: wgf_core/claims/references/riesz.json")
    args = ap.parse_args(argv)
    if not args.references:
        ap.print_help()
        return 2
    print(write_references(args.out, args.draws))
    return 0


# ----------------------------------------------------------------------------- the runs
@dataclass
class Ensemble:
    """The schemes on the members run so far, and the numbers the claims need.

    ``traj``: scheme -> its :class:`~wgf_core.runner.Trajectory` per member (list index = member);
    ``measured``: scheme -> per member, ``{claim id: criterion kwargs}``; ``mmd_paths``: scheme ->
    per member, the logged :math:`\\mathrm{MMD}_K` to the target (``02``-``05``); ``fine_end``: ``04``'s
    fine-scale end MMD per member; ``references``: claim id -> ``(reference, source)``
    (:func:`reference`); ``values``: what one notebook alone needs (``01``: ``exact_mean``,
    ``t_end``, ``exact`` (member -> exact sample and the MMD of two exact samples), ``mean_norm``,
    ``max_norm``, ``mmd_exact``; ``02``-``04``: ``targets`` (member -> target sample); ``05``:
    ``target``, ``x_dirac``, ``nearest``).
    """

    traj: dict = field(default_factory=lambda: {k: [] for k in SCHEMES})
    measured: dict = field(default_factory=lambda: {k: [] for k in SCHEMES})
    mmd_paths: dict = field(default_factory=lambda: {k: [] for k in SCHEMES})
    fine_end: dict = field(default_factory=lambda: {k: [] for k in SCHEMES})
    references: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)

    @property
    def runs(self) -> list:
        """Per member, scheme name -> its trajectory (a member beyond a scheme's runs lacks it)."""
        n = max((len(v) for v in self.traj.values()), default=0)
        return [{k: v[m] for k, v in self.traj.items() if m < len(v)} for m in range(n)]

    @property
    def results(self) -> dict:
        """Member 0's runs (the ones plotted)."""
        return self.runs[0]


def run_ensemble(S: Setup) -> Ensemble:
    """Every scheme of ``S.notebook`` on the members of its first look (progress and a summary printed)."""
    E = Ensemble()
    for name in SCHEMES:
        for m in S.members(name):
            _measure(S, E, name, m)
    _summary(S, E)
    return E


def _measure(S: Setup, E: Ensemble, name: str, m: int) -> dict:
    """Scheme ``name`` on member ``m`` (run once, then taken from ``E``): ``{claim id: criterion kwargs}``."""
    done = E.measured[name]
    if m < len(done):
        return done[m]
    if m != len(done):
        raise ValueError(f"members of {name} run in order: {len(done)} before {m}")
    run = {"01_interaction_energy": _measure_interaction, "05_mnist": _measure_mnist}.get(S.notebook, _measure_target)
    done.append(run(S, E, name, m))
    return done[m]


def _ids(S: Setup, name: str) -> dict:
    stem, kinds = CLAIM_KINDS[S.notebook]
    return {kind: f"riesz-{stem}-{name}-{kind}" for kind in kinds}


def _ref(S: Setup, E: Ensemble, name: str, kind: str):
    cid = _ids(S, name)[kind]
    if cid not in E.references:
        E.references[cid] = reference(S.notebook, kind, S.sizes["n_particles"], cid)
    return E.references[cid][0]


def _interaction_start(S: Setup, name: str, m: int, n: int) -> torch.Tensor:
    """``01``'s start of scheme ``name`` for member ``m``: the neural schemes' exact Dirac and the particle
    flow's jittered Dirac (float64); at ``r != 1`` every scheme's the exact profile at ``S.t_start``
    (:func:`wgf_core.riesz.spiral_exact_interaction`; float64 for the particle flow)."""
    dev = S.device
    if S.r != PAPER_R:
        return rz.spiral_exact_interaction(n, S.t_start, r=S.r, device=dev,
                                           dtype=torch.float64 if name == "particle" else torch.float32)
    if name != "particle":
        return torch.zeros(n, 2, device=dev)
    return rz.jittered_diracs([[0.0, 0.0]], [n], width=S.sizes["start_jitter"],
                              generator=stream(S.seed, S.purpose("start"), m, dev), device=dev)


def _riesz_mmd(x: torch.Tensor, y: torch.Tensor, r: float) -> float:
    r""":math:`\mathrm{MMD}_K` with :math:`K = -|x-y|^r` (the energy distance's square root at r = 1)."""
    return float((energy_distance(x, y) if r == PAPER_R else rz.riesz_mmd2(x, y, r)).sqrt())


def _measure_interaction(S: Setup, E: Ensemble, name: str, m: int) -> dict:
    sizes, dev, r, v = S.sizes, S.device, S.r, E.values
    n, T = sizes["n_particles"], S.end_time
    if not v:
        v.update(exact_mean=rz.exact_interaction_mean_norm(T, r), t_end=T, exact={},
                 **{key: {k: [] for k in SCHEMES} for key in ("mean_norm", "max_norm", "mmd_exact")})
    flow = S.flow(name)
    steps = len(flow["taus"]) if "taus" in flow else flow["steps"]
    tr = run_experiment(name, _interaction_start(S, name, m, n), r=r, **flow, options=S.options.get(name),
                        seed=S.seed, member=m, purpose=S.purpose(name), snapshot_every=max(1, steps // 8),
                        desc=f"{name} member {m}")
    E.traj[name].append(tr)
    if m not in v["exact"]:   # the MMD_K to an exact sample, and the level of two independent exact samples
        exact = rz.sample_exact_interaction(n, T, r=r, generator=stream(S.seed, S.purpose("exact"), m, dev),
                                            device=dev, dtype=torch.float64)
        other = rz.sample_exact_interaction(n, T, r=r, generator=stream(S.seed, S.purpose("exact_floor"), m, dev),
                                            device=dev, dtype=torch.float64)
        v["exact"][m] = (exact, _riesz_mmd(other, exact, r))
    norms = tr.x[0].norm(dim=-1)
    v["mean_norm"][name].append(float(norms.mean()))
    v["max_norm"][name].append(float(norms.max()))
    v["mmd_exact"][name].append(_riesz_mmd(tr.x[0].double(), v["exact"][m][0], r))
    if r != PAPER_R:   # no claim: the paper's are registered at r = 1
        return {}
    return {_ids(S, name)["mean"]: dict(mean_norm=float(norms.mean()), exact_mean=v["exact_mean"], n=n,
                                        tau=sizes["tau"], t_end=T)}


def _dirac_start(S: Setup, exact: bool = True, member: Optional[int] = None) -> torch.Tensor:
    """``02``-``04``'s start: the exact Diracs (neural schemes), or the authors' jittered Diracs in float64
    drawn for ``member`` (the particle flow)."""
    n = S.sizes["n_particles"]
    centres, counts = CENTRES[S.notebook], [n // 2, n - n // 2]
    if exact:
        return torch.cat([torch.tensor([c], device=S.device).repeat(k, 1) for c, k in zip(centres, counts)])
    return rz.jittered_diracs(centres, counts, width=S.sizes["start_jitter"],
                              generator=stream(S.seed, S.purpose("start"), member, S.device), device=S.device)


def _member_target(S: Setup, E: Ensemble, m: int) -> torch.Tensor:
    """``02``-``04``'s target of member ``m`` (float64): the exact Diracs, or a sample of the image's law."""
    targets = E.values.setdefault("targets", {})
    if m not in targets:
        targets[m] = (torch.tensor(DIRAC_TARGET, device=S.device, dtype=torch.float64) if S.notebook == "02_diracs"
                      else _law_sample(S.notebook, S.sizes["n_particles"], stream(S.seed, S.purpose("target"), m),
                                       S.device))
    return targets[m]


def _measure_target(S: Setup, E: Ensemble, name: str, m: int) -> dict:
    target, mm = _member_target(S, E, m), S.notebook == "04_max_und_moritz"
    every = 20 if mm else 100   # logs of the particle flow (04: also of the neural schemes)
    if name == "particle":
        tr = run_experiment("particle", _dirac_start(S, False, m), target, **S.flow("particle"), seed=S.seed,
                            member=m, purpose=S.purpose(name), log_every=max(1, S.particle_steps // every),
                            snapshot_every=max(1, S.particle_steps // 8), desc=f"{name} member {m}")
    else:
        tr = run_experiment(name, _dirac_start(S), target.float(), **S.flow(name), options=S.options[name],
                            seed=S.seed, member=m, purpose=S.purpose(name),
                            log_every=max(1, S.steps // 20) if mm else 1, snapshot_every=max(1, S.steps // 8),
                            desc=f"{name} member {m}")
    E.traj[name].append(tr)
    path = tr.metrics["mmd"][0].tolist()
    E.mmd_paths[name].append(path)
    ids = _ids(S, name)
    out = {ids["monotone"]: dict(mmd=path, tolerance=_ref(S, E, name, "monotone")),
           ids["reaches-target"]: dict(value=path[-1], reference=_ref(S, E, name, "reaches-target"))}
    if mm:
        fine = float(mmd2(get_kernel("gauss", FINE_SIGMA**2), tr.x[0].double(), target).clamp_min(0).sqrt())
        E.fine_end[name].append(fine)
        out[ids["recognisable"]] = dict(value=fine, reference=_ref(S, E, name, "recognisable"))
    return out


def _mnist_start(S: Setup, m: int) -> torch.Tensor:
    """``05``'s particle-flow start of member ``m``: the all-0.5 image plus the 1e-9 jitter (float64)."""
    return rz.jittered_diracs([[0.5] * 784], [S.sizes["n_particles"]], width=S.sizes["start_jitter"],
                              generator=stream(S.seed, S.purpose("start"), m, S.device), device=S.device)


def _measure_mnist(S: Setup, E: Ensemble, name: str, m: int) -> dict:
    v, n, dev = E.values, S.sizes["n_particles"], S.device
    if not v:
        v.update(target=mnist_digits(100, device=dev, dtype=torch.float64), x_dirac=torch.full((n, 784), 0.5, device=dev),
                 nearest={k: [] for k in SCHEMES})
    target, taus = v["target"], S.taus[name]
    tr = run_experiment(name, _mnist_start(S, m) if name == "particle" else v["x_dirac"],
                        target if name == "particle" else target.float(), taus=taus, options=S.options.get(name),
                        seed=S.seed, member=m, purpose=S.purpose(name), log_every=max(1, len(taus) // 200),
                        snapshot_every=max(1, len(taus) // 6), desc=f"{name} member {m}")
    E.traj[name].append(tr)
    path = tr.metrics["mmd"][0].tolist()
    E.mmd_paths[name].append(path)
    near = rz.mean_nearest_distance(tr.x[0], target)
    v["nearest"][name].append(near)
    ids, ref = _ids(S, name), _ref(S, E, name, "digits")
    return {ids["monotone"]: dict(mmd=path),
            ids["digits"]: dict(mmd=path[-1], nearest=near, mmd_reference=ref["mmd"], nearest_reference=ref["nearest"])}


def _summary(S: Setup, E: Ensemble) -> None:
    """Print what the runs so far measured, per scheme and member."""
    if S.notebook == "01_interaction_energy":
        v = E.values
        print(f"exact mean |x| at t={v['t_end']:.2f}: {v['exact_mean']:.4f}" + (
            f" (r = {S.r:g}; support radius {rz.exact_interaction_radius(v['t_end'], S.r):.4f}; units: length "
            f"10^{S.log10_unit:.4g}, time {S.time_scale:.4g})" if S.r != PAPER_R else ""))
        for name in SCHEMES:
            print(f"{name:16s} mean|x| per member: " + ", ".join(f"{x:.4f}" for x in v["mean_norm"][name])
                  + "; MMD_K to an exact sample: " + ", ".join(f"{x:.3g}" for x in v["mmd_exact"][name])
                  + " (two exact samples: " + ", ".join(f"{v['exact'][m][1]:.3g}" for m in sorted(v["exact"])) + ")")
        return
    for cid, (value, source) in sorted(E.references.items()):
        if "-particle-" in cid:
            print(f"{cid.replace('-particle-', '-<scheme>-')}: {value} ({source})")
    for name in SCHEMES:
        for m, p in enumerate(E.mmd_paths[name]):
            extra = (f"; fine-scale end {E.fine_end[name][m]:.4f}" if E.fine_end[name] else
                     f"; nearest-digit distance {E.values['nearest'][name][m]:.2f}" if S.notebook == "05_mnist" else "")
            print(f"{name:16s} member {m}: t={E.traj[name][m].times[-1]:.0f}  MMD: start {p[0]:.4f} -> end "
                  f"{p[-1]:.4f}{extra}")


# ----------------------------------------------------------------------------- figures
def _circle(ax, t: float, lw: Optional[float] = 0.8, r: float = PAPER_R):
    """Draw the exact support circle :math:`|x| = R(t)` of the interaction flow (exponent ``r``) on ``ax``."""
    import matplotlib.pyplot as plt

    ax.add_patch(plt.Circle((0, 0), rz.exact_interaction_radius(t, r), fill=False, color="k",
                            **({} if lw is None else dict(lw=lw))))


def _circle_of(S: Setup):
    """:func:`_circle` with ``S.r`` (a ``decorate`` of :mod:`wgf_core.plotting`)."""
    return lambda ax, t, lw=0.8: _circle(ax, t, lw, S.r)


def _floor(S: Setup, E: Ensemble) -> float:
    """The reference drawn as the curves' floor: ``05`` the real digits' median MMD, else the 95 % quantile."""
    if S.notebook == "05_mnist":
        return float(_ref(S, E, "particle", "digits")["mmd"])
    return float(_ref(S, E, "particle", "reaches-target"))


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
    """One line per scheme and member: ``01`` the energy and the mean radius against the exact solution; else
    the :math:`\\mathrm{MMD}_K` to the target with the claims' reference (``02``-``04``: the 95 % quantile
    of independent samples; ``05``: the real digits' median), and the energy."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    per = {name: [r[name] for r in E.runs if name in r] for name in SCHEMES}
    if S.notebook == "01_interaction_energy":
        # self-similarity: E_K(rho_t) = (R(t) / R(1))^r E_K(rho_1) and E|x| = R(t) E|x|_1 (linear in t at r = 1)
        t1 = E.values["t_end"]
        big = rz.sample_exact_interaction(4000, t1, r=S.r, generator=stream(S.seed, S.purpose("figure"), 0, S.device),
                                          device=S.device)
        e1, tt = float(rz.interaction_energy(big, S.r)), np.linspace(0, t1, 50)
        grow = np.array([rz.exact_interaction_radius(t, S.r) for t in tt]) / rz.exact_interaction_radius(t1, S.r)
        run_lines(ax[0], {k: [(r.times, r.metrics["energy"][0]) for r in v] for k, v in per.items()},
                  xlabel="time t", ylabel=r"interaction energy $\mathcal{E}_K(\mu_t)$",
                  reference=(tt, e1 * grow**S.r, "exact"))
        run_lines(ax[1], {k: [(r.snapshot_times, np.linalg.norm(r.x_snapshots[:, 0], axis=-1).mean(-1)) for r in v]
                          for k, v in per.items()}, xlabel="time t", ylabel=r"mean $|x|$", marker="o", ms=3,
                  reference=(tt, rz.exact_interaction_mean_norm(t1, S.r) * grow, "exact"))
    else:
        mnist = S.notebook == "05_mnist"
        skip = 1 if mnist else 0
        run_lines(ax[0], {k: [(r.times[1:], r.metrics["mmd"][0, 1:]) for r in v] for k, v in per.items()},
                  xlabel="time t", ylabel=r"$\mathrm{MMD}_K(\mu_t, \nu)$ (r = 1)", yscale="log",
                  xscale="log" if mnist else "linear", floor=_floor(S, E),
                  floor_label=(f"{S.sizes['n_particles']} real digits (median)" if mnist
                               else "noise floor (95 % of independent samples)"))
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
    n = S.sizes["n_particles"]
    if S.notebook == "01_interaction_energy":
        return _interaction_start(S, "particle", 0, n), None, _interaction_start(S, "neural_forward", 0, n), None
    if S.notebook == "05_mnist":
        target = E.values["target"]
        return _mnist_start(S, 0), target, E.values["x_dirac"], target.float()
    target = _member_target(S, E, 0)
    return _dirac_start(S, False, 0), target, _dirac_start(S), target.float()


def step_size_figures(S: Setup, E: Ensemble) -> dict:
    """The first member's particle flow at several steps (:data:`STEP_GRID`): ``"tau = ..."`` -> figure."""
    taus, t_grid = STEP_GRID[S.notebook]
    if t_grid is None:
        t_grid = E.values["t_end"] if S.notebook == "01_interaction_energy" else sum(S.taus["neural_forward"])
    x0, target = _first_member(S, E)[:2]
    grid = {}
    if S.notebook == "01_interaction_energy" and S.r != PAPER_R:   # geometric steps: a quarter, half, all
        n = len(S.taus["particle"])
        return {f"{k} steps": _interaction_step_figure(S, E, x0, k) for k in sorted({max(1, n // 4), max(1, n // 2), n})}
    for g in taus:
        k_g = max(1, round(t_grid / g))
        rg = run_experiment("particle", x0, target, r=S.r, tau=g, steps=k_g, options=S.options.get("particle"),
                            seed=S.seed, purpose=S.purpose("particle"), log_every=k_g)
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


def _interaction_step_figure(S: Setup, E: Ensemble, x0: torch.Tensor, steps: int):
    """``01`` at ``r != 1``: the particle flow from ``x0`` on ``steps`` geometric steps to the end, and its error
    (the page's own number of steps is the run of the ensemble's first member, not run again)."""
    t1 = E.values["t_end"]
    if steps == len(S.taus["particle"]):
        x = E.traj["particle"][0].x[0]
    else:
        x = run_experiment("particle", x0, r=S.r, taus=rz.geometric_time_steps(S.t_start, t1, steps), seed=S.seed,
                           purpose=S.purpose("particle"), log_every=steps, show_progress=False).x[0]
    err = 100 * (float(x.norm(dim=-1).mean()) / E.values["exact_mean"] - 1)
    return scatter_figure(x, s=1, size=(3.6, 3.6), decorate=lambda ax: _circle(ax, t1, None, S.r),
                          title=f"{steps} steps: mean |x| error {err:+.2f} %")


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
        opts = ({} if scheme == "particle"
                else dict(iters=iters_live, first_iters=10 * iters_live, width=32, depth=2))
        n = check_int("n", n)
        if S.r != PAPER_R:   # from the page's start, on `steps` geometric steps to t_end (in the runs' units)
            start = rz.spiral_exact_interaction(n, S.t_start, r=S.r, dtype=torch.float64)
            t1 = max(check_positive("t_end", t_end) / S.time_scale, 1.01 * S.t_start)
            flow = dict(taus=rz.geometric_time_steps(S.t_start, t1, steps))
        else:
            start = (rz.jittered_diracs([[0.0, 0.0]], [n], generator=stream(S.seed, S.purpose("live"), 0, S.device))
                     if scheme == "particle" else torch.zeros(n, 2, dtype=torch.float64))
            flow = dict(tau=tau_live, steps=steps)
        r = run_experiment(scheme, start if scheme == "particle" else start.float(), r=S.r, **flow,
                           options=opts, seed=S.seed, purpose=S.purpose(f"live/{scheme}"))
        return scatter_figure(r.x[0], s=2, size=(4, 4), decorate=lambda ax: _circle(ax, r.times[-1], None, S.r),
                              title=f"{scheme}, t = {r.times[-1]:.2f}")
    x_jit, target, x_dirac, target_f = _first_member(S, E)
    start, tgt = (x_jit, target) if scheme == "particle" else (x_dirac, target_f)
    if S.notebook == "05_mnist":
        opts = dict(iters=iters_live, first_iters=20 * iters_live, width=128, depth=2, latent_dim=16)
    else:
        opts = dict(iters=iters_live, first_iters=10 * iters_live, width=64, depth=3, batch_size=500)
    r = run_experiment(scheme, start, tgt, tau=tau_live, steps=steps, options={} if scheme == "particle" else opts,
                       seed=S.seed, purpose=S.purpose(f"live/{scheme}"))
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
    return {f"{k}_seconds_member_{m}": round(tr.seconds, 2) for k, v in E.traj.items() for m, tr in enumerate(v)}


def _margin_text(e: dict) -> str:
    """The mean margin of an entry and its interval, in words for the prose."""
    mg = e["margin"]
    if mg["mean"] is None:
        return "no margin"
    if mg["low"] is None or mg["high"] is None:
        return f"mean margin {mg['mean']:+.3g} over {e['n']} seed (no interval)"
    return (f"mean margin {mg['mean']:+.3g} over {e['n']} seeds, {100 * mg['confidence']:.4g} % interval "
            f"[{mg['low']:+.3g}, {mg['high']:+.3g}]")


def verdicts(S: Setup, E: Ensemble) -> tuple:
    """:func:`wgf_core.claims.run_plan` per scheme over its claims (:mod:`wgf_core.claims.riesz`): the members
    of the first look are those :func:`run_ensemble` ran; while a claim is inconclusive the next look's
    members are run here.

    Returns ``(entries, record, glued)``: the decided claims, the keywords ``checks``, ``metrics``
    and ``timings`` of :func:`wgf_core.reporting.record_metrics`, and the values glued into the
    notebook's prose by name.
    """
    if S.notebook == "01_interaction_energy" and S.r != PAPER_R:   # no paper value: no claim decided
        record, glued = _interaction_record(S, E, {})
        return [], record, glued
    entries = []
    for name in SCHEMES:
        group = [_claim(S, name, kind) for kind in CLAIM_KINDS[S.notebook][1]]

        def measure(members, name=name):
            return [_measure(S, E, name, m) for m in members]

        entries += claims.run_plan(group, measure, configuration=_configuration(S, name), first=S.first,
                                   base_seed=S.seed, reasons={c.id: E.references[c.id][1] for c in group
                                                              if c.id in E.references})
    by = {e["id"]: e for e in entries}
    if S.notebook == "01_interaction_energy":
        record, glued = _interaction_record(S, E, by)
    elif S.notebook == "05_mnist":
        record, glued = _mnist_record(S, E, by)
    else:
        record, glued = _target_record(S, E, by)
    for name in SCHEMES:
        for kind, cid in _ids(S, name).items():
            glued[f"{name}_{_GLUE[kind]}_n"] = by[cid]["n"]
            glued[f"{name}_{_GLUE[kind]}_margin"] = _margin_text(by[cid])
    return entries, record, glued


#: The glue name of each claim kind's verdict (``<scheme>_<name>``).
_GLUE = {"mean": "verdict", "monotone": "mono", "reaches-target": "reach", "recognisable": "recog", "digits": "digits"}


def _interaction_record(S: Setup, E: Ensemble, by: dict) -> tuple:
    v, trajs = E.values, [tr for k in SCHEMES for tr in E.traj[k]]
    floors = [v["exact"][m][1] for m in sorted(v["exact"])]
    record = dict(
        checks={"no_nan": all(np.isfinite(r.metrics["energy"]).all() for r in trajs),
                "energy_decreased": all(r.metrics["energy"][0, -1] < r.metrics["energy"][0, 0] for r in trajs),
                "particles_left_dirac": all(float(r.x[0].norm(dim=-1).max()) > 1e-6 for r in trajs)},
        metrics={"exact_mean_norm": v["exact_mean"], "mmd_two_exact_samples": floors,
                 **{f"{k}_mean_norm": v["mean_norm"][k] for k in SCHEMES},
                 **{f"{k}_mmd_to_exact": v["mmd_exact"][k] for k in SCHEMES}, "profile_sizes": S.sizes},
        timings=_timings(S, E))
    glued = dict(t_end=v["t_end"], exact_mean=v["exact_mean"], mmd_floor_max=max(floors),
                 particle_start="from the jittered Dirac" if S.r == PAPER_R else "from the exact profile",
                 tau=S.sizes["tau"], steps=S.steps)
    for name in SCHEMES:
        glued.update({f"{name}_min": min(v["mean_norm"][name]), f"{name}_max": max(v["mean_norm"][name]),
                      f"{name}_mmd_max": max(v["mmd_exact"][name]),
                      f"{name}_mean_err": _worst_percent(v["mean_norm"][name], v["exact_mean"])})
        if by:
            e = by[_ids(S, name)["mean"]]
            glued.update({f"{name}_min": e["min"], f"{name}_max": e["max"], f"{name}_verdict": e["status"]})
    if S.r != PAPER_R:  # beyond the paper: the support radius and the accuracy (the record at r = 1 is unchanged)
        accuracy = interaction_accuracy(S, E)
        record["checks"].update({f"{k}_within_stated_accuracy": a["within"] for k, a in accuracy.items()
                                 if a["stated"] is not None})
        record["metrics"].update(r=S.r, exact_radius=1.0, log10_length_unit=S.log10_unit, time_scale=S.time_scale,
                                 accuracy=accuracy, **{f"{k}_max_norm": v["max_norm"][k] for k in SCHEMES})
        glued.update(_setup_glue(S), exact_radius=1.0)
        for k, a in accuracy.items():
            glued.update({f"{k}_radius_min": min(v["max_norm"][k]), f"{k}_radius_max": max(v["max_norm"][k]),
                          f"{k}_radius_err": a["radius_error_percent"], f"{k}_steps": a["steps"],
                          f"{k}_first_step": a["first_step"], f"{k}_last_step": a["last_step"],
                          f"{k}_step_error": a["step_error_percent"],
                          f"{k}_accuracy": _accuracy_text(a)})
    return record, glued


def interaction_accuracy(S: Setup, E: Ensemble) -> dict:
    """``01`` at ``r != 1``, per scheme: the worst relative errors (percent) over its members of mean |x| and of the
    largest |x| (the support radius) to the closed form, the stated accuracy (:data:`ACCURACY`, percent; None
    if none), whether it is met (the particle flow: both errors; the neural schemes: mean |x|), and the steps
    used: their number, the first and last in the page's time (``end_time``'s units) and the Euler error of
    that grid (:func:`wgf_core.riesz.self_similar_step_error`, percent)."""
    v, out = E.values, {}
    for k in SCHEMES:
        stated = ACCURACY[S.profile].get(k)
        mean_err = _worst_percent(v["mean_norm"][k], v["exact_mean"])
        radius_err = _worst_percent(v["max_norm"][k], rz.exact_interaction_radius(v["t_end"], S.r))
        worst = max(abs(mean_err), abs(radius_err)) if k == "particle" else abs(mean_err)
        taus = S.taus[k]
        out[k] = dict(mean_error_percent=mean_err, radius_error_percent=radius_err,
                      stated=None if stated is None else 100 * stated,
                      within=None if stated is None else bool(worst <= 100 * stated),
                      steps=len(taus), first_step=taus[0] * S.time_scale, last_step=taus[-1] * S.time_scale,
                      step_error_percent=100 * rz.self_similar_step_error(
                          S.r, INTERACTION_GROWTH, len(taus), implicit=k == "neural_backward"))
    return out


def _accuracy_text(a: dict) -> str:
    if a["stated"] is None:
        return "none stated at this profile (its networks train a few iterations a step)"
    return f"{a['stated']:g} %: " + ("**within**" if a["within"] else "**not within** (see the warning at the top)")


def _worst_percent(values, exact: float) -> float:
    """The relative error of ``values`` to ``exact`` largest in size, in percent (signed)."""
    return max((100 * (x / exact - 1) for x in values), key=abs)


def _references_record(E: Ensemble) -> dict:
    return {cid: {"value": value, "source": source} for cid, (value, source) in sorted(E.references.items())}


def _mmd_checks(E: Ensemble) -> dict:
    return {"no_nan": all(np.isfinite(r.metrics["energy"]).all() for v in E.traj.values() for r in v),
            **{f"{k}_mmd_decreased": all(p[-1] < p[0] for p in E.mmd_paths[k]) for k in SCHEMES}}


def _target_record(S: Setup, E: Ensemble, by: dict) -> tuple:
    fine = S.notebook == "04_max_und_moritz"
    record = dict(checks=_mmd_checks(E), metrics={
        "references": _references_record(E), **{f"{k}_mmd_path": E.mmd_paths[k] for k in SCHEMES},
        **({f"{k}_fine_mmd_end": E.fine_end[k] for k in SCHEMES} if fine else {}), "profile_sizes": S.sizes},
        timings=_timings(S, E))
    glued = dict(t_end=S.steps * S.sizes["tau"], n_particles=S.sizes["n_particles"],
                 reference=_ref(S, E, "particle", "reaches-target"),
                 reference_median=_ref(S, E, "particle", "monotone"))
    for name in SCHEMES:
        ids = _ids(S, name)
        reach = by[ids["reaches-target"]]
        glued.update({f"{name}_end_min": reach["min"], f"{name}_end_max": reach["max"],
                      f"{name}_reach": reach["status"], f"{name}_mono": by[ids["monotone"]]["status"]})
        if fine:
            recog = by[ids["recognisable"]]
            glued.update({f"{name}_fine_min": recog["min"], f"{name}_fine_max": recog["max"],
                          f"{name}_recog": recog["status"]})
    if fine:
        glued["fine_reference"] = _ref(S, E, "particle", "recognisable")
        glued["backward_changes"] = ("; ".join(scheme_notes("neural_backward", S.options["neural_backward"]))
                                     or "none: the paper's plain minibatch estimator and network inputs")
    return record, glued


def _mnist_record(S: Setup, E: Ensemble, by: dict) -> tuple:
    nearest = E.values["nearest"]
    record = dict(checks=_mmd_checks(E), metrics={
        "references": _references_record(E), **{f"{k}_mmd_end": [p[-1] for p in E.mmd_paths[k]] for k in SCHEMES},
        **{f"{k}_nearest": nearest[k] for k in SCHEMES},
        **{f"{k}_end_time": float(E.traj[k][0].times[-1]) for k in SCHEMES}, "profile_sizes": S.sizes},
        timings=_timings(S, E))
    ref = _ref(S, E, "particle", "digits")
    glued = dict(n_particles=S.sizes["n_particles"], ref_mmd=ref["mmd"], ref_near=ref["nearest"],
                 ref_near_tol=cr.NEAREST_FACTOR * ref["nearest"])
    for name in SCHEMES:
        ids, ends = _ids(S, name), [p[-1] for p in E.mmd_paths[name]]
        glued.update({f"{name}_t": float(E.traj[name][0].times[-1]), f"{name}_mmd_min": min(ends),
                      f"{name}_mmd_max": max(ends), f"{name}_near_min": min(nearest[name]),
                      f"{name}_near_max": max(nearest[name]), f"{name}_digits": by[ids["digits"]]["status"],
                      f"{name}_mono": by[ids["monotone"]]["status"]})
    return record, glued


if __name__ == "__main__":
    raise SystemExit(main())
