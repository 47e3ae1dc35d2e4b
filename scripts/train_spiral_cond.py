"""Train the class-conditional spiral denoiser of Chapters 5-7 from scratch and write the checkpoint
that ships with the book.

    python scripts/train_spiral_cond.py           # writes src/difflab/checkpoints/spiral_cond.safetensors
    python scripts/train_spiral_cond.py --out other.safetensors

The recipe is difflab.recipes.SPIRAL_COND (data and its parts as classes, network, schedule, condition
dropout, training run and seeds); it is
stored in the file's metadata, and tests/test_recipes.py checks that the shipped file matches it.
Training saves a resumable checkpoint next to the output every 500 steps: run the same command
again after an interruption and it continues where it stopped.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from difflab.recipes import CHECKPOINTS, SPIRAL_COND, save_model, train_cond_denoiser


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=CHECKPOINTS / "spiral_cond.safetensors")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # fastest for this small network, and the same numbers run after run
    args.out.parent.mkdir(parents=True, exist_ok=True)
    resume = args.out.with_suffix(".resume.pt")
    start = time.perf_counter()
    model, history = train_cond_denoiser(SPIRAL_COND, checkpoint=resume)
    save_model(model, args.out, SPIRAL_COND)
    resume.unlink()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB) after {len(history)} steps, "
          f"final loss {sum(history[-200:]) / 200:.4f}, {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
