"""A diffusion transformer over spacetime patches: the video chapter's denoiser.

    latents (N, F, 4, 8, 8) --convolutional stem, each frame--> (N, F, C, 8, 8)
    --patchify, 1 frame x 2 x 2 cells a token--> (N, F * 16, width) + where each token is in
    time, height and width --blocks--> --unpatchify, + the stem's features, conv head-->
    the velocity (N, F, 4, 8, 8)

A block (Peebles and Xie 2023, Sec. 3.2, "adaLN-Zero"; the cross-attention to the words in
every block as in WAN 2.1 and PixArt-alpha, Chen et al. 2024, Sec. 2.3)::

    x = x + g1 * SelfAttention(LN(x) * (1 + a1) + b1)    # every token sees every token
    x = x + CrossAttention(LN(x), words)                 # ... and the caption's words
    x = x + g2 * MLP(LN(x) * (1 + a2) + b2)

(a, b, g) are regressed from the noise level's embedding by a linear layer that starts at
zero, so every block starts as the identity. The noise level sigma enters only there.

``attention``: ``"full"`` (one attention over all F x 16 tokens of a clip, as WAN 2.1 does) or ``"factorised"`` (within each frame, then across the frames at each place, Ho et al.
2022, Sec. 3; the cheaper choice of earlier video models). The stem, the head and the long
skip from stem to head (as U-ViT's long skips, Bao et al. 2023) are convolutions, which
learn the shapes of small objects far faster than a transformer on its own does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .latent_unet import WordLayers
from .layers import timestep_embedding


@dataclass
class VideoDiTConfig:
    latent_channels: int = 4  # the autoencoder's latent: (4, 8, 8) a frame
    frames: int = 8
    size: int = 8  # the latent's side
    patch: int = 2  # a token: 1 frame x patch x patch latent cells
    stem: int = 64  # channels of the convolutional stem and head
    width: int = 192
    depth: int = 6
    heads: int = 4
    cond_dim: int = 64  # the width of a token state of the text encoder
    conditioning: str = "cross_attention"  # what guidance.cfg reads: token states
    text_layers: int = 2  # transformer layers over the token states, trained with it
    max_tokens: int = 24
    attention: str = "full"  # or "factorised"


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, W) -> (B, heads, T, W / heads)."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, T, d) -> (B, T, heads d)."""
    return x.transpose(1, 2).flatten(2)


class SelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(d)) V over the tokens of each row (Vaswani et al. 2017, eq. 1)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_heads(a, self.heads) for a in self.qkv(x).chunk(3, -1))
        return self.out(_merge(F.scaled_dot_product_attention(q, k, v)))


class WordAttention(nn.Module):
    """The tokens ask the words: Q from the tokens, K and V from the token states, padding
    masked (Rombach et al. 2022, eq. 3, on tokens instead of feature maps). Its output
    layer starts at zero."""

    def __init__(self, width: int, cond_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(width)
        self.q = nn.Linear(width, width, bias=False)
        self.kv = nn.Linear(cond_dim, 2 * width, bias=False)
        self.out = nn.Linear(width, width)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, words, keep) -> torch.Tensor:
        q = _heads(self.q(self.norm(x)), self.heads)
        k, v = (_heads(a, self.heads) for a in self.kv(words).chunk(2, -1))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
        return self.out(_merge(a))


