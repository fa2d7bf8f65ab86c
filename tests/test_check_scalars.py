"""spex_mech.validation: the integer and float checkers accept, convert and refuse as documented."""

import numpy as np
import pytest

from spex_mech.validation import check_float, check_int


@pytest.mark.parametrize("value", [3, np.int64(3), np.int8(3)])
def test_check_int_accepts_python_and_numpy_integers(value):
    out = check_int("k", value, low=1, high=3)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize(
    "value, kwargs, message",
    [
        (True, {}, "k must be an integer; got True"),
        (2.0, {}, "k must be an integer; got 2.0"),
        ("2", {}, "k must be an integer; got '2'"),
        (0, {"low": 1}, "k must be at least 1; got 0"),
        (5, {"high": 4}, "k must be at most 4; got 5"),
        (5, {"low": 1, "high": 4}, r"k must be an integer in \[1, 4\]; got 5"),
        (0, {"low": 1, "high": 4}, r"k must be an integer in \[1, 4\]; got 0"),
    ],
)
def test_check_int_refuses_with_the_name_and_the_value(value, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_int("k", value, **kwargs)


def test_check_int_bounds_are_inclusive():
    assert check_int("k", 1, low=1, high=1) == 1


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.int64(1)])
def test_check_float_accepts_real_numbers(value):
    out = check_float("x", value, low=0, high=1)
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize(
    "value, kwargs, message",
    [
        (True, {}, "x must be a number; got True"),
        ("1", {}, "x must be a number; got '1'"),
        (float("nan"), {}, "x must be a number, not NaN; got nan"),
        (float("inf"), {}, "x must be a finite number; got inf"),
        (-np.inf, {"low": 0}, "x must be a finite number; got -inf"),
        (-1, {"low": 0}, "x must be a number >= 0; got -1"),
        (0, {"low": 0, "low_open": True}, "x must be a number > 0; got 0"),
        (1.5, {"high": 1}, "x must be a number <= 1; got 1.5"),
    ],
)
def test_check_float_refuses_with_the_name_and_the_value(value, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_float("x", value, **kwargs)


def test_check_float_inclusive_low_accepts_the_bound():
    assert check_float("x", 0, low=0) == 0.0
