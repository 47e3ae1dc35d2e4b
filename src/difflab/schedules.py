"""Noise schedules and the closed-form forward process.

Indexing follows diffusers (and most code): the paper's steps t = 1..T are ``t = 0..T-1``
here, so ``betas[t]`` is the variance added by step t + 1 of Ho et al. (2020) and
``alphas_cumprod[t]`` is the paper's alpha_bar_{t+1}.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_float, check_int


def _check_betas(betas: torch.Tensor) -> torch.Tensor:
    betas = torch.as_tensor(betas, dtype=torch.float64)
    if betas.ndim != 1 or betas.numel() == 0:
        raise ValueError(
            f"betas has shape {tuple(betas.shape)}; expected a non-empty 1-D tensor (T,)"
        )
    bad = ~((betas > 0) & (betas < 1))
    if bad.any():
        i = int(bad.nonzero()[0])
        raise ValueError(
            f"betas[{i}]={betas[i].item()} is out of range: every beta must lie in (0, 1)"
        )
    return betas


def linear_betas(
    T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
) -> torch.Tensor:
    """Betas rising linearly from ``beta_start`` to ``beta_end`` (Ho et al. 2020, Sec. 4): float64 (T,)."""
    T = check_int("T", T, low=1)
    beta_start = check_float(
        "beta_start", beta_start, low=0.0, high=1.0, low_open=True, high_open=True
    )
    beta_end = check_float(
        "beta_end", beta_end, low=0.0, high=1.0, low_open=True, high_open=True
    )
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_betas(T: int = 1000, offset: float = 0.008) -> torch.Tensor:
    """The cosine schedule (Nichol and Dhariwal 2021, eq. 17): float64 (T,), each beta capped at 0.999.

    alpha_bar(t) = f(t) / f(0) with f(t) = cos^2(pi/2 * (t/T + kappa) / (1 + kappa)), and
    beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1). ``offset`` is the paper's small s = 0.008 (the book
    writes it kappa, since s is the guidance scale), which keeps beta from being tiny near t = 0.
    """
    T = check_int("T", T, low=1)
    kappa = check_float("offset", offset, low=0.0)
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + kappa) / (1 + kappa) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return torch.clamp(1 - alpha_bar[1:] / alpha_bar[:-1], max=0.999)


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """alpha_bar_t = prod_{s <= t} (1 - beta_s) (Ho et al. 2020, notation above eq. 4): float64 (T,)."""
    return torch.cumprod(1 - _check_betas(betas), dim=0)


def q_sample(
    x0: torch.Tensor, t, alphas_cumprod: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """Jump straight to step t: x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise (Ho et al. 2020, eq. 4).

    ``x0``: (N, ...) clean data; ``t``: an int or a LongTensor of shape (N,) with values in
    [0, T-1]; ``alphas_cumprod``: (T,); ``noise``: standard normal, the shape of ``x0``.
    Returns x_t in the dtype and on the device of ``x0``.
    """
    x0 = torch.as_tensor(x0)
    noise = torch.as_tensor(noise)
    abar = torch.as_tensor(alphas_cumprod)
    if abar.ndim != 1:
        raise ValueError(f"alphas_cumprod has shape {tuple(abar.shape)}; expected (T,)")
    T = abar.shape[0]
    t = torch.as_tensor(t, device=x0.device)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(
            f"t has dtype {t.dtype}; expected integer steps (a LongTensor or an int)"
        )
    if t.ndim > 1 or (
        t.ndim == 1 and x0.ndim >= 1 and t.shape[0] not in (1, x0.shape[0])
    ):
        raise ValueError(
            f"t has shape {tuple(t.shape)}; expected an int or shape (N,) with N = x0.shape[0] = "
            f"{x0.shape[0] if x0.ndim else 'scalar'}"
        )
    if t.numel() and (t.min() < 0 or t.max() >= T):
        bad = t[(t < 0) | (t >= T)].flatten()[0].item()
        raise ValueError(
            f"t contains {bad}, out of range: allowed is 0 <= t <= T-1 = {T - 1}"
        )
    if noise.shape != x0.shape:
        raise ValueError(
            f"noise has shape {tuple(noise.shape)} but x0 has shape {tuple(x0.shape)}; they must match"
        )
    a = abar.to(x0.device)[t].to(x0.dtype)
    a = a.reshape(a.shape + (1,) * (x0.ndim - a.ndim))  # (N, 1, ...) broadcasts over x0
    return a.sqrt() * x0 + (1 - a).sqrt() * noise.to(device=x0.device, dtype=x0.dtype)


def sigma_from_abar(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """sigma = sqrt((1 - abar) / abar), the noise level of the variance-exploding view.

    In y = x / sqrt(abar) = x0 + sigma eps the probability-flow ODE is dy/dsigma = eps
    (Song, Meng, Ermon 2021, Sec. 4.3, eqs. 13-14; Karras et al. 2022, Table 1;
    diffusers' ``sigmas``). 0 at abar = 1 (clean data). Elementwise, in the input dtype.
    """
    a = torch.as_tensor(alphas_cumprod)
    return ((1 - a) / a).sqrt()


def betas_from_abar(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The betas a schedule alphas_cumprod was made of: beta_t = 1 - abar_t / abar_{t-1}, with
    abar_{-1} = 1 (the inverse of :func:`alphas_cumprod`, Ho et al. 2020, notation above eq. 4).
    (T,) in the input dtype."""
    a = torch.as_tensor(alphas_cumprod)
    if a.ndim != 1 or a.numel() == 0:
        raise ValueError(
            f"alphas_cumprod has shape {tuple(a.shape)}; expected a non-empty 1-D tensor (T,)"
        )
    return 1 - a / torch.cat([a.new_ones(1), a[:-1]])
