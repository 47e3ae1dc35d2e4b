"""Chapter 8: a sentence to a picture with the book's own parts.

prompt --CLIP text encoder (Chapter 1)--> embedding --U-Net (models/unet.py), guided by
``guidance.cfg`` (Chapters 6-7)--> DDIM (Chapter 4) --> 32 x 32 image.
"""

from __future__ import annotations

import warnings

import torch

from . import registry
from ._checks import check_finite, check_int
from .data.shapes import (
    N_COMBOS,
    Attributes,
    combo_attributes,
    describe,
    is_heldout,
    is_pair,
)
from .guidance import cfg
from .metrics import clip_score, read_attributes
from .recipes import T2I_RECIPE
from .samplers import ddim_sample
from .schedules import spaced_timesteps


def is_unseen_pair(attrs: Attributes, recipe: dict = T2I_RECIPE) -> torch.Tensor:
    """True where (shape, colour) is one of the recipe's ``unseen_pairs``, which training
    never shows."""
    return is_pair(attrs, recipe["data"]["unseen_pairs"])


def unseen_prompts(
    recipe: dict = T2I_RECIPE, seed: int = 0
) -> tuple[Attributes, list[str]]:
    """Chapter 8's test set: every combination the model never saw, as (attributes, prompts).

    The generator's 72 held-out (shape, colour, size, position) combinations, then every
    combination of the recipe's unseen (shape, colour) pairs not among them, each described once
    in the held-out sentence templates with all four attributes (seeded by ``seed``).
    """
    every = combo_attributes(torch.arange(N_COMBOS))
    chosen = is_heldout(every) | is_unseen_pair(every, recipe)
    order = torch.cat(
        [
            torch.nonzero(is_heldout(every))[:, 0],
            torch.nonzero(chosen & ~is_heldout(every))[:, 0],
        ]
    )
    attrs = Attributes(*(a[order] for a in every))
    return attrs, describe(
        attrs, torch.Generator().manual_seed(seed), wording="heldout"
    )


@torch.no_grad()
def adherence(
    model, clip, scale: float, seed: int = 0, recipe: dict = T2I_RECIPE
) -> tuple[torch.Tensor, dict]:
    """How well ``model`` draws Chapter 8's never-seen combinations (:func:`unseen_prompts`) at
    guidance ``scale``: (images, shares), the shares of prompts whose picture has the right
    shape, colour, size, position, colour and shape both ("colour+shape"), colour and shape both
    among the unseen-pair prompts ("unseen pairs"), and the mean CLIP score ("clip")."""
    held, prompts = unseen_prompts(recipe)
    x = text_to_image(prompts, scale=scale, seed=seed, model=model, clip=clip)
    return x, attribute_shares(x, held, prompts, clip, recipe)


def attribute_shares(
    x: torch.Tensor,
    held: Attributes,
    prompts: list[str],
    clip,
    recipe: dict = T2I_RECIPE,
) -> dict:
    """What :func:`adherence` reports for images ``x`` drawn for ``prompts`` that name the
    attributes ``held``: the share right of each attribute, of colour and shape both, of both
    among the unseen pairs, and the mean CLIP score under ``clip``."""
    got = read_attributes(x)
    ok = {
        k: (getattr(got, k) == getattr(held, k)).float().mean().item()
        for k in ("shape", "colour", "size", "position")
    }
    both = (got.shape == held.shape) & (got.colour == held.colour)
    ok["colour+shape"], ok["unseen pairs"] = (
        both.float().mean().item(),
        both[is_unseen_pair(held, recipe)].float().mean().item(),
    )
    ok["clip"] = clip_score(clip, x, prompts).mean().item()
    return ok


def warn_unknown(tokenizer, prompts: list[str]) -> None:
    """A warning naming the words of ``prompts`` the text encoder never saw: they become the
    one ``<unk>`` token and carry no meaning, so "an elephant" draws no elephant."""
    unknown = sorted({w for p in prompts for w in tokenizer.unknown_words(p)})
    if unknown:
        warnings.warn(
            f"the text encoder does not know the words {unknown}; they are read as one "
            f"unknown token and carry no meaning (the known words: clip.tokenizer.itos)",
            stacklevel=4,
        )


def _check_prompts(prompts: list, given, example: str) -> None:
    if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
        raise ValueError(
            f"{given} must be a non-empty string (or a list of them), e.g. {example!r}"
        )


@torch.no_grad()
def text_to_image(
    prompt: str | list[str],
    negative: str | None = None,
    *,
    scale: float = 3.0,
    steps: int = 25,
    n: int = 1,
    seed: int = 0,
    model=None,
    clip=None,
    callback=None,
) -> torch.Tensor:
    """Images (n * len(prompts), 3, 32, 32) in [0, 1] for ``prompt``: DDIM (Song et al. 2021,
    eq. 12) on the guided prediction eps_n + s (eps_c - eps_n) (Ho and Salimans 2022, eq. 6).

    ``negative``: a prompt whose embedding replaces the unconditional prediction (Chapter 7).
    ``callback(i, t, x, x0_hat)`` sees every DDIM step (in the model's [-1, 1] pixel range).
    Words CLIP's tokenizer never saw map to its unknown-word token: they still give an
    embedding, so an unknown word is not an error, but it carries no learned meaning; a
    warning names them.
    """
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    _check_prompts(prompts, f"prompt={prompt!r}", "a red circle")
    if negative is not None:
        _check_prompts([negative], f"negative={negative!r}", "red")
    check_finite("scale", scale)
    check_int("steps", steps, low=1)
    check_int("n", n, low=1)
    model = model if model is not None else registry.load("t2i")
    clip = clip if clip is not None else registry.load("clip")
    warn_unknown(clip.tokenizer, prompts + ([negative] if negative else []))
    dev = model.alphas_cumprod.device
    # 1. the prompts' CLIP embeddings, n rows each
    cond = clip.encode_text(prompts).float().to(dev).repeat_interleave(n, 0)
    neg = None
    if negative is not None:
        neg = clip.encode_text([negative]).float().to(dev).expand_as(cond)
    # 2. noise, then DDIM on the guided prediction
    x = torch.randn(
        cond.shape[0], 3, 32, 32, generator=torch.Generator().manual_seed(seed)
    )
    ts = spaced_timesteps(len(model.alphas_cumprod), steps)
    guided = cfg(model, cond, scale, negative=neg)
    x0 = ddim_sample(guided, x.to(dev), ts, model.alphas_cumprod, callback=callback)
    return ((x0 + 1) / 2).clamp(0, 1).cpu()
