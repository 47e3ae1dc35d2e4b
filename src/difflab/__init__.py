"""difflab: the code of the book *From a sentence to a picture*.

Each module holds one idea of the book under the name the book uses, one line each:

- ``utils``: device, seeding (``seed_everything``, ``local_seed``), threads, fast mode, progress
- ``_checks``: the one-line argument checks of the public entry points
- ``data``: data generated in code, nothing downloaded (the five modules below)
- ``data.spiral``: the 2-D spiral, the stand-in for "all real images" (Chapters 2-7)
- ``data.shapes``: captioned shapes, the stand-in for captioned photos (Chapters 1, 8)
- ``data.scenes``: two objects side by side, captions that name both (Chapter 9)
- ``data.clips``: captioned clips of a shape moving in a straight line (Chapter 10)
- ``data.tokenizer``: a word-level tokenizer: a caption to integer ids (Chapters 1, 8, 9)
- ``schedules``: every noise level: betas, alpha_bar, ``q_sample``, timesteps, flow sigmas
- ``forward``: the forward process simulated step by step, the random walks (Chapter 2)
- ``conversions``: one table between eps, x0, v, score and velocity, and between t and sigma
- ``models``: the book's networks (the eight modules below)
- ``models.layers``: the blocks the networks share
- ``models.mlp``: the 2-D denoiser and velocity MLPs (Chapters 3-7, 4b)
- ``models.unet``: the text-conditioned U-Net for 32 x 32 images (Chapters 8, 8b)
- ``models.prior``: unCLIP's prior, a text embedding to an image embedding (Chapter 8b)
- ``models.clip``: CLIP's text and image (or clip) encoders and their loss (Chapters 1, 9, 10)
- ``models.vae``: the KL-regularised autoencoder to a 4 x 8 x 8 latent (Chapter 9)
- ``models.latent_unet``: the latent U-Net that attends to every word (Chapter 9)
- ``models.video_dit``: the diffusion transformer over spacetime patches (Chapter 10)
- ``denoisers``: exact posterior means of a finite data set: denoiser, velocity (Chapters 3-5)
- ``losses``: one loss per family, each ``loss(model, batch, generator)``
- ``training``: the one training loop, ``train(model, loss, data, config)``
- ``recipes``: the recipes of the shipped models, plain dicts
- ``registry``: the models by name: build, train and load any family from its recipe
- ``saving``: the one checkpoint format, ``save_model`` / ``load_model``
- ``samplers``: DDPM, DDIM, Heun, DPM-Solver++, one signature, ``SAMPLERS`` (Chapters 3, 4)
- ``flow``: flow matching: the straight path, its velocity and its losses (Chapter 4b)
- ``flow_samplers``: Euler and Heun on the flow ODE, and their paths (Chapter 4b)
- ``guidance``: classifier-free guidance and negative prompts as model wrappers (Chapters 6, 7)
- ``metrics``: the numbers the checks are built on (W2 ratio, shares, CLIP score)
- ``claims``: a chapter's check, ``check(claim, at_most(...), ...)``, printed and asserted once
- ``clip_eval``: CLIP's measurements: retrieval, zero-shot classification (Chapter 1), the
  modality gap (Chapter 8b), binding (Chapter 9)
- ``t2i``: a sentence to a picture (Chapter 8)
- ``unclip``: CLIP inverted: a decoder of image embeddings, its priors, variations, text
  diffs (Chapter 8b)
- ``latent``: a sentence to a picture through a latent space, Stable Diffusion in miniature
  (Chapter 9)
- ``video``: a sentence to a clip: text-to-video in miniature, and the readings of clips
  (Chapter 10)
- ``plot``: every static figure of the book, and the animations that play in a static page
- ``explore``: the widgets: explorers that put a chapter's parameter under a slider
- ``i18n``: the book's language: figure labels and check lines in English or Japanese
"""

from . import i18n

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

i18n.use_language()  # DIFFLAB_LANG=ja (the Japanese notebooks): Japanese labels and font

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
