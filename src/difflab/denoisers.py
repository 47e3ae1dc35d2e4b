"""The exact optimal denoiser for a finite data set (Chapter 3).

If the data are the N points x0_1..x0_N, the best possible prediction of x0 from x_t (the one
with the smallest mean squared error) is the posterior mean

    E[x0 | x_t] = sum_i w_i x0_i,  w = softmax_i( -|x_t - sqrt(abar_t) x0_i|^2 / (2 (1 - abar_t)) ),

because q(x_t | x0_i) = N(sqrt(abar_t) x0_i, (1 - abar_t) I) (Ho et al. 2020, eq. 4) and Bayes'
rule with a uniform prior over the points. Turned into epsilon it is what a network trained
with L_simple on these N points would learn if it could fit them perfectly. Sampling with it
reproduces the training points: it memorises.
"""
from __future__ import annotations

import torch


class ExactDenoiser:
    """eps*(x, t) for the data set ``data`` (N, ...): a callable with the model contract of the samplers."""

    def __init__(self, data: torch.Tensor, alphas_cumprod: torch.Tensor):
        data = torch.as_tensor(data)
        if data.ndim < 2 or data.shape[0] == 0:
            raise ValueError(f"data has shape {tuple(data.shape)}; expected (N, ...) with N >= 1")
        self.data = data.flatten(1).double()  # (N, D)
        self.alphas_cumprod = torch.as_tensor(alphas_cumprod, dtype=torch.float64)

    def posterior_weights(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """w (B, N): how probable each data point is as the origin of each x_t."""
        abar = self.alphas_cumprod.to(x.device)[t][:, None]  # (B, 1)
        d2 = self._sq_dist(x.flatten(1).double(), abar)  # (B, N)
        return torch.softmax(-d2 / (2 * (1 - abar)), dim=1)

    def _sq_dist(self, xf, abar):
        # |x - sqrt(abar) x0_i|^2 = |x|^2 - 2 sqrt(abar) x.x0_i + abar |x0_i|^2, for every pair: (B, N)
        data = self.data.to(xf.device)
        return (xf**2).sum(1, keepdim=True) - 2 * abar.sqrt() * xf @ data.T + abar * (data**2).sum(1)[None]

    def x0(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """E[x0 | x_t], shape of x."""
        return (self.posterior_weights(x, t) @ self.data.to(x.device)).reshape(x.shape).to(x.dtype)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        abar = self.alphas_cumprod.to(x.device)[t].reshape((-1,) + (1,) * (x.ndim - 1))
        return ((x.double() - abar.sqrt() * self.x0(x, t).double()) / (1 - abar).sqrt()).to(x.dtype)
