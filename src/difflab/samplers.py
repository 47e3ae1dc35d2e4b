"""Samplers of the DDPM model: plain functions with one signature,

    sampler(model, x, timesteps, alphas_cumprod, *, generator=None, callback=None, ...)

Notation (book/notation.md; diffusers' ``DDIMScheduler.step`` names in brackets):

    T           len(alphas_cumprod), the number of training steps (1000)
    t           a timestep in [0, T-1]; ``timesteps`` = t_1 > ... > t_S, S steps
    abar_t      alphas_cumprod[t], the share of the signal's variance left at step t
                (Ho et al. 2020's alpha_bar, the DDIM paper's alpha_t) [alpha_prod_t]
    abar_next   alphas_cumprod at the step's target, timesteps[i + 1]; 1 after the
                last step, which lands on clean data [alpha_prod_t_prev]
    x, x_next   x_t, the point at t (``x_t`` in the step functions), and the point
                after the step [sample, prev_sample]
    eps         eps_theta(x_t, t), the model's noise prediction [model_output]
    x0_hat      the predicted clean point, Ho et al. 2020, eq. 15
                [pred_original_sample]
    noise       z, the fresh standard normal noise of a stochastic step
    eta         DDIM's noise knob; ddim_noise_std = eta sqrt(beta_tilde_t) is the
                DDIM paper's sigma_t(eta), eq. 16 [std_dev_t]
    ve_sigma    sigma_t = sqrt((1 - abar_t) / abar_t), the variance-exploding noise
                level in which Heun integrates (Karras et al. 2022)
    lam, dlam   lambda_t = log(sqrt(abar_t) / sqrt(1 - abar_t)) and its steps
                (DPM-Solver's h; its alpha_t, sigma_t are written out here as
                sqrt(abar_t), sqrt(1 - abar_t), to keep sigma for noise levels)
    d           x0_tilde, DPM-Solver++(2M)'s corrected prediction (the paper's D)

``model(x, t)`` is any callable returning eps, the shape of ``x``, with ``t`` a
LongTensor (N,): a trained network, the exact optimal denoiser
(:mod:`difflab.denoisers`) or a guided wrapper (:mod:`difflab.guidance`). ``timesteps``
is a strictly decreasing sequence of ints in [0, T-1]; step i goes from ``timesteps[i]``
to ``timesteps[i+1]``, and the last step goes to clean data (abar = 1). ``generator`` (a
CPU ``torch.Generator``) gives the fresh noise of the stochastic samplers; the
deterministic ones accept it and draw nothing. Noise is drawn on the CPU and moved to
``x``'s device, so a seed gives the same draws on every device. ``callback(i, t, x,
x0_hat)`` sees every step: its index, the timestep it started from, the point it reached
and its prediction of x0 (the flow samplers call it the same way, with the noise level
sigma in place of t). :data:`SAMPLERS` names them all; :func:`sample` runs one from the
noise of a seed.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from ._checks import (
    check_alphas_cumprod,
    check_batch,
    check_float,
    check_int,
    check_min_steps,
    check_prediction,
    check_timesteps,
)
from .schedules import log_snr, ve_sigma_from_abar


def predict_x0(
    x_t: torch.Tensor, eps: torch.Tensor, abar_t: torch.Tensor
) -> torch.Tensor:
    """x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t): eq. 4 solved for x0 (Ho et
    al. 2020, eq. 15)."""
    return (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()


def ddpm_step(
    x_t: torch.Tensor,
    eps: torch.Tensor,
    abar_t: torch.Tensor,
    abar_next: torch.Tensor,
    noise: torch.Tensor,
    noise_scale: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """x_next = mu_tilde(x_t, x0_hat) + sqrt(beta_tilde_t) z: one reverse step of DDPM
    (Ho et al. 2020, eqs. 6-7 and 15); returns (x_next, x0_hat).

    (1) predict x0 (eq. 15); (2) the mean of the posterior q(x_next | x_t, x0) (eq. 7);
    (3) add noise with its variance beta_tilde (eq. 7). With skipped steps, beta is the
    effective 1 - abar_t / abar_next. ``noise_scale=0`` removes the noise (Chapter 3's
    collapse).
    """
    beta = 1 - abar_t / abar_next
    x0_hat = predict_x0(x_t, eps, abar_t)  # (1)
    mean = (
        abar_next.sqrt() * beta * x0_hat + (1 - beta).sqrt() * (1 - abar_next) * x_t
    ) / (1 - abar_t)  # (2)
    var = (1 - abar_next) / (1 - abar_t) * beta  # (3) beta_tilde; 0 on the last step
    return mean + noise_scale * var.sqrt() * noise, x0_hat


def ddim_noise_std(
    abar_t: torch.Tensor, abar_next: torch.Tensor, eta: float
) -> torch.Tensor:
    """eta sqrt(beta_tilde_t) = eta sqrt((1 - abar_next) / (1 - abar_t)) sqrt(1 - abar_t
    / abar_next): DDIM's noise (Song, Meng, Ermon 2021, eq. 16, where it is
    sigma_t(eta); the book keeps sigma for the noise levels). eta = 1: DDPM's posterior
    standard deviation; eta = 0: DDIM."""
    return eta * ((1 - abar_next) / (1 - abar_t) * (1 - abar_t / abar_next)).sqrt()


def ddim_step(
    x_t: torch.Tensor,
    eps: torch.Tensor,
    abar_t: torch.Tensor,
    abar_next: torch.Tensor,
    noise: torch.Tensor | None = None,
    eta: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """x_next = sqrt(abar_next) x0_hat + sqrt(1 - abar_next - std^2) eps + std z, std =
    :func:`ddim_noise_std`: one step of DDIM (Song, Meng, Ermon 2021, eq. 12); returns
    (x_next, x0_hat). With ``eta = 0`` (no noise needed) the step is deterministic.
    """
    std = ddim_noise_std(abar_t, abar_next, eta)
    x0_hat = predict_x0(x_t, eps, abar_t)  # (1) predict x0: eq. 12, first term
    direction = (1 - abar_next - std**2).clamp_min(0).sqrt() * eps  # (2) towards x_t
    x_next = abar_next.sqrt() * x0_hat + direction
    if eta > 0:
        x_next = x_next + std * noise  # (3) random noise: eq. 12, last term
    return x_next, x0_hat


def dpm_solver_2m_step(
    x_t: torch.Tensor,
    d: torch.Tensor,
    abar_t: torch.Tensor,
    abar_next: torch.Tensor,
    dlam: torch.Tensor,
) -> torch.Tensor:
    """x_next = sqrt((1 - abar_next) / (1 - abar_t)) x_t - sqrt(abar_next) (e^{-h} - 1)
    D, with h = ``dlam``: the step of DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++",
    Algorithm 2, whose alpha_t and sigma_t are sqrt(abar_t) and sqrt(1 - abar_t)), the
    linear part solved exactly. D is the corrected x0_hat (:func:`corrected_x0`); D =
    x0_hat is a DDIM step."""
    ratio = ((1 - abar_next) / (1 - abar_t)).sqrt()
    return (
        ratio.to(x_t.dtype) * x_t
        - (abar_next.sqrt() * torch.expm1(-dlam)).to(x_t.dtype) * d
    )


def dpm_solver_2m_sde_step(
    x_t: torch.Tensor,
    d: torch.Tensor,
    abar_t: torch.Tensor,
    abar_next: torch.Tensor,
    dlam: torch.Tensor,
    noise: torch.Tensor,
) -> torch.Tensor:
    """x_next = sqrt((1 - abar_next) / (1 - abar_t)) e^{-h} x_t + sqrt(abar_next) (1 -
    e^{-2h}) D + sqrt(1 - abar_next) sqrt(1 - e^{-2h}) z: the step of
    SDE-DPM-Solver++(2M) (Lu et al. 2022; diffusers
    ``algorithm_type="sde-dpmsolver++"``), h = ``dlam``. Its first-order step (D =
    x0_hat) is DDPM's posterior step (Ho et al. 2020, eq. 7)."""
    ratio = ((1 - abar_next) / (1 - abar_t)).sqrt()
    h = dlam
    return (
        (ratio * torch.exp(-h)).to(x_t.dtype) * x_t
        - (abar_next.sqrt() * torch.expm1(-2 * h)).to(x_t.dtype) * d
        + ((1 - abar_next) * -torch.expm1(-2 * h)).sqrt().to(x_t.dtype) * noise
    )


