"""Samplers: plain functions with one signature,

    sampler(model, x, timesteps, alphas_cumprod, *, generator=None, callback=None, ...)

``model(x, t)`` is any callable returning the predicted noise epsilon, shape of ``x``, with
``t`` a LongTensor (N,): a trained network, the exact optimal denoiser
(:mod:`difflab.denoisers`) or a guided wrapper (:mod:`difflab.guidance`).
``timesteps`` is a strictly decreasing sequence of ints in [0, T-1]; step i goes from
``timesteps[i]`` to ``timesteps[i+1]``, and the last step goes to clean data (alpha_bar = 1).
``generator`` (a CPU ``torch.Generator``) gives the fresh noise of the stochastic samplers; the
deterministic ones accept it and draw nothing. Noise is drawn on the CPU and moved to ``x``'s
device, so a seed gives the same draws on every device. ``callback(i, t, x, x0_hat)`` sees
every step. :data:`SAMPLERS` names them all.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from ._checks import check_float, check_int
from .schedules import sigma_from_abar


def check_timesteps(timesteps: Sequence[int], T: int) -> list[int]:
    """The timesteps as a list of ints, or a clear error if they are not strictly decreasing in [0, T-1]."""
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
    for i in range(len(ts) - 1):
        if ts[i + 1] >= ts[i]:
            raise ValueError(
                f"timesteps must be strictly decreasing, but timesteps[{i}]={ts[i]} is followed "
                f"by timesteps[{i + 1}]={ts[i + 1]}"
            )
    return ts


def predict_eps(model: Callable, x: torch.Tensor, t: int) -> torch.Tensor:
    """Call ``model(x, t)`` with t as a LongTensor (N,), and check what comes back."""
    eps = model(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))
    if not isinstance(eps, torch.Tensor) or eps.shape != x.shape:
        shape = (
            tuple(eps.shape) if isinstance(eps, torch.Tensor) else type(eps).__name__
        )
        raise ValueError(
            f"the model returned {shape} at t={t}; expected epsilon of the shape of x, {tuple(x.shape)}"
        )
    if not torch.isfinite(eps).all():
        raise FloatingPointError(f"the model returned NaN or inf at t={t}")
    return eps


def _check_x(x):
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"x has shape {shape}; expected a batch (N, ...) of N >= 1 noise samples"
        )


def predict_x0(
    x_t: torch.Tensor, eps: torch.Tensor, abar_t: torch.Tensor
) -> torch.Tensor:
    """x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t): the closed form solved for x0 (Ho et al. 2020, eq. 15)."""
    return (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()


def ddpm_step(
    x_t: torch.Tensor,
    eps: torch.Tensor,
    abar_t: torch.Tensor,
    abar_prev: torch.Tensor,
    noise: torch.Tensor,
    noise_scale: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One reverse step x_t -> x_prev of DDPM; returns (x_prev, x0_hat).

    (1) predict x0 (eq. 15); (2) the mean of the posterior q(x_prev | x_t, x0) (eq. 7);
    (3) add noise with its variance beta_tilde (eq. 7). With skipped steps, beta is the
    effective 1 - abar_t / abar_prev. ``noise_scale=0`` removes the noise (Chapter 3's collapse).
    """
    beta = 1 - abar_t / abar_prev
    x0_hat = predict_x0(x_t, eps, abar_t)  # (1)
    mean = (
        abar_prev.sqrt() * beta * x0_hat + (1 - beta).sqrt() * (1 - abar_prev) * x_t
    ) / (1 - abar_t)  # (2)
    var = (
        (1 - abar_prev) / (1 - abar_t) * beta
    )  # (3) beta_tilde; 0 on the last step to clean data
    return mean + noise_scale * var.sqrt() * noise, x0_hat


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
        x, x0_hat = ddpm_step(
            x, eps, abar_t.to(x.dtype), abar_prev.to(x.dtype), noise, noise_scale
        )
        if callback is not None:
            callback(i, t, x, x0_hat)
    return x


# ---------------------------------------------------------------------------------------------
# Chapter 4: DDIM, the probability-flow ODE, and few-step solvers
# ---------------------------------------------------------------------------------------------

