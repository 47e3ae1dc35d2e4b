"""Classifier-free guidance and negative prompts (Chapters 6 and 7): wrappers around a
model.

A conditional model ``model(x, t, cond)`` predicts the noise epsilon given a condition;
with ``cond=None`` it gives the unconditional prediction (the network learned both
through condition dropout, Ho and Salimans 2022). Guidance builds a new model ``(x, t)
-> epsilon`` from it, which every sampler accepts as it is: the samplers know nothing of
guidance.

Several conventions for the strength of guidance meet the reader; read the formula, not
the letter:

==========================  ================================  ==========  ============
who                         formula                           strength    no guidance
==========================  ================================  ==========  ============
diffusers, Stable Diff.     f(x,t) + s (f(x,t,c) - f(x,t))    s           s = 1
GLIDE (Nichol et al. 2022)  f(x,t) + s (f(x,t,c) - f(x,t))    s           s = 1
Imagen (Saharia et al.)     w f(x,t,c) + (1 - w) f(x,t)       w = s       w = 1
Ho and Salimans 2022        (1 + w) f(x,t,c) - w f(x,t)       w = s - 1   w = 0
==========================  ================================  ==========  ============

The letter w means different things: Imagen's w is diffusers' s, Ho and Salimans' w is s
- 1 (expand each formula). :func:`cfg` uses s, :func:`cfg_w` uses Ho and Salimans' w;
``tests/test_guidance.py`` checks that they agree, and that Imagen's formula is
:func:`cfg`. :func:`classifier_guidance` is the older method CFG replaced: an
unconditional model plus s times the gradient of a separate classifier p_t(c | x_t)
(Dhariwal and Nichol 2021). A *negative* condition n takes the place of the
unconditional prediction: f(x,t,n) + s (f(x,t,c) - f(x,t,n)).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._checks import check_class_ids, check_embedding, check_finite


def cfg_combine(f_c: torch.Tensor, f_n: torch.Tensor, scale: float) -> torch.Tensor:
    """f(x, t, n) + s (f(x, t, c) - f(x, t, n)): the guided prediction from the
    conditional one f_c and the unconditional (or negative) one f_n, with diffusers'
    guidance scale s (Ho and Salimans 2022, eq. 6 with w = s - 1)."""
    return f_n + scale * (f_c - f_n)


def cfg_w_combine(f_c: torch.Tensor, f_n: torch.Tensor, w: float) -> torch.Tensor:
    """(1 + w) f(x, t, c) - w f(x, t, n): the same guided prediction in Ho and Salimans'
    convention (2022, eq. 6), w = s - 1."""
    return (1 + w) * f_c - w * f_n


def cfg(model: Callable, cond, scale: float, negative=None) -> Callable:
    """f(x, t, n) + s (f(x, t, c) - f(x, t, n)): classifier-free guidance with
    diffusers' guidance scale s (Ho and Salimans 2022, eq. 6 with w = s - 1), a model
    ``(x, t) -> eps``.

    f(x, t, n) is the unconditional prediction f(x, t) = ``model(x, t, None)`` unless a
    ``negative`` condition n is given, which takes its place (a negative prompt).
    ``cond``: the class id c (an int, a LongTensor (N,), or None for the unconditional
    prediction); for a model with ``config.cond_dim`` = D (Chapter 8's text embeddings)
    a float tensor (D,) or (N, D). s = 1 is plain conditioning (returned exactly), s = 0
    is the unconditional model, s > 1 pushes further along f(c) - f(n). :func:`cfg_w`
    writes the same with Ho and Salimans' w = s - 1.
    """
    s = check_finite("scale", scale)
    cond, negative = _check_conditions(model, cond, negative)
    if s == 1.0 and negative is None:
        return _conditioned(model, cond)
    return _guided(model, cond, negative, lambda f_c, f_n: cfg_combine(f_c, f_n, s))


def cfg_w(model: Callable, cond, w: float, negative=None) -> Callable:
    """(1 + w) f(x, t, c) - w f(x, t, n): classifier-free guidance in Ho and Salimans'
    convention (2022, eq. 6), a model ``(x, t) -> eps``.

    f(x, t, n) is the unconditional prediction unless ``negative`` is given. w = 0 is
    plain conditioning; w = s - 1 gives the same model as :func:`cfg` with scale s.
    """
    w = check_finite("w", w)
    cond, negative = _check_conditions(model, cond, negative)
    if w == 0.0 and negative is None:
        return _conditioned(model, cond)
    return _guided(model, cond, negative, lambda f_c, f_n: cfg_w_combine(f_c, f_n, w))


def cfg_interval(model: Callable, cond, scale: float, t_lo: int, t_hi: int) -> Callable:
    """f(x, t) + s (f(x, t, c) - f(x, t)) for t_lo <= t <= t_hi, f(x, t, c) at the other
    steps: classifier-free guidance in a limited interval of noise levels (Kynkaanniemi
    et al. 2024), a model ``(x, t) -> eps``.

    The unconditional prediction is computed only for the rows whose t lies in the
    interval, so steps outside it cost one network call instead of two.
    """
    s = check_finite("scale", scale)
    lo, hi = check_finite("t_lo", t_lo), check_finite("t_hi", t_hi)
    _check_interval(t_lo, t_hi)
    cond = check_class_ids("cond", cond, n_classes(model))

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = model(x, t, _batch("cond", cond, x))  # f(x, t, c), (N, ...)
        inside = (t >= lo) & (t <= hi)  # (N,)
        if inside.any():
            f_c = eps[inside]
            f_u = model(x[inside], t[inside], None)  # f(x, t) where guidance acts
            eps = eps.clone()
            eps[inside] = cfg_combine(f_c, f_u, s)
        return eps

    return guided


def classifier_guidance(
    model: Callable,
    classifier: Callable,
    cond: int,
    scale: float,
    alphas_cumprod: torch.Tensor,
) -> Callable:
    """f(x, t) - s sqrt(1 - abar_t) grad_x log p_t(c | x_t): classifier guidance with
    scale s (Dhariwal and Nichol 2021, Sec. 4.2 and Algorithm 2), a model ``(x, t) ->
    eps``.

    From the unconditional prediction f(x, t) = ``model(x, t, None)`` and a classifier
    of noisy points, ``classifier(x, t)`` -> probabilities (B, K) (e.g.
    ``ExactCondDenoiser.class_posterior``), whose gradient autograd takes. Since f =
    -sqrt(1 - abar) grad log p_t, it aims at p(x) p(c | x)^s, the same target as
    :func:`cfg` with scale s: CFG replaces this gradient by the implicit classifier's,
    f(x, t, c) - f(x, t) (Ho and Salimans 2022, Sec. 3.2). ``cond`` is one class id.
    """
    s = check_finite("scale", scale)
    cond = check_class_ids("cond", cond, n_classes(model) or n_classes(classifier))
    _check_one_id(cond)
    abar = torch.as_tensor(alphas_cumprod, dtype=torch.float64)

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            xg = x.detach().double().requires_grad_(True)
            p_c = classifier(xg, t)[:, cond]  # p_t(c | x_t), (N,)
            log_p = p_c.clamp_min(1e-300).log()
            grad = torch.autograd.grad(log_p.sum(), xg)[0]  # grad_x log p_t(c | x_t)
        noise_std = (1 - abar.to(x.device)[t]).sqrt()  # sqrt(1 - abar_t), (N,)
        noise_std = noise_std.reshape((-1,) + (1,) * (x.ndim - 1))
        return (model(x, t, None).double() - s * noise_std * grad).to(x.dtype)

    return guided


def guidance_vector(
    model: Callable, x: torch.Tensor, t: torch.Tensor, cond, negative=None
) -> torch.Tensor:
    """f(x, t, c) - f(x, t, n): the direction guidance adds, s - 1 times over, to plain
    conditioning (in noise units; the sample moves along minus this). Shape of ``x``."""
    k = n_classes(model)
    cond = check_class_ids("cond", cond, k)
    negative = check_class_ids("negative", negative, k)
    f_c = model(x, t, _batch("cond", cond, x))
    return f_c - model(x, t, _batch("negative", negative, x))


def w_from_scale(scale: float) -> float:
    """w = s - 1: Ho and Salimans' weight w for diffusers' guidance scale s (2022, eq.
    6)."""
    return check_finite("scale", scale) - 1.0


def tilted_shares(
    label_probs: torch.Tensor, prior: torch.Tensor, cond, scale: float, negative=None
) -> torch.Tensor:
    """p(x) p(c | x)^s p(n | x)^(1 - s), summed over each part: where guidance aims (Ho
    and Salimans 2022, Secs. 2 and 3.2, with their w = s - 1), as the share of each
    part, for data whose classes c are drawn per part k with probabilities
    ``label_probs`` (n_parts, K) = p(c | part k) and whose parts have probabilities
    ``prior`` (n_parts,).

    The noise prediction is a scaled score, f = -sqrt(1 - abar) grad log p_t, so the
    guided prediction f(n) + s (f(c) - f(n)) is the score of p(x | n)^(1 - s) p(x |
    c)^s, which by Bayes' rule is proportional to the target above (no negative: p(x)
    p(c | x)^s = p(x | c) p(c | x)^(s - 1)), the distribution classifier guidance aims
    at. ``cond=None`` drops p(c | x), ``negative=None`` drops p(n | x). Here p(c | x) is
    that of the clean data, constant over each part; samplers do not reach this target
    exactly (Bradley and Nakkiran 2024, Sec. 3), Chapters 6 and 7 measure how close they
    come. Returns float64 (n_parts,), summing to 1.
    """
    table, prior = _check_label_table(label_probs, prior)
    s = check_finite("scale", scale)
    k = table.shape[1]
    cond = check_class_ids("cond", cond, k)
    negative = check_class_ids("negative", negative, k)
    weight = prior.clone()
    if cond is not None:
        weight = weight * table[:, int(cond)] ** s
    if negative is not None:
        weight = weight * table[:, int(negative)] ** (1 - s)
    _check_distribution(weight, s)
    return weight / weight.sum()


# --- helpers: what a model accepts as a condition, and the wrappers -----------------


def n_classes(model) -> int:
    """K for a model that says how many classes it knows (``model.config.n_classes``),
    else 0."""
    k = getattr(getattr(model, "config", None), "n_classes", None)
    return int(k) if k else 0


def cond_dim(model) -> int:
    """D for a model conditioned on embeddings (``model.config.cond_dim``, e.g. Chapter
    8's text), else 0."""
    d = getattr(getattr(model, "config", None), "cond_dim", None)
    return int(d) if d else 0


def _check_conditions(model, *conds):
    """Each condition checked against what ``model`` accepts: embeddings or class
    ids."""
    names = ("cond", "negative")
    d = cond_dim(model)
    if d:
        tokens = getattr(model.config, "conditioning", None) == "cross_attention"
        return tuple(
            check_embedding(n, c, d, tokens=tokens) for n, c in zip(names, conds)
        )
    k = n_classes(model)
    return tuple(check_class_ids(n, c, k) for n, c in zip(names, conds))


def _batch(name: str, cond, x: torch.Tensor):
    """The condition as one entry per row of the batch x (N, ...), or None."""
    if cond is None:
        return None
    if isinstance(cond, int):
        return torch.full((x.shape[0],), cond, dtype=torch.long, device=x.device)
    if cond.ndim == 0 or (cond.dtype.is_floating_point and cond.ndim == 1):
        return cond.expand(x.shape[0], *cond.shape).to(x.device)  # one for all
    if cond.shape[0] != x.shape[0]:
        what = "embeddings" if cond.dtype.is_floating_point else "class ids"
        raise ValueError(
            f"{name} has {cond.shape[0]} {what} but x has {x.shape[0]} points; "
            f"give one per point, or a single one for all"
        )
    return cond.to(x.device)


def _conditioned(model: Callable, cond) -> Callable:
    """The model x, t -> f(x, t, cond): plain conditioning."""

    def conditioned(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return model(x, t, _batch("cond", cond, x))  # f(x, t, c), (N, ...)

    return conditioned


def _guided(model: Callable, cond, negative, combine: Callable) -> Callable:
    """The model x, t -> combine(f(x, t, cond), f(x, t, negative))."""

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        f_c = model(x, t, _batch("cond", cond, x))  # f(x, t, c), (N, ...)
        f_n = model(x, t, _batch("negative", negative, x))  # f(x, t) or f(x, t, n)
        return combine(f_c, f_n)

    return guided


def _check_interval(t_lo, t_hi) -> None:
    if t_lo > t_hi:
        raise ValueError(
            f"t_lo={t_lo} is above t_hi={t_hi}; the interval is t_lo <= t <= t_hi"
        )


def _check_one_id(cond) -> None:
    if not isinstance(cond, int):
        raise TypeError("cond must be one class id (an int) for classifier guidance")


def _check_label_table(label_probs, prior) -> tuple[torch.Tensor, torch.Tensor]:
    table = torch.as_tensor(label_probs, dtype=torch.float64)
    prior = torch.as_tensor(prior, dtype=torch.float64)
    if (
        table.ndim != 2
        or prior.shape != (table.shape[0],)
        or (table < 0).any()
        or (prior < 0).any()
    ):
        raise ValueError(
            f"label_probs {tuple(table.shape)} must be (n_parts, K) and prior "
            f"{tuple(prior.shape)} (n_parts,), both non-negative"
        )
    return table, prior


def _check_distribution(weight: torch.Tensor, s: float) -> None:
    if not torch.isfinite(weight).all() or weight.sum() <= 0:
        raise ValueError(
            f"the target p(x) p(c|x)^{s} p(n|x)^{1 - s} is not a distribution for these "
            f"label probabilities (a class with probability 0 where it is raised to a "
            f"negative power)"
        )
