"""One table of conversions between every prediction the book meets, and between its two
time variables (the chapter after DDIM).

At a point of the VP forward process x_t = a x0 + b eps with a = sqrt(abar), b = sqrt(1
- abar) (Ho et al. 2020, eq. 4; a^2 + b^2 = 1), a network may predict any of

    name        what                                         from (x0, eps)     eps from it
    "eps"       the noise (Ho et al. 2020, eq. 14)           eps                eps
    "x0"        the clean data (Ho et al. 2020, eq. 15)      x0                 (x_t - a x0) / b
    "v"         Salimans and Ho 2022, Sec. 4 / App. D        a eps - b x0       a v + b x_t
    "score"     grad_x log q(x_t) (Song et al. 2021)         -eps / b           -b score
    "velocity"  the flow's dx_sigma/dsigma (flow matching)   eps - x0           (x_t + a vel) / (a + b)

and, given x_t and abar, each one determines the others: :func:`convert`. Time: the
flow's x_sigma = (1 - sigma) x0 + sigma eps (:mod:`difflab.flow`) is the same point
rescaled,

    x_t / (a + b) = x_sigma  at  sigma = b / (a + b),

because x_t / (a + b) = a / (a + b) x0 + b / (a + b) eps and the two weights add up to
1; backwards, abar = (1 - sigma)^2 / ((1 - sigma)^2 + sigma^2). The noise level of the
VE view (:func:`difflab.schedules.ve_sigma_from_abar`, Karras et al. 2022) is b / a =
sigma / (1 - sigma). Every function is elementwise; abar and sigma are numbers or
tensors (N,) (one per row of x), with abar in (0, 1) and sigma in (0, 1) where a formula
divides by b or by 1 - sigma.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ._checks import check_choice, check_timesteps, per_row
from .samplers import predict_x0

PREDICTIONS = ("eps", "x0", "v", "score", "velocity")


def v_target(x0: torch.Tensor, eps: torch.Tensor, abar) -> torch.Tensor:
    """v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans and Ho 2022, Sec. 4); ``abar`` a
    tensor that broadcasts over x0."""
    return abar.sqrt() * eps - (1 - abar).sqrt() * x0


def eps_from_v(x_t: torch.Tensor, v: torch.Tensor, abar) -> torch.Tensor:
    """eps = sqrt(abar) v + sqrt(1 - abar) x_t, the inverse of :func:`v_target` given
    x_t (Salimans and Ho 2022, App. D: a v + b x_t = (a^2 + b^2) eps); ``abar``
    broadcasts."""
    return abar.sqrt() * v + (1 - abar).sqrt() * x_t


def predictions(x0: torch.Tensor, eps: torch.Tensor, abar) -> dict[str, torch.Tensor]:
    """Every prediction of the table, computed from the truth (x0, eps) at level abar:
    what a perfect network of each kind would output at x_t = sqrt(abar) x0 + sqrt(1 -
    abar) eps."""
    abar = per_row("abar", abar, x0)
    return {
        "eps": eps,
        "x0": x0,
        "v": v_target(x0, eps, abar),
        "score": -eps / (1 - abar).sqrt(),
        "velocity": eps - x0,
    }


def eps_from(pred: torch.Tensor, kind: str, x_t: torch.Tensor, abar) -> torch.Tensor:
    """The noise eps that the prediction ``pred`` of kind ``kind`` means at x_t, abar
    (the last column of the table):

    - x0:       eps = (x_t - a x0) / b                 (x_t = a x0 + b eps solved for eps)
    - v:        eps = a v + b x_t                      (a v + b x_t = (a^2 + b^2) eps)
    - score:    eps = -b score
    - velocity: eps = (x_t + a vel) / (a + b)          (x_t = a (eps - vel) + b eps)
    """
    check_choice("kind", kind, PREDICTIONS)
    abar = per_row("abar", abar, x_t)
    a, b = abar.sqrt(), (1 - abar).sqrt()
    if kind == "eps":
        return pred
    if kind == "x0":
        return (x_t - a * pred) / b
    if kind == "v":
        return eps_from_v(x_t, pred, abar)
    if kind == "score":
        return -b * pred
    return (x_t + a * pred) / (a + b)  # velocity


def from_eps(eps: torch.Tensor, kind: str, x_t: torch.Tensor, abar) -> torch.Tensor:
    """The prediction of kind ``kind`` that the noise ``eps`` means at x_t, abar, with
    x0_hat = (x_t - b eps) / a (Ho et al. 2020, eq. 15;
    :func:`difflab.samplers.predict_x0`): x0 = x0_hat, v = a eps - b x0_hat, score =
    -eps / b, velocity = eps - x0_hat."""
    check_choice("kind", kind, PREDICTIONS)
    x0_hat = predict_x0(x_t, eps, per_row("abar", abar, x_t))
    return predictions(x0_hat, eps, abar)[kind]


def convert(
    pred: torch.Tensor, src: str, dst: str, x_t: torch.Tensor, abar
) -> torch.Tensor:
    """A prediction of kind ``src`` at x_t, abar as the prediction of kind ``dst``:
    through eps, ``from_eps(eps_from(pred, src, x_t, abar), dst, x_t, abar)``. E.g. a
    DDPM network's eps as a flow velocity: ``convert(eps, "eps", "velocity", x_t,
    abar)``."""
    check_choice("src", src, PREDICTIONS)
    check_choice("dst", dst, PREDICTIONS)
    return from_eps(eps_from(pred, src, x_t, abar), dst, x_t, abar)


# --- the two time variables ------------------------------------------------------------


def flow_sigma_from_abar(abar) -> torch.Tensor:
    """sigma = sqrt(1 - abar) / (sqrt(abar) + sqrt(1 - abar)): the flow's noise level of
    the VP level abar (1 at abar = 0, 0 at abar = 1)."""
    abar = torch.as_tensor(abar)
    return (1 - abar).sqrt() / (abar.sqrt() + (1 - abar).sqrt())


def abar_from_flow_sigma(sigma) -> torch.Tensor:
    """abar = (1 - sigma)^2 / ((1 - sigma)^2 + sigma^2): the inverse of
    :func:`flow_sigma_from_abar`."""
    sigma = torch.as_tensor(sigma)
    return (1 - sigma) ** 2 / ((1 - sigma) ** 2 + sigma**2)


def vp_to_flow(x_t: torch.Tensor, abar) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_sigma, sigma) of the VP point x_t at level abar: x_sigma = x_t / (sqrt(abar) +
    sqrt(1 - abar)), sigma = :func:`flow_sigma_from_abar` (abar)."""
    a = per_row("abar", abar, x_t).sqrt()
    b = (1 - per_row("abar", abar, x_t)).sqrt()
    return x_t / (a + b), flow_sigma_from_abar(abar)


