"""The book's one training loop: ``train(model, loss, data, config)``.

Every model of the book is trained by :func:`train`: the spiral denoisers (Chapters 3, 5), the
flow models (Chapter 4b), CLIP (Chapter 1) and the text-to-image U-Net (Chapter 8). The loop
reads forward, backward, step, log; resuming, saving, the EMA of the weights and the mean over
processes are the small named helpers below it. The losses are in :mod:`difflab.losses`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from ._checks import check_float, check_int
from .utils import progress as progress_bar


@dataclass
class TrainConfig:
    steps: int = 4000  # optimiser steps
    batch_size: int = 512  # examples per step, drawn with replacement from a data set
    lr: float = 2e-3  # peak learning rate of AdamW
    warmup_steps: int = 100  # linear warm-up, then cosine decay to min_lr_share * lr
    min_lr_share: float = 0.1  # where the cosine ends, as a share of lr (CLIP: 0)
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)  # CLIP: (0.9, 0.98), Radford et al.
    ema_decay: float = 0.0  # decay of an exponential moving average of the weights
    # (0: none); the model ends with the averaged weights (Ho et al. 2020, App. B)
    seed: int = 0  # seeds the batches, steps t and noise

    def __post_init__(self):
        self.adam_betas = tuple(self.adam_betas)  # a recipe read back from JSON: a list


def lr_factor(step: int, config: TrainConfig) -> float:
    """The learning rate of ``step`` as a share of ``config.lr``: linear warm-up over
    ``warmup_steps``, then a cosine from 1 down to ``min_lr_share`` (Loshchilov and Hutter
    2017; CLIP, Radford et al. 2021, Sec. 2.5, decays to 0)."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    done = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    floor = config.min_lr_share
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * done))


