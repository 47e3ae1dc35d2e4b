"""Captioned shapes: the book's stand-in for "photos with captions", generated in code.

Each image is 32 x 32 RGB, one shape on a black background, described by four attributes:

    shape     circle, square, triangle, cross
    colour    red, orange, yellow, green, blue, purple
    size      small (about 9 px across), medium (12 px), large (15 px)
    position  top left, top right, bottom left, bottom right, centre

That is 4 x 6 x 3 x 5 = 360 attribute *combinations*. Shapes are drawn from signed distance
functions with a one-pixel anti-aliased edge, so that even a small circle and a small square
differ in their corner pixels.

Held-out split (Chapter 1 trains on "train" and measures on "heldout"):
- combinations: a combination is held out when (shape + colour + size + position) % 5 == 0.
  That holds out exactly one of the five positions of every (shape, colour, size), 72 of the
  360 combinations;
- wordings: captions are written with one of several sentence templates; two of them are
  used only for held-out captions. Every *word* of the held-out templates also occurs in
  training captions, so the test is about new sentences, not new words.

Captions may leave attributes out (``p_omit``): "a red circle", "a small shape in the centre".
CLIP uses such partial captions for zero-shot prompts; Chapter 8 uses them as prompts too.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .._checks import check_float, check_int
from .tokenizer import Tokenizer, split_words

SIZE = 32  # image side in pixels
SHAPES = ["circle", "square", "triangle", "cross"]
COLOURS = ["red", "orange", "yellow", "green", "blue", "purple"]
SIZES = ["small", "medium", "large"]
POSITIONS = ["top left", "top right", "bottom left", "bottom right", "centre"]
ATTRIBUTES = {"shape": SHAPES, "colour": COLOURS, "size": SIZES, "position": POSITIONS}
N_COMBOS = len(SHAPES) * len(COLOURS) * len(SIZES) * len(POSITIONS)  # 360

RGB = torch.tensor(
    [
        [0.90, 0.10, 0.10],
        [1.00, 0.55, 0.00],
        [0.95, 0.90, 0.10],
        [0.10, 0.75, 0.20],
        [0.15, 0.35, 0.95],
        [0.60, 0.20, 0.80],
    ]
)  # (6, 3)
RADIUS = torch.tensor([4.5, 6.0, 7.5])  # half the width in pixels, per size
CENTRE = torch.tensor(
    [[9.5, 9.5], [22.5, 9.5], [9.5, 22.5], [22.5, 22.5], [16.0, 16.0]]
)  # (x, y), y down

# Words for each attribute value; a caption picks one at random.
WORDS = {
    "shape": [
        ["circle", "disc"],
        ["square", "box"],
        ["triangle"],
        ["cross", "plus sign"],
    ],
    "colour": [
        ["red"],
        ["orange"],
        ["yellow"],
        ["green"],
        ["blue"],
        ["purple", "violet"],
    ],
    "size": [
        ["small", "tiny", "little"],
        ["medium", "medium-sized", "mid-sized"],
        ["large", "big", "huge"],
    ],
    "position": [
        ["top left", "upper left", "top-left"],
        ["top right", "upper right", "top-right"],
        ["bottom left", "lower left", "bottom-left"],
        ["bottom right", "lower right", "bottom-right"],
        ["centre", "center", "middle"],
    ],
}
SHAPE_OMITTED = [
    "shape",
    "object",
]  # the noun when the caption does not say which shape

# Sentence templates: {np} is the noun phrase ("small red circle"), {pos} the position.
# Each template has a form with the position and one without it.
TRAIN_TEMPLATES = [
    ("a {np} in the {pos}", "a {np}"),
    ("{pos}: a {np}", "{np}"),
    ("there is a {np} at the {pos}", "there is a {np}"),
    ("a picture of a {np}, {pos}", "a picture of a {np}"),
    ("the {pos} holds a {np}", "an image with a {np}"),
]
HELDOUT_TEMPLATES = [  # new sentences made of words the training templates use
    ("at the {pos} there is a {np}", "a picture with a {np}"),
    ("an image of a {np} in the {pos}", "an image of a {np}"),
]
# Words a user may type that no template uses; they get their own ids (see tokenizer.py).
EXTRA_WORDS = [
    "of",
    "and",
    "with",
    "on",
    "no",
    "not",
    "without",
    "or",
    "one",
    "single",
    "shape",
    "object",
    "photo",
    "drawing",
    "corner",
    "side",
]


class Attributes(NamedTuple):
    shape: torch.Tensor  # (N,) long, index into SHAPES
    colour: torch.Tensor  # (N,) long, index into COLOURS
    size: torch.Tensor  # (N,) long, index into SIZES
    position: torch.Tensor  # (N,) long, index into POSITIONS


class ShapesSample(NamedTuple):
    images: torch.Tensor  # (N, 3, 32, 32) float in [0, 1]
    captions: list[str]
    attributes: Attributes


def combo_index(attrs: Attributes) -> torch.Tensor:
    """One integer in [0, 360) per image naming its attribute combination."""
    return (
        (attrs.shape * len(COLOURS) + attrs.colour) * len(SIZES) + attrs.size
    ) * len(POSITIONS) + attrs.position


def combo_attributes(index) -> Attributes:
    """The inverse of :func:`combo_index`."""
    i = torch.as_tensor(index, dtype=torch.long)
    i, position = i.div(len(POSITIONS), rounding_mode="floor"), i % len(POSITIONS)
    i, size = i.div(len(SIZES), rounding_mode="floor"), i % len(SIZES)
    shape, colour = i.div(len(COLOURS), rounding_mode="floor"), i % len(COLOURS)
    return Attributes(shape, colour, size, position)


def is_heldout(attrs: Attributes) -> torch.Tensor:
    """True for the held-out combinations: (shape + colour + size + position) % 5 == 0."""
    return (attrs.shape + attrs.colour + attrs.size + attrs.position) % 5 == 0


def is_pair(attrs: Attributes, pairs) -> torch.Tensor:
    """True where (shape, colour) is one of ``pairs``, e.g. ``[["triangle", "green"]]``."""
    out = torch.zeros(len(attrs.shape), dtype=torch.bool)
    for shape, colour in pairs:
        out |= (attrs.shape == SHAPES.index(shape)) & (
            attrs.colour == COLOURS.index(colour)
        )
    return out


def split_combos(split: str) -> torch.Tensor:
    """The combination indices of ``split``: "train" (288), "heldout" (72) or "all" (360)."""
    if split not in ("train", "heldout", "all"):
        raise ValueError(
            f"split={split!r} is not allowed; use 'train', 'heldout' or 'all'"
        )
    every = torch.arange(N_COMBOS)
    if split == "all":
        return every
    held = is_heldout(combo_attributes(every))
    return every[held] if split == "heldout" else every[~held]


def render(
    attrs: Attributes, generator: torch.Generator | None = None, *, jitter: bool = True
) -> torch.Tensor:
    """Draw one image per row of ``attrs``: (N, 3, 32, 32) float in [0, 1].

    All images are drawn at once from signed distance functions d(p) (negative inside the
    shape, in pixels); the shape covers a pixel by ``clamp(0.5 - d, 0, 1)``, a one-pixel
    anti-aliased edge. ``jitter`` moves the centre by up to 1 px, the radius by up to 0.4 px
    and each colour channel by up to 0.06.
    """
    n = len(attrs.shape)
    u = (
        torch.rand(n, 6, generator=generator) * 2 - 1 if jitter else torch.zeros(n, 6)
    )  # (N, 6) in [-1, 1]
    centre = CENTRE[attrs.position] + u[:, :2]  # (N, 2)
    r = RADIUS[attrs.size] + 0.4 * u[:, 2]  # (N,)
    colour = (RGB[attrs.colour] + 0.06 * u[:, 3:]).clamp(0, 1)  # (N, 3)
    return draw(attrs.shape, colour, centre, r)


def draw(
    shape: torch.Tensor, colour: torch.Tensor, centre: torch.Tensor, r: torch.Tensor
) -> torch.Tensor:
    """Shapes (N,) in colours (N, 3), centred at (N, 2) pixels (x, y down), half-width r (N,),
    on black: (N, 3, 32, 32). Each shape is a signed distance d(p), negative inside."""
    n = len(shape)
    r = r[:, None, None]  # (N, 1, 1)
    grid = torch.arange(SIZE, dtype=torch.float32) + 0.5  # pixel centres
    dx = grid[None, None, :] - centre[:, 0, None, None]  # (N, 1, W)
    dy = grid[None, :, None] - centre[:, 1, None, None]  # (N, H, 1), y points down
    dx, dy = torch.broadcast_tensors(dx, dy)  # (N, H, W)

    circle = torch.sqrt(dx**2 + dy**2) - r
    square = (
        torch.maximum(dx.abs(), dy.abs()) - 0.85 * r
    )  # same area as the circle, roughly
    # equilateral triangle pointing up: three half-planes at distance R/2 from its centroid
    R = 1.2 * r  # circumradius
    ty = (
        dy - R / 4
    )  # centroid a quarter R below the box centre, so the triangle is centred
    s3 = math.sqrt(3) / 2
    triangle = (
        torch.maximum(torch.maximum(ty, -s3 * dx - 0.5 * ty), s3 * dx - 0.5 * ty)
        - R / 2
    )
    arm, half = r, 0.36 * r  # cross: union of two bars
    cross = torch.minimum(
        torch.maximum(dx.abs() - arm, dy.abs() - half),
        torch.maximum(dx.abs() - half, dy.abs() - arm),
    )

    d = torch.stack([circle, square, triangle, cross])  # (4, N, H, W)
    d = d.gather(0, shape[None, :, None, None].expand(1, n, SIZE, SIZE))[0]  # (N, H, W)
    cover = (0.5 - d).clamp(0, 1)  # (N, H, W)
    return cover[:, None] * colour[:, :, None, None]  # (N, 3, H, W) on black


def templates_of(wording: str, train: list, heldout: list) -> list:
    """The sentence templates of ``wording``: "train", "heldout" or "all" (both)."""
    if wording not in ("train", "heldout", "all"):
        raise ValueError(
            f"wording={wording!r} is not allowed; use 'train', 'heldout' or 'all'"
        )
    return {"train": train, "heldout": heldout, "all": train + heldout}[wording]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def describe(
    attrs: Attributes,
    generator: torch.Generator | None = None,
    *,
    wording: str = "train",
    p_omit: float = 0.0,
) -> list[str]:
    """One caption per row of ``attrs``, in a random template of ``wording`` ("train",
    "heldout" or "all") with random synonyms. Each attribute is left out with probability
    ``p_omit`` (never all four)."""
    templates = templates_of(wording, TRAIN_TEMPLATES, HELDOUT_TEMPLATES)
    p_omit = check_float("p_omit", p_omit, low=0.0, high=1.0, high_open=True)
    n = len(attrs.shape)
    keep = (
        torch.rand(n, 4, generator=generator) >= p_omit
    )  # shape, colour, size, position
    keep[~keep.any(1), 0] = True  # never an empty description
    pick = torch.randint(0, 2**31 - 1, (n, 6), generator=generator).tolist()
    values = torch.stack(attrs, 1).tolist()  # (N, 4)
    captions = []
    for (shape, colour, size, position), (k_shape, k_colour, k_size, k_pos), p in zip(
        values, keep.tolist(), pick
    ):
        noun = WORDS["shape"][shape] if k_shape else SHAPE_OMITTED
        words = [WORDS["size"][size][p[0] % len(WORDS["size"][size])]] if k_size else []
        words += (
            [WORDS["colour"][colour][p[1] % len(WORDS["colour"][colour])]]
            if k_colour
            else []
        )
        words += [noun[p[2] % len(noun)]]
        np_ = " ".join(words)
        template = templates[p[3] % len(templates)][0 if k_pos else 1].replace(
            "a {np}", "{art} {np}"
        )
        pos = WORDS["position"][position]
        captions.append(
            template.format(art=_article(np_), np=np_, pos=pos[p[4] % len(pos)])
        )
    return captions


def sample_attributes(
    n: int, generator: torch.Generator | None = None, *, split: str = "train"
) -> Attributes:
    """``n`` attribute combinations drawn uniformly from the combinations of ``split``."""
    combos = split_combos(split)
    return combo_attributes(
        combos[torch.randint(len(combos), (n,), generator=generator)]
    )


def make_shapes(
    n: int, seed: int = 0, *, split: str = "train", p_omit: float = 0.0
) -> ShapesSample:
    """``n`` captioned images of ``split`` ("train", "heldout" or "all"): combinations and
    caption wordings both come from that split. Seeded by ``seed`` with its own generator
    (the global random state is left alone).

    Returns ``ShapesSample(images (n, 3, 32, 32) in [0, 1], captions, attributes)``.
    """
    n = check_int("n", n, low=1)
    seed = check_int("seed", seed, low=0)
    gen = torch.Generator().manual_seed(seed)
    attrs = sample_attributes(n, gen, split=split)
    images = render(attrs, gen)
    return ShapesSample(
        images, describe(attrs, gen, wording=split, p_omit=p_omit), attrs
    )


def vocabulary() -> list[str]:
    """Every word any caption can contain, plus a few a user may type (sorted, lower case)."""
    texts = (
        [w for group in WORDS.values() for value in group for w in value]
        + SHAPE_OMITTED
        + EXTRA_WORDS
    )
    texts += [t for pair in TRAIN_TEMPLATES + HELDOUT_TEMPLATES for t in pair]
    words = {
        w
        for t in texts
        for w in split_words(t.replace("{np}", " ").replace("{pos}", " "))
    }
    return sorted(words | {"a", "an"})


def shapes_tokenizer(max_len: int = 24) -> Tokenizer:
    """The tokenizer of the captioned shapes: every word of :func:`vocabulary`."""
    return Tokenizer(vocabulary(), max_len=max_len)


def class_prompts(attribute: str) -> list[str]:
    """Zero-shot prompts, one per value of ``attribute``, that name only that attribute:
    "a red shape", "a circle", "a small shape", "a shape in the top left"."""
    if attribute not in ATTRIBUTES:
        raise ValueError(
            f"attribute={attribute!r} is not allowed; use one of {list(ATTRIBUTES)}"
        )
    if attribute == "shape":
        return [f"{_article(s)} {s}" for s in SHAPES]
    if attribute == "position":
        return [f"a shape in the {p}" for p in POSITIONS]
    return [f"{_article(v)} {v} shape" for v in ATTRIBUTES[attribute]]
