"""Drivers of the Riesz notebooks (wgf_core.experiments.riesz)."""

import pytest
import torch

from wgf_core.experiments.riesz import stream
from wgf_core.random import make_generator
from wgf_core.validation import ParameterError


def test_stream_is_the_notebooks_seeding_and_refuses_bad_seeds():
    a, b = stream(3, 100), make_generator(3 * 2**20 + 10_000 + 100)
    assert torch.equal(torch.rand(5, generator=a), torch.rand(5, generator=b))
    assert not torch.equal(torch.rand(5, generator=stream(3, 1)), torch.rand(5, generator=stream(3, 2)))
    with pytest.raises(ParameterError, match="'seed'"):
        stream(-1, 1)
    with pytest.raises(ParameterError, match="'purpose'"):
        stream(0, 1.5)
