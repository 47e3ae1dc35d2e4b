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
