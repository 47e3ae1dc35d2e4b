"""Measure the flow-matching models of the chapter after DDIM: the book's r (W2 over the noise
floor, median of 3 seeds, metrics.median_w2_ratio) at equal numbers of network calls, beside
DDIM on Chapter 3's DDPM model, and the straightness of the sampled paths.

    python scripts/measure_flow.py                    # everything; writes the results below
    python scripts/measure_flow.py --exact-n 0        # without the exact velocity (its 1000 steps are slow)
    python scripts/measure_flow.py --out results.json
    python scripts/measure_flow.py --training-seeds 1 2   # only the training-seed spread (below)

``--training-seeds`` trains the uniform and the logit-normal recipe again with other seeds (the
recipe's ``train.seed`` and ``init_seed`` both set to the seed; about 85 s per model on one core),
measures each new model's r at every budget (and the uniform ones' r at DDIM's levels too), and
merges the result into the existing file under "training_seeds", the shipped models (seed 0) first:
how far a second training run moves r, which a comparison of two models has to beat.

Writes src/difflab/checkpoints/spiral_flow_results.json (every number, with the seeds' own r) and
prints the tables. Chapter 4b measures the same configurations itself with the package's
functions (conversions.vp_levels, flow_samplers.ddim_path, metrics.median_r).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

from difflab import registry
from difflab.conversions import vp_levels
from difflab.data.spiral import make_spiral
from difflab.denoisers import ExactVelocity
from difflab.flow_samplers import ddim_path, euler_sample, flow_heun_sample, sample_path
from difflab.metrics import SEEDS, median_r, path_straightness
from difflab.recipes import SPIRAL_FLOW, SPIRAL_FLOW_LOGIT_NORMAL, changed
from difflab.samplers import ddim_sample
from difflab.schedules import flow_sigmas, spaced_timesteps

N = 2000  # samples per seed, as everywhere in the book
NFES = (1, 2, 4, 8, 16, 50)
SHIFTS = (0.5, 1.0, 2.0, 3.0)


def r_flow(
    model, sigmas, *, sampler=euler_sample, n: int = N, scale: float = 1.0, device="cpu"
):
    """(median r, [r per seed]) of ``sampler(model, x / scale, sigmas)`` from x ~ N(0, I)."""
    start = lambda x, g: x / scale  # noqa: E731
    return median_r(sampler, model, sigmas, n=n, device=device, start=start)[:2]


def r_ddim(model, n_steps: int, abar: torch.Tensor, *, n: int = N, device="cpu"):
    """(median r, [r per seed]) of DDIM (eta = 0, trailing spacing) on an epsilon model."""
    ts = spaced_timesteps(len(abar), n_steps, "trailing")
    return median_r(ddim_sample, model, ts, abar, n=n, device=device)[:2]


def _summary(s: torch.Tensor) -> dict:
    s = s[torch.isfinite(s)]
    return {
        "median": s.median().item(),
        "mean": s.mean().item(),
        "p90": s.quantile(0.9).item(),
    }


def straightness(model, *, n: int = N, steps: int = 100, seed: int = 0) -> dict:
    """Path length over endpoint distance (metrics.path_straightness) of n Euler paths of ``steps``
    steps from the noise of ``seed``: median, mean and 90th percentile over the paths."""
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    return _summary(
        path_straightness(sample_path(euler_sample, model, x, flow_sigmas(steps)))
    )


def ddim_straightness(
    model, abar, *, n: int = N, steps: int = 100, seed: int = 0
) -> dict:
    """The same for DDIM's paths on an epsilon model, in flow coordinates (flow_samplers.ddim_path),
    where the DDIM ODE is the flow ODE."""
    ts = spaced_timesteps(len(abar), steps, "trailing")
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    return _summary(path_straightness(ddim_path(model, x, ts, abar)))


def measure(*, n: int = N, exact_n: int = 5000, device="cpu", log=print) -> dict:
    """Every number of the chapter; ``exact_n`` training points for the exact velocity (0: skip)."""
    flow = registry.load("spiral_flow", device=device)
    reflow = registry.load("spiral_flow_reflow", device=device)
    ln = registry.load("spiral_flow_logit_normal", device=device)
    ddpm = registry.load("spiral_ddpm", device=device)
    abar = registry.schedule("spiral_ddpm")
    out = {"n": n, "seeds": list(SEEDS), "nfe": list(NFES)}

    def row(key, value):
        out.setdefault(key, {})
        out[key].update(value)
        log(f"{key}: {value}")

    if exact_n:
        data = make_spiral(**SPIRAL_FLOW["data"]).x[
            :exact_n
        ]  # the first exact_n training points
        start = time.perf_counter()
        r, rs = r_flow(ExactVelocity(data), flow_sigmas(1000), n=n, device=device)
        row(
            "exact_velocity_euler_1000",
            {
                "r": r,
                "rs": rs,
                "train_points": exact_n,
                "seconds": round(time.perf_counter() - start),
            },
        )
    for nfe in NFES:
        row(
            "flow_euler", {str(nfe): r_flow(flow, flow_sigmas(nfe), n=n, device=device)}
        )
        row("ddim_trailing", {str(nfe): r_ddim(ddpm, nfe, abar, n=n, device=device)})
        sig, scale = vp_levels(spaced_timesteps(len(abar), nfe, "trailing"), abar)
        row(
            "flow_euler_at_ddim_sigmas",
            {str(nfe): r_flow(flow, sig, scale=scale, n=n, device=device)},
        )
        row(
            "reflow_euler",
            {str(nfe): r_flow(reflow, flow_sigmas(nfe), n=n, device=device)},
        )
        row(
            "logit_normal_euler",
            {str(nfe): r_flow(ln, flow_sigmas(nfe), n=n, device=device)},
        )
    for steps in (2, 4, 8, 25):  # NFE 3, 7, 15, 49
        row(
            "flow_heun",
            {
                str(2 * steps - 1): r_flow(
                    flow,
                    flow_sigmas(steps),
                    sampler=flow_heun_sample,
                    n=n,
                    device=device,
                )
            },
        )
    for shift in SHIFTS:
        for steps in (2, 4, 8, 16):
            for name, model in (("flow", flow), ("logit_normal", ln)):
                row(
                    f"{name}_euler_shift",
                    {
                        f"{shift}@{steps}": r_flow(
                            model, flow_sigmas(steps, shift), n=n, device=device
                        )
                    },
                )
    row(
        "straightness",
        {
            "flow": straightness(flow, n=n),
            "reflow": straightness(reflow, n=n),
            "logit_normal": straightness(ln, n=n),
            "ddpm_ddim_in_flow_coordinates": ddim_straightness(ddpm, abar, n=n),
        },
    )
    if exact_n:
        row("straightness", {"exact_velocity": straightness(ExactVelocity(data), n=n)})
    return out


def training_seeds(
    seeds, *, n: int = N, device="cpu", log=print, shipped: dict | None = None
) -> dict:
    """r at every budget of the uniform and the logit-normal recipe trained with each seed in
    ``seeds`` (train.seed = init_seed = seed), and, for the uniform one, at DDIM's trailing
    levels; seed 0, the shipped models, is copied from ``shipped`` (a results dict) when given.
    Returns {recipe name: {seed: {key: {nfe: [median r, [r per seed]]}}}}."""
    abar = registry.schedule("spiral_ddpm")
    recipes = {"uniform": SPIRAL_FLOW, "logit_normal": SPIRAL_FLOW_LOGIT_NORMAL}
    out = {name: {} for name in recipes}
    if shipped is not None:
        out["uniform"]["0"] = {
            "euler": shipped["flow_euler"],
            "at_ddim_levels": shipped["flow_euler_at_ddim_sigmas"],
        }
        out["logit_normal"]["0"] = {"euler": shipped["logit_normal_euler"]}
    for name, recipe in recipes.items():
        for seed in seeds:
            start = time.perf_counter()
            model, _ = registry.train(
                changed(recipe, train={"seed": seed}, init_seed=seed), device=device
            )
            model.eval()
            trained = time.perf_counter() - start
            row = {"euler": {}}
            for nfe in NFES:
                row["euler"][str(nfe)] = r_flow(
                    model, flow_sigmas(nfe), n=n, device=device
                )
            if name == "uniform":
                row["at_ddim_levels"] = {}
                for nfe in NFES:
                    sig, scale = vp_levels(
                        spaced_timesteps(len(abar), nfe, "trailing"), abar
                    )
                    row["at_ddim_levels"][str(nfe)] = r_flow(
                        model, sig, scale=scale, n=n, device=device
                    )
            row["train_seconds"] = round(trained)
            out[name][str(seed)] = row
            log(f"{name}, training seed {seed}: {row}")
    return out


def tables(res: dict) -> str:
    """The results as markdown tables."""
    lines = [
        "| NFE | flow Euler | DDIM (trailing) | flow Euler at DDIM's sigmas | reflow Euler | "
        "logit-normal Euler |",
        "|---|---|---|---|---|---|",
    ]
    for nfe in res["nfe"]:
        cells = [
            f"{res[k][str(nfe)][0]:.2f}"
            for k in (
                "flow_euler",
                "ddim_trailing",
                "flow_euler_at_ddim_sigmas",
                "reflow_euler",
                "logit_normal_euler",
            )
        ]
        lines.append(f"| {nfe} | " + " | ".join(cells) + " |")
    lines += ["", "| NFE | flow Heun |", "|---|---|"]
    lines += [f"| {k} | {v[0]:.2f} |" for k, v in res["flow_heun"].items()]
    lines += [
        "",
        "| shift | steps | flow (uniform) | logit-normal |",
        "|---|---|---|---|",
    ]
    for key, (r, _) in res["flow_euler_shift"].items():
        shift, steps = key.split("@")
        lines.append(
            f"| {shift} | {steps} | {r:.2f} | {res['logit_normal_euler_shift'][key][0]:.2f} |"
        )
    lines += [
        "",
        "| paths (Euler, 100 steps) | median | mean | p90 |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {k} | {v['median']:.4f} | {v['mean']:.4f} | {v['p90']:.4f} |"
        for k, v in res["straightness"].items()
    ]
    if "training_seeds" in res:
        lines += [
            "",
            "| model | training seed | "
            + " | ".join(f"{k} NFE" for k in res["nfe"])
            + " |",
            "|---|---|" + "---|" * len(res["nfe"]),
        ]
        for name, by_seed in res["training_seeds"].items():
            if name in ("seeds", "made"):
                continue
            for seed, row in by_seed.items():
                for key, c in row.items():
                    if isinstance(c, dict):
                        lines.append(
                            f"| {name} ({key}) | {seed} | "
                            + " | ".join(f"{c[str(k)][0]:.2f}" for k in res["nfe"])
                            + " |"
                        )
    if "exact_velocity_euler_1000" in res:
        e = res["exact_velocity_euler_1000"]
        lines += [
            "",
            f"exact velocity ({e['train_points']} training points), Euler 1000 steps: r = {e['r']:.2f} "
            f"(seeds {', '.join(f'{r:.2f}' for r in e['rs'])})",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=N, help="samples per seed")
    ap.add_argument(
        "--exact-n",
        type=int,
        default=5000,
        help="training points of the exact velocity (0: skip)",
    )
    ap.add_argument(
        "--out", type=Path, default=registry.CHECKPOINTS / "spiral_flow_results.json"
    )
    ap.add_argument(
        "--training-seeds",
        type=int,
        nargs="+",
        help="only train the two recipes again with these seeds and merge their r into --out",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    if args.training_seeds:
        res = json.loads(args.out.read_text())
        seeds = training_seeds(args.training_seeds, n=args.n, shipped=res)
        seeds["seeds"] = [0, *args.training_seeds]
        seeds["made"] = (
            f"{datetime.datetime.now():%Y-%m-%d %H:%M}, torch {torch.__version__}, "
            f"{time.perf_counter() - start:.0f} s, scripts/measure_flow.py "
            f"--training-seeds {' '.join(map(str, args.training_seeds))}"
        )
        res["training_seeds"] = seeds
        args.out.write_text(json.dumps(res, indent=1) + "\n")
        print(tables(res))
        print(f"wrote {args.out}")
        return 0
    res = measure(n=args.n, exact_n=args.exact_n)
    res["made"] = (
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}, torch {torch.__version__}, "
        f"{time.perf_counter() - start:.0f} s, scripts/measure_flow.py"
    )
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(tables(res))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
