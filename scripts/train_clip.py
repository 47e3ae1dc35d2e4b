"""Train Chapter 1's CLIP from scratch and write the checkpoint that ships with the book.

    python scripts/train_clip.py                    # train (or resume) and write the checkpoint
    python scripts/train_clip.py --out my_clip.safetensors --steps 200

The recipe is `difflab.recipes.CLIP_RECIPE`: the data (captions leave out attributes with
probability p_omit), the model (`CLIPConfig()`) and the training run (`difflab.train_clip.clip_run()`,
trained by the book's one loop, `difflab.training.train`). A resumable training state is written
every 100 steps to `<out>.state.pt`; run the same command again after an interruption and it goes
on from there (same batches, same result). At the end the model is measured on held-out
combinations and wordings (`evaluate_clip`) and saved by `difflab.saving.save_model` with the
recipe and a training log (the first 20 losses, so a test can check that the recipe reproduces
them, and the measured numbers) in its metadata. It trains on the GPU when there is one
(`difflab.device()`, or `DIFFLAB_DEVICE=cpu`).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

import difflab
from difflab.recipes import CLIP_CHECKPOINT, CLIP_RECIPE, changed
from difflab.saving import save_model
from difflab.train_clip import evaluate_clip, new_clip, train_clip
from difflab.training import TrainConfig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=CLIP_CHECKPOINT,
        help=f"checkpoint to write (default {CLIP_CHECKPOINT})",
    )
    ap.add_argument(
        "--steps",
        type=int,
        default=CLIP_RECIPE["train"]["steps"],
        help="training steps",
    )
    ap.add_argument(
        "--seed",
        type=int,
        default=CLIP_RECIPE["train"]["seed"],
        help="seed of the weights and batches",
    )
    ap.add_argument(
        "--stop-at", type=int, default=None, help="stop at this step (to test resuming)"
    )
    args = ap.parse_args(argv)

    recipe = changed(CLIP_RECIPE, train={"steps": args.steps, "seed": args.seed})
    cfg = TrainConfig(**recipe["train"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    state = Path(f"{args.out}.state.pt")
    print(f"recipe: {recipe}" + (f" (resuming from {state})" if state.exists() else ""))
    device = difflab.device()
    model = new_clip(cfg).to(device)
    start = time.perf_counter()
    history = train_clip(
        model,
        cfg,
        p_omit=recipe["data"]["p_omit"],
        checkpoint=state,
        stop_at=args.stop_at,
    )
    seconds = time.perf_counter() - start
    if len(history["loss"]) < cfg.steps:
        print(
            f"stopped at step {len(history['loss'])} of {cfg.steps}; run again to resume"
        )
        return 0
    metrics = evaluate_clip(model)
    print("held-out:", {k: round(v, 4) for k, v in metrics.items()})
    log = {
        "first_losses": history["loss"][:20],
        "final_loss": history["loss"][-1],
        "final_logit_scale": model.scale().item(),
        "metrics": metrics,
        "train_seconds_this_session": round(seconds, 1),
        "trained_with": f"torch {torch.__version__}, {platform.machine()}, {device.type}, "
        f"{torch.get_num_threads()} threads",
        "script": "scripts/train_clip.py",
    }
    save_model(model, args.out, recipe, log=log)
    state.unlink()
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) in {seconds:.0f} s of training"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
