"""Recipes for the models that chapters share, and the shipped weights they make.

A recipe is a plain dict: the data, the network, the schedule and the training run. The
script ``scripts/train_spiral.py`` trains with :data:`SPIRAL_DDPM` and writes
``checkpoints/spiral_ddpm.safetensors`` with the recipe in its metadata; Chapter 3 trains the
same recipe live, and Chapter 4 loads the file instead of relying on Chapter 3 having run.
Likewise ``scripts/train_spiral.py --model cond`` trains :data:`SPIRAL_COND`, the class-conditional
denoiser with condition dropout that Chapters 5, 6 and 7 load.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

from .data.spiral import make_spiral
from .models.mlp import MLPConfig, MLPDenoiser
from .schedules import alphas_cumprod, linear_betas
from .training import TrainConfig, ddpm_loss, ddpm_loss_cond, train

CHECKPOINTS = Path(__file__).parent / "checkpoints"

SPIRAL_DDPM = {
    "data": {"n": 20_000, "seed": 0, "jitter": 0.03},        # the training set: make_spiral(**data)
    "model": {"hidden": 128, "depth": 3, "time_dim": 64},     # MLPConfig
    "schedule": {"T": 1000, "beta_start": 1e-4, "beta_end": 0.02},  # linear_betas (Ho et al. 2020)
    "train": {"steps": 4000, "batch_size": 512, "lr": 2e-3, "warmup": 100, "ema": 0.0, "seed": 0},  # TrainConfig
    "init_seed": 0,                                            # seed_everything before building the model
}


def spiral_schedule(recipe: dict = SPIRAL_DDPM) -> torch.Tensor:
    """alphas_cumprod of the recipe's linear schedule."""
    return alphas_cumprod(linear_betas(**recipe["schedule"]))


def build_spiral_denoiser(recipe: dict = SPIRAL_DDPM) -> MLPDenoiser:
    """The recipe's network with its initial weights, drawn with ``recipe["init_seed"]`` in a forked
    random state (the process's own random state is left as it was): what training starts from."""
    with torch.random.fork_rng():
        torch.manual_seed(recipe["init_seed"])
        return MLPDenoiser(MLPConfig(**recipe["model"]))


def train_spiral_denoiser(recipe: dict = SPIRAL_DDPM, *, steps: int | None = None, loss=ddpm_loss,
                          checkpoint=None, data: torch.Tensor | None = None) -> tuple[MLPDenoiser, list[float]]:
    """Train the spiral denoiser of ``recipe`` from scratch (``steps`` overrides the recipe's,
    for fast mode; ``data`` (N, 2) replaces the recipe's training set); returns (model, loss history)."""
    from .utils import seed_everything

    seed_everything(recipe["init_seed"])
    model = MLPDenoiser(MLPConfig(**recipe["model"]))
    cfg = TrainConfig(**{**recipe["train"], **({"steps": steps} if steps else {})})
    data = make_spiral(**recipe["data"]).x if data is None else data
    history = train(model, functools.partial(loss, alphas_cumprod=spiral_schedule(recipe)), data, cfg,
                    checkpoint=checkpoint, checkpoint_every=500 if checkpoint else 0)
    return model, history


def save_model(model: torch.nn.Module, path, recipe: dict, log: dict | None = None) -> None:
    """Weights as safetensors, with the recipe that made them in the file's metadata, and
    optionally a training ``log`` (any JSON-able dict, e.g. measurements taken while training)."""
    from safetensors.torch import save_file

    metadata = {"recipe": json.dumps(recipe, sort_keys=True)}
    if log is not None:
        metadata["training_log"] = json.dumps(log, sort_keys=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=metadata)


def read_training_log(path) -> dict:
    """The training log :func:`save_model` stored in a checkpoint's metadata; a clear error if it has none."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        log = (f.metadata() or {}).get("training_log")
    if log is None:
        raise ValueError(f"{path} has no training log in its metadata; its script did not write one")
    return json.loads(log)


def load_model(model: torch.nn.Module, path, recipe: dict, maker: str = "its script in scripts/") -> torch.nn.Module:
    """Load weights saved by :func:`save_model` into ``model``; a clear error if the file is missing
    (saying how to make it: ``maker``), was made with another recipe, or its tensors do not match the model."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; make it with {maker}")
    with safe_open(str(path), "pt") as f:
        meta = (f.metadata() or {}).get("recipe")
    if meta is None or json.loads(meta) != json.loads(json.dumps(recipe, sort_keys=True)):
        raise ValueError(f"{path} was made with recipe {meta}, not {json.dumps(recipe, sort_keys=True)}")
    state = load_file(str(path))
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if expected != found:
        diff = sorted(set(expected.items()) ^ set(found.items()))[:4]
        raise ValueError(f"{path} does not match the model: differing tensors (name, shape) {diff}")
    model.load_state_dict(state)
    return model.eval()


def load_spiral_denoiser(recipe: dict = SPIRAL_DDPM, path=None) -> MLPDenoiser:
    """The shipped spiral denoiser of Chapter 3 (made by scripts/train_spiral.py)."""
    path = CHECKPOINTS / "spiral_ddpm.safetensors" if path is None else path
    return load_model(MLPDenoiser(MLPConfig(**recipe["model"])), path, recipe, maker="scripts/train_spiral.py")


SPIRAL_COND = {
    # make_spiral(**data): the parts are the classes, and a fifth of the points carry the label of
    # another part (classes that overlap, as image classes do; Chapter 5)
    "data": {"n": 20_000, "seed": 0, "jitter": 0.03, "n_parts": 3, "label_noise": 0.2},
    "model": {"hidden": 128, "depth": 3, "time_dim": 64, "n_classes": 3},  # MLPConfig, with a class embedding
    "schedule": {"T": 1000, "beta_start": 1e-4, "beta_end": 0.02},  # linear_betas (Ho et al. 2020)
    "train": {"steps": 6000, "batch_size": 512, "lr": 2e-3, "warmup": 100, "ema": 0.0, "seed": 0},  # TrainConfig
    "p_uncond": 0.1,                                           # condition dropout (Ho and Salimans 2022)
    "init_seed": 0,                                            # seed_everything before building the model
}


def train_cond_denoiser(recipe: dict = SPIRAL_COND, *, steps: int | None = None,
                        checkpoint=None) -> tuple[MLPDenoiser, list[float]]:
    """Train the class-conditional spiral denoiser of ``recipe`` from scratch with condition dropout
    (``steps`` overrides the recipe's); returns (model, loss history)."""
    from .utils import seed_everything

    seed_everything(recipe["init_seed"])
    model = MLPDenoiser(MLPConfig(**recipe["model"]))
    cfg = TrainConfig(**{**recipe["train"], **({"steps": steps} if steps else {})})
    spiral = make_spiral(**recipe["data"])
    loss = functools.partial(ddpm_loss_cond, alphas_cumprod=spiral_schedule(recipe), p_uncond=recipe["p_uncond"])
    history = train(model, loss, (spiral.x, spiral.label), cfg, checkpoint=checkpoint,
                    checkpoint_every=500 if checkpoint else 0, desc="training f(x, t, c)")
    return model, history


def load_cond_denoiser(recipe: dict = SPIRAL_COND, path=None) -> MLPDenoiser:
    """The shipped class-conditional spiral denoiser of Chapters 5-7 (made by scripts/train_spiral.py --model cond)."""
    path = CHECKPOINTS / "spiral_cond.safetensors" if path is None else path
    return load_model(MLPDenoiser(MLPConfig(**recipe["model"])), path, recipe,
                      maker="scripts/train_spiral.py --model cond")
