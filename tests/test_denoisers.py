"""difflab.denoisers: the exact denoiser, its class-conditional version and the exact
velocity of a finite data set, against Bayes' rule written out by hand."""

import pytest
import torch
from conftest import F64, randn64

from difflab.conversions import vp_to_flow
from difflab.denoisers import ExactCondDenoiser, ExactDenoiser, ExactVelocity
from difflab.flow_samplers import euler_sample
from difflab.samplers import ddpm_sample
from difflab.schedules import flow_sigmas

# --- the exact denoiser -------------------------------------------------------------------

DATA = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=F64)
X = torch.tensor([[0.3, 0.4], [-1.0, 1.0]], dtype=F64)
T_ = torch.tensor([100, 700])


def _bayes_x0(abar, i):
    a = abar[T_[i]]
    logp = torch.stack(
        [-((X[i] - a.sqrt() * d) ** 2).sum() / (2 * (1 - a)) for d in DATA]
    )
    w = torch.softmax(logp, 0)
    return (w[:, None] * DATA).sum(0)


@pytest.mark.parametrize("i", [0, 1])
def test_posterior_mean_matches_bayes_by_hand(i, abar):
    den = ExactDenoiser(DATA, abar)
    x0 = _bayes_x0(abar, i)
    assert torch.allclose(den.x0(X[i : i + 1], T_[i : i + 1])[0], x0, atol=1e-10)


@pytest.mark.parametrize("i", [0, 1])
def test_exact_eps_points_from_the_posterior_mean_to_x(i, abar):
    den = ExactDenoiser(DATA, abar)
    a = abar[T_[i]]
    eps = (X[i] - a.sqrt() * _bayes_x0(abar, i)) / (1 - a).sqrt()
    assert torch.allclose(den(X[i : i + 1], T_[i : i + 1])[0], eps, atol=1e-10)


def test_works_for_images_shape(abar):
    den = ExactDenoiser(torch.rand(10, 3, 4, 4), abar)
    x = torch.randn(5, 3, 4, 4)
    assert den(x, torch.full((5,), 10)).shape == x.shape


def test_bad_data(abar):
    with pytest.raises(ValueError, match=r"data has shape \(5,\)"):
        ExactDenoiser(torch.zeros(5), abar)


def test_log_density_is_the_gaussian_mixture_by_hand(abar):
    got = ExactDenoiser(DATA, abar).log_density(X, T_)
    for i in range(2):
        a = abar[T_[i]]
        normal = torch.distributions.MultivariateNormal(
            torch.zeros(2, dtype=F64), (1 - a) * torch.eye(2, dtype=F64)
        )
        ref = torch.logsumexp(
            torch.stack([normal.log_prob(X[i] - a.sqrt() * d) for d in DATA]), 0
        )
        assert abs(got[i] - (ref - torch.log(torch.tensor(3.0, dtype=F64)))) < 1e-10


def test_tweedie_the_exact_denoiser_is_the_score(abar):
    """grad log p_t(x) = -eps*(x, t) / sqrt(1 - abar_t) (Robbins 1956; Efron 2011)."""
    g = torch.Generator().manual_seed(0)
    den = ExactDenoiser(torch.randn(50, 2, generator=g, dtype=F64), abar)
    x = torch.randn(20, 2, generator=g, dtype=F64).requires_grad_()
    t = torch.randint(0, 1000, (20,), generator=g)
    (score,) = torch.autograd.grad(den.log_density(x, t).sum(), x)
    expected = -den(x.detach(), t) / (1 - abar[t]).sqrt()[:, None]
    assert torch.allclose(score, expected, atol=1e-8, rtol=1e-8)


def test_exact_denoiser_memorises_training_points(abar):
    data = randn64(30, 2, seed=0)
    x = ddpm_sample(
        ExactDenoiser(data, abar),
        randn64(200, 2, seed=1),
        range(999, -1, -1),
        abar,
        generator=torch.Generator().manual_seed(0),
    )
    nearest = torch.cdist(x, data).min(1).values
    # jitter of the last steps only; data points are ~0.3 apart
    assert nearest.max() < 0.03


# --- the class-conditional exact denoiser ----------------------------------------------------


def _cond_case(abar):
    g = torch.Generator().manual_seed(0)
    data, labels = torch.randn(60, 2, generator=g), torch.arange(60) % 3
    den = ExactCondDenoiser(data, labels, abar)
    x, t = torch.randn(9, 2, generator=g), torch.randint(0, 1000, (9,), generator=g)
    return data, labels, den, x, t


def test_conditional_exact_denoiser_is_the_exact_denoiser_of_each_class(abar):
    data, labels, den, x, t = _cond_case(abar)
    cond = torch.tensor(
        [0, 1, 2, 2, 1, 0, 3, 3, 0]
    )  # 3 = "no condition", as for the net
    eps = den(x, t, cond)
    for i in range(9):
        ref = ExactDenoiser(data if cond[i] == 3 else data[labels == cond[i]], abar)
        assert torch.allclose(eps[i], ref(x[i : i + 1], t[i : i + 1])[0], atol=1e-6)


def test_conditional_exact_denoiser_without_a_class_is_the_exact_denoiser(abar):
    data, _, den, x, t = _cond_case(abar)
    assert torch.allclose(den(x, t, None), ExactDenoiser(data, abar)(x, t), atol=1e-6)


