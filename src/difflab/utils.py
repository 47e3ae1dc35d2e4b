"""Device, seeding, fast mode and progress: the few things every chapter needs first."""

from __future__ import annotations

import os
import random
import time
from contextlib import contextmanager

import numpy as np
import torch

DEFAULT_SEED = 0


def device() -> torch.device:
    """The accelerator the book runs on: CUDA if present, else Apple MPS, else the CPU.

    ``DIFFLAB_DEVICE`` overrides the choice (e.g. ``DIFFLAB_DEVICE=cpu`` on a GPU machine, to
    compare); it must name a device torch can use here."""
    name = os.environ.get("DIFFLAB_DEVICE", "").strip().lower()
    if name:
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise ValueError(
                f"DIFFLAB_DEVICE={name!r} is not a torch device; use cpu, cuda, cuda:1 or mps"
            ) from None
        available = {
            "cpu": True,
            "cuda": torch.cuda.is_available(),
            "mps": getattr(torch.backends, "mps", None) is not None
            and torch.backends.mps.is_available(),
        }
        if not available.get(dev.type, False):
            raise ValueError(
                f"DIFFLAB_DEVICE={name!r} names a device this machine does not have; "
                f"available here: {', '.join(k for k, v in available.items() if v)}"
            )
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def model_device(model) -> torch.device:
    """Where ``model`` computes: the device of its parameters; the CPU for a function or a model
    without parameters (e.g. an exact denoiser, which follows its inputs)."""
    params = model.parameters() if isinstance(model, torch.nn.Module) else iter(())
    return next(params, torch.empty(0)).device


def _env_flag(name: str, allowed: str) -> bool:
    """An on/off environment variable: unset, 0/false/no/off or 1/true/yes/on; else a clear error."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}={value!r} is not understood; use {allowed}")


def is_fast() -> bool:
    """True when ``DIFFLAB_FAST`` is set to 1/true/yes (the tests and CI set it).

    Fast mode shrinks training and sample sizes so every cell and check still runs.
    """
    return _env_flag("DIFFLAB_FAST", "1 (fast mode) or 0 (default mode)")


def pick(default, fast):
    """``fast`` in fast mode, ``default`` otherwise: ``n = pick(20_000, 2_000)``."""
    return fast if is_fast() else default


def _check_seed(seed) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative int")
    return int(seed)


def seed_everything(seed: int = DEFAULT_SEED) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) and return a CPU ``torch.Generator``.

    This is the one place the book seeds: a notebook that calls it once at the top gives
    the same numbers run after run on the same machine.
    """
    seed = _check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds CUDA and MPS too
    return torch.Generator().manual_seed(seed)


@contextmanager
def local_seed(seed: int):
    """``with local_seed(3): model = Net()``: torch's draws inside the block (on the CPU, e.g. a
    model's initial weights) come from a random state seeded with ``seed``, and the process's own
    state is put back afterwards. Library functions use it to build a model from a recipe's seed
    without reseeding the reader's process (only :func:`seed_everything` does that)."""
    seed = _check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def check_env(seed: int = DEFAULT_SEED) -> torch.device:
    """Seed everything, set the threads (:func:`set_threads`), print torch version, device,
    mode, threads and seed; return the device."""
    seed_everything(seed)
    threads = set_threads()
    dev = device()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else dev.type
    mode = "fast (DIFFLAB_FAST=1)" if is_fast() else "default"
    print(
        f"torch {torch.__version__} | device: {name} | mode: {mode} | threads: {threads} | seed: {seed}"
    )
    return dev


def _cores() -> int:
    """The cores this process may run on."""
    return (
        len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count() or 1
    )


def _busy_cores(seconds: float = 0.2) -> float | None:
    """How many cores other processes keep busy now, from Linux's /proc/stat over ``seconds``
    (this process sleeps meanwhile); None where there is no /proc/stat."""

    def read():
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]  # all, idle + iowait

    try:
        total0, idle0 = read()
        time.sleep(seconds)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return None
    return _cores() * (1 - (idle1 - idle0) / max(1, total1 - total0))


def set_threads(n: int | None = None) -> int:
    """Set torch's CPU threads for the book and return how many: ``n``, else ``DIFFLAB_THREADS``,
    else one per core that no other process is using right now (at least 1).

    torch splits every operation over its threads and waits for the slowest. When another
    process holds one of the cores, the thread on that core gets only a slice of it and every
    operation waits: on 2 cores, 64 guided 25-step images took 5.0 s on 2 threads with the
    machine quiet but 27 s with one core busy; on 1 thread, 8.9 s and 9.5 s. So the cores that
    are free are counted once, when a chapter starts (:func:`check_env`)."""
    if n is None and os.environ.get("DIFFLAB_THREADS", "").strip():
        value = os.environ["DIFFLAB_THREADS"].strip()
        if not value.isdigit() or int(value) < 1:
            raise ValueError(
                f"DIFFLAB_THREADS={value!r} must be a whole number of threads >= 1"
            )
        n = int(value)
    if n is None:
        cores, busy = _cores(), _busy_cores()
        n = cores if busy is None else max(1, min(cores, round(cores - busy)))
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(
            f"n={n!r} must be a whole number of threads >= 1 (or None: choose)"
        )
    torch.set_num_threads(n)
    return n


@contextmanager
def timer(label: str = "took"):
    """``with timer("training"):`` prints the wall time of the block."""
    start = time.perf_counter()
    yield
    print(f"{label}: {time.perf_counter() - start:.1f} s")


def is_book_build() -> bool:
    """True when ``DIFFLAB_BOOK`` is set to 1: the static online book is being built (the README's
    build command sets it). Progress bars then print one summary line instead of updating, and
    explorers show a still or an animation instead of live widgets: a page cannot run Python."""
    return _env_flag("DIFFLAB_BOOK", "1 (building the book) or 0")


class _Summary:
    """The stand-in for a progress bar in the built book: iterates, then prints one line."""

    def __init__(self, iterable, total, desc, disable):
        self.iterable, self.desc, self.disable = iterable, desc, disable
        self.total = (
            total
            if total is not None
            else (len(iterable) if hasattr(iterable, "__len__") else None)
        )
        self.postfix = ""

    def set_postfix_str(self, s: str = "", refresh: bool = True):
        self.postfix = s

    def __iter__(self):
        n = 0
        for item in self.iterable:
            n += 1
            yield item
        if not self.disable:
            print(
                f"{self.desc}: {n}"
                + (f" of {self.total}" if self.total and self.total != n else "")
                + " done"
                + (f", {self.postfix}" if self.postfix else "")
            )


def progress(
    iterable=None, *, total: int | None = None, desc: str = "", disable: bool = False
):
    """A text progress bar (tqdm) that updates in place in Jupyter, Colab and a terminal. While
    the static book is built (:func:`is_book_build`) it prints one summary line at the end instead."""
    import sys

    from tqdm.std import tqdm

    if is_book_build():
        return _Summary(iterable, total, desc, disable)
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        file=sys.stdout,
        mininterval=2.0,
        ncols=90,
        disable=disable,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]",
    )
