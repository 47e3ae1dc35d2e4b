"""difflab: the code of the book *From a sentence to a picture*.

Each module holds one idea of the book under the name the book uses:

- ``utils``: device, seeding (``seed_everything``, ``local_seed``), threads, fast mode, progress
- ``schedules``: noise schedules, the closed-form forward process ``q_sample``, sigma and beta
  from alpha_bar (Chapter 2)
- ``forward``: the forward process simulated step by step (Chapter 2)
- ``data``: the spiral (``data.spiral``), the captioned shapes (``data.shapes``) and the
  tokenizer (``data.tokenizer``)
- ``models``: the MLP denoiser (``models.mlp``, Chapters 3-7), CLIP (``models.clip``,
  Chapter 1) and the text-conditioned U-Net (``models.unet``, Chapter 8)
- ``denoisers``: the exact optimal denoisers of a finite data set (Chapters 3, 5)
- ``training``: the training loop and the diffusion losses (Chapters 3, 5, 8)
- ``train_clip``: CLIP's training run and the measurements of Chapter 1
- ``samplers``: DDPM, DDIM, Heun, DPM-Solver++(2M) and its SDE variant, one signature,
  ``SAMPLERS`` (Chapters 3, 4)
- ``flow``: flow matching: the straight path x_sigma = (1 - sigma) x0 + sigma eps, its loss, the
  exact velocity of a data set, Euler and Heun on the flow ODE, SD3's shift, reflow (the chapter
  after DDIM)
- ``conversions``: one table between eps, x0, v, score and the flow velocity, and between abar
  and the flow's sigma (the chapter after DDIM)
- ``guidance``: classifier-free guidance and negative prompts as model wrappers (Chapters 6, 7)
- ``claims``: a chapter's check, ``check(claim, at_most(...), ...)``: the claim, the measured
  number and its test, printed once and asserted by the same call
- ``metrics``: the numbers the checks are built on (W2 ratio, shares, CLIP score)
- ``recipes``: the recipes of the shipped models (spiral denoisers, CLIP) and their loaders
- ``saving``: the one checkpoint format, ``save_model`` / ``load_model``
- ``t2i``: a sentence to a picture (Chapter 8)
- ``plot``: every figure of the book
- ``explore``: the explorers of Chapters 3, 4 and 6-8: a chapter's parameter under a slider in
  Jupyter and Colab, as an animation or small multiples in the static book
"""

from .utils import (
    check_env,
    device,
    is_fast,
    local_seed,
    pick,
    progress,
    seed_everything,
    set_threads,
    timer,
)

__version__ = "0.1.0"
__all__ = [
    "check_env",
    "device",
    "is_fast",
    "local_seed",
    "pick",
    "progress",
    "seed_everything",
    "set_threads",
    "timer",
]
