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


def test_walks_start_at_x0():
    x0 = torch.randn(7, 2)
    p = random_walk(x0, 10, 0.1, generator=torch.Generator().manual_seed(0))
    assert p.shape == (11, 7, 2) and torch.equal(p[0], x0)
    q = forward_walk(x0, linear_betas(T=10), keep=[0, 3, 10])
    assert q.shape == (3, 7, 2) and torch.equal(q[0], x0)


def test_random_walk_variance_grows_linearly():
    x0 = torch.zeros(20_000, 2, dtype=torch.float64)
    p = random_walk(
        x0, 100, 0.2, keep=[100], generator=torch.Generator().manual_seed(1)
    )[0]
    assert moment_z_scores(p, 0.0, 100 * 0.04)[1].abs().max() < 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="keep\\[i\\]=11"):
        random_walk(torch.zeros(2, 2), 10, 0.1, keep=[11])
    with pytest.raises(ValueError, match="step_std=-1.0"):
        random_walk(torch.zeros(2, 2), 10, -1.0)
    with pytest.raises(ValueError, match="n_steps=0"):
        random_walk(torch.zeros(2, 2), 0, 0.1)
