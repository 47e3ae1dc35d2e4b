"""The latent-space chapter: Stable Diffusion in miniature.

prompt --the scene CLIP--> token states (or one pooled embedding) --latent U-Net
(models/latent_unet.py), guided by ``guidance.cfg``--> DDIM on 4 x 8 x 8 latents --/ scaling
factor, VAE decoder (models/vae.py)--> 32 x 32 image (Rombach et al. 2022, Fig. 3).
"""

from __future__ import annotations

import statistics
import time

import torch

from . import registry
from ._checks import check_finite, check_int
from .data.scenes import Scene, describe_scenes, scene_pairs, swap_colours
from .data.shapes import COLOURS, RGB
from .guidance import cfg
from .metrics import read_scene
from .models.vae import measure_scaling_factor
from .samplers import ddim_sample
from .schedules import spaced_timesteps
from .t2i import _check_prompts, attribute_shares, unseen_prompts, warn_unknown

CONDITIONINGS = {"cross_attention": "latent", "pooled": "latent_pooled"}


def _model_name(conditioning: str) -> str:
    if conditioning not in CONDITIONINGS:
        raise ValueError(
            f"conditioning={conditioning!r} is not allowed; use 'cross_attention' or 'pooled'"
        )
    return CONDITIONINGS[conditioning]


def scaling_factor(vae, images: torch.Tensor) -> float:
    """1 / std of the latents of ``images``: :func:`difflab.models.vae.measure_scaling_factor`,
    Stable Diffusion's 0.18215 measured on our pictures."""
    return measure_scaling_factor(vae, images)


@torch.no_grad()
def text_to_image(
    prompt: str | list[str],
    negative: str | None = None,
    *,
    conditioning: str = "cross_attention",
    scale: float = 3.0,
    steps: int = 25,
    seed: int = 0,
    model=None,
    vae=None,
    clip=None,
    callback=None,
) -> torch.Tensor:
    """Images (len(prompts), 3, 32, 32) in [0, 1]: DDIM (Song et al. 2021, eq. 12) on the
    latents, guided by eps_n + s (eps_c - eps_n) (Ho and Salimans 2022, eq. 6), then the VAE's
    decoder on z / scaling_factor.

    ``conditioning``: ``"cross_attention"`` (the model that attends to every word) or
    ``"pooled"`` (the control with Chapter 8's one pooled embedding). ``negative``: a prompt
    that takes the unconditional prediction's place (Chapter 7). ``callback(i, t, z, z0_hat)``
    sees every step, in the scaled latent space. Words the text encoder never saw are named
    in a warning.
    """
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    _check_prompts(
        prompts, f"prompt={prompt!r}", "a red circle to the left of a blue square"
    )
    if negative is not None:
        _check_prompts([negative], f"negative={negative!r}", "red")
    check_finite("scale", scale)
    check_int("steps", steps, low=1)
    name = _model_name(conditioning)
    model = model if model is not None else registry.load(name)
    if model.config.conditioning != conditioning:
        raise ValueError(
            f"conditioning={conditioning!r} but the model was trained with "
            f"{model.config.conditioning!r} conditioning"
        )
    vae = vae if vae is not None else registry.load("vae")
    clip = clip if clip is not None else registry.load("scene_clip")
    warn_unknown(clip.tokenizer, prompts + ([negative] if negative else []))
    dev = model.alphas_cumprod.device
    cond = registry.text_condition(clip, prompts, conditioning).to(dev)
    neg = None
    if negative is not None:
        neg = registry.text_condition(clip, [negative], conditioning).to(dev)
        neg = neg.expand(len(prompts), *neg.shape[1:])
    z = torch.randn(
        len(prompts), 4, 8, 8, generator=torch.Generator().manual_seed(seed)
    )
    ts = spaced_timesteps(len(model.alphas_cumprod), steps)
    guided = cfg(model, cond, scale, negative=neg)
    z0 = ddim_sample(guided, z.to(dev), ts, model.alphas_cumprod, callback=callback)
    return vae.decode(z0.to(vae.scaling_factor.device) / vae.scaling_factor).cpu()


def scene_prompts(
    repeats: int = 2, seed: int = 0, wording: str = "heldout"
) -> tuple[Scene, list[str]]:
    """The test of binding: every held-out (left, right) pair, ``repeats`` times, each
    described without sizes in a sentence template of ``wording``: "heldout" (sentences of a
    kind training never showed) or "train" (new pairs in familiar sentences); seeded by
    ``seed``."""
    scene = Scene(*(a.repeat(1, repeats) for a in scene_pairs("heldout")))
    gen = torch.Generator().manual_seed(seed)
    return scene, describe_scenes(scene, gen, wording=wording, p_size=0.0)


def binding_shares(images: torch.Tensor, scene: Scene) -> dict:
    """How pictures drawn for two-object prompts went, read by
    :func:`~difflab.metrics.read_scene`: the share with both objects right (colour and shape
    on its side, "both"), and, of all pictures, those with the two colours swapped and the
    shapes right ("swapped"), and those with a colour that is in neither object
    ("wrong colour"); the pictures that show the two named colours, one in each half
    ("colours"), and of those the share with each colour on its own side ("sides"; 0.5 if
    sides are a coin toss)."""
    got = read_scene(images)
    right = (got.shape == scene.shape) & (got.colour == scene.colour)  # (2, N)
    swapped = (got.colour == swap_colours(scene).colour).all(0) & (
        got.shape == scene.shape
    ).all(0)
    foreign = (got.colour != scene.colour[0]) & (
        got.colour != scene.colour[1]
    )  # (2, N)
    on_side = (got.colour == scene.colour).all(0)
    both_colours = on_side | (got.colour == swap_colours(scene).colour).all(0)
    return {
        "both": right.all(0).float().mean().item(),
        "swapped": swapped.float().mean().item(),
        "wrong colour": foreign.any(0).float().mean().item(),
        # the pictures that show the two named colours, one in each half
        "colours": both_colours.float().mean().item(),
        # of those, the share with each colour on its side
        "sides": (on_side.sum() / both_colours.sum().clamp_min(1)).item(),
    }


