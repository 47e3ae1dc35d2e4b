"""Every static figure of the book goes through these helpers, so all chapters look like one book.

Each helper takes an ``ax`` (or makes one) and returns it; nothing here changes matplotlib's
global settings. Figures are made for the book's text column (``COLUMN_PX`` = 676 pixels at a
1280-pixel window): at most ``FIG_WIDTH`` = 6.6 inches wide (660 pixels at the inline backend's
100 dpi), so a page shows them at full size, not scaled down. Animations are drawn at
``ANIM_WIDTH`` = 5.6 inches and stored at the column's width (about 120 dpi), so that their
10-point text is about 16 pixels high, the body text's size.

An animation (:func:`animate`) counts as a figure: its frames are stored in the page and
play without a kernel or a widget, in the static book as in Jupyter. Whatever needs a live
kernel (sliders, text boxes: the explorers) is in :mod:`difflab.explore`, which builds on
this module; this module never imports it.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from html import escape

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation

from ._checks import check_int
from .data.spiral import project_to_spiral, spiral_curve
from .utils import model_device

# One palette for the whole book, one meaning per colour (colour-blind safe): these four after
# Okabe and Ito for what a point *is* ...
COLORS = {
    "data": "#0072B2",  # the spiral, real data
    "noise": "#D55E00",  # noise, noised points
    "model": "#009E73",  # what a model produced
    "exact": "#CC79A7",  # exact / closed-form answers
    "grey": "#999999",
}
# ... and, never reused for those, a separate set for *which part* (class) of the spiral a point
# belongs to (Okabe and Ito's orange and sky blue, Tol's wine, sand, indigo, green, purple, black).
PART_COLORS = [
    "#E69F00",
    "#56B4E9",
    "#882255",
    "#DDCC77",
    "#332288",
    "#117733",
    "#AA4499",
    "#000000",
]
SPIRAL_LIM = 2.3  # the spiral fits in [-2.3, 2.3]^2
COLUMN_PX = 676  # the online book's text column at a 1280-pixel window
FIG_WIDTH = 6.6  # inches: a static figure at 100 dpi fits the column
ANIM_WIDTH = 5.6  # inches: an animation's frame, stored at COLUMN_PX pixels wide


def _np(a) -> np.ndarray:
    """A NumPy array of ``a``: a tensor on any device, a list of tensors (stacked), or array-like."""
    if (
        isinstance(a, (list, tuple))
        and a
        and all(isinstance(v, torch.Tensor) for v in a)
    ):
        a = torch.stack([v.detach().cpu() for v in a])
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        return (
            a if a.dtype in (torch.int64, torch.int32, torch.bool) else a.float()
        ).numpy()
    return np.asarray(a)


def style(
    ax,
    title: str | None = None,
    *,
    lim: float | None = None,
    equal: bool = False,
    grid: bool = True,
):
    """The book's look for one axes: light grid, no top/right spines, optional square limits."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if grid:
        ax.grid(True, color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    if equal:
        ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def log_ticks(axis, ticks=(1, 2, 4, 8, 16, 32, 64)):
    """Plain labels on a log axis (``ax.xaxis`` or ``ax.yaxis``): a tick at each of ``ticks``
    inside the axis's range (default: the doublings), and none of matplotlib's minor labels
    (2x10^0, 3x10^0, ...), which print over each other on a short axis."""
    lo, hi = axis.get_view_interval()
    axis.set_ticks([v for v in ticks if lo <= v <= hi])
    axis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    return axis


def _box(artist, renderer):
    """The artist's box on the canvas, one pixel smaller on every side (touching is not colliding)."""
    b = artist.get_window_extent(renderer)
    return b.x0 + 1, b.y0 + 1, b.x1 - 1, b.y1 - 1


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def collisions(fig, renderer=None) -> list[str]:
    """What a reader could not read on a drawn figure: tick labels of one axis printed over each
    other, and axes titles covered by another axes (a colour key, a neighbouring panel)."""
    renderer = renderer or fig.canvas.get_renderer()
    found = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [
                t
                for t in axis.get_ticklabels(which="both")
                if t.get_visible() and t.get_text().strip()
            ]
            boxes = [_box(t, renderer) for t in labels]
            for i, j in itertools.combinations(range(len(labels)), 2):
                if _overlap(boxes[i], boxes[j]):
                    found.append(
                        f"tick labels {labels[i].get_text()!r} and {labels[j].get_text()!r} overlap "
                        f"on the axes titled {ax.get_title()!r}"
                    )
        title = ax.title
        if title.get_visible() and title.get_text().strip():
            for other in fig.axes:
                if (
                    other is not ax
                    and other.get_visible()
                    and _overlap(_box(title, renderer), _box(other.patch, renderer))
                ):
                    found.append(
                        f"the title {title.get_text()!r} is covered by another axes "
                        f"(a colour key or a neighbouring panel)"
                    )
    return found


def _refuse_collisions(event):
    found = collisions(event.canvas.figure, event.renderer)
    if found:
        raise ValueError("a figure the reader cannot read: " + "; ".join(found[:3]))


def subplots(
    nrows: int = 1,
    ncols: int = 1,
    *,
    size: float = 3.2,
    width: float | None = None,
    height: float | None = None,
    **kwargs,
):
    """``plt.subplots`` with panels of ``size`` inches (or a figure of ``width`` x ``height``) and the
    book's look; a figure wider than the column (``FIG_WIDTH``) is scaled down to fit. Drawing the
    figure raises ``ValueError`` if tick labels collide or a title is covered (:func:`collisions`),
    so that a chapter with such a figure fails its test. Returns (fig, axes)."""
    w, h = width or size * ncols, height or size * nrows
    if w > FIG_WIDTH:
        w, h = FIG_WIDTH, h * FIG_WIDTH / w
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(w, h), squeeze=False, layout="constrained", **kwargs
    )
    fig.canvas.mpl_connect("draw_event", _refuse_collisions)
    for ax in axes.flat:
        style(ax)
    return fig, (axes[0, 0] if axes.size == 1 else axes.squeeze())


