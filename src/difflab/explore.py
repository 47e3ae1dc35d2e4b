"""Explorers: a chapter's parameter under the reader's hand (Chapters 3, 4 and 6-8).

Each explorer has two parts. A drawing function ``draw_...(ax, value, ...)`` draws the
picture for one value of the parameter on a given axes; the same arguments draw the same
picture, so the tests call it directly. The ``..._explorer`` around it checks its
arguments, makes what every picture shares (the starting noise, drawn from a CPU
generator and moved to the model's device, so that a seed gives the same pictures on
every device) and hands the drawing to :func:`difflab.plot.explorer` (two parameters:
:func:`~difflab.plot.grid_explorer`): a slider in Jupyter and Colab; an animation, or
small multiples, in the static book (:func:`difflab.utils.is_book_build`). Call an
explorer last in its cell: it returns what the notebook shows.
"""

from __future__ import annotations

import functools
import math
import numbers
import textwrap

import numpy as np
import torch

from . import plot
from ._checks import check_float, check_int, check_values
from .data.spiral import spiral_curve
from .guidance import cfg
from .metrics import OFF_SPIRAL, spiral_region
from .samplers import check_timesteps, ddim_sample, ddpm_sample, spaced_timesteps
from .t2i import text_to_image
from .utils import model_device, pick


def _starts(model, n: int, seed: int) -> torch.Tensor:
    """n starts x_T (n, 2), drawn on the CPU with ``seed``, on the model's device."""
    gen = torch.Generator().manual_seed(check_int("seed", seed, low=0))
    return torch.randn(n, 2, generator=gen).to(model_device(model))


def _timesteps(timesteps, alphas_cumprod, n_steps: int) -> list[int]:
    """The sampler's timesteps, checked; None: ``n_steps`` evenly spaced ("leading")."""
    T = len(alphas_cumprod)
    if timesteps is None:
        return spaced_timesteps(T, n_steps, "leading")
    return check_timesteps(timesteps, T)


def _n_classes(model) -> int:
    """K of a class-conditional model (``model.config.n_classes``), or a clear error."""
    k = getattr(getattr(model, "config", None), "n_classes", 0)
    if not k:
        raise ValueError(
            "model has no classes (model.config.n_classes is 0 or missing); guidance "
            "needs a class-conditional model such as load_cond_denoiser()"
        )
    return int(k)


def _parts(ax, k: int):
    """The clean spiral, each of its k parts in its colour: which part is which."""
    for c in range(k):
        u = torch.linspace(c / k, (c + 1) / k, 120)
        ax.plot(
            *spiral_curve(u).T.numpy(), color=plot.PART_COLORS[c], lw=2.5, alpha=0.35
        )


def draw_field(ax, t: int, model, exact=None, *, n: int = 13):
    """The field -eps(x, t) of ``model`` at step t on ``ax``: the direction a reverse
    step moves each point (its mean moves by -beta_t / sqrt(1 - abar_t) eps, Ho et al.
    2020, eq. 11). With ``exact`` (e.g. :class:`~difflab.denoisers.ExactDenoiser`), its
    field beside it: then ``ax`` is a pair of axes. Returns ``ax``."""
    pairs = [("learned", model, "model")]
    if exact is not None:
        pairs.append(("exact", exact, "exact"))
    axes = np.atleast_1d(ax)
    if len(axes) != len(pairs):
        raise ValueError(f"draw_field needs {len(pairs)} axes here; got {len(axes)}")
    for a, (name, den, colour) in zip(axes, pairs):
        plot.spiral(a, alpha=0.25)
        plot.field(
            den,
            t,
            ax=a,
            n=n,
            key=None,
            color=plot.COLORS[colour],
            title=f"{name}, t = {t}",
        )
    return ax


def field_explorer(model, ts, *, exact=None, value=None, n: int = 13):
    """Chapter 3: the learned field -eps(x, t) at the step t the reader picks from
    ``ts`` (beside the ``exact`` denoiser's, when given): at large t every arrow points
    at the centre of the data, at small t onto the spiral (:func:`draw_field`)."""
    ts = check_values("ts", ts, check_int, low=0)
    n = check_int("n", n, low=2)
    panels = 1 if exact is None else 2
    draw = functools.partial(draw_field, model=model, exact=exact, n=n)
    size = (plot.ANIM_WIDTH, plot.ANIM_WIDTH / panels + 0.4)
    return plot.explorer(draw, "t", ts, value=value, panels=panels, size=size)