def corrected_x0(
    x0_hat: torch.Tensor, x0_prev: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """x0_tilde = (1 + w) x0_hat - w x0_prev, w = 1 / (2 r): DPM-Solver++(2M)'s
    second-order data prediction D (Lu et al. 2022, Algorithm 2); w from
    :func:`dpm_solver_2m_weights`."""
    return (1 + weight).to(x0_hat.dtype) * x0_hat - weight.to(x0_hat.dtype) * x0_prev


# --- the samplers: checks, then the loop over the steps above -----------------------


def predict_eps(model: Callable, x: torch.Tensor, t: int) -> torch.Tensor:
    """eps_theta(x_t, t): ``model(x, t)`` with t as a LongTensor (N,), its output
    checked."""
    eps = model(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))
    return check_prediction(eps, x, "epsilon", f"t={t}")


def draw_noise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """z ~ N(0, I) of x's shape and dtype, drawn on the CPU from ``generator``, on x's
    device."""
    return torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)


def next_levels(abar: torch.Tensor, ts: list[int]) -> list[torch.Tensor]:
    """abar_next of every step: abar at timesteps[i + 1], and 1 (clean data) after the
    last."""
    return [abar[s] for s in ts[1:]] + [torch.ones((), dtype=torch.float64)]


@torch.no_grad()
def ddpm_sample(
    model: Callable,
    x: torch.Tensor,
    timesteps: Sequence[int],
    alphas_cumprod: torch.Tensor,
    *,
    noise_scale: float = 1.0,
    generator: torch.Generator | None = None,
    callback: Callable | None = None,
) -> torch.Tensor:
    """x_next = mu_tilde(x_t, x0_hat) + sqrt(beta_tilde_t) z at every step: ancestral
    sampling of DDPM (Ho et al. 2020, Algorithm 2), from noise ``x`` (N, ...) to data.

    ``noise_scale`` multiplies the fresh noise of every step: 1 is DDPM, 0 removes the
    noise term (Chapter 3 shows that this collapses).
    """
    check_batch("x", x)
    noise_scale = check_float("noise_scale", noise_scale, low=0.0)
    abar = check_alphas_cumprod(alphas_cumprod)
    ts = check_timesteps(timesteps, len(abar))
    abar_next = next_levels(abar, ts)
    for i, t in enumerate(ts):
        eps = predict_eps(model, x, t)
        noise = draw_noise(x, generator)
        x, x0_hat = ddpm_step(
            x, eps, abar[t].to(x.dtype), abar_next[i].to(x.dtype), noise, noise_scale
        )
        if callback is not None:
            callback(i, t, x, x0_hat)
    return x


