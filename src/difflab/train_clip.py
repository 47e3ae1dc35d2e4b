"""Training CLIP from scratch on captioned shapes, and the measurements Chapter 1 checks.

Training is :func:`difflab.training.train`, the book's one loop, with CLIP's run (:func:`clip_run`)
and a batch function: every step draws a fresh batch of captioned images of the *training*
combinations and wordings (``make_shapes`` seeded by the step number), so a run is fully
determined by its :class:`~difflab.training.TrainConfig` and can stop and resume at any step with
the same result.
"""

from __future__ import annotations

import torch

from .data.shapes import (
    ATTRIBUTES,
    N_COMBOS,
    Attributes,
    class_prompts,
    combo_attributes,
    combo_index,
    describe,
    make_shapes,
    render,
    split_combos,
)
from .models.clip import CLIP, CLIPConfig, clip_loss, top1_retrieval, zero_shot_classify
from .training import TrainConfig, train
from .utils import local_seed

P_OMIT = 0.2  # chance that a caption leaves out each attribute ("a red circle")


def clip_run(**changes) -> TrainConfig:
    """CLIP's training run, with ``changes`` (e.g. ``steps=60``): 600 steps of 128 pairs (the
    similarity matrix is 128 x 128), AdamW with lr 2e-3, betas (0.9, 0.98) and weight decay 0.05,
    100 steps of warm-up, then a cosine decay to 0 (as in CLIP, Radford et al. 2021, Sec. 2.5);
    ``seed`` seeds the initial weights and every batch."""
    run = dict(
        steps=600,
        batch_size=128,
        lr=2e-3,
        warmup=100,
        min_lr=0.0,
        weight_decay=0.05,
        betas=(0.9, 0.98),
        seed=0,
    )
    return TrainConfig(**{**run, **changes})


def training_batch(step: int, cfg: TrainConfig, p_omit: float = P_OMIT):
    """The batch of step ``step``: the same on every run and after a resume."""
    return make_shapes(
        cfg.batch_size, seed=cfg.seed * 1_000_003 + step, split="train", p_omit=p_omit
    )


def new_clip(cfg: TrainConfig, model_config: CLIPConfig | None = None) -> CLIP:
    """A freshly initialised CLIP, its weights seeded by ``cfg.seed`` in a local random state
    (:func:`difflab.utils.local_seed`: the process's own is left as it was)."""
    with local_seed(cfg.seed):
        return CLIP(model_config)


def contrastive_loss(model: CLIP, batch, generator=None) -> torch.Tensor:
    """CLIP's symmetric loss (:func:`difflab.models.clip.clip_loss`) on a batch of (images, captions),
    in the signature :func:`difflab.training.train` calls."""
    images, captions = batch
    return clip_loss(*model(images, captions))


def train_clip(
    model: CLIP,
    cfg: TrainConfig,
    *,
    p_omit: float = P_OMIT,
    checkpoint=None,
    stop_at: int | None = None,
    progress: bool = True,
) -> dict:
    """Train ``model`` with the symmetric contrastive loss for ``cfg.steps`` steps.

    ``checkpoint``: where to keep a resumable training state, written every 100 steps and at the
    end; if the file exists, training resumes from it. ``stop_at`` stops early at that step.
    Returns the history: ``{"loss": [...], "logit_scale": [...]}``, one entry per step.
    """
    scales = []

    def batch(
        step, generator
    ):  # fresh images; the step number seeds them (the generator is not used)
        images, captions, _ = training_batch(step, cfg, p_omit)
        return images, captions

    history = train(
        model,
        contrastive_loss,
        batch,
        cfg,
        checkpoint=checkpoint,
        checkpoint_every=100,
        stop_at=stop_at,
        desc="training CLIP",
        progress=progress,
        callback=lambda step, weights: scales.append(model.scale().item()),
        callback_every=1,
    )
    return {"loss": history, "logit_scale": scales}


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


__all__ = [
    "P_OMIT",
    "clip_run",
    "contrastive_loss",
    "evaluate_clip",
    "hard_batch",
    "distinct_heldout_batch",
    "new_clip",
    "train_clip",
    "training_batch",
    "N_COMBOS",
]
