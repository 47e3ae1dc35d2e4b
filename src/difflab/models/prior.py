"""unCLIP's prior: from a CLIP text embedding to a CLIP image embedding (Ramesh et al. 2022,
Sec. 2.2), as a residual MLP in the 512-d space of the embeddings.

Both kinds read embeddings times sqrt(dim), so that their coordinates have about unit spread,
as the noise of a diffusion model does (the latent-space chapter's scaling factor, here known
in advance: a unit vector's coordinates have mean square 1 / dim).

- ``kind="regression"``: ``prior(text) -> image embedding``, one answer per caption, trained
  with squared error: it learns the *mean* image embedding of a caption.
- ``kind="diffusion"``: ``prior(z_t, t, text) -> z_0``, the clean image embedding predicted from
  a noised one (DALL-E 2's prior predicts z_0 directly too, Sec. 2.2, with a Transformer):
  sampling it draws one image embedding among the many a caption allows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .._checks import check_choice, check_int
from .layers import timestep_embedding
from .mlp import Block


@dataclass
class PriorConfig:
    kind: str = "diffusion"  # "diffusion" or "regression"
    dim: int = 512  # the CLIP embedding size
    width: int = 1024  # of every hidden layer
    depth: int = 4  # residual blocks
    time_dim: int = 128  # sinusoidal time embedding (the diffusion prior)

    def __post_init__(self):
        check_choice("kind", self.kind, ("diffusion", "regression"))
        for name in ("dim", "width", "depth", "time_dim"):
            check_int(name, getattr(self, name), low=1)


class Prior(nn.Module):
    """``prior(z_t, t, text)``: the predicted clean image embedding (N, dim), scaled by
    sqrt(dim), from the noised one ``z_t`` at steps ``t`` and the caption's unit text embedding
    ``text`` (N, dim). The regression prior ignores ``z_t`` and ``t`` (pass None)."""

    def __init__(self, config: PriorConfig | None = None):
        super().__init__()
        self.config = c = config or PriorConfig()
        diffusion = c.kind == "diffusion"
        self.inp = nn.Linear(c.dim * (2 if diffusion else 1), c.width)
        self.time = (
            nn.Sequential(nn.Linear(c.time_dim, c.width), nn.SiLU())
            if diffusion
            else None
        )
        self.blocks = nn.ModuleList(Block(c.width) for _ in range(c.depth))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(c.width, c.dim))

    def forward(self, z_t, t, text: torch.Tensor) -> torch.Tensor:
        h = text * self.config.dim**0.5
        if self.time is None:
            return self.out(self._blocks(self.inp(h), 0.0))
        emb = self.time(timestep_embedding(t, self.config.time_dim).to(h.dtype))
        return self.out(self._blocks(self.inp(torch.cat([z_t, h], dim=1)), emb))

    def _blocks(self, h, emb):
        for block in self.blocks:
            h = block(h, emb)
        return h
