"""Parameter checks name the parameter, its value and what is allowed."""

import pytest
import torch

from wgf_core.validation import (
    ParameterError,
    check_choice,
    check_device,
    check_dtype,
    check_int,
    check_positive,
    check_range,
    select_profile,
)


def test_messages_name_parameter_value_and_allowed():
    with pytest.raises(ParameterError, match=r"'step_size' = -0.1 .*> 0"):
        check_positive("step_size", -0.1)
    with pytest.raises(ParameterError, match=r"'n' = 0 .*integer >= 1"):
        check_int("n", 0)
    with pytest.raises(ParameterError, match=r"'n' = 2.5"):
        check_int("n", 2.5)
    with pytest.raises(ParameterError, match=r"'method' = 'x'.*'ift'"):
        check_choice("method", "x", ["mmd", "ift"])
    with pytest.raises(ParameterError, match=r"'alpha'.*\[0, 1\]"):
        check_range("alpha", 1.5, 0, 1, closed="both")
    with pytest.raises(ParameterError, match="'profile'"):
        select_profile("fast", {"ci": {}, "default": {}, "paper": {}})


def test_accepted_values_pass_through():
    assert check_positive("tau", "2") == 2.0  # exact: a parsed integer string is an exact float
    assert check_positive("beta", 0, strict=False) == 0.0
    assert check_int("n", 3.0) == 3
    assert select_profile("ci", {"ci": {"n": 1}, "default": {}, "paper": {}}) == {"n": 1}
    assert check_dtype("float64") is torch.float64


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu", 3.5])
def test_bad_device_strings(bad):
    with pytest.raises(ParameterError, match="'device'"):
        check_device(bad)


def test_cpu_and_unavailable_cuda():
    assert check_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="no CUDA"):
            check_device("cuda")
    else:
        assert check_device("cuda").type == "cuda"
