"""Two-object scenes: one of Chapter 1's shapes in each half of the picture, and a caption that
names both (the latent-space chapter).

Each scene is 32 x 32 RGB on black: a *left* object in the left half and a *right* object in
the right half, each one of the 4 shapes in one of the 6 colours, small or medium, its centre
jittered. The two colours always differ, so a caption that swaps them describes another
scene. Captions name both objects in one of several sentences, in either order:

    "a red circle to the left of a blue square"
    "a blue square to the right of a red circle"

A model that reads the sentence as a bag of words ({a, red, circle, blue, square, left, ...})
cannot tell these from "a blue circle to the left of a red square": it must *bind* each colour
to its own shape and side (Yuksekgonul et al. 2023).

Held-out split (as in :mod:`difflab.data.shapes`):
- pairs: a (left object, right object) pair is held out when
  (left shape + left colour + 2 right shape + 3 right colour) % 7 == 0, about one in seven;
  every object still appears on both sides in training;
- wordings: two of the sentence templates are used only for held-out captions; all their
  words occur in training captions.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import check_int
from .shapes import (
    COLOURS,
    RGB,
    SHAPES,
    SIZES,
    WORDS,
    _article,
    draw,
    templates_of,
    vocabulary,
)
from .tokenizer import Tokenizer, split_words

SIDES = ["left", "right"]
SCENE_SIZES = SIZES[
    :2
]  # small and medium: a large shape does not fit in half the picture
SIDE_X = torch.tensor([8.5, 23.5])  # the centre column of each half
N_OBJECTS = len(SHAPES) * len(COLOURS)  # 24 (shape, colour) objects

# {L}, {R}: the left and right objects' noun phrases ("small red circle")
TRAIN_TEMPLATES = [
    "{art_l} {L} to the left of {art_r} {R}",
    "{art_r} {R} to the right of {art_l} {L}",
    "on the left {art_l} {L}, on the right {art_r} {R}",
    "{art_l} {L} on the left and {art_r} {R} on the right",
]
HELDOUT_TEMPLATES = [
    "{art_r} {R} on the right and {art_l} {L} on the left",
    "left: {art_l} {L}, right: {art_r} {R}",
]


class Scene(NamedTuple):
    """The attributes of N scenes, each (2, N) long: row 0 the left object, row 1 the right."""

    shape: torch.Tensor
    colour: torch.Tensor
    size: torch.Tensor


class ScenesSample(NamedTuple):
    images: torch.Tensor  # (N, 3, 32, 32) float in [0, 1]
    captions: list[str]
    scene: Scene


def pair_index(scene: Scene) -> torch.Tensor:
    """One integer in [0, 576) per scene naming its (left object, right object) pair."""
    obj = scene.shape * len(COLOURS) + scene.colour  # (2, N) in [0, 24)
    return obj[0] * N_OBJECTS + obj[1]


def is_heldout_pair(scene: Scene) -> torch.Tensor:
    """True for the held-out (left, right) pairs (see the module docstring)."""
    s, c = scene.shape, scene.colour
    return (s[0] + c[0] + 2 * s[1] + 3 * c[1]) % 7 == 0


def scene_pairs(split: str) -> Scene:
    """Every (left object, right object) pair of ``split`` ("train", "heldout" or "all") whose
    colours differ, small objects: a Scene of (2, P)."""
    if split not in ("train", "heldout", "all"):
        raise ValueError(
            f"split={split!r} is not allowed; use 'train', 'heldout' or 'all'"
        )
    i = torch.arange(N_OBJECTS**2)
    obj = torch.stack([i // N_OBJECTS, i % N_OBJECTS])  # (2, 576)
    scene = Scene(obj // len(COLOURS), obj % len(COLOURS), torch.zeros_like(obj))
    keep = scene.colour[0] != scene.colour[1]
    if split != "all":
        held = is_heldout_pair(scene)
        keep &= held if split == "heldout" else ~held
    return Scene(*(a[:, keep] for a in scene))


def render_scenes(
    scene: Scene, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw both objects of each scene: (N, 3, 32, 32) in [0, 1]. Each object's centre moves
    by up to 1 px across and 4 px up or down, its radius by 0.4 px, its colour by 0.06."""
    n = scene.shape.shape[1]
    u = torch.rand(2, n, 6, generator=generator) * 2 - 1  # (2, N, 6) in [-1, 1]
    images = torch.zeros(n, 3, 32, 32)
    for side in range(2):
        centre = torch.stack(
            [SIDE_X[side] + u[side, :, 0], 16.0 + 4 * u[side, :, 1]], 1
        )
        r = torch.tensor([4.5, 6.0])[scene.size[side]] + 0.4 * u[side, :, 2]
        colour = (RGB[scene.colour[side]] + 0.06 * u[side, :, 3:]).clamp(0, 1)
        images = images + draw(scene.shape[side], colour, centre, r)
    return images.clamp(0, 1)


