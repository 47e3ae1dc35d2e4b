"""Benchmark (not a test): few-step samplers on the book's spiral, beside smalldiffusion's own recipe.

For the shipped spiral model of Chapter 3 (``difflab.registry.load("spiral_ddpm")``) it prints
r = W2 / noise floor (median of 3 seeds, 2000 samples each, ``difflab.metrics.w2_ratio`` with
seeds 0, 1, 2) and the wall time of one 2000-point batch, for every sampler and every timestep
spacing at 10, 20 and 50 network evaluations (NFE, counted by wrapping the model). Then it
trains smalldiffusion's toy recipe (its README: ``TimeInputMLP(hidden_dims=(16,128,128,128,128,16))``,
``ScheduleLogLinear(N=200, sigma_min=0.005, sigma_max=10)``, batch 2048, AdamW lr 1e-3) on the
same spiral training set for the same wall time our recipe takes to train (measured in the same
run, on the same machine), and scores its own sampler (``samples``: gam=1 is DDIM, gam=2 its
"accelerated" sampler, mu=0.5 DDPM-like) the same way.

smalldiffusion is a benchmark-only dependency (not in pyproject.toml or constraints.txt)::

    .venv/bin/pip install -c constraints.txt smalldiffusion

Run (about 10-20 minutes on a 2-core CPU)::

    .venv/bin/python benchmarks/bench_samplers.py [--seconds S] [--out src/difflab/results_samplers.md]

The book reads its stored results from src/difflab/results_samplers.md (Chapter 4): write there to
refresh them.

``--seconds`` skips the timing of our own training and gives smalldiffusion S seconds instead.
"""

from __future__ import annotations

import argparse
import sys
import time
import types

import torch

from difflab import registry, seed_everything
from difflab.data import make_spiral
from difflab.metrics import SEEDS, median_r, median_w2_ratio
from difflab.recipes import SPIRAL_DDPM
from difflab.samplers import SAMPLERS
from difflab.schedules import SPACINGS, spaced_timesteps

N = 2000


class Counted:
    """Wraps a model and counts its calls: the honest NFE."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, x, t):
        self.calls += 1
        return self.model(x, t)


def ours(model, abar, nfe: int, sampler: str, spacing: str):
    """(median r, per-seed r, NFE actually used, seconds of the first batch) for one of our samplers."""
    T = len(abar)
    steps = (
        (nfe + 1) // 2 if sampler == "heun" else nfe
    )  # Heun: 2 NFE per step but the last
    ts = spaced_timesteps(T, steps, spacing, alphas_cumprod=abar)
    secs, counted = [], Counted(model)

    def timed(*args, **kwargs):  # the sampler, its calls counted and its time taken
        counted.calls = 0
        t0 = time.perf_counter()
        out = SAMPLERS[sampler](*args, **kwargs)
        secs.append(time.perf_counter() - t0)
        return out

    r, rs, _ = median_r(timed, counted, ts, abar, n=N, seeds=SEEDS)
    return r, rs, counted.calls, min(secs)


def _no_op_attribute(attr: str):
    if attr.startswith("__"):
        raise AttributeError(attr)
    return lambda *args, **kwargs: None


def import_smalldiffusion():
    # smalldiffusion/data.py imports torchvision (for its image data sets only, which we do not use), and the
    # torchvision wheel on the package index does not load beside the CPU torch pinned here. An empty stand-in
    # module lets the package import (its attributes are no-op callables, for the transforms data.py builds at
    # import time); nothing in the code paths used below touches it.
    for name in ("torchvision", "torchvision.transforms"):
        stub = sys.modules.setdefault(name, types.ModuleType(name))
        stub.__getattr__ = _no_op_attribute
    sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]
    import smalldiffusion

    return smalldiffusion


def train_smalldiffusion(sd, data: torch.Tensor, seconds: float):
    """smalldiffusion's toy recipe, trained on ``data`` for ``seconds`` of wall time; returns (model, schedule, steps)."""
    from torch.utils.data import DataLoader

    seed_everything(0)
    model = sd.TimeInputMLP(hidden_dims=(16, 128, 128, 128, 128, 16))
    schedule = sd.ScheduleLogLinear(N=200, sigma_min=0.005, sigma_max=10)
    loader = DataLoader(data, batch_size=2048, shuffle=True)
    t0, steps = time.perf_counter(), 0
    for _ in sd.training_loop(loader, model, schedule, epochs=10**9, lr=1e-3):
        steps += 1
        if time.perf_counter() - t0 > seconds:
            break
    return model.eval(), schedule, steps


def theirs(sd, model, schedule, nfe: int, gam: float, mu: float):
    secs = []
    sigmas = schedule.sample_sigmas(nfe)

    def run(x, g):
        torch.manual_seed(
            g.initial_seed()
        )  # smalldiffusion draws its own noise (mu > 0) from the global generator
        t0 = time.perf_counter()
        *_, x0 = sd.samples(
            model, sigmas, gam=gam, mu=mu, xt=x * sigmas[0], batchsize=N
        )
        secs.append(time.perf_counter() - t0)
        return x0

    r, rs, _ = median_w2_ratio(run, N, seeds=SEEDS)
    return r, rs, len(sigmas) - 1, min(secs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="smalldiffusion's training budget (default: ours, measured)",
    )
    ap.add_argument(
        "--out", default=None, help="also write the markdown table to this file"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)  # tiny MLPs run fastest on one thread
    lines = [
        f"# Sampler benchmark, {time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread, {N} samples, r = median of seeds {SEEDS}",
        "",
    ]

    model, abar = registry.load("spiral_ddpm"), registry.schedule("spiral_ddpm")
    lines += [
        "| library | sampler | spacing | NFE | r (median) | r per seed | s / batch |",
        "|---|---|---|---|---|---|---|",
    ]
    for nfe in (10, 20, 50):
        for sampler in SAMPLERS:
            for spacing in SPACINGS:
                r, rs, used, s = ours(model, abar, nfe, sampler, spacing)
                row = f"| difflab | {sampler} | {spacing} | {used} | {r:.2f} | {', '.join(f'{v:.2f}' for v in rs)} | {s:.2f} |"
                lines.append(row)
                print(row, flush=True)

    seconds = args.seconds
    if seconds is None:
        t0 = time.perf_counter()
        registry.train("spiral_ddpm")
        seconds = time.perf_counter() - t0
    sd = import_smalldiffusion()
    sd_model, schedule, steps = train_smalldiffusion(
        sd, make_spiral(**SPIRAL_DDPM["data"]).x, seconds
    )
    print(
        f"smalldiffusion trained {steps} steps in {seconds:.0f} s (our recipe's training time)",
        flush=True,
    )
    for nfe in (10, 20, 50):
        for name, gam, mu in (
            ("DDPM-like (mu=0.5)", 1.0, 0.5),
            ("DDIM (gam=1)", 1.0, 0.0),
            ("accelerated (gam=2)", 2.0, 0.0),
        ):
            r, rs, used, s = theirs(sd, sd_model, schedule, nfe, gam, mu)
            row = f"| smalldiffusion | {name} | trailing (its own) | {used} | {r:.2f} | {', '.join(f'{v:.2f}' for v in rs)} | {s:.2f} |"
            lines.append(row)
            print(row, flush=True)
    lines += [
        "",
        f"Training budget: {seconds:.0f} s each (our recipe: {SPIRAL_DDPM['train']['steps']} steps; "
        f"smalldiffusion: {steps} steps of batch 2048).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        open(args.out, "w").write(text + "\n")


if __name__ == "__main__":
    main()
