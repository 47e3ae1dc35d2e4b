"""Train one of the book's models from its recipe and write the checkpoint that ships with it.

    python scripts/train.py --model spiral_ddpm          # Chapter 3's denoiser
    python scripts/train.py --model clip --steps 200 --out my_clip.safetensors
    python scripts/train.py --model t2i --resume         # go on after an interruption
    python scripts/train.py --list                       # the names and their files

The names, recipes and files are one table, ``difflab.registry.MODELS``; the recipes are in
``difflab.recipes``. The file (``src/difflab/checkpoints/NAME.safetensors`` unless ``--out``)
holds the weights, the recipe and a training log (steps, losses, seconds, machine, and the
measurements a chapter reads back: CLIP's held-out retrieval, the text-to-image model's
adherence every ``--log-every`` steps). A resumable state is written to ``<out>.state.pt``
every ``--save-every`` steps; ``--resume`` goes on from it (same batches, same result).

On several GPUs (or CPU processes) the same script runs under torchrun with
DistributedDataParallel; the recipe's batch size is the global one:

    torchrun --standalone --nproc_per_node 4 scripts/train.py --model t2i --batch-size 256

On CUDA the families whose networks gain from it (``registry.FAMILIES[f].mixed_precision``:
CLIP and the text-to-image U-Net) train under bf16 autocast; ``--precision float32`` turns
it off, and the log records which was used.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

import difflab
from difflab import latent, registry
from difflab.clip_eval import binding_retrieval, evaluate_clip
from difflab.recipes import changed
from difflab.saving import save_model
from difflab.t2i import adherence
from difflab.training import rank_and_world

#: the shipped files of these families were trained on one thread: fastest for their small
#: networks, and the same numbers run after run
ONE_THREAD = {"denoiser", "cond_denoiser", "flow", "reflow", "clip", "video_clip"}


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", choices=list(registry.MODELS), help="which model")
    ap.add_argument("--list", action="store_true", help="list the models and stop")
    ap.add_argument("--out", type=Path, help="file to write (default: the shipped one)")
    ap.add_argument("--resume", action="store_true", help="go on from <out>.state.pt")
    ap.add_argument("--steps", type=int, help="training steps (default: the recipe's)")
    ap.add_argument(
        "--batch-size", type=int, help="global batch size (default: recipe's)"
    )
    ap.add_argument("--save-every", type=int, default=100, help="steps between states")
    ap.add_argument("--stop-at", type=int, help="stop at this step (to test --resume)")
    ap.add_argument(
        "--log-every",
        type=int,
        default=1000,
        help="t2i, latent: steps between measurements",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument(
        "--precision",
        choices=["auto", "float32", "bfloat16"],
        default="auto",
        help="auto: bfloat16 autocast on CUDA where the family gains from it",
    )
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    if not args.list and args.model is None:
        ap.error("--model NAME is required (see --list)")
    return args


def the_recipe(args) -> dict:
    recipe = registry.recipe_of(args.model)
    run = {"steps": args.steps, "batch_size": args.batch_size}
    run = {k: v for k, v in run.items() if v is not None}
    return changed(recipe, train=run) if run else recipe


def start_processes(family: str, threads: int) -> torch.device:
    """The device of this process; under torchrun, its process group too."""
    world = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun
    device = difflab.device()
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
    if threads or family in ONE_THREAD:
        torch.set_num_threads(threads or 1)
    elif world > 1 and device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    return device


def autocast_type(precision: str, family: str, device: torch.device):
    """The dtype of the forward pass's autocast, None for plain float32."""
    if precision == "auto":
        gains = registry.FAMILIES[family].mixed_precision
        return torch.bfloat16 if gains and device.type == "cuda" else None
    return torch.bfloat16 if precision == "bfloat16" else None


