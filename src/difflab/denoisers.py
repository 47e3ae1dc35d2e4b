"""Exact posterior means of a finite data set: the optimal denoiser (Chapter 3), its
class-conditional version (Chapter 5) and the flow's optimal velocity (Chapter 4b).

If the data are the N points x0_1..x0_N, the best possible prediction of x0 from x_t
(the one with the smallest mean squared error) is the posterior mean

    E[x0 | x_t] = sum_i w_i x0_i,  w = softmax_i( -|x_t - sqrt(abar_t) x0_i|^2 / (2 (1 - abar_t)) ),

because q(x_t | x0_i) = N(sqrt(abar_t) x0_i, (1 - abar_t) I) (Ho et al. 2020, eq. 4) and
Bayes' rule with a uniform prior over the points. Turned into epsilon it is what a
network trained with L_simple on these N points would learn if it could fit them
perfectly. Sampling with it reproduces the training points: it memorises.

Given labels, the same formula over the points of class c alone is the exact
*conditional* denoiser E[x0 | x_t, c]: what a conditional network trained on these
labelled points would learn if it fitted them perfectly (:class:`ExactCondDenoiser`).

The flow's point x_sigma = (1 - sigma) x0 + sigma eps is the same Gaussian mixture with
scale 1 - sigma and variance sigma^2, so :class:`ExactVelocity` uses the same
:func:`posterior_mean`.
"""

from __future__ import annotations

import math
import types

import torch

from ._checks import check_data, check_int


def posterior_weights(
    x: torch.Tensor, data_aug: torch.Tensor, a, a_sq, var
) -> torch.Tensor:
    """w_i = softmax_i( -|x - a x0_i|^2 / (2 var) ): the posterior weight of each data
    point x0_i as the origin of x ~ N(a x0_i, var I), with a uniform prior over the
    points (Bayes' rule; for DDPM a = sqrt(abar_t), var = 1 - abar_t, Ho et al. 2020,
    eq. 4).

    ``x`` (B, ...); ``data_aug`` (N, D + 1) = [x0_i, |x0_i|^2] (:func:`augment`); ``a``,
    ``a_sq`` = a^2 and ``var``: float64 (B, 1). Returns float64 (B, N).
    """
    xf = x.flatten(1).double()  # (B, D)
    # -|x - a x0_i|^2 / (2 var) = a x.x0_i / var - a^2 |x0_i|^2 / (2 var) + const(i)
    coef = torch.cat([xf * (a / var), -a_sq / (2 * var)], 1)  # (B, D + 1)
    return torch.softmax(coef @ data_aug.to(x.device).T, dim=1)


def posterior_mean(
    x: torch.Tensor, data: torch.Tensor, data_aug: torch.Tensor, a, a_sq, var
) -> torch.Tensor:
    """E[x0 | x] = sum_i w_i x0_i, w = :func:`posterior_weights`: the exact posterior
    mean of a finite data set ``data`` (N, D) given x ~ N(a x0, var I) (Chapter 3;
    Karras et al. 2022, App. B.3). Float64 (B, D)."""
    return posterior_weights(x, data_aug, a, a_sq, var) @ data.to(x.device)


def augment(data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The data as float64 (N, D), and [x0_i, |x0_i|^2] (N, D + 1): with it one matrix
    product gives every squared distance, up to a term the softmax ignores."""
    flat = data.flatten(1).double()  # (N, D)
    return flat, torch.cat([flat, (flat**2).sum(1, keepdim=True)], 1)


class ExactDenoiser:
    """eps*(x, t) = (x_t - sqrt(abar_t) E[x0 | x_t]) / sqrt(1 - abar_t) for the data set
    ``data`` (N, ...) (Ho et al. 2020, eq. 4 solved for eps): a callable with the model
    contract of the samplers."""

    def __init__(self, data: torch.Tensor, alphas_cumprod: torch.Tensor):
        self.data, self._aug = augment(check_data("data", data))  # (N, D), (N, D + 1)
        self.alphas_cumprod = torch.as_tensor(alphas_cumprod, dtype=torch.float64)

    def _abar(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.alphas_cumprod.to(x.device)[t][:, None]  # (B, 1)

    def posterior_weights(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """w (B, N): how probable each data point is as the origin of each x_t."""
        abar = self._abar(x, t)
        return posterior_weights(x, self._aug, abar.sqrt(), abar, 1 - abar)

    def log_density(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log p_t(x) = log (1/N) sum_i N(x; sqrt(abar_t) x0_i, (1 - abar_t) I) (Ho et
        al. 2020, eq. 4): (B,), float64.

        Differentiable in x, so autograd gives the score grad log p_t(x). Tweedie's
        formula (Robbins 1956; Efron 2011, Sec. 2) says that score is (sqrt(abar_t) E[x0
        | x_t] - x) / (1 - abar_t), which is -eps*(x, t) / sqrt(1 - abar_t): the exact
        denoiser *is* the score, up to that scale.
        """
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])
        abar = self._abar(x, t)  # (B, 1)
        xf = x.flatten(1).double()  # (B, D)
        # |x - sqrt(abar) x0_i|^2 for every pair, through the same matrix product
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
        """E[x0 | x_t] (:func:`posterior_mean`), shape of x."""
        abar = self._abar(x, t)
        x0_hat = posterior_mean(x, self.data, self._aug, abar.sqrt(), abar, 1 - abar)
        return x0_hat.reshape(x.shape).to(x.dtype)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        abar = self.alphas_cumprod.to(x.device)[t].reshape((-1,) + (1,) * (x.ndim - 1))
        x0_hat = self.x0(x, t).double()
        return ((x.double() - abar.sqrt() * x0_hat) / (1 - abar).sqrt()).to(x.dtype)


