"""The exact optimal denoiser for a finite data set (Chapter 3), and its class-conditional version (Chapter 5).

If the data are the N points x0_1..x0_N, the best possible prediction of x0 from x_t (the one
with the smallest mean squared error) is the posterior mean

    E[x0 | x_t] = sum_i w_i x0_i,  w = softmax_i( -|x_t - sqrt(abar_t) x0_i|^2 / (2 (1 - abar_t)) ),

because q(x_t | x0_i) = N(sqrt(abar_t) x0_i, (1 - abar_t) I) (Ho et al. 2020, eq. 4) and Bayes'
rule with a uniform prior over the points. Turned into epsilon it is what a network trained
with L_simple on these N points would learn if it could fit them perfectly. Sampling with it
reproduces the training points: it memorises.

Given labels, the same formula over the points of class c alone is the exact *conditional*
denoiser E[x0 | x_t, c]: what a conditional network trained on these labelled points would
learn if it fitted them perfectly (:class:`ExactCondDenoiser`).
"""

from __future__ import annotations

import math
import types

import torch


class ExactDenoiser:
    """eps*(x, t) for the data set ``data`` (N, ...): a callable with the model contract of the samplers."""

    def __init__(self, data: torch.Tensor, alphas_cumprod: torch.Tensor):
        data = torch.as_tensor(data)
        if data.ndim < 2 or data.shape[0] == 0:
            raise ValueError(
                f"data has shape {tuple(data.shape)}; expected (N, ...) with N >= 1"
            )
        self.data = data.flatten(1).double()  # (N, D)
        self.alphas_cumprod = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
        # [x0_i, |x0_i|^2]: one matrix product then gives every squared distance (see posterior_weights)
        self._aug = torch.cat(
            [self.data, (self.data**2).sum(1, keepdim=True)], 1
        )  # (N, D + 1)

    def posterior_weights(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """w (B, N): how probable each data point is as the origin of each x_t."""
        abar = self.alphas_cumprod.to(x.device)[t][:, None]  # (B, 1)
        xf = x.flatten(1).double()  # (B, D)
        # -|x - sqrt(abar) x0_i|^2 / (2 (1 - abar)) = sqrt(abar) x.x0_i / (1 - abar) - abar |x0_i|^2 / (2 (1 - abar))
        # + a term that does not depend on i (softmax ignores it)
        coef = torch.cat(
            [xf * (abar.sqrt() / (1 - abar)), -abar / (2 * (1 - abar))], 1
        )  # (B, D + 1)
        return torch.softmax(coef @ self._aug.to(x.device).T, dim=1)

    def log_density(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log p_t(x) (B,), float64. The noised data are a mixture of N Gaussians,

            p_t(x) = (1/N) sum_i N(x; sqrt(abar_t) x0_i, (1 - abar_t) I)   (Ho et al. 2020, eq. 4).

        Differentiable in x, so autograd gives the score grad log p_t(x). Tweedie's formula (Robbins
        1956; Efron 2011, Sec. 2) says that score is (sqrt(abar_t) E[x0 | x_t] - x) / (1 - abar_t), which is
        -eps*(x, t) / sqrt(1 - abar_t): the exact denoiser *is* the score, up to that scale.
        """
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])
        abar = self.alphas_cumprod.to(x.device)[t][:, None]  # (B, 1)
        xf = x.flatten(1).double()  # (B, D)
        # |x - sqrt(abar) x0_i|^2 for every pair, through the same matrix product as posterior_weights
        coef = torch.cat([-2 * abar.sqrt() * xf, abar], 1)  # (B, D + 1)
        sq = (xf**2).sum(1, keepdim=True) + coef @ self._aug.to(x.device).T  # (B, N)
        var = 1 - abar  # (B, 1)
        n, d = self.data.shape
        return (
            torch.logsumexp(-sq / (2 * var), dim=1)
            - math.log(n)
            - 0.5 * d * torch.log(2 * math.pi * var[:, 0])
        )

    def x0(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """E[x0 | x_t], shape of x."""
        return (
            (self.posterior_weights(x, t) @ self.data.to(x.device))
            .reshape(x.shape)
            .to(x.dtype)
        )

    def __call__(self, x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        abar = self.alphas_cumprod.to(x.device)[t].reshape((-1,) + (1,) * (x.ndim - 1))
        return (
            (x.double() - abar.sqrt() * self.x0(x, t).double()) / (1 - abar).sqrt()
        ).to(x.dtype)


class ExactCondDenoiser:
    """eps*(x, t, c) for labelled data: the exact denoiser of the points labelled c, and of all
    points for ``cond=None``. Same contract as the conditional network ``model(x, t, cond)``:
    ``cond`` is None, an int, or a LongTensor (B,) of class ids 0..K-1, with K (like the
    network's "no condition" token) also meaning "no condition".
    """

    def __init__(
        self,
        data: torch.Tensor,
        labels: torch.Tensor,
        alphas_cumprod: torch.Tensor,
        n_classes: int | None = None,
    ):
        data, labels = torch.as_tensor(data), torch.as_tensor(labels)
        if (
            labels.ndim != 1
            or labels.shape[0] != data.shape[0]
            or labels.dtype.is_floating_point
        ):
            raise ValueError(
                f"labels has shape {tuple(labels.shape)} and dtype {labels.dtype}; expected "
                f"integer class ids ({data.shape[0]},), one per data point"
            )
        k = int(labels.max()) + 1 if n_classes is None else int(n_classes)
        counts = torch.bincount(labels.long(), minlength=k)
        if labels.min() < 0 or len(counts) > k or (counts == 0).any():
            raise ValueError(
                f"labels must use every class id 0..{k - 1} and no other; counts per id: "
                f"{counts.tolist()}"
            )
        self.config = types.SimpleNamespace(
            n_classes=k
        )  # guidance reads the number of classes here
        self.labels = labels.long()
        self.uncond = ExactDenoiser(data, alphas_cumprod)
        self.by_class = [
            ExactDenoiser(data[labels == c], alphas_cumprod) for c in range(k)
        ]

    def class_posterior(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """p(c | x_t) (B, K), float64: the exact classifier of noisy points.

        With a uniform prior over the labelled points, p(c | x_t) = sum_{i labelled c} w_i, the
        posterior weights of the points labelled c (Bayes' rule; Dhariwal and Nichol 2021, Sec. 4,
        train a network to approximate this classifier). The unconditional denoiser is the mixture
        eps*(x, t) = sum_c p(c | x_t) eps*(x, t, c). Differentiable in x.
        """
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])
        w = self.uncond.posterior_weights(x, t)  # (B, N)
        onehot = torch.nn.functional.one_hot(
            self.labels.to(x.device), self.config.n_classes
        )
        return w @ onehot.double()

    def __call__(self, x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        k = self.config.n_classes
        if cond is None:
            return self.uncond(x, t)
        cond = torch.as_tensor(cond, device=x.device).long().expand(x.shape[0])
        if cond.min() < 0 or cond.max() > k:
            raise ValueError(
                f"cond contains {cond.min().item()}..{cond.max().item()}; allowed class ids are "
                f"0..{k - 1} (and {k} for 'no condition')"
            )
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])
        eps = torch.empty_like(x)
        for c in cond.unique().tolist():
            rows = cond == c
            eps[rows] = (self.uncond if c == k else self.by_class[c])(x[rows], t[rows])
        return eps
