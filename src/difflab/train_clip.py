"""Training CLIP from scratch on captioned shapes, and the measurements Chapter 1 checks.

Every training step draws a fresh batch of captioned images of the *training* combinations
and wordings (``make_shapes`` seeded by the step number), so a run is fully determined by
its :class:`TrainConfig` and can stop and resume at any step with the same result.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .data.shapes import ATTRIBUTES, N_COMBOS, Attributes, class_prompts, combo_attributes, combo_index, \
    describe, make_shapes, render, split_combos
from .models.clip import CLIP, clip_loss, top1_retrieval, zero_shot_classify
from .utils import progress as progress_bar
from .utils import seed_everything


@dataclass
class TrainConfig:
    steps: int = 600  # optimiser steps
    batch_size: int = 128  # N pairs per step: the similarity matrix is N x N
    lr: float = 2e-3  # peak learning rate of AdamW
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    weight_decay: float = 0.05
    p_omit: float = 0.2  # chance that a caption leaves out each attribute ("a red circle")
    seed: int = 0  # seeds the initial weights and every batch


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay (as in CLIP, Radford et al. 2021, Sec. 2.5)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


def training_batch(step: int, cfg: TrainConfig):
    """The batch of step ``step``: the same on every run and after a resume."""
    return make_shapes(cfg.batch_size, seed=cfg.seed * 1_000_003 + step, split="train", p_omit=cfg.p_omit)


def new_clip(cfg: TrainConfig, model_config=None) -> CLIP:
    """A freshly initialised CLIP, its weights seeded by ``cfg.seed``."""
    seed_everything(cfg.seed)
    return CLIP(model_config)


def train_clip(model: CLIP, cfg: TrainConfig, *, state_path=None, save_every: int = 100, stop_at: int | None = None,
               progress: bool = True) -> dict:
    """Train ``model`` with the symmetric contrastive loss for ``cfg.steps`` steps (AdamW).

    ``state_path``: where to keep a resumable training state (model, optimiser, step,
    history), written every ``save_every`` steps and at the end; if the file exists, training
    resumes from it. ``stop_at`` stops early at that step (to show or test a resume).
    Returns the history: ``{"loss": [...], "logit_scale": [...]}``, one entry per step.
    """
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    history, start = {"loss": [], "logit_scale": []}, 0
    if state_path is not None and Path(state_path).exists():
        state = torch.load(state_path, weights_only=True)
        if state["config"] != asdict(cfg):
            raise ValueError(f"{state_path} was written with {state['config']}, not {asdict(cfg)}; "
                             f"delete it to start again")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history, start = state["history"], state["step"]
    end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    model.train()
    bar = progress_bar(range(start, end), total=end - start, desc="training CLIP", disable=not progress)
    for step in bar:
        images, captions, _ = training_batch(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss = clip_loss(*model(images.to(model.device), captions))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history["loss"].append(loss.item())
        history["logit_scale"].append(model.scale().item())
        bar.set_postfix_str(f"loss {loss.item():.3f}, scale {history['logit_scale'][-1]:.1f}", refresh=False)
        if state_path is not None and ((step + 1) % save_every == 0 or step + 1 == end):
            _save_state(state_path, model, opt, step + 1, history, cfg)
    model.eval()
    return history


def _save_state(path, model, opt, step, history, cfg):
    tmp = Path(str(path) + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step, "history": history,
                "config": asdict(cfg)}, tmp)
    tmp.replace(path)  # an interruption while writing leaves the previous state intact


def distinct_heldout_batch(n: int, generator: torch.Generator) -> Attributes:
    """``n`` different held-out combinations (at most 72), in random order."""
    combos = split_combos("heldout")
    if not 1 <= n <= len(combos):
        raise ValueError(f"n={n} is out of range: a batch of different held-out combinations has 1 to {len(combos)}")
    return combo_attributes(combos[torch.randperm(len(combos), generator=generator)[:n]])


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
            shift = torch.randint(1, len(values), (int(rows.sum()),), generator=generator)
            partner[a][rows] = (partner[a][rows] + shift) % len(values)
        both = Attributes(*(torch.stack([b, p], 1).reshape(-1) for b, p in zip(base, partner)))  # pairs side by side
        if len(combo_index(both).unique()) == n:
            return both


@torch.no_grad()
def evaluate_clip(model: CLIP, *, seed: int = 12345, n_batches: int = 20, batch_size: int = 64,
                  n_zero_shot: int = 2000) -> dict:
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
            images, captions = render(attrs, gen), describe(attrs, gen, wording="heldout")
            a, b = top1_retrieval(model.encode_image(images), model.encode_text(captions))
            i2t.append(a)
            t2i.append(b)
        out[f"{name}_i2t"], out[f"{name}_t2i"] = sum(i2t) / n_batches, sum(t2i) / n_batches
    test = make_shapes(n_zero_shot, seed=seed, split="heldout")
    for attribute in ATTRIBUTES:
        pred = zero_shot_classify(model, test.images, class_prompts(attribute))
        out[f"zero_shot_{attribute}"] = (pred == getattr(test.attributes, attribute)).float().mean().item()
    return out


__all__ = ["TrainConfig", "evaluate_clip", "hard_batch", "distinct_heldout_batch", "lr_at", "new_clip",
           "train_clip", "training_batch", "N_COMBOS"]