@torch.no_grad()
def ddim_sample(
    model: Callable,
    x: torch.Tensor,
    timesteps: Sequence[int],
    alphas_cumprod: torch.Tensor,
    *,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    callback: Callable | None = None,
) -> torch.Tensor:
    """x_next = sqrt(abar_next) x0_hat + sqrt(1 - abar_next - std^2) eps + std z at
    every step: DDIM sampling (Song, Meng, Ermon 2021, eq. 12 with the noise of eq. 16),
    from noise ``x`` (N, ...) to data.

    ``eta = 0`` is the deterministic DDIM sampler, a discretisation of the
    probability-flow ODE (Song et al. 2021, eq. 13); ``eta = 1`` is DDPM. Noise is drawn
    (from ``generator``) only when ``eta > 0``. One network evaluation per timestep.
    """
    check_batch("x", x)
    eta = check_float("eta", eta, low=0.0)
    abar = check_alphas_cumprod(alphas_cumprod)
    ts = check_timesteps(timesteps, len(abar))
    abar_next = next_levels(abar, ts)
    for i, t in enumerate(ts):
        eps = predict_eps(model, x, t)
        noise = draw_noise(x, generator) if eta > 0 else None
        x, x0_hat = ddim_step(
            x, eps, abar[t].to(x.dtype), abar_next[i].to(x.dtype), noise, eta
        )
        if callback is not None:
            callback(i, t, x, x0_hat)
    return x