def flow_to_vp(x: torch.Tensor, sigma) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, abar) of the flow point x at level sigma: x_t = x / sqrt((1 - sigma)^2 +
    sigma^2), since sqrt(abar) + sqrt(1 - abar) = 1 / sqrt((1 - sigma)^2 + sigma^2) at
    abar = :func:`abar_from_flow_sigma` (sigma)."""
    s = per_row("sigma", sigma, x)
    return x / ((1 - s) ** 2 + s**2).sqrt(), abar_from_flow_sigma(sigma)


def ve_sigma_from_flow_sigma(sigma) -> torch.Tensor:
    """sigma / (1 - sigma) = sqrt((1 - abar) / abar): the VE noise level of Chapter 4
    (:func:`difflab.schedules.ve_sigma_from_abar`; Karras et al. 2022) of the flow level
    sigma."""
    sigma = torch.as_tensor(sigma)
    return sigma / (1 - sigma)


def flow_sigma_from_ve_sigma(sigma_ve) -> torch.Tensor:
    """s / (1 + s): the flow level of the VE level s (the inverse of
    :func:`ve_sigma_from_flow_sigma`)."""
    sigma_ve = torch.as_tensor(sigma_ve)
    return sigma_ve / (1 + sigma_ve)


def flow_x0(x: torch.Tensor, v: torch.Tensor, sigma) -> torch.Tensor:
    """x0_hat = x - sigma v: the data a velocity points to, in flow coordinates (x = (1
    - sigma) x0 + sigma eps and v = eps - x0; diffusers' stochastic flow sampler uses
    it)."""
    return x - per_row("sigma", sigma, x) * v


def flow_eps(x: torch.Tensor, v: torch.Tensor, sigma) -> torch.Tensor:
    """eps_hat = x + (1 - sigma) v: the noise a velocity points back to, in flow
    coordinates."""
    return x + (1 - per_row("sigma", sigma, x)) * v


def vp_levels(
    timesteps: Sequence[int], alphas_cumprod: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """sigma_i = sqrt(1 - abar_i) / (sqrt(abar_i) + sqrt(1 - abar_i)) of a DDPM-schedule
    sampler's ``timesteps`` (float64, ending at 0), and the factor sqrt(abar) + sqrt(1 -
    abar) of the first, which takes its start x_T into flow coordinates
    (:func:`vp_to_flow`): the same steps on the flow ODE."""
    ts = check_timesteps(timesteps, len(alphas_cumprod))
    abar = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    levels = torch.cat([flow_sigma_from_abar(abar[ts]), abar.new_zeros(1)])
    return levels, float(abar[ts[0]].sqrt() + (1 - abar[ts[0]]).sqrt())
