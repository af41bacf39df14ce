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