@torch.no_grad()
def ddim_invert(
    model: Callable,
    x0: torch.Tensor,
    timesteps: Sequence[int],
    alphas_cumprod: torch.Tensor,
    *,
    callback: Callable | None = None,
) -> torch.Tensor:
    """x_next = sqrt(abar_next) x0_hat + sqrt(1 - abar_next) eps, upwards: DDIM
    inversion, the eta = 0 update run backwards from data ``x0`` to noise at
    ``timesteps[0]`` (Song, Meng, Ermon 2021, Sec. 4.3 / eq. 14 integrated from t = 0
    up; Dhariwal and Nichol 2021, App. F).

    ``timesteps`` is the same decreasing list the sampler takes, so ``ddim_sample(model,
    ddim_invert(model, x0, ts, abar), ts, abar)`` returns x0 up to the discretisation
    error. Step k goes from the level of timesteps[-k] (clean data for k = 0) up to
    timesteps[-k-1]; the network is evaluated where the point is now, at the timestep it
    is heading to (the only approximation: the sampler evaluates it at the other end of
    the step).
    """
    check_batch("x0", x0, "data points")
    abar = check_alphas_cumprod(alphas_cumprod)
    ts = check_timesteps(timesteps, len(abar))
    levels = next_levels(abar, ts)
    x = x0
    for k, t in enumerate(reversed(ts)):
        abar_t, abar_next = levels[len(ts) - 1 - k], abar[t]  # here (1: data), and up
        eps = predict_eps(model, x, t)  # (1) the noise, seen from here
        x0_hat = predict_x0(x, eps, abar_t.to(x.dtype))  # (2) predict x0: eq. 12
        x = (
            abar_next.sqrt().to(x.dtype) * x0_hat
            + (1 - abar_next).sqrt().to(x.dtype) * eps
        )  # (3) up to abar_next
        if callback is not None:
            callback(k, t, x, x0_hat)
    return x


