"""The losses that train the book's models (difflab.losses)."""

import functools

import pytest
import torch
from conftest import ABAR

import difflab
from difflab.data import make_spiral
from difflab.losses import ddpm_loss, last_step_loss
from difflab.models.mlp import MLPConfig, MLPDenoiser
from difflab.training import TrainConfig, train

LOSS = functools.partial(ddpm_loss, alphas_cumprod=ABAR)


def test_last_step_loss_has_the_same_minimiser_scale():
    # with a model that returns the true total noise's conditional mean unknown, check the target scale:
    # E[target | x0, x_t] = eps, so the mean of target - eps over many draws is ~0
    torch.manual_seed(0)
    x0 = torch.zeros(20000, 2)
    loss_zero = last_step_loss(
        lambda x, t: torch.zeros_like(x), x0, torch.Generator().manual_seed(0), ABAR
    )
    loss_eps = ddpm_loss(
        lambda x, t: torch.zeros_like(x), x0, torch.Generator().manual_seed(0), ABAR
    )
    assert loss_zero > 10 * loss_eps  # the rescaled last-step target is far noisier


def test_conditional_training_lowers_the_loss():
    from difflab.losses import ddpm_loss_cond, drop_condition

    g = torch.Generator().manual_seed(0)
    cond = torch.randint(0, 3, (100_000,), generator=g)
    dropped = drop_condition(cond, 3, 0.1, g)
    share = (dropped == 3).float().mean().item()
    assert abs(share - 0.1) < 0.005, share
    assert torch.equal(
        dropped[dropped != 3], cond[dropped != 3]
    )  # the others keep their class
    assert (drop_condition(cond, 3, 0.0, g) == cond).all()

    data = make_spiral(500, n_parts=3)
    loss = functools.partial(ddpm_loss_cond, alphas_cumprod=ABAR, p_uncond=0.1)
    difflab.seed_everything(0)
    h = train(
        MLPDenoiser(MLPConfig(hidden=32, depth=1, n_classes=3)),
        loss,
        (data.x, data.part),
        TrainConfig(steps=200, batch_size=128),
    )
    assert sum(h[-50:]) / 50 < 0.8 * sum(h[:50]) / 50
    with pytest.raises(ValueError, match="needs a class-conditional model"):
        ddpm_loss_cond(
            MLPDenoiser(MLPConfig(hidden=8, depth=1)), (data.x, data.part), g, ABAR
        )
    with pytest.raises(ValueError, match=r"p_uncond=1.5 is out of range"):
        ddpm_loss_cond(
            MLPDenoiser(MLPConfig(hidden=8, depth=1, n_classes=3)),
            (data.x, data.part),
            g,
            ABAR,
            p_uncond=1.5,
        )
