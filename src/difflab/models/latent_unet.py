"""The latent denoiser: a small U-Net on 4 x 8 x 8 latents whose blocks attend to every word
(the latent-space chapter).

Two ways to hear the prompt, in one class (``LatentUNetConfig.conditioning``):

- ``"cross_attention"``: after every residual block, each latent position asks the caption's
  token states what concerns it. Queries come from the latent, keys and values from the words,
  softmax(Q K^T / sqrt(d)) V (Rombach et al. 2022, Sec. 3.3, eq. 3; Vaswani et al. 2017,
  eq. 1). The token states are CLIP's last hidden states, one per word (Stable Diffusion
  reads 77 x 768 of them; ours are up to 24 x 64). A learned "null" token is always there to
  attend to, so a caption of padding only (the unconditional input) is well defined.
- ``"pooled"``: Chapter 8's conditioning, the control. The caption's one pooled 512-d CLIP
  embedding is added to the time embedding and scales and shifts every channel (adaptive
  group normalisation, Dhariwal and Nichol 2021, Sec. 3).

Both use the same residual blocks, channels, time embedding and coordinate channels as
Chapter 8's :class:`~difflab.models.unet.TextUNet`. Time always enters through the adaptive
normalisation. The network predicts v (Salimans and Ho 2022); :class:`~difflab.models.unet.
EpsFromV` turns it into epsilon for the samplers and ``guidance.cfg``. "No condition" is the
zero condition: zero token states (all treated as padding) or the zero vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import timestep_embedding, transformer
from .unet import coordinates, unet_blocks


@dataclass
class LatentUNetConfig:
    latent_channels: int = 4  # the VAE's latent: (4, 8, 8)
    channels: tuple = (64, 128)  # feature maps at 8x8 and 4x4
    emb_dim: int = 128  # size of the time(+text) embedding
    conditioning: str = "cross_attention"  # or "pooled" (Chapter 8's)
    cond_dim: int = (
        64  # width of a token state (cross-attention) or of the pooled embedding
    )
    heads: int = 4
    # cross-attention: transformer layers the denoiser trains over the frozen token states
    # (0: it reads CLIP's states as they are)
    text_layers: int = 0
    max_tokens: int = 24  # the text encoder's max_len


class CrossAttention(nn.Module):
    """h + W_o softmax(Q K^T / sqrt(d)) V with Q = W_q norm(h) from the latent positions and
    K = W_k c, V = W_v c from the token states c (Rombach et al. 2022, eq. 3). Rows of c that
    are all zero are padding and get no attention. ``keep=True`` stores the attention
    weights of the last call in ``weights`` (N, heads, positions, 1 + tokens; the null
    token first)."""

    def __init__(self, channels: int, cond_dim: int, heads: int):
        super().__init__()
        self.heads, self.keep, self.weights = heads, False, None
        self.norm = nn.GroupNorm(8, channels)
        self.q = nn.Linear(channels, channels, bias=False)
        self.k = nn.Linear(cond_dim, channels, bias=False)
        self.v = nn.Linear(cond_dim, channels, bias=False)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)  # starts as the identity: h + 0
        nn.init.zeros_(self.out.bias)
        self.null = nn.Parameter(0.02 * torch.randn(1, 1, cond_dim))

    def forward(self, h: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        n, c, height, width = h.shape
        pad = tokens.abs().sum(-1) == 0  # (N, L) zero rows: padding
        tokens = torch.cat([self.null.expand(n, 1, -1), tokens], dim=1)
        pad = torch.cat(
            [pad.new_zeros(n, 1), pad], dim=1
        )  # the null token always counts
        split = lambda a: a.view(n, a.shape[1], self.heads, -1).transpose(1, 2)
        q = split(self.q(self.norm(h).flatten(2).transpose(1, 2)))  # (N, heads, HW, d)
        k, v = split(self.k(tokens)), split(self.v(tokens))  # (N, heads, 1 + L, d)
        logits = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5  # (N, heads, HW, 1 + L)
        weights = logits.masked_fill(pad[:, None, None, :], float("-inf")).softmax(-1)
        if self.keep:
            self.weights = weights.detach()
        a = (weights @ v).transpose(1, 2).reshape(n, height * width, c)
        return h + self.out(a).transpose(1, 2).view(n, c, height, width)


class WordLayers(nn.Module):
    """Transformer layers over the token states, trained with the denoiser, after a learned
    embedding of each word's place in the caption: they let each word's state take in its
    neighbours and its order ("red" learns that its object is the left one), as the latent
    diffusion paper's own text-to-image model trained its text transformer jointly with the
    U-Net (Rombach et al. 2022, Sec. 4.3.1). Padding (all-zero rows) stays zero and is masked;
    a caption of padding only (no condition) is passed through as it is."""

    def __init__(self, config: LatentUNetConfig):
        super().__init__()
        self.layers = transformer(config.cond_dim, config.heads, config.text_layers)
        # where each word stands: CLIP's own position embeddings are too faint to tell
        self.position = nn.Parameter(
            0.02 * torch.randn(config.max_tokens, config.cond_dim)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pad = tokens.abs().sum(-1) == 0  # (N, L)
        empty = pad.all(1)  # no words: nothing to mix
        mask = pad & ~empty[:, None]  # every row keeps one position, so no NaN
        x = tokens + self.position[: tokens.shape[1]]
        out = self.layers(x, src_key_padding_mask=mask)
        return out.masked_fill(pad[..., None], 0.0)


class LatentUNet(nn.Module):
    """v-prediction U-Net on latents: ``net(z (N,4,8,8), t (N,), cond) -> v (N,4,8,8)``,
    ``cond`` token states (N, L, cond_dim) for cross-attention, a pooled embedding
    (N, cond_dim) otherwise, or None for "no condition"."""

    def __init__(self, config: LatentUNetConfig | None = None):
        super().__init__()
        self.config = config = config or LatentUNetConfig()
        if config.conditioning not in ("cross_attention", "pooled"):
            raise ValueError(
                f"conditioning={config.conditioning!r}; use 'cross_attention' or 'pooled'"
            )
        c, e = config.channels, config.emb_dim
        self.tokens = config.conditioning == "cross_attention"
        self.time = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        self.words = WordLayers(config) if self.tokens and config.text_layers else None
        if not self.tokens:
            self.text = nn.Sequential(
                nn.Linear(config.cond_dim, e), nn.SiLU(), nn.Linear(e, e)
            )
        self.inp = nn.Conv2d(config.latent_channels + 2, c[0], 3, padding=1)
        widths = (
            [c[i] for i in range(len(c))]
            + [c[-1]]
            + [c[i - 1] if i else c[0] for i in reversed(range(len(c)))]
        )
        self.down, self.mid, self.up = unet_blocks(c, e)
        self.pool = nn.AvgPool2d(2)
        self.attend = nn.ModuleList(
            [CrossAttention(w, config.cond_dim, config.heads) for w in widths]
            if self.tokens
            else []
        )
        self.out = nn.Sequential(
            nn.GroupNorm(8, c[0]),
            nn.SiLU(),
            nn.Conv2d(c[0], config.latent_channels, 3, padding=1),
        )

    def forward(
        self, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        cond = self._condition(z, cond)
        if self.words is not None:
            cond = self.words(cond)
        emb = self.time(timestep_embedding(t, self.config.emb_dim).to(z.dtype))
        if not self.tokens:  # Chapter 8: the pooled embedding joins the time embedding
            emb = emb + self.text(cond * self.config.cond_dim**0.5)
        attend = iter(self.attend)
        step = (lambda h: next(attend)(h, cond)) if self.tokens else (lambda h: h)
        h, skips = self.inp(torch.cat([z, coordinates(z)], dim=1)), []
        for i, block in enumerate(self.down):
            h = step(block(h if i == 0 else self.pool(h), emb))
            skips.append(h)
        h = step(self.mid(h, emb))
        for i, block in enumerate(self.up):
            h = step(block(torch.cat([h, skips.pop()], dim=1), emb))
            if skips:
                h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")
        return self.out(h)

    def _condition(self, z: torch.Tensor, cond):
        n, d = z.shape[0], self.config.cond_dim
        if z.ndim != 4 or z.shape[1] != self.config.latent_channels:
            raise ValueError(
                f"z has shape {tuple(z.shape)}; expected (N, {self.config.latent_channels}, H, W)"
            )
        if cond is None:
            return z.new_zeros((n, 1, d) if self.tokens else (n, d))
        want = (n, cond.shape[1], d) if self.tokens else (n, d)
        if cond.ndim != len(want) or tuple(cond.shape) != want:
            what = "(N, L, {d}) token states" if self.tokens else "(N, {d}) embeddings"
            raise ValueError(
                f"cond has shape {tuple(cond.shape)}; expected {what.format(d=d)} with N = {n}"
            )
        return cond