def test_conditional_exact_denoiser_counts_its_classes(abar):
    _, _, den, _, _ = _cond_case(abar)
    assert den.config.n_classes == 3


@pytest.mark.parametrize(
    "labels, match",
    [
        pytest.param(
            torch.zeros(5, dtype=torch.long), r"labels has shape \(5,\)", id="labels"
        ),
        pytest.param(
            torch.tensor([0, 0, 2, 2, 2, 2]),
            r"labels must use every class id 0\.\.2.*\[2, 0, 4\]",
            id="labels-unused-id",
        ),
    ],
)
def test_conditional_exact_denoiser_names_bad_labels(labels, match, abar):
    with pytest.raises(ValueError, match=match):
        ExactCondDenoiser(torch.randn(6, 2), labels, abar)


def test_conditional_exact_denoiser_names_a_bad_cond(abar):
    den = ExactCondDenoiser(torch.randn(6, 2), torch.tensor([0, 1, 2, 0, 1, 2]), abar)
    with pytest.raises(
        ValueError, match=r"cond contains .*allowed class ids are 0\.\.2"
    ):
        den(torch.zeros(2, 2), torch.tensor([5, 5]), torch.tensor([0, 4]))


def _posterior_case(abar):
    g = torch.Generator().manual_seed(1)
    data, labels = torch.randn(30, 2, generator=g), torch.arange(30) % 3
    den = ExactCondDenoiser(data, labels, abar)
    x, t = (
        torch.randn(8, 2, generator=g, dtype=F64),
        torch.randint(0, 1000, (8,), generator=g),
    )
    return labels, den, x, t


def test_class_posterior_is_each_class_share_of_the_weights(abar):
    labels, den, x, t = _posterior_case(abar)
    post = den.class_posterior(x, t)
    w = den.uncond.posterior_weights(x, t)
    assert torch.allclose(
        post, torch.stack([w[:, labels == c].sum(1) for c in range(3)], 1)
    )
    assert torch.allclose(post.sum(1), torch.ones(8, dtype=F64))


def test_the_exact_denoiser_mixes_the_class_ones_by_their_posterior(abar):
    # the unconditional exact denoiser is the posterior-weighted mixture of the class ones
    _, den, x, t = _posterior_case(abar)
    post = den.class_posterior(x, t)
    mix = sum(post[:, c : c + 1] * den(x, t, c) for c in range(3))
    assert torch.allclose(mix, den(x, t, None), atol=1e-10)


# --- the exact velocity (Chapter 4b) -------------------------------------------------------


def test_exact_velocity_shares_the_exact_denoisers_posterior_mean(abar):
    data = randn64(50, 2, seed=1)
    t = torch.tensor([50, 300, 700])
    x_t = randn64(3, 2, seed=2)
    x_sigma, sigma = vp_to_flow(x_t, abar[t])
    x0_vp = ExactDenoiser(data, abar).x0(x_t, t)
    assert torch.allclose(ExactVelocity(data).x0(x_sigma, sigma), x0_vp, atol=1e-10)


def test_exact_velocity_matches_brute_force_bayes():
    data = randn64(40, 2, seed=0)
    x = randn64(25, 2, seed=1) * 1.5
    sigma = torch.linspace(0.05, 1.0, 25, dtype=F64)
    v = ExactVelocity(data, chunk=200)(x, sigma)  # chunk: 5 rows at a time
    for j in range(25):
        # w_i = N(x; (1 - s) x0_i, s^2 I) / sum_k N(x; (1 - s) x0_k, s^2 I)
        s = sigma[j]
        log_dens = -((x[j] - (1 - s) * data) ** 2).sum(1) / (2 * s**2)
        dens = torch.exp(log_dens - log_dens.max())  # the common factor cancels
        x0_hat = (dens[:, None] * data).sum(0) / dens.sum()
        eps_hat = (x[j] - (1 - s) * x0_hat) / s
        assert torch.allclose(v[j], eps_hat - x0_hat, atol=1e-10), j


def test_exact_velocity_at_sigma_1_points_from_the_data_mean_to_x():
    data, x = randn64(40, 2, seed=0), randn64(25, 2, seed=1) * 1.5
    at_one = ExactVelocity(data)(x, torch.ones(25, dtype=F64))  # sigma = 1: x - mean
    assert torch.allclose(at_one, x - data.mean(0), atol=1e-12)


def test_exact_velocity_memorises_its_training_points():
    data = randn64(30, 2, seed=0)
    x = euler_sample(ExactVelocity(data), randn64(200, 2, seed=1), flow_sigmas(1000))
    nearest = torch.cdist(x, data).min(1).values
    assert nearest.max() < 1e-3, nearest.max()  # the points are ~0.3 apart


@pytest.mark.parametrize(
    "data_shape, sigma, match",
    [
        pytest.param((5, 2), torch.zeros(3), r"sigma.*values in \(0, 1\]", id="sigma"),
        pytest.param((5,), None, r"data has shape \(5,\)", id="data"),
    ],
)
def test_exact_velocity_names_a_bad_argument(data_shape, sigma, match):
    with pytest.raises(ValueError, match=match):
        ExactVelocity(torch.zeros(data_shape))(torch.zeros(3, 2), sigma)
