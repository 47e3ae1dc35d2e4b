"""Device, seeding, fast mode and progress: the few things every chapter needs first."""
from __future__ import annotations

import os
import random
import time
from contextlib import contextmanager

import numpy as np
import torch

DEFAULT_SEED = 0
_seed_in_force: int | None = None


def device() -> torch.device:
    """The accelerator the book runs on: CUDA if present, else Apple MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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


def seed_everything(seed: int = DEFAULT_SEED) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) and return a CPU ``torch.Generator``.

    This is the one place the book seeds: a notebook that calls it once at the top gives
    the same numbers run after run on the same machine.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative int")
    global _seed_in_force
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds CUDA and MPS too
    _seed_in_force = seed
    return torch.Generator().manual_seed(seed)


def seed_in_force() -> int | None:
    """The seed last given to :func:`seed_everything`, or None if it was never called."""
    return _seed_in_force


def check_env(seed: int = DEFAULT_SEED) -> torch.device:
    """Seed everything, print torch version, device, mode and seed; return the device."""
    seed_everything(seed)
    dev = device()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else dev.type
    mode = "fast (DIFFLAB_FAST=1)" if is_fast() else "default"
    print(f"torch {torch.__version__} | device: {name} | mode: {mode} | seed: {seed}")
    return dev


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
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.postfix = ""

    def set_postfix_str(self, s: str = "", refresh: bool = True):
        self.postfix = s

    def __iter__(self):
        n = 0
        for item in self.iterable:
            n += 1
            yield item
        if not self.disable:
            print(f"{self.desc}: {n}" + (f" of {self.total}" if self.total and self.total != n else "")
                  + " done" + (f", {self.postfix}" if self.postfix else ""))


def progress(iterable=None, *, total: int | None = None, desc: str = "", disable: bool = False):
    """A text progress bar (tqdm) that updates in place in Jupyter, Colab and a terminal. While
    the static book is built (:func:`is_book_build`) it prints one summary line at the end instead."""
    import sys

    from tqdm.std import tqdm

    if is_book_build():
        return _Summary(iterable, total, desc, disable)
    return tqdm(iterable, total=total, desc=desc, file=sys.stdout, mininterval=2.0, ncols=90, disable=disable,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