SPACINGS = ("linspace", "leading", "trailing", "quadratic", "karras")


def spaced_timesteps(
    T: int,
    n_steps: int,
    spacing: str = "trailing",
    alphas_cumprod: torch.Tensor | None = None,
    rho: float = 7.0,
) -> list[int]:
    """``n_steps`` strictly decreasing timesteps out of T, for the samplers above.

    - "linspace": round(linspace(0, T-1, n)), reversed: uniform, from T-1 down to 0 (diffusers' "linspace").
    - "leading":  (T // n) * i for i = n-1..0: uniform, starts below T-1 (diffusers' "leading", the DDIM paper's).
    - "trailing": round(T - i T / n) - 1 for i = 0..n-1: uniform, starts at T-1 (diffusers' "trailing";
      Lin et al. 2024, Table 2).
    - "quadratic": floor(c i^2) with c = (T-1)/(n-1)^2, more steps near the data (Song, Meng, Ermon 2021, App. D.2).
    - "karras": sigma_i = (s_max^(1/rho) + i/(n-1) (s_min^(1/rho) - s_max^(1/rho)))^rho (Karras et al. 2022,
      eq. 5), mapped to the nearest timestep by sigma_t = sqrt((1 - abar_t) / abar_t); needs ``alphas_cumprod``.
    """
    T = check_int("T", T, low=1)
    n_steps = check_int("n_steps", n_steps, low=1, high=T)
    if spacing == "linspace":
        ts = (
            torch.linspace(0, T - 1, n_steps, dtype=torch.float64)
            .round()
            .long()
            .flip(0)
        )
    elif spacing == "leading":
        ts = (torch.arange(n_steps) * (T // n_steps)).flip(0)
    elif spacing == "trailing":
        ts = (
            torch.arange(T, 0, -T / n_steps, dtype=torch.float64)[:n_steps].round() - 1
        ).long()
    elif spacing == "quadratic":
        i = torch.arange(n_steps, dtype=torch.float64)
        ts = (i**2 * (T - 1) / max(n_steps - 1, 1) ** 2).floor().long().flip(0)
    elif spacing == "karras":
        if alphas_cumprod is None or len(alphas_cumprod) != T:
            raise ValueError(f"spacing='karras' needs alphas_cumprod of length T={T}")
        log_s = sigma_from_abar(alphas_cumprod).log()  # (T,) increasing in t
        ramp = torch.linspace(0, 1, n_steps, dtype=torch.float64)
        lo, hi = log_s[0].exp() ** (1 / rho), log_s[-1].exp() ** (1 / rho)
        target = (hi + ramp * (lo - hi)) ** rho  # (n,) from sigma_max down to sigma_min
        ts = (log_s[None, :] - target.log()[:, None]).abs().argmin(1)
    else:
        raise ValueError(
            f"spacing={spacing!r} is not known; allowed: {', '.join(SPACINGS)}"
        )
    ts = ts.tolist()
    for i in range(
        n_steps - 2, -1, -1
    ):  # near the data several steps can round to one timestep: push them apart
        ts[i] = max(ts[i], ts[i + 1] + 1)
    if ts[0] > T - 1:
        raise ValueError(
            f"spacing={spacing!r} cannot place {n_steps} distinct steps in T={T}"
        )
    return ts


def log_snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """lambda = log(sqrt(abar) / sqrt(1 - abar)) = -log(sigma), half the log-SNR.

    The time variable of DPM-Solver (Lu et al. 2022, "DPM-Solver++", Algorithm 2, whose
    steps are h_i = lambda_{t_i} - lambda_{t_{i-1}}). +inf at abar = 1 (clean data).
    Elementwise, in the dtype of the input.
    """
    a = torch.as_tensor(alphas_cumprod)
    return 0.5 * (a / (1 - a)).log()


def _schedule(alphas_cumprod, timesteps):
    """alphas_cumprod as float64 (T,) and the checked timesteps; each step's target abar (1 after the last)."""
    abar = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    if abar.ndim != 1 or not ((abar > 0) & (abar <= 1)).all():
        raise ValueError(
            f"alphas_cumprod must be a 1-D tensor of values in (0, 1]; got shape {tuple(abar.shape)}"
        )
    ts = check_timesteps(timesteps, len(abar))
    targets = [abar[s] for s in ts[1:]] + [torch.ones((), dtype=torch.float64)]
    return abar, ts, targets


def ddim_sigma(
    abar_t: torch.Tensor, abar_prev: torch.Tensor, eta: float
) -> torch.Tensor:
    """DDIM's noise eta sqrt(beta_tilde_t), i.e.
    eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev)
    (Song, Meng, Ermon 2021, eq. 16, where it is called sigma_t(eta): the DDIM paper's
    sigma_t; the book keeps sigma for :func:`~difflab.schedules.sigma_from_abar`). eta = 1: DDPM's posterior
    standard deviation; eta = 0: DDIM."""
    return eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).sqrt()


def ddim_step(
    x_t: torch.Tensor,
    eps: torch.Tensor,
    abar_t: torch.Tensor,
    abar_prev: torch.Tensor,
    noise: torch.Tensor | None = None,
    eta: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step x_t -> x_prev of DDIM (Song, Meng, Ermon 2021, eq. 12); returns (x_prev, x0_hat).

    x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps + sigma noise,
    with sigma = :func:`ddim_sigma` (the DDIM paper's sigma_t, eq. 16; not
    :func:`~difflab.schedules.sigma_from_abar`).
    With ``eta = 0`` (no noise needed) the step is deterministic.
    """
    sigma = ddim_sigma(abar_t, abar_prev, eta)
    x0_hat = predict_x0(
        x_t, eps, abar_t
    )  # (1) predict x0 — eq. 12, first term (eq. 9 solved for x0)
    direction = (1 - abar_prev - sigma**2).clamp_min(
        0
    ).sqrt() * eps  # (2) direction pointing to x_t — eq. 12
    x_prev = abar_prev.sqrt() * x0_hat + direction
    if eta > 0:
        x_prev = x_prev + sigma * noise  # (3) random noise — eq. 12, last term
    return x_prev, x0_hat


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
    """DDIM sampling (Song, Meng, Ermon 2021, eq. 12 with the noise of eq. 16, the DDIM
    paper's sigma_t), from noise ``x`` (N, ...) to data.

    ``eta = 0`` is the deterministic DDIM sampler, a discretisation of the probability-flow ODE
    (Song et al. 2021, eq. 13); ``eta = 1`` is DDPM. Noise is drawn (from ``generator``) only
    when ``eta > 0``. One network evaluation per timestep. ``callback(i, t, x, x0_hat)``.
    """
    _check_x(x)
    eta = check_float("eta", eta, low=0.0)
    abar, ts, targets = _schedule(alphas_cumprod, timesteps)
    for i, t in enumerate(ts):
        eps = predict_eps(model, x, t)
        noise = (
            torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            if eta > 0
            else None
        )
        x, x0_hat = ddim_step(
            x, eps, abar[t].to(x.dtype), targets[i].to(x.dtype), noise, eta
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
    """DDIM inversion: run the eta = 0 update backwards, data ``x0`` -> noise at ``timesteps[0]``
    (Song, Meng, Ermon 2021, Sec. 4.3 / eq. 14 integrated from t = 0 up; Dhariwal and Nichol 2021, App. F).

    ``timesteps`` is the same decreasing list the sampler takes, so ``ddim_sample(model,
    ddim_invert(model, x0, ts, abar), ts, abar)`` returns x0 up to the discretisation error.
    Step k goes from the level of timesteps[-k] (clean data for k = 0) up to timesteps[-k-1]; the
    network is evaluated where the point is now, at the timestep it is heading to (the only
    approximation: the sampler evaluates it at the other end of the step).
    """
    _check_x(x0)
    abar, ts, targets = _schedule(alphas_cumprod, timesteps)
    x = x0
    for k, t in enumerate(reversed(ts)):
        abar_from = targets[len(ts) - 1 - k]  # where x is now (1 = clean data)
        eps = predict_eps(model, x, t)  # (1) the noise, seen from here
        x0_hat = predict_x0(x, eps, abar_from.to(x.dtype))  # (2) predict x0 — eq. 12
        x = (
            abar[t].sqrt().to(x.dtype) * x0_hat + (1 - abar[t]).sqrt().to(x.dtype) * eps
        )  # (3) up to abar_t
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
    """Heun's second-order method for the probability-flow ODE (Karras et al. 2022, Algorithm 1, no churn).

    Variables y = x / sqrt(abar) and sigma = sqrt((1 - abar) / abar) turn the ODE into
    dy/dsigma = eps(x, t) (Karras et al. 2022, eq. 4 with s(t) = 1/sqrt(1 + sigma^2)). Each step but
    the last costs 2 network evaluations; the last (to sigma = 0) is an Euler step, so
    len(timesteps) = n gives NFE = 2n - 1. Needs at least 2 timesteps. Deterministic: ``generator``
    is accepted for the common signature and not used.
    """
    _check_x(x)
    abar, ts, targets = _schedule(alphas_cumprod, timesteps)
    if len(ts) < 2:
        raise ValueError(
            f"heun_sample needs at least 2 timesteps (its last step is Euler); got {ts}"
        )
    sig = sigma_from_abar
    for i, t in enumerate(ts):
        a_t, a_next = abar[t].to(x.dtype), targets[i].to(x.dtype)
        y = x / a_t.sqrt()
        eps = predict_eps(model, x, t)  # (1) slope at the start: dy/dsigma = eps
        y_next = y + (sig(a_next) - sig(a_t)) * eps  # (2) Euler step = the DDIM step
        if i + 1 < len(ts):
            eps_next = predict_eps(
                model, y_next * a_next.sqrt(), ts[i + 1]
            )  # (3) slope at the end
            y_next = (
                y + (sig(a_next) - sig(a_t)) * (eps + eps_next) / 2
            )  # (4) trapezoid: second order
        x = y_next * a_next.sqrt()
        if callback is not None:
            callback(i, t, x, y - sig(a_t) * eps)  # x0_hat at the start of the step
    return x


def dpm_solver_2m_weights(
    timesteps: Sequence[int], alphas_cumprod: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The steps in lambda of DPM-Solver++(2M) and the weights of its correction.

    For the steps i = 0..n-2, from ``timesteps[i]`` to ``timesteps[i+1]`` (the last
    step, to clean data, is infinitely long in lambda and always first order, so it is
    left out): Delta lambda_i = lambda(timesteps[i+1]) - lambda(timesteps[i]) with
    lambda = :func:`log_snr`, and the weight w_i of the corrected data prediction,

        x0_tilde_i = x0_hat_i + w_i (x0_hat_i - x0_hat_{i-1}),
        w_i = Delta lambda_i / (2 Delta lambda_{i-1}),

    which is D_i = (1 + 1/(2 r_i)) x0_hat_i - 1/(2 r_i) x0_hat_{i-1}, r_i = h_{i-1}/h_i,
    of Lu et al. 2022 ("DPM-Solver++", Algorithm 2). w_0 = 0: the first step has no
    history and is first order. A long step after a short one (small r_i) gives a large
    w_i: the correction extrapolates far. These are the numbers used by
    :func:`dpm_solver_2m_sample` and :func:`dpm_solver_2m_sde_sample`. Returns float64
    tensors (n-1,) and (n-1,).
    """
    abar, ts, _ = _schedule(alphas_cumprod, timesteps)
    lam = log_snr(abar[ts])
    dlam = lam[1:] - lam[:-1]
    weight = torch.zeros_like(dlam)
    weight[1:] = 1 / (2 * (dlam[:-1] / dlam[1:]))  # 1 / (2 r_i), r_i = h_{i-1} / h_i
    return dlam, weight


def _dpm_solver_2m(model, x, timesteps, alphas_cumprod, generator, sde: bool, callback):
    """The loop shared by DPM-Solver++(2M) and its SDE variant; ``sde`` picks the update (4)."""
    _check_x(x)
    abar, ts, targets = _schedule(alphas_cumprod, timesteps)
    if len(ts) < 2:
        raise ValueError(
            f"DPM-Solver++(2M) needs at least 2 timesteps to be second order; got {ts}"
        )
    dlam, weight = dpm_solver_2m_weights(ts, abar)  # (2) steps in lambda, (3) weights
    x0_prev = None
    for i, t in enumerate(ts):
        a_t, a_next = abar[t], targets[i]
        eps = predict_eps(model, x, t)
        x0_hat = predict_x0(x, eps, a_t.to(x.dtype))  # (1) data prediction at t
        if i + 1 == len(ts):
            x = x0_hat  # last step to clean data: sigma = 0, the first-order update returns x0_hat
        else:
            h = dlam[i]  # (2) step in lambda
            if x0_prev is None:
                d = x0_hat  # (3) first step: no history, first order
            else:
                w = weight[i]  # (3) D = (1 + w) x0_hat - w x0_prev, w = 1/(2r) (Alg. 2)
                d = (1 + w).to(x.dtype) * x0_hat - w.to(x.dtype) * x0_prev
            ratio = ((1 - a_next) / (1 - a_t)).sqrt()  # sigma_next / sigma_t
            if not sde:  # (4) ODE: the linear part solved exactly
                x = (
                    ratio.to(x.dtype) * x
                    - (a_next.sqrt() * torch.expm1(-h)).to(x.dtype) * d
                )
            else:  # (4) SDE: keep less of x, more of D, and add fresh noise of variance sigma_next^2 (1 - e^{-2h})
                z = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(
                    x.device
                )
                x = (
                    (ratio * torch.exp(-h)).to(x.dtype) * x
                    - (a_next.sqrt() * torch.expm1(-2 * h)).to(x.dtype) * d
                    + ((1 - a_next) * -torch.expm1(-2 * h)).sqrt().to(x.dtype) * z
                )
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
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): a second-order multistep solver
    of the probability-flow ODE in the data prediction x0_hat and lambda = log(alpha / sigma).

    Each step reuses the previous step's x0_hat, so it costs one network evaluation (NFE =
    len(timesteps)). The first step has no history and the last (to clean data, lambda = inf) cannot
    use it: both are first order, i.e. DDIM steps. Needs at least 2 timesteps. Deterministic:
    ``generator`` is accepted for the common signature and not used.
    """
    return _dpm_solver_2m(model, x, timesteps, alphas_cumprod, None, False, callback)


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
    """SDE-DPM-Solver++(2M): the same multistep idea for the reverse-time SDE instead of the ODE
    (by the DPM-Solver++ authors; diffusers ``algorithm_type="sde-dpmsolver++"``, k-diffusion
    ``sample_dpmpp_2m_sde``). With h = lambda_next - lambda_t (the book's Delta lambda),
    alpha = sqrt(abar), sigma = sqrt(1 - abar) (DPM-Solver's names, not
    :func:`~difflab.schedules.sigma_from_abar`) and D the corrected x0_hat (the book's x0_tilde; see
    :func:`dpm_solver_2m_weights`):

        x_next = (sigma_next / sigma_t) e^{-h} x + alpha_next (1 - e^{-2h}) D + sigma_next sqrt(1 - e^{-2h}) z.

    Its first-order step (D = x0_hat) is exactly DDPM's posterior step (eq. 7 of Ho et al. 2020).
    Like DDPM it injects fresh noise every step, which corrects the errors of earlier steps instead
    of carrying them to the end (Karras et al. 2022, Sec. 4). One network evaluation per step; noise
    from ``generator``. Needs at least 2 timesteps.
    """
    return _dpm_solver_2m(
        model, x, timesteps, alphas_cumprod, generator, True, callback
    )


#: Every sampler of Chapter 4 under the name the book and the benchmark use, all with the one
#: signature above; "ddpm" and "dpm++2m-sde" draw fresh noise from ``generator``.
SAMPLERS: dict[str, Callable] = {
    "ddpm": ddpm_sample,
    "ddim": ddim_sample,
    "heun": heun_sample,
    "dpm++2m": dpm_solver_2m_sample,
    "dpm++2m-sde": dpm_solver_2m_sde_sample,
}
