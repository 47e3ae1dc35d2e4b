"""A small U-Net for 32 x 32 RGB images, conditioned on a frozen CLIP text embedding
(Chapter 8).

The network predicts v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0 (Salimans and Ho 2022,
Sec. 4, "v-parameterisation"; its loss is :func:`difflab.losses.v_loss`); :class:`EpsFromV`
turns it into the epsilon every sampler and ``guidance.cfg`` of the book expects. The
text embedding (512 numbers, Chapter 1's CLIP) is projected and *added to the time
embedding*, and that vector scales and shifts every channel of every residual block
(adaptive group normalisation, Dhariwal and Nichol 2021, Sec. 3): the shapes images have
one object described by a handful of global attributes, so one vector is enough. Two
coordinate channels tell the convolutions where they are (Liu et al. 2018). Stable
Diffusion instead lets every pixel attend to every word (cross-attention, Rombach et al.
2022, Sec. 3.3), which matters for long sentences with several objects.

The "no condition" input is the zero vector: CLIP embeddings have length 1, so zero is
never a real sentence, and condition dropout trains the network on it (Ho and Salimans
2022, Alg. 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..conversions import eps_from_v
from .layers import timestep_embedding  # the sinusoidal embedding of Chapter 3


@dataclass
class UNetConfig:
    channels: tuple = (32, 64, 96)  # feature maps at 32x32, 16x16, 8x8
    cond_dim: int = 512  # size of the text embedding (CLIP's)
    emb_dim: int = 128  # size of the time(+text) embedding


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice plus a skip connection; in between, the embedding
    scales and shifts every normalised channel, h = GroupNorm(h) (1 + scale) + shift
    ("adaptive group normalisation", Dhariwal and Nichol 2021, Sec. 3)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = (
            nn.GroupNorm(8, c_in),
            nn.Conv2d(c_in, c_out, 3, padding=1),
        )
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2, self.conv2 = (
            nn.GroupNorm(8, c_out),
            nn.Conv2d(c_out, c_out, 3, padding=1),
        )
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = (
            self.norm2(h) * (1 + scale) + shift
        )  # the condition scales and shifts every channel
        h = self.conv2(nn.functional.silu(h))
        return h + self.skip(x)


def unet_blocks(c: tuple, e: int) -> tuple[nn.ModuleList, ResBlock, nn.ModuleList]:
    """(down, mid, up): a U-Net's residual blocks for channels ``c`` per resolution and an
    embedding of size ``e``; each up block takes its skip connection's channels too."""
    down = nn.ModuleList(
        [ResBlock(c[i - 1] if i else c[0], c[i], e) for i in range(len(c))]
    )
    mid = ResBlock(
        c[-1], c[-1], e
    )  # made before the up blocks: the seeded draws' order
    up = nn.ModuleList(
        [
            ResBlock(c[i] * 2, c[i - 1] if i else c[0], e)
            for i in reversed(range(len(c)))
        ]
    )
    return down, mid, up


class TextUNet(nn.Module):
    """v-prediction U-Net: ``net(x (N,3,32,32), t (N,), cond (N,512) or None) -> v
    (N,3,32,32)``."""

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        self.config = config = config or UNetConfig()
        c, e = config.channels, config.emb_dim
        self.time = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        self.text = nn.Sequential(
            nn.Linear(config.cond_dim, e), nn.SiLU(), nn.Linear(e, e)
        )
        self.inp = nn.Conv2d(
            3 + 2, c[0], 3, padding=1
        )  # the image and two coordinate channels
        self.down, self.mid, self.up = unet_blocks(c, e)
        self.pool = nn.AvgPool2d(2)
        self.out = nn.Sequential(
            nn.GroupNorm(8, c[0]), nn.SiLU(), nn.Conv2d(c[0], 3, 3, padding=1)
        )

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                f"x has shape {tuple(x.shape)}; expected (N, 3, H, W) with H, W divisible by 4"
            )
        if cond is None:
            cond = x.new_zeros(x.shape[0], self.config.cond_dim)  # "no condition"
        if cond.shape != (x.shape[0], self.config.cond_dim):
            raise ValueError(
                f"cond has shape {tuple(cond.shape)}; expected ({x.shape[0]}, {self.config.cond_dim})"
            )
        # a unit-length embedding has coordinates of about 1/sqrt(512); scaled to about 1, like the time embedding's
        emb = self.time(
            timestep_embedding(t, self.config.emb_dim).to(x.dtype)
        ) + self.text(cond * self.config.cond_dim**0.5)
        h, skips = self.inp(torch.cat([x, coordinates(x)], dim=1)), []
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else self.pool(h), emb)
            skips.append(h)
        h = self.mid(h, emb)
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if skips:
                h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")
        return self.out(h)


def coordinates(x: torch.Tensor) -> torch.Tensor:
    """Two channels (N, 2, H, W) holding each pixel's column and row, from -1 to 1
    ("CoordConv", Liu et al. 2018). Convolutions look the same everywhere; these tell
    the network *where* it is, so that "in the top left" can become a place."""
    n, _, h, w = x.shape
    cols = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).expand(n, 1, h, w)
    rows = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)[:, None].expand(
        n, 1, h, w
    )
    return torch.cat([cols, rows], dim=1)


class EpsFromV(nn.Module):
    """eps = sqrt(abar) v + sqrt(1 - abar) x_t
    (:func:`~difflab.conversions.eps_from_v`): a v-predicting network wrapped so it
    returns epsilon, ``model(x, t, cond) -> eps``.

    Because eps is an affine function of v with the same coefficients for every
    condition, guidance f_n + s (f_c - f_n) gives the same update whether it is combined
    in eps or in v.
    """

    def __init__(self, net: TextUNet, alphas_cumprod: torch.Tensor):
        super().__init__()
        self.net = net
        self.config = net.config
        self.register_buffer("alphas_cumprod", alphas_cumprod.float())

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        abar = self.alphas_cumprod.to(x.device)[t].to(x.dtype)[:, None, None, None]
        return eps_from_v(x, self.net(x, t, cond), abar)
