"""Recipes for the models that chapters share, and the shipped weights they make.

A recipe is a plain dict: the data, the network, the schedule and the training run. The
script ``scripts/train_spiral.py`` trains with :data:`SPIRAL_DDPM` and writes
``checkpoints/spiral_ddpm.safetensors`` with the recipe in its metadata; Chapter 3 trains the
same recipe live, and Chapter 4 loads the file instead of relying on Chapter 3 having run.
Likewise ``scripts/train_spiral.py --model cond`` trains :data:`SPIRAL_COND`, the class-conditional
denoiser with condition dropout that Chapters 5, 6 and 7 load, and ``scripts/train_clip.py``
trains :data:`CLIP_RECIPE`, Chapter 1's CLIP. (Chapter 8's recipe is ``difflab.t2i.T2I_RECIPE``.)
Every recipe has the same parts: ``data``, ``model`` (the network's config), ``train`` (a
:class:`~difflab.training.TrainConfig`), and a ``schedule`` for the diffusion models. All files are
written and read by :mod:`difflab.saving`.
"""
from __future__ import annotations

import copy
import functools
from dataclasses import asdict
from pathlib import Path

import torch

from .data.spiral import make_spiral
from .models.clip import CLIP, CLIPConfig
from .models.mlp import MLPConfig, MLPDenoiser
from .schedules import alphas_cumprod, linear_betas
from .saving import load_model
from .train_clip import P_OMIT, clip_run
from .training import TrainConfig, ddpm_loss, ddpm_loss_cond, train
from .utils import local_seed

CHECKPOINTS = Path(__file__).parent / "checkpoints"

SPIRAL_DDPM = {
    "data": {"n": 20_000, "seed": 0, "jitter": 0.03},        # the training set: make_spiral(**data)
    "model": {"hidden": 128, "depth": 3, "time_dim": 64},     # MLPConfig
    "schedule": {"T": 1000, "beta_start": 1e-4, "beta_end": 0.02},  # linear_betas (Ho et al. 2020)
    "train": {"steps": 4000, "batch_size": 512, "lr": 2e-3, "warmup": 100, "ema": 0.0, "seed": 0},  # TrainConfig
    "init_seed": 0,                                            # seeds the initial weights (local_seed)
}


def changed(recipe: dict, **parts) -> dict:
    """A copy of ``recipe`` with some entries of its parts changed:
    ``changed(T2I_RECIPE, train={"steps": 40}, data={"n_images": 2000})``."""
    out = copy.deepcopy(recipe)
    for part, entries in parts.items():
        if part not in out:
            raise ValueError(f"the recipe has no part {part!r}; its parts are {', '.join(out)}")
        if isinstance(out[part], dict):
            unknown = sorted(set(entries) - set(out[part]))
            if unknown:
                raise ValueError(f"recipe[{part!r}] has no entries {unknown}; it has {', '.join(out[part])}")
            out[part].update(entries)
        else:
            out[part] = entries
    return out


def spiral_schedule(recipe: dict = SPIRAL_DDPM) -> torch.Tensor:
    """alphas_cumprod of the recipe's linear schedule: a float64 table on the CPU, which the
    samplers and :func:`~difflab.schedules.q_sample` read on any device (Apple's MPS has no
    float64, so the table stays where every device can read it)."""
    return alphas_cumprod(linear_betas(**recipe["schedule"]))


def build_spiral_denoiser(recipe: dict = SPIRAL_DDPM, *, device: torch.device | str = "cpu") -> MLPDenoiser:
    """The recipe's network with its initial weights, drawn with ``recipe["init_seed"]`` in a local
    random state (:func:`difflab.utils.local_seed`; the process's own is left as it was) on the
    CPU, then moved to ``device``: what training starts from, the same on every device."""
    with local_seed(recipe["init_seed"]):
        return MLPDenoiser(MLPConfig(**recipe["model"])).to(device)


