"""Train the flow-matching models of the chapter after DDIM and write the checkpoints that ship
with the book.

    python scripts/train_flow.py                       # SPIRAL_FLOW: checkpoints/spiral_flow.safetensors
    python scripts/train_flow.py --model logit_normal  # SD3's noise levels: spiral_flow_logit_normal.safetensors
    python scripts/train_flow.py --reflow              # reflow of the shipped spiral_flow: spiral_flow_reflow.safetensors
    python scripts/train_flow.py --out other.safetensors

The recipes are difflab.recipes.SPIRAL_FLOW, SPIRAL_FLOW_LOGIT_NORMAL and SPIRAL_REFLOW (data,
network, noise-level sampling, training run, seeds; for reflow also the pairs); each is stored in
its file's metadata with a short training log, and tests/test_flow.py checks that the shipped
files match them. ``--reflow`` (the same as ``--model reflow``) needs spiral_flow.safetensors: it
draws its (x0, noise) pairs by solving that model's ODE, then trains a copy of it on them (Liu et
al. 2023, Algorithm 1). Training saves a resumable state next to the output every 500 steps: run
the same command again after an interruption and it continues where it stopped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from difflab.recipes import (
    CHECKPOINTS,
    SPIRAL_FLOW,
    SPIRAL_FLOW_LOGIT_NORMAL,
    SPIRAL_REFLOW,
    load_flow_model,
    train_flow_model,
    train_reflow_model,
)
from difflab.saving import save_model

MODELS = {  # name: (recipe, file name)
    "flow": (SPIRAL_FLOW, "spiral_flow.safetensors"),
    "logit_normal": (SPIRAL_FLOW_LOGIT_NORMAL, "spiral_flow_logit_normal.safetensors"),
    "reflow": (SPIRAL_REFLOW, "spiral_flow_reflow.safetensors"),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", choices=sorted(MODELS), default="flow")
    ap.add_argument("--reflow", action="store_true", help="the same as --model reflow")
    ap.add_argument(
        "--out",
        type=Path,
        help="output file (default: the shipped file in src/difflab/checkpoints/)",
    )
    args = ap.parse_args(argv)
    name = "reflow" if args.reflow else args.model
    recipe, file_name = MODELS[name]
    out = args.out or CHECKPOINTS / file_name
    torch.set_num_threads(
        1
    )  # fastest for this small network, the same numbers run after run
    out.parent.mkdir(parents=True, exist_ok=True)
    resume = Path(f"{out}.state.pt")  # the resumable state (ignored by git)
    start = time.perf_counter()
    if name == "reflow":
        base = load_flow_model(recipe["base"])
        model, history = train_reflow_model(base, recipe, checkpoint=resume)
    else:
        model, history = train_flow_model(recipe, checkpoint=resume)
    seconds = time.perf_counter() - start
    final = sum(history[-200:]) / len(history[-200:])
    log = {
        "steps": len(history),
        "final_loss": round(final, 4),
        "seconds": round(seconds),
    }
    save_model(model, out, recipe, log=log)
    resume.unlink()
    print(
        f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB) after {len(history)} steps, "
        f"final loss {final:.4f}, {seconds:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
