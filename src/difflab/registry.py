"""The book's models by name: one table of shipped models, one shape for every family.

Every family of models has the same four parts, each a function of a recipe
(:mod:`difflab.recipes`): ``build`` (the network with its initial weights), ``loss`` (the loss
it trains with, in the loop's signature), ``data`` (tensors, or a ``batch(step, generator)``
function) and ``ready`` (what a user gets: the network itself, or for the text-to-image U-Net the
wrapper that returns epsilon). So every model is trained and loaded the same way::

    model, loss, data, config = parts("spiral_ddpm")   # what Chapter 3 trains
    history = difflab.training.train(model, loss, data, config)

    model, history = train("spiral_ddpm", steps=500)    # the same in one call
    model = load("spiral_ddpm", device="cuda")          # the shipped weights

**One seed rule**: a network's initial weights are drawn on the CPU in a local random state
seeded by ``recipe["init_seed"]`` (:func:`difflab.utils.local_seed`; the process's own state is
left alone), then moved to the device, so training starts from the same weights on every
device. Reflow starts from its base model's trained weights instead (``init: "base"``).

Every shipped file is ``checkpoints/NAME.safetensors``, made by
``python scripts/train.py --model NAME``, which stores the recipe and a training log in it.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import recipes
from .data.clips import make_clips
from .data.scenes import make_scenes
from .data.shapes import is_pair, make_shapes
from .data.spiral import make_spiral
from .flow import flow_loss, flow_loss_cond, reflow_loss, reflow_pairs
from .flow_samplers import FLOW_SAMPLERS
from .losses import (
    contrastive_loss,
    ddpm_loss,
    ddpm_loss_cond,
    prior_loss,
    v_loss,
    vae_loss,
)
from .models.clip import CLIP, CLIPConfig
from .models.latent_unet import LatentUNet, LatentUNetConfig
from .models.mlp import MLPConfig, MLPDenoiser, VelocityMLP
from .models.prior import Prior, PriorConfig
from .models.unet import EpsFromV, TextUNet, UNetConfig
from .models.video_dit import VideoDiT, VideoDiTConfig
from .models.vae import VAE, VAEConfig, measure_scaling_factor
from .saving import config_from_dict, load_model
from .schedules import alphas_cumprod, cosine_betas, flow_sigmas, linear_betas
from .training import TrainConfig
from .training import train as train_loop
from .utils import local_seed

CHECKPOINTS = Path(__file__).parent / "checkpoints"

#: the shipped models: name -> recipe; the file is CHECKPOINTS / f"{name}.safetensors"
MODELS = {
    "clip": recipes.CLIP_RECIPE,  # Chapter 1
    "spiral_ddpm": recipes.SPIRAL_DDPM,  # Chapters 3, 4
    "spiral_flow": recipes.SPIRAL_FLOW,  # Chapter 4b
    "spiral_flow_logit_normal": recipes.SPIRAL_FLOW_LOGIT_NORMAL,  # Chapter 4b
    "spiral_flow_reflow": recipes.SPIRAL_REFLOW,  # Chapter 4b
    "spiral_cond": recipes.SPIRAL_COND,  # Chapters 5-7
    "t2i": recipes.T2I_RECIPE,  # Chapter 8
    "scene_clip": recipes.SCENE_CLIP_RECIPE,  # Chapter 9
    "vae": recipes.VAE_RECIPE,  # Chapter 9
    "latent": recipes.LATENT_RECIPE,  # Chapter 9
    "latent_frozen": recipes.LATENT_FROZEN_RECIPE,  # ... reading CLIP's states as they are
    "latent_pooled": recipes.LATENT_POOLED_RECIPE,  # ... its control
    "unclip_decoder": recipes.UNCLIP_DECODER_RECIPE,  # Chapter 8b: CLIP image -> picture
    "prior_diffusion": recipes.PRIOR_DIFFUSION_RECIPE,  # ... text -> image embedding
    "prior_regression": recipes.PRIOR_REGRESSION_RECIPE,  # ... its control
    "video_clip": recipes.VIDEO_CLIP_RECIPE,  # Chapter 10: a CLIP of clips
    "video": recipes.VIDEO_RECIPE,  # ... the text-to-video transformer
}


@dataclass(frozen=True)
class Family:
    build: Callable[[dict], torch.nn.Module]  # recipe -> network, initial weights, CPU
    loss: Callable[[dict], Callable]  # recipe -> loss(model, batch, generator)
    data: Callable[[dict], Any]  # recipe -> tensors or batch(step, generator)
    ready: Callable = lambda net, recipe: net  # (network, recipe) -> what users get
    # (network, recipe) -> None: what is measured once training ends (the VAE's scale)
    finish: Callable = lambda net, recipe: None
    # bf16 autocast pays on a GPU for convolutions and wide layers, not for the 2-D MLPs
    mixed_precision: bool = False


def schedule(name_or_recipe) -> torch.Tensor:
    """abar_t of a recipe's noise schedule: a float64 table on the CPU, which the samplers
    read on any device (Apple's MPS has no float64). Linear (Ho et al. 2020, Sec. 4) or
    cosine (Nichol and Dhariwal 2021, eq. 17)."""
    s = recipe_of(name_or_recipe)["schedule"]
    if s["kind"] == "cosine":
        return alphas_cumprod(cosine_betas(s["T"]))
    return alphas_cumprod(linear_betas(s["T"], s["beta_start"], s["beta_end"]))


def _seeded(make: Callable) -> Callable:
    """``build(recipe)``: ``make(recipe)`` under the one seed rule (``recipe["init_seed"]``)."""

    def build(recipe: dict) -> torch.nn.Module:
        with local_seed(recipe["init_seed"]):
            return make(recipe)

    return build


def _mlp(cls) -> Callable:
    return _seeded(lambda recipe: cls(MLPConfig(**recipe["model"])))


def _spiral(recipe: dict):
    return make_spiral(**recipe["data"]).x


def _labelled_spiral(recipe: dict):
    spiral = make_spiral(**recipe["data"])
    return spiral.x, spiral.label


def _base(recipe: dict) -> torch.nn.Module:
    """Reflow's starting point: a copy of the shipped model whose recipe is ``base``."""
    return copy.deepcopy(load(name_of(recipe["base"])))


def _reflow_pairs(recipe: dict):
    """(x0, eps) pairs coupled by the base flow's ODE (Liu et al. 2023, Algorithm 1)."""
    p = recipe["pairs"]
    return reflow_pairs(
        load(name_of(recipe["base"])),
        p["n"],
        flow_sigmas(p["steps"]),
        torch.Generator().manual_seed(p["seed"]),
        sampler=FLOW_SAMPLERS[p["sampler"]],
    )


def _clip_batches(recipe: dict) -> Callable:
    """``batch(step, generator)``: fresh captioned images of the training combinations and
    wordings, seeded by the step, so a run can stop and resume with the same result; a share
    ``scene_share`` of them two-object scenes (the latent-space chapter's CLIP)."""
    run, d = recipe["train"], recipe["data"]
    scenes = round(run["batch_size"] * d.get("scene_share", 0.0))

    def batch(step: int, generator=None):
        seed = run["seed"] * 1_000_003 + step
        shapes = make_shapes(
            run["batch_size"] - scenes, seed=seed, split="train", p_omit=d["p_omit"]
        )
        if not scenes:
            return shapes.images, shapes.captions
        two = make_scenes(scenes, seed=seed, split="train")
        return torch.cat([shapes.images, two.images]), shapes.captions + two.captions

    return batch


def latent_images(data: dict) -> tuple[torch.Tensor, list[str]]:
    """(images (N, 3, 32, 32) in [0, 1], captions) of the latent-space chapter: ``n_single``
    single shapes of the training split less Chapter 8's unseen (shape, colour) pairs, then
    ``n_scenes`` two-object scenes of the training split."""
    single = make_shapes(
        data["n_single"], data["seed"], split="train", p_omit=data["p_omit"]
    )
    keep = ~is_pair(single.attributes, recipes.T2I_RECIPE["data"]["unseen_pairs"])
    two = make_scenes(data["n_scenes"], data["seed"], split="train")
    captions = [c for c, k in zip(single.captions, keep.tolist()) if k] + two.captions
    return torch.cat([single.images[keep], two.images]), captions


@torch.no_grad()
def _measure_scale(vae: VAE, recipe: dict) -> None:
    """``vae.scaling_factor`` = 1 / std of the posterior means of the first 4,000 training
    images: the latent denoiser then sees latents of about unit spread, as the noise
    schedule assumes (Rombach et al. 2022, Sec. 4.3.2 and App. G)."""
    images = latent_images(recipe["data"])[0][:4000].to(vae.scaling_factor.device)
    vae.scaling_factor.fill_(measure_scaling_factor(vae, images))


def t2i_images(data: dict) -> tuple[torch.Tensor, list[str]]:
    """(images (N, 3, 32, 32) in [0, 1], captions) that Chapter 8's model and unCLIP's decoder
    and priors train on: ``n_images`` of the generator's split, less those of an unseen
    (shape, colour) pair."""
    d = data
    data = make_shapes(d["n_images"], d["seed"], split=d["split"], p_omit=d["p_omit"])
    keep = ~is_pair(data.attributes, d["unseen_pairs"])
    return data.images[keep], [c for c, k in zip(data.captions, keep.tolist()) if k]


@torch.no_grad()
def clip_embeddings(clip: CLIP, items, kind: str) -> torch.Tensor:
    """CLIP's unit embeddings (N, 512) of captions (``kind="text"``) or images in [0, 1]
    (``kind="image"``), a thousand at a time, in float32 on the CPU."""
    encode = clip.encode_text if kind == "text" else clip.encode_image
    return torch.cat(
        [encode(items[i : i + 1000]).float().cpu() for i in range(0, len(items), 1000)]
    )


def _t2i_data(recipe: dict):
    """(images in [-1, 1] (N, 3, 32, 32), CLIP text embeddings (N, 512) of their captions)
    of :func:`t2i_images`; on the CPU (the loop moves each batch)."""
    images, captions = t2i_images(recipe["data"])
    return images * 2 - 1, clip_embeddings(load("clip"), captions, "text")


def _decoder_data(recipe: dict):
    """(images in [-1, 1], CLIP *image* embeddings (N, 512) of the same pictures): what
    unCLIP's decoder learns to invert (Ramesh et al. 2022, Sec. 2.1)."""
    images = t2i_images(recipe["data"])[0]
    return images * 2 - 1, clip_embeddings(load("clip"), images, "image")


def _prior_data(recipe: dict):
    """(text embeddings of the captions, image embeddings of their pictures), both (N, 512)."""
    images, captions = t2i_images(recipe["data"])
    clip = load("clip")
    return clip_embeddings(clip, captions, "text"), clip_embeddings(
        clip, images, "image"
    )


@torch.no_grad()
def text_condition(clip: CLIP, captions: list[str], conditioning: str) -> torch.Tensor:
    """What a latent denoiser reads of ``captions``: the token states (N, L, W) with zeros at
    the padding (``"cross_attention"``), or the pooled embeddings (N, 512) (``"pooled"``)."""
    if conditioning not in ("cross_attention", "pooled"):
        raise ValueError(
            f"conditioning={conditioning!r}; use 'cross_attention' or 'pooled'"
        )
    if conditioning == "pooled":
        return clip.encode_text(captions).float()
    states, pad = clip.encode_tokens(captions)
    return states.float().masked_fill(pad[..., None], 0.0)


@torch.no_grad()
def _latent_data(recipe: dict):
    """(scaled latents (N, 4, 8, 8), text conditions) of :func:`latent_images`: the VAE's
    posterior means times its ``scaling_factor``, and :func:`text_condition`; on the CPU."""
    images, captions = latent_images(recipe["data"])
    vae, clip = load(name_of(recipe["vae"])), load(name_of(recipe["text"]))
    z = torch.cat([vae.encode(x)[0] for x in images.split(1000)]) * vae.scaling_factor
    return z, text_conditions(clip, captions, recipe["model"]["conditioning"])


def text_conditions(clip: CLIP, captions: list[str], conditioning: str) -> torch.Tensor:
    """:func:`text_condition` of many captions, a thousand at a time; token states are
    padded with zeros to the longest caption. On the CPU."""
    chunks = [captions[i : i + 1000] for i in range(0, len(captions), 1000)]
    conds = [text_condition(clip, c, conditioning).cpu() for c in chunks]
    if (
        conditioning != "pooled"
    ):  # pad every chunk's token states to the longest caption
        width = max(c.shape[1] for c in conds)
        conds = [
            torch.nn.functional.pad(c, (0, 0, 0, width - c.shape[1])) for c in conds
        ]
    return torch.cat(conds)


def _unet(recipe: dict) -> TextUNet:
    m = recipe["model"]
    return TextUNet(UNetConfig(tuple(m["channels"]), m["cond_dim"], m["emb_dim"]))


def _abar32(recipe: dict) -> torch.Tensor:
    return schedule(recipe).float()  # the U-Net's wrapper keeps its table in float32


FAMILIES = {
    "denoiser": Family(  # epsilon-prediction, L_simple (Ho et al. 2020, eq. 14)
        build=_mlp(MLPDenoiser),
        loss=lambda r: functools.partial(ddpm_loss, alphas_cumprod=schedule(r)),
        data=_spiral,
    ),
    "cond_denoiser": Family(  # ... with a class and condition dropout (Ho, Salimans 2022)
        build=_mlp(MLPDenoiser),
        loss=lambda r: functools.partial(
            ddpm_loss_cond, alphas_cumprod=schedule(r), p_uncond=r["p_uncond"]
        ),
        data=_labelled_spiral,
    ),
    "flow": Family(  # the velocity of the straight path (Lipman et al. 2023, eq. 23)
        build=_mlp(VelocityMLP),
        loss=lambda r: functools.partial(flow_loss, **r["flow"]),
        data=_spiral,
    ),
    "reflow": Family(  # the same loss on ODE-coupled pairs (Liu et al. 2023, Alg. 1)
        build=_base,
        loss=lambda r: functools.partial(reflow_loss, **r["flow"]),
        data=_reflow_pairs,
    ),
    "clip": Family(  # the symmetric contrastive loss (Radford et al. 2021, Fig. 3)
        build=_seeded(lambda r: CLIP(config_from_dict(CLIPConfig, r["model"]))),
        loss=lambda r: contrastive_loss,
        data=_clip_batches,
        mixed_precision=True,
    ),
    "vae": Family(  # reconstruction + a small KL term (Kingma and Welling 2014)
        build=_seeded(lambda r: VAE(config_from_dict(VAEConfig, r["model"]))),
        loss=lambda r: functools.partial(vae_loss, kl_weight=r["kl_weight"]),
        data=lambda r: latent_images(r["data"])[0],
        finish=_measure_scale,
        mixed_precision=True,
    ),
    "t2i": Family(  # v-prediction with condition dropout (Salimans and Ho 2022)
        build=_seeded(_unet),
        loss=lambda r: functools.partial(
            v_loss, alphas_cumprod=_abar32(r), p_uncond=r["p_uncond"]
        ),
        data=_t2i_data,
        ready=lambda net, r: EpsFromV(net, _abar32(r)),
        mixed_precision=True,
    ),
}


FAMILIES["unclip_decoder"] = Family(  # Chapter 8's U-Net on CLIP's image embeddings
    build=FAMILIES["t2i"].build,
    loss=FAMILIES["t2i"].loss,
    data=_decoder_data,
    ready=FAMILIES["t2i"].ready,
    mixed_precision=True,
)

FAMILIES["prior"] = Family(  # unCLIP's prior: text embedding -> image embedding
    build=_seeded(lambda r: Prior(config_from_dict(PriorConfig, r["model"]))),
    loss=lambda r: functools.partial(
        prior_loss,
        alphas_cumprod=schedule(r).float()
        if r["model"]["kind"] == "diffusion"
        else None,
    ),
    data=_prior_data,
)

FAMILIES["latent"] = Family(  # Chapter 8's loss and wrapper, on the VAE's latents
    build=_seeded(lambda r: LatentUNet(config_from_dict(LatentUNetConfig, r["model"]))),
    loss=FAMILIES["t2i"].loss,
    data=_latent_data,
    ready=FAMILIES["t2i"].ready,
    mixed_precision=True,
)


def _video_clip_batches(recipe: dict) -> Callable:
    """``batch(step, generator)``: fresh captioned clips of the training combinations and
    wordings, seeded by the step (as :func:`_clip_batches`)."""
    run, d = recipe["train"], recipe["data"]

    def batch(step: int, generator=None):
        seed = run["seed"] * 1_000_003 + step
        clips = make_clips(run["batch_size"], seed, split="train", p_omit=d["p_omit"])
        return clips.clips, clips.captions

    return batch


@torch.no_grad()
def video_latents(vae: VAE, clips: torch.Tensor) -> torch.Tensor:
    """Every frame of ``clips`` (N, F, 3, 32, 32) through the autoencoder, one frame at a
    time as the first latent video models did (Blattmann et al. 2023, "Align your
    Latents", Sec. 3): the scaled
    posterior means (N, F, 4, 8, 8)."""
    frames = clips.flatten(0, 1).to(vae.scaling_factor.device)
    z = torch.cat([vae.encode(x)[0] for x in frames.split(2000)]) * vae.scaling_factor
    return z.view(*clips.shape[:2], *z.shape[1:]).cpu()


@torch.no_grad()
def _video_data(recipe: dict):
    """(scaled latents (N, F, 4, 8, 8), token states (N, L, 64)) of ``n_clips`` training
    clips; on the CPU."""
    d = recipe["data"]
    clips = make_clips(d["n_clips"], d["seed"], split="train", p_omit=d["p_omit"])
    vae, clip = load(name_of(recipe["vae"])), load(name_of(recipe["text"]))
    states = text_conditions(clip, clips.captions, "cross_attention")
    return video_latents(vae, clips.clips), states


FAMILIES["video_clip"] = Family(  # CLIP's loss on captioned clips
    build=FAMILIES["clip"].build,
    loss=FAMILIES["clip"].loss,
    data=_video_clip_batches,
    mixed_precision=True,
)

FAMILIES["video"] = Family(  # flow matching of a DiT on the clips' latents
    build=_seeded(lambda r: VideoDiT(config_from_dict(VideoDiTConfig, r["model"]))),
    loss=lambda r: functools.partial(
        flow_loss_cond, p_uncond=r["p_uncond"], **r["flow"]
    ),
    data=_video_data,
    mixed_precision=True,
)


def recipe_of(name_or_recipe) -> dict:
    """The recipe of a shipped model's name, or the recipe itself."""
    if isinstance(name_or_recipe, dict):
        if name_or_recipe.get("family") not in FAMILIES:
            raise ValueError(
                f"recipe['family']={name_or_recipe.get('family')!r}; "
                f"known families are {', '.join(FAMILIES)}"
            )
        return name_or_recipe
    if name_or_recipe not in MODELS:
        raise ValueError(
            f"model={name_or_recipe!r} is not a shipped model; "
            f"the names are {', '.join(MODELS)}"
        )
    return MODELS[name_or_recipe]


def name_of(recipe: dict) -> str:
    """The name of the shipped model made with ``recipe``."""
    for name, shipped in MODELS.items():
        if shipped == recipe:
            return name
    raise ValueError(
        f"no shipped model has this recipe; the names are {', '.join(MODELS)}"
    )


def build(name_or_recipe, *, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The recipe's network with its initial weights (the one seed rule), on ``device``."""
    recipe = recipe_of(name_or_recipe)
    return FAMILIES[recipe["family"]].build(recipe).to(device)


def parts(name_or_recipe, *, device: torch.device | str = "cpu"):
    """(model, loss, data, config): what ``difflab.training.train`` needs to train a recipe."""
    recipe = recipe_of(name_or_recipe)
    family = FAMILIES[recipe["family"]]
    config = TrainConfig(**recipe["train"])
    return (
        build(recipe, device=device),
        family.loss(recipe),
        family.data(recipe),
        config,
    )


def train(
    name_or_recipe,
    *,
    steps: int | None = None,
    device: torch.device | str = "cpu",
    **options,
) -> tuple[torch.nn.Module, list[float]]:
    """Train a recipe's model from its initial weights with the book's one loop; returns
    (the ready model, the loss of every step). ``steps`` overrides the recipe's (for fast
    mode); ``options`` go to :func:`difflab.training.train` (``state``, ``save_every``,
    ``stop_at``, ``progress``, ``callback``, ``callback_every``, ``autocast``)."""
    recipe = recipe_of(name_or_recipe)
    if steps is not None:
        recipe = recipes.changed(recipe, train={"steps": steps})
    model, loss, data, config = parts(recipe, device=device)
    options.setdefault("desc", f"training {recipe['family']}")
    history = train_loop(model, loss, data, config, **options)
    if len(history) == config.steps:
        FAMILIES[recipe["family"]].finish(model, recipe)
    return FAMILIES[recipe["family"]].ready(model, recipe).to(device).eval(), history


def load(
    name: str, *, path=None, device: torch.device | str = "cpu"
) -> torch.nn.Module:
    """A shipped model, ready to use in eval mode on ``device``: ``CHECKPOINTS/name`` (or the
    file at ``path``, made with the same recipe), rebuilt by :func:`difflab.saving.load_model`."""
    recipe = recipe_of(name)
    path = CHECKPOINTS / f"{name}.safetensors" if path is None else path
    maker = f"python scripts/train.py --model {name}"
    net = load_model(path, recipe, maker=maker)
    return FAMILIES[recipe["family"]].ready(net, recipe).to(device).eval()