def _ax(ax, size=3.2):
    return subplots(size=size)[1] if ax is None else ax


def scatter(
    points,
    ax=None,
    *,
    c=None,
    color=None,
    s: float = 3,
    alpha: float = 0.6,
    label=None,
    title=None,
    lim: float | None = SPIRAL_LIM,
    **kwargs,
):
    """Scatter of a 2-D point cloud (N, 2); ``c`` (N,) integer parts are drawn in the book's part colours."""
    ax = _ax(ax)
    p = _np(points)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points has shape {p.shape}; expected (N, 2)")
    if c is not None and np.issubdtype(_np(c).dtype, np.integer):
        colors = np.array(PART_COLORS)[_np(c) % len(PART_COLORS)]
        ax.scatter(
            p[:, 0],
            p[:, 1],
            c=colors,
            s=s,
            alpha=alpha,
            linewidths=0,
            label=label,
            **kwargs,
        )
    else:
        ax.scatter(
            p[:, 0],
            p[:, 1],
            c=None if c is None else _np(c),
            color=color or (None if c is not None else COLORS["data"]),
            s=s,
            alpha=alpha,
            linewidths=0,
            label=label,
            **kwargs,
        )
    return style(ax, title, lim=lim, equal=True)


def spiral(ax=None, *, color: str = "k", lw: float = 0.5, alpha: float = 0.4):
    """The clean spiral (no jitter) as a thin line: the data's curve, to draw samples against."""
    ax = _ax(ax)
    ax.plot(
        *_np(spiral_curve(torch.linspace(0, 1, 400))).T, color=color, lw=lw, alpha=alpha
    )
    return ax


