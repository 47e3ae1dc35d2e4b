"""Chapter 8b: unCLIP in miniature, CLIP inverted (Ramesh et al. 2022, "DALL-E 2").

caption --CLIP text encoder--> text embedding --prior--> image embedding --decoder--> picture

The decoder is Chapter 8's U-Net reading CLIP's *image* embedding (zeros: no condition, for
classifier-free guidance); the prior turns a text embedding into an image embedding, by
regression (one answer per caption) or by diffusion (one sample among many).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import registry
from ._checks import check_choice, check_finite, check_int
from .data.shapes import Attributes
from .guidance import cfg
from .metrics import _check_images, read_attributes
from .samplers import ddim_sample
from .schedules import spaced_timesteps
from .t2i import _check_prompts, warn_unknown

PRIORS = ("diffusion", "regression")


def slerp(a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
    """sin((1 - w) theta) / sin(theta) a + sin(w theta) / sin(theta) b, theta the angle between
    the unit vectors a and b: the point a share ``w`` of the way along the great circle from a to
    b (Shoemake 1985), how unCLIP interpolates embeddings (Ramesh et al. 2022, Sec. 3.2)."""
    theta = torch.arccos((a * b).sum(-1, keepdim=True).clamp(-1, 1))
    return (torch.sin((1 - w) * theta) * a + torch.sin(w * theta) * b) / torch.sin(
        theta
    )


@torch.no_grad()
def decode(
    embeddings: torch.Tensor,
    *,
    scale: float = 3.0,
    steps: int = 25,
    seed: int = 0,
    decoder=None,
) -> torch.Tensor:
    """Pictures (N, 3, 32, 32) in [0, 1] of CLIP image embeddings (N, 512): DDIM (Song et al.
    2021, eq. 12) on the decoder, guided by eps_0 + s (eps_z - eps_0), eps_0 the prediction
    with the zero ("no") embedding (Ho and Salimans 2022, eq. 6; Ramesh et al. 2022, Sec. 2.1).
    The starting noise comes from ``seed``; each row gets its own."""
    decoder = decoder if decoder is not None else registry.load("unclip_decoder")
    dev = decoder.alphas_cumprod.device
    x = torch.randn(
        len(embeddings), 3, 32, 32, generator=torch.Generator().manual_seed(seed)
    )
    ts = spaced_timesteps(len(decoder.alphas_cumprod), steps)
    guided = cfg(decoder, embeddings.float().to(dev), scale)
    x0 = ddim_sample(guided, x.to(dev), ts, decoder.alphas_cumprod)
    return ((x0 + 1) / 2).clamp(0, 1).cpu()


@torch.no_grad()
def variations(
    images: torch.Tensor,
    n_per_image: int = 4,
    *,
    scale: float = 3.0,
    seed: int = 0,
    steps: int = 25,
    decoder=None,
    clip=None,
) -> torch.Tensor:
    """``n_per_image`` pictures (N * n_per_image, 3, 32, 32) in [0, 1] for each of ``images``
    (N, 3, 32, 32) in [0, 1], rows of one image together: its CLIP image embedding decoded from
    different noise (Ramesh et al. 2022, Sec. 3.1). What the embedding keeps comes back; what
    it does not keep varies."""
    _check_images(images)
    if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise ValueError("images must hold finite values in [0, 1]")
    check_int("n_per_image", n_per_image, low=1)
    check_finite("scale", scale)
    check_int("steps", steps, low=1)
    clip = clip if clip is not None else registry.load("clip")
    z = clip.encode_image(images).float().repeat_interleave(n_per_image, 0)
    return decode(z, scale=scale, steps=steps, seed=seed, decoder=decoder)


@torch.no_grad()
def sample_prior(
    prior, text: torch.Tensor, *, steps: int = 25, seed: int = 0, candidates: int = 2
) -> torch.Tensor:
    """Unit CLIP image embeddings (N, 512) for unit text embeddings ``text`` (N, 512).

    Regression: the network's one answer, put back on the unit sphere (its raw answer, a mean
    of unit vectors, is shorter). Diffusion: DDIM from noise ``seed`` on the predicted clean
    embedding, eps = (z_t - sqrt(abar) z0_hat) / sqrt(1 - abar), put on the sphere; of
    ``candidates`` samples per text, the one with the largest dot product with the text
    embedding, as DALL-E 2 samples its prior (Ramesh et al. 2022, Sec. 2.2: two)."""
    check_int("candidates", candidates, low=1)
    text = text.float().to(next(prior.parameters()).device)
    if prior.config.kind == "regression":
        return F.normalize(prior(None, None, text), dim=-1).cpu()
    abar = registry.schedule(registry.recipes.PRIOR_DIFFUSION_RECIPE).float()
    many = text.repeat(candidates, 1)  # (candidates * N, D), candidate-major

    def eps(z_t, t):
        a = abar.to(z_t.device)[t][:, None]
        return (z_t - a.sqrt() * prior(z_t, t, many)) / (1 - a).sqrt()

    z = torch.randn(many.shape, generator=torch.Generator().manual_seed(seed))
    z0 = ddim_sample(eps, z.to(text.device), spaced_timesteps(len(abar), steps), abar)
    z0 = F.normalize(z0, dim=-1).view(candidates, *text.shape)  # (candidates, N, D)
    return best_candidate(z0, text).cpu()


def best_candidate(candidates: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Of ``candidates`` (K, N, D) image embeddings, for each of the N texts (N, D) the one with
    the largest dot product with its text embedding: (N, D)."""
    best = (candidates * text).sum(-1).argmax(0)  # (N,)
    return candidates[best, torch.arange(text.shape[0])]


