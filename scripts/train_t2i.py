"""Train Chapter 8's text-to-image U-Net and write src/difflab/checkpoints/t2i.safetensors.

    python scripts/train_t2i.py                 # the shipped recipe (difflab.t2i.T2I_RECIPE)
    python scripts/train_t2i.py --steps 20      # a quick try
    python scripts/train_t2i.py --out my.safetensors

Seeded; shows progress; saves the full training state every --checkpoint-every steps to
<out>.state.pt and resumes from it when run again with the same settings (delete it to start over).
The recipe is stored in the safetensors metadata beside the weights.
"""
from __future__ import annotations

import argparse
import time

import torch

from difflab.t2i import T2I_CHECKPOINT, T2I_RECIPE, train_t2i


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=T2I_RECIPE["steps"])
    p.add_argument("--out", default=str(T2I_CHECKPOINT))
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    recipe = dict(T2I_RECIPE, steps=a.steps)
    start = time.perf_counter()
    _, history = train_t2i(recipe, out=a.out, checkpoint_every=a.checkpoint_every)
    k = max(1, len(history) // 10)
    print(f"wrote {a.out} in {time.perf_counter() - start:.0f} s; loss first {sum(history[:k]) / k:.4f} "
          f"last {sum(history[-k:]) / k:.4f}")


if __name__ == "__main__":
    main()