def train(
    model: torch.nn.Module,
    loss_fn: Callable,
    data,
    config: TrainConfig,
    *,
    state: str | os.PathLike | None = None,
    save_every: int = 0,
    stop_at: int | None = None,
    desc: str = "training",
    progress: bool = True,
    callback: Callable | None = None,
    callback_every: int = 0,
    autocast: torch.dtype | None = None,
) -> list[float]:
    """Train ``model`` by minimising ``loss_fn(model, batch, generator)`` with AdamW and the
    learning rate of :func:`lr_factor`; returns the loss of every step.

    ``data``: a tensor (N, ...) or a tuple of tensors sharing N, from which each step draws
    ``batch_size`` rows with replacement; or a function ``batch(step, generator)`` (CLIP draws
    fresh captioned images). ``state``: a file for the resumable training state, written every
    ``save_every`` steps and at the end; a later call with the same file resumes from it.
    ``stop_at`` stops after that many steps (the model keeps its current weights, not the EMA).
    ``callback(step, weights)`` sees, every ``callback_every`` steps, the weights the model
    would end with if training stopped there (the EMA's when ``ema_decay`` is on).
    ``autocast`` (e.g. ``torch.bfloat16``) runs the forward pass and the loss in mixed
    precision, :func:`torch.autocast`: matrix products and convolutions in that type, the
    weights, gradients and optimiser in float32 (Micikevicius et al. 2018).

    Under ``torchrun`` the same call trains on every process with DistributedDataParallel:
    each of W processes draws ``batch_size / W`` rows from its own generator, DDP averages the
    gradients; process 0 shows progress, logs and writes the state.
    """
    _check_config(config)
    end = (
        config.steps
        if stop_at is None
        else min(check_int("stop_at", stop_at, low=0), config.steps)
    )
    run = _Run(model, config)
    draw = _batches(data, config.batch_size // run.world, run.device)
    history, start = run.resume(state) if state and os.path.exists(state) else ([], 0)
    model.train()
    for step in run.progress_bar(range(start, end), desc, progress):
        with _mixed_precision(run.device, autocast):  # 1. forward
            loss = loss_fn(run.net, draw(step, run.generator), run.generator)
        _check_finite(loss, step, config)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # 2. backward (DDP averages the gradients of the processes)
        run.optimizer.step()  # 3. step
        run.scheduler.step()
        run.update_ema()
        history.append(run.mean_over_processes(loss))  # 4. log
        run.show(history, step)
        if callback and _every(step, callback_every) and not run.rank:
            callback(step + 1, run.final_weights())
        if state and _every(step, save_every):
            run.save(state, history, step + 1)
    if state and end > start:
        run.save(state, history, end)
    if end == config.steps and run.ema is not None:
        model.load_state_dict(run.ema)
    model.eval()
    return history


def _every(step: int, every: int) -> bool:
    """True after every ``every``-th step (never when ``every`` is 0)."""
    return bool(every) and (step + 1) % every == 0


def _mixed_precision(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _check_config(config: TrainConfig) -> None:
    check_int("steps", config.steps, low=1)
    check_int("batch_size", config.batch_size, low=1)
    check_float("lr", config.lr, low=0.0, low_open=True)
    check_float("min_lr_share", config.min_lr_share, low=0.0, high=1.0)
    world = rank_and_world()[1]
    if config.batch_size % world:
        raise ValueError(
            f"batch_size={config.batch_size} must be divisible by the number of "
            f"processes, {world}"
        )


def _check_finite(loss: torch.Tensor, step: int, config: TrainConfig) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"loss became {loss.item()} at step {step}; lower lr (now {config.lr})"
        )


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed process group, (0, 1) without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _batches(data, rows: int, device) -> Callable:
    """``draw(step, generator)``: the batch of a step, from a function or from tensors."""
    if callable(data):  # batch(step, generator): e.g. CLIP's fresh generated batches
        return data
    tensors = data if isinstance(data, (tuple, list)) else (data,)
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        sizes = [t.shape[0] for t in tensors]
        raise ValueError(f"data tensors have first dimensions {sizes}; they must agree")

    def draw(step, generator):
        idx = torch.randint(0, n, (rows,), generator=generator)
        batch = tuple(t[idx.to(t.device)].to(device) for t in tensors)
        return batch if len(batch) > 1 else batch[0]

    return draw


class _Run:
    """What one training run holds besides the model: the optimiser and its schedule, the
    generator of the batches, the EMA of the weights and the processes it runs on."""

    def __init__(self, model: torch.nn.Module, config: TrainConfig):
        self.model, self.config = model, config
        self.rank, self.world = rank_and_world()
        self.device = next(model.parameters()).device
        # process 0 draws what a single process would
        self.generator = torch.Generator().manual_seed(
            config.seed + 1_000_003 * self.rank
        )
        self.net = _distributed(model) if self.world > 1 else model
        self.optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=config.lr,
            betas=tuple(config.adam_betas),
            weight_decay=config.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, config)
        )
        self.ema = _copy(model.state_dict()) if config.ema_decay else None

    def progress_bar(self, steps: range, desc: str, show: bool):
        """The steps, with a progress bar on process 0 (unless ``show`` is False)."""
        self.bar = progress_bar(
            steps, total=len(steps), desc=desc, disable=bool(self.rank) or not show
        )
        return self.bar

    def show(self, history: list[float], step: int, every: int = 50) -> None:
        """The mean loss of the last ``every`` steps, beside the progress bar."""
        if step % every == 0:
            mean = sum(history[-every:]) / len(history[-every:])
            self.bar.set_postfix_str(f"loss {mean:.4f}", refresh=False)

    def update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * weights (Ho et al. 2020, App. B)."""
        if self.ema is None:
            return
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                if v.dtype.is_floating_point:
                    self.ema[k].lerp_(v, 1 - self.config.ema_decay)
                else:
                    self.ema[k].copy_(v)

    def final_weights(self) -> dict:
        return self.ema if self.ema is not None else self.model.state_dict()

    def mean_over_processes(self, loss: torch.Tensor) -> float:
        """The step's loss, averaged over the processes under torchrun."""
        if self.world > 1:
            loss = loss.detach().clone()
            torch.distributed.all_reduce(loss)
            loss /= self.world
        return loss.item()

    def save(self, path, history: list[float], step: int) -> None:
        """Write the resumable state (process 0), atomically: never a half-written file."""
        generators = [self.generator.get_state()]
        if self.world > 1:
            generators = [None] * self.world
            torch.distributed.all_gather_object(generators, self.generator.get_state())
        if self.rank:
            return
        saved = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generators": generators,
            "ema": self.ema,
            "history": history,
            "step": step,
            "config": asdict(self.config),
        }
        torch.save(saved, f"{path}.tmp")
        os.replace(f"{path}.tmp", path)

    def resume(self, path) -> tuple[list[float], int]:
        """Load the state :meth:`save` wrote; returns (history, step)."""
        saved = torch.load(path, weights_only=True)
        if saved["config"] != asdict(self.config):
            raise ValueError(
                f"state {path} was made with config {saved['config']}, not "
                f"{asdict(self.config)}; delete it to start again"
            )
        if len(saved["generators"]) != self.world:
            raise ValueError(
                f"state {path} was made by {len(saved['generators'])} processes; "
                f"resume it with as many, not {self.world}"
            )
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.generator.set_state(saved["generators"][self.rank])
        if self.ema is not None:
            self.ema = saved["ema"]
        return list(saved["history"]), int(saved["step"])


def _copy(weights: dict) -> dict:
    return {k: v.detach().clone() for k, v in weights.items()}


def _distributed(model: torch.nn.Module) -> torch.nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    net = DistributedDataParallel(model)  # averages gradients across processes
    if hasattr(model, "config"):
        net.config = model.config  # losses may read it (ddpm_loss_cond reads n_classes)
    return net


def gradient_noise(
    model: torch.nn.Module,
    loss_fn: Callable,
    data: torch.Tensor,
    *,
    n_batches: int = 64,
    batch_size: int = 512,
    generator: torch.Generator,
) -> tuple[torch.Tensor, float]:
    """The gradient SGD follows, and how noisy it is: ``loss_fn(model, batch, generator)`` is
    differentiated at the model's current weights on ``n_batches`` random batches of ``data``.

    Returns (mean gradient, flattened over all parameters; its variance E|g - mean|^2, summed
    over the parameters). Two losses with the same expected gradient can then be compared on
    the same scale (Chapter 3). The weights are not changed; their ``.grad`` is left as None.
    """
    check_int("n_batches", n_batches, low=2)
    check_int("batch_size", batch_size, low=1)
    grads = []
    for _ in range(n_batches):
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=generator)
        model.zero_grad(set_to_none=True)
        loss_fn(model, data[idx], generator).backward()
        grads.append(
            torch.cat(
                [p.grad.flatten() for p in model.parameters() if p.grad is not None]
            )
        )
    model.zero_grad(set_to_none=True)
    g = torch.stack(grads)  # (n_batches, n_params)
    mean = g.mean(0)
    return mean, float(((g - mean) ** 2).sum(1).mean())
