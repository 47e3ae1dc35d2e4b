"""difflab.forward: the forward processes: a random walk and the noising walk of DDPM,
whose every step is eq. 2 and whose marginal is the closed form."""

import pytest
import torch

from difflab.forward import forward_walk, q_step, random_walk
from difflab.metrics import moment_z_scores
from difflab.schedules import alphas_cumprod, linear_betas


def test_forward_walk_matches_closed_form_in_distribution():
    betas = linear_betas(T=50, beta_end=0.1)
    abar = alphas_cumprod(betas)
    x0 = torch.tensor([[1.5, -0.5]], dtype=torch.float64).repeat(20_000, 1)
    path = forward_walk(
        x0, betas, keep=[5, 50], generator=torch.Generator().manual_seed(0)
    )
    for i, k in enumerate([5, 50]):
        zm, zv = moment_z_scores(path[i], abar[k - 1].sqrt() * x0[0], 1 - abar[k - 1])
        assert zm.abs().max() < 5 and zv.abs().max() < 5


def test_q_step_is_eq2():
    x, n = torch.tensor([2.0]), torch.tensor([1.0])
    assert torch.allclose(q_step(x, 0.36, n), torch.tensor([0.8 * 2 + 0.6]))


X0 = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))


def _random_walk():
    return random_walk(X0, 10, 0.1, generator=torch.Generator().manual_seed(0))


def _forward_walk():
    return forward_walk(
        X0, linear_betas(T=10), keep=[0, 3, 10], generator=torch.Generator()
    )


def test_random_walk_keeps_every_step():
    assert _random_walk().shape == (11, 7, 2)


def test_random_walk_starts_at_x0():
    assert torch.equal(_random_walk()[0], X0)


def test_forward_walk_keeps_the_steps_asked_for():
    assert _forward_walk().shape == (3, 7, 2)


def test_forward_walk_starts_at_x0():
    assert torch.equal(_forward_walk()[0], X0)


def test_random_walk_variance_grows_linearly():
    x0 = torch.zeros(20_000, 2, dtype=torch.float64)
    p = random_walk(
        x0, 100, 0.2, keep=[100], generator=torch.Generator().manual_seed(1)
    )[0]
    assert moment_z_scores(p, 0.0, 100 * 0.04)[1].abs().max() < 5


@pytest.mark.parametrize(
    "n_steps, step_std, keep, match",
    [
        pytest.param(10, 0.1, [11], r"keep\[i\]=11", id="keep"),
        pytest.param(10, -1.0, None, "step_std=-1.0", id="step_std"),
        pytest.param(0, 0.1, None, "n_steps=0", id="n_steps"),
    ],
)
def test_random_walk_names_a_bad_argument(n_steps, step_std, keep, match):
    with pytest.raises(ValueError, match=match):
        random_walk(torch.zeros(2, 2), n_steps, step_std, keep=keep)
