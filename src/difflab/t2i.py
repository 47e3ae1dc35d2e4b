"""Chapter 8: a sentence to a picture with the book's own parts.

prompt --CLIP text encoder (Chapter 1)--> embedding --U-Net (models/unet.py), guided by
``guidance.cfg`` (Chapters 6-7)--> DDIM (Chapter 4) --> 32 x 32 image.
"""

from __future__ import annotations

import functools
import math
import numbers
from pathlib import Path

import torch

from .data.shapes import (
    COLOURS,
    N_COMBOS,
    SHAPES,
    Attributes,
    combo_attributes,
    describe,
    is_heldout,
    make_shapes,
)
from .guidance import cfg
from .metrics import clip_score, read_attributes
from .models.unet import EpsFromV, TextUNet, UNetConfig, v_loss
from .recipes import load_clip
from .saving import load_model, save_model
from .samplers import ddim_sample, spaced_timesteps
from .schedules import alphas_cumprod, cosine_betas
from .training import TrainConfig, rank_and_world, train
from .utils import local_seed


T2I_CHECKPOINT = Path(__file__).parent / "checkpoints" / "t2i.safetensors"
T2I_RECIPE = {  # the same parts as every recipe of the book (difflab.recipes)
    "data": {
        "n_images": 20000,
        "seed": 1,
        "split": "train",
        "p_omit": 0.3,  # make_shapes(...)
        "unseen_pairs": [["triangle", "green"], ["cross", "purple"]],
    },  # (shape, colour): never shown
    "model": {"channels": [32, 64, 128], "emb_dim": 128, "cond_dim": 512},  # UNetConfig
    "schedule": {
        "kind": "cosine",
        "T": 1000,
        "prediction": "v",
    },  # cosine_betas; the net predicts v
    "train": {
        "steps": 4000,
        "batch_size": 64,
        "lr": 2e-3,
        "warmup": 100,
        "ema": 0.998,
        "seed": 0,
    },  # TrainConfig
    "p_uncond": 0.15,  # condition dropout (Ho and Salimans 2022)
}


def t2i_schedule(recipe: dict = T2I_RECIPE) -> torch.Tensor:
    """abar_t of the cosine schedule (Nichol and Dhariwal 2021, eq. 17)."""
    return alphas_cumprod(cosine_betas(recipe["schedule"]["T"]))


def build_t2i(recipe: dict = T2I_RECIPE) -> EpsFromV:
    m = recipe["model"]
    net = TextUNet(UNetConfig(tuple(m["channels"]), m["cond_dim"], m["emb_dim"]))
    return EpsFromV(net, t2i_schedule(recipe))


def is_unseen_pair(attrs: Attributes, recipe: dict = T2I_RECIPE) -> torch.Tensor:
    """True where (shape, colour) is one of the recipe's ``unseen_pairs``, which training never shows."""
    out = torch.zeros(len(attrs.shape), dtype=torch.bool)
    for shape, colour in recipe["data"]["unseen_pairs"]:
        out |= (attrs.shape == SHAPES.index(shape)) & (
            attrs.colour == COLOURS.index(colour)
        )
    return out


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


def t2i_data(recipe: dict = T2I_RECIPE, clip=None):
    """(images in [-1, 1] (N,3,32,32), CLIP text embeddings (N,512)) of the training captions:
    ``n_images`` from the generator's "train" split, less those of an unseen (shape, colour) pair."""
    clip = clip or load_clip()
    d = recipe["data"]
    data = make_shapes(d["n_images"], d["seed"], split=d["split"], p_omit=d["p_omit"])
    keep = ~is_unseen_pair(data.attributes, recipe)
    captions = [c for c, k in zip(data.captions, keep.tolist()) if k]
    with torch.no_grad():
        emb = torch.cat(
            [
                clip.encode_text(captions[i : i + 1000])
                for i in range(0, len(captions), 1000)
            ]
        )
    return data.images[
        keep
    ] * 2 - 1, emb.float().cpu()  # on the CPU, like the images: train() moves batches


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
    return x, ok


