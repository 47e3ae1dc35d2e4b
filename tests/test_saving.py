"""difflab.saving: one file holds the weights, the config that rebuilds the network, and
the recipe that made it."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from difflab.models.clip import CLIP, CLIPConfig
from difflab.models.mlp import VelocityMLP
from difflab.saving import load_model, read_recipe, save_model
from difflab.utils import local_seed


@pytest.fixture(scope="module")
def model():
    with local_seed(0):
        return CLIP().eval()


def test_the_file_rebuilds_the_model_it_holds(tmp_path, model):
    path = tmp_path / "m.safetensors"
    save_model(model, path, {"note": "test"})
    again = load_model(path)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), again.state_dict().values())
    )


def test_the_file_holds_its_recipe(tmp_path, model):
    path = tmp_path / "m.safetensors"
    save_model(model, path, {"note": "test"})
    assert read_recipe(path) == {"note": "test"}


def test_the_file_rebuilds_its_own_config(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(CLIP(CLIPConfig(image_hidden=128)), path, {})
    assert load_model(path).config.image_hidden == 128


def test_a_file_whose_weights_do_not_fit_its_model_is_named(tmp_path, model):
    path = tmp_path / "m.safetensors"
    save_model(model, path, {})
    state = load_file(str(path))
    state["logit_scale"] = torch.zeros(3)
    save_file(
        state,
        str(tmp_path / "x.safetensors"),
        metadata={"model": "CLIP", "config": "{}", "recipe": "{}"},
    )
    with pytest.raises(ValueError, match="does not match its CLIP"):
        load_model(tmp_path / "x.safetensors")


def test_a_velocity_network_comes_back_as_one(tmp_path, small_velocity_model):
    model = small_velocity_model()
    path = tmp_path / "v.safetensors"
    save_model(model, path, {"r": 1})
    again = load_model(path, {"r": 1})
    g = torch.Generator().manual_seed(0)
    x, sigma = torch.randn(6, 2, generator=g), torch.rand(6, generator=g)
    assert isinstance(again, VelocityMLP) and torch.equal(
        again(x, sigma), model(x, sigma)
    )
