import pytest
import torch

from difflab.denoisers import ExactDenoiser
from difflab.schedules import alphas_cumprod, linear_betas


def test_posterior_mean_matches_bayes_by_hand():
    abar = alphas_cumprod(linear_betas())
    data = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    den = ExactDenoiser(data, abar)
    x = torch.tensor([[0.3, 0.4], [-1.0, 1.0]], dtype=torch.float64)
    t = torch.tensor([100, 700])
    for i in range(2):
        a = abar[t[i]]
        logp = torch.stack([-((x[i] - a.sqrt() * d) ** 2).sum() / (2 * (1 - a)) for d in data])
        w = torch.softmax(logp, 0)
        x0 = (w[:, None] * data).sum(0)
        assert torch.allclose(den.x0(x[i:i + 1], t[i:i + 1])[0], x0, atol=1e-10)
        eps = (x[i] - a.sqrt() * x0) / (1 - a).sqrt()
        assert torch.allclose(den(x[i:i + 1], t[i:i + 1])[0], eps, atol=1e-10)


def test_works_for_images_shape():
    abar = alphas_cumprod(linear_betas())
    den = ExactDenoiser(torch.rand(10, 3, 4, 4), abar)
    x = torch.randn(5, 3, 4, 4)
    assert den(x, torch.full((5,), 10)).shape == x.shape


def test_bad_data():
    with pytest.raises(ValueError, match=r"data has shape \(5,\)"):
        ExactDenoiser(torch.zeros(5), alphas_cumprod(linear_betas()))
