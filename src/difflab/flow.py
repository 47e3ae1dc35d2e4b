"""Flow matching: the straight line between data and noise, the velocity along it, and
the losses that learn it (the chapter after DDIM).

Notation (diffusers' ``FlowMatchEulerDiscreteScheduler`` and Stable Diffusion 3, Esser
et al. 2024, Sec. 3, where it is written z_t = (1 - t) x_0 + t epsilon):

    x_sigma = (1 - sigma) x0 + sigma eps      sigma in [0, 1]: 1 is pure noise, 0 is data
    v       = d x_sigma / d sigma = eps - x0   the velocity a network learns by regression

Rectified flow (Liu et al. 2023), flow matching with this straight path (Lipman et al.
2023, who run time the other way, t = 1 - sigma, and end at a small sigma_min instead of
0) and stochastic interpolants (Albergo and Vanden-Eijnden 2023) all learn this v.
Sampling solves dx/dsigma = v(x, sigma) from sigma = 1 down to 0.

- model: ``model(x, sigma)`` returns v, the shape of x (N, ...); ``sigma`` is a float
  tensor (N,) in x's dtype and on x's device (a network:
  :class:`~difflab.models.mlp.VelocityMLP`; the exact field of a data set:
  :class:`~difflab.denoisers.ExactVelocity`).
- losses: ``loss_fn(model, batch, generator)`` for :func:`difflab.training.train`.

The rest of the flow lives where its concern does, and is importable from here too: the
samplers in :mod:`difflab.flow_samplers`, the noise levels (``flow_sigmas``,
``shift_sigmas``) in :mod:`difflab.schedules`, the exact velocity in
:mod:`difflab.denoisers`, the VP <-> flow conversions (``vp_levels``) in
:mod:`difflab.conversions` and ``path_straightness`` in :mod:`difflab.metrics`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from ._checks import (
    check_batch,
    check_choice,
    check_float,
    check_int,
    check_pair,
    check_same_shape,
    check_sigmas,
    per_row,
)
from .flow_samplers import euler_sample

SIGMA_SAMPLINGS = ("uniform", "logit_normal")


def interpolate(x0: torch.Tensor, eps: torch.Tensor, sigma) -> torch.Tensor:
    """x_sigma = (1 - sigma) x0 + sigma eps: the straight line from data (sigma = 0) to
    noise (sigma = 1) (Liu et al. 2023, eq. 1; Esser et al. 2024, Sec. 3). ``sigma``: a
    number or (N,)."""
    check_same_shape("eps", eps, "x0", x0)
    sigma = per_row("sigma", sigma, x0)  # broadcasts over x0
    return (1 - sigma) * x0 + sigma * eps


def velocity_target(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """v = d x_sigma / d sigma = eps - x0: the same at every sigma of one line (Liu et
    al. 2023, eq. 1, with X_0 = noise written eps here and X_1 = data written x0)."""
    check_same_shape("eps", eps, "x0", x0)
    return eps - x0


def sample_sigma(
    n: int,
    generator: torch.Generator,
    sigma_sampling: str = "uniform",
    *,
    loc: float = 0.0,
    scale: float = 1.0,
) -> torch.Tensor:
    """sigma ~ U(0, 1) or sigma = sigmoid(loc + scale z), z ~ N(0, 1): ``n`` training
    noise levels (n,), float32 on the CPU.

    - "uniform": sigma ~ U(0, 1) (Liu et al. 2023; Lipman et al. 2023).
    - "logit_normal": sigma = 1 / (1 + exp(-(loc + scale z))), z ~ N(0, 1), whose
      density is pi_ln(sigma; m, s) = 1 / (s sqrt(2 pi)) 1 / (sigma (1 - sigma))
      exp(-(logit(sigma) - m)^2 / (2 s^2)) with m = ``loc``, s = ``scale`` (Esser et al.
      2024, Sec. 3.1, "Logit-Normal Sampling"): more training at the middle levels.
    """
    n = check_int("n", n, low=1)
    check_choice("sigma_sampling", sigma_sampling, SIGMA_SAMPLINGS)
    if sigma_sampling == "uniform":
        return torch.rand(n, generator=generator)
    loc = check_float("loc", loc)
    scale = check_float("scale", scale, low=0.0, low_open=True)
    return torch.sigmoid(loc + scale * torch.randn(n, generator=generator))


def _regression(model, x0, eps, generator, sigma_sampling, loc, scale) -> torch.Tensor:
    """E || v_theta(x_sigma, sigma) - (eps - x0) ||^2 over the batch (mean per
    coordinate)."""
    sigma = sample_sigma(x0.shape[0], generator, sigma_sampling, loc=loc, scale=scale)
    sigma = sigma.to(device=x0.device, dtype=x0.dtype)
    x = interpolate(x0, eps, sigma)  # (B, ...)
    return ((model(x, sigma) - velocity_target(x0, eps)) ** 2).mean()


def flow_loss(
    model,
    x0: torch.Tensor,
    generator: torch.Generator,
    *,
    sigma_sampling: str = "uniform",
    loc: float = 0.0,
    scale: float = 1.0,
) -> torch.Tensor:
    """E_{sigma, x0, eps} || v_theta(x_sigma, sigma) - (eps - x0) ||^2: the
    (conditional) flow-matching loss, x_sigma = (1 - sigma) x0 + sigma eps (Liu et al.
    2023, eq. 1; Lipman et al. 2023, Sec. 4.1, with their straight "OT" path), with
    noise eps ~ N(0, I) drawn independently of x0 and sigma from :func:`sample_sigma`.
    For :func:`difflab.training.train`; bind the keywords with ``functools.partial``."""
    check_batch("x0", x0, "data points")
    eps = torch.randn(x0.shape, generator=generator).to(
        device=x0.device, dtype=x0.dtype
    )
    return _regression(model, x0, eps, generator, sigma_sampling, loc, scale)


def flow_loss_cond(
    model,
    batch: tuple[torch.Tensor, torch.Tensor],
    generator: torch.Generator,
    *,
    p_uncond: float = 0.1,
    sigma_sampling: str = "uniform",
    loc: float = 0.0,
    scale: float = 1.0,
) -> torch.Tensor:
    """E || v_theta(x_sigma, sigma, c) - (eps - x0) ||^2: :func:`flow_loss` with a
    condition, ``batch`` = (x0 (B, ...), cond (B, ...), e.g. token states), of which a share
    ``p_uncond`` of rows is replaced by zeros, "no condition", so that one network learns
    both predictions classifier-free guidance needs (Ho and Salimans 2022, Algorithm 1;
    flow matching with text as Esser et al. 2024 train SD3)."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(f"batch must be a pair (x0, cond); got {type(batch).__name__}")
    x0, cond = batch
    p_uncond = check_float("p_uncond", p_uncond, low=0.0, high=1.0)
    n = x0.shape[0]
    drop = (torch.rand(n, generator=generator) < p_uncond).to(cond.device)
    cond = torch.where(drop.view(n, *[1] * (cond.ndim - 1)), 0.0, cond)
    eps = torch.randn(x0.shape, generator=generator).to(
        device=x0.device, dtype=x0.dtype
    )
    conditioned = lambda x, sigma: model(x, sigma, cond)  # noqa: E731
    return _regression(conditioned, x0, eps, generator, sigma_sampling, loc, scale)


