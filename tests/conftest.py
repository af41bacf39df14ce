import random

import numpy as np
import pytest
import torch


def _devices():
    devs = ["cpu"]
    if torch.cuda.is_available():
        devs.append("cuda")
    return devs


@pytest.fixture(params=_devices())
def device(request):
    """CPU always; CUDA too where present (POT's backend-fixture habit)."""
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seeded_global_rngs():
    """Every test starts from the same global RNG state, whatever ran before it (no flaky draws).

    Library code never uses the global RNGs (explicit generators everywhere); this only pins the
    draws that tests make for their own inputs.
    """
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
