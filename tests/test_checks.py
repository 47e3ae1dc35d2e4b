"""difflab._checks: one-line argument checks whose errors name the argument, its value and
what is allowed."""

import math

import pytest
import torch

from difflab._checks import (
    check_choice,
    check_float,
    check_int,
    check_sigmas,
    check_timesteps,
)


def test_a_good_value_comes_back_as_its_type():
    assert check_int("steps", 3, low=1) == 3 and check_float("eta", 1, low=0.0) == 1.0


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: check_int("steps", 0, low=1), ValueError, r"steps=0 .* 1 <= steps"),
        (lambda: check_int("steps", 2.5), TypeError, r"steps=2.5 must be an int"),
        (lambda: check_int("steps", True), TypeError, r"steps=True must be an int"),
        (
            lambda: check_float("eta", -1, low=0.0),
            ValueError,
            r"eta=-1.0 .* \[0.0, inf\]",
        ),
        (
            lambda: check_float("lr", 0, low=0.0, low_open=True),
            ValueError,
            r"lr=0.0 .* \(0.0, inf",
        ),
        (lambda: check_float("eta", math.nan), ValueError, r"eta=nan"),
        (lambda: check_float("eta", "1"), TypeError, r"eta='1' must be a real number"),
        (
            lambda: check_choice("spacing", "odd", ["leading"]),
            ValueError,
            r"spacing='odd' is not known; allowed: 'leading'",
        ),
        (
            lambda: check_timesteps([5, 10], 1000),
            ValueError,
            r"timesteps must be strictly decreasing",
        ),
        (
            lambda: check_sigmas([0.5, 1.0, 0.0]),
            ValueError,
            r"sigmas must be strictly decreasing",
        ),
    ],
    ids=[
        "int-below",
        "int-float",
        "int-bool",
        "float-below",
        "float-open",
        "float-nan",
        "float-str",
        "choice",
        "timesteps-rising",
        "sigmas-rising",
    ],
)
def test_a_bad_value_is_named_with_what_is_allowed(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_timesteps_come_back_as_a_list_of_ints():
    assert check_timesteps(torch.tensor([10, 5, 0]), 1000) == [10, 5, 0]


def test_sigmas_come_back_as_float64():
    assert check_sigmas([1.0, 0.5, 0.0]).dtype == torch.float64