def draw_eta(
    ax, eta: float, model, x_T, timesteps, alphas_cumprod, *, n_paths=5, seed=1
):
    """DDIM with noise eta (Song, Meng and Ermon 2021, eq. 12, with the noise
    sigma_t(eta) of their eq. 16) from the starts ``x_T`` (N, 2): the samples, and the
    paths of the first ``n_paths`` with their median length. eta = 0 is the
    deterministic ODE sampler, eta = 1 is DDPM. The fresh noise comes from a CPU
    generator seeded with ``seed``: the same stream for every eta > 0, so neighbouring
    etas differ only in how much of it is added."""
    keep = [x_T[:n_paths]]
    gen = torch.Generator().manual_seed(seed)
    x = ddim_sample(
        model,
        x_T,
        timesteps,
        alphas_cumprod,
        eta=eta,
        generator=gen,
        callback=lambda i, t, x, x0_hat: keep.append(x[:n_paths]),
    )
    paths = torch.stack(keep).cpu()  # (steps + 1, n_paths, 2)
    plot.spiral(ax)
    plot.scatter(x, ax=ax, color=plot.COLORS["model"], s=2, alpha=0.4, lim=3.2)
    title = f"eta = {eta:g}"
    if n_paths:
        plot.trails(paths, ax=ax, lim=3.2, alpha=0.9)
        length = (paths[1:] - paths[:-1]).norm(dim=2).sum(0).median().item()
        title += f": path length {length:.1f}"
    return plot.style(ax, title)


def eta_explorer(
    model,
    alphas_cumprod,
    etas,
    *,
    timesteps=None,
    n=None,
    n_paths=5,
    seed=0,
    value=None,
):
    """Chapter 4: DDIM's eta from 0 (the ODE) to 1 (DDPM). The same ``n`` starts
    (default 1000, fast mode 300; seeded by ``seed``) and ``timesteps`` (default: 50,
    evenly spaced) for every eta, and the paths of ``n_paths`` of them
    (:func:`draw_eta`)."""
    etas = check_values("etas", etas, check_float, low=0.0, high=1.0)
    n = check_int("n", pick(1000, 300) if n is None else n, low=1)
    n_paths = check_int("n_paths", n_paths, low=0, high=n)
    draw = functools.partial(
        draw_eta,
        model=model,
        x_T=_starts(model, n, seed),
        timesteps=_timesteps(timesteps, alphas_cumprod, 50),
        alphas_cumprod=alphas_cumprod,
        n_paths=n_paths,
        seed=seed + 1,
    )
    return plot.explorer(draw, "eta", etas, value=value, size=(plot.ANIM_WIDTH, 4.8))


def draw_guided(
    ax,
    s: float,
    model,
    x_T,
    cond,
    alphas_cumprod,
    timesteps,
    *,
    negative=None,
    seed=1,
    marker: float = 5,
):
    """Samples of classifier-free guidance at scale s, f(n) + s (f(c) - f(n)) (Ho and
    Salimans 2022, eq. 6 with w = s - 1; a ``negative`` n takes the place of the
    unconditional f(), Chapter 7), by DDPM from the starts ``x_T`` (N, 2), fresh noise
    seeded by ``seed``. Without a negative, ``cond`` is a LongTensor (N,): the class
    each start asks for, drawn in its part's colour, and the title gives the share in
    the part asked for; with one, ``cond`` is None or a class, and the title gives the
    share in the negative's part. Both give the share off the spiral (Chapter 5's
    regions). ``marker``: the dots' area in points squared, large enough for the part
    colours to show in a frame of the column's width."""
    guided = cfg(model, cond, s, negative=negative)
    gen = torch.Generator().manual_seed(seed)
    x = ddpm_sample(guided, x_T, timesteps, alphas_cumprod, generator=gen).cpu()
    k = _n_classes(model)
    region = spiral_region(x, k)
    off = (region == OFF_SPIRAL).double().mean().item()
    if negative is None:
        plot.spiral(ax, lw=0.4)
        plot.scatter(x, ax=ax, c=cond.cpu(), s=marker, alpha=0.7)
        share = (region == cond.cpu()).double().mean().item()
        where = "in part"
    else:
        _parts(ax, k)
        plot.scatter(x, ax=ax, color="k", s=marker, alpha=0.4)
        share = (region == negative).double().mean().item()
        where = f"in part {negative}"
    return plot.style(ax, f"s = {s:g}: {share:.0%} {where}, {off:.1%} off")