@torch.no_grad()
def heun_sample(
    model: Callable,
    x: torch.Tensor,
    timesteps: Sequence[int],
    alphas_cumprod: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callable | None = None,
) -> torch.Tensor:
    """y_next = y + (sigma_next - sigma_t) (eps + eps_next) / 2: Heun's second-order
    method for the probability-flow ODE of the DDPM model (Karras et al. 2022, Algorithm
    1, no churn).

    Variables y = x / sqrt(abar) and sigma_t = :func:`ve_sigma_from_abar` turn the ODE
    into dy/dsigma = eps(x, t) (Karras et al. 2022, eq. 4 with s(t) = 1/sqrt(1 +
    sigma^2)). Each step but the last costs 2 network evaluations; the last (to sigma =
    0) is an Euler step, so len(timesteps) = n gives NFE = 2n - 1. Needs at least 2
    timesteps. Deterministic: ``generator`` is accepted for the common signature and not
    used. (The same method on the flow's ODE is
    :func:`difflab.flow_samplers.flow_heun_sample`.)
    """
    check_batch("x", x)
    abar = check_alphas_cumprod(alphas_cumprod)
    ts = check_timesteps(timesteps, len(abar))
    check_min_steps("heun_sample (its last step is Euler)", ts)
    levels = next_levels(abar, ts)
    for i, t in enumerate(ts):
        abar_t, abar_next = abar[t].to(x.dtype), levels[i].to(x.dtype)
        ve_sigma, ve_sigma_next = (
            ve_sigma_from_abar(abar_t),
            ve_sigma_from_abar(abar_next),
        )
        y = x / abar_t.sqrt()
        eps = predict_eps(model, x, t)  # (1) slope at the start: dy/dsigma = eps
        y_next = y + (ve_sigma_next - ve_sigma) * eps  # (2) Euler step = the DDIM step
        if i + 1 < len(ts):
            x_euler = y_next * abar_next.sqrt()
            eps_next = predict_eps(model, x_euler, ts[i + 1])  # (3) slope at the end
            y_next = (
                y + (ve_sigma_next - ve_sigma) * (eps + eps_next) / 2
            )  # (4) trapezoid
        x = y_next * abar_next.sqrt()
        if callback is not None:
            callback(i, t, x, y - ve_sigma * eps)  # x0_hat at the start of the step
    return x