class ExactVelocity:
    """v*(x, sigma) = (x - E[x0 | x_sigma = x]) / sigma: the optimal velocity field of
    the finite data set ``data`` (N, ...), with the flow's model contract
    (:mod:`difflab.flow`). What a network trained with :func:`~difflab.flow.flow_loss`
    on these N points would learn if it could fit them perfectly; following it memorises
    (like :class:`ExactDenoiser`).

    Derivation. The loss is minimised by v*(x, sigma) = E[eps - x0 | x_sigma = x]. Given
    the point x0_i, x_sigma ~ N((1 - sigma) x0_i, sigma^2 I), so :func:`posterior_mean`
    with a = 1 - sigma and var = sigma^2 gives E[x0 | x] =: x0_hat. Since eps = (x - (1
    - sigma) x0) / sigma, E[eps | x] = (x - (1 - sigma) x0_hat) / sigma, and

        v*(x, sigma) = E[eps | x] - x0_hat = (x - x0_hat) / sigma.

    Defined for sigma in (0, 1]; computed in float64 (rows in chunks) and returned in
    x's dtype.
    """

    def __init__(self, data: torch.Tensor, *, chunk: int = 2**22):
        self.data, self._aug = augment(check_data("data", data))  # (N, D), (N, D + 1)
        self.chunk = check_int("chunk", chunk, low=1)  # elements of one (rows, N) block

    def posterior_weights(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """w (B, N): how probable each data point is as the origin of each x_sigma."""
        s = _check_flow_levels(sigma, x)  # (B, 1)
        return posterior_weights(x, self._aug, 1 - s, (1 - s) ** 2, s**2)

    def x0(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """E[x0 | x_sigma = x] (:func:`posterior_mean`), float64 (B, D)."""
        rows = max(1, self.chunk // self.data.shape[0])
        parts = []
        for i in range(0, x.shape[0], rows):
            s = _check_flow_levels(sigma[i : i + rows], x[i : i + rows])  # (rows, 1)
            xs = x[i : i + rows]
            parts.append(
                posterior_mean(xs, self.data, self._aug, 1 - s, (1 - s) ** 2, s**2)
            )
        return torch.cat(parts)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, device=x.device)
        if sigma.ndim == 0:
            sigma = sigma.expand(x.shape[0])
        x0_hat = self.x0(x, sigma)  # (B, D)
        s = sigma.double().reshape(-1, 1)
        return ((x.flatten(1).double() - x0_hat) / s).reshape(x.shape).to(x.dtype)


def _check_flow_levels(sigma, x: torch.Tensor) -> torch.Tensor:
    """sigma as float64 (B, 1), one level in (0, 1] per row of x, or a clear error."""
    s = torch.as_tensor(sigma, device=x.device).double().reshape(-1, 1)  # (B, 1)
    if s.shape[0] != x.shape[0] or not ((s > 0) & (s <= 1)).all():
        raise ValueError(
            f"sigma must be ({x.shape[0]},) values in (0, 1]; got shape "
            f"{tuple(torch.as_tensor(sigma).shape)}, min {s.min().item():.3g}"
        )
    return s


class ExactCondDenoiser:
    """eps*(x, t, c) for labelled data: the exact denoiser of the points labelled c, and
    of all points for ``cond=None``. Same contract as the conditional network ``model(x,
    t, cond)``: ``cond`` is None, an int, or a LongTensor (B,) of class ids 0..K-1, with
    K (like the network's "no condition" token) also meaning "no condition".
    """

    def __init__(
        self,
        data: torch.Tensor,
        labels: torch.Tensor,
        alphas_cumprod: torch.Tensor,
        n_classes: int | None = None,
    ):
        data, labels = torch.as_tensor(data), torch.as_tensor(labels)
        k = _check_labels(labels, data, n_classes)
        # guidance reads the number of classes here
        self.config = types.SimpleNamespace(n_classes=k)
        self.labels = labels.long()
        self.uncond = ExactDenoiser(data, alphas_cumprod)
        self.by_class = [
            ExactDenoiser(data[labels == c], alphas_cumprod) for c in range(k)
        ]

    def class_posterior(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """p(c | x_t) (B, K), float64: the exact classifier of noisy points.

        With a uniform prior over the labelled points, p(c | x_t) = sum_{i labelled c}
        w_i, the posterior weights of the points labelled c (Bayes' rule; Dhariwal and
        Nichol 2021, Sec. 4, train a network to approximate this classifier). The
        unconditional denoiser is the mixture eps*(x, t) = sum_c p(c | x_t) eps*(x, t,
        c). Differentiable in x.
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
        _check_ids(cond, k)
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])
        eps = torch.empty_like(x)
        for c in cond.unique().tolist():
            rows = cond == c
            eps[rows] = (self.uncond if c == k else self.by_class[c])(x[rows], t[rows])
        return eps


def _check_labels(labels: torch.Tensor, data: torch.Tensor, n_classes) -> int:
    """K, or a clear error if ``labels`` are not class ids 0..K-1, one per data point,
    each id used."""
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
    return k


def _check_ids(cond: torch.Tensor, k: int) -> None:
    if cond.min() < 0 or cond.max() > k:
        raise ValueError(
            f"cond contains {cond.min().item()}..{cond.max().item()}; allowed class ids "
            f"are 0..{k - 1} (and {k} for 'no condition')"
        )
