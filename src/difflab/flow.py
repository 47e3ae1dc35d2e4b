"""Flow matching: the straight line between data and noise, the velocity along it, and the
ODE samplers that follow it (the chapter after DDIM).

Notation (diffusers' ``FlowMatchEulerDiscreteScheduler`` and Stable Diffusion 3, Esser et al.
2024, Sec. 3, where it is written z_t = (1 - t) x_0 + t epsilon):

    x_sigma = (1 - sigma) x0 + sigma eps      sigma in [0, 1]: 1 is pure noise, 0 is data
    v       = d x_sigma / d sigma = eps - x0   the velocity a network learns by regression

Rectified flow (Liu et al. 2023), flow matching with this straight path (Lipman et al. 2023,
who run time the other way, t = 1 - sigma, and end at a small sigma_min instead of 0) and
stochastic interpolants (Albergo and Vanden-Eijnden 2023) all learn this v. Sampling solves
dx/dsigma = v(x, sigma) from sigma = 1 down to 0.

- model: ``model(x, sigma)`` returns v, the shape of x (N, ...); ``sigma`` is a float tensor
  (N,) in x's dtype and on x's device (a network: :class:`~difflab.models.mlp.VelocityMLP`;
  the exact field of a data set: :class:`ExactVelocity`).
- samplers: ``sampler(model, x, sigmas, *, generator=None, callback=None)``. ``sigmas`` is
  strictly decreasing in [0, 1], n + 1 values for n steps (k-diffusion's convention; step i
  goes from sigmas[i] to sigmas[i + 1]); :func:`flow_sigmas` makes them. ``callback(i, sigma,
  x)`` sees x after step i and the sigma that step started from. Both samplers here are
  deterministic: ``generator`` is accepted for the common signature and not used.
- losses: ``loss_fn(model, batch, generator)`` for :func:`difflab.training.train`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from ._checks import check_float, check_int, per_row
from .conversions import flow_sigma_from_abar, vp_to_flow
from .samplers import check_timesteps, ddim_sample

SIGMA_SAMPLINGS = ("uniform", "logit_normal")


def interpolate(x0: torch.Tensor, eps: torch.Tensor, sigma) -> torch.Tensor:
    """x_sigma = (1 - sigma) x0 + sigma eps: the straight line from data (sigma = 0) to noise
    (sigma = 1) (Liu et al. 2023, eq. 1; Esser et al. 2024, Sec. 3). ``sigma``: a number or
    (N,)."""
    if eps.shape != x0.shape:
        raise ValueError(
            f"eps has shape {tuple(eps.shape)} but x0 has shape {tuple(x0.shape)}; "
            f"they must match"
        )
    s = per_row("sigma", sigma, x0)
    return (1 - s) * x0 + s * eps


def velocity_target(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """v = d x_sigma / d sigma = eps - x0: the same at every sigma of one line (Liu et al.
    2023, eq. 1, with X_0 = noise written eps here and X_1 = data written x0)."""
    if eps.shape != x0.shape:
        raise ValueError(
            f"eps has shape {tuple(eps.shape)} but x0 has shape {tuple(x0.shape)}; "
            f"they must match"
        )
    return eps - x0


def sample_sigma(
    n: int,
    generator: torch.Generator,
    sigma_sampling: str = "uniform",
    *,
    loc: float = 0.0,
    scale: float = 1.0,
) -> torch.Tensor:
    """``n`` training noise levels (n,), float32 on the CPU.

    - "uniform": sigma ~ U(0, 1) (Liu et al. 2023; Lipman et al. 2023).
    - "logit_normal": sigma = 1 / (1 + exp(-(loc + scale z))), z ~ N(0, 1), whose density is
      pi_ln(sigma; m, s) = 1 / (s sqrt(2 pi)) 1 / (sigma (1 - sigma))
      exp(-(logit(sigma) - m)^2 / (2 s^2)) with m = ``loc``, s = ``scale`` (Esser et al.
      2024, Sec. 3.1, "Logit-Normal Sampling"): more training at the middle levels.
    """
    n = check_int("n", n, low=1)
    if sigma_sampling == "uniform":
        return torch.rand(n, generator=generator)
    if sigma_sampling == "logit_normal":
        loc = check_float("loc", loc)
        scale = check_float("scale", scale, low=0.0, low_open=True)
        return torch.sigmoid(loc + scale * torch.randn(n, generator=generator))
    raise ValueError(
        f"sigma_sampling={sigma_sampling!r} is not known; allowed: "
        f"{', '.join(map(repr, SIGMA_SAMPLINGS))}"
    )


def _regression(model, x0, eps, generator, sigma_sampling, loc, scale) -> torch.Tensor:
    """E || v_theta(x_sigma, sigma) - (eps - x0) ||^2 over the batch (mean per coordinate)."""
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
    """The (conditional) flow-matching loss E_{sigma, x0, eps} || v_theta(x_sigma, sigma) -
    (eps - x0) ||^2, x_sigma = (1 - sigma) x0 + sigma eps (Liu et al. 2023, eq. 1; Lipman et
    al. 2023, Sec. 4.1, with their straight "OT" path), with noise eps ~ N(0, I) drawn
    independently of x0 and sigma from :func:`sample_sigma`. For
    :func:`difflab.training.train`; bind the keywords with ``functools.partial``."""
    if not isinstance(x0, torch.Tensor) or x0.ndim < 2:
        raise ValueError(
            f"x0 must be a batch (B, ...) of data; got {type(x0).__name__}"
        )
    eps = torch.randn(x0.shape, generator=generator).to(
        device=x0.device, dtype=x0.dtype
    )
    return _regression(model, x0, eps, generator, sigma_sampling, loc, scale)


def reflow_loss(
    model,
    batch: tuple[torch.Tensor, torch.Tensor],
    generator: torch.Generator,
    *,
    sigma_sampling: str = "uniform",
    loc: float = 0.0,
    scale: float = 1.0,
) -> torch.Tensor:
    """The same regression on *fixed* pairs: ``batch`` = (x0 (B, ...), eps (B, ...)), where x0
    is where the ODE of a trained flow carries the noise eps (:func:`reflow_pairs`). Training on
    this coupling instead of independent (x0, eps) is "reflow" (Liu et al. 2023, Algorithm 1;
    their Z^{k+1} = RectFlow((Z_0^k, Z_1^k))): the pairs' straight lines cross less, so the new
    flow's paths are straighter and few Euler steps go further."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(
            f"batch must be a pair (x0, eps) of tensors; got {type(batch).__name__}"
        )
    x0, eps = batch
    return _regression(model, x0, eps, generator, sigma_sampling, loc, scale)


