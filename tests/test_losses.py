"""difflab.losses: the losses that train the book's models, each ``loss(model, batch,
generator)`` once its other arguments are bound."""

import functools

import pytest
import torch
from conftest import F64

import difflab
from difflab.conversions import v_target
from difflab.data import make_spiral
from difflab.losses import (
    ddpm_loss,
    ddpm_loss_cond,
    drop_condition,
    last_step_loss,
    prior_loss,
    v_loss,
    vae_loss,
)
from difflab.models.mlp import MLPConfig, MLPDenoiser
from difflab.models.prior import Prior, PriorConfig
from difflab.models.vae import VAE, VAEConfig
from difflab.training import TrainConfig, train
from difflab.utils import local_seed


def test_last_step_loss_has_the_same_minimiser_scale(abar):
    # with a model that returns the true total noise's conditional mean unknown, check the target scale:
    # E[target | x0, x_t] = eps, so the mean of target - eps over many draws is ~0
    x0 = torch.zeros(20000, 2)
    loss_zero = last_step_loss(
        lambda x, t: torch.zeros_like(x), x0, torch.Generator().manual_seed(0), abar
    )
    loss_eps = ddpm_loss(
        lambda x, t: torch.zeros_like(x), x0, torch.Generator().manual_seed(0), abar
    )
    assert loss_zero > 10 * loss_eps  # the rescaled last-step target is far noisier


# --- condition dropout (Ho and Salimans 2022, Algorithm 1) -----------------------------


def _dropped(p_uncond=0.1):
    g = torch.Generator().manual_seed(0)
    cond = torch.randint(0, 3, (100_000,), generator=g)
    return cond, drop_condition(cond, 3, p_uncond, g)


def test_condition_dropout_drops_its_share():
    _, dropped = _dropped()
    share = (dropped == 3).float().mean().item()
    assert abs(share - 0.1) < 0.005, share


def test_condition_dropout_keeps_the_other_classes():
    cond, dropped = _dropped()
    assert torch.equal(dropped[dropped != 3], cond[dropped != 3])


def test_no_condition_dropout_keeps_every_class():
    cond, dropped = _dropped(0.0)
    assert (dropped == cond).all()


def test_conditional_training_lowers_the_loss(abar):
    data = make_spiral(500, n_parts=3)
    loss = functools.partial(ddpm_loss_cond, alphas_cumprod=abar, p_uncond=0.1)
    difflab.seed_everything(0)
    h = train(
        MLPDenoiser(MLPConfig(hidden=32, depth=1, n_classes=3)),
        loss,
        (data.x, data.part),
        TrainConfig(steps=200, batch_size=128),
    )
    assert sum(h[-50:]) / 50 < 0.8 * sum(h[:50]) / 50


@pytest.mark.parametrize(
    "n_classes, p_uncond, match",
    [
        pytest.param(0, 0.1, "needs a class-conditional model", id="model"),
        pytest.param(3, 1.5, r"p_uncond=1.5 is out of range", id="p_uncond"),
    ],
)
def test_conditional_loss_names_a_bad_argument(n_classes, p_uncond, match, abar):
    data = make_spiral(500, n_parts=3)
    model = MLPDenoiser(MLPConfig(hidden=8, depth=1, n_classes=n_classes))
    with pytest.raises(ValueError, match=match):
        ddpm_loss_cond(
            model,
            (data.x, data.part),
            torch.Generator().manual_seed(0),
            abar,
            p_uncond=p_uncond,
        )


# --- v-prediction (Chapter 8) -------------------------------------------------------------


