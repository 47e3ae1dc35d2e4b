"""Captioned clips: one of the book's shapes, in one of its colours, moving in a straight line
(the video chapter).

Each clip is ``FRAMES`` = 8 frames of 32 x 32 RGB on black. The object is a medium shape
(12 px across, so it covers three of the autoencoder's 8 x 8 latent cells across) that moves ``SPEED`` = 2 px a frame to the right, left, up or down: 14 px from the
first frame to the last, never touching the border. Where it starts across its path is drawn
at random, so that every clip differs.

    "a red circle moving to the right"      "the blue box slides left"
    "a video of a yellow cross going up"    "a green triangle drifting downwards"

That is 4 shapes x 6 colours x 4 motions = 96 (shape, colour, motion) combinations.

Held-out split (as in :mod:`difflab.data.shapes`):
- combinations: (shape, colour, motion) is held out when (shape + colour + motion) % 5 == 0,
  19 of the 96; every shape, colour and motion, and every (shape, colour) pair, is still
  seen in training;
- wordings: two sentence templates are used only for held-out captions; all their words occur
  in training captions.

Captions may leave out the motion, the colour or the shape (``p_omit``): "a red circle",
"a shape moving left". A model trained on them can be asked for "a red circle" and left to
choose the motion, which is what a negative prompt on motion needs.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import check_float, check_int
from .shapes import (
    COLOURS,
    RGB,
    SHAPE_OMITTED,
    SHAPES,
    SIZE,
    WORDS,
    _article,
    draw,
    templates_of,
    vocabulary,
)
from .tokenizer import Tokenizer, split_words

FRAMES = 8  # frames per clip
SPEED = 2.0  # pixels per frame
RADIUS = 6.0  # the object's half-width in pixels: the shapes' "medium"
MOTIONS = ["right", "left", "up", "down"]
#: the step of each motion in pixels a frame, (x, y) with y pointing down
VELOCITY = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, -1.0], [0.0, 1.0]]) * SPEED
N_COMBOS = len(SHAPES) * len(COLOURS) * len(MOTIONS)  # 96

MOTION_WORDS = [
    ["right", "to the right", "rightwards"],
    ["left", "to the left", "leftwards"],
    ["up", "upwards"],
    ["down", "downwards"],
]
# {np}: "red circle"; {dir}: "to the right". Each template has a form without the motion.
TRAIN_TEMPLATES = [
    ("a {np} moving {dir}", "a {np}"),
    ("a {np} slides {dir}", "a {np}"),
    ("a video of a {np} going {dir}", "a video of a {np}"),
    ("the {np} moves {dir}", "the {np}"),
    ("a {np} drifting {dir}", "a {np}"),
]
HELDOUT_TEMPLATES = [  # new sentences made of words the training templates use
    ("the {np} slides {dir}", "the {np}"),
    ("a video of a {np} drifting {dir}", "a video of a {np}"),
]


class ClipAttributes(NamedTuple):
    shape: torch.Tensor  # (N,) long, index into SHAPES
    colour: torch.Tensor  # (N,) long, index into COLOURS
    motion: torch.Tensor  # (N,) long, index into MOTIONS


class ClipsSample(NamedTuple):
    clips: torch.Tensor  # (N, FRAMES, 3, 32, 32) float in [0, 1]
    captions: list[str]
    attributes: ClipAttributes
    centres: torch.Tensor  # (N, FRAMES, 2): the object's centre in every frame, (x, y)


def is_heldout(attrs: ClipAttributes) -> torch.Tensor:
    """True for the held-out combinations: (shape + colour + motion) % 5 == 0."""
    return (attrs.shape + attrs.colour + attrs.motion) % 5 == 0


def sample_attributes(
    n: int, generator: torch.Generator | None = None, *, split: str = "train"
) -> ClipAttributes:
    """``n`` (shape, colour, motion) combinations drawn uniformly from ``split``'s
    ("train", "heldout" or "all")."""
    if split not in ("train", "heldout", "all"):
        raise ValueError(
            f"split={split!r} is not allowed; use 'train', 'heldout' or 'all'"
        )
    every = torch.arange(N_COMBOS)
    motion, rest = every % len(MOTIONS), every // len(MOTIONS)
    attrs = ClipAttributes(rest // len(COLOURS), rest % len(COLOURS), motion)
    held = is_heldout(attrs)
    keep = {"train": ~held, "heldout": held, "all": torch.ones_like(held)}[split]
    combos = every[keep]
    pick = combos[torch.randint(len(combos), (n,), generator=generator)]
    return ClipAttributes(*(a[pick] for a in attrs))


def render_clips(
    attrs: ClipAttributes, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(clips (N, FRAMES, 3, 32, 32), centres (N, FRAMES, 2)) for ``attrs``: the start is
    drawn so that the whole path stays inside the picture (along the motion, a start within
    3 px of the border's limit; across it, anywhere from 8 to 24 px); the half-width moves
    by up to 0.4 px and each colour channel by up to 0.06, fixed for the clip."""
    n = len(attrs.shape)
    u = torch.rand(n, 5, generator=generator)  # (N, 5) in [0, 1]
    v = VELOCITY[attrs.motion]  # (N, 2)
    travel = v * (FRAMES - 1)  # (N, 2)
    low = RADIUS + 1.0  # the centre's lowest coordinate that keeps the object inside
    along = low + 3.0 * u[:, 0]  # (N,) how far from its border the path starts
    across = 8.0 + 16.0 * u[:, 1]
    start = torch.where(v != 0, along[:, None], across[:, None])  # (N, 2)
    start = torch.where(travel < 0, SIZE - start, start)  # paths that run to 0
    steps = torch.arange(FRAMES, dtype=torch.float32)
    centres = start[:, None] + steps[None, :, None] * v[:, None]  # (N, F, 2)
    r = RADIUS + 0.4 * (2 * u[:, 2] - 1)
    colour = (RGB[attrs.colour] + 0.06 * (2 * u[:, 2:5] - 1)).clamp(0, 1)
    frames = draw(
        attrs.shape.repeat_interleave(FRAMES),
        colour.repeat_interleave(FRAMES, 0),
        centres.reshape(-1, 2),
        r.repeat_interleave(FRAMES),
    )
    return frames.view(n, FRAMES, 3, SIZE, SIZE), centres