@torch.no_grad()
def adherence(model, vae, clip, judge, scale: float = 2.0, seed: int = 0) -> dict:
    """A latent model measured as Chapter 8's is (:func:`difflab.t2i.adherence`, on
    Chapter 8's never-seen single-object prompts, CLIP score under ``judge``, Chapter 1's
    CLIP), and on the held-out two-object prompts (:func:`binding_shares`, keys
    "scenes: ...")."""
    how = {"scale": scale, "seed": seed, "model": model, "vae": vae, "clip": clip}
    how["conditioning"] = model.config.conditioning
    held, prompts = unseen_prompts()
    shares = attribute_shares(text_to_image(prompts, **how), held, prompts, judge)
    scene, prompts = scene_prompts()
    x = text_to_image(prompts, **how)
    shares.update({f"scenes: {k}": v for k, v in binding_shares(x, scene).items()})
    return shares


def word_attention(
    model, prompt: str, t: int, z: torch.Tensor, clip
) -> tuple[torch.Tensor, list[str]]:
    """Where each word of ``prompt`` looks: the cross-attention weights of every word over
    the 8 x 8 latent grid at timestep ``t`` for the noisy latents ``z`` (N, 4, 8, 8), averaged
    over heads and over the layers that work at 8 x 8. Returns (maps (N, words, 8, 8), the
    words), each map normalised to sum to 1 over the grid."""
    net = model.net
    cond = registry.text_condition(clip, [prompt], "cross_attention")
    cond = cond.to(z.device).expand(len(z), *cond.shape[1:])
    for a in net.attend:
        a.keep = True
    try:
        with torch.no_grad():
            net(z, torch.full((len(z),), t, device=z.device), cond)
        maps = [a.weights for a in net.attend if a.weights.shape[2] == 64]
    finally:
        for a in net.attend:
            a.keep, a.weights = False, None
    w = torch.stack(maps).mean((0, 2))[
        ..., 1:
    ]  # (N, 64, L): the words, not the null token
    words = (
        ["<bos>"]
        + clip.tokenizer.decode(clip.tokenizer.encode([prompt]))[0].split()
        + ["<eos>"]
    )
    w = w[..., : len(words)].transpose(1, 2)  # (N, L, 64)
    w = w / w.sum(-1, keepdim=True)
    return w.reshape(len(z), len(words), 8, 8).cpu(), words


def painted_share(
    maps: torch.Tensor, words: list[str], images: torch.Tensor, colours: tuple[int, int]
) -> float:
    """Whether each colour word looks at the object painted in its colour: of the attention a
    colour word of :func:`word_attention`'s ``maps`` gives the latent cells of the two
    objects, the share on the cells of its own colour, averaged over the two words and the
    pictures ``images`` (N, 3, 32, 32) the maps were made from. A latent cell covers 4 x 4
    pixels; a pixel belongs to the nearest of the two ``colours`` (indices into ``COLOURS``)
    where it is bright enough to be part of an object. 0.5: the word looks at both objects
    alike."""
    rgb = RGB[list(colours)]  # (2, 3)
    pixels = images.permute(0, 2, 3, 1)  # (N, 32, 32, 3)
    nearest = torch.cdist(pixels.reshape(-1, 3), rgb).argmin(1).view(pixels.shape[:3])
    bright = pixels.amax(-1) > 0.3
    cells = [
        torch.nn.functional.avg_pool2d(((nearest == k) & bright).float()[:, None], 4)[
            :, 0
        ]
        for k in range(2)
    ]  # (N, 8, 8) each: the share of each cell painted in colour k
    shares = []
    for k, colour in enumerate(colours):
        a = maps[:, words.index(COLOURS[colour])]  # (N, 8, 8)
        own, other = (a * cells[k]).sum((1, 2)), (a * cells[1 - k]).sum((1, 2))
        shares.append(own / (own + other).clamp_min(1e-12))
    return torch.cat(shares).mean().item()


def step_seconds(
    name: str, *, batch_size: int = 64, repeats: int = 5, tokens: int = 20
) -> float:
    """CPU seconds of one training step (forward, backward, AdamW) of the shipped model
    ``name``'s network ("t2i", "latent" or "latent_pooled"), the median of ``repeats`` steps
    after one warm-up, on random inputs of its data's shapes: pixels (B, 3, 32, 32) or
    latents (B, 4, 8, 8), with a pooled embedding or ``tokens`` token states."""
    recipe = registry.recipe_of(name)
    net = registry.build(
        recipe
    )  # fresh weights on the CPU: the cost does not depend on them
    loss = registry.FAMILIES[recipe["family"]].loss(recipe)
    gen = torch.Generator().manual_seed(0)
    m = recipe["model"]
    x = torch.randn(
        batch_size, *((3, 32, 32) if recipe["family"] == "t2i" else (4, 8, 8))
    )
    pooled = m.get("conditioning", "pooled") == "pooled"
    cond = torch.randn(
        batch_size, *((m["cond_dim"],) if pooled else (tokens, m["cond_dim"]))
    )
    opt = torch.optim.AdamW(net.parameters())
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        value = loss(net, (x, cond), gen)
        opt.zero_grad()
        value.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])
