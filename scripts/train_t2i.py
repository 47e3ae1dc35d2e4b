"""Train Chapter 8's text-to-image U-Net and write src/difflab/checkpoints/t2i.safetensors.

    python scripts/train_t2i.py                 # the shipped recipe (difflab.t2i.T2I_RECIPE)
    python scripts/train_t2i.py --steps 20      # a quick try
    python scripts/train_t2i.py --out my.safetensors

Seeded; shows progress; saves the full training state every --checkpoint-every steps to
<out>.state.pt and resumes from it when run again with the same settings (delete it to start over).
The recipe is stored in the safetensors metadata beside the weights, and so is a training log: every
--log-every steps the EMA weights so far are measured on Chapter 8's never-seen prompts (colour, shape,
size and position right, CLIP score), which Chapter 8 reads back to tell how the model learned.

On several GPUs (or CPU processes), the same script runs under torchrun with DistributedDataParallel:

    torchrun --standalone --nproc_per_node 4 scripts/train_t2i.py --batch-size 256

Each process draws batch-size / nproc examples a step and the gradients are averaged, so the recipe's
batch size is the global one. The backend is nccl on CUDA, gloo on CPU.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from difflab.recipes import changed
from difflab.t2i import T2I_CHECKPOINT, T2I_RECIPE, train_t2i
from difflab.training import rank_and_world


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--steps", type=int, default=T2I_RECIPE["train"]["steps"])
    p.add_argument(
        "--batch-size",
        type=int,
        default=T2I_RECIPE["train"]["batch_size"],
        help="global batch size",
    )
    p.add_argument(
        "--n-images",
        type=int,
        default=T2I_RECIPE["data"]["n_images"],
        help="size of the training set",
    )
    p.add_argument("--out", default=str(T2I_CHECKPOINT))
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads per process (0: torch's default)",
    )
    p.add_argument(
        "--log-every",
        type=int,
        default=1000,
        help="measure adherence on the never-seen prompts every this many steps, into the file's "
        "training log (0: no log)",
    )
    a = p.parse_args()
    recipe = changed(
        T2I_RECIPE,
        train={"steps": a.steps, "batch_size": a.batch_size},
        data={"n_images": a.n_images},
    )

    world = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun
    device = torch.device("cpu")
    if world > 1:
        use_cuda = torch.cuda.is_available()
        if use_cuda:
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    if a.threads:
        torch.set_num_threads(a.threads)
    elif world > 1 and device.type == "cpu":
        torch.set_num_threads(
            max(1, (os.cpu_count() or 1) // world)
        )  # do not oversubscribe the cores

    start = time.perf_counter()
    _, history = train_t2i(
        recipe,
        out=a.out,
        checkpoint_every=a.checkpoint_every,
        device=device,
        log_every=a.log_every,
    )
    k = max(1, len(history) // 10)
    if rank_and_world()[0] == 0:
        print(
            f"wrote {a.out} in {time.perf_counter() - start:.0f} s ({world} process{'es' * (world > 1)} on "
            f"{device.type}); loss first {sum(history[:k]) / k:.4f} last {sum(history[-k:]) / k:.4f}"
        )
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
