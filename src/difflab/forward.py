"""The forward process simulated one step at a time: the random walks of Chapter 2.

Both walks return a *path*: ``path[k]`` is the position after k steps (``path[0]`` is the
start). For the variance-preserving walk, ``path[k]`` has the distribution that
:func:`difflab.schedules.q_sample` gives in closed form at ``t = k - 1``.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ._checks import check_float, check_int
from .schedules import _check_betas


def q_step(
    x_prev: torch.Tensor, beta: float | torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """One step of the variance-preserving walk (Ho et al. 2020, eq. 2):
    x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) noise."""
    beta = torch.as_tensor(beta, dtype=x_prev.dtype, device=x_prev.device)
    return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise


def _walk(x0, n_steps, step, keep, generator):
    n_steps = check_int("n_steps", n_steps, low=1)
    keep = (
        list(range(n_steps + 1))
        if keep is None
        else [check_int("keep[i]", k, low=0, high=n_steps) for k in keep]
    )
    wanted = set(keep)
    x = torch.as_tensor(x0).clone()
    snapshots = {0: x.clone()} if 0 in wanted else {}
    for k in range(1, max(keep, default=0) + 1):
        noise = torch.randn(
            x.shape, generator=generator, dtype=x.dtype, device="cpu"
        ).to(x.device)
        x = step(k - 1, x, noise)
        if k in wanted:
            snapshots[k] = x.clone()
    return torch.stack([snapshots[k] for k in keep])  # (len(keep), *x0.shape)


def random_walk(
    x0: torch.Tensor,
    n_steps: int,
    step_std: float,
    *,
    keep: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The plain random walk x_k = x_{k-1} + step_std * noise: Brownian motion in discrete steps.

    Its variance grows without bound: Var(x_k) = Var(x_0) + k step_std^2.
    Returns the path at the step counts ``keep`` (default: all, 0..n_steps): (len(keep), *x0.shape).
    """
    step_std = check_float("step_std", step_std, low=0.0)
    return _walk(x0, n_steps, lambda k, x, noise: x + step_std * noise, keep, generator)


def forward_walk(
    x0: torch.Tensor,
    betas: torch.Tensor,
    *,
    keep: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The variance-preserving walk of DDPM: ``len(betas)`` steps of :func:`q_step`.

    Each step shrinks the point by sqrt(1 - beta_t) before adding noise of variance beta_t,
    so the walk ends close to N(0, I) whatever the start.
    Returns the path at the step counts ``keep`` (default: all, 0..T): (len(keep), *x0.shape).
    """
    betas = _check_betas(betas)
    return _walk(
        x0, len(betas), lambda k, x, noise: q_step(x, betas[k], noise), keep, generator
    )
