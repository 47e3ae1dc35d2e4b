"""Samplers: plain functions over (model, x, timesteps, alphas_cumprod).

``model(x, t)`` is any callable returning the predicted noise epsilon, shape of ``x``, with
``t`` a LongTensor (N,): a trained network, the exact optimal denoiser
(:mod:`difflab.denoisers`) or a guided wrapper (:mod:`difflab.guidance`).
``timesteps`` is a strictly decreasing sequence of ints in [0, T-1]; step i goes from
``timesteps[i]`` to ``timesteps[i+1]``, and the last step goes to clean data (alpha_bar = 1).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ._checks import check_float


def check_timesteps(timesteps: Sequence[int], T: int) -> list[int]:
    """The timesteps as a list of ints, or a clear error if they are not strictly decreasing in [0, T-1]."""
    ts = torch.as_tensor(timesteps)
    if ts.ndim != 1 or ts.numel() == 0 or ts.dtype.is_floating_point or ts.dtype == torch.bool:
        raise ValueError(f"timesteps={list(timesteps)!r} must be a non-empty 1-D sequence of ints")
    ts = ts.tolist()
    if min(ts) < 0 or max(ts) > T - 1:
        bad = next(t for t in ts if t < 0 or t > T - 1)
        raise ValueError(f"timesteps contains {bad}, out of range: allowed is 0 <= t <= T-1 = {T - 1}")
    for i in range(len(ts) - 1):
        if ts[i + 1] >= ts[i]:
            raise ValueError(f"timesteps must be strictly decreasing, but timesteps[{i}]={ts[i]} is followed "
                             f"by timesteps[{i + 1}]={ts[i + 1]}")
    return ts


def predict_eps(model: Callable, x: torch.Tensor, t: int) -> torch.Tensor:
    """Call ``model(x, t)`` with t as a LongTensor (N,), and check what comes back."""
    eps = model(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))
    if not isinstance(eps, torch.Tensor) or eps.shape != x.shape:
        shape = tuple(eps.shape) if isinstance(eps, torch.Tensor) else type(eps).__name__
        raise ValueError(f"the model returned {shape} at t={t}; expected epsilon of the shape of x, {tuple(x.shape)}")
    if not torch.isfinite(eps).all():
        raise FloatingPointError(f"the model returned NaN or inf at t={t}")
    return eps


def _check_x(x):
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x has shape {shape}; expected a batch (N, ...) of N >= 1 noise samples")


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, abar_t: torch.Tensor) -> torch.Tensor:
    """x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t): the closed form solved for x0 (Ho et al. 2020, eq. 15)."""
    return (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()


def ddpm_step(x_t: torch.Tensor, eps: torch.Tensor, abar_t: torch.Tensor, abar_prev: torch.Tensor,
              noise: torch.Tensor, noise_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One reverse step x_t -> x_prev of DDPM; returns (x_prev, x0_hat).

    (1) predict x0 (eq. 15); (2) the mean of the posterior q(x_prev | x_t, x0) (eq. 7);
    (3) add noise with its variance beta_tilde (eq. 7). With skipped steps, beta is the
    effective 1 - abar_t / abar_prev. ``noise_scale=0`` removes the noise (Chapter 3's collapse).
    """
    beta = 1 - abar_t / abar_prev
    x0_hat = predict_x0(x_t, eps, abar_t)  # (1)
    mean = (abar_prev.sqrt() * beta * x0_hat + (1 - beta).sqrt() * (1 - abar_prev) * x_t) / (1 - abar_t)  # (2)
    var = (1 - abar_prev) / (1 - abar_t) * beta  # (3) beta_tilde; 0 on the last step to clean data
    return mean + noise_scale * var.sqrt() * noise, x0_hat


@torch.no_grad()
def ddpm_sample(model: Callable, x: torch.Tensor, timesteps: Sequence[int], alphas_cumprod: torch.Tensor, *,
                noise_scale: float = 1.0, generator: torch.Generator | None = None,
                callback: Callable | None = None) -> torch.Tensor:
    """Ancestral sampling of DDPM (Ho et al. 2020, Algorithm 2), from noise ``x`` (N, ...) to data.

    ``noise_scale`` multiplies the fresh noise of every step: 1 is DDPM, 0 removes the noise
    term (Chapter 3 shows that this collapses). ``callback(i, t, x, x0_hat)`` sees every step.
    """
    _check_x(x)
    noise_scale = check_float("noise_scale", noise_scale, low=0.0)
    abar = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    ts = check_timesteps(timesteps, len(abar))
    one = torch.ones((), dtype=torch.float64)
    for i, t in enumerate(ts):
        abar_t = abar[t]
        abar_prev = abar[ts[i + 1]] if i + 1 < len(ts) else one
        eps = predict_eps(model, x, t)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        x, x0_hat = ddpm_step(x, eps, abar_t.to(x.dtype), abar_prev.to(x.dtype), noise, noise_scale)
        if callback is not None:
            callback(i, t, x, x0_hat)
    return x
