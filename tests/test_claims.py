"""difflab.claims: a chapter's check, said once, printed with its number and its test."""

import math

import numpy as np
import pytest
import torch

from difflab.claims import at_least, at_most, between, check, holds, near


def test_a_passing_check_prints_the_claim_then_each_number_with_its_test(capsys):
    check(
        "the loss falls",
        at_most("final loss", 0.12, 0.5),
        at_least("steps", 300, 100, fmt="d"),
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "check: the loss falls"
    assert out[1].split() == ["final", "loss", "0.12", "(test:", "≤", "0.5)"]
    assert out[2].split() == ["steps", "300", "(test:", "≥", "100)"]


def test_a_failing_check_raises_with_the_failed_measure_marked():
    with pytest.raises(
        AssertionError, match=r"(?s)final loss.*0\.9.*FAILED.*failed: final loss"
    ):
        check(
            "the loss falls",
            at_most("final loss", 0.9, 0.5),
            at_least("steps", 300, 100),
        )


MEASURES = {
    "at_most": lambda v: at_most("x", v, 1.0),
    "at_least": lambda v: at_least("x", v, 0.0),
    "between": lambda v: between("x", v, 0.0, 1.0),
    "near": lambda v: near("x", v, 0.5, 10.0),
}


@pytest.mark.parametrize("measure", MEASURES)
def test_nan_fails_every_test(measure):
    assert not MEASURES[measure](math.nan).passed


@pytest.mark.parametrize("measure", MEASURES)
def test_a_number_within_the_limits_passes_every_test(measure):
    assert MEASURES[measure](0.5).passed


@pytest.mark.parametrize(
    "value", [torch.tensor(0.2), np.float32(0.2)], ids=["tensor", "numpy"]
)
def test_array_numbers_are_measured(value):
    assert at_most("x", value, 0.3).passed


def test_a_format_shows_the_number():
    assert between("in part", 0.769, 0.7, 0.85, fmt=".1%").shown == "76.9%"


def test_a_format_shows_the_limits_too():
    assert between("in part", 0.769, 0.7, 0.85, fmt=".1%").test == "70.0% to 85.0%"


@pytest.mark.parametrize(
    "condition", [True, np.array([1, 2]).argmax() == 1], ids=["bool", "numpy"]
)
def test_holds_takes_a_boolean(condition):
    assert holds("order", condition, "1 < 2").passed


def test_holds_shows_what_was_seen():
    assert holds("order", True, "1 < 2").shown == "1 < 2"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: check("", at_most("x", 1, 2)), "claim"),
        (lambda: check("a claim"), "at least one measure"),
        (lambda: check("a claim", 0.5), "at least one measure"),
        (lambda: at_most("x", "big", 1), "'x' must be a number"),
        (lambda: between("x", 1, 2, 1), "low = 2 is above high = 1"),
        (lambda: near("x", 1, 1, -0.1), "tol = -0.1"),
        (lambda: holds("order", 1, "1"), "condition must be True or False"),
    ],
    ids=[
        "no claim",
        "no measure",
        "not a measure",
        "not a number",
        "low > high",
        "negative tol",
        "holds a number",
    ],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
