"""The losses that train the book's models, each in the signature of the one training loop,
``loss(model, batch, generator)`` (:func:`difflab.training.train`; bind the other arguments
with ``functools.partial``). Which family trains with which loss: :data:`difflab.registry.FAMILIES`.
The flow-matching losses are in :mod:`difflab.flow`, beside the path they regress on.
"""

from __future__ import annotations

import torch

from ._checks import check_float
from .conversions import v_target
from .models.clip import CLIP, clip_loss
from .models.unet import TextUNet
from .models.vae import VAE
from .schedules import betas_from_abar, q_sample


def _noisy_batch(x0, alphas_cumprod, generator):
    T = len(alphas_cumprod)
    t = torch.randint(0, T, (x0.shape[0],), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    return t, noise, q_sample(x0, t, alphas_cumprod, noise)


def ddpm_loss(
    model, x0: torch.Tensor, generator: torch.Generator, alphas_cumprod: torch.Tensor
) -> torch.Tensor:
    """L_simple (Ho et al. 2020, eq. 14): || eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t) ||^2,
    with t uniform over the T steps. Bind the schedule with ``functools.partial`` for :func:`train`."""
    t, noise, xt = _noisy_batch(x0, alphas_cumprod, generator)
    return ((model(xt, t) - noise) ** 2).mean()


def last_step_loss(
    model, x0: torch.Tensor, generator: torch.Generator, alphas_cumprod: torch.Tensor
) -> torch.Tensor:
    """The alternative of Chapter 3: predict only the noise of the *last* step, eps_t in
    x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t, rescaled by c_t = sqrt(beta_t / (1 - abar_t)) so that
    its mean given x_t equals the total noise's (E[eps_t | x_0, x_t] = c_t eps). Same minimiser as
    :func:`ddpm_loss`, much noisier target."""
    T = len(alphas_cumprod)
    abar = alphas_cumprod.to(x0.device)
    t = torch.randint(0, T, (x0.shape[0],), generator=generator).to(x0.device)
    beta = betas_from_abar(abar)[t][:, None].to(
        x0.dtype
    )  # beta_t, recovered from the schedule
    e_prev = torch.randn(x0.shape, generator=generator).to(x0.device)
    e_last = torch.randn(x0.shape, generator=generator).to(x0.device)
    x_prev = q_sample(
        x0, t, torch.cat([abar.new_ones(1), abar]), e_prev
    )  # step t-1 (x0 before step 0)
    xt = (1 - beta).sqrt() * x_prev + beta.sqrt() * e_last
    c = (beta / (1 - abar[t][:, None].to(x0.dtype))).sqrt()
    return ((model(xt, t) - e_last / c) ** 2).mean()


def drop_condition(
    cond: torch.Tensor, null_id: int, p_uncond: float, generator: torch.Generator
) -> torch.Tensor:
    """Replace each class id by the "no condition" id ``null_id`` with probability ``p_uncond``:
    condition dropout, which lets one network learn f(x, t) and f(x, t, c) (Ho and Salimans 2022, Algorithm 1)."""
    drop = torch.rand(cond.shape, generator=generator).to(cond.device) < p_uncond
    return torch.where(drop, torch.full_like(cond, null_id), cond)


def ddpm_loss_cond(
    model,
    batch: tuple[torch.Tensor, torch.Tensor],
    generator: torch.Generator,
    alphas_cumprod: torch.Tensor,
    p_uncond: float = 0.1,
) -> torch.Tensor:
    """L_simple (Ho et al. 2020, eq. 14) for a class-conditional model, with condition dropout.

    ``batch`` = (x0 (B, ...), cond (B,) class ids 0..K-1). A share ``p_uncond`` of the rows is
    trained with the "no condition" id K = ``model.config.n_classes`` instead of its class, so the
    same network learns the unconditional prediction too (Ho and Salimans 2022, Algorithm 1,
    p_uncond = 0.1 or 0.2 in their Sec. 4). Bind the schedule with ``functools.partial``.
    """
    x0, cond = batch
    p_uncond = check_float("p_uncond", p_uncond, low=0.0, high=1.0)
    n_classes = getattr(getattr(model, "config", None), "n_classes", 0)
    if not n_classes:
        raise ValueError(
            "ddpm_loss_cond needs a class-conditional model (model.config.n_classes >= 1)"
        )
    t, noise, xt = _noisy_batch(x0, alphas_cumprod, generator)
    cond = drop_condition(cond, n_classes, p_uncond, generator)
    return ((model(xt, t, cond) - noise) ** 2).mean()


def contrastive_loss(model: CLIP, batch, generator=None) -> torch.Tensor:
    """CLIP's symmetric cross-entropy over the batch's similarity matrix (Radford et al.
    2021, Fig. 3; :func:`difflab.models.clip.clip_loss`) on a batch of (images, captions)."""
    images, captions = batch
    return clip_loss(*model(images, captions))


def v_loss(
    net: TextUNet,
    batch,
    generator: torch.Generator,
    alphas_cumprod: torch.Tensor,
    p_uncond: float = 0.15,
) -> torch.Tensor:
    """E || v_theta(x_t, t, c) - v ||^2 (Salimans and Ho 2022, Sec. 4): the mean squared
    error on v with condition dropout: batch = (x0 in [-1, 1] (or latents), text embeddings
    (B, D) or token states (B, L, W)); a share ``p_uncond`` of rows get the zero ("no condition") embedding (Ho and
    Salimans 2022, Alg. 1)."""
    x0, cond = batch
    n = x0.shape[0]
    t = torch.randint(0, len(alphas_cumprod), (n,), generator=generator).to(x0.device)
    eps = torch.randn(x0.shape, generator=generator).to(x0.device)
    drop = (torch.rand(n, generator=generator) < p_uncond).to(x0.device)
    drop = drop.view(
        n, *[1] * (cond.ndim - 1)
    )  # one per row: embeddings or token states
    cond = torch.where(drop, torch.zeros_like(cond), cond)
    abar = alphas_cumprod.to(x0.device)[t][:, None, None, None]
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    return ((net(x_t, t, cond) - v_target(x0, eps, abar)) ** 2).mean()


def vae_loss(
    vae: VAE, images: torch.Tensor, generator: torch.Generator, kl_weight: float
) -> torch.Tensor:
    """|| D(mu + sigma eps) - x ||^2 + w KL(N(mu, sigma^2) || N(0, I)), each a mean over its
    numbers: the KL-regularised autoencoder's loss (Kingma and Welling 2014, eq. 10, with a
    weight w on the KL term as in Rombach et al. 2022, Sec. 3). KL per number:
    (mu^2 + sigma^2 - 1 - log sigma^2) / 2. ``images`` (B, 3, 32, 32) in [0, 1]."""
    x = images.to(next(vae.parameters()).device)
    reconstruction, mu, logvar = vae(x, generator)
    error = ((reconstruction - (x * 2 - 1)) ** 2).mean()
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean()
    return error + kl_weight * kl


def prior_loss(
    prior, batch, generator: torch.Generator, alphas_cumprod: torch.Tensor | None = None
) -> torch.Tensor:
    """unCLIP's prior (Ramesh et al. 2022, Sec. 2.2), batch = (text embeddings, image
    embeddings), both unit (B, D); the image embedding z is scaled by sqrt(D).

    - regression (``alphas_cumprod`` None): || f(y) - z ||^2, minimised by the mean of z
      given the caption y;
    - diffusion: || f(z_t, t, y) - z ||^2 with z_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps,
      the clean embedding predicted from a noised one (DALL-E 2's prior loss).
    """
    text, image = batch
    z = image * image.shape[1] ** 0.5
    if alphas_cumprod is None:
        return ((prior(None, None, text) - z) ** 2).mean()
    t, _, z_t = _noisy_batch(z, alphas_cumprod, generator)
    return ((prior(z_t, t, text) - z) ** 2).mean()