def describe_clips(
    attrs: ClipAttributes,
    generator: torch.Generator | None = None,
    *,
    wording: str = "train",
    p_omit: float = 0.0,
) -> list[str]:
    """One caption per row of ``attrs`` in a random template of ``wording`` ("train",
    "heldout" or "all") with random synonyms; the shape, the colour and the motion are each
    left out with probability ``p_omit`` (never all three)."""
    templates = templates_of(wording, TRAIN_TEMPLATES, HELDOUT_TEMPLATES)
    p_omit = check_float("p_omit", p_omit, low=0.0, high=1.0, high_open=True)
    n = len(attrs.shape)
    keep = torch.rand(n, 3, generator=generator) >= p_omit  # shape, colour, motion
    keep[~keep.any(1), 0] = True  # never an empty description
    pick = torch.randint(0, 2**31 - 1, (n, 4), generator=generator).tolist()
    captions = []
    for (shape, colour, motion), (k_shape, k_colour, k_motion), p in zip(
        torch.stack(attrs, 1).tolist(), keep.tolist(), pick
    ):
        noun = WORDS["shape"][shape] if k_shape else SHAPE_OMITTED
        words = [WORDS["colour"][colour][p[0] % len(WORDS["colour"][colour])]]
        np_ = " ".join((words if k_colour else []) + [noun[p[1] % len(noun)]])
        template = templates[p[2] % len(templates)][0 if k_motion else 1]
        way = MOTION_WORDS[motion][p[3] % len(MOTION_WORDS[motion])]
        text = template.format(np=np_, dir=way)
        captions.append(text.replace("a " + np_, _article(np_) + " " + np_, 1))
    return captions


def make_clips(
    n: int, seed: int = 0, *, split: str = "train", p_omit: float = 0.0
) -> ClipsSample:
    """``n`` captioned clips of ``split`` ("train", "heldout" or "all"): combinations and
    wordings both come from that split. Seeded by ``seed`` with its own generator.

    Returns ``ClipsSample(clips (n, 8, 3, 32, 32) in [0, 1], captions, attributes,
    centres)``."""
    n = check_int("n", n, low=1)
    seed = check_int("seed", seed, low=0)
    gen = torch.Generator().manual_seed(seed)
    attrs = sample_attributes(n, gen, split=split)
    clips, centres = render_clips(attrs, gen)
    captions = describe_clips(attrs, gen, wording=split, p_omit=p_omit)
    return ClipsSample(clips, captions, attrs, centres)


def clips_vocabulary() -> list[str]:
    """Every word of the shapes' captions and of the clips' (sorted)."""
    texts = [w for group in MOTION_WORDS for w in group]
    texts += [t for pair in TRAIN_TEMPLATES + HELDOUT_TEMPLATES for t in pair]
    words = {
        w
        for t in texts
        for w in split_words(t.replace("{np}", " ").replace("{dir}", " "))
    }
    return sorted(set(vocabulary()) | words)


def clips_tokenizer(max_len: int = 24) -> Tokenizer:
    """The tokenizer of the captioned clips: every word of :func:`clips_vocabulary`."""
    return Tokenizer(clips_vocabulary(), max_len=max_len)
