"""One training loop for every model of the book, and the diffusion losses it is used with."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from ._checks import check_float, check_int
from .schedules import betas_from_abar, q_sample
from .utils import progress as progress_bar


@dataclass
class TrainConfig:
    steps: int = 4000  # optimiser steps
    batch_size: int = (
        512  # examples per step (drawn with replacement from a training set)
    )
    lr: float = 2e-3  # peak learning rate of AdamW
    warmup: int = 100  # steps of linear warm-up, then cosine decay to min_lr * lr
    min_lr: float = 0.1  # where the cosine ends, as a share of lr (CLIP: 0)
    weight_decay: float = 0.0
    betas: tuple[float, float] = (
        0.9,
        0.999,
    )  # AdamW's (CLIP: 0.9, 0.98; Radford et al. 2021, Sec. 2.5)
    ema: float = 0.0  # decay of an exponential moving average of the weights (0: none);
    # the model ends with the averaged weights (Ho et al. 2020, App. B)
    seed: int = 0  # seeds the batches, steps t and noise

    def __post_init__(self):
        self.betas = tuple(self.betas)  # a recipe read back from JSON gives a list


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed process group, (0, 1) without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """The learning rate of ``step`` as a share of ``cfg.lr``: linear warm-up over ``warmup`` steps,
    then a cosine from 1 down to ``min_lr`` (Loshchilov and Hutter 2017; CLIP, Radford et al. 2021,
    Sec. 2.5, decays to 0)."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress_ = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + (1 - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * progress_))


