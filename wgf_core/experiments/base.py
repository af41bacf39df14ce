"""What every notebook's first cell settles, shared by the experiment drivers."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["NotebookSetup"]


@dataclass
class NotebookSetup:
    """A notebook's checked parameters: ``notebook`` (its stem), ``profile``, ``device``, ``seed`` (the base
    seed), ``sizes`` (the profile's sizes with the user's overrides) and ``seeds`` (the ensemble members
    0, 1, ...; their draws come from :func:`wgf_core.random.stream` with the base seed). Each paper's
    driver extends it with its own fields."""

    notebook: str
    profile: str
    device: torch.device
    seed: int
    sizes: dict
    seeds: list