def reflow_loss(
    model,
    batch: tuple[torch.Tensor, torch.Tensor],
    generator: torch.Generator,
    *,
    sigma_sampling: str = "uniform",
    loc: float = 0.0,
    scale: float = 1.0,
) -> torch.Tensor:
    """E_{sigma, (x0, eps)} || v_theta(x_sigma, sigma) - (eps - x0) ||^2 on *fixed*
    pairs: ``batch`` = (x0 (B, ...), eps (B, ...)), where x0 is where the ODE of a
    trained flow carries the noise eps (:func:`reflow_pairs`). Training on this coupling
    instead of independent (x0, eps) is "reflow" (Liu et al. 2023, Algorithm 1; their
    Z^{k+1} = RectFlow((Z_0^k, Z_1^k))): the pairs' straight lines cross less, so the
    new flow's paths are straighter and few Euler steps go further."""
    x0, eps = check_pair("batch", batch)
    return _regression(model, x0, eps, generator, sigma_sampling, loc, scale)


@torch.no_grad()
def reflow_pairs(
    model: Callable,
    n: int,
    sigmas: Sequence[float],
    generator: torch.Generator,
    *,
    dim: int = 2,
    sampler: Callable = euler_sample,
    batch_size: int = 4096,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, eps) = (Phi(eps), eps): ``n`` pairs coupled by the model's own ODE: eps ~
    N(0, I) of shape (n, dim), drawn on the CPU from ``generator``, and x0 =
    ``sampler(model, eps, sigmas)`` run on ``device`` in batches. The data of reflow
    (Liu et al. 2023, Algorithm 1: draw (Z_0, Z_1) from the flow, then train a new one
    on them; :func:`reflow_loss`). Returns CPU tensors (x0, eps), each (n, dim)."""
    n = check_int("n", n, low=1)
    dim = check_int("dim", dim, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    sigmas = check_sigmas(sigmas)
    _check_whole_path(sigmas)
    eps = torch.randn(n, dim, generator=generator)
    x0 = torch.cat(
        [
            sampler(model, eps[i : i + batch_size].to(device), sigmas).cpu()
            for i in range(0, n, batch_size)
        ]
    )
    return x0, eps


def _check_whole_path(sigmas: torch.Tensor) -> None:
    if sigmas[0] != 1 or sigmas[-1] != 0:
        raise ValueError(
            f"sigmas run from {sigmas[0].item()} to {sigmas[-1].item()}; reflow pairs need "
            f"the whole path, from 1 (noise) to 0 (data)"
        )
