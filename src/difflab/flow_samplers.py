"""Samplers of a flow model: the ODE dx/dsigma = v(x, sigma) solved from noise (sigma =
1) down to data (sigma = 0), and the paths they take (the chapter after DDIM).

Notation (book/notation.md, Chapter 4b; diffusers' ``FlowMatchEulerDiscreteScheduler``):

    sigma, sigma_next   the flow's noise level at the start and the end of a step,
                        in [0, 1]
    sigmas              the levels of a run, n + 1 values for n steps, strictly
                        decreasing (k-diffusion's convention; step i goes from
                        sigmas[i] to sigmas[i + 1]); :func:`~difflab.schedules.flow_sigmas`
                        makes them
    v                   v_theta(x, sigma), the model's velocity [model_output]
    x0_hat              x - sigma v, the data the velocity points to

- model: ``model(x, sigma)`` returns v, the shape of x (N, ...); ``sigma`` is a float
  tensor (N,) in x's dtype and on x's device.
- samplers: ``sampler(model, x, sigmas, *, generator=None, callback=None)``.
  ``callback(i, sigma, x, x0_hat)`` sees x after step i, the level sigma that step
  started from and the x0_hat of its start (the samplers of :mod:`difflab.samplers` call
  it the same way, with t in place of sigma). Both samplers here are deterministic:
  ``generator`` is accepted for the common signature and not used.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from ._checks import check_batch, check_prediction, check_sigmas, check_timesteps
from .conversions import flow_x0, vp_to_flow
from .samplers import ddim_sample


def predict_velocity(model: Callable, x: torch.Tensor, sigma) -> torch.Tensor:
    """v_theta(x, sigma): ``model(x, sigma)`` with sigma as a float tensor (N,) in x's
    dtype, its output checked."""
    s = torch.full((x.shape[0],), float(sigma), dtype=x.dtype, device=x.device)
    at = f"sigma={float(sigma):.4g}"
    return check_prediction(model(x, s), x, "a velocity", at)


def euler_step(x: torch.Tensor, v: torch.Tensor, sigma, sigma_next) -> torch.Tensor:
    """x_next = x + (sigma_next - sigma) v: one Euler step of dx/dsigma = v (sigma_next
    < sigma, so it moves against v, towards the data). diffusers'
    ``FlowMatchEulerDiscreteScheduler.step``: prev_sample = sample + dt model_output."""
    return x + (sigma_next - sigma) * v


@torch.no_grad()
def euler_sample(
    model: Callable,
    x: torch.Tensor,
    sigmas: Sequence[float],
    *,
    generator: torch.Generator | None = None,
    callback: Callable | None = None,
) -> torch.Tensor:
    """x_next = x + (sigma_next - sigma) v(x, sigma) at every step: Euler's method on
    dx/dsigma = v(x, sigma) (Liu et al. 2023, Sec. 2.1; diffusers'
    ``FlowMatchEulerDiscreteScheduler``), from noise ``x`` (N, ...) at sigmas[0] to
    sigmas[-1]: one network evaluation per step (NFE = len(sigmas) - 1).
    Deterministic."""
    check_batch("x", x)
    s = check_sigmas(sigmas)
    for i in range(len(s) - 1):
        sigma, sigma_next = s[i].to(x.dtype), s[i + 1].to(x.dtype)
        v = predict_velocity(model, x, s[i])  # (1) the slope where we stand
        x_start, x = x, euler_step(x, v, sigma, sigma_next)  # (2) follow it
        if callback is not None:
            callback(i, s[i].item(), x, flow_x0(x_start, v, sigma))
    return x


@torch.no_grad()
def flow_heun_sample(
    model: Callable,
    x: torch.Tensor,
    sigmas: Sequence[float],
    *,
    generator: torch.Generator | None = None,
    callback: Callable | None = None,
) -> torch.Tensor:
    """x_next = x + (sigma_next - sigma) (v + v_next) / 2: Heun's second-order method on
    the flow's ODE dx/dsigma = v(x, sigma) (Karras et al. 2022, Algorithm 1 without
    churn; in their variables this ODE has s(t) = 1 - sigma, but the steps (1)-(4) are
    the same).

    An Euler step, the slope at its end, then the step again with the mean of the two
    slopes. A step that ends at sigma = 0 stays Euler (the velocity is not needed
    there), so n steps ending at 0 cost NFE = 2n - 1. Deterministic. (Chapter 4's
    :func:`difflab.samplers.heun_sample` is the same method on the DDPM model's ODE.)
    """
    check_batch("x", x)
    s = check_sigmas(sigmas)
    for i in range(len(s) - 1):
        sigma, sigma_next = s[i].to(x.dtype), s[i + 1].to(x.dtype)
        v = predict_velocity(model, x, s[i])  # (1) slope at the start
        x_next = euler_step(x, v, sigma, sigma_next)  # (2) Euler step
        if s[i + 1] > 0:
            v_next = predict_velocity(model, x_next, s[i + 1])  # (3) slope at the end
            x_next = euler_step(x, (v + v_next) / 2, sigma, sigma_next)  # (4) trapezoid
        x_start, x = x, x_next
        if callback is not None:
            callback(i, s[i].item(), x, flow_x0(x_start, v, sigma))
    return x


#: The flow samplers under the names the book uses, all with the one flow signature.
FLOW_SAMPLERS: dict[str, Callable] = {"euler": euler_sample, "heun": flow_heun_sample}


def sample_path(
    sampler: Callable, model: Callable, x: torch.Tensor, sigmas: Sequence[float]
) -> torch.Tensor:
    """x_{sigma_0}, ..., x_{sigma_n}: the positions of a sampled path, (len(sigmas), N,
    ...), the start ``x`` and x after every step (recorded with the sampler's
    ``callback``), for plots and :func:`~difflab.metrics.path_straightness`."""
    path = [x]
    sampler(model, x, sigmas, callback=lambda i, sigma, x_, x0_hat: path.append(x_))
    return torch.stack(path)


def ddim_path(
    model: Callable,
    x: torch.Tensor,
    timesteps: Sequence[int],
    alphas_cumprod: torch.Tensor,
) -> torch.Tensor:
    """x_t / (sqrt(abar_t) + sqrt(1 - abar_t)) along DDIM's path (eta = 0) from ``x`` on
    an epsilon model: every point moved into flow coordinates with
    :func:`~difflab.conversions.vp_to_flow`, where DDIM follows the flow ODE;
    (len(timesteps) + 1, N, ...), like :func:`sample_path`."""
    ts = check_timesteps(timesteps, len(alphas_cumprod))
    abar = torch.as_tensor(alphas_cumprod)
    abar_next = [abar[t] for t in ts[1:]] + [abar.new_ones(())]  # where each step lands
    path = [vp_to_flow(x, abar[ts[0]])[0]]
    keep = lambda i, t, x_, x0: path.append(vp_to_flow(x_, abar_next[i])[0])
    ddim_sample(model, x, ts, abar, callback=keep)
    return torch.stack(path)
