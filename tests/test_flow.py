"""difflab.flow: flow matching (the chapter after DDIM): the straight path, its velocity
target, the noise levels a training step draws, the loss, reflow, and the shipped flow
models."""

import json

import pytest
import torch
from conftest import F64, randn64

from difflab import registry
from difflab.data.spiral import make_spiral
from difflab.flow import (
    flow_loss,
    flow_loss_cond,
    interpolate,
    reflow_loss,
    reflow_pairs,
    sample_sigma,
    velocity_target,
)
from difflab.flow_samplers import euler_sample
from difflab.metrics import w2_ratio
from difflab.schedules import flow_sigmas
from difflab.training import TrainConfig, train

# --- the straight path and its loss --------------------------------------------------


def test_interpolation_starts_at_the_data():
    x0, eps = randn64(50, 2, seed=0), randn64(50, 2, seed=1)
    assert torch.equal(interpolate(x0, eps, 0.0), x0)


def test_interpolation_ends_at_the_noise():
    x0, eps = randn64(50, 2, seed=0), randn64(50, 2, seed=1)
    assert torch.equal(interpolate(x0, eps, 1.0), eps)


def test_interpolation_runs_straight_from_data_to_noise():
    x0, eps = randn64(50, 2, seed=0), randn64(50, 2, seed=1)
    sigma = torch.rand(50, generator=torch.Generator().manual_seed(2), dtype=F64)
    x = interpolate(x0, eps, sigma)
    assert torch.allclose(
        x, (1 - sigma[:, None]) * x0 + sigma[:, None] * eps, atol=1e-15
    )


def test_velocity_target_is_the_paths_derivative():
    # d x_sigma / d sigma by central differences is the target, eps - x0, at every sigma
    x0, eps = randn64(50, 2, seed=0), randn64(50, 2, seed=1)
    sigma = torch.rand(50, generator=torch.Generator().manual_seed(2), dtype=F64)
    h = 1e-6
    fd = (interpolate(x0, eps, sigma + h) - interpolate(x0, eps, sigma - h)) / (2 * h)
    assert torch.allclose(fd, velocity_target(x0, eps), atol=1e-8)


def test_uniform_sigmas_fill_the_unit_interval():
    u = sample_sigma(20_000, torch.Generator().manual_seed(0))
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean().item() - 0.5) < 0.01


def test_logit_normal_sigmas_have_normal_logits():
    g = torch.Generator().manual_seed(1)
    ln = sample_sigma(20_000, g, "logit_normal", loc=0.5, scale=1.0)
    logit = (ln / (1 - ln)).log()  # N(loc, scale^2) (Esser et al. 2024, Sec. 3.1)
    assert abs(logit.mean().item() - 0.5) < 0.03 and abs(logit.std().item() - 1) < 0.03


def test_sigma_sampling_follows_its_generator():
    again = sample_sigma(5, torch.Generator().manual_seed(3), "logit_normal")
    assert torch.equal(
        again, sample_sigma(5, torch.Generator().manual_seed(3), "logit_normal")
    )


@pytest.fixture
def trained(small_velocity_model):
    """(the loss history, the model) of 80 steps of flow matching on the spiral."""
    model = small_velocity_model()
    data = make_spiral(2000, seed=0).x
    config = TrainConfig(steps=80, batch_size=128, lr=3e-3, warmup_steps=10)
    return train(model, flow_loss, data, config, progress=False), model


def test_flow_training_losses_are_finite(trained):
    history, _ = trained
    assert all(torch.isfinite(torch.tensor(history)))


def test_training_lowers_the_flow_loss(trained):
    history, _ = trained
    first, last = sum(history[:10]) / 10, sum(history[-10:]) / 10
    assert last < 0.97 * first, (first, last)


def test_logit_normal_flow_loss_is_a_finite_training_signal(trained):
    _, model = trained
    data = make_spiral(2000, seed=0).x
    g = torch.Generator().manual_seed(0)
    loss = flow_loss(model, data[:256], g, sigma_sampling="logit_normal", loc=0.5)
    assert torch.isfinite(loss) and loss.requires_grad


def test_flow_loss_is_the_regression_written_out(small_velocity_model):
    model = small_velocity_model()
    x0 = randn64(64, 2, seed=4).float()
    got = flow_loss(model, x0, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)  # flow_loss draws eps, then sigma
    eps = torch.randn(x0.shape, generator=g)
    sigma = torch.rand(64, generator=g)
    x = (1 - sigma[:, None]) * x0 + sigma[:, None] * eps
    expected = ((model(x, sigma) - (eps - x0)) ** 2).mean()
    assert torch.allclose(got, expected, atol=1e-6)


def test_reflow_loss_is_the_regression_on_fixed_pairs(small_velocity_model):
    model = small_velocity_model()
    x0 = randn64(64, 2, seed=4).float()
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(7))
    again = reflow_loss(model, (x0, eps), torch.Generator().manual_seed(7))
    # reflow_loss draws sigma only: the pairs are fixed
    sigma = torch.rand(64, generator=torch.Generator().manual_seed(7))
    x = (1 - sigma[:, None]) * x0 + sigma[:, None] * eps
    assert torch.allclose(
        again, ((model(x, sigma) - (eps - x0)) ** 2).mean(), atol=1e-6
    )


# --- reflow (Liu et al. 2023) --------------------------------------------------------------


def _pairs(toy_velocity):
    g = torch.Generator().manual_seed(0)
    return reflow_pairs(toy_velocity, 10, flow_sigmas(20), g, batch_size=4)


def test_reflow_pairs_have_the_data_shape(toy_velocity):
    x0, eps = _pairs(toy_velocity)
    assert x0.shape == eps.shape == (10, 2)