class Block(nn.Module):
    """One adaLN-Zero block with cross-attention (the module docstring)."""

    def __init__(self, config: VideoDiTConfig):
        super().__init__()
        w, self.config = config.width, config
        self.norm1 = nn.LayerNorm(w, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(w, elementwise_affine=False)
        self.attn = SelfAttention(w, config.heads)
        if config.attention == "factorised":
            self.attn_time = SelfAttention(w, config.heads)
        self.words = WordAttention(w, config.cond_dim, config.heads)
        self.mlp = nn.Sequential(nn.Linear(w, 4 * w), nn.GELU(), nn.Linear(4 * w, w))
        self.ada = nn.Linear(w, 6 * w)  # adaLN-Zero: starts at zero
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def attend(self, h: torch.Tensor) -> torch.Tensor:
        """Full attention over a clip's tokens, or within each frame then across frames."""
        if self.config.attention == "full":
            return self.attn(h)
        n, f = h.shape[0], self.config.frames
        space = self.attn(h.reshape(n * f, -1, h.shape[-1])).view_as(h)
        h2 = (h + space).view(n, f, -1, h.shape[-1]).transpose(1, 2)  # (N, S, F, W)
        time = self.attn_time(h2.flatten(0, 1)).view_as(h2).transpose(1, 2)
        return space + time.reshape_as(h)

    def forward(self, x, emb, words, keep) -> torch.Tensor:
        b1, a1, g1, b2, a2, g2 = self.ada(F.silu(emb))[:, None].chunk(6, -1)
        x = x + g1 * self.attend(self.norm1(x) * (1 + a1) + b1)
        x = x + self.words(x, words, keep)
        return x + g2 * self.mlp(self.norm2(x) * (1 + a2) + b2)


def positions(frames: int, grid: int, width: int) -> torch.Tensor:
    """Where each token is, (frames * grid * grid, width): sinusoids of its frame, row and
    column (a quarter, three eighths and three eighths of the width), as ViT's and DiT's
    fixed sine-cosine positions, extended to time (Peebles and Xie 2023, Sec. 3.1)."""
    f, h, w = torch.meshgrid(
        torch.arange(frames), torch.arange(grid), torch.arange(grid), indexing="ij"
    )
    quarter = width // 4
    dims = (quarter, (width - quarter) // 2, width - quarter - (width - quarter) // 2)
    parts = [timestep_embedding(a.flatten(), d, 100.0) for a, d in zip((f, h, w), dims)]
    return torch.cat(parts, 1)


class VideoDiT(nn.Module):
    """``net(z (N, F, 4, 8, 8), sigma (N,), cond) -> v (N, F, 4, 8, 8)``: the velocity of
    the flow (:mod:`difflab.flow`); ``cond``: token states (N, L, cond_dim), zero rows for
    padding, or None for "no condition" (padding only: the learned null word alone)."""

    def __init__(self, config: VideoDiTConfig | None = None):
        super().__init__()
        self.config = c = config or VideoDiTConfig()
        if c.attention not in ("full", "factorised"):
            raise ValueError(f"attention={c.attention!r}; use 'full' or 'factorised'")
        k, p, grid = c.latent_channels, c.patch, c.size // c.patch
        self.stem = nn.Sequential(  # 3 x 3 x 3 over (time, height, width)
            nn.Conv3d(k, c.stem, 3, padding=1),
            nn.SiLU(),
            nn.Conv3d(c.stem, c.stem, 3, padding=1),
        )
        self.embed = nn.Linear(c.stem * p * p, c.width)  # a patch -> a token
        self.register_buffer("position", positions(c.frames, grid, c.width))
        self.time = nn.Sequential(
            nn.Linear(128, c.width), nn.SiLU(), nn.Linear(c.width, c.width)
        )
        self.text = WordLayers(c) if c.text_layers else None
        self.null = nn.Parameter(0.02 * torch.randn(1, 1, c.cond_dim))
        self.blocks = nn.ModuleList([Block(c) for _ in range(c.depth)])
        self.final_norm = nn.LayerNorm(c.width, elementwise_affine=False)
        self.final_ada = nn.Linear(c.width, 2 * c.width)
        self.unembed = nn.Linear(c.width, c.stem * p * p)
        self.head = nn.Sequential(
            nn.GroupNorm(8, c.stem), nn.SiLU(), nn.Conv3d(c.stem, k, 3, padding=1)
        )
        for layer in (self.final_ada, self.head[-1]):  # the output starts at zero
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, z: torch.Tensor, sigma: torch.Tensor, cond=None) -> torch.Tensor:
        c, n = self.config, z.shape[0]
        words, keep = self._words(z, cond)
        emb = self.time(timestep_embedding(sigma * 1000, 128).to(z.dtype))
        skip = self.stem(z.transpose(1, 2))  # (N, C, F, 8, 8)
        x = F.pixel_unshuffle(skip.transpose(1, 2).flatten(0, 1), c.patch)
        x = x.flatten(2).transpose(1, 2)  # (N F, S, C p p): a frame's patches
        x = self.embed(x).view(n, -1, c.width) + self.position  # (N, F S, width)
        for block in self.blocks:
            x = block(x, emb, words, keep)
        shift, scale = self.final_ada(F.silu(emb))[:, None].chunk(2, -1)
        x = self.unembed(self.final_norm(x) * (1 + scale) + shift)
        grid = c.size // c.patch
        x = x.view(n * c.frames, grid, grid, -1).permute(0, 3, 1, 2)
        x = F.pixel_shuffle(x, c.patch).view(n, c.frames, -1, c.size, c.size)
        return self.head(x.transpose(1, 2) + skip).transpose(1, 2)  # (N, F, 4, 8, 8)

    def _words(self, z: torch.Tensor, cond):
        """(the null word and the token states (N, 1 + L, D), which of them to attend to)."""
        c, n = self.config, z.shape[0]
        want = (c.frames, c.latent_channels, c.size, c.size)
        if z.ndim != 5 or tuple(z.shape[1:]) != want:
            shape = ", ".join(map(str, want))
            raise ValueError(f"z has shape {tuple(z.shape)}; expected (N, {shape})")
        if cond is None:
            cond = z.new_zeros(n, 1, c.cond_dim)
        if cond.ndim != 3 or cond.shape[0] != n or cond.shape[2] != c.cond_dim:
            raise ValueError(
                f"cond has shape {tuple(cond.shape)}; expected (N, L, {c.cond_dim}) token "
                f"states with N = {n}"
            )
        pad = cond.abs().sum(-1) == 0  # (N, L)
        if self.text is not None:
            cond = self.text(cond)
        words = torch.cat([self.null.expand(n, 1, -1).to(cond.dtype), cond], 1)
        keep = torch.cat([pad.new_ones(n, 1), ~pad], 1)  # the null word always counts
        return words, keep