def probe(recipe: dict, log: dict, device, scale: float = 2.0):
    """``callback(step, weights)``: the EMA weights so far, measured as the chapter measures
    the shipped model, appended to ``log`` with the step and the seconds since the run began
    (preparing the data included, the measurements not counted). Chapter 8's text-to-image model: its never-seen prompts
    (:func:`difflab.t2i.adherence`); a latent denoiser: those and the held-out two-object
    prompts (:func:`difflab.latent.adherence`)."""
    family = recipe["family"]
    model = registry.FAMILIES[family].ready(
        registry.build(recipe, device=device), recipe
    )
    model = model.to(device).eval()
    judge = registry.load(
        "clip"
    )  # Chapter 1's CLIP: Chapter 8's text encoder and judge
    if family == "t2i":
        measure = lambda: adherence(model, judge, scale, recipe=recipe)[1]  # noqa: E731
    else:
        vae = registry.load(registry.name_of(recipe["vae"]), device=device)
        clip = registry.load(registry.name_of(recipe["text"]))
        measure = lambda: latent.adherence(model, vae, clip, judge, scale)  # noqa: E731
    log.update(scale=scale, step=[], train_seconds=[])
    spent, last = [0.0], [time.perf_counter()]

    def record(step, weights):
        spent[0] += time.perf_counter() - last[0]
        model.net.load_state_dict(weights)
        shares = measure()
        log["step"].append(step)
        log["train_seconds"].append(round(spent[0], 1))
        for k, v in shares.items():
            log.setdefault(k, []).append(round(v, 4))
        last[0] = time.perf_counter()

    return record


def measurements(family: str, model, history: list[float]) -> dict:
    """What a chapter reads back from the file's log, besides the losses."""
    if family == "clip":
        return {
            "first_losses": history[:20],
            "final_logit_scale": model.scale().item(),
            "metrics": evaluate_clip(model),
            **(
                {"binding": binding_retrieval(model)}
                if model.config.vocabulary == "scenes"
                else {}
            ),
        }
    means = [history[i : i + 100] for i in range(0, len(history), 100)]
    per_100 = {"loss_per_100_steps": [round(sum(m) / len(m), 5) for m in means]}
    if family in ("t2i", "latent", "unclip_decoder", "prior", "video_clip", "video"):
        return per_100
    if family == "vae":
        return {**per_100, "scaling_factor": model.scaling_factor.item()}
    return {}


def main(argv=None) -> int:
    args = parse(argv)
    if args.list:
        for name, recipe in registry.MODELS.items():
            print(f"{name:26s} {recipe['family']:14s} checkpoints/{name}.safetensors")
        return 0
    recipe = the_recipe(args)
    family = recipe["family"]
    out = args.out or registry.CHECKPOINTS / f"{args.model}.safetensors"
    state = Path(f"{out}.state.pt")
    if state.exists() and not args.resume:
        sys.exit(
            f"{state} exists: --resume to go on from it, or delete it to start over"
        )
    device = start_processes(family, args.threads)
    rank, world = rank_and_world()
    log = {}
    autocast = autocast_type(args.precision, family, device)
    options = {
        "state": state,
        "save_every": args.save_every,
        "stop_at": args.stop_at,
        "autocast": autocast,
    }
    if family in ("t2i", "latent") and args.log_every and rank == 0:
        options.update(
            callback=probe(recipe, log, device), callback_every=args.log_every
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, history = registry.train(
        recipe, device=device, progress=not args.no_progress, **options
    )
    seconds = time.perf_counter() - start
    if len(history) < recipe["train"]["steps"]:
        print(f"stopped at step {len(history)}; run again with --resume to go on")
        return 0
    if rank == 0:
        net = getattr(model, "net", model)  # the network inside a ready wrapper
        log.update(measurements(family, model, history))
        log.update(
            steps=len(history),
            final_loss=round(sum(history[-200:]) / len(history[-200:]), 5),
            seconds=round(seconds),
            trained_with=f"torch {torch.__version__}, {platform.machine()}, "
            f"{world} x {device.type}, {torch.get_num_threads()} threads, "
            f"{'bfloat16 autocast' if autocast else 'float32'}",
            script=f"scripts/train.py --model {args.model}",
        )
        save_model(net, out, recipe, log=log)
        state.unlink()
        print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB) in {seconds:.0f} s")
    if world > 1:
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
