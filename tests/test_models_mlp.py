import pytest
import torch

from difflab.models.layers import timestep_embedding
from difflab.models.mlp import MLPConfig, MLPDenoiser


def test_shapes_and_time_embedding():
    m = MLPDenoiser(MLPConfig(hidden=32, depth=2))
    x, t = torch.randn(7, 2), torch.randint(0, 1000, (7,))
    assert m(x, t).shape == (7, 2)
    e = timestep_embedding(torch.tensor([0, 5]), 16)
    assert e.shape == (2, 16) and torch.allclose(e[0, :8], torch.ones(8))


def test_conditional_model_accepts_none_as_no_condition():
    m = MLPDenoiser(MLPConfig(hidden=32, depth=1, n_classes=3))
    x, t = torch.randn(4, 2), torch.full((4,), 10)
    assert torch.equal(m(x, t, None), m(x, t, torch.full((4,), 3)))
    assert not torch.equal(m(x, t, torch.zeros(4, dtype=torch.long)), m(x, t, None))


def test_bad_conditions_are_named():
    m = MLPDenoiser(MLPConfig(hidden=8, depth=1, n_classes=3))
    x, t = torch.randn(4, 2), torch.full((4,), 10)
    with pytest.raises(ValueError, match="allowed class ids are 0..2"):
        m(x, t, torch.tensor([0, 1, 2, 7]))
    with pytest.raises(ValueError, match=r"cond has shape \(3,\)"):
        m(x, t, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="n_classes=0"):
        MLPDenoiser(MLPConfig(hidden=8))(x, t, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="hidden=0"):
        MLPDenoiser(MLPConfig(hidden=0))


def test_networks_share_one_timestep_embedding():
    from difflab.models import layers, mlp, unet

    assert (
        mlp.timestep_embedding is layers.timestep_embedding is unet.timestep_embedding
    )