def loss(
    history,
    ax=None,
    *,
    every: int = 50,
    label: str = "loss",
    title: str | None = "training loss",
):
    """A training loss curve: the mean of each ``every`` steps of ``history`` (the per-step losses
    that :func:`difflab.training.train` returns), against the step."""
    h = np.asarray(history, dtype=float)
    every = max(1, min(every, len(h)))
    means = h[: len(h) // every * every].reshape(-1, every).mean(1)
    if ax is None:
        _, ax = subplots(width=5.5, height=3.0)
    ax.plot(np.arange(len(means)) * every, means, color=COLORS["model"])
    ax.set(xlabel="step", ylabel=f"{label} (mean of {every} steps)")
    return style(ax, title)


def trails(
    paths,
    ax=None,
    *,
    color=None,
    alpha: float = 0.5,
    lw: float = 0.7,
    title=None,
    lim: float | None = SPIRAL_LIM,
    mark_ends: bool = True,
):
    """Paths of walks (K, N, 2): a line per walk over its K positions, a dot at start and end."""
    ax = _ax(ax)
    p = _np(paths)
    if p.ndim != 3 or p.shape[2] != 2:
        raise ValueError(f"paths has shape {p.shape}; expected (K steps, N walks, 2)")
    for i in range(p.shape[1]):
        col = color or PART_COLORS[i % len(PART_COLORS)]
        ax.plot(p[:, i, 0], p[:, i, 1], color=col, alpha=alpha, lw=lw)
        if mark_ends:
            ax.plot(*p[0, i], "o", color=col, ms=3)
            ax.plot(*p[-1, i], "x", color=col, ms=4)
    return style(ax, title, lim=lim, equal=True)


def positions(
    points,
    ax=None,
    *,
    n_parts: int = 3,
    bins: int = 60,
    color=None,
    label=None,
    title=None,
    density: bool = True,
    histtype: str = "stepfilled",
    alpha: float = 0.45,
):
    """Histogram of where points lie along the spiral (position u of the nearest point of the curve,
    0 = inner end, 1 = outer end), with the borders of the ``n_parts`` parts dashed."""
    ax = _ax(ax)
    u, _ = project_to_spiral(torch.as_tensor(points, dtype=torch.float64))
    ax.hist(
        _np(u),
        bins=bins,
        range=(0, 1),
        density=density,
        color=color or COLORS["model"],
        alpha=alpha,
        histtype=histtype,
        label=label,
        lw=1.2,
    )
    for b in range(1, n_parts):
        ax.axvline(b / n_parts, color="k", lw=0.6, ls="--")
    ax.set_xlim(0, 1)
    ax.set_xlabel("position u along the spiral")
    return style(ax, title)


def _images(images) -> np.ndarray:
    """Images (N, H, W) or (N, C, H, W) as an array (N, H, W) or (N, H, W, C)."""
    imgs = _np(images)
    if imgs.ndim == 4:
        imgs = imgs.transpose(0, 2, 3, 1)  # (N, H, W, C)
        if imgs.shape[-1] == 1:
            imgs = imgs[..., 0]
    if imgs.ndim not in (3, 4):
        raise ValueError(
            f"images has shape {_np(images).shape}; expected (N, H, W) or (N, C, H, W)"
        )
    return imgs


def _tile_starts(count: int, size: int, pad: int) -> list[int]:
    """Where each of ``count`` tiles of ``size`` pixels starts, ``pad`` pixels apart."""
    return [pad + k * (size + pad) for k in range(count)]


def _mosaic(imgs: np.ndarray, ncols: int, pad: int, fill: float) -> np.ndarray:
    """The images (N, H, W[, C]) tiled row by row, ``ncols`` to a row, on a canvas of
    ``fill`` with ``pad`` pixels between them and around them."""
    n, h, w = imgs.shape[:3]
    nrows = -(-n // ncols)
    canvas = np.full(
        (nrows * (h + pad) + pad, ncols * (w + pad) + pad) + imgs.shape[3:],
        fill,
        dtype=float,
    )
    for i in range(n):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[top : top + h, left : left + w] = imgs[i]
    return canvas


def _grid_axes(ncols: int, nrows: int, row_labels: bool, title: bool):
    """Axes for a mosaic of ``ncols`` x ``nrows`` tiles: cells of at most 0.9 inches, the
    whole at most ``FIG_WIDTH`` wide, with room for row labels and a title."""
    room = 1.6 if row_labels else 0
    cell = min(0.9, FIG_WIDTH / (ncols + room))
    _, ax = subplots(
        width=max(1.0, cell * ncols + room),
        height=max(0.6, cell * nrows + (0.3 if title else 0)),
    )
    return ax


def _show_mosaic(ax, canvas: np.ndarray, lo: float, hi: float, cmap) -> None:
    """The canvas on ``ax``: colour pictures scaled from [lo, hi] to [0, 1], grey ones
    through ``cmap``; each pixel a square, no smoothing."""
    if canvas.ndim == 3:
        canvas = np.clip((canvas - lo) / max(hi - lo, 1e-12), 0, 1)
        ax.imshow(canvas, interpolation="nearest")
    else:
        ax.imshow(canvas, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")


def _label_tiles(ax, row_labels, labels, shape: tuple[int, int], pad: int) -> None:
    """``row_labels`` left of the rows, ``labels`` under the columns (or no ticks);
    ``shape`` is one tile's (H, W)."""
    h, w = shape
    if row_labels is not None:
        rows = [s + (h - 1) / 2 for s in _tile_starts(len(row_labels), h, pad)]
        ax.set_yticks(rows, row_labels, fontsize=8)
        ax.tick_params(axis="y", length=0)
    else:
        ax.set_yticks([])
    if labels is not None:
        cols = [s + (w - 1) / 2 for s in _tile_starts(len(labels), w, pad)]
        ax.set_xticks(cols, labels, fontsize=8)
        ax.tick_params(length=0)
    else:
        ax.set_xticks([])


def image_grid(
    images,
    ax=None,
    *,
    ncols: int | None = None,
    labels=None,
    row_labels=None,
    title=None,
    cmap="gray",
    vmin: float | None = None,
    vmax: float | None = None,
    pad: int = 1,
):
    """Images (N, H, W) or (N, C, H, W) tiled into one mosaic on ``ax``; ``labels`` go under the columns
    of a single row, ``row_labels`` (one per row) to the left of the rows. Pixel values are shown as
    they are (give ``vmin``/``vmax`` for the range)."""
    imgs = _images(images)  # (N, H, W) or (N, H, W, C)
    n, h, w = imgs.shape[:3]
    ncols = n if ncols is None else ncols
    nrows = -(-n // ncols)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(
            f"{len(row_labels)} row_labels for {nrows} rows; give one per row"
        )
    lo = imgs.min() if vmin is None else vmin
    hi = imgs.max() if vmax is None else vmax
    if ax is None:
        ax = _grid_axes(ncols, nrows, row_labels is not None, bool(title))
    ax.grid(False)  # grid lines would run across the pictures
    _show_mosaic(ax, _mosaic(imgs, ncols, pad, fill=hi), lo, hi, cmap)
    _label_tiles(ax, row_labels, labels if nrows == 1 else None, (h, w), pad)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


_ANIM_IMG = re.compile(r'<img id="(_anim_img\w+)">')
_ANIM_NEW = re.compile(r"(anim\w+) = new Animation\(([^;]*)\);")
_CDN_STYLE = re.compile(
    r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*"\s*/?>\s*'
)


def animate(
    fig,
    update,
    n_frames: int,
    *,
    interval: int = 80,
    dpi: float | None = None,
    alt: str | None = None,
    start: int = 0,
):
    """A jshtml animation that plays in the static online book (no live kernel needed).

    ``update(i)`` redraws frame ``i`` on ``fig``. Frames are stored ``COLUMN_PX`` pixels wide
    (``dpi`` by default is the column's width over the figure's): make ``fig`` ``ANIM_WIDTH``
    inches wide and its text at least 10 points, and the text is as large as the body's. Every
    frame is stored in the page, so prefer fewer frames to smaller ones (a page stays under 3 MB). The player opens on frame ``start`` (the one the
    text talks about) and its frame image carries ``alt`` as alt text (default: a sentence naming
    the number of frames). The player's controls use the site's own icon font: the stylesheet
    matplotlib would fetch from a CDN is left out. Returns an ``IPython.display.HTML`` object
    and closes ``fig`` so the notebook does not also show the last frame as a still.
    """
    from IPython.display import HTML

    check_int("n_frames", n_frames, low=1)
    start = check_int("start", start, low=0, high=n_frames - 1)
    fig.set_dpi(dpi or COLUMN_PX / fig.get_figwidth())
    anim = animation.FuncAnimation(fig, update, frames=n_frames, interval=interval)
    # JPEG frames are a third of the size of PNG ones for scatter plots, so that a page with
    # two animations stays well under 3 MB
    with matplotlib.rc_context(
        {"animation.embed_limit": 20, "animation.frame_format": "jpeg"}
    ):
        html = anim.to_jshtml(default_mode="loop")
    plt.close(fig)
    alt = (
        alt
        or f"An animation of {n_frames} frames; the controls below it play it or step through it."
    )
    html = _ANIM_IMG.sub(
        lambda m: f'<img id="{m.group(1)}" alt="{escape(alt, quote=True)}">', html
    )
    if start:
        html = _ANIM_NEW.sub(
            lambda m: f"{m.group(0)} {m.group(1)}.set_frame({start});", html
        )
    return HTML(_CDN_STYLE.sub("", html))


def field(
    model,
    t: int,
    ax=None,
    *,
    lim: float = SPIRAL_LIM,
    n: int = 17,
    color=None,
    title=None,
    cond=None,
    key: str | None = "length",
    vmax: float | None = None,
    device=None,
):
    """The vector field -eps(x, t) of a 2-D denoiser on an n x n grid: the direction a reverse step
    moves each point. Arrows are normalised to equal length; their colour shows the magnitude, on a
    scale from 0 to ``vmax`` (default: this field's largest), explained by a colour key labelled
    ``key`` beside the axes (None: no key, e.g. for all but the last panel of a row that shares ``vmax``).
    The grid is made on ``device`` (default: a network's own device, else the CPU); pass it for a
    function that wraps a network, e.g. ``device=device`` for ``lambda x, t: f(model, x, t)``."""
    ax = _ax(ax)
    g = torch.linspace(-lim, lim, n)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    pts = torch.stack([xx.flatten(), yy.flatten()], dim=1)  # (n*n, 2)
    device = model_device(model) if device is None else device
    pts = pts.to(device)
    tt = torch.full((len(pts),), int(t), dtype=torch.long, device=device)
    with torch.no_grad():
        eps = model(pts, tt) if cond is None else model(pts, tt, cond)
    v = -_np(eps)
    norm = np.linalg.norm(v, axis=1, keepdims=True) + 1e-12
    u = v / norm
    args = (_np(pts)[:, 0], _np(pts)[:, 1], u[:, 0], u[:, 1])
    kw = {"angles": "xy", "scale_units": "xy", "scale": n / (1.6 * lim), "width": 0.006}
    if color is not None:
        ax.quiver(*args, color=color, **kw)
    else:
        q = ax.quiver(
            *args, norm[:, 0], cmap="viridis", clim=(0, vmax or float(norm.max())), **kw
        )
        if key:
            ax.figure.colorbar(q, ax=ax, shrink=0.8, label=key, pad=0.02)
    return style(ax, title, lim=lim, equal=True)


def field_key(axes, vmax: float, key: str = "length"):
    """One colour key for a row (or grid) of :func:`field` panels drawn with the same ``vmax`` and
    ``key=None``, beside the last of them: the panels share one scale, so their colours compare."""
    axes = list(np.atleast_1d(axes).flat)
    mappable = matplotlib.cm.ScalarMappable(
        norm=matplotlib.colors.Normalize(0, vmax), cmap="viridis"
    )
    return axes[0].figure.colorbar(mappable, ax=axes, shrink=0.8, label=key, pad=0.02)


def _cell_ticks(ax, shape: tuple[int, int], xticklabels, yticklabels) -> None:
    """A heatmap's ticks: the given labels at the cells' centres (the column labels
    slanted), else whole-number ticks."""
    for labels, setter, n in [
        (xticklabels, ax.set_xticks, shape[1]),
        (yticklabels, ax.set_yticks, shape[0]),
    ]:
        if labels is not None:
            setter(range(n), labels, fontsize=7)
    for axis, labels in [(ax.xaxis, xticklabels), (ax.yaxis, yticklabels)]:
        if labels is None:
            axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if xticklabels is not None:
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right")


def _write_cells(ax, im, m: np.ndarray, fmt: str, text) -> None:
    """Each cell's value (``fmt``), or its string of ``text``, written in the cell: dark on
    light colours, white on dark ones."""
    for (i, j), v in np.ndenumerate(m):
        r, g, b, _ = im.cmap(im.norm(v))
        light = 0.299 * r + 0.587 * g + 0.114 * b > 0.5  # dark text on light cells
        label = fmt.format(v) if text is None else text[i][j]
        ax.text(
            j,
            i,
            label,
            ha="center",
            va="center",
            fontsize=7,
            color="k" if light else "w",
        )


def heatmap(
    matrix,
    ax=None,
    *,
    title=None,
    xlabel=None,
    ylabel=None,
    xticklabels=None,
    yticklabels=None,
    cmap="viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    annotate: bool = False,
    fmt: str = "{:.2f}",
    text=None,
):
    """A matrix (R, C) as coloured cells, row 0 at the top (e.g. CLIP's similarity matrix:
    images down, captions across). ``annotate`` writes each value in its cell; ``text`` (R, C)
    strings are written instead when given (e.g. the unclipped values of a clipped matrix)."""
    m = _np(matrix)
    if m.ndim != 2:
        raise ValueError(f"matrix has shape {m.shape}; expected (rows, columns)")
    ax = _ax(ax, size=3.6)
    im = ax.imshow(
        m, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest", aspect="auto"
    )
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8)
    _cell_ticks(ax, m.shape, xticklabels, yticklabels)
    if annotate or text is not None:
        _write_cells(ax, im, m, fmt, text)
    ax.grid(False)
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def captioned(
    images, captions, *, ncols: int = 6, size: float = 1.6, title=None, wrap: int = 22
):
    """Images (N, 3, H, W) in [0, 1], each with its caption (wrapped) over it; returns the axes (rows,
    cols). The grid is at most ``FIG_WIDTH`` wide, so keep ``ncols`` small enough for the captions."""
    imgs = _np(images)
    if imgs.ndim != 4 or len(imgs) != len(captions):
        raise ValueError(
            f"images has shape {imgs.shape} and there are {len(captions)} captions; "
            f"expected (N, C, H, W) and N captions"
        )
    size = min(size, FIG_WIDTH / ncols)
    nrows = -(-len(imgs) // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols, (size + 0.45) * nrows),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, text in zip(axes.flat, imgs, captions):
        ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1), interpolation="nearest")
        ax.set_title(textwrap.fill(text, wrap), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return axes


def play(
    clips,
    captions=None,
    *,
    ncols: int = 4,
    interval: int = 150,
    alt: str | None = None,
    wrap: int = 24,
):
    """Clips (N, F, 3, H, W) in [0, 1] as one animation (:func:`animate`) that plays their
    frames side by side, each clip under its caption (wrapped at ``wrap`` characters), the
    frame number in the title; ``interval`` milliseconds a frame."""
    frames = _np(clips)
    if frames.ndim != 5 or (captions is not None and len(captions) != len(frames)):
        got = "no" if captions is None else len(captions)
        raise ValueError(
            f"clips has shape {frames.shape} and there are {got} captions; expected "
            f"(N, F, C, H, W) and N captions"
        )
    n, f = frames.shape[:2]
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    lines = (
        0 if captions is None else max(len(textwrap.wrap(c, wrap)) for c in captions)
    )
    tile = ANIM_WIDTH / ncols
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(ANIM_WIDTH, nrows * (tile + 0.2 * lines) + 0.4),
        squeeze=False,
        layout="constrained",
    )
    shown = []
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            shown.append(
                ax.imshow(
                    frames[k, 0].transpose(1, 2, 0).clip(0, 1), interpolation="nearest"
                )
            )
            if captions is not None:
                ax.set_title(textwrap.fill(captions[k], wrap), fontsize=10)
    title = fig.suptitle(f"frame 1 of {f}", fontsize=10)

    def update(i):
        for k, im in enumerate(shown):
            im.set_data(frames[k, i].transpose(1, 2, 0).clip(0, 1))
        title.set_text(f"frame {i + 1} of {f}")

    return animate(fig, update, f, interval=interval, alt=alt)
