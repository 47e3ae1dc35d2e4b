"""Make the two pictures of the book's site that are not chapter figures:

    python scripts/make_site_images.py

- book/images/landing.png: a grid of pictures that Chapter 8's shipped model draws for a few
  prompts (the landing page's picture), with the same seeds every time;
- book/images/favicon.png: the spiral of Chapters 2-7, as the site's icon.

Both are committed; run this again after retraining the text-to-image model.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from difflab import plot  # noqa: E402
from difflab.data import make_spiral  # noqa: E402
from difflab.t2i import text_to_image  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "book" / "images"
PROMPTS = [
    "a red circle",
    "a big blue square in the top left",
    "a small yellow triangle",
    "a green cross in the centre",
    "a purple disc at the bottom right",
    "a large orange box",
]


def landing() -> Path:
    images = text_to_image(PROMPTS, scale=2.0, n=4, seed=0)  # (24, 3, 32, 32)
    fig, axes = plot.subplots(2, 3, width=7.0, height=3.4)
    for ax, prompt, row in zip(axes.flat, PROMPTS, images.split(4)):
        plot.image_grid(row, ax, ncols=2, title=f"'{prompt}'", vmin=0, vmax=1)
        ax.title.set_fontsize(9)
    path = OUT / "landing.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def favicon() -> Path:
    spiral = make_spiral(1500, seed=0)
    fig = plt.figure(figsize=(0.64, 0.64))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.scatter(
        *spiral.x.T,
        s=0.6,
        c=[plot.PART_COLORS[p] for p in spiral.part.tolist()],
        linewidths=0,
    )
    ax.set_xlim(-2.2, 2.2)
    ax.set_ylim(-2.2, 2.2)
    ax.axis("off")
    path = OUT / "favicon.png"
    fig.savefig(path, dpi=100, transparent=True)
    plt.close(fig)
    return path


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    for made in (landing(), favicon()):
        print(f"wrote {made} ({made.stat().st_size / 1e3:.0f} kB)")
