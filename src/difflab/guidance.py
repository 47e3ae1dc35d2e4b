"""Classifier-free guidance and negative prompts (Chapters 6 and 7): wrappers around a model.

A conditional model ``model(x, t, cond)`` predicts the noise epsilon given a condition; with
``cond=None`` it gives the unconditional prediction (the network learned both through
condition dropout, Ho and Salimans 2022). Guidance builds a new model ``(x, t) -> epsilon``
from it, which every sampler accepts as it is: the samplers know nothing of guidance.

Several conventions for the strength of guidance meet the reader; read the formula, not the letter:

==========================  ================================  ==========  ============
who                         formula                           strength    no guidance
==========================  ================================  ==========  ============
diffusers, Stable Diff.     f(x,t) + s (f(x,t,c) - f(x,t))    s           s = 1
GLIDE (Nichol et al. 2022)  f(x,t) + s (f(x,t,c) - f(x,t))    s           s = 1
Imagen (Saharia et al.)     w f(x,t,c) + (1 - w) f(x,t)       w = s       w = 1
Ho and Salimans 2022        (1 + w) f(x,t,c) - w f(x,t)       w = s - 1   w = 0
==========================  ================================  ==========  ============

The letter w means different things: Imagen's w is diffusers' s, Ho and Salimans' w is s - 1
(expand each formula). :func:`cfg` uses s, :func:`cfg_w` uses Ho and Salimans' w;
``tests/test_guidance.py`` checks that they agree, and that Imagen's formula is :func:`cfg`.
:func:`classifier_guidance` is the older method CFG replaced: an unconditional model plus s times
the gradient of a separate classifier p_t(c | x_t) (Dhariwal and Nichol 2021).
A *negative* condition n takes the place of the unconditional prediction:
f(x,t,n) + s (f(x,t,c) - f(x,t,n)).
"""

from __future__ import annotations

import math
import numbers
from typing import Callable

import torch


def _check_scale(name: str, value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
    ):
        raise ValueError(
            f"{name}={value!r} must be a finite real number (e.g. {name}=3.0)"
        )
    return float(value)


def _n_classes(model) -> int | None:
    """K for a model that says how many classes it knows (``model.config.n_classes``), else None."""
    k = getattr(getattr(model, "config", None), "n_classes", None)
    return int(k) if k else None


def _cond_dim(model) -> int | None:
    """D for a model conditioned on embeddings (``model.config.cond_dim``, e.g. Chapter 8's text), else None."""
    d = getattr(getattr(model, "config", None), "cond_dim", None)
    return int(d) if d else None


def _check_embedding(name: str, cond, dim: int):
    """For an embedding-conditioned model: None, or a float tensor (D,) or (N, D)."""
    if cond is None:
        return None
    if (
        not isinstance(cond, torch.Tensor)
        or not cond.dtype.is_floating_point
        or cond.ndim not in (1, 2)
        or cond.shape[-1] != dim
        or not torch.isfinite(cond).all()
    ):
        shape = (
            tuple(cond.shape) if isinstance(cond, torch.Tensor) else type(cond).__name__
        )
        raise ValueError(
            f"{name} of shape {shape} must be None or a finite float tensor ({dim},) or (N, {dim}) "
            f"of embeddings for this model"
        )
    return cond


def _check_cond(name: str, cond, n_classes: int | None):
    """A condition is None (no condition), an int class id, or a LongTensor (N,) of class ids."""
    if cond is None:
        return None
    allowed = f"0..{n_classes - 1}" if n_classes else "class ids >= 0"
    if isinstance(cond, bool) or not isinstance(cond, (numbers.Integral, torch.Tensor)):
        raise TypeError(
            f"{name}={cond!r} must be None (no condition), an int class id or a LongTensor (N,) "
            f"of class ids; allowed ids: {allowed}"
        )
    ids = torch.as_tensor(cond)
    if ids.dtype.is_floating_point or ids.dtype == torch.bool or ids.ndim > 1:
        raise ValueError(
            f"{name} has dtype {ids.dtype} and shape {tuple(ids.shape)}; expected an int or a "
            f"LongTensor (N,) of class ids {allowed}"
        )
    if ids.numel() and (ids.min() < 0 or (n_classes and ids.max() >= n_classes)):
        bad = ids.min().item() if ids.min() < 0 else ids.max().item()
        raise ValueError(
            f"{name} contains class id {bad}, which does not exist: allowed are {allowed} "
            f"(or None for 'no condition')"
        )
    return ids.long() if isinstance(cond, torch.Tensor) else int(cond)