class ExactVelocity:
    """v*(x, sigma): the optimal velocity field of the finite data set ``data`` (N, ...), with
    the model contract above. What a network trained with :func:`flow_loss` on these N points
    would learn if it could fit them perfectly; following it memorises (like
    :class:`~difflab.denoisers.ExactDenoiser`).

    Derivation. The loss is minimised by v*(x, sigma) = E[eps - x0 | x_sigma = x]. Given the
    point x0_i, x_sigma ~ N((1 - sigma) x0_i, sigma^2 I), so with a uniform prior over the
    points Bayes' rule gives the posterior weights

        w_i(x, sigma) = softmax_i( -|x - (1 - sigma) x0_i|^2 / (2 sigma^2) ),

    and E[x0 | x] = sum_i w_i x0_i =: x0_hat. Since eps = (x - (1 - sigma) x0) / sigma,
    E[eps | x] = (x - (1 - sigma) x0_hat) / sigma, and

        v*(x, sigma) = E[eps | x] - x0_hat = (x - x0_hat) / sigma.

    Defined for sigma in (0, 1]; computed in float64 (a softmax over the expanded square, rows
    in chunks) and returned in x's dtype.
    """

    def __init__(self, data: torch.Tensor, *, chunk: int = 2**22):
        data = torch.as_tensor(data)
        if data.ndim < 2 or data.shape[0] == 0:
            raise ValueError(
                f"data has shape {tuple(data.shape)}; expected (N, ...) with N >= 1"
            )
        self.data = data.flatten(1).double()  # (N, D)
        # [x0_i, |x0_i|^2]: one matrix product gives every squared distance up to a constant
        self._aug = torch.cat([self.data, (self.data**2).sum(1, keepdim=True)], 1)
        self.chunk = check_int("chunk", chunk, low=1)  # elements of one (rows, N) block

    def posterior_weights(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """w (B, N): how probable each data point is as the origin of each x_sigma."""
        s = torch.as_tensor(sigma, device=x.device).double().reshape(-1, 1)  # (B, 1)
        if s.shape[0] != x.shape[0] or not ((s > 0) & (s <= 1)).all():
            raise ValueError(
                f"sigma must be ({x.shape[0]},) values in (0, 1]; got shape "
                f"{tuple(torch.as_tensor(sigma).shape)}, min {s.min().item():.3g}"
            )
        xf = x.flatten(1).double()  # (B, D)
        # -|x - (1-s) x0_i|^2 / (2 s^2) = (1-s)/s^2 x.x0_i - (1-s)^2/(2 s^2) |x0_i|^2 + const(i)
        coef = torch.cat([xf * ((1 - s) / s**2), -((1 - s) ** 2) / (2 * s**2)], 1)
        return torch.softmax(coef @ self._aug.to(x.device).T, dim=1)  # (B, N)

    def x0(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """E[x0 | x_sigma = x], float64 (B, D)."""
        rows = max(1, self.chunk // self.data.shape[0])
        data = self.data.to(x.device)
        parts = [
            self.posterior_weights(x[i : i + rows], sigma[i : i + rows]) @ data
            for i in range(0, x.shape[0], rows)
        ]
        return torch.cat(parts)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, device=x.device)
        if sigma.ndim == 0:
            sigma = sigma.expand(x.shape[0])
        x0_hat = self.x0(x, sigma)  # (B, D)
        s = sigma.double().reshape(-1, 1)
        return ((x.flatten(1).double() - x0_hat) / s).reshape(x.shape).to(x.dtype)


# ---------------------------------------------------------------------------------------
# Sampling: noise levels and the ODE dx/dsigma = v(x, sigma)
# ---------------------------------------------------------------------------------------


def shift_sigmas(sigmas, shift: float) -> torch.Tensor:
    """sigma' = shift sigma / (1 + (shift - 1) sigma): SD3's timestep shift (Esser et al.
    2024, Sec. 5.3.2, with shift = sqrt(m / n) for m pixels instead of n; diffusers'
    ``FlowMatchEulerDiscreteScheduler(shift=...)``, 3.0 for SD3). It keeps 0 and 1 and, for
    shift > 1, spends more of the steps at high noise. In lambda = log((1 - sigma) / sigma),
    half the log-SNR of the straight path (as :func:`difflab.samplers.log_snr`), it is a
    constant offset, -log(shift). float64 (the shape of ``sigmas``)."""
    shift = check_float("shift", shift, low=0.0, low_open=True)
    s = torch.as_tensor(sigmas, dtype=torch.float64)
    return shift * s / (1 + (shift - 1) * s)


def flow_sigmas(n: int, shift: float = 1.0) -> torch.Tensor:
    """The noise levels of ``n`` uniform steps from sigma = 1 to 0, shifted by
    :func:`shift_sigmas`: float64 (n + 1,), sigmas[0] = 1 and sigmas[n] = 0."""
    n = check_int("n", n, low=1)
    return shift_sigmas(torch.linspace(1, 0, n + 1, dtype=torch.float64), shift)


def check_sigmas(sigmas) -> torch.Tensor:
    """The sigmas as float64 (n + 1,), or a clear error: 1-D, at least 2 values, in [0, 1],
    strictly decreasing."""
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
    for i in range(len(s) - 1):
        if s[i + 1] >= s[i]:
            raise ValueError(
                f"sigmas must be strictly decreasing, but sigmas[{i}]={s[i].item()} is "
                f"followed by sigmas[{i + 1}]={s[i + 1].item()}"
            )
    return s


def _check_x(x):
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"x has shape {shape}; expected a batch (N, ...) of N >= 1 noise samples"
        )


def predict_velocity(model: Callable, x: torch.Tensor, sigma) -> torch.Tensor:
    """Call ``model(x, sigma)`` with sigma as a float tensor (N,) in x's dtype, and check
    what comes back."""
    s = torch.full((x.shape[0],), float(sigma), dtype=x.dtype, device=x.device)
    v = model(x, s)
    if not isinstance(v, torch.Tensor) or v.shape != x.shape:
        shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
        raise ValueError(
            f"the model returned {shape} at sigma={float(sigma):.4g}; expected a velocity "
            f"of the shape of x, {tuple(x.shape)}"
        )
    if not torch.isfinite(v).all():
        raise FloatingPointError(
            f"the model returned NaN or inf at sigma={float(sigma):.4g}"
        )
    return v


def euler_step(x: torch.Tensor, v: torch.Tensor, sigma, sigma_next) -> torch.Tensor:
    """x_next = x + (sigma_next - sigma) v: one Euler step of dx/dsigma = v (sigma_next <
    sigma, so it moves against v, towards the data). diffusers'
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
    """Euler's method on dx/dsigma = v(x, sigma), from noise ``x`` (N, ...) at sigmas[0] to
    sigmas[-1]: one network evaluation per step (NFE = len(sigmas) - 1). Deterministic.
    ``callback(i, sigma_i, x)`` sees x after each step."""
    _check_x(x)
    s = check_sigmas(sigmas)
    for i in range(len(s) - 1):
        v = predict_velocity(model, x, s[i])  # (1) the slope where we stand
        x = euler_step(x, v, s[i].to(x.dtype), s[i + 1].to(x.dtype))  # (2) follow it
        if callback is not None:
            callback(i, s[i].item(), x)
    return x


@torch.no_grad()
def heun_sample(
    model: Callable,
    x: torch.Tensor,
    sigmas: Sequence[float],
    *,
    generator: torch.Generator | None = None,
    callback: Callable | None = None,
) -> torch.Tensor:
    """Heun's second-order method on dx/dsigma = v(x, sigma) (Karras et al. 2022, Algorithm 1
    without churn; in their variables this ODE has s(t) = 1 - sigma and is no longer the VE
    one, but the steps (1)-(4) are the same): an Euler step, the slope at its end, then the
    step again with the mean of the two slopes. A step that ends at sigma = 0 stays Euler (the
    velocity is not needed there), so n steps ending at 0 cost NFE = 2n - 1. Deterministic.
    ``callback(i, sigma_i, x)`` sees x after each step. (Chapter 4's
    :func:`difflab.samplers.heun_sample` is the same method on the DDPM model's ODE.)"""
    _check_x(x)
    s = check_sigmas(sigmas)
    for i in range(len(s) - 1):
        sig, nxt = s[i].to(x.dtype), s[i + 1].to(x.dtype)
        v = predict_velocity(model, x, s[i])  # (1) slope at the start
        x_next = euler_step(x, v, sig, nxt)  # (2) Euler step
        if s[i + 1] > 0:
            v_next = predict_velocity(model, x_next, s[i + 1])  # (3) slope at the end
            x_next = euler_step(x, (v + v_next) / 2, sig, nxt)  # (4) trapezoid
        x = x_next
        if callback is not None:
            callback(i, s[i].item(), x)
    return x


#: The flow samplers under the names the book uses, all with the one flow signature.
FLOW_SAMPLERS: dict[str, Callable] = {"euler": euler_sample, "heun": heun_sample}


def sample_path(
    sampler: Callable, model: Callable, x: torch.Tensor, sigmas: Sequence[float]
) -> torch.Tensor:
    """The positions of a sampled path, (len(sigmas), N, ...): the start ``x`` and x after
    every step (recorded with the sampler's ``callback``), for plots and
    :func:`path_straightness`."""
    path = [x]
    sampler(model, x, sigmas, callback=lambda i, sigma, x_: path.append(x_))
    return torch.stack(path)


def vp_levels(
    timesteps: Sequence[int], alphas_cumprod: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """A DDPM-schedule sampler's ``timesteps`` as flow levels (float64, ending at 0), and the
    factor sqrt(abar) + sqrt(1 - abar) of the first, which takes its start x_T into flow
    coordinates (:func:`~difflab.conversions.vp_to_flow`): the same steps on the flow ODE."""
    ts = check_timesteps(timesteps, len(alphas_cumprod))
    abar = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    levels = torch.cat([flow_sigma_from_abar(abar[ts]), abar.new_zeros(1)])
    return levels, float(abar[ts[0]].sqrt() + (1 - abar[ts[0]]).sqrt())


def ddim_path(
    model: Callable,
    x: torch.Tensor,
    timesteps: Sequence[int],
    alphas_cumprod: torch.Tensor,
) -> torch.Tensor:
    """DDIM's path (eta = 0) from ``x`` on an epsilon model, every point moved into flow
    coordinates with :func:`~difflab.conversions.vp_to_flow`, where DDIM follows the flow ODE:
    (len(timesteps) + 1, N, ...), like :func:`sample_path`."""
    ts = check_timesteps(timesteps, len(alphas_cumprod))
    abar = torch.as_tensor(alphas_cumprod)
    levels = [abar[t] for t in ts[1:]] + [abar.new_ones(())]  # where each step lands
    path = [vp_to_flow(x, abar[ts[0]])[0]]
    keep = lambda i, t, x_, x0: path.append(vp_to_flow(x_, levels[i])[0])  # noqa: E731
    ddim_sample(model, x, ts, abar, callback=keep)
    return torch.stack(path)


def path_straightness(path: torch.Tensor) -> torch.Tensor:
    """Length of each path over the distance between its endpoints, float64 (N,): 1 for a
    straight path, more for a bent one (inf for a path that ends where it began).

    ``path`` (K, N, ...): K >= 2 positions of N paths, as :func:`sample_path` records them; the
    length is that of the polygon through them, sum_k |p_{k+1} - p_k|. (Liu et al. 2023 measure
    straightness differently, as E int |(Z_1 - Z_0) - dZ_t/dt|^2 dt; both are 0 / 1 exactly
    for straight paths.)"""
    p = torch.as_tensor(path)
    if p.ndim < 3 or p.shape[0] < 2:
        raise ValueError(
            f"path has shape {tuple(p.shape)}; expected (K, N, ...) with K >= 2 positions "
            f"of N paths"
        )
    p = p.double().flatten(2)  # (K, N, D)
    length = (p[1:] - p[:-1]).norm(dim=2).sum(0)  # (N,)
    chord = (p[-1] - p[0]).norm(dim=1)  # (N,)
    return length / chord


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
    """``n`` (x0, eps) pairs coupled by the model's own ODE: eps ~ N(0, I) of shape (n, dim),
    drawn on the CPU from ``generator``, and x0 = ``sampler(model, eps, sigmas)`` run on
    ``device`` in batches. The data of reflow (Liu et al. 2023, Algorithm 1: draw (Z_0, Z_1)
    from the flow, then train a new one on them; :func:`reflow_loss`). Returns CPU tensors
    (x0, eps), each (n, dim)."""
    n = check_int("n", n, low=1)
    dim = check_int("dim", dim, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    sigmas = check_sigmas(sigmas)
    if sigmas[0] != 1 or sigmas[-1] != 0:
        raise ValueError(
            f"sigmas run from {sigmas[0].item()} to {sigmas[-1].item()}; reflow pairs need "
            f"the whole path, from 1 (noise) to 0 (data)"
        )
    eps = torch.randn(n, dim, generator=generator)
    x0 = torch.cat(
        [
            sampler(model, eps[i : i + batch_size].to(device), sigmas).cpu()
            for i in range(0, n, batch_size)
        ]
    )
    return x0, eps
