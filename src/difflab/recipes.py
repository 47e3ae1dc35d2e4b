"""Recipes for the models that chapters share, and the shipped weights they make.

A recipe is a plain dict: the data, the network, the schedule and the training run. The
script ``scripts/train_spiral.py`` trains with :data:`SPIRAL_DDPM` and writes
``checkpoints/spiral_ddpm.safetensors`` with the recipe in its metadata; Chapter 3 trains the
same recipe live, and Chapter 4 loads the file instead of relying on Chapter 3 having run.
Likewise ``scripts/train_spiral.py --model cond`` trains :data:`SPIRAL_COND`, the class-conditional
denoiser with condition dropout that Chapters 5, 6 and 7 load, and ``scripts/train_clip.py``
trains :data:`CLIP_RECIPE`, Chapter 1's CLIP. (Chapter 8's recipe is ``difflab.t2i.T2I_RECIPE``.)
``scripts/train_flow.py`` trains the flow-matching models of the chapter after DDIM:
:data:`SPIRAL_FLOW` (SPIRAL_DDPM's data and network, the velocity as target),
:data:`SPIRAL_FLOW_LOGIT_NORMAL` and :data:`SPIRAL_REFLOW` (:data:`FLOW_CHECKPOINTS`).
Every recipe has the same parts: ``data``, ``model`` (the network's config), ``train`` (a
:class:`~difflab.training.TrainConfig`), and a ``schedule`` for the diffusion models (the flow models
have a ``flow`` part instead, the noise-level sampling of their loss; reflow has its ``base`` recipe
and its ``pairs`` in place of ``data``). All files are written and read by :mod:`difflab.saving`.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import asdict
from pathlib import Path

import torch

from .data.spiral import make_spiral
from .models.clip import CLIP, CLIPConfig
from .flow import FLOW_SAMPLERS, flow_loss, flow_sigmas, reflow_loss, reflow_pairs
from .models.mlp import MLPConfig, MLPDenoiser, VelocityMLP
from .schedules import alphas_cumprod, linear_betas
from .saving import load_model
from .train_clip import P_OMIT, clip_run
from .training import TrainConfig, ddpm_loss, ddpm_loss_cond, train
from .utils import local_seed

CHECKPOINTS = Path(__file__).parent / "checkpoints"

SPIRAL_DDPM = {
    "data": {
        "n": 20_000,
        "seed": 0,
        "jitter": 0.03,
    },  # the training set: make_spiral(**data)
    "model": {"hidden": 128, "depth": 3, "time_dim": 64},  # MLPConfig
    "schedule": {
        "T": 1000,
        "beta_start": 1e-4,
        "beta_end": 0.02,
    },  # linear_betas (Ho et al. 2020)
    "train": {
        "steps": 4000,
        "batch_size": 512,
        "lr": 2e-3,
        "warmup": 100,
        "ema": 0.0,
        "seed": 0,
    },  # TrainConfig
    "init_seed": 0,  # seeds the initial weights (local_seed)
}


def changed(recipe: dict, **parts) -> dict:
    """A copy of ``recipe`` with some entries of its parts changed:
    ``changed(T2I_RECIPE, train={"steps": 40}, data={"n_images": 2000})``."""
    out = copy.deepcopy(recipe)
    for part, entries in parts.items():
        if part not in out:
            raise ValueError(
                f"the recipe has no part {part!r}; its parts are {', '.join(out)}"
            )
        if isinstance(out[part], dict):
            unknown = sorted(set(entries) - set(out[part]))
            if unknown:
                raise ValueError(
                    f"recipe[{part!r}] has no entries {unknown}; it has {', '.join(out[part])}"
                )
            out[part].update(entries)
        else:
            out[part] = entries
    return out


def spiral_schedule(recipe: dict = SPIRAL_DDPM) -> torch.Tensor:
    """alphas_cumprod of the recipe's linear schedule: a float64 table on the CPU, which the
    samplers and :func:`~difflab.schedules.q_sample` read on any device (Apple's MPS has no
    float64, so the table stays where every device can read it)."""
    return alphas_cumprod(linear_betas(**recipe["schedule"]))


def build_spiral_denoiser(
    recipe: dict = SPIRAL_DDPM, *, device: torch.device | str = "cpu"
) -> MLPDenoiser:
    """The recipe's network with its initial weights, drawn with ``recipe["init_seed"]`` in a local
    random state (:func:`difflab.utils.local_seed`; the process's own is left as it was) on the
    CPU, then moved to ``device``: what training starts from, the same on every device."""
    with local_seed(recipe["init_seed"]):
        return MLPDenoiser(MLPConfig(**recipe["model"])).to(device)


def train_spiral_denoiser(
    recipe: dict = SPIRAL_DDPM,
    *,
    steps: int | None = None,
    loss=ddpm_loss,
    checkpoint=None,
    data: torch.Tensor | None = None,
    device: torch.device | str = "cpu",
) -> tuple[MLPDenoiser, list[float]]:
    """Train the spiral denoiser of ``recipe`` from scratch on ``device`` (``steps`` overrides the
    recipe's, for fast mode; ``data`` (N, 2) replaces the recipe's training set); returns (model,
    loss history)."""
    model = build_spiral_denoiser(recipe, device=device)
    cfg = TrainConfig(**{**recipe["train"], **({"steps": steps} if steps else {})})
    data = make_spiral(**recipe["data"]).x if data is None else data
    history = train(
        model,
        functools.partial(loss, alphas_cumprod=spiral_schedule(recipe)),
        data,
        cfg,
        checkpoint=checkpoint,
        checkpoint_every=500 if checkpoint else 0,
    )
    return model, history


def load_spiral_denoiser(
    recipe: dict = SPIRAL_DDPM, path=None, *, device: torch.device | str = "cpu"
) -> MLPDenoiser:
    """The shipped spiral denoiser of Chapter 3 (made by scripts/train_spiral.py), on ``device``."""
    path = CHECKPOINTS / "spiral_ddpm.safetensors" if path is None else path
    return load_model(path, recipe, maker="scripts/train_spiral.py", device=device)


SPIRAL_COND = {
    # make_spiral(**data): the parts are the classes, and a fifth of the points carry the label of
    # another part (classes that overlap, as image classes do; Chapter 5)
    "data": {"n": 20_000, "seed": 0, "jitter": 0.03, "n_parts": 3, "label_noise": 0.2},
    "model": {
        "hidden": 128,
        "depth": 3,
        "time_dim": 64,
        "n_classes": 3,
    },  # MLPConfig, with a class embedding
    "schedule": {
        "T": 1000,
        "beta_start": 1e-4,
        "beta_end": 0.02,
    },  # linear_betas (Ho et al. 2020)
    "train": {
        "steps": 6000,
        "batch_size": 512,
        "lr": 2e-3,
        "warmup": 100,
        "ema": 0.0,
        "seed": 0,
    },  # TrainConfig
    "p_uncond": 0.1,  # condition dropout (Ho and Salimans 2022)
    "init_seed": 0,  # seeds the initial weights (local_seed)
}


def train_cond_denoiser(
    recipe: dict = SPIRAL_COND,
    *,
    steps: int | None = None,
    checkpoint=None,
    device: torch.device | str = "cpu",
) -> tuple[MLPDenoiser, list[float]]:
    """Train the class-conditional spiral denoiser of ``recipe`` from scratch with condition dropout
    on ``device`` (``steps`` overrides the recipe's); returns (model, loss history)."""
    model = build_spiral_denoiser(recipe, device=device)
    cfg = TrainConfig(**{**recipe["train"], **({"steps": steps} if steps else {})})
    spiral = make_spiral(**recipe["data"])
    loss = functools.partial(
        ddpm_loss_cond,
        alphas_cumprod=spiral_schedule(recipe),
        p_uncond=recipe["p_uncond"],
    )
    history = train(
        model,
        loss,
        (spiral.x, spiral.label),
        cfg,
        checkpoint=checkpoint,
        checkpoint_every=500 if checkpoint else 0,
        desc="training f(x, t, c)",
    )
    return model, history


def load_cond_denoiser(
    recipe: dict = SPIRAL_COND, path=None, *, device: torch.device | str = "cpu"
) -> MLPDenoiser:
    """The shipped class-conditional spiral denoiser of Chapters 5-7 (made by scripts/train_spiral.py
    --model cond), on ``device``."""
    path = CHECKPOINTS / "spiral_cond.safetensors" if path is None else path
    return load_model(
        path, recipe, maker="scripts/train_spiral.py --model cond", device=device
    )


CLIP_CHECKPOINT = CHECKPOINTS / "clip.safetensors"
CLIP_RECIPE = {
    "data": {
        "p_omit": P_OMIT
    },  # difflab.train_clip.training_batch: fresh captioned shapes each step
    "model": asdict(CLIPConfig()),  # CLIPConfig
    "train": asdict(clip_run()),  # TrainConfig: CLIP's run
}


def load_clip(path=None, device: torch.device | str = "cpu") -> CLIP:
    """Chapter 1's CLIP: the shipped checkpoint (made by scripts/train_clip.py, checked against
    :data:`CLIP_RECIPE`), or the one at ``path`` (any recipe), in eval mode on ``device``."""
    recipe = CLIP_RECIPE if path is None else None
    return load_model(
        CLIP_CHECKPOINT if path is None else path,
        recipe,
        maker="scripts/train_clip.py",
        device=device,
    )


# ---------------------------------------------------------------------------------------------
# The chapter after DDIM: flow matching on the same spiral, with the same network
# ---------------------------------------------------------------------------------------------

SPIRAL_FLOW = {
    "data": {
        "n": 20_000,
        "seed": 0,
        "jitter": 0.03,
    },  # the training set: make_spiral(**data), SPIRAL_DDPM's
    "model": {
        "hidden": 128,
        "depth": 3,
        "time_dim": 64,
    },  # MLPConfig of a VelocityMLP: SPIRAL_DDPM's network
    "flow": {
        "sigma_sampling": "uniform",
        "loc": 0.0,
        "scale": 1.0,
    },  # flow_loss's noise levels (flow.sample_sigma)
    "train": {
        "steps": 4000,
        "batch_size": 512,
        "lr": 2e-3,
        "warmup": 100,
        "ema": 0.0,
        "seed": 0,
    },  # TrainConfig
    "init_seed": 0,  # seeds the initial weights (local_seed)
}

#: the same run with SD3's logit-normal noise levels, m = 0, s = 1 (Esser et al. 2024, Sec. 3.1)
SPIRAL_FLOW_LOGIT_NORMAL = changed(SPIRAL_FLOW, flow={"sigma_sampling": "logit_normal"})

SPIRAL_REFLOW = {
    "base": SPIRAL_FLOW,  # the flow whose ODE couples the pairs
    "pairs": {
        "n": 20_000,
        "sampler": "heun",
        "steps": 50,
        "seed": 1,
    },  # reflow_pairs: solver, noise seed
    "model": {
        "hidden": 128,
        "depth": 3,
        "time_dim": 64,
    },  # MLPConfig of a VelocityMLP (the base's)
    "flow": {
        "sigma_sampling": "uniform",
        "loc": 0.0,
        "scale": 1.0,
    },  # reflow_loss's noise levels
    "train": {
        "steps": 4000,
        "batch_size": 512,
        "lr": 2e-3,
        "warmup": 100,
        "ema": 0.0,
        "seed": 0,
    },  # TrainConfig
    "init": "base",  # training starts from the base model's weights
}

#: the shipped flow models: file name (in CHECKPOINTS, + ".safetensors") -> (recipe, the command that makes it)
FLOW_CHECKPOINTS = {
    "spiral_flow": (SPIRAL_FLOW, "scripts/train_flow.py"),
    "spiral_flow_logit_normal": (
        SPIRAL_FLOW_LOGIT_NORMAL,
        "scripts/train_flow.py --model logit_normal",
    ),
    "spiral_flow_reflow": (SPIRAL_REFLOW, "scripts/train_flow.py --model reflow"),
}


def build_flow_model(
    recipe: dict = SPIRAL_FLOW, *, device: torch.device | str = "cpu"
) -> VelocityMLP:
    """The recipe's velocity network with its initial weights, drawn with ``recipe["init_seed"]`` in a
    local random state on the CPU, then moved to ``device`` (as :func:`build_spiral_denoiser`; with
    the same seed and config it starts from the same weights as the DDPM network)."""
    with local_seed(recipe["init_seed"]):
        return VelocityMLP(MLPConfig(**recipe["model"])).to(device)


def _train_config(recipe: dict, steps: int | None) -> TrainConfig:
    return TrainConfig(**{**recipe["train"], **({"steps": steps} if steps else {})})


def train_flow_model(
    recipe: dict = SPIRAL_FLOW,
    *,
    steps: int | None = None,
    checkpoint=None,
    data: torch.Tensor | None = None,
    device: torch.device | str = "cpu",
) -> tuple[VelocityMLP, list[float]]:
    """Train the velocity model of ``recipe`` from scratch with :func:`~difflab.flow.flow_loss` on
    ``device`` (``steps`` overrides the recipe's, for fast mode; ``data`` (N, 2) replaces the
    recipe's training set); returns (model, loss history)."""
    model = build_flow_model(recipe, device=device)
    data = make_spiral(**recipe["data"]).x if data is None else data
    history = train(
        model,
        functools.partial(flow_loss, **recipe["flow"]),
        data,
        _train_config(recipe, steps),
        checkpoint=checkpoint,
        checkpoint_every=500 if checkpoint else 0,
        desc="training v(x, sigma)",
    )
    return model, history


def make_reflow_pairs(
    base: torch.nn.Module,
    recipe: dict = SPIRAL_REFLOW,
    *,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (x0, eps) pairs of ``recipe["pairs"]``, coupled by the ODE of ``base``
    (:func:`~difflab.flow.reflow_pairs`): CPU tensors (n, 2)."""
    p = recipe["pairs"]
    return reflow_pairs(
        base,
        p["n"],
        flow_sigmas(p["steps"]),
        torch.Generator().manual_seed(p["seed"]),
        sampler=FLOW_SAMPLERS[p["sampler"]],
        device=device,
    )


def train_reflow_model(
    base: torch.nn.Module,
    recipe: dict = SPIRAL_REFLOW,
    *,
    steps: int | None = None,
    checkpoint=None,
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
    device: torch.device | str = "cpu",
) -> tuple[VelocityMLP, list[float]]:
    """Reflow (Liu et al. 2023, Algorithm 1): a copy of the trained flow ``base`` (made with
    ``recipe["base"]``), trained further with :func:`~difflab.flow.reflow_loss` on pairs coupled by
    base's own ODE (:func:`make_reflow_pairs`, or ``pairs``). In Liu et al.'s numbering ``base`` is the
    1-rectified flow and the result the 2-rectified flow. Returns (model, loss history)."""
    if recipe.get("init") != "base":
        raise ValueError(
            f"recipe['init']={recipe.get('init')!r}; a reflow recipe starts from its base (init='base')"
        )
    pairs = make_reflow_pairs(base, recipe, device=device) if pairs is None else pairs
    model = copy.deepcopy(base).to(device)
    history = train(
        model,
        functools.partial(reflow_loss, **recipe["flow"]),
        pairs,
        _train_config(recipe, steps),
        checkpoint=checkpoint,
        checkpoint_every=500 if checkpoint else 0,
        desc="reflow",
    )
    return model, history


def load_flow_model(
    recipe: dict = SPIRAL_FLOW, path=None, *, device: torch.device | str = "cpu"
) -> VelocityMLP:
    """A shipped flow model (made by scripts/train_flow.py), on ``device``: the file of
    :data:`FLOW_CHECKPOINTS` whose recipe is ``recipe`` (SPIRAL_FLOW, SPIRAL_FLOW_LOGIT_NORMAL or
    SPIRAL_REFLOW), or the one at ``path``, checked against ``recipe``."""
    names = [name for name, (r, _) in FLOW_CHECKPOINTS.items() if r == recipe]
    if path is None and not names:
        raise ValueError(
            f"no shipped flow model has this recipe; known are {', '.join(FLOW_CHECKPOINTS)} "
            f"(recipes SPIRAL_FLOW, SPIRAL_FLOW_LOGIT_NORMAL, SPIRAL_REFLOW), or give path="
        )
    maker = FLOW_CHECKPOINTS[names[0]][1] if names else "scripts/train_flow.py"
    path = CHECKPOINTS / f"{names[0]}.safetensors" if path is None else path
    return load_model(path, recipe, maker=maker, device=device)