def _batch(name: str, cond, x: torch.Tensor):
    """The condition as a LongTensor (N,) for a batch x (N, ...), or None."""
    if cond is None:
        return None
    if isinstance(cond, int):
        return torch.full((x.shape[0],), cond, dtype=torch.long, device=x.device)
    if cond.ndim == 0 or (
        cond.dtype.is_floating_point and cond.ndim == 1
    ):  # one id / embedding for all
        return cond.expand(x.shape[0], *cond.shape).to(x.device)
    if cond.shape[0] != x.shape[0]:
        what = "embeddings" if cond.dtype.is_floating_point else "class ids"
        raise ValueError(
            f"{name} has {cond.shape[0]} {what} but x has {x.shape[0]} points; "
            f"give one per point, or a single one for all"
        )
    return cond.to(x.device)


def _guided(
    model: Callable, cond, negative, combine: Callable, identity: bool
) -> Callable:
    """The model x, t -> combine(f(x, t, cond), f(x, t, negative)), conditions checked up front."""
    k, d = _n_classes(model), _cond_dim(model)
    check = (
        (lambda n, c: _check_embedding(n, c, d))
        if d
        else (lambda n, c: _check_cond(n, c, k))
    )
    cond, negative = check("cond", cond), check("negative", negative)

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps_cond = model(x, t, _batch("cond", cond, x))  # f(x, t, c), (N, ...)
        if identity:  # s = 1 without a negative: plain conditioning, returned exactly
            return eps_cond
        eps_neg = model(x, t, _batch("negative", negative, x))  # f(x, t) or f(x, t, n)
        return combine(eps_cond, eps_neg)

    return guided


def cfg(model: Callable, cond, scale: float, negative=None) -> Callable:
    """Classifier-free guidance with diffusers' guidance scale s: a model ``(x, t) -> epsilon``

        f(x, t, n) + s (f(x, t, c) - f(x, t, n)),

    where f(x, t, n) is the unconditional prediction f(x, t) = ``model(x, t, None)`` unless a
    ``negative`` condition n is given, which takes its place (a negative prompt).
    ``cond``: the class id c (an int, a LongTensor (N,), or None for the unconditional
    prediction); for a model with ``config.cond_dim`` = D (Chapter 8's text embeddings) a float
    tensor (D,) or (N, D). s = 1 is plain conditioning (returned exactly), s = 0 is the unconditional
    model, s > 1 pushes further along f(c) - f(n). Ho and Salimans (2022, eq. 6) write the
    same thing with w = s - 1: see :func:`cfg_w`.
    """
    s = _check_scale("scale", scale)
    return _guided(
        model,
        cond,
        negative,
        lambda f_c, f_n: f_n + s * (f_c - f_n),
        identity=(s == 1.0 and negative is None),
    )


def cfg_w(model: Callable, cond, w: float, negative=None) -> Callable:
    """Classifier-free guidance in Ho and Salimans' convention (2022, eq. 6): a model ``(x, t) -> epsilon``

        (1 + w) f(x, t, c) - w f(x, t, n),

    with f(x, t, n) the unconditional prediction unless ``negative`` is given. w = 0 is plain
    conditioning; w = s - 1 gives the same model as :func:`cfg` with scale s.
    """
    w = _check_scale("w", w)
    return _guided(
        model,
        cond,
        negative,
        lambda f_c, f_n: (1 + w) * f_c - w * f_n,
        identity=(w == 0.0 and negative is None),
    )


def cfg_interval(model: Callable, cond, scale: float, t_lo: int, t_hi: int) -> Callable:
    """Classifier-free guidance with scale s only at the steps t_lo <= t <= t_hi, plain conditioning
    f(x, t, c) at the others (Kynkaanniemi et al. 2024 guide only in a limited interval of noise
    levels). A model ``(x, t) -> epsilon``; the unconditional prediction is computed only for the rows
    whose t lies in the interval, so steps outside it cost one network call instead of two."""
    s = _check_scale("scale", scale)
    lo, hi = _check_scale("t_lo", t_lo), _check_scale("t_hi", t_hi)
    if lo > hi:
        raise ValueError(
            f"t_lo={t_lo} is above t_hi={t_hi}; the interval is t_lo <= t <= t_hi"
        )
    cond = _check_cond("cond", cond, _n_classes(model))

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ids = _batch("cond", cond, x)
        eps = model(x, t, ids)  # f(x, t, c), (N, ...)
        inside = (t >= lo) & (t <= hi)  # (N,)
        if inside.any():
            f_c = eps[inside]
            f_u = model(x[inside], t[inside], None)  # f(x, t) where guidance acts
            eps = eps.clone()
            eps[inside] = f_u + s * (f_c - f_u)
        return eps

    return guided


def w_from_scale(scale: float) -> float:
    """Ho and Salimans' weight w for diffusers' guidance scale s: w = s - 1."""
    return _check_scale("scale", scale) - 1.0