def test_v_loss_is_the_regression_on_v_written_out(small_t2i, abar):
    # Salimans and Ho 2022, Sec. 4, with condition dropout; v_loss draws t, eps, then the
    # rows whose text embedding it drops
    net, abar = small_t2i.net, abar.float()  # the U-Net computes in float32
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    cond = torch.randn(4, 512, generator=g)
    with torch.no_grad():
        got = v_loss(net, (x0, cond), torch.Generator().manual_seed(7), abar, 0.5)
        g = torch.Generator().manual_seed(7)
        t = torch.randint(0, len(abar), (4,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        drop = torch.rand(4, generator=g) < 0.5
        cond = torch.where(drop[:, None], torch.zeros_like(cond), cond)
        a = abar[t][:, None, None, None]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        expected = ((net(x_t, t, cond) - v_target(x0, eps, a)) ** 2).mean()
    assert torch.allclose(got, expected, atol=1e-6)


class _Recorder(torch.nn.Module):
    """A v-model that predicts zero and keeps the condition of its last call."""

    def forward(self, x, t, cond):
        self.cond = cond
        return torch.zeros_like(x)


def _token_states_seen(p_uncond):
    g = torch.Generator().manual_seed(0)
    x0, cond = torch.randn(16, 4, 8, 8, generator=g), torch.randn(16, 5, 8, generator=g)
    net, abar = _Recorder(), torch.linspace(0.99, 0.01, 10)
    v_loss(net, (x0, cond), torch.Generator().manual_seed(7), abar, p_uncond)
    return cond, net.cond


def test_v_loss_zeroes_the_token_states_of_the_dropped_rows():
    # v_loss draws t, eps, then the rows whose condition it drops
    _, seen = _token_states_seen(0.5)
    g = torch.Generator().manual_seed(7)
    torch.randint(0, 10, (16,), generator=g)  # t
    torch.randn(16, 4, 8, 8, generator=g)  # eps
    drop = torch.rand(16, generator=g) < 0.5
    assert 0 < int(drop.sum()) < 16 and (seen[drop] == 0).all()


def test_v_loss_keeps_the_token_states_of_the_other_rows():
    cond, seen = _token_states_seen(0.5)
    kept = (seen != 0).any(-1).any(-1)
    assert 0 < int(kept.sum()) < 16 and torch.equal(seen[kept], cond[kept])


def test_v_loss_without_dropout_passes_the_token_states_on():
    cond, seen = _token_states_seen(0.0)
    assert torch.equal(seen, cond)


# --- the autoencoder (the latent-space chapter) -------------------------------------------


@pytest.fixture(scope="module")
def small_vae():
    with local_seed(0):
        return VAE(VAEConfig(channels=(8, 16, 16))).double()


def _vae_case(vae, kl_weight, seed=3):
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=F64)
    with torch.no_grad():
        return vae_loss(vae, x, torch.Generator().manual_seed(seed), kl_weight), x


def test_vae_loss_without_the_kl_term_is_the_reconstruction_error(small_vae):
    got, x = _vae_case(small_vae, 0.0)
    with torch.no_grad():
        recon, _, _ = small_vae(x, torch.Generator().manual_seed(3))
    assert torch.allclose(got, ((recon - (x * 2 - 1)) ** 2).mean(), rtol=1e-12)


def test_vae_loss_adds_the_weighted_kl_divergence_to_the_standard_normal(small_vae):
    # KL(N(mu, sigma^2) || N(0, 1)) per number, averaged (Kingma and Welling 2014, App. B)
    with_kl, x = _vae_case(small_vae, 3.0)
    without, _ = _vae_case(small_vae, 0.0)
    with torch.no_grad():
        mu, logvar = small_vae.encode(x)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = torch.distributions.kl_divergence(q, p).mean()
    assert kl > 0.01 and torch.allclose(with_kl - without, 3.0 * kl, rtol=1e-9)


def test_vae_loss_is_seeded_by_its_generator(small_vae):
    assert _vae_case(small_vae, 1.0, seed=1)[0] == _vae_case(small_vae, 1.0, seed=1)[0]


def _prior_batch(n=6, d=8):
    g = torch.Generator().manual_seed(0)
    norm = torch.nn.functional.normalize
    return norm(torch.randn(n, d, generator=g), dim=1), norm(
        torch.randn(n, d, generator=g), dim=1
    )


def test_the_regression_prior_loss_is_the_squared_error_to_the_scaled_embedding():
    prior = Prior(PriorConfig(kind="regression", dim=8, width=16, depth=1))
    text, image = _prior_batch()
    want = ((prior(None, None, text) - image * 8**0.5) ** 2).mean()
    assert torch.allclose(prior_loss(prior, (text, image), torch.Generator()), want)


def test_the_diffusion_prior_loss_is_the_squared_error_on_the_clean_embedding(abar):
    prior = Prior(PriorConfig(kind="diffusion", dim=8, width=16, depth=1, time_dim=8))
    text, image = _prior_batch()
    z = image * 8**0.5
    g = torch.Generator().manual_seed(3)
    t = torch.randint(0, len(abar), (6,), generator=g)
    eps = torch.randn(z.shape, generator=g)
    a = abar.float()[t][:, None]
    want = ((prior(a.sqrt() * z + (1 - a).sqrt() * eps, t, text) - z) ** 2).mean()
    got = prior_loss(
        prior, (text, image), torch.Generator().manual_seed(3), abar.float()
    )
    assert torch.allclose(got, want, atol=1e-6)
