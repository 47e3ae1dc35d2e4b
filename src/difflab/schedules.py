"""Every "which noise level" of the book: the schedules (betas, alphas_cumprod), the
closed-form forward process ``q_sample``, the VE noise level sigma_t and the log-SNR
lambda_t of a schedule, the timesteps a sampler visits (``spaced_timesteps``), and the
flow's noise levels (``flow_sigmas``, ``shift_sigmas``).

Indexing follows diffusers (and most code): the paper's steps t = 1..T are ``t =
0..T-1`` here, so ``betas[t]`` is the variance added by step t + 1 of Ho et al. (2020)
and ``alphas_cumprod[t]`` is the paper's alpha_bar_{t+1}.
"""

from __future__ import annotations

import math

import torch

from ._checks import (
    check_choice,
    check_float,
    check_int,
    check_open_unit,
    check_same_shape,
    check_steps,
    check_vector,
)


def _check_betas(betas: torch.Tensor) -> torch.Tensor:
    """betas as float64 (T,), each in (0, 1), or a clear error."""
    return check_open_unit("betas", check_vector("betas", betas, torch.float64))


def linear_betas(
    T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
) -> torch.Tensor:
    """beta_t = beta_start + t / (T - 1) (beta_end - beta_start): betas rising linearly
    (Ho et al. 2020, Sec. 4): float64 (T,)."""
    T = check_int("T", T, low=1)
    beta_start = check_float(
        "beta_start", beta_start, low=0.0, high=1.0, low_open=True, high_open=True
    )
    beta_end = check_float(
        "beta_end", beta_end, low=0.0, high=1.0, low_open=True, high_open=True
    )
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_betas(T: int = 1000, offset: float = 0.008) -> torch.Tensor:
    """beta_t = min(1 - abar(t + 1) / abar(t), 0.999), abar(t) = f(t) / f(0), f(t) =
    cos^2(pi/2 (t/T + kappa) / (1 + kappa)): the cosine schedule (Nichol and Dhariwal
    2021, eq. 17), float64 (T,). ``offset`` is the paper's small s = 0.008 (the book
    writes it kappa, since s is the guidance scale), which keeps beta from being tiny
    near t = 0.
    """
    T = check_int("T", T, low=1)
    kappa = check_float("offset", offset, low=0.0)
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + kappa) / (1 + kappa) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return torch.clamp(1 - alpha_bar[1:] / alpha_bar[:-1], max=0.999)


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """abar_t = prod_{t' <= t} (1 - beta_t') (Ho et al. 2020, notation above eq. 4):
    float64 (T,)."""
    return torch.cumprod(1 - _check_betas(betas), dim=0)


