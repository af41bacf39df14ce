"""Parameter checks name the parameter, its value and what is allowed."""

import pytest
import torch

from wgf_core.validation import (
    ParameterError,
    check_choice,
    check_device,
    check_dtype,
    check_int,
    check_int_list,
    check_notebook_parameters,
    check_parameter_names,
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
    with pytest.raises(ParameterError, match=r"parameter 'table' has the profiles \['ci'\], lacking \['default', 'pap"):
        select_profile("ci", {"ci": {}})


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


def test_int_list_accepts_lists_and_strings_and_names_the_whole_value():
    assert check_int_list("dims", [2, 6]) == [2, 6]
    assert check_int_list("dims", "2,6") == [2, 6] and check_int_list("dims", "[2, 6]") == [2, 6]
    assert check_int_list("dims", 3) == [3] and check_int_list("dims", (4.0,)) == [4]
    for bad in ("abc", "2,x", [], "", [2, 0], [2.5], [True], None):
        with pytest.raises(ParameterError, match=r"parameter 'dims' = .* not allowed: a non-empty list") as e:
            check_int_list("dims", bad)
        assert repr(bad) in str(e.value)  # the whole value, not its first character


DECLARED = 'profile = "default"\ndevice = "cpu"\nseed = 0\nsigma = None  # bandwidth\nsteps: int = 10\n'


def test_unknown_parameter_named_with_closest_known():
    check_parameter_names(DECLARED, '# Parameters\nprofile = "ci"\nsigma = 5.0\nsteps = 3\n')
    with pytest.raises(ParameterError, match=r"'sigmaa' is not a parameter.*did you mean 'sigma'\?.*profile, device"):
        check_parameter_names(DECLARED, '# Parameters\nprofile = "ci"\nsigmaa = 5.0\n')
    with pytest.raises(ParameterError, match=r"'typo_param' is not a parameter of this notebook: its parameters"):
        check_parameter_names(DECLARED, "# Parameters\ntypo_param = 3\n")


def test_notebook_history_finds_the_injected_cell():
    check_notebook_parameters(["", DECLARED, "x = 1"])  # not run by papermill: nothing to check
    check_notebook_parameters(["", DECLARED, "# Parameters\nseed = 4\n", "y = 2"])
    with pytest.raises(ParameterError, match="'sed'.*did you mean 'seed'"):
        check_notebook_parameters(["", DECLARED, "# Parameters\nsed = 4\n", "y = 2"])


def test_parameter_names_are_ascii_identifiers():
    from wgf_core.validation import check_parameter_name

    assert check_parameter_name("n_steps") == "n_steps"
    with pytest.raises(ParameterError, match=r"parameter name 'ｓｉｇｍａ' is not allowed: an ASCII identifier.*write 'sigma'"):
        check_parameter_name("ｓｉｇｍａ")  # Python would read it as sigma
    for bad in ("café", "1x", "a b", "class", 3, ""):
        with pytest.raises(ParameterError, match="parameter name .* is not allowed"):
            check_parameter_name(bad)


def test_number_type_refuses_text_bool_and_containers():
    np = pytest.importorskip("numpy")
    from wgf_core.validation import check_number_type

    assert check_number_type("sigma", 5) == 5 and check_number_type("sigma", 0.5) == 0.5
    assert check_number_type("sigma", np.float32(2.0)) == 2.0  # numpy scalars are numbers
    cases = {True: "True/False is not a number", "5": "a number, not text", "５": "not text; write '5'",
             None: "not a NoneType"}
    for bad, why in cases.items():
        with pytest.raises(ParameterError, match=r"parameter 'sigma' = .* is not allowed: a finite number > 0 \(.*"):
            check_number_type("sigma", bad, "a finite number > 0")
        with pytest.raises(ParameterError, match=why):
            check_number_type("sigma", bad, "a finite number > 0")
    with pytest.raises(ParameterError, match=r"= \[1, 2\] .*not a list"):
        check_number_type("sigma", [1, 2])


def test_scalar_refuses_containers_for_a_choice():
    from wgf_core.validation import check_scalar

    for ok in ("gauss", 3, None, True):
        assert check_scalar("kernel", ok, "one of 'gauss'") == ok
    for bad in ([1, 2], {"a": 1}, {1}, (1,)):
        with pytest.raises(ParameterError, match=rf"parameter 'kernel' = .* is not allowed: one of 'gauss' \(one value, not a "
                                                 rf"{type(bad).__name__}\)"):
            check_scalar("kernel", bad, "one of 'gauss'")