def phrase(shape: int, colour: int, size: int | None, pick: list[int]) -> str:
    """The noun phrase of one object, "small red circle", with random synonyms."""
    words = [WORDS["size"][size][pick[0] % 3]] if size is not None else []
    words.append(WORDS["colour"][colour][pick[1] % len(WORDS["colour"][colour])])
    nouns = WORDS["shape"][shape]
    words.append(nouns[pick[2] % len(nouns)])
    return " ".join(words)


def describe_scenes(
    scene: Scene,
    generator: torch.Generator | None = None,
    *,
    wording: str = "train",
    p_size: float = 0.5,
) -> list[str]:
    """One caption per scene in a random template of ``wording`` ("train", "heldout" or
    "all"), naming both objects' colours and shapes, and their sizes with probability
    ``p_size``."""
    templates = templates_of(wording, TRAIN_TEMPLATES, HELDOUT_TEMPLATES)
    n = scene.shape.shape[1]
    sized = (torch.rand(n, generator=generator) < p_size).tolist()
    pick = torch.randint(0, 2**31 - 1, (n, 7), generator=generator).tolist()
    captions = []
    for i in range(n):
        p = pick[i]
        np_ = [
            phrase(
                scene.shape[s, i].item(),
                scene.colour[s, i].item(),
                scene.size[s, i].item() if sized[i] else None,
                p[3 * s : 3 * s + 3],
            )
            for s in range(2)
        ]
        template = templates[p[6] % len(templates)]
        captions.append(
            template.format(
                L=np_[0], R=np_[1], art_l=_article(np_[0]), art_r=_article(np_[1])
            )
        )
    return captions


def swap_colours(scene: Scene) -> Scene:
    """The same scenes with the two objects' colours exchanged: the *binding-swapped* scene,
    named by the same bag of words."""
    return Scene(scene.shape, scene.colour.flip(0), scene.size)


def caption_of(scene: Scene) -> list[str]:
    """One fixed caption per scene, "a red circle to the left of a blue square" (no sizes),
    for measuring retrieval against a caption that differs only in what it says."""
    return [
        f"{_article(COLOURS[cl])} {COLOURS[cl]} {SHAPES[sl]} to the left of "
        f"{_article(COLOURS[cr])} {COLOURS[cr]} {SHAPES[sr]}"
        for sl, cl, sr, cr in zip(
            scene.shape[0].tolist(),
            scene.colour[0].tolist(),
            scene.shape[1].tolist(),
            scene.colour[1].tolist(),
        )
    ]


def sample_scenes(
    n: int, generator: torch.Generator | None = None, *, split: str = "train"
) -> Scene:
    """``n`` scenes whose pairs are drawn uniformly from ``split``, sizes at random."""
    pairs = scene_pairs(split)
    pick = torch.randint(pairs.shape.shape[1], (n,), generator=generator)
    size = torch.randint(len(SCENE_SIZES), (2, n), generator=generator)
    return Scene(pairs.shape[:, pick], pairs.colour[:, pick], size)


def make_scenes(n: int, seed: int = 0, *, split: str = "train") -> ScenesSample:
    """``n`` captioned two-object scenes of ``split`` ("train", "heldout" or "all"): pairs and
    wordings both come from that split; seeded by ``seed`` with its own generator.

    Returns ``ScenesSample(images (n, 3, 32, 32) in [0, 1], captions, scene)``.
    """
    n = check_int("n", n, low=1)
    seed = check_int("seed", seed, low=0)
    gen = torch.Generator().manual_seed(seed)
    scene = sample_scenes(n, gen, split=split)
    images = render_scenes(scene, gen)
    return ScenesSample(images, describe_scenes(scene, gen, wording=split), scene)


def scenes_vocabulary() -> list[str]:
    """Every word of the single-object captions and of the scene captions (sorted)."""
    words = {w for t in TRAIN_TEMPLATES + HELDOUT_TEMPLATES for w in split_words(t)}
    words -= {"art", "l", "r"}  # the placeholders' names
    return sorted(set(vocabulary()) | words)


def scenes_tokenizer(max_len: int = 24) -> Tokenizer:
    """The tokenizer of the latent-space chapter's CLIP: Chapter 1's words and the scenes'."""
    return Tokenizer(scenes_vocabulary(), max_len=max_len)
