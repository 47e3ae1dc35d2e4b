"""Train a spiral denoiser from scratch and write the checkpoint that ships with the book.

    python scripts/train_spiral.py                 # Chapter 3's denoiser: checkpoints/spiral_ddpm.safetensors
    python scripts/train_spiral.py --model cond    # Chapters 5-7's class-conditional one: spiral_cond.safetensors
    python scripts/train_spiral.py --out other.safetensors

The recipes are difflab.recipes.SPIRAL_DDPM and SPIRAL_COND (data, network, schedule, training run,
condition dropout and seeds); each is stored in its file's metadata, and tests/test_recipes.py
checks that the shipped files match them. Training saves a resumable checkpoint next to the output
every 500 steps: run the same command again after an interruption and it continues where it stopped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from difflab.recipes import (
    CHECKPOINTS,
    SPIRAL_COND,
    SPIRAL_DDPM,
    train_cond_denoiser,
    train_spiral_denoiser,
)
from difflab.saving import save_model

MODELS = {  # name: (recipe, training function, file name)
    "ddpm": (SPIRAL_DDPM, train_spiral_denoiser, "spiral_ddpm.safetensors"),
    "cond": (SPIRAL_COND, train_cond_denoiser, "spiral_cond.safetensors"),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", choices=sorted(MODELS), default="ddpm")
    ap.add_argument(
        "--out",
        type=Path,
        help="output file (default: the shipped file in src/difflab/checkpoints/)",
    )
    args = ap.parse_args(argv)
    recipe, train_fn, name = MODELS[args.model]
    out = args.out or CHECKPOINTS / name
    torch.set_num_threads(
        1
    )  # fastest for this small network, and the same numbers run after run
    out.parent.mkdir(parents=True, exist_ok=True)
    resume = Path(f"{out}.state.pt")  # the resumable state (ignored by git)
    start = time.perf_counter()
    model, history = train_fn(recipe, checkpoint=resume)
    save_model(model, out, recipe)
    resume.unlink()
    print(
        f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB) after {len(history)} steps, "
        f"final loss {sum(history[-200:]) / 200:.4f}, {time.perf_counter() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
