"""CLIP's measurements in Chapter 1: retrieval in random and in hard batches, and zero-shot
classification, all on held-out combinations and held-out wordings. (CLIP is trained like every
model of the book: ``difflab.registry.train("clip")``, its parts in ``registry.FAMILIES``.)"""

from __future__ import annotations

import torch

from .data.scenes import Scene, caption_of, render_scenes, scene_pairs, swap_colours
from .data.shapes import (
    ATTRIBUTES,
    Attributes,
    class_prompts,
    combo_attributes,
    combo_index,
    describe,
    make_shapes,
    render,
    split_combos,
)
from .models.clip import CLIP, top1_retrieval, zero_shot_classify


def distinct_heldout_batch(n: int, generator: torch.Generator) -> Attributes:
    """``n`` different held-out combinations (at most 72), in random order."""
    combos = split_combos("heldout")
    if not 1 <= n <= len(combos):
        raise ValueError(
            f"n={n} is out of range: a batch of different held-out combinations has 1 to {len(combos)}"
        )
    return combo_attributes(
        combos[torch.randperm(len(combos), generator=generator)[:n]]
    )


def hard_batch(n: int, generator: torch.Generator) -> Attributes:
    """``n`` (even) different combinations in pairs that differ in one attribute only: n / 2
    held-out combinations, each with a partner that changes one attribute. (Two held-out
    combinations always differ in two attributes or more, so the partners are training
    combinations; their captions still use the held-out wordings.)"""
    if n % 2 or not 2 <= n <= 2 * len(split_combos("heldout")):
        raise ValueError(f"n={n} must be even and between 2 and 144")
    while True:
        base = distinct_heldout_batch(n // 2, generator)
        partner = [t.clone() for t in base]
        which = torch.randint(4, (n // 2,), generator=generator)
        for a, values in enumerate(ATTRIBUTES.values()):
            rows = which == a
            shift = torch.randint(
                1, len(values), (int(rows.sum()),), generator=generator
            )
            partner[a][rows] = (partner[a][rows] + shift) % len(values)
        both = Attributes(
            *(torch.stack([b, p], 1).reshape(-1) for b, p in zip(base, partner))
        )  # pairs side by side
        if len(combo_index(both).unique()) == n:
            return both


@torch.no_grad()
def evaluate_clip(
    model: CLIP,
    *,
    seed: int = 12345,
    n_batches: int = 20,
    batch_size: int = 64,
    n_zero_shot: int = 2000,
) -> dict:
    """The numbers Chapter 1 checks, all on held-out combinations and held-out wordings:

    - ``retrieval_i2t`` / ``retrieval_t2i``: top-1 retrieval in batches of ``batch_size``
      pairs with different combinations, image -> text and text -> image (mean of batches);
    - ``hard_i2t`` / ``hard_t2i``: the same in hard batches (pairs differing in one attribute);
    - ``zero_shot_<attribute>``: accuracy of zero-shot classification by prompts
      (:func:`difflab.data.shapes.class_prompts`) for shape, colour, size and position.
    """
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, make in [("retrieval", distinct_heldout_batch), ("hard", hard_batch)]:
        i2t, t2i = [], []
        for _ in range(n_batches):
            attrs = make(batch_size, gen)
            images, captions = (
                render(attrs, gen),
                describe(attrs, gen, wording="heldout"),
            )
            a, b = top1_retrieval(
                model.encode_image(images), model.encode_text(captions)
            )
            i2t.append(a)
            t2i.append(b)
        out[f"{name}_i2t"], out[f"{name}_t2i"] = (
            sum(i2t) / n_batches,
            sum(t2i) / n_batches,
        )
    test = make_shapes(n_zero_shot, seed=seed, split="heldout")
    for attribute in ATTRIBUTES:
        pred = zero_shot_classify(model, test.images, class_prompts(attribute))
        out[f"zero_shot_{attribute}"] = (
            (pred == getattr(test.attributes, attribute)).float().mean().item()
        )
    return out


@torch.no_grad()
def binding_retrieval(clip: CLIP, repeats: int = 4, seed: int = 0) -> dict:
    """Image-to-text retrieval on the held-out two-object scenes, each picture against two
    captions: its own ("a red circle to the left of a blue square") and either the
    *binding-swapped* one, the same words with the colours exchanged ("a blue circle to the
    left of a red square"), or that of another held-out pair ("random"). Returns the share of
    pictures whose own caption scores higher, {"swapped": ..., "random": ...}; 0.5 is chance.
    A bag of words cannot tell the swapped caption from the true one (Yuksekgonul et al.
    2023, Sec. 3)."""
    pairs = scene_pairs("heldout")
    gen = torch.Generator().manual_seed(seed)
    p = pairs.shape.shape[1]
    size = torch.randint(2, (2, p * repeats), generator=gen)
    scene = Scene(pairs.shape.repeat(1, repeats), pairs.colour.repeat(1, repeats), size)
    images = render_scenes(scene, gen)
    other = Scene(*(a.roll(1, dims=1) for a in scene))  # the next pair: always another
    img = clip.encode_image(images)
    own = (img * clip.encode_text(caption_of(scene))).sum(1)
    out = {}
    for name, alt in (("swapped", swap_colours(scene)), ("random", other)):
        score = (img * clip.encode_text(caption_of(alt))).sum(1)
        out[name] = (own > score).float().mean().item()
    return out


@torch.no_grad()
def modality_gap(clip: CLIP, images: torch.Tensor, captions: list[str]) -> dict:
    """Where CLIP puts pictures and sentences (Liang et al. 2022, Sec. 3): for N matching
    (image, caption) pairs, the mean cosine of each caption with its own picture ("caption,
    own picture"), of two different pictures ("two pictures") and of two different captions
    ("two captions"), and the distance between the two clouds' centres ("gap": the length of
    mean image embedding - mean text embedding)."""
    if len(images) != len(captions) or len(images) < 2:
        raise ValueError(
            f"{len(images)} images and {len(captions)} captions; give N >= 2 matching pairs"
        )
    img, txt = clip.encode_image(images).float(), clip.encode_text(captions).float()
    off = ~torch.eye(
        len(img), dtype=torch.bool, device=img.device
    )  # two different rows
    return {
        "caption, own picture": (img * txt).sum(1).mean().item(),
        "two pictures": (img @ img.T)[off].mean().item(),
        "two captions": (txt @ txt.T)[off].mean().item(),
        "gap": (img.mean(0) - txt.mean(0)).norm().item(),
    }