@torch.no_grad()
def text_to_image(
    prompt: str | list[str],
    *,
    prior: str = "diffusion",
    scale: float = 3.0,
    seed: int = 0,
    steps: int = 25,
    decoder=None,
    priors: dict | None = None,
    clip=None,
) -> torch.Tensor:
    """Pictures (len(prompts), 3, 32, 32) in [0, 1]: the prompt's CLIP text embedding, the
    ``prior`` ("diffusion" or "regression") to an image embedding, the decoder to a picture
    (Ramesh et al. 2022, Sec. 2); ``steps`` DDIM steps for each. ``priors``: {name: model} to
    use instead of the shipped ones."""
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    _check_prompts(prompts, f"prompt={prompt!r}", "a red circle")
    check_choice("prior", prior, PRIORS)
    check_finite("scale", scale)
    check_int("steps", steps, low=1)
    clip = clip if clip is not None else registry.load("clip")
    warn_unknown(clip.tokenizer, prompts)
    model = (priors or {}).get(prior) or registry.load(f"prior_{prior}")
    z = sample_prior(model, clip.encode_text(prompts), steps=steps, seed=seed)
    return decode(z, scale=scale, steps=steps, seed=seed, decoder=decoder)


def text_diff(
    image_embedding: torch.Tensor, source: str, target: str, angle: float, clip
) -> torch.Tensor:
    """unCLIP's "text diff" (Ramesh et al. 2022, Sec. 3.3): the image embeddings (N, 512)
    turned a share ``angle`` of the way towards z_d = normalise(text(target) - text(source))
    along the great circle (:func:`slerp`)."""
    t = clip.encode_text([source, target]).float().cpu()
    z_d = F.normalize(t[1] - t[0], dim=-1).expand_as(image_embedding)
    return slerp(image_embedding.float().cpu(), z_d, angle)


def kept(attrs: Attributes, pictures: torch.Tensor, n_per_image: int) -> dict:
    """The share of ``pictures`` (n_per_image rows per row of ``attrs``) whose read attribute
    equals the original's, for shape, colour, size and position, and all four together."""
    got = read_attributes(pictures)
    same = {
        k: getattr(got, k) == getattr(attrs, k).repeat_interleave(n_per_image)
        for k in ("shape", "colour", "size", "position")
    }
    out = {k: v.float().mean().item() for k, v in same.items()}
    out["all four"] = torch.stack(list(same.values())).all(0).float().mean().item()
    return out