def q_sample(
    x0: torch.Tensor, t, alphas_cumprod: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps: jump straight to step t (Ho et al.
    2020, eq. 4).

    ``x0``: (N, ...) clean data; ``t``: an int or a LongTensor of shape (N,) with values
    in [0, T-1]; ``alphas_cumprod``: (T,); ``noise``: standard normal eps, the shape of
    ``x0``. Returns x_t in the dtype and on the device of ``x0``.
    """
    x0, noise = torch.as_tensor(x0), torch.as_tensor(noise)
    abar = check_vector("alphas_cumprod", alphas_cumprod)
    t = check_steps(t, x0, abar.shape[0])
    check_same_shape("noise", noise, "x0", x0)
    abar_t = abar.to(x0.device)[t].to(x0.dtype)
    abar_t = abar_t.reshape(
        abar_t.shape + (1,) * (x0.ndim - abar_t.ndim)
    )  # (N, 1, ...)
    eps = noise.to(device=x0.device, dtype=x0.dtype)
    return abar_t.sqrt() * x0 + (1 - abar_t).sqrt() * eps  # eq. 4


def ve_sigma_from_abar(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """sigma_t = sqrt((1 - abar_t) / abar_t): the noise level of the variance-exploding
    view (Song, Meng, Ermon 2021, Sec. 4.3, eqs. 13-14; Karras et al. 2022, Table 1;
    diffusers' ``sigmas``).

    In y = x / sqrt(abar) = x0 + sigma_t eps the probability-flow ODE is dy/dsigma_t =
    eps. 0 at abar = 1 (clean data). Elementwise, in the input dtype. Not the flow's
    sigma (:func:`flow_sigmas`), which is sigma_t / (1 + sigma_t).
    """
    abar = torch.as_tensor(alphas_cumprod)
    return ((1 - abar) / abar).sqrt()


def log_snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """lambda_t = log(sqrt(abar_t) / sqrt(1 - abar_t)) = -log(sigma_t), half the log-SNR
    (Lu et al. 2022, "DPM-Solver++", Algorithm 2, whose steps are
    h_i = lambda_{t_i} - lambda_{t_{i-1}}).

    +inf at abar = 1 (clean data). Elementwise, in the dtype of the input.
    """
    abar = torch.as_tensor(alphas_cumprod)
    return 0.5 * (abar / (1 - abar)).log()


def betas_from_abar(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """beta_t = 1 - abar_t / abar_{t-1}, with abar_{-1} = 1: the betas a schedule was
    made of (the inverse of :func:`alphas_cumprod`, Ho et al. 2020, notation above eq.
    4).

    (T,) in the input dtype.
    """
    abar = check_vector("alphas_cumprod", alphas_cumprod)
    return 1 - abar / torch.cat([abar.new_ones(1), abar[:-1]])


# --- which noise levels a sampler visits -------------------------------------------

SPACINGS = ("linspace", "leading", "trailing", "quadratic", "karras")


def spaced_timesteps(
    T: int,
    n_steps: int,
    spacing: str = "trailing",
    alphas_cumprod: torch.Tensor | None = None,
    rho: float = 7.0,
) -> list[int]:
    """``n_steps`` strictly decreasing timesteps out of T, for the samplers.

    - "linspace": round(linspace(0, T-1, n)), reversed: uniform, from T-1 down to 0
      (diffusers' "linspace").
    - "leading": (T // n) i for i = n-1..0: uniform, starts below T-1 (diffusers'
      "leading", the DDIM paper's).
    - "trailing": round(T - i T / n) - 1 for i = 0..n-1: uniform, starts at T-1
      (diffusers' "trailing"; Lin et al. 2024, Table 2).
    - "quadratic": floor(c i^2) with c = (T-1)/(n-1)^2, more steps near the data (Song,
      Meng, Ermon 2021, App. D.2).
    - "karras": sigma_i = (s_max^(1/rho) + i/(n-1) (s_min^(1/rho) - s_max^(1/rho)))^rho
      (Karras et al. 2022, eq. 5), mapped to the nearest timestep by
      :func:`ve_sigma_from_abar`; needs ``alphas_cumprod``.
    """
    T = check_int("T", T, low=1)
    n_steps = check_int("n_steps", n_steps, low=1, high=T)
    check_choice("spacing", spacing, SPACINGS)
    _check_karras(spacing, alphas_cumprod, T)
    if spacing == "linspace":
        ts = torch.linspace(0, T - 1, n_steps, dtype=torch.float64).round().long()
        ts = ts.flip(0)
    elif spacing == "leading":
        ts = (torch.arange(n_steps) * (T // n_steps)).flip(0)
    elif spacing == "trailing":
        ts = torch.arange(T, 0, -T / n_steps, dtype=torch.float64)[:n_steps]
        ts = (ts.round() - 1).long()
    elif spacing == "quadratic":
        i = torch.arange(n_steps, dtype=torch.float64)
        ts = (i**2 * (T - 1) / max(n_steps - 1, 1) ** 2).floor().long().flip(0)
    else:
        ts = _karras_timesteps(n_steps, alphas_cumprod, rho)
    ts = ts.tolist()
    for i in range(n_steps - 2, -1, -1):  # steps that round to one timestep: push apart
        ts[i] = max(ts[i], ts[i + 1] + 1)
    _check_placed(ts, spacing, T)
    return ts


def _check_karras(spacing: str, alphas_cumprod, T: int) -> None:
    if spacing == "karras" and (alphas_cumprod is None or len(alphas_cumprod) != T):
        raise ValueError(f"spacing='karras' needs alphas_cumprod of length T={T}")


def _check_placed(ts: list[int], spacing: str, T: int) -> None:
    if ts[0] > T - 1:
        raise ValueError(
            f"spacing={spacing!r} cannot place {len(ts)} distinct steps in T={T}"
        )


def _karras_timesteps(n_steps: int, alphas_cumprod, rho: float) -> torch.Tensor:
    """Karras et al. (2022, eq. 5)'s levels, each mapped to the timestep of nearest
    sigma_t."""
    log_s = ve_sigma_from_abar(alphas_cumprod).log()  # (T,) increasing in t
    ramp = torch.linspace(0, 1, n_steps, dtype=torch.float64)
    lo, hi = log_s[0].exp() ** (1 / rho), log_s[-1].exp() ** (1 / rho)
    target = (hi + ramp * (lo - hi)) ** rho  # (n,) from sigma_max down to sigma_min
    return (log_s[None, :] - target.log()[:, None]).abs().argmin(1)


def shift_sigmas(sigmas, shift: float) -> torch.Tensor:
    """sigma' = shift sigma / (1 + (shift - 1) sigma): SD3's timestep shift of the
    flow's levels (Esser et al. 2024, Sec. 5.3.2, with shift = sqrt(m / n) for m pixels
    instead of n; diffusers' ``FlowMatchEulerDiscreteScheduler(shift=...)``, 3.0 for
    SD3).

    It keeps 0 and 1 and, for shift > 1, spends more of the steps at high noise. In
    lambda = log((1 - sigma) / sigma), half the log-SNR of the straight path (as
    :func:`log_snr`), it is a constant offset, -log(shift). float64 (the shape of
    ``sigmas``).
    """
    shift = check_float("shift", shift, low=0.0, low_open=True)
    s = torch.as_tensor(sigmas, dtype=torch.float64)
    return shift * s / (1 + (shift - 1) * s)


def flow_sigmas(n: int, shift: float = 1.0) -> torch.Tensor:
    """sigma_i = 1 - i / n, i = 0..n, shifted by :func:`shift_sigmas`: the flow's noise
    levels of ``n`` uniform steps from noise to data (diffusers'
    ``FlowMatchEulerDiscreteScheduler``).

    float64 (n + 1,), sigmas[0] = 1 and sigmas[n] = 0.
    """
    n = check_int("n", n, low=1)
    return shift_sigmas(torch.linspace(1, 0, n + 1, dtype=torch.float64), shift)