def _batches(data, cfg: TrainConfig, world: int, dev) -> Callable:
    """``draw(step, generator)``: the batch of a step, from a function or from tensors."""
    if callable(data):  # batch(step, generator): e.g. CLIP's fresh generated batches
        return data
    tensors = data if isinstance(data, (tuple, list)) else (data,)
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(
            f"data tensors have first dimensions {[t.shape[0] for t in tensors]}; they must agree"
        )

    def draw(step, generator):
        idx = torch.randint(0, n, (cfg.batch_size // world,), generator=generator)
        batch = tuple(t[idx.to(t.device)].to(dev) for t in tensors)
        return batch if len(batch) > 1 else batch[0]

    return draw


def train(
    model: torch.nn.Module,
    loss_fn: Callable,
    data,
    config: TrainConfig = TrainConfig(),
    *,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    stop_at: int | None = None,
    desc: str = "training",
    progress: bool = True,
    callback: Callable | None = None,
    callback_every: int = 0,
) -> list[float]:
    """Train ``model`` by minimising ``loss_fn(model, batch, generator)``: the one training loop of
    the book (the spiral denoisers, CLIP and the text-to-image U-Net). AdamW, :func:`lr_factor`,
    an optional EMA of the weights, a check that the loss stays finite.

    ``data``: a tensor (N, ...) or a tuple of tensors sharing N, from which each step draws
    ``batch_size`` rows with replacement (moved to the model's device); or a function
    ``batch(step, generator)`` that returns the step's batch (CLIP draws fresh captioned images).
    Returns the loss of every step. With ``checkpoint`` set, the state (weights, optimiser, step,
    history) is saved every ``checkpoint_every`` steps and at the end, and a later call with the
    same path resumes where it stopped. ``stop_at`` stops after that many steps (to show or test a
    resume); the model then keeps its current weights, not the EMA.

    Under ``torchrun`` (a ``torch.distributed`` process group initialised by the caller) the same
    call trains on every process with DistributedDataParallel: each of the W processes draws
    ``batch_size / W`` rows from its own generator (a ``batch`` function must draw from the
    ``generator`` it is given, or every process sees the same batch), DDP averages the gradients,
    so every process holds the same weights; only process 0 shows progress and writes the
    checkpoint.

    ``callback(step, weights)`` is called on process 0 every ``callback_every`` steps with the
    weights the model would end with if training stopped there (the EMA weights when ``ema`` is
    on): for a training log. It must not change them or draw from the training's generator.
    """
    cfg = config
    check_int("steps", cfg.steps, low=1)
    check_int("batch_size", cfg.batch_size, low=1)
    check_float("lr", cfg.lr, low=0.0, low_open=True)
    check_float("min_lr", cfg.min_lr, low=0.0, high=1.0)
    dev = next(model.parameters()).device
    rank, world = rank_and_world()
    if cfg.batch_size % world:
        raise ValueError(
            f"batch_size={cfg.batch_size} must be divisible by the number of processes, {world}"
        )
    draw = _batches(data, cfg, world, dev)
    gen = torch.Generator().manual_seed(
        cfg.seed + 1_000_003 * rank
    )  # process 0 draws what a single process would
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(
            model
        )  # averages gradients across processes in backward()
        if hasattr(model, "config"):
            net.config = (
                model.config
            )  # losses may read it (ddpm_loss_cond reads n_classes)
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.lr,
        betas=tuple(cfg.betas),
        weight_decay=cfg.weight_decay,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    ema = (
        {k: v.detach().clone() for k, v in model.state_dict().items()}
        if cfg.ema
        else None
    )
    history: list[float] = []
    start = 0
    if checkpoint is not None and os.path.exists(checkpoint):
        state = torch.load(checkpoint, weights_only=True)
        if state["config"] != asdict(cfg):
            raise ValueError(
                f"checkpoint {checkpoint} was made with config {state['config']}, not {asdict(cfg)}; "
                f"delete it to start again"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if len(state["generators"]) != world:
            raise ValueError(
                f"checkpoint {checkpoint} was made by {len(state['generators'])} processes; "
                f"resume it with as many, not {world}"
            )
        gen.set_state(state["generators"][rank])
        history, start = list(state["history"]), int(state["step"])
        if ema is not None:
            ema = state["ema"]

    def save(step):
        generators = [gen.get_state()]
        if world > 1:
            generators = [None] * world
            torch.distributed.all_gather_object(generators, gen.get_state())
        if rank == 0:
            tmp = f"{checkpoint}.tmp"
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "generators": generators,
                    "ema": ema,
                    "history": history,
                    "step": step,
                    "config": asdict(cfg),
                },
                tmp,
            )
            os.replace(tmp, checkpoint)  # never leave a half-written checkpoint

    end = (
        cfg.steps
        if stop_at is None
        else min(check_int("stop_at", stop_at, low=0), cfg.steps)
    )
    model.train()
    bar = progress_bar(
        range(start, end),
        total=end - start,
        desc=desc,
        disable=rank != 0 or not progress,
    )
    for step in bar:
        loss = loss_fn(net, draw(step, gen), gen)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss became {loss.item()} at step {step}; lower lr (now {cfg.lr})"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if ema is not None:
            with torch.no_grad():
                for k, v in model.state_dict().items():
                    ema[k].lerp_(v, 1 - cfg.ema) if v.dtype.is_floating_point else ema[
                        k
                    ].copy_(v)
        if world > 1:  # record the mean loss over all processes
            loss = loss.detach().clone()
            torch.distributed.all_reduce(loss)
            loss /= world
        history.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix_str(
                f"loss {sum(history[-50:]) / len(history[-50:]):.4f}", refresh=False
            )
        if (
            callback is not None
            and callback_every
            and (step + 1) % callback_every == 0
            and rank == 0
        ):
            callback(step + 1, ema if ema is not None else model.state_dict())
        if (
            checkpoint is not None
            and checkpoint_every
            and (step + 1) % checkpoint_every == 0
        ):
            save(step + 1)
    if checkpoint is not None and end > start:
        save(end)
    if ema is not None and end == cfg.steps:
        model.load_state_dict(ema)
    model.eval()
    return history


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

    Returns (mean gradient, flattened over all parameters; its variance E|g - mean|^2, summed over
    the parameters). Two losses with the same expected gradient can then be compared on the same
    scale (Chapter 3). The weights are not changed; their ``.grad`` is left as None.
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


def _noisy_batch(x0, alphas_cumprod, generator):
    T = len(alphas_cumprod)
    t = torch.randint(0, T, (x0.shape[0],), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    return t, noise, q_sample(x0, t, alphas_cumprod, noise)


def ddpm_loss(
    model, x0: torch.Tensor, generator: torch.Generator, alphas_cumprod: torch.Tensor
) -> torch.Tensor:
    """L_simple (Ho et al. 2020, eq. 14): || eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t) ||^2,
    with t uniform over the T steps. Bind the schedule with ``functools.partial`` for :func:`train`."""
    t, noise, xt = _noisy_batch(x0, alphas_cumprod, generator)
    return ((model(xt, t) - noise) ** 2).mean()


def last_step_loss(
    model, x0: torch.Tensor, generator: torch.Generator, alphas_cumprod: torch.Tensor
) -> torch.Tensor:
    """The alternative of Chapter 3: predict only the noise of the *last* step, eps_t in
    x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t, rescaled by c_t = sqrt(beta_t / (1 - abar_t)) so that
    its mean given x_t equals the total noise's (E[eps_t | x_0, x_t] = c_t eps). Same minimiser as
    :func:`ddpm_loss`, much noisier target."""
    T = len(alphas_cumprod)
    abar = alphas_cumprod.to(x0.device)
    t = torch.randint(0, T, (x0.shape[0],), generator=generator).to(x0.device)
    beta = betas_from_abar(abar)[t][:, None].to(
        x0.dtype
    )  # beta_t, recovered from the schedule
    e_prev = torch.randn(x0.shape, generator=generator).to(x0.device)
    e_last = torch.randn(x0.shape, generator=generator).to(x0.device)
    x_prev = q_sample(
        x0, t, torch.cat([abar.new_ones(1), abar]), e_prev
    )  # step t-1 (x0 before step 0)
    xt = (1 - beta).sqrt() * x_prev + beta.sqrt() * e_last
    c = (beta / (1 - abar[t][:, None].to(x0.dtype))).sqrt()
    return ((model(xt, t) - e_last / c) ** 2).mean()


def drop_condition(
    cond: torch.Tensor, null_id: int, p_uncond: float, generator: torch.Generator
) -> torch.Tensor:
    """Replace each class id by the "no condition" id ``null_id`` with probability ``p_uncond``:
    condition dropout, which lets one network learn f(x, t) and f(x, t, c) (Ho and Salimans 2022, Algorithm 1)."""
    drop = torch.rand(cond.shape, generator=generator).to(cond.device) < p_uncond
    return torch.where(drop, torch.full_like(cond, null_id), cond)


def ddpm_loss_cond(
    model,
    batch: tuple[torch.Tensor, torch.Tensor],
    generator: torch.Generator,
    alphas_cumprod: torch.Tensor,
    p_uncond: float = 0.1,
) -> torch.Tensor:
    """L_simple (Ho et al. 2020, eq. 14) for a class-conditional model, with condition dropout.

    ``batch`` = (x0 (B, ...), cond (B,) class ids 0..K-1). A share ``p_uncond`` of the rows is
    trained with the "no condition" id K = ``model.config.n_classes`` instead of its class, so the
    same network learns the unconditional prediction too (Ho and Salimans 2022, Algorithm 1,
    p_uncond = 0.1 or 0.2 in their Sec. 4). Bind the schedule with ``functools.partial``.
    """
    x0, cond = batch
    p_uncond = check_float("p_uncond", p_uncond, low=0.0, high=1.0)
    n_classes = getattr(getattr(model, "config", None), "n_classes", 0)
    if not n_classes:
        raise ValueError(
            "ddpm_loss_cond needs a class-conditional model (model.config.n_classes >= 1)"
        )
    t, noise, xt = _noisy_batch(x0, alphas_cumprod, generator)
    cond = drop_condition(cond, n_classes, p_uncond, generator)
    return ((model(xt, t, cond) - noise) ** 2).mean()
