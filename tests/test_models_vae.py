"""difflab.models.vae: the latent-space chapter's autoencoder: 3 x 32 x 32 pictures to
4 x 8 x 8 latents and back, and the scale measured after training."""

import pytest
import torch

from difflab.models.vae import VAE, VAEConfig
from difflab.utils import local_seed


@pytest.fixture(scope="module")
def vae():
    with local_seed(0):
        return VAE(VAEConfig(channels=(8, 16, 16))).eval()


def _images(n=3, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("part", [0, 1], ids=["mu", "logvar"])
def test_encode_gives_a_4_by_8_by_8_latent_per_image(vae, part):
    with torch.no_grad():
        assert vae.encode(_images())[part].shape == (3, 4, 8, 8)


def test_the_latent_has_12_times_fewer_numbers_than_the_image(vae):
    x = _images()
    with torch.no_grad():
        mu, _ = vae.encode(x)
    assert 12 * mu[0].numel() == x[0].numel()


def test_decode_gives_32_pixel_rgb_images(vae):
    with torch.no_grad():
        assert vae.decode(torch.randn(3, 4, 8, 8)).shape == (3, 3, 32, 32)


def test_decode_gives_images_in_the_unit_range(vae):
    with torch.no_grad():
        out = vae.decode(10 * torch.randn(3, 4, 8, 8))
    assert out.min() >= 0 and out.max() <= 1


def test_forward_returns_the_reconstruction_with_the_posterior(vae):
    with torch.no_grad():
        out = vae(_images(), torch.Generator().manual_seed(0))
    assert [a.shape for a in out] == [(3, 3, 32, 32), (3, 4, 8, 8), (3, 4, 8, 8)]


def test_forward_reconstructs_in_minus_one_to_one_what_decode_gives_in_zero_to_one(vae):
    # vae(x) decodes z = mu + sigma eps with eps drawn from the generator
    x = _images()
    with torch.no_grad():
        recon, mu, logvar = vae(x, torch.Generator().manual_seed(4))
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(4))
        picture = vae.decode(mu + (0.5 * logvar).exp() * eps)
    assert torch.allclose(((recon + 1) / 2).clamp(0, 1), picture, atol=1e-6)


def test_forward_samples_the_latent(vae):
    x = _images()
    with torch.no_grad():
        a = vae(x, torch.Generator().manual_seed(0))[0]
        b = vae(x, torch.Generator().manual_seed(1))[0]
    assert not torch.equal(a, b)


def test_encode_reads_images_in_the_unit_range(vae):
    # the encoder sees x * 2 - 1: a mid-grey image is the zero input
    grey = torch.full((1, 3, 32, 32), 0.5)
    with torch.no_grad():
        expected = vae.encoder(torch.zeros(1, 3, 32, 32)).chunk(2, dim=1)[0]
        assert torch.equal(vae.encode(grey)[0], expected)


def test_scaling_factor_starts_at_one(vae):
    assert vae.scaling_factor.item() == 1.0


def test_scaling_factor_is_not_a_trained_parameter(vae):
    assert all(p is not vae.scaling_factor for p in vae.parameters())


def test_scaling_factor_is_saved_in_the_state_dict():
    with local_seed(0):
        a = VAE(VAEConfig(channels=(8, 16, 16)))
    a.scaling_factor.fill_(0.25)
    b = VAE(VAEConfig(channels=(8, 16, 16)))
    b.load_state_dict(a.state_dict())
    assert b.scaling_factor.item() == 0.25
