"""Numbers that say whether a claim holds: every check in the book is built on these."""
from __future__ import annotations

import torch


def moment_z_scores(samples: torch.Tensor, mean, var) -> tuple[torch.Tensor, torch.Tensor]:
    """How many standard errors the sample mean and variance lie from the predicted ``mean`` and ``var``.

    ``samples``: (n, d). Returns (z_mean, z_var), each (d,). The standard errors come from the
    sample itself: SE(mean) = sqrt(var / n) and SE(var) = sqrt((m4 - var^2) / n), with m4 the
    fourth central moment, so they hold for any distribution with finite fourth moment, not
    only a Gaussian. A correct prediction gives |z| < 5 except with probability ~1e-6 per number.
    """
    x = torch.as_tensor(samples, dtype=torch.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"samples has shape {tuple(x.shape)}; expected (n, d) with n >= 2")
    n = x.shape[0]
    m = x.mean(0)
    c = x - m
    v = (c**2).sum(0) / (n - 1)
    m4 = (c**4).mean(0)
    se_mean = (v / n).sqrt()
    se_var = ((m4 - v**2).clamp_min(1e-300) / n).sqrt()
    mean = torch.as_tensor(mean, dtype=torch.float64)
    var = torch.as_tensor(var, dtype=torch.float64)
    return (m - mean) / se_mean, (v - var) / se_var


def w2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Exact 2-Wasserstein distance between two equal-weight point clouds (n, d) and (m, d).

    The optimal transport plan is found exactly by linear programming (POT's ``ot.emd2``,
    Flamary et al. 2021) on squared Euclidean costs; the result is the square root of its cost.
    """
    import ot

    x = torch.as_tensor(x, dtype=torch.float64).cpu()
    y = torch.as_tensor(y, dtype=torch.float64).cpu()
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must be point clouds (n, d) of the same d")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("x or y contains NaN or inf")
    cost = torch.cdist(x, y) ** 2
    a = torch.full((len(x),), 1 / len(x), dtype=torch.float64)
    b = torch.full((len(y),), 1 / len(y), dtype=torch.float64)
    return float(ot.emd2(a.numpy(), b.numpy(), cost.numpy(), numItermax=10_000_000)) ** 0.5


_CACHE: dict = {}


def spiral_floor(n: int) -> float:
    """The noise floor: W2 between two independent spiral samples of size n, median of 3 seeds.
    Even a perfect sampler's W2 to a finite reference sample is about this large. Cached."""
    from .data.spiral import make_spiral

    if ("floor", n) not in _CACHE:
        draws = sorted(w2(make_spiral(n, seed=20_000 + k).x, make_spiral(n, seed=10_000 + k).x) for k in range(3))
        _CACHE[("floor", n)] = draws[1]
    return _CACHE[("floor", n)]


def w2_ratio(samples: torch.Tensor, seed: int = 0, n_ref: int | None = None) -> float:
    """r = W2(samples, a fresh spiral sample of ``n_ref`` points) / :func:`spiral_floor` (n_ref).

    ``seed`` picks the reference sample; ``n_ref`` defaults to the number of samples. r near 1
    means "as close as an independent sample of the true distribution"; the book's checks take
    the median of r over 3 seeds (3 sample sets against 3 reference draws), because W2 at
    n = 2000 varies by tens of percent from one reference draw to the next.
    """
    from .data.spiral import make_spiral

    samples = torch.as_tensor(samples)
    n_ref = len(samples) if n_ref is None else n_ref
    return w2(samples, make_spiral(n_ref, seed=30_000 + seed).x) / spiral_floor(n_ref)


def spread(x: torch.Tensor) -> float:
    """sqrt(trace of the covariance): how widely a point cloud is spread."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return float(x.var(0).sum().sqrt())


def spiral_coverage(x: torch.Tensor, n_bins: int = 50, max_dist: float = 0.1) -> float:
    """Share of the spiral's ``n_bins`` equal stretches (by position s) that have at least one point
    of ``x`` within ``max_dist`` of the curve: 1.0 when samples reach the whole spiral."""
    from .data.spiral import project_to_spiral

    s, dist = project_to_spiral(torch.as_tensor(x, dtype=torch.float64))
    bins = (s[dist < max_dist] * n_bins).long().clamp(max=n_bins - 1)
    return len(torch.unique(bins)) / n_bins
