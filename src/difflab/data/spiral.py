"""The 2-D spiral: the book's stand-in for "the set of all real images".

Each point of the plane is an "image"; the points near the spiral are the "real" ones.
The spiral is the Archimedean spiral r = theta (theta from 1.5 pi to 4.5 pi, one and a half
turns), scaled by 1/7 so that each coordinate has a standard deviation close to 1, the scale
of the N(0, I) noise that diffusion ends in.

A point's *position* u in [0, 1] says how far along the spiral it lies, from the inner end
(u = 0) to the outer end (u = 1). Because the arc length of r = theta grows like theta^2 / 2,
u = (theta^2 - theta_start^2) / (theta_end^2 - theta_start^2) is almost exactly the fraction
of arc length, so points drawn with uniform u are spread evenly along the curve. (theta is the
polar angle; successive turns of the spiral lie 2 pi SCALE = 0.90 apart.)
The *part* of a point is which of ``n_parts`` equal stretches of u it lies on; later chapters
use the parts as classes ("kinds of images").

A point's *label* is the class a data set says it belongs to. With ``label_noise = 0`` it is
its part, and the classes are disjoint. Real labels overlap: a photo labelled "dog" also shows
grass, and a picture that shows two things is captioned by either. ``label_noise = q`` gives a
share q of the points the label of one of the *other* parts, chosen at random, so that
p(label = c | part = k) = 1 - q if c = k, else q / (n_parts - 1) (:func:`label_probs`).
Chapters 5-7 train on these labels.
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
    u: torch.Tensor  # (n,) position along the spiral in [0, 1]
    part: torch.Tensor  # (n,) long, which of n_parts stretches the point is on
    label: (
        torch.Tensor
    )  # (n,) long, the class the data set gives the point (its part, unless relabelled)


def spiral_curve(u: torch.Tensor) -> torch.Tensor:
    """Points on the spiral (no jitter) at positions ``u`` in [0, 1]: shape ``u.shape + (2,)``."""
    u = torch.as_tensor(u, dtype=torch.float64)
    theta = torch.sqrt(THETA_START**2 + u * (THETA_END**2 - THETA_START**2))
    return SCALE * torch.stack(
        [theta * torch.cos(theta), theta * torch.sin(theta)], dim=-1
    )


def make_spiral(
    n: int,
    *,
    seed: int = 0,
    jitter: float = 0.03,
    n_parts: int = 3,
    label_noise: float = 0.0,
    device: torch.device | str = "cpu",
) -> SpiralSample:
    """Draw ``n`` points spread evenly along the spiral, each moved by N(0, jitter^2 I).

    Uses its own generator seeded with ``seed``, so it never disturbs the global random state.
    Returns ``SpiralSample(x, u, part, label)``: the points (n, 2), their positions u, their
    parts, and their labels: the part, except for a share ``label_noise`` of the points, which
    carry the label of another part drawn uniformly (the points themselves do not depend on
    ``label_noise``). The draws are made on the CPU and the tensors moved to ``device``, so a seed
    gives the same points on every device.
    """
    n = check_int("n", n, low=1)
    seed = check_int("seed", seed, low=0)
    jitter = check_float("jitter", jitter, low=0.0)
    n_parts = check_int("n_parts", n_parts, low=1)
    label_noise = check_float("label_noise", label_noise, low=0.0, high=1.0)
    if label_noise > 0 and n_parts < 2:
        raise ValueError(
            f"label_noise={label_noise} needs n_parts >= 2 (another part to take the label of)"
        )
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    x = spiral_curve(u) + jitter * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    part = part_of(u, n_parts)
    label = part
    if (
        label_noise > 0
    ):  # drawn after the points, so the points stay those of label_noise = 0
        relabel = torch.rand(n, generator=gen) < label_noise
        shift = torch.randint(
            1, n_parts, (n,), generator=gen
        )  # another part: part + 1 .. part + K - 1
        label = torch.where(relabel, (part + shift) % n_parts, part)
    return SpiralSample(*(v.to(device) for v in (x.float(), u.float(), part, label)))


def label_probs(n_parts: int = 3, label_noise: float = 0.0) -> torch.Tensor:
    """The table p(label = c | part = k) of :func:`make_spiral`: float64 (n_parts, n_parts), rows sum to 1.

    1 - label_noise on the diagonal, label_noise / (n_parts - 1) elsewhere.
    """
    n_parts = check_int("n_parts", n_parts, low=1)
    label_noise = check_float("label_noise", label_noise, low=0.0, high=1.0)
    if n_parts == 1:
        return torch.ones(1, 1, dtype=torch.float64)
    table = torch.full(
        (n_parts, n_parts), label_noise / (n_parts - 1), dtype=torch.float64
    )
    return table.fill_diagonal_(1 - label_noise)


def part_of(u: torch.Tensor, n_parts: int = 3) -> torch.Tensor:
    """Which of ``n_parts`` equal stretches of the spiral the positions ``u`` lie on (long)."""
    n_parts = check_int("n_parts", n_parts, low=1)
    u = torch.as_tensor(u)
    return torch.clamp((u * n_parts).long(), 0, n_parts - 1)


def project_to_spiral(
    x: torch.Tensor, n_grid: int = 4000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest point of the spiral for each row of ``x`` (n, 2): returns (u, distance), each (n,):
    its position along the spiral and how far ``x`` lies from it.

    Searches a grid of ``n_grid`` positions along the curve (spacing about 0.004 in these units).
    """
    x = torch.as_tensor(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (n, 2) points")
    grid_s = torch.linspace(
        0, 1, check_int("n_grid", n_grid, low=2), dtype=torch.float64
    )
    curve = spiral_curve(grid_s).to(x.device)  # (G, 2)
    dist, idx = torch.cdist(x.double(), curve).min(dim=1)
    return grid_s.to(x.device)[idx].to(x.dtype), dist.to(x.dtype)
