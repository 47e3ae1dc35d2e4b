"""One checkpoint format for every model of the book: safetensors weights, and in the file's
metadata the model's class and config (so the file alone rebuilds the model, as nanoGPT stores
``model_args``), the recipe that made it and, optionally, a training log.

    save_model(model, "m.safetensors", recipe)      # any of the book's three networks
    model = load_model("m.safetensors", recipe)     # rebuilt, weights loaded, eval mode
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .models.clip import CLIP, CLIPConfig
from .models.latent_unet import LatentUNet, LatentUNetConfig
from .models.mlp import MLPConfig, MLPDenoiser, VelocityMLP
from .models.prior import Prior, PriorConfig
from .models.unet import TextUNet, UNetConfig
from .models.vae import VAE, VAEConfig
from .models.video_dit import VideoDiT, VideoDiTConfig
from .utils import local_seed

#: the classes a checkpoint can hold, by the name stored in it, with their config dataclass
MODELS = {
    "MLPDenoiser": (MLPDenoiser, MLPConfig),
    "VelocityMLP": (VelocityMLP, MLPConfig),
    "CLIP": (CLIP, CLIPConfig),
    "TextUNet": (TextUNet, UNetConfig),
    "VAE": (VAE, VAEConfig),
    "LatentUNet": (LatentUNet, LatentUNetConfig),
    "Prior": (Prior, PriorConfig),
    "VideoDiT": (VideoDiT, VideoDiTConfig),
}


def _json(value) -> str:
    return json.dumps(value, sort_keys=True)


def save_model(
    model: torch.nn.Module, path, recipe: dict, log: dict | None = None
) -> None:
    """Write ``model``'s weights to a safetensors file, with its class name, its config, the
    ``recipe`` that made it and an optional training ``log`` (any JSON-able dict) as metadata."""
    name = type(model).__name__
    if name not in MODELS:
        raise ValueError(
            f"model is a {name}; a checkpoint holds one of {', '.join(MODELS)}"
        )
    metadata = {
        "model": name,
        "config": _json(dataclasses.asdict(model.config)),
        "recipe": _json(recipe),
    }
    if log is not None:
        metadata["training_log"] = _json(log)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=metadata)


def _metadata(path, maker: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; make it with {maker}")
    with safe_open(str(path), "pt") as f:
        return f.metadata() or {}


def read_recipe(path) -> dict:
    """The recipe stored in a checkpoint."""
    return json.loads(_metadata(path, "its script in scripts/")["recipe"])


def read_training_log(path) -> dict:
    """The training log :func:`save_model` stored in a checkpoint; a clear error if it has none."""
    log = _metadata(path, "its script in scripts/").get("training_log")
    if log is None:
        raise ValueError(
            f"{path} has no training log in its metadata; its script did not write one"
        )
    return json.loads(log)


def config_from_dict(cls, stored: dict):
    """The config dataclass from its JSON form (lists back to tuples where the field holds one)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(stored) - set(fields))
    if unknown:
        raise ValueError(
            f"the stored config has fields {unknown} that {cls.__name__} does not know"
        )
    return cls(
        **{
            k: tuple(v) if isinstance(fields[k].default, tuple) else v
            for k, v in stored.items()
        }
    )


def load_model(
    path,
    recipe: dict | None = None,
    *,
    maker: str = "its script in scripts/",
    device: torch.device | str = "cpu",
) -> torch.nn.Module:
    """The model of a :func:`save_model` file, rebuilt from its stored class and config, with its
    weights, on ``device``, in eval mode. With ``recipe``: a clear error if the file was made with
    another one. A missing file says how to make it (``maker``)."""
    meta = _metadata(path, maker)
    if "model" not in meta or "config" not in meta:
        raise ValueError(
            f"{path} stores no model class and config (an older format); remake it with {maker}"
        )
    if recipe is not None and json.loads(meta.get("recipe", "null")) != json.loads(
        _json(recipe)
    ):
        raise ValueError(
            f"{path} was made with recipe {meta.get('recipe')}, not {_json(recipe)}; "
            f"remake it with {maker}"
        )
    if meta["model"] not in MODELS:
        raise ValueError(
            f"{path} holds a {meta['model']}; known are {', '.join(MODELS)}"
        )
    cls, config_cls = MODELS[meta["model"]]
    with local_seed(
        0
    ):  # the initial weights are replaced; the reader's random state is left alone
        model = cls(config_from_dict(config_cls, json.loads(meta["config"])))
    state = load_file(str(path))
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if expected != found:
        diff = sorted(set(expected.items()) ^ set(found.items()))[:4]
        raise ValueError(
            f"{path} does not match its {meta['model']}: differing tensors (name, shape) {diff}"
        )
    model.load_state_dict(state)
    return model.to(device).eval()