def test_reflow_pairs_start_from_the_generators_noise(toy_velocity):
    _, eps = _pairs(toy_velocity)
    assert torch.equal(
        eps, torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    )


def test_reflow_pairs_end_where_the_model_ode_does(toy_velocity):
    x0, eps = _pairs(toy_velocity)
    assert torch.allclose(x0, euler_sample(toy_velocity, eps, flow_sigmas(20)))


# --- the shipped flow models ------------------------------------------------------


def test_shipped_flow_samples_the_spiral():
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    flow = registry.load("spiral_flow")
    r50 = w2_ratio(euler_sample(flow, x, flow_sigmas(50)), 0)
    assert r50 < 2.0, f"shipped flow model, 50 Euler steps: r = {r50:.2f} on one seed"


def test_shipped_reflow_halves_r_at_one_step():
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    flow, reflow = registry.load("spiral_flow"), registry.load("spiral_flow_reflow")
    r1, r1_reflow = (
        w2_ratio(euler_sample(m, x, flow_sigmas(1)), 0) for m in (flow, reflow)
    )
    assert r1_reflow < r1 / 2, (r1, r1_reflow)


def _flow_results():
    return json.loads((registry.CHECKPOINTS / "spiral_flow_results.json").read_text())


def test_stored_flow_results_reproduce_a_slice():
    """Chapter 4b prints the file scripts/measure_flow.py wrote: re-measure one cheap entry
    (the shipped flow model, Euler at 2 steps, r of the first seed at the stored N)."""
    res = _flow_results()
    seed = res["seeds"][0]
    x = torch.randn(res["n"], 2, generator=torch.Generator().manual_seed(seed))
    flow = registry.load("spiral_flow")
    r = w2_ratio(euler_sample(flow, x, flow_sigmas(2)), seed)
    assert r == pytest.approx(res["flow_euler"]["2"][1][0], rel=1e-3)


def test_stored_training_seeds_start_from_the_shipped_models_numbers():
    """The training-seed block of the stored flow results starts from the shipped models'
    own numbers, and has a run per training seed for each sigma sampling."""
    res = _flow_results()
    runs = res["training_seeds"]
    assert runs["seeds"][0] == 0 and runs["uniform"]["0"]["euler"] == res["flow_euler"]
    assert runs["logit_normal"]["0"]["euler"] == res["logit_normal_euler"]
    assert all(len(runs[m]) == len(runs["seeds"]) for m in ("uniform", "logit_normal"))


# --- clear errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        pytest.param(
            lambda x, model, v: flow_loss(
                model, x, torch.Generator(), sigma_sampling="lognormal"
            ),
            "sigma_sampling='lognormal' is not known",
            id="sigma_sampling",
        ),
        pytest.param(
            lambda x, model, v: sample_sigma(
                4, torch.Generator(), "logit_normal", scale=0.0
            ),
            "scale=0.0 is out of range",
            id="scale",
        ),
        pytest.param(
            lambda x, model, v: interpolate(x, torch.zeros(3, 1), 0.5),
            r"eps has shape \(3, 1\) but x0 has shape \(3, 2\)",
            id="eps",
        ),
        pytest.param(
            lambda x, model, v: interpolate(x, x, torch.zeros(2)),
            r"sigma has shape \(2,\); expected a number or \(3,\)",
            id="sigma",
        ),
        pytest.param(
            lambda x, model, v: reflow_pairs(v, 4, [1.0, 0.5], torch.Generator()),
            "sigmas run from 1.0 to 0.5; reflow pairs need the whole path",
            id="sigmas",
        ),
        pytest.param(
            lambda x, model, v: reflow_loss(model, x, torch.Generator()),
            "batch must be a pair",
            id="batch",
        ),
    ],
)
def test_flow_names_a_bad_argument(call, match, small_velocity_model, toy_velocity):
    with pytest.raises(ValueError, match=match):
        call(torch.zeros(3, 2), small_velocity_model(), toy_velocity)


class _Conditioned(torch.nn.Module):
    """v = x * sigma + (a number per row from the condition): a model that reads its
    condition, to see which rows the loss gave it."""

    def forward(self, x, sigma, cond):
        self.seen = cond
        return x * sigma[:, None] + cond.sum(1, keepdim=True)


def test_flow_loss_cond_is_the_regression_with_the_condition_written_out():
    model, gen = _Conditioned(), torch.Generator().manual_seed(0)
    x0, cond = torch.randn(6, 2), torch.randn(6, 3)
    got = flow_loss_cond(model, (x0, cond), gen, p_uncond=0.0)
    gen = torch.Generator().manual_seed(0)  # it draws the dropped rows, eps, then sigma
    torch.rand(6, generator=gen)
    eps = torch.randn(x0.shape, generator=gen)
    sigma = torch.rand(6, generator=gen)
    x = (1 - sigma[:, None]) * x0 + sigma[:, None] * eps
    want = ((x * sigma[:, None] + cond.sum(1, keepdim=True) - (eps - x0)) ** 2).mean()
    assert torch.allclose(got, want)


def test_flow_loss_cond_drops_the_condition_of_a_share_of_rows():
    model, gen = _Conditioned(), torch.Generator().manual_seed(0)
    flow_loss_cond(
        model, (torch.randn(4000, 2), torch.ones(4000, 3)), gen, p_uncond=0.25
    )
    dropped = (model.seen == 0).all(1).float().mean().item()
    assert dropped == pytest.approx(0.25, abs=0.03)


def test_flow_loss_cond_refuses_a_batch_that_is_not_a_pair():
    with pytest.raises(ValueError, match="batch"):
        flow_loss_cond(_Conditioned(), torch.randn(4, 2), torch.Generator())
