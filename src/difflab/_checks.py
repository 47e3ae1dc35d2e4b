"""Argument checks shared by the package, one line each at the public entry points: each
error names the argument, its value and what is allowed."""

from __future__ import annotations

import math
import numbers

import torch


def check_int(
    name: str, value, *, low: int | None = None, high: int | None = None
) -> int:
    """Return ``value`` as an int, or raise naming ``name`` if it is not an int in [low,
    high]."""
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
    """Return ``value`` as a float, or raise naming ``name`` if it lies outside the
    interval."""
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
    """``values`` as a non-empty list, each one checked by ``check(f"{name}[i]", v,
    **limits)`` (:func:`check_float` or :func:`check_int`), or raise naming ``name``."""
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
    """``value`` (a number, or a tensor (N,) with one entry per row of x (N, ...)) as a
    float tensor that broadcasts over x, on x's device and in its dtype, or a clear
    error."""
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


def check_finite(name: str, value) -> float:
    """``value`` as a float, or a ValueError naming ``name`` if it is not a finite real
    number (a guidance scale or weight may be any finite number, negative included)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
    ):
        raise ValueError(
            f"{name}={value!r} must be a finite real number (e.g. {name}=3.0)"
        )
    return float(value)


def check_batch(name: str, x, what: str = "noise samples") -> torch.Tensor:
    """``x``, or a clear error if it is not a batch (N, ...) of N >= 1 ``what``."""
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{name} has shape {shape}; expected a batch (N, ...) of N >= 1 {what}"
        )
    return x


def check_pair(name: str, value) -> tuple:
    """``value`` as a pair (a, b), or a clear error naming ``name``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(
            f"{name} must be a pair (x0, eps) of tensors; got {type(value).__name__}"
        )
    return tuple(value)


def check_same_shape(name: str, value: torch.Tensor, ref_name: str, ref) -> None:
    """A clear error if ``value`` does not have the shape of ``ref``."""
    if value.shape != ref.shape:
        raise ValueError(
            f"{name} has shape {tuple(value.shape)} but {ref_name} has shape "
            f"{tuple(ref.shape)}; they must match"
        )


def check_data(name: str, data) -> torch.Tensor:
    """``data`` as a tensor (N, ...) with N >= 1, or a clear error naming ``name``."""
    data = torch.as_tensor(data)
    if data.ndim < 2 or data.shape[0] == 0:
        raise ValueError(
            f"{name} has shape {tuple(data.shape)}; expected (N, ...) with N >= 1"
        )
    return data


def check_alphas_cumprod(alphas_cumprod) -> torch.Tensor:
    """alphas_cumprod as float64 (T,), or a clear error if it is not 1-D in (0, 1]."""
    abar = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    if abar.ndim != 1 or not ((abar > 0) & (abar <= 1)).all():
        raise ValueError(
            f"alphas_cumprod must be a 1-D tensor of values in (0, 1]; got shape "
            f"{tuple(abar.shape)}"
        )
    return abar


def check_steps(t, x0: torch.Tensor, T: int) -> torch.Tensor:
    """The steps ``t`` of :func:`~difflab.schedules.q_sample` (an int or a LongTensor
    (N,) with N = x0.shape[0], values in [0, T-1]) as a tensor on x0's device, or a
    clear error."""
    t = torch.as_tensor(t, device=x0.device)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(
            f"t has dtype {t.dtype}; expected integer steps (a LongTensor or an int)"
        )
    if t.ndim > 1 or (
        t.ndim == 1 and x0.ndim >= 1 and t.shape[0] not in (1, x0.shape[0])
    ):
        n = x0.shape[0] if x0.ndim else "scalar"
        raise ValueError(
            f"t has shape {tuple(t.shape)}; expected an int or shape (N,) with N = "
            f"x0.shape[0] = {n}"
        )
    if t.numel() and (t.min() < 0 or t.max() >= T):
        bad = t[(t < 0) | (t >= T)].flatten()[0].item()
        raise ValueError(
            f"t contains {bad}, out of range: allowed is 0 <= t <= T-1 = {T - 1}"
        )
    return t


def check_timesteps(timesteps, T: int) -> list[int]:
    """The timesteps as a list of ints, or a clear error if they are not strictly
    decreasing in [0, T-1]."""
    ts = torch.as_tensor(timesteps)
    if (
        ts.ndim != 1
        or ts.numel() == 0
        or ts.dtype.is_floating_point
        or ts.dtype == torch.bool
    ):
        raise ValueError(
            f"timesteps={list(timesteps)!r} must be a non-empty 1-D sequence of ints"
        )
    ts = ts.tolist()
    if min(ts) < 0 or max(ts) > T - 1:
        bad = next(t for t in ts if t < 0 or t > T - 1)
        raise ValueError(
            f"timesteps contains {bad}, out of range: allowed is 0 <= t <= T-1 = {T - 1}"
        )
    _check_decreasing("timesteps", ts)
    return ts


def check_min_steps(sampler: str, ts: list, n: int = 2) -> None:
    """A clear error if the sampler ``sampler`` gets fewer than ``n`` timesteps."""
    if len(ts) < n:
        raise ValueError(f"{sampler} needs at least {n} timesteps; got {ts}")


