"""Explorers: a chapter's parameter under the reader's hand (Chapters 3, 4 and 6-8).

This module holds everything interactive: the widgets live here, the static figures in
:mod:`difflab.plot` (which never imports this module). Two explorers take any drawing
function: :func:`explorer` (one parameter) and :func:`grid_explorer` (two). In Jupyter
and Colab they are a slider or a text box; while the static book is built
(:func:`difflab.utils.is_book_build`) they are an animation (:func:`difflab.plot.animate`)
or small multiples instead, and no widget is made: a page cannot run Python.

Each chapter's explorer has two parts. A drawing function ``draw_...(ax, value, ...)``
draws the picture for one value of the parameter on a given axes; the same arguments draw
the same picture, so the tests call it directly. The ``..._explorer`` around it checks its
arguments, makes what every picture shares (the starting noise, drawn from a CPU
generator and moved to the model's device, so that a seed gives the same pictures on
every device) and hands the drawing to :func:`explorer` or :func:`grid_explorer`. Call an
explorer last in its cell: it returns what the notebook shows.
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import plot
from ._checks import check_float, check_int, check_timesteps, check_values
from .data.spiral import spiral_curve
from .guidance import cfg
from .metrics import OFF_SPIRAL, spiral_region
from .samplers import ddim_sample, ddpm_sample
from .schedules import spaced_timesteps
from .t2i import text_to_image
from .utils import is_book_build, model_device, pick

# The two explorers every chapter's explorer is built on


def _values(name: str, values) -> list:
    """The values a parameter may take, as a list; none is an error."""
    values = list(values)
    if not values:
        raise ValueError(
            f"values for {name!r} is empty; give the values the explorer may take"
        )
    return values


def _label(name: str, v) -> str:
    """A value as a title says it: ``'a red circle'`` for text, ``s = 3`` for a number."""
    return f"'{v}'" if isinstance(v, str) else f"{name} = {v:g}"


def _control(name: str, values: list, value):
    """The live widget for one parameter: for text values a text box that offers them (any other
    text may be typed; it is drawn on Enter), else a slider over the values that starts at
    ``value``, at the value nearest it (fast mode steps more coarsely), or at the middle one. Both
    redraw when let go (on Enter, on release), not at every value passed on the way: a picture
    may take seconds."""
    import ipywidgets as widgets

    if all(isinstance(v, str) for v in values):
        return widgets.Combobox(
            options=values,
            value=values[0] if value is None else value,
            description=name,
            ensure_option=False,
            continuous_update=False,
        )
    return widgets.SelectionSlider(
        options=values,
        value=_start(values, value),
        description=name,
        continuous_update=False,
    )


def _start(values: list, value):
    """Where an explorer over numbers starts: ``value``, the value nearest it, or the middle one."""
    if value is None:
        return values[len(values) // 2]
    return value if value in values else min(values, key=lambda v: abs(v - value))


def _opening(values: list, value) -> int:
    """The frame an explorer's animation opens on: that of ``value``, of the number
    nearest it or of the middle number (:func:`_start`); for text, ``value``'s or the
    first."""
    if not all(isinstance(v, str) for v in values):
        return values.index(_start(values, value))
    return values.index(value) if value in values else 0


def _live(draw, controls: dict, size: tuple[float, float], panels: int = 1):
    """An ``ipywidgets.interactive`` that draws a fresh figure, ``draw(ax, *values)``, on every change."""
    import ipywidgets as widgets

    def show(**kw):
        fig, ax = plot.subplots(1, panels, width=size[0], height=size[1])
        draw(ax, *(kw[name] for name in controls))
        plt.show()
        plt.close(fig)

    return widgets.interactive(show, **controls)


def explorer(
    draw,
    name: str,
    values,
    *,
    value=None,
    size: tuple[float, float] = (plot.ANIM_WIDTH, 4.8),
    panels: int = 1,
    interval: int = 250,
    alt: str | None = None,
):
    """A one-parameter explorer: ``draw(ax, v)`` draws the picture for the value ``v`` of ``name`` on
    an empty axes (on a row of ``panels`` axes when ``panels`` > 1). In Jupyter and Colab it is a
    slider over ``values`` (a text box for text values), starting at the value nearest ``value``;
    while the static book is built (:func:`~difflab.utils.is_book_build`) the same pictures become an
    animation over ``values`` that opens on that same value, with ``alt`` as its alt text, and no
    widget is created. Returns what the notebook should display, so call it last in its cell: the
    animation, or the live ``ipywidgets.interactive``."""
    values = _values(name, values)
    if not is_book_build():
        return _live(draw, {name: _control(name, values, value)}, size, panels)
    fig, ax = plot.subplots(1, panels, width=size[0], height=size[1])

    def frame(i):
        for a in np.atleast_1d(ax):
            a.clear()
            plot.style(a)
        draw(ax, values[i])

    start = _opening(values, value)
    alt = alt or (
        f"An animation over {name} from {_label(name, values[0])} to {_label(name, values[-1])} "
        f"in {len(values)} frames, opening at {_label(name, values[start])}; the controls below "
        "it play it or step through it."
    )
    return plot.animate(
        fig, frame, len(values), interval=interval, alt=alt, start=start
    )


def grid_explorer(
    draw,
    rows: tuple[str, list],
    cols: tuple[str, list],
    *,
    value=None,
    panel: float = 1.6,
    size: tuple[float, float] = (4.0, 3.6),
):
    """A two-parameter explorer: ``draw(ax, a, b)`` draws the picture for the value ``a`` of the
    parameter ``rows = (name, values)`` and ``b`` of ``cols``. In Jupyter and Colab it is one control
    per parameter (a text box for text, a slider for numbers) starting at ``value = (a, b)``; while
    the static book is built, small multiples instead, and no widget: one panel of ``panel`` inches
    per pair, a row per value of ``rows``, a column per value of ``cols``. Returns what the notebook
    should display: the figure (closed, so that it is shown once) or the live widget."""
    (name_a, values_a), (name_b, values_b) = rows, cols
    values_a, values_b = _values(name_a, values_a), _values(name_b, values_b)
    if name_a == name_b:
        raise ValueError(
            f"both parameters are called {name_a!r}; give them different names"
        )
    if not is_book_build():
        start_a, start_b = (None, None) if value is None else value
        return _live(
            draw,
            {
                name_a: _control(name_a, values_a, start_a),
                name_b: _control(name_b, values_b, start_b),
            },
            size,
        )
    fig, axes = plot.subplots(len(values_a), len(values_b), size=panel)
    axes = np.asarray(axes).reshape(len(values_a), len(values_b))
    for (i, a), (j, b) in itertools.product(enumerate(values_a), enumerate(values_b)):
        draw(axes[i, j], a, b)
        axes[i, j].set_title(_label(name_b, b) if i == 0 else "", fontsize=9)
        axes[i, j].set_ylabel(
            textwrap.fill(_label(name_a, a), 18) if j == 0 else "", fontsize=8
        )
    plt.close(fig)
    return fig


# The chapters' explorers


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
            "needs a class-conditional model such as registry.load('spiral_cond')"
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
    return explorer(draw, "t", ts, value=value, panels=panels, size=size)


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
    return explorer(draw, "eta", etas, value=value, size=(plot.ANIM_WIDTH, 4.8))


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
    return explorer(draw, "s", scales, value=value)


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
    return explorer(draw, "s", scales, value=value)


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
    return grid_explorer(
        draw,
        ("prompt", prompts),
        ("s", scales),
        value=value,
        panel=panel,
        size=(3.6, 3.9),
    )
