"""The video chapter: text-to-video in miniature, built the way WAN 2.1 and Sora are.

prompt --the clip CLIP (a CLIP whose image side reads whole clips)--> token states
--diffusion transformer over spacetime patches (models/video_dit.py), guided by
``guidance.cfg``--> flow matching's ODE on F x 4 x 8 x 8 latents (Euler, ``difflab.flow``)
--/ scaling factor, the autoencoder's decoder, frame by frame--> a clip (F, 3, 32, 32).

The rest measures clips: :func:`read_clips` reads every frame with Chapter 8's attribute
reader, :func:`clip_shares` says whether a clip holds one object of one colour and shape
that moves smoothly the named way.
"""

from __future__ import annotations

import statistics
import time
from typing import NamedTuple

import torch

from . import latent, registry
from ._checks import check_finite, check_int
from .data.clips import (
    FRAMES,
    MOTIONS,
    N_COMBOS,
    SPEED,
    ClipAttributes,
    describe_clips,
    is_heldout,
)
from .data.shapes import COLOURS
from .flow_samplers import euler_sample
from .guidance import cfg
from .metrics import centre_of, read_attributes
from .schedules import flow_sigmas
from .t2i import _check_prompts, warn_unknown


@torch.no_grad()
def text_to_video(
    prompts: str | list[str],
    negative: str | None = None,
    *,
    scale: float = 4.0,
    steps: int = 20,
    seed: int = 0,
    model=None,
    vae=None,
    clip=None,
    callback=None,
) -> torch.Tensor:
    """Clips (len(prompts), 8, 3, 32, 32) in [0, 1]: Euler steps on the flow's ODE
    dz/dsigma = v(z, sigma) from noise (sigma = 1) to data (Liu et al. 2023), v guided by
    v_n + s (v_c - v_n) (Ho and Salimans 2022, eq. 6), then every frame through the
    autoencoder's decoder. ``negative``: a prompt that takes the unconditional prediction's
    place (Chapter 7). ``callback(i, sigma, z, z0_hat)`` sees every step, in the scaled
    latent space. Words the text encoder never saw are named in a warning."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    _check_prompts(prompts, f"prompts={prompts!r}", "a red circle moving to the right")
    if negative is not None:
        _check_prompts([negative], f"negative={negative!r}", "moving left")
    check_finite("scale", scale)
    check_int("steps", steps, low=1)
    check_int("seed", seed, low=0)
    model = model if model is not None else registry.load("video")
    vae = vae if vae is not None else registry.load("vae")
    clip = clip if clip is not None else registry.load("video_clip")
    warn_unknown(clip.tokenizer, prompts + ([negative] if negative else []))
    dev = next(model.parameters()).device
    cond = registry.text_condition(clip, prompts, "cross_attention").to(dev)
    neg = None
    if negative is not None:
        neg = registry.text_condition(clip, [negative], "cross_attention").to(dev)
        neg = neg.expand(len(prompts), *neg.shape[1:])
    c = model.config
    shape = (len(prompts), c.frames, c.latent_channels, c.size, c.size)
    z = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dev)
    guided = cfg(model, cond, scale, negative=neg)
    z0 = euler_sample(guided, z, flow_sigmas(steps), callback=callback)
    return decode(vae, z0)


@torch.no_grad()
def decode(vae, z: torch.Tensor) -> torch.Tensor:
    """Clips (N, F, 3, 32, 32) in [0, 1] from scaled latents (N, F, 4, 8, 8), frame by
    frame; on the CPU."""
    frames = z.flatten(0, 1).to(vae.scaling_factor.device) / vae.scaling_factor
    return vae.decode(frames).view(*z.shape[:2], 3, 32, 32).cpu()


@torch.no_grad()
def frame_by_frame(
    prompts: list[str], *, scale: float = 3.0, seed: int = 0, frames: int = FRAMES
) -> torch.Tensor:
    """Clips (N, F, 3, 32, 32) made the wrong way: the latent-space chapter's image model
    run once for every frame, on the same prompt, each frame from its own noise."""
    many = [p for p in prompts for _ in range(frames)]
    images = latent.text_to_image(many, scale=scale, seed=seed)
    return images.view(len(prompts), frames, 3, 32, 32)


class ClipReading(NamedTuple):
    shape: torch.Tensor  # (N, F) index into SHAPES, -1 where no object is found
    colour: torch.Tensor  # (N, F) index into COLOURS, -1 where none
    centre: torch.Tensor  # (N, F, 2) the centroid of the bright pixels, (x, y), pixels


def read_clips(clips: torch.Tensor, threshold: float = 0.3) -> ClipReading:
    """Every frame of ``clips`` (N, F, 3, 32, 32) read by
    :func:`~difflab.metrics.read_attributes` (shape, colour), and the centre of its bright
    pixels (those whose brightest channel exceeds ``threshold``)."""
    _check_clips(clips)
    frames = clips.detach().float().cpu().flatten(0, 1)
    got = read_attributes(frames, threshold)
    centre = centre_of((frames.amax(1) > threshold).float())  # (N F, 2)
    n, f = clips.shape[:2]
    return ClipReading(
        got.shape.view(n, f), got.colour.view(n, f), centre.view(n, f, 2)
    )


def direction(
    centre: torch.Tensor, least: float = 0.5 * SPEED * (FRAMES - 1)
) -> torch.Tensor:
    """The motion (index into MOTIONS) of each track ``centre`` (N, F, 2): the larger
    component of the way from the first frame's centre to the last's, -1 where the object
    moved less than ``least`` pixels (half the training clips' 14 px)."""
    way = centre[:, -1] - centre[:, 0]  # (N, 2)
    dx, dy = way.unbind(1)
    horizontal = dx.abs() >= dy.abs()
    motion = torch.where(
        horizontal,
        torch.where(dx > 0, 0, 1),
        torch.where(dy < 0, 2, 3),
    )
    return torch.where(way.norm(dim=1) >= least, motion, -1)


def clip_shares(clips: torch.Tensor, attrs: ClipAttributes | None = None) -> dict:
    """What a set of clips shows, read by :func:`read_clips`:

    - "consistent": one object whose shape and colour stay the same in every frame;
    - "smooth": of those, the clips whose object moves (:func:`direction` finds a motion)
      by about the same step every frame (each step within 1.5 px of the clip's mean step);
    - "one colour": an object in every frame, of the same colour in all of them;
    - "jump": the mean distance in pixels the centre moves between frames (2 in the data);
    - with ``attrs``, the (shape, colour, motion) each clip was asked for: "direction"
      (moves the asked way), "shape and colour" (consistent and the asked ones), "right"
      (all three)."""
    r = read_clips(clips)
    found = (r.shape >= 0).all(1)
    consistent = (
        found
        & (r.shape == r.shape[:, :1]).all(1)
        & (r.colour == r.colour[:, :1]).all(1)
    )
    steps = r.centre.diff(dim=1)  # (N, F - 1, 2)
    mean_step = steps.mean(1, keepdim=True)
    even = ((steps - mean_step).norm(dim=2) <= 1.5).all(1)
    smooth = consistent & (direction(r.centre) >= 0) & even
    one_colour = found & (r.colour == r.colour[:, :1]).all(1)
    out = {
        "one colour": one_colour.float().mean().item(),
        "consistent": consistent.float().mean().item(),
        "smooth": smooth.float().mean().item(),
        "jump": steps.norm(dim=2).mean().item(),
    }
    if attrs is not None:
        way = direction(r.centre) == attrs.motion
        named = (
            consistent
            & (r.shape[:, 0] == attrs.shape)
            & (r.colour[:, 0] == attrs.colour)
        )
        out["direction"] = way.float().mean().item()
        out["shape and colour"] = named.float().mean().item()
        out["right"] = (way & named).float().mean().item()
    return out


def heldout_prompts(
    repeats: int = 2, seed: int = 0
) -> tuple[ClipAttributes, list[str]]:
    """The test of motion: every held-out (shape, colour, motion) combination ``repeats``
    times, each described with all three in a held-out sentence (seeded by ``seed``)."""
    every = torch.arange(N_COMBOS)
    motion, rest = every % len(MOTIONS), every // len(MOTIONS)
    attrs = ClipAttributes(rest // len(COLOURS), rest % len(COLOURS), motion)
    held = is_heldout(attrs).repeat(check_int("repeats", repeats, low=1))
    attrs = ClipAttributes(*(a.repeat(repeats)[held] for a in attrs))
    gen = torch.Generator().manual_seed(seed)
    return attrs, describe_clips(attrs, gen, wording="heldout")


def step_seconds(
    recipe: dict, *, batch_size: int = 32, repeats: int = 3, tokens: int = 12
) -> float:
    """CPU seconds of one training step (forward, backward, AdamW) of ``recipe``'s network,
    the median of ``repeats`` steps after one warm-up, on random latents and token states
    of its shapes (fresh weights: the cost does not depend on them)."""
    net = registry.build(recipe)
    loss = registry.FAMILIES[recipe["family"]].loss(recipe)
    m, gen = recipe["model"], torch.Generator().manual_seed(0)
    z = torch.randn(batch_size, m["frames"], m["latent_channels"], m["size"], m["size"])
    batch = (z, torch.randn(batch_size, tokens, m["cond_dim"]))
    opt = torch.optim.AdamW(net.parameters())
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        value = loss(net, batch, gen)
        opt.zero_grad()
        value.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def tokens_per_clip(
    frames: int,
    height: int,
    width: int,
    *,
    time_down: int = 1,
    space_down: int = 8,
    patch=(1, 2, 2),
) -> int:
    """The tokens a transformer reads for a clip of ``frames`` frames of ``height`` x
    ``width`` pixels: the autoencoder keeps the first frame and one latent frame for every
    ``time_down`` after it (WAN 2.1's causal 3D autoencoder: 4; ours: 1) and divides each
    side by ``space_down``, then every patch of (time, height, width) latent cells is a
    token (Sora's "spacetime patches")."""
    latent_frames = 1 + (frames - 1) // time_down
    t, h, w = patch
    return (
        (latent_frames // t) * (height // space_down // h) * (width // space_down // w)
    )


def _check_clips(clips) -> None:
    if (
        not isinstance(clips, torch.Tensor)
        or clips.ndim != 5
        or clips.shape[2:] != (3, 32, 32)
    ):
        got = (
            tuple(clips.shape)
            if isinstance(clips, torch.Tensor)
            else type(clips).__name__
        )
        raise ValueError(
            f"clips must be a tensor (N, F, 3, 32, 32) in [0, 1], got {got}"
        )


__all__ = [
    "clip_shares",
    "decode",
    "direction",
    "frame_by_frame",
    "heldout_prompts",
    "read_clips",
    "step_seconds",
    "text_to_video",
    "tokens_per_clip",
]
