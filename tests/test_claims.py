"""difflab.claims: a chapter's check, said once, printed with its number and its test."""

import math

import numpy as np
import pytest
import torch

from difflab.claims import at_least, at_most, between, check, holds, near


def test_a_passing_check_prints_the_claim_then_each_number_and_its_test(capsys):
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


@pytest.mark.parametrize(
    "measure",
    [
        lambda v: at_most("x", v, 1.0),
        lambda v: at_least("x", v, 0.0),
        lambda v: between("x", v, 0.0, 1.0),
        lambda v: near("x", v, 0.5, 10.0),
    ],
)
def test_nan_fails_every_test(measure):
    assert not measure(math.nan).passed
    assert measure(0.5).passed


def test_tensors_and_numpy_numbers_are_measured():
    assert (
        at_most("x", torch.tensor(0.2), 0.3).passed
        and at_least("x", np.float32(0.4), 0.3).passed
    )


def test_percent_format_is_used_for_number_and_limit():
    m = between("in part", 0.769, 0.7, 0.85, fmt=".1%")
    assert (m.shown, m.test) == ("76.9%", "70.0% to 85.0%")


def test_holds_takes_a_boolean_and_what_was_seen():
    assert holds("order", bool(np.array([1, 2]).argmax() == 1), "1 < 2").passed
    with pytest.raises(TypeError, match="holds"):
        holds("order", 1, "1")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: check("", at_most("x", 1, 2)), "claim"),
        (lambda: check("a claim"), "at least one measure"),
        (lambda: check("a claim", 0.5), "at least one measure"),
        (lambda: at_most("x", "big", 1), "'x' must be a number"),
        (lambda: between("x", 1, 2, 1), "low = 2 is above high = 1"),
        (lambda: near("x", 1, 1, -0.1), "tol = -0.1"),
    ],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
