"""difflab: the code of the book *From a sentence to a picture*.

Each module holds one idea of the book under the name the book uses:
``schedules`` (noise schedules and the closed-form forward process), ``forward``
(the forward process simulated step by step), ``data`` (the spiral and other toys),
``plot`` (every figure of the book).
"""
from .utils import check_env, device, is_fast, pick, progress, seed_everything, seed_in_force, timer

__version__ = "0.1.0"
__all__ = ["check_env", "device", "is_fast", "pick", "progress", "seed_everything", "seed_in_force", "timer"]
