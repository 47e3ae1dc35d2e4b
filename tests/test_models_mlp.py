"""difflab.models.mlp: the residual MLP of the 2-D chapters, as an epsilon network (with
an optional class condition) and as a velocity network."""

import pytest
import torch

from difflab.models.mlp import MLPConfig, MLPDenoiser
from difflab.utils import local_seed


def test_the_denoiser_maps_points_to_points():
    m = MLPDenoiser(MLPConfig(hidden=32, depth=2))
    x, t = torch.randn(7, 2), torch.randint(0, 1000, (7,))
    assert m(x, t).shape == (7, 2)


def _conditional():
    with local_seed(0):
        m = MLPDenoiser(MLPConfig(hidden=32, depth=1, n_classes=3))
    return (
        m,
        torch.randn(4, 2, generator=torch.Generator().manual_seed(0)),
        torch.full((4,), 10),
    )


def test_conditional_model_accepts_none_as_no_condition():
    m, x, t = _conditional()
    assert torch.equal(m(x, t, None), m(x, t, torch.full((4,), 3)))


def test_a_class_changes_the_prediction():
    m, x, t = _conditional()
    assert not torch.equal(m(x, t, torch.zeros(4, dtype=torch.long)), m(x, t, None))


@pytest.mark.parametrize(
    "n_classes, cond, match",
    [
        pytest.param(
            3, torch.tensor([0, 1, 2, 7]), "allowed class ids are 0..2", id="cond"
        ),
        pytest.param(
            3, torch.tensor([0, 1, 2]), r"cond has shape \(3,\)", id="cond-shape"
        ),
        pytest.param(
            0, torch.zeros(4, dtype=torch.long), "n_classes=0", id="cond-unconditional"
        ),
    ],
)
def test_a_bad_condition_is_named(n_classes, cond, match):
    m = MLPDenoiser(MLPConfig(hidden=8, depth=1, n_classes=n_classes))
    x, t = torch.randn(4, 2), torch.full((4,), 10)
    with pytest.raises(ValueError, match=match):
        m(x, t, cond)


def test_a_bad_width_is_named():
    with pytest.raises(ValueError, match="hidden=0"):
        MLPDenoiser(MLPConfig(hidden=0))


def _velocity_case():
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 2, generator=g), torch.rand(6, generator=g)


def test_velocity_mlp_is_the_denoiser_network_fed_sigma_times_1000(
    small_velocity_model,
):
    model = small_velocity_model()
    with local_seed(0):  # same weights, same init
        eps_net = MLPDenoiser(MLPConfig(hidden=32, depth=1, time_dim=16))
    x, sigma = _velocity_case()
    assert torch.equal(model(x, sigma), eps_net(x, sigma * 1000))


def test_velocity_mlp_takes_one_sigma_for_the_batch(small_velocity_model):
    model = small_velocity_model()
    x, _ = _velocity_case()
    assert torch.equal(model(x, 0.5), model(x, torch.full((6,), 0.5)))


@pytest.mark.parametrize(
    "sigma, error, match",
    [
        pytest.param(
            torch.zeros(3, dtype=torch.long),
            TypeError,
            "integer steps of a DDPM sampler",
            id="sigma-ints",
        ),
        pytest.param(
            torch.zeros(2),
            ValueError,
            r"sigma has shape \(2,\); expected \(3,\)",
            id="sigma-shape",
        ),
    ],
)
def test_velocity_mlp_names_a_bad_sigma(sigma, error, match, small_velocity_model):
    with pytest.raises(error, match=match):
        small_velocity_model()(torch.zeros(3, 2), sigma)
