"""A chapter's claims, checked on the measured numbers and said once.

Every teaching claim of the book is followed by a cell that measures it and checks it::

    check("conditioning alone follows the class loosely",
          at_least("in its own part, the lowest class", min(in_part), 0.70, fmt=".1%"),
          at_most("off the spiral, the highest class", max(off), 0.05, fmt=".1%"))

prints the claim, then one line per measurement: its name, the measured number, and the test it
must pass (the limit, marked as a test so that it is not read as a result)::

    check: conditioning alone follows the class loosely
      in its own part, the lowest class  76.9%  (test: ≥ 70.0%)
      off the spiral, the highest class   1.3%  (test: ≤ 5.0%)

and raises ``AssertionError`` with the same lines, the failed ones marked, when any test fails.
A number that is NaN fails every test. The sentence is written once: the assert and the printed
line come from one call. In the Japanese notebooks the lines are printed in Japanese
(:mod:`difflab.i18n`); the test stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from .i18n import pad, translate
from .i18n import width as text_width


@dataclass(frozen=True)
class Measure:
    """One measured number and the test it must pass: ``passed`` and the test as text."""

    name: str
    shown: str
    test: str
    passed: bool


def _value(name: str, value) -> float:
    """The measured number as a float; NaN stays NaN and then fails every test
    (``nan <= x``, ``nan >= x`` and ``abs(nan - x) <= tol`` are all False)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"the measured value of {name!r} must be a number, got {value!r}"
        ) from None


def _fmt(v: float, fmt: str) -> str:
    if fmt.endswith("d"):  # counts: an integer format, "nan" when there is none
        return format(int(v), fmt) if float(v).is_integer() else str(v)
    return format(v, fmt)


def at_most(name: str, value, limit: float, *, fmt: str = ".3g") -> Measure:
    """``value <= limit``."""
    v = _value(name, value)
    return Measure(name, _fmt(v, fmt), f"≤ {_fmt(limit, fmt)}", v <= limit)


def at_least(name: str, value, limit: float, *, fmt: str = ".3g") -> Measure:
    """``value >= limit``."""
    v = _value(name, value)
    return Measure(name, _fmt(v, fmt), f"≥ {_fmt(limit, fmt)}", v >= limit)


def between(name: str, value, low: float, high: float, *, fmt: str = ".3g") -> Measure:
    """``low <= value <= high``."""
    if not low <= high:
        raise ValueError(
            f"between({name!r}): low = {low} is above high = {high}; give low <= high"
        )
    v = _value(name, value)
    return Measure(
        name, _fmt(v, fmt), f"{_fmt(low, fmt)} to {_fmt(high, fmt)}", low <= v <= high
    )


def near(name: str, value, target: float, tol: float, *, fmt: str = ".3g") -> Measure:
    """``|value - target| <= tol``."""
    if not tol >= 0:
        raise ValueError(f"near({name!r}): tol = {tol} must be at least 0")
    v = _value(name, value)
    return Measure(
        name,
        _fmt(v, fmt),
        f"{_fmt(target, fmt)} ± {_fmt(tol, fmt)}",
        abs(v - target) <= tol,
    )


def _is_boolean(v) -> bool:
    """True or False: Python's ``bool`` or NumPy's (``numpy.bool``, ``numpy.bool_`` before
    NumPy 2), e.g. ``bool(...)`` or ``array.argmax() == 1``."""
    return type(v).__name__ in ("bool", "bool_")


def holds(name: str, condition: bool, shown: str) -> Measure:
    """A claim that is not one number against a limit (an ordering, a set), with what was
    measured in ``shown``, e.g. ``holds("DDIM beats DDPM at every S", all(...), "S = 10, 20, 50")``."""
    if not _is_boolean(condition):
        raise TypeError(
            f"holds({name!r}): condition must be True or False, got {condition!r}"
        )
    return Measure(name, shown, "holds", bool(condition))


def _lines(claim: str, measures: tuple[Measure, ...]) -> list[str]:
    """The printed check, in the book's language (:mod:`difflab.i18n`)."""
    names = [translate(m.name) for m in measures]
    shows = [translate(m.shown) for m in measures]
    width, shown = max(map(text_width, names)), max(map(text_width, shows))
    lines = [translate(f"check: {claim}")]
    for m, name, show in zip(measures, names, shows):
        mark = "" if m.passed else "   <- FAILED"
        test = translate(f"(test: {m.test})")
        lines.append(
            f"  {pad(name, width)}  {pad(show, shown, right=True)}  {test}{mark}"
        )
    return lines


def check(claim: str, *measures: Measure) -> None:
    """Print the claim and its measurements; raise ``AssertionError`` if any test failed.

    ``claim`` is the sentence of the chapter being checked; each measure comes from
    :func:`at_most`, :func:`at_least`, :func:`between`, :func:`near` or :func:`holds`."""
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(
            f"claim must be a sentence saying what is checked, got {claim!r}"
        )
    if not measures or not all(isinstance(m, Measure) for m in measures):
        raise TypeError(
            "check() needs at least one measure made by at_most, at_least, between, near or holds"
        )
    lines = _lines(claim, measures)
    failed = [m.name for m in measures if not m.passed]
    if failed:
        raise AssertionError("\n".join(lines) + f"\nfailed: {', '.join(failed)}")
    print("\n".join(lines))


__all__ = ["Measure", "at_least", "at_most", "between", "check", "holds", "near"]
