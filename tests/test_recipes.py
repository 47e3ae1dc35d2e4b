"""The shipped spiral checkpoints match their recipes and are as good as Chapters 3 and 5-7 say."""

import json

import pytest
import torch
from safetensors import safe_open

from difflab.metrics import w2_ratio
from difflab.recipes import (
    CHECKPOINTS,
    SPIRAL_COND,
    SPIRAL_DDPM,
    load_spiral_denoiser,
    spiral_schedule,
)
from difflab.saving import load_model, read_recipe, save_model
from difflab.models.mlp import MLPConfig, MLPDenoiser
from difflab.samplers import ddpm_sample


@pytest.mark.parametrize(
    "name,recipe", [("spiral_ddpm", SPIRAL_DDPM), ("spiral_cond", SPIRAL_COND)]
)
def test_shipped_file_records_the_current_recipe(name, recipe):
    path = CHECKPOINTS / f"{name}.safetensors"
    with safe_open(str(path), "pt") as f:
        assert json.loads(f.metadata()["recipe"]) == json.loads(json.dumps(recipe))
    assert path.stat().st_size < 2_000_000


def test_shipped_model_samples_the_spiral():
    model = load_spiral_denoiser()
    abar = spiral_schedule()
    g = torch.Generator().manual_seed(0)
    x = ddpm_sample(
        model,
        torch.randn(2000, 2, generator=g),
        range(
            999,
            -1,
            -1,
        ),
        abar,
        generator=g,
    )
    r = w2_ratio(x, 0)
    assert r < 2.0, f"shipped model: r = {r:.2f} on one seed"


def test_loader_rejects_other_recipes_and_shapes(tmp_path):
    small = MLPDenoiser(MLPConfig(hidden=8, depth=1))
    path = tmp_path / "m.safetensors"
    save_model(small, path, {"x": 1})
    with pytest.raises(ValueError, match="was made with recipe"):
        load_model(path, {"x": 2})
    again = load_model(
        path, {"x": 1}
    )  # rebuilt from the file alone: class, config, weights
    assert (
        isinstance(again, MLPDenoiser)
        and again.config == small.config
        and read_recipe(path) == {"x": 1}
    )
    assert all(
        torch.equal(a, b)
        for a, b in zip(small.state_dict().values(), again.state_dict().values())
    )
    from safetensors.torch import load_file, save_file

    save_file(
        load_file(str(path)),
        str(tmp_path / "old.safetensors"),
        metadata={"recipe": "{}"},
    )
    with pytest.raises(ValueError, match="stores no model class and config"):
        load_model(tmp_path / "old.safetensors")
    with pytest.raises(ValueError, match="a checkpoint holds one of"):
        save_model(torch.nn.Linear(2, 2), path, {})
    with pytest.raises(FileNotFoundError, match="make it with scripts/train_spiral.py"):
        load_spiral_denoiser(path=tmp_path / "missing.safetensors")


def test_shipped_conditional_model_leaks_alone_and_follows_its_class_when_guided():
    """Chapters 5 and 6 on fewer samples: conditioning alone leaks (overlapping labels), s = 3 repairs it."""
    from difflab.guidance import cfg
    from difflab.metrics import region_shares
    from difflab.recipes import load_cond_denoiser

    model = load_cond_denoiser()
    abar = spiral_schedule()
    for part in range(3):
        for scale, low, high in [(1.0, 0.6, 0.9), (3.0, 0.95, 1.0)]:
            g = torch.Generator().manual_seed(part)
            x = ddpm_sample(
                cfg(model, part, scale),
                torch.randn(500, 2, generator=g),
                list(range(990, -1, -10)),
                abar,
                generator=g,
            )
            share = region_shares(x)[part].item()
            assert low <= share <= high, (
                f"part {part}, s = {scale}: {share:.3f} of the samples in the part"
            )


def test_build_gives_the_initial_weights_training_starts_from_and_leaves_the_rng_alone():
    from difflab.recipes import build_spiral_denoiser, train_spiral_denoiser
    from difflab.utils import seed_everything

    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    a, b = build_spiral_denoiser(), build_spiral_denoiser()
    assert torch.equal(torch.random.get_rng_state(), before)
    seed_everything(SPIRAL_DDPM["init_seed"])
    ref = MLPDenoiser(MLPConfig(**SPIRAL_DDPM["model"]))
    for (k, v), w, r in zip(
        a.state_dict().items(), b.state_dict().values(), ref.state_dict().values()
    ):
        assert torch.equal(v, w) and torch.equal(v, r), k


def test_a_checkpoint_without_a_training_log_says_so():
    from difflab.saving import read_training_log

    with pytest.raises(ValueError, match="has no training log"):
        read_training_log(CHECKPOINTS / "spiral_ddpm.safetensors")
