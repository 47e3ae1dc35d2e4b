"""The 2-D spiral: the book's stand-in for "the set of all real images".

Each point of the plane is an "image"; the points near the spiral are the "real" ones.
The spiral is the Archimedean spiral r = theta (theta from 1.5 pi to 4.5 pi, one and a half
turns), scaled by 1/7 so that each coordinate has a standard deviation close to 1, the scale
of the N(0, I) noise that diffusion ends in.

A point's *position* s in [0, 1] says how far along the spiral it lies, from the inner end
(s = 0) to the outer end (s = 1). Because the arc length of r = theta grows like theta^2 / 2,
s = (theta^2 - theta_start^2) / (theta_end^2 - theta_start^2) is almost exactly the fraction
of arc length, so points drawn with uniform s are spread evenly along the curve.
The *part* of a point is which of ``n_parts`` equal stretches of s it lies on; later chapters
use the parts as classes ("kinds of images").
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .._checks import check_float, check_int

THETA_START = 1.5 * math.pi
THETA_END = 4.5 * math.pi
SCALE = 1.0 / 7.0


class SpiralSample(NamedTuple):
    x: torch.Tensor  # (n, 2) float32 points
    s: torch.Tensor  # (n,) position along the spiral in [0, 1]
    part: torch.Tensor  # (n,) long, which of n_parts stretches the point is on


def spiral_curve(s: torch.Tensor) -> torch.Tensor:
    """Points on the spiral (no jitter) at positions ``s`` in [0, 1]: shape ``s.shape + (2,)``."""
    s = torch.as_tensor(s, dtype=torch.float64)
    theta = torch.sqrt(THETA_START**2 + s * (THETA_END**2 - THETA_START**2))
    return SCALE * torch.stack([theta * torch.cos(theta), theta * torch.sin(theta)], dim=-1)


def make_spiral(n: int, *, seed: int = 0, jitter: float = 0.03, n_parts: int = 3) -> SpiralSample:
    """Draw ``n`` points spread evenly along the spiral, each moved by N(0, jitter^2 I).

    Uses its own generator seeded with ``seed``, so it never disturbs the global random state.
    Returns ``SpiralSample(x, s, part)``: the points (n, 2), their positions s and their parts.
    """
    n = check_int("n", n, low=1)
    seed = check_int("seed", seed, low=0)
    jitter = check_float("jitter", jitter, low=0.0)
    n_parts = check_int("n_parts", n_parts, low=1)
    gen = torch.Generator().manual_seed(seed)
    s = torch.rand(n, generator=gen, dtype=torch.float64)
    x = spiral_curve(s) + jitter * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    return SpiralSample(x.float(), s.float(), part_of(s, n_parts))


def part_of(s: torch.Tensor, n_parts: int = 3) -> torch.Tensor:
    """Which of ``n_parts`` equal stretches of the spiral the positions ``s`` lie on (long)."""
    n_parts = check_int("n_parts", n_parts, low=1)
    s = torch.as_tensor(s)
    return torch.clamp((s * n_parts).long(), 0, n_parts - 1)


def project_to_spiral(x: torch.Tensor, n_grid: int = 4000) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest point of the spiral for each row of ``x`` (n, 2): returns (s, distance), each (n,).

    Searches a grid of ``n_grid`` positions along the curve (spacing about 0.004 in these units).
    """
    x = torch.as_tensor(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (n, 2) points")
    grid_s = torch.linspace(0, 1, check_int("n_grid", n_grid, low=2), dtype=torch.float64)
    curve = spiral_curve(grid_s).to(x.device)  # (G, 2)
    dist, idx = torch.cdist(x.double(), curve).min(dim=1)
    return grid_s.to(x.device)[idx].to(x.dtype), dist.to(x.dtype)