def dpm_solver_2m_weights(
    timesteps: Sequence[int], alphas_cumprod: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """h_i = lambda_{t_{i+1}} - lambda_{t_i} and w_i = h_i / (2 h_{i-1}): the steps in
    lambda of DPM-Solver++(2M) and the weights of its correction (Lu et al. 2022,
    "DPM-Solver++", Algorithm 2).

    For the steps i = 0..n-2, from ``timesteps[i]`` to ``timesteps[i+1]`` (the last
    step, to clean data, is infinitely long in lambda and always first order, so it is
    left out), with lambda = :func:`~difflab.schedules.log_snr`; the corrected data
    prediction is

        x0_tilde_i = x0_hat_i + w_i (x0_hat_i - x0_hat_{i-1}),

    which is D_i = (1 + 1/(2 r_i)) x0_hat_i - 1/(2 r_i) x0_hat_{i-1}, r_i = h_{i-1}/h_i,
    of Algorithm 2. w_0 = 0: the first step has no history and is first order. A long
    step after a short one (small r_i) gives a large w_i: the correction extrapolates
    far. Returns float64 tensors (n-1,) and (n-1,).
    """
    abar = check_alphas_cumprod(alphas_cumprod)
    ts = check_timesteps(timesteps, len(abar))
    lam = log_snr(abar[ts])
    dlam = lam[1:] - lam[:-1]
    weight = torch.zeros_like(dlam)
    weight[1:] = 1 / (2 * (dlam[:-1] / dlam[1:]))  # 1 / (2 r_i), r_i = h_{i-1} / h_i
    return dlam, weight


def _multistep(model, x, timesteps, alphas_cumprod, step, callback):
    """The loop of DPM-Solver++(2M) and its SDE variant, ``step`` their update (4)."""
    check_batch("x", x)
    abar = check_alphas_cumprod(alphas_cumprod)
    ts = check_timesteps(timesteps, len(abar))
    check_min_steps("DPM-Solver++(2M) (to be second order)", ts)
    levels = next_levels(abar, ts)
    dlam, weight = dpm_solver_2m_weights(ts, abar)  # (2) steps in lambda, (3) weights
    x0_prev = None
    for i, t in enumerate(ts):
        abar_t, abar_next = abar[t], levels[i]
        eps = predict_eps(model, x, t)
        x0_hat = predict_x0(x, eps, abar_t.to(x.dtype))  # (1) data prediction at t
        if i + 1 == len(ts):
            x = x0_hat  # last step, to clean data: the first-order update is x0_hat
        else:
            d = x0_hat if x0_prev is None else corrected_x0(x0_hat, x0_prev, weight[i])
            x = step(x, d, abar_t, abar_next, dlam[i])  # (4)
            x0_prev = x0_hat
        if callback is not None:
            callback(i, t, x, x0_hat)
    return x


@torch.no_grad()
def dpm_solver_2m_sample(
    model: Callable,
    x: torch.Tensor,
    timesteps: Sequence[int],
    alphas_cumprod: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callable | None = None,
) -> torch.Tensor:
    """x_next = sqrt((1 - abar_next) / (1 - abar_t)) x_t - sqrt(abar_next) (e^{-h} - 1)
    x0_tilde at every step: DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm
    2), a second-order multistep solver of the probability-flow ODE in the data
    prediction and lambda (:func:`dpm_solver_2m_step`).

    Each step reuses the previous step's x0_hat, so it costs one network evaluation (NFE
    = len(timesteps)). The first step has no history and the last (to clean data, lambda
    = inf) cannot use it: both are first order, i.e. DDIM steps. Needs at least 2
    timesteps. Deterministic: ``generator`` is accepted for the common signature and not
    used.
    """
    return _multistep(model, x, timesteps, alphas_cumprod, dpm_solver_2m_step, callback)


@torch.no_grad()
def dpm_solver_2m_sde_sample(
    model: Callable,
    x: torch.Tensor,
    timesteps: Sequence[int],
    alphas_cumprod: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callable | None = None,
) -> torch.Tensor:
    """x_next = sqrt((1 - abar_next) / (1 - abar_t)) e^{-h} x_t + sqrt(abar_next) (1 -
    e^{-2h}) x0_tilde + sqrt(1 - abar_next) sqrt(1 - e^{-2h}) z at every step:
    SDE-DPM-Solver++(2M), the same multistep idea for the reverse-time SDE (by the
    DPM-Solver++ authors; diffusers ``algorithm_type="sde-dpmsolver++"``, k-diffusion
    ``sample_dpmpp_2m_sde``; :func:`dpm_solver_2m_sde_step`).

    Like DDPM it injects fresh noise every step, which corrects the errors of earlier
    steps instead of carrying them to the end (Karras et al. 2022, Sec. 4). One network
    evaluation per step; noise from ``generator``. Needs at least 2 timesteps.
    """

    def step(x_t, d, abar_t, abar_next, dlam):  # fresh noise z for every step
        noise = draw_noise(x_t, generator)
        return dpm_solver_2m_sde_step(x_t, d, abar_t, abar_next, dlam, noise)

    return _multistep(model, x, timesteps, alphas_cumprod, step, callback)


#: Every sampler of Chapter 4 under the name the book and the benchmark use, all with
#: the one signature above; "ddpm" and "dpm++2m-sde" draw fresh noise from ``generator``.
SAMPLERS: dict[str, Callable] = {
    "ddpm": ddpm_sample,
    "ddim": ddim_sample,
    "heun": heun_sample,
    "dpm++2m": dpm_solver_2m_sample,
    "dpm++2m-sde": dpm_solver_2m_sde_sample,
}


def sample(
    model: Callable,
    seed: int,
    n: int,
    timesteps: Sequence[int],
    alphas_cumprod: torch.Tensor,
    *,
    sampler: Callable = ddpm_sample,
    dim: int = 2,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """x_0 = sampler(model, x_T, timesteps, alphas_cumprod) from x_T ~ N(0, I): ``n``
    samples (n, dim) from the noise of ``seed``.

    One generator seeded with ``seed`` draws x_T on the CPU (moved to ``device``, so a
    seed gives the same start on every device), then the sampler's fresh noise.
    """
    seed = check_int("seed", seed)
    n, dim = check_int("n", n, low=1), check_int("dim", dim, low=1)
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(n, dim, generator=g).to(device)
    return sampler(model, x_T, timesteps, alphas_cumprod, generator=g)
