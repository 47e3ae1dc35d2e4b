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
        logp = torch.stack(
            [-((x[i] - a.sqrt() * d) ** 2).sum() / (2 * (1 - a)) for d in data]
        )
        w = torch.softmax(logp, 0)
        x0 = (w[:, None] * data).sum(0)
        assert torch.allclose(den.x0(x[i : i + 1], t[i : i + 1])[0], x0, atol=1e-10)
        eps = (x[i] - a.sqrt() * x0) / (1 - a).sqrt()
        assert torch.allclose(den(x[i : i + 1], t[i : i + 1])[0], eps, atol=1e-10)


def test_works_for_images_shape():
    abar = alphas_cumprod(linear_betas())
    den = ExactDenoiser(torch.rand(10, 3, 4, 4), abar)
    x = torch.randn(5, 3, 4, 4)
    assert den(x, torch.full((5,), 10)).shape == x.shape


def test_bad_data():
    with pytest.raises(ValueError, match=r"data has shape \(5,\)"):
        ExactDenoiser(torch.zeros(5), alphas_cumprod(linear_betas()))


def test_conditional_exact_denoiser_is_the_exact_denoiser_of_each_class():
    from difflab.denoisers import ExactCondDenoiser

    abar = alphas_cumprod(linear_betas())
    g = torch.Generator().manual_seed(0)
    data, labels = torch.randn(60, 2, generator=g), torch.arange(60) % 3
    den = ExactCondDenoiser(data, labels, abar)
    x, t = torch.randn(9, 2, generator=g), torch.randint(0, 1000, (9,), generator=g)
    cond = torch.tensor(
        [0, 1, 2, 2, 1, 0, 3, 3, 0]
    )  # 3 = "no condition", as for the network
    eps = den(x, t, cond)
    for i in range(9):
        ref = ExactDenoiser(data if cond[i] == 3 else data[labels == cond[i]], abar)
        assert torch.allclose(eps[i], ref(x[i : i + 1], t[i : i + 1])[0], atol=1e-6)
    assert torch.allclose(den(x, t, None), ExactDenoiser(data, abar)(x, t), atol=1e-6)
    assert den.config.n_classes == 3


def test_conditional_exact_denoiser_bad_input():
    from difflab.denoisers import ExactCondDenoiser

    abar = alphas_cumprod(linear_betas())
    data = torch.randn(6, 2)
    with pytest.raises(ValueError, match=r"labels has shape \(5,\)"):
        ExactCondDenoiser(data, torch.zeros(5, dtype=torch.long), abar)
    with pytest.raises(ValueError, match=r"every class id 0\.\.2.*\[2, 0, 4\]"):
        ExactCondDenoiser(data, torch.tensor([0, 0, 2, 2, 2, 2]), abar)
    den = ExactCondDenoiser(data, torch.tensor([0, 1, 2, 0, 1, 2]), abar)
    with pytest.raises(ValueError, match=r"allowed class ids are 0\.\.2"):
        den(torch.zeros(2, 2), torch.tensor([5, 5]), torch.tensor([0, 4]))


def test_log_density_is_the_gaussian_mixture_by_hand():
    abar = alphas_cumprod(linear_betas())
    data = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    x, t = (
        torch.tensor([[0.3, 0.4], [-1.0, 1.0]], dtype=torch.float64),
        torch.tensor([100, 700]),
    )
    got = ExactDenoiser(data, abar).log_density(x, t)
    for i in range(2):
        a = abar[t[i]]
        normal = torch.distributions.MultivariateNormal(
            torch.zeros(2, dtype=torch.float64),
            (1 - a) * torch.eye(2, dtype=torch.float64),
        )
        ref = torch.logsumexp(
            torch.stack([normal.log_prob(x[i] - a.sqrt() * d) for d in data]), 0
        )
        assert (
            abs(got[i] - (ref - torch.log(torch.tensor(3.0, dtype=torch.float64))))
            < 1e-10
        )


def test_tweedie_the_exact_denoiser_is_the_score():
    """grad log p_t(x) = -eps*(x, t) / sqrt(1 - abar_t) (Robbins 1956; Efron 2011)."""
    abar = alphas_cumprod(linear_betas())
    g = torch.Generator().manual_seed(0)
    den = ExactDenoiser(torch.randn(50, 2, generator=g, dtype=torch.float64), abar)
    x = torch.randn(20, 2, generator=g, dtype=torch.float64).requires_grad_()
    t = torch.randint(0, 1000, (20,), generator=g)
    (score,) = torch.autograd.grad(den.log_density(x, t).sum(), x)
    expected = -den(x.detach(), t) / (1 - abar[t]).sqrt()[:, None]
    assert torch.allclose(score, expected, atol=1e-8, rtol=1e-8)


def test_class_posterior_sums_the_weights_of_each_class_and_mixes_the_denoisers():
    from difflab.denoisers import ExactCondDenoiser

    abar = alphas_cumprod(linear_betas())
    g = torch.Generator().manual_seed(1)
    data, labels = torch.randn(30, 2, generator=g), torch.arange(30) % 3
    den = ExactCondDenoiser(data, labels, abar)
    x, t = (
        torch.randn(8, 2, generator=g, dtype=torch.float64),
        torch.randint(0, 1000, (8,), generator=g),
    )
    post = den.class_posterior(x, t)
    w = den.uncond.posterior_weights(x, t)
    assert torch.allclose(
        post, torch.stack([w[:, labels == c].sum(1) for c in range(3)], 1)
    )
    assert torch.allclose(post.sum(1), torch.ones(8, dtype=torch.float64))
    # the unconditional exact denoiser is the posterior-weighted mixture of the class ones
    mix = sum(post[:, c : c + 1] * den(x, t, c) for c in range(3))
    assert torch.allclose(mix, den(x, t, None), atol=1e-10)


def test_exact_velocity_shares_the_exact_denoisers_posterior_mean():
    from difflab.conversions import vp_to_flow
    from difflab.denoisers import ExactVelocity

    abar = alphas_cumprod(linear_betas())
    data = torch.randn(
        50, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    t = torch.tensor([50, 300, 700])
    x_t = torch.randn(
        3, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    x_sigma, sigma = vp_to_flow(x_t, abar[t])
    x0_vp = ExactDenoiser(data, abar).x0(x_t, t)
    assert torch.allclose(ExactVelocity(data).x0(x_sigma, sigma), x0_vp, atol=1e-10)
