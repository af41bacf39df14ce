"""Claim registries, one per paper, out of the notebooks and the scheme modules.

``wgf_core.claims.<paper>`` holds that paper's claims (:class:`~wgf_core.claims.core.Claim`):
the paper's words and the file they stand in, the criterion with its signed margin, tolerance and
reason, the seed plan, and its kind (paper claim, reading or project check). Notebooks measure,
then call :func:`run_plan` (or :func:`assess`); the book's report renders the records. The
interval rule is in :mod:`wgf_core.claims.core` and ``book/conventions.md``; the registration
lock and its amendments in :mod:`wgf_core.claims.lock`.
"""

from __future__ import annotations

import importlib

from .core import (
    ALPHA,
    KINDS,
    MIN_REPEATS,
    MIN_SEEDS,
    ONE_RUN,
    STATUSES,
    Claim,
    Outcome,
    SeedPlan,
    assess,
    configuration,
    decide,
    margin_interval,
    run_plan,
    spread,
)

#: The papers, one registry module each.
PAPERS = ("ift", "mmd_fdiv", "riesz", "variational", "api")

__all__ = ["Claim", "Outcome", "SeedPlan", "ONE_RUN", "assess", "run_plan", "decide", "margin_interval",
           "configuration", "spread", "registry", "get", "for_notebook", "PAPERS", "KINDS", "STATUSES",
           "MIN_SEEDS", "MIN_REPEATS", "ALPHA"]


def registry() -> dict:
    """Every claim of every paper, by id (ids are unique across papers)."""
    out = {}
    for paper in PAPERS:
        mod = importlib.import_module(f"{__name__}.{paper}")
        for c in mod.CLAIMS:
            if c.id in out:
                raise ValueError(f"claim id {c.id!r} is registered twice")
            if c.paper != paper:
                raise ValueError(f"claim {c.id!r} of {paper!r} names notebook {c.notebook!r} of another paper")
            out[c.id] = c
    return out


def get(claim_id: str) -> Claim:
    """The registered claim ``claim_id``; ``KeyError`` naming the known ids of its paper otherwise."""
    reg = registry()
    if claim_id not in reg:
        prefix = claim_id.split("-", 1)[0]
        known = sorted(k for k in reg if k.startswith(prefix)) or sorted(reg)
        raise KeyError(f"no claim {claim_id!r}; known: {', '.join(known)}")
    return reg[claim_id]


def for_notebook(notebook: str) -> list:
    """The claims a notebook (``"<paper>/<name>"``) decides, in registry order."""
    return [c for c in registry().values() if c.notebook == notebook]