def train_t2i(
    recipe: dict = T2I_RECIPE,
    *,
    out=None,
    checkpoint_every: int = 0,
    data=None,
    device=None,
    log_every: int = 0,
    log_scale: float = 2.0,
):
    """Train the U-Net of ``recipe`` (v-prediction, condition dropout, EMA); returns (model, losses).
    With ``out`` the weights and recipe go to that safetensors file, the resumable state beside it.
    Under torchrun, every process calls this; see :func:`difflab.training.train` (process 0 writes).

    ``log_every``: every that many steps, measure :func:`adherence` of the weights so far (EMA) at
    ``log_scale``, and store these measurements and the loss (mean of every 100 steps) in the
    file's metadata as its training log (:func:`difflab.saving.read_training_log`). A run resumed
    after an interruption logs only the measurements it takes itself.
    """
    with local_seed(
        recipe["train"]["seed"]
    ):  # the initial weights; the process's random state is left alone
        model = build_t2i(recipe).to(device or "cpu")
        probe = (
            build_t2i(recipe).to(device or "cpu").eval() if log_every else None
        )  # for the log
    clip = load_clip() if log_every else None
    data = data if data is not None else t2i_data(recipe, clip)
    log = {"scale": log_scale, "step": []} if log_every else None

    def record(
        step, weights
    ):  # the EMA weights so far, measured on the never-seen prompts
        probe.net.load_state_dict(weights)
        _, shares = adherence(probe, clip, log_scale, recipe=recipe)
        log["step"].append(step)
        for k, v in shares.items():
            log.setdefault(k, []).append(round(v, 4))

    run = recipe["train"]
    cfg = TrainConfig(**{**run, "warmup": min(run["warmup"], run["steps"])})
    loss = functools.partial(
        v_loss, alphas_cumprod=model.alphas_cumprod, p_uncond=recipe["p_uncond"]
    )
    state = f"{out}.state.pt" if out is not None and checkpoint_every else None
    history = train(
        model.net,
        loss,
        data,
        cfg,
        checkpoint=state,
        checkpoint_every=checkpoint_every,
        desc="text-to-image U-Net",
        callback=record if log_every else None,
        callback_every=log_every,
    )
    if log is not None:
        log["loss_per_100_steps"] = [
            round(sum(history[i : i + 100]) / len(history[i : i + 100]), 5)
            for i in range(0, len(history), 100)
        ]
    if out is not None and rank_and_world()[0] == 0:
        save_model(model.net, out, recipe, log=log)
    return model, history


def load_t2i(path=T2I_CHECKPOINT, recipe: dict = T2I_RECIPE) -> EpsFromV:
    """The shipped text-to-image model (epsilon-predicting wrapper, eval mode)."""
    net = load_model(path, recipe, maker="scripts/train_t2i.py")
    return EpsFromV(net, t2i_schedule(recipe)).eval()


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
    """Images (n * len(prompts), 3, 32, 32) in [0, 1] for ``prompt`` with classifier-free guidance.

    ``negative``: a prompt whose embedding replaces the unconditional prediction (Chapter 7).
    ``callback(i, t, x, x0_hat)`` sees every DDIM step (in the model's [-1, 1] pixel range), e.g.
    to watch an image appear.
    Words CLIP's tokenizer never saw map to its unknown-word token; they still give an embedding,
    so an unknown word is not an error, but it carries no meaning the model learned.
    """
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
        raise ValueError(
            f"prompt={prompt!r} must be a non-empty string (or a list of them), e.g. 'a red circle'"
        )
    if negative is not None and (not isinstance(negative, str) or not negative.strip()):
        raise ValueError(
            f"negative={negative!r} must be None or a non-empty string, e.g. 'red'"
        )
    if (
        isinstance(scale, bool)
        or not isinstance(scale, numbers.Real)
        or not math.isfinite(scale)
    ):
        raise ValueError(
            f"scale={scale!r} must be a finite number (1 = no guidance, e.g. 3.0)"
        )
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps={steps!r} must be an integer >= 1 (e.g. 25)")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n={n!r} must be an integer >= 1")
    model = model if model is not None else load_t2i()
    clip = clip if clip is not None else load_clip()
    dev = model.alphas_cumprod.device
    cond = clip.encode_text(prompts).float().to(dev).repeat_interleave(n, 0)  # (N, 512)
    neg = (
        None
        if negative is None
        else clip.encode_text([negative]).float().to(dev).expand_as(cond)
    )
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(cond.shape[0], 3, 32, 32, generator=gen).to(dev)
    ts = spaced_timesteps(len(model.alphas_cumprod), steps)
    x0 = ddim_sample(
        cfg(model, cond, scale, negative=neg),
        x,
        ts,
        model.alphas_cumprod,
        callback=callback,
    )
    return ((x0 + 1) / 2).clamp(0, 1).cpu()