def train_spiral_denoiser(recipe: dict = SPIRAL_DDPM, *, steps: int | None = None, loss=ddpm_loss,
                          checkpoint=None, data: torch.Tensor | None = None,
                          device: torch.device | str = "cpu") -> tuple[MLPDenoiser, list[float]]:
    """Train the spiral denoiser of ``recipe`` from scratch on ``device`` (``steps`` overrides the
    recipe's, for fast mode; ``data`` (N, 2) replaces the recipe's training set); returns (model,
    loss history)."""
    model = build_spiral_denoiser(recipe, device=device)
    cfg = TrainConfig(**{**recipe["train"], **({"steps": steps} if steps else {})})
    data = make_spiral(**recipe["data"]).x if data is None else data
    history = train(model, functools.partial(loss, alphas_cumprod=spiral_schedule(recipe)), data, cfg,
                    checkpoint=checkpoint, checkpoint_every=500 if checkpoint else 0)
    return model, history


def load_spiral_denoiser(recipe: dict = SPIRAL_DDPM, path=None, *,
                         device: torch.device | str = "cpu") -> MLPDenoiser:
    """The shipped spiral denoiser of Chapter 3 (made by scripts/train_spiral.py), on ``device``."""
    path = CHECKPOINTS / "spiral_ddpm.safetensors" if path is None else path
    return load_model(path, recipe, maker="scripts/train_spiral.py", device=device)


SPIRAL_COND = {
    # make_spiral(**data): the parts are the classes, and a fifth of the points carry the label of
    # another part (classes that overlap, as image classes do; Chapter 5)
    "data": {"n": 20_000, "seed": 0, "jitter": 0.03, "n_parts": 3, "label_noise": 0.2},
    "model": {"hidden": 128, "depth": 3, "time_dim": 64, "n_classes": 3},  # MLPConfig, with a class embedding
    "schedule": {"T": 1000, "beta_start": 1e-4, "beta_end": 0.02},  # linear_betas (Ho et al. 2020)
    "train": {"steps": 6000, "batch_size": 512, "lr": 2e-3, "warmup": 100, "ema": 0.0, "seed": 0},  # TrainConfig
    "p_uncond": 0.1,                                           # condition dropout (Ho and Salimans 2022)
    "init_seed": 0,                                            # seeds the initial weights (local_seed)
}


def train_cond_denoiser(recipe: dict = SPIRAL_COND, *, steps: int | None = None,
                        checkpoint=None, device: torch.device | str = "cpu") -> tuple[MLPDenoiser, list[float]]:
    """Train the class-conditional spiral denoiser of ``recipe`` from scratch with condition dropout
    on ``device`` (``steps`` overrides the recipe's); returns (model, loss history)."""
    model = build_spiral_denoiser(recipe, device=device)
    cfg = TrainConfig(**{**recipe["train"], **({"steps": steps} if steps else {})})
    spiral = make_spiral(**recipe["data"])
    loss = functools.partial(ddpm_loss_cond, alphas_cumprod=spiral_schedule(recipe), p_uncond=recipe["p_uncond"])
    history = train(model, loss, (spiral.x, spiral.label), cfg, checkpoint=checkpoint,
                    checkpoint_every=500 if checkpoint else 0, desc="training f(x, t, c)")
    return model, history


def load_cond_denoiser(recipe: dict = SPIRAL_COND, path=None, *,
                       device: torch.device | str = "cpu") -> MLPDenoiser:
    """The shipped class-conditional spiral denoiser of Chapters 5-7 (made by scripts/train_spiral.py
    --model cond), on ``device``."""
    path = CHECKPOINTS / "spiral_cond.safetensors" if path is None else path
    return load_model(path, recipe, maker="scripts/train_spiral.py --model cond", device=device)


CLIP_CHECKPOINT = CHECKPOINTS / "clip.safetensors"
CLIP_RECIPE = {
    "data": {"p_omit": P_OMIT},      # difflab.train_clip.training_batch: fresh captioned shapes each step
    "model": asdict(CLIPConfig()),   # CLIPConfig
    "train": asdict(clip_run()),     # TrainConfig: CLIP's run
}


def load_clip(path=None, device: torch.device | str = "cpu") -> CLIP:
    """Chapter 1's CLIP: the shipped checkpoint (made by scripts/train_clip.py, checked against
    :data:`CLIP_RECIPE`), or the one at ``path`` (any recipe), in eval mode on ``device``."""
    recipe = CLIP_RECIPE if path is None else None
    return load_model(CLIP_CHECKPOINT if path is None else path, recipe, maker="scripts/train_clip.py", device=device)