def tilted_shares(
    label_probs: torch.Tensor, prior: torch.Tensor, cond, scale: float, negative=None
) -> torch.Tensor:
    """Where guidance aims: the share of each part under its target distribution, for data whose
    classes c are drawn per part k with probabilities ``label_probs`` (n_parts, K) = p(c | part k)
    and whose parts have probabilities ``prior`` (n_parts,).

    The noise prediction is a scaled score, f = -sqrt(1 - abar) grad log p_t, so the guided
    prediction f(n) + s (f(c) - f(n)) is the score of p(x | n)^(1 - s) p(x | c)^s, which by
    Bayes' rule is proportional to

        p(x) p(c | x)^s p(n | x)^(1 - s)      (no negative: p(x) p(c | x)^s = p(x | c) p(c | x)^(s - 1)),

    the distribution classifier guidance aims at (Ho and Salimans 2022, Secs. 2 and 3.2, with
    their w = s - 1). ``cond=None`` drops p(c | x), ``negative=None`` drops p(n | x). Here
    p(c | x) is that of the clean data, constant over each part; samplers do not reach this
    target exactly (Bradley and Nakkiran 2024, Sec. 3), Chapters 6 and 7 measure how close they come.
    Returns float64 (n_parts,), summing to 1.
    """
    table = torch.as_tensor(label_probs, dtype=torch.float64)
    prior = torch.as_tensor(prior, dtype=torch.float64)
    if (
        table.ndim != 2
        or prior.shape != (table.shape[0],)
        or (table < 0).any()
        or (prior < 0).any()
    ):
        raise ValueError(
            f"label_probs {tuple(table.shape)} must be (n_parts, K) and prior {tuple(prior.shape)} "
            f"(n_parts,), both non-negative"
        )
    s = _check_scale("scale", scale)
    k = table.shape[1]
    cond, negative = _check_cond("cond", cond, k), _check_cond("negative", negative, k)
    weight = prior.clone()
    if cond is not None:
        weight = weight * table[:, int(cond)] ** s
    if negative is not None:
        weight = weight * table[:, int(negative)] ** (1 - s)
    if not torch.isfinite(weight).all() or weight.sum() <= 0:
        raise ValueError(
            f"the target p(x) p(c|x)^{s} p(n|x)^{1 - s} is not a distribution for these label "
            f"probabilities (a class with probability 0 where it is raised to a negative power)"
        )
    return weight / weight.sum()


def classifier_guidance(
    model: Callable,
    classifier: Callable,
    cond: int,
    scale: float,
    alphas_cumprod: torch.Tensor,
) -> Callable:
    """Classifier guidance (Dhariwal and Nichol 2021, Sec. 4.2 and Algorithm 2) with scale s: a model
    ``(x, t) -> epsilon``

        f(x, t) - s sqrt(1 - abar_t) grad_x log p_t(c | x_t),

    from the unconditional prediction f(x, t) = ``model(x, t, None)`` and a classifier of noisy points,
    ``classifier(x, t)`` -> probabilities (B, K) (e.g. ``ExactCondDenoiser.class_posterior``), whose
    gradient autograd takes. Since f = -sqrt(1 - abar) grad log p_t, it aims at p(x) p(c | x)^s, the
    same target as :func:`cfg` with scale s: CFG replaces this gradient by the implicit classifier's,
    f(x, t, c) - f(x, t) (Ho and Salimans 2022, Sec. 3.2). ``cond`` is one class id.
    """
    s = _check_scale("scale", scale)
    cond = _check_cond("cond", cond, _n_classes(model) or _n_classes(classifier))
    if not isinstance(cond, int):
        raise TypeError("cond must be one class id (an int) for classifier guidance")
    abar = torch.as_tensor(alphas_cumprod, dtype=torch.float64)

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            xg = x.detach().double().requires_grad_(True)
            log_p = (
                classifier(xg, t)[:, cond].clamp_min(1e-300).log()
            )  # log p_t(c | x_t), (N,)
            grad = torch.autograd.grad(log_p.sum(), xg)[
                0
            ]  # grad_x log p_t(c | x_t), (N, ...)
        sigma = (
            (1 - abar.to(x.device)[t]).sqrt().reshape((-1,) + (1,) * (x.ndim - 1))
        )  # sqrt(1 - abar_t)
        return (model(x, t, None).double() - s * sigma * grad).to(x.dtype)

    return guided


def guidance_vector(
    model: Callable, x: torch.Tensor, t: torch.Tensor, cond, negative=None
) -> torch.Tensor:
    """f(x, t, c) - f(x, t, n): the direction guidance adds, s - 1 times over, to plain conditioning
    (in noise units; the sample moves along minus this). Shape of ``x``."""
    k = _n_classes(model)
    cond, negative = _check_cond("cond", cond, k), _check_cond("negative", negative, k)
    return model(x, t, _batch("cond", cond, x)) - model(
        x, t, _batch("negative", negative, x)
    )
