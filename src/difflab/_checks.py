"""Argument checks shared by the package: each error names the argument, its value and what is allowed."""

from __future__ import annotations

import numbers

import torch


def check_int(
    name: str, value, *, low: int | None = None, high: int | None = None
) -> int:
    """Return ``value`` as an int, or raise naming ``name`` if it is not an int in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r} must be an int")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(
            f"{name}={value} is out of range: allowed is {lo} <= {name} <= {hi}"
        )
    return value


def check_float(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float, or raise naming ``name`` if it lies outside the interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r} must be a real number")
    value = float(value)
    bad = value != value  # NaN
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(
            f"{name}={value} is out of range: allowed is {left}{lo}, {hi}{right}"
        )
    return value


def check_values(name: str, values, check=check_float, **limits) -> list:
    """``values`` as a non-empty list, each one checked by ``check(f"{name}[i]", v, **limits)``
    (:func:`check_float` or :func:`check_int`), or raise naming ``name``."""
    values = (
        values.tolist() if hasattr(values, "tolist") else values
    )  # a tensor or an array: numbers
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(
            f"{name}={values!r} must be a sequence of values, e.g. {name}=[1, 2, 3]"
        )
    values = list(values)
    if not values:
        raise ValueError(f"{name}=[] is empty; give at least one value")
    return [check(f"{name}[{i}]", v, **limits) for i, v in enumerate(values)]


def per_row(name: str, value, x: torch.Tensor) -> torch.Tensor:
    """``value`` (a number, or a tensor (N,) with one entry per row of x (N, ...)) as a float
    tensor that broadcasts over x, on x's device and in its dtype, or a clear error."""
    value = torch.as_tensor(value, device=x.device)
    if not value.dtype.is_floating_point:
        raise TypeError(f"{name} has dtype {value.dtype}; expected floats")
    if value.ndim == 1 and value.shape[0] == x.shape[0]:
        return value.to(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
    if value.ndim == 0:
        return value.to(x.dtype)
    raise ValueError(
        f"{name} has shape {tuple(value.shape)}; expected a number or ({x.shape[0]},), "
        f"one per row of x {tuple(x.shape)}"
    )
