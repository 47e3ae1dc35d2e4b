"""Train Chapter 1's CLIP from scratch and write the checkpoint that ships with the book.

    python scripts/train_clip.py                    # train (or resume) and write the checkpoint
    python scripts/train_clip.py --out my_clip.safetensors --steps 200

The recipe is `difflab.train_clip.TrainConfig()` (steps, batch size, learning rate, seed) and
`difflab.models.clip.CLIPConfig()` (the model). A resumable training state is written every
100 steps to `<out>.state.pt`; run the same command again after an interruption and it goes
on from there (same batches, same result). At the end the model is measured on held-out
combinations and wordings (`evaluate_clip`) and saved as safetensors with the recipe, the seed,
the first 20 losses (so a test can check that the recipe reproduces them) and the measured
numbers in its metadata; the same goes to `<out>.json` beside it for people to read.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import torch

from difflab.models.clip import CHECKPOINT, save_clip
from difflab.train_clip import TrainConfig, evaluate_clip, new_clip, train_clip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=CHECKPOINT, help=f"checkpoint to write (default {CHECKPOINT})")
    ap.add_argument("--steps", type=int, default=TrainConfig.steps, help="training steps")
    ap.add_argument("--seed", type=int, default=TrainConfig.seed, help="seed of the weights and batches")
    ap.add_argument("--stop-at", type=int, default=None, help="stop at this step (to test resuming)")
    args = ap.parse_args(argv)

    cfg = TrainConfig(steps=args.steps, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    state = Path(str(args.out) + ".state.pt")
    print(f"recipe: {dataclasses.asdict(cfg)}" + (f" (resuming from {state})" if state.exists() else ""))
    model = new_clip(cfg)
    start = time.perf_counter()
    history = train_clip(model, cfg, state_path=state, stop_at=args.stop_at)
    seconds = time.perf_counter() - start
    if len(history["loss"]) < cfg.steps:
        print(f"stopped at step {len(history['loss'])} of {cfg.steps}; run again to resume")
        return 0
    metrics = evaluate_clip(model)
    print("held-out:", json.dumps({k: round(v, 4) for k, v in metrics.items()}))
    record = {
        "recipe": dataclasses.asdict(cfg),
        "seed": cfg.seed,
        "first_losses": history["loss"][:20],
        "final_loss": history["loss"][-1],
        "final_logit_scale": history["logit_scale"][-1],
        "metrics": metrics,
        "train_seconds_this_session": round(seconds, 1),
        "trained_with": f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads",
        "script": "scripts/train_clip.py",
    }
    save_clip(model, args.out, record)
    Path(str(args.out).removesuffix(".safetensors") + ".json").write_text(json.dumps(record, indent=1) + "\n")
    state.unlink()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