def check_sigmas(sigmas) -> torch.Tensor:
    """The flow's noise levels as float64 (n + 1,), or a clear error: 1-D, at least 2
    values, in [0, 1], strictly decreasing."""
    s = (
        sigmas
        if isinstance(sigmas, torch.Tensor)
        else torch.tensor(sigmas, dtype=torch.float64)
    )
    if s.ndim != 1 or s.numel() < 2 or not s.dtype.is_floating_point:
        raise ValueError(
            f"sigmas has shape {tuple(s.shape)} and dtype {s.dtype}; expected a 1-D float "
            f"sequence of n + 1 >= 2 noise levels, e.g. flow_sigmas(n)"
        )
    s = s.double()
    bad = ~((s >= 0) & (s <= 1))  # also catches NaN
    if bad.any():
        i = int(bad.nonzero()[0])
        raise ValueError(
            f"sigmas[{i}]={s[i].item()} is out of range: allowed is 0 <= sigma <= 1"
        )
    _check_decreasing("sigmas", s.tolist())
    return s


def _check_decreasing(name: str, values: list) -> None:
    for i in range(len(values) - 1):
        if values[i + 1] >= values[i]:
            raise ValueError(
                f"{name} must be strictly decreasing, but {name}[{i}]={values[i]} is "
                f"followed by {name}[{i + 1}]={values[i + 1]}"
            )


def check_prediction(out, x: torch.Tensor, what: str, at: str) -> torch.Tensor:
    """A model's output ``out``, or a clear error if it is not ``what`` (e.g. "epsilon")
    of x's shape, or holds NaN or inf; ``at`` says where it was called, e.g. "t=9"."""
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        shape = (
            tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        )
        raise ValueError(
            f"the model returned {shape} at {at}; expected {what} of the shape of x, "
            f"{tuple(x.shape)}"
        )
    if not torch.isfinite(out).all():
        raise FloatingPointError(f"the model returned NaN or inf at {at}")
    return out


def check_vector(name: str, value, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``value`` as a non-empty 1-D tensor (T,) (in ``dtype`` if given), or a clear
    error."""
    v = torch.as_tensor(value, dtype=dtype)
    if v.ndim != 1 or v.numel() == 0:
        raise ValueError(
            f"{name} has shape {tuple(v.shape)}; expected a non-empty 1-D tensor (T,)"
        )
    return v


def check_open_unit(name: str, values: torch.Tensor) -> torch.Tensor:
    """``values``, or a clear error naming the first entry outside (0, 1)."""
    bad = ~((values > 0) & (values < 1))
    if bad.any():
        i = int(bad.nonzero()[0])
        raise ValueError(
            f"{name}[{i}]={values[i].item()} is out of range: every entry must lie in "
            f"(0, 1)"
        )
    return values


def check_choice(name: str, value, allowed) -> None:
    """A clear error if ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(
            f"{name}={value!r} is not known; allowed: {', '.join(map(repr, allowed))}"
        )


def check_class_ids(name: str, cond, n_classes: int = 0):
    """A condition: None (no condition), an int class id, or a LongTensor (N,) of class
    ids in 0..n_classes-1 (any id >= 0 when ``n_classes`` is 0, unknown); a clear error
    otherwise."""
    if cond is None:
        return None
    allowed = f"0..{n_classes - 1}" if n_classes else "class ids >= 0"
    if isinstance(cond, bool) or not isinstance(cond, (numbers.Integral, torch.Tensor)):
        raise TypeError(
            f"{name}={cond!r} must be None (no condition), an int class id or a LongTensor "
            f"(N,) of class ids; allowed ids: {allowed}"
        )
    ids = torch.as_tensor(cond)
    if ids.dtype.is_floating_point or ids.dtype == torch.bool or ids.ndim > 1:
        raise ValueError(
            f"{name} has dtype {ids.dtype} and shape {tuple(ids.shape)}; expected an int or "
            f"a LongTensor (N,) of class ids {allowed}"
        )
    if ids.numel() and (ids.min() < 0 or (n_classes and ids.max() >= n_classes)):
        bad = ids.min().item() if ids.min() < 0 else ids.max().item()
        raise ValueError(
            f"{name} contains class id {bad}, which does not exist: allowed are {allowed} "
            f"(or None for 'no condition')"
        )
    return ids.long() if isinstance(cond, torch.Tensor) else int(cond)


def check_embedding(name: str, cond, dim: int, *, tokens: bool = False):
    """A condition of an embedding-conditioned model: None, or a finite float tensor
    (D,) or (N, D) with D = ``dim``; with ``tokens``, token states (N, L, D) for a model that
    attends to words. A clear error otherwise."""
    if cond is None:
        return None
    ndims = (3,) if tokens else (1, 2)
    if (
        not isinstance(cond, torch.Tensor)
        or not cond.dtype.is_floating_point
        or cond.ndim not in ndims
        or cond.shape[-1] != dim
        or not torch.isfinite(cond).all()
    ):
        shape = (
            tuple(cond.shape) if isinstance(cond, torch.Tensor) else type(cond).__name__
        )
        want = (
            f"(N, L, {dim}) of token states"
            if tokens
            else f"({dim},) or (N, {dim}) of embeddings"
        )
        raise ValueError(
            f"{name} of shape {shape} must be None or a finite float tensor {want} for this model"
        )
    return cond
