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
    np = pytest.importorskip("numpy")
    assert check_positive("tau", 2) == 2.0 and check_positive("tau", np.float32(0.5)) == 0.5  # exact binary values
    assert check_positive("tau", torch.tensor(2.0)) == 2.0 and check_range("r", np.float64(1.5), 0, 2) == 1.5
    assert check_positive("beta", 0, strict=False) == 0.0
    assert check_int("n", 3.0) == 3 and check_int("n", np.int64(3)) == 3 and check_int("n", 1e3) == 1000
    assert check_int_list("dims", [np.int64(2), 6.0]) == [2, 6]
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


BAD_NUMBERS = [(True, "True/False is not a number"), (False, "True/False is not a number"), ("5", "a number, not text"),
               ("１.5", "not text; write '1.5'"), ("1.5", "a number, not text"), (None, "not a NoneType"),
               ((1,), "not a tuple"), ([1.5], "not a list"), ({"a": 1}, "not a dict")]


@pytest.mark.parametrize("bad, why", BAD_NUMBERS, ids=[repr(b) for b, _ in BAD_NUMBERS])
def test_numeric_checks_refuse_bool_text_and_containers(bad, why):
    """check_positive, check_range and check_int take a number only (issue 31): float(True) and float("5")
    are not numbers of the user's; each refusal names the parameter and says why."""
    for check, allowed in ((lambda v: check_positive("sigma", v), "a finite number > 0"),
                           (lambda v: check_range("r", v, 0, 2), r"a number in \(0, 2\)"),
                           (lambda v: check_int("n", v), "an integer >= 1")):
        with pytest.raises(ParameterError, match=rf"^parameter '\w+' = .* is not allowed: {allowed} \(.*") as e:
            check(bad)
        assert why in str(e.value) and "\n" not in str(e.value)
    assert check_positive("sigma", 1.5) == 1.5 and check_range("r", 1.5, 0, 2) == 1.5  # the same checks pass numbers


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")], ids=repr)
def test_numeric_checks_refuse_nan_and_infinities(bad):
    np = pytest.importorskip("numpy")
    for v in (bad, np.float64(bad), torch.tensor(bad)):
        for check in (lambda x: check_positive("sigma", x), lambda x: check_range("alpha", x, 0, float("inf")),
                      lambda x: check_int("n", x), lambda x: check_int_list("dims", [2, x])):
            with pytest.raises(ParameterError, match=r"^parameter '(sigma|alpha|n|dims)' = "):
                check(v)


def test_int_list_refuses_fullwidth_digits_naming_the_ascii_spelling():
    assert check_int_list("dims", "2,6") == [2, 6]
    with pytest.raises(ParameterError, match=r"parameter 'dims' = '２,６' is not allowed: .*write '2,6'"):
        check_int_list("dims", "２,６")  # int("２") is 2 in Python: refused as text that is not ASCII
    with pytest.raises(ParameterError, match=r"integers 2 \.\. 8, e\.g\. .* \(memory\)"):
        check_int_list("dims", [2, 9], minimum=2, maximum=8, why="memory")
    assert check_int_list("dims", [2, 8], minimum=2, maximum=8) == [2, 8]


def test_choice_refuses_containers_and_numbers_for_booleans():
    from wgf_core.validation import check_choice

    assert check_choice("tight", True, (True, False)) is True and check_choice("dtype", torch.float64,
                                                                               (torch.float64,)) is torch.float64
    for bad, extra in ((1, ""), (0, ""), ([1, 2], " (one value, not a list)"), ({"a": 1}, " (one value, not a dict)")):
        with pytest.raises(ParameterError) as e:
            check_choice("tight", bad, (True, False))
        assert str(e.value) == f"parameter 'tight' = {bad!r} is not allowed: one of True, False{extra}"


def test_size_cap_follows_the_estimate_and_keeps_the_profile_value():
    from wgf_core.validation import TIME_BUDGET, check_size, memory_budget, physical_memory, size_cap

    mem = memory_budget()
    assert 0 < mem <= physical_memory()
    cap, why, cost = size_cap(lambda v: (8.0 * v * v, 0.0, 0.0))  # an n x n float64 matrix
    assert 8 * cap * cap <= mem < 8 * (cap + 1) ** 2  # the largest n whose matrix fits
    assert f"{physical_memory() / 2**30:.3g} GiB" in why and "memory" in cost(10 * cap)
    t_cap, _, t_cost = size_cap(lambda v: (0.0, 0.0, float(v)))  # steps of the loop alone
    from wgf_core.validation import STEP_SECONDS

    assert t_cap * STEP_SECONDS <= TIME_BUDGET < (t_cap + 1) * STEP_SECONDS and "time at least" in t_cost(2 * t_cap)
    assert size_cap(lambda v: (8.0 * v * v, 0.0, 0.0), keep=10 * cap)[0] == 10 * cap  # a profile's value stays
    assert check_size("n", cap, maximum=cap, why="w") == cap
    with pytest.raises(ParameterError, match=rf"^parameter 'n' = {cap + 1} is not allowed: an integer 1 \.\. {cap} "
                                             r"\(w\); at this size the estimate gives memory"):
        check_size("n", cap + 1, maximum=cap, why="w", cost=cost)


def test_check_sizes_refuses_a_joint_size_beyond_the_budget_naming_one():
    from wgf_core.validation import check_sizes, memory_budget

    side = int((memory_budget() / 8) ** 0.5)  # one side of the largest square float64 matrix that fits
    est = lambda z: (8.0 * z["a"] * z["b"], 0.0, 0.0)  # noqa: E731 - an a x b matrix
    sizes = check_sizes(dict(a=side, b=side), dict(a=1, b=1), est)
    assert sizes == dict(a=side, b=side)
    with pytest.raises(ParameterError, match=rf"^parameter 'b' = {side} is not allowed: an integer 1 \.\. ") as e:
        check_sizes(dict(a=2 * side, b=side), dict(a=1, b=1), est)  # each fits alone, not both: the last is named
    cap = int(str(e.value).split(" .. ")[1].split()[0])
    assert 8 * 2 * side * cap <= memory_budget() < 8 * 2 * side * (cap + 1)  # b's cap is taken with a set
    with pytest.raises(ParameterError, match=r"^parameter 'b' = True is not allowed: an integer 1 \.\. .*True/False"):
        check_sizes(dict(a=None, b=True), dict(a=1, b=1), est)
