"""Blocks shared by the book's networks."""

from __future__ import annotations

import math

import torch


def timestep_embedding(
    t: torch.Tensor, dim: int, max_period: float = 10_000.0
) -> torch.Tensor:
    """[cos(t w_k), sin(t w_k)], w_k = max_period^(-k / (dim/2)): the sinusoidal
    embedding of the steps (Vaswani et al. 2017, Sec. 3.5; used by Ho et al. 2020, App.
    B).

    t: (N,) -> (N, dim), with frequencies w_k from 1 down to 1/max_period. Real times
    are accepted too (a flow model's sigma * 1000).
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period)
        * torch.arange(half, device=t.device, dtype=torch.float32)
        / half
    )
    angles = t.float()[:, None] * freqs[None]  # (N, half)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def transformer(width: int, heads: int, layers: int) -> torch.nn.TransformerEncoder:
    """``layers`` pre-norm transformer encoder layers of ``width``, ``heads`` heads, a 4x
    wide GELU MLP and no dropout (Vaswani et al. 2017, Sec. 3.1; pre-norm as in CLIP's text
    encoder, Radford et al. 2021): the text encoder's and the latent denoiser's word layers."""
    layer = torch.nn.TransformerEncoderLayer(
        width,
        heads,
        4 * width,
        dropout=0.0,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    return torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
