"""difflab.models.layers: the sinusoidal timestep embedding both networks use."""

import ast
import inspect

import pytest
import torch

from difflab.models import mlp, unet
from difflab.models.layers import timestep_embedding


def test_timestep_embedding_gives_dim_numbers_per_step():
    assert timestep_embedding(torch.tensor([0, 5]), 16).shape == (2, 16)


def test_timestep_embedding_of_step_0_is_cos_0_then_sin_0():
    # Vaswani et al. 2017, Sec. 3.5: cosines then sines of t times falling frequencies
    e = timestep_embedding(torch.tensor([0]), 16)[0]
    assert torch.equal(e, torch.cat([torch.ones(8), torch.zeros(8)]))


@pytest.mark.parametrize("network", [mlp, unet], ids=["mlp", "unet"])
def test_both_networks_use_the_one_embedding(network):
    # the network imports layers.timestep_embedding and defines no embedding of its own
    tree = ast.parse(inspect.getsource(network))
    imported = any(
        isinstance(node, ast.ImportFrom)
        and node.level == 1
        and node.module == "layers"
        and "timestep_embedding" in [a.name for a in node.names]
        for node in tree.body
    )
    own = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "timestep_embedding"
    ]
    assert imported and not own, own