def scale_explorer(
    model, cond, scales, alphas_cumprod, *, timesteps=None, n=None, seed=0, value=None
):
    """Chapter 6: the guidance scale s. ``n`` samples (default 300, fast mode 100) of
    each class in ``cond`` (a class id or a sequence of them), guided at the scale the
    reader picks from ``scales``, from the same starts and fresh noise at every scale
    (:func:`draw_guided`); ``timesteps`` of DDPM (default: Chapter 6's 100, evenly
    spaced)."""
    k = _n_classes(model)
    classes = [cond] if isinstance(cond, numbers.Integral) else cond
    classes = check_values("cond", classes, check_int, low=0, high=k - 1)
    scales = check_values("scales", scales, check_float, low=0.0)
    n = check_int("n", pick(300, 100) if n is None else n, low=1)
    x_T = _starts(model, n * len(classes), seed)
    ids = torch.tensor(classes).repeat_interleave(n).to(x_T.device)
    draw = functools.partial(
        draw_guided,
        model=model,
        x_T=x_T,
        cond=ids,
        alphas_cumprod=alphas_cumprod,
        timesteps=_timesteps(timesteps, alphas_cumprod, 100),
        seed=seed + 1,
    )
    return plot.explorer(draw, "s", scales, value=value)


def negative_explorer(
    model,
    cond,
    negative,
    scales,
    alphas_cumprod,
    *,
    timesteps=None,
    n=None,
    seed=0,
    value=None,
):
    """Chapter 7: the scale s of a negative, cfg(model, cond, s, negative=negative) =
    f(n) + s (f(c) - f(n)); ``cond`` None is "anything but the negative". ``n`` samples
    (default 1000, fast mode 300) from the same starts and fresh noise at every scale in
    ``scales``, over the spiral's parts in their colours (:func:`draw_guided`);
    ``timesteps`` as in :func:`scale_explorer`."""
    k = _n_classes(model)
    if cond is not None:
        cond = check_int("cond", cond, low=0, high=k - 1)
    negative = check_int("negative", negative, low=0, high=k - 1)
    scales = check_values("scales", scales, check_float, low=0.0)
    n = check_int("n", pick(1000, 300) if n is None else n, low=1)
    draw = functools.partial(
        draw_guided,
        model=model,
        x_T=_starts(model, n, seed),
        cond=cond,
        alphas_cumprod=alphas_cumprod,
        negative=negative,
        seed=seed + 1,
        timesteps=_timesteps(timesteps, alphas_cumprod, 100),
    )
    return plot.explorer(draw, "s", scales, value=value)


def draw_prompt(ax, prompt: str, s: float, model, clip, *, n=4, steps=25, seed=0):
    """``n`` pictures of ``prompt`` at guidance scale s, tiled on ``ax``: Chapter 8's
    :func:`~difflab.t2i.text_to_image` (CLIP's text embedding, the U-Net guided by
    classifier-free guidance, Ho and Salimans 2022, and DDIM, Song et al. 2021), from
    the starting noise of ``seed``, the same for every prompt and scale. A blank prompt
    (an emptied text box) draws a note instead."""
    if not prompt.strip():
        ax.text(0.5, 0.5, "type a prompt", ha="center", va="center")
        ax.set_axis_off()
        return ax
    images = text_to_image(
        prompt, scale=s, n=n, steps=steps, seed=seed, model=model, clip=clip
    )
    title = textwrap.fill(f"'{prompt}', s = {s:g}", 36)
    ncols = math.ceil(math.sqrt(n))
    return plot.image_grid(images, ax, ncols=ncols, vmin=0, vmax=1, title=title)


def _prompts(prompts) -> list[str]:
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
        raise ValueError(
            f"prompts={prompts!r} must be a non-empty list of non-empty strings, "
            "e.g. ['a red circle', 'a blue square']"
        )
    return prompts


def prompt_explorer(
    model, clip, prompts, scales, *, n=4, steps=25, seed=0, value=None, panel=1.5
):
    """Chapter 8: the prompt and the guidance scale. Live, a text box that offers
    ``prompts`` (any other prompt may be typed) and a slider over ``scales``; in the
    static book, small multiples: a row per prompt, a column per scale, panels of
    ``panel`` inches, each ``n`` pictures from the same noise (:func:`draw_prompt`).
    ``value``: the (prompt, scale) the live explorer starts at."""
    prompts = _prompts(prompts)
    scales = check_values("scales", scales, check_float, low=0.0)
    n, steps = check_int("n", n, low=1), check_int("steps", steps, low=1)
    seed = check_int("seed", seed, low=0)
    draw = functools.partial(
        draw_prompt, model=model, clip=clip, n=n, steps=steps, seed=seed
    )
    return plot.grid_explorer(
        draw,
        ("prompt", prompts),
        ("s", scales),
        value=value,
        panel=panel,
        size=(3.6, 3.9),
    )
