"""A KL-regularised autoencoder: 3 x 32 x 32 pictures to a 4 x 8 x 8 latent and back (the
latent-space chapter).

The encoder gives, for every latent number, a mean mu and a log-variance; a latent is
z = mu + sigma * eps (the reparameterisation, Kingma and Welling 2014, Sec. 2.4). The loss
(:func:`difflab.losses.vae_loss`) is the reconstruction error plus a small weight times
KL(q(z|x) || N(0, I)). Stable Diffusion's autoencoder is this, with a perceptual and an
adversarial loss added and a weight of about 1e-6 on the KL term (Rombach et al. 2022,
Sec. 3 and App. G): the term keeps the latent space smooth and its spread bounded, not
unit. Its spread is measured after training and stored as ``scaling_factor`` = 1 / std of
the training latents, which the latent denoiser multiplies by (diffusers'
``AutoencoderKL.config.scaling_factor``, 0.18215 for Stable Diffusion 1.x).

8x fewer pixels per side, 4 channels: 3072 numbers become 256, 12 times fewer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class VAEConfig:
    channels: tuple = (32, 64, 64)  # feature maps at 32x32, 16x16, 8x8
    latent_channels: int = 4  # the latent is (latent_channels, 8, 8)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """GroupNorm-SiLU-conv 3x3."""
    return nn.Sequential(
        nn.GroupNorm(8, c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1)
    )


class Residual(nn.Module):
    """x + two blocks of x."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(_block(c, c), _block(c, c))

    def forward(self, x):
        return x + self.body(x)


class VAE(nn.Module):
    """``vae.encode(images in [0, 1]) -> (mu, logvar)``, each (N, 4, 8, 8);
    ``vae.decode(z) -> images in [0, 1]`` (N, 3, 32, 32); ``vae(images)`` does both with a
    sampled z and returns (reconstruction in [-1, 1], mu, logvar) for the loss."""

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config = config or VAEConfig()
        c, k = config.channels, config.latent_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c[0], 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(c[0], c[1], 3, stride=2, padding=1),  # 16 x 16
            Residual(c[1]),
            nn.Conv2d(c[1], c[2], 3, stride=2, padding=1),  # 8 x 8
            Residual(c[2]),
            _block(c[2], 2 * k),  # mean and log-variance of every latent number
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(k, c[2], 3, padding=1),
            Residual(c[2]),
            nn.Upsample(scale_factor=2, mode="nearest"),  # 16 x 16
            nn.Conv2d(c[2], c[1], 3, padding=1),
            Residual(c[1]),
            nn.Upsample(scale_factor=2, mode="nearest"),  # 32 x 32
            nn.Conv2d(c[1], c[0], 3, padding=1),
            _block(c[0], 3),
        )
        # 1 / std of the training latents, measured once training ends (registry "vae")
        self.register_buffer("scaling_factor", torch.tensor(1.0))

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z | x), each (N, 4, 8, 8), for images in [0, 1]."""
        mu, logvar = self.encoder(images * 2 - 1).chunk(2, dim=1)
        return mu, logvar.clamp(-30, 20)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, 32, 32) in [0, 1] from latents z (N, 4, 8, 8), unscaled."""
        return ((self.decoder(z) + 1) / 2).clamp(0, 1)

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None):
        mu, logvar = self.encode(images)
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
        z = mu + (0.5 * logvar).exp() * eps  # the reparameterisation
        return self.decoder(z), mu, logvar


@torch.no_grad()
def measure_scaling_factor(vae: VAE, images: torch.Tensor) -> float:
    """1 / std of the latents (posterior means) of ``images`` (N, 3, 32, 32) in [0, 1]: the
    number a latent is multiplied by before diffusion, so that it has about unit spread, as
    the noise schedule assumes (Rombach et al. 2022, Sec. 4.3.2; Stable Diffusion 1.x's
    0.18215 was measured this way on a batch of its training images)."""
    mu = torch.cat([vae.encode(x)[0] for x in images.split(500)])
    return 1 / mu.float().std().item()
