"""The recipes of the book's models: plain dicts, and nothing else.

Every recipe has the same parts:

- ``family``: which kind of model it is; :data:`difflab.registry.FAMILIES` says how a family
  builds its network, which loss trains it and what data it reads;
- ``data``: the training set (for reflow, ``pairs`` and the ``base`` recipe instead);
- ``model``: the network's config;
- ``train``: the training run, a :class:`~difflab.training.TrainConfig`;
- ``init_seed``: seeds the initial weights (or ``init: "base"``: start from the base model);
- and what the family needs besides: a noise ``schedule``, the flow's noise levels (``flow``),
  the condition dropout ``p_uncond``.

A recipe that differs from another by a little is derived with :func:`changed`. The shipped
models and their files are listed once, in :data:`difflab.registry.MODELS`; every file is made
by ``python scripts/train.py --model NAME``, which stores the recipe in the file.
"""

from __future__ import annotations

import copy

#: the training run shared by the spiral models (a TrainConfig)
SPIRAL_RUN = {
    "steps": 4000,
    "batch_size": 512,
    "lr": 2e-3,
    "warmup_steps": 100,
    "ema_decay": 0.0,
    "seed": 0,
}

SPIRAL_DDPM = {
    "family": "denoiser",
    "data": {"n": 20_000, "seed": 0, "jitter": 0.03},  # make_spiral(**data)
    "model": {"hidden": 128, "depth": 3, "time_dim": 64},  # MLPConfig
    # linear_betas (Ho et al. 2020, Sec. 4)
    "schedule": {"kind": "linear", "T": 1000, "beta_start": 1e-4, "beta_end": 0.02},
    "train": SPIRAL_RUN,
    "init_seed": 0,
}


def changed(recipe: dict, **parts) -> dict:
    """A copy of ``recipe`` with some entries of its parts changed:
    ``changed(T2I_RECIPE, train={"steps": 40}, data={"n_images": 2000})``."""
    out = copy.deepcopy(recipe)
    for part, entries in parts.items():
        if part not in out:
            raise ValueError(
                f"the recipe has no part {part!r}; its parts are {', '.join(out)}"
            )
        if isinstance(out[part], dict):
            unknown = sorted(set(entries) - set(out[part]))
            if unknown:
                raise ValueError(
                    f"recipe[{part!r}] has no entries {unknown}; "
                    f"it has {', '.join(out[part])}"
                )
            out[part] = {**out[part], **entries}  # a new dict: the base's may share it
        else:
            out[part] = entries
    return out


#: Chapters 5-7: the parts are the classes, and a fifth of the points carry the label of
#: another part (classes that overlap, as image classes do); condition dropout p_uncond
#: (Ho and Salimans 2022, Algorithm 1)
SPIRAL_COND = {
    "family": "cond_denoiser",
    "data": {**SPIRAL_DDPM["data"], "n_parts": 3, "label_noise": 0.2},
    "model": {**SPIRAL_DDPM["model"], "n_classes": 3},  # MLPConfig, a class embedding
    "schedule": SPIRAL_DDPM["schedule"],
    "train": {**SPIRAL_RUN, "steps": 6000},
    "p_uncond": 0.1,
    "init_seed": 0,
}

#: the chapter after DDIM: SPIRAL_DDPM's data, network and run; the velocity as target and
#: flow_loss's noise levels (flow.sample_sigma) in place of the schedule
SPIRAL_FLOW = {
    "family": "flow",
    "data": SPIRAL_DDPM["data"],
    "model": SPIRAL_DDPM["model"],  # MLPConfig of a VelocityMLP
    "flow": {"sigma_sampling": "uniform", "loc": 0.0, "scale": 1.0},
    "train": SPIRAL_RUN,
    "init_seed": 0,
}

#: the same run with SD3's logit-normal noise levels, m = 0, s = 1 (Esser et al. 2024, Sec. 3.1)
SPIRAL_FLOW_LOGIT_NORMAL = changed(SPIRAL_FLOW, flow={"sigma_sampling": "logit_normal"})

#: reflow (Liu et al. 2023, Algorithm 1): pairs (x0, eps) coupled by the base flow's ODE
#: (solver, steps, noise seed), then the base model trained further on them
SPIRAL_REFLOW = {
    "family": "reflow",
    "base": SPIRAL_FLOW,
    "pairs": {"n": 20_000, "sampler": "heun", "steps": 50, "seed": 1},
    "model": SPIRAL_FLOW["model"],
    "flow": SPIRAL_FLOW["flow"],
    "train": SPIRAL_RUN,
    "init": "base",
}

#: Chapter 1's CLIP: fresh captioned shapes every step (captions leave out each attribute
#: with probability p_omit); CLIP's run (Radford et al. 2021, Sec. 2.5: AdamW betas
#: (0.9, 0.98), weight decay, cosine decay to 0)
CLIP_RECIPE = {
    "family": "clip",
    "data": {"p_omit": 0.2},
    "model": {  # CLIPConfig
        "embed_dim": 512,
        "image_size": 32,
        "channels": [16, 32, 64],
        "image_hidden": 256,
        "vocab_size": 63,
        "max_len": 24,
        "text_width": 64,
        "text_layers": 2,
        "text_heads": 4,
        "init_temperature": 0.07,
        "max_logit_scale": 100.0,
    },
    "train": {
        "steps": 600,
        "batch_size": 128,
        "lr": 2e-3,
        "warmup_steps": 100,
        "min_lr_share": 0.0,
        "weight_decay": 0.05,
        "adam_betas": [0.9, 0.98],
        "ema_decay": 0.0,
        "seed": 0,
    },
    "init_seed": 0,
}

#: Chapter 8's text-to-image U-Net: v-prediction on a cosine schedule, CLIP text
#: embeddings, condition dropout, EMA; (shape, colour) pairs never shown in training
T2I_RECIPE = {
    "family": "t2i",
    "data": {
        "n_images": 20000,
        "seed": 1,
        "split": "train",
        "p_omit": 0.3,
        "unseen_pairs": [["triangle", "green"], ["cross", "purple"]],
    },
    "model": {"channels": [32, 64, 128], "emb_dim": 128, "cond_dim": 512},  # UNetConfig
    # cosine_betas (Nichol and Dhariwal 2021, eq. 17); the network predicts v
    "schedule": {"kind": "cosine", "T": 1000, "prediction": "v"},
    "train": {
        "steps": 4000,
        "batch_size": 64,
        "lr": 2e-3,
        "warmup_steps": 100,
        "ema_decay": 0.998,
        "seed": 0,
    },
    "p_uncond": 0.15,
    "init_seed": 0,
}

#: the latent-space chapter's text encoder: Chapter 1's CLIP, its words and the two-object
#: scenes' ("to"); each batch holds single shapes and, a share ``scene_share``, scenes
SCENE_CLIP_RECIPE = {
    "family": "clip",
    "data": {"p_omit": 0.2, "scene_share": 0.5},
    "model": {**CLIP_RECIPE["model"], "vocab_size": 64, "vocabulary": "scenes"},
    "train": {**CLIP_RECIPE["train"], "steps": 1200},
    "init_seed": 0,
}

#: the latent-space chapter's images, single shapes and two-object scenes of the training
#: splits, as the autoencoder and the latent denoisers read them
LATENT_IMAGES = {"n_single": 10000, "n_scenes": 10000, "seed": 2, "p_omit": 0.3}

#: the KL-regularised autoencoder, 3 x 32 x 32 -> 4 x 8 x 8 (Rombach et al. 2022, Sec. 3);
#: kl_weight: the weight of the KL term in :func:`difflab.losses.vae_loss`
VAE_RECIPE = {
    "family": "vae",
    "data": LATENT_IMAGES,
    "model": {"channels": [32, 64, 64], "latent_channels": 4},  # VAEConfig
    "kl_weight": 1e-4,
    "train": {
        "steps": 1500,
        "batch_size": 64,
        "lr": 2e-3,
        "warmup_steps": 100,
        "ema_decay": 0.0,
        "seed": 0,
    },
    "init_seed": 0,
}

#: a latent denoiser that attends to every word (Rombach et al. 2022, Sec. 3.3): Chapter 8's
#: schedule, prediction, condition dropout and run, on the VAE's scaled latents of single
#: shapes and two-object scenes, reading the scene CLIP's token states as they are
LATENT_FROZEN_RECIPE = {
    "family": "latent",
    "data": {**LATENT_IMAGES, "n_single": 20000, "n_scenes": 20000, "seed": 3},
    "vae": VAE_RECIPE,
    "text": SCENE_CLIP_RECIPE,
    "model": {  # LatentUNetConfig
        "latent_channels": 4,
        "channels": [64, 128],
        "emb_dim": 128,
        "conditioning": "cross_attention",
        "cond_dim": 64,  # the width of a token state
        "heads": 4,
    },
    "schedule": T2I_RECIPE["schedule"],
    "train": T2I_RECIPE["train"],
    "p_uncond": T2I_RECIPE["p_uncond"],
    "init_seed": 0,
}

#: the chapter's model: the same, with two transformer layers of its own over the token states
LATENT_RECIPE = {
    **LATENT_FROZEN_RECIPE,
    "model": {**LATENT_FROZEN_RECIPE["model"], "text_layers": 2},
}

#: the control: the same denoiser, data and run with Chapter 8's conditioning, the caption's
#: one pooled 512-d embedding added to the time embedding
LATENT_POOLED_RECIPE = changed(
    LATENT_FROZEN_RECIPE, model={"conditioning": "pooled", "cond_dim": 512}
)

#: unCLIP's decoder (Ramesh et al. 2022, Sec. 2.1): Chapter 8's U-Net, data, schedule, condition
#: dropout and run, reading CLIP's *image* embedding of each training picture instead of the
#: text embedding of its caption
UNCLIP_DECODER_RECIPE = changed(T2I_RECIPE, family="unclip_decoder")

#: unCLIP's prior: a CLIP text embedding -> a CLIP image embedding, on the decoder's pictures
#: and their captions. ``model``: a PriorConfig; ``kind`` "regression" (one answer per caption,
#: squared error) or "diffusion" (predicts the clean embedding from a noised one, Ramesh et
#: al. 2022, Sec. 2.2), on embeddings times sqrt(512) so their coordinates have about unit spread
PRIOR_DIFFUSION_RECIPE = {
    "family": "prior",
    "data": T2I_RECIPE["data"],
    "model": {
        "kind": "diffusion",
        "dim": 512,
        "width": 320,
        "depth": 4,
        "time_dim": 128,
    },
    "schedule": {"kind": "cosine", "T": 1000, "prediction": "x0"},
    "train": {
        "steps": 4000,
        "batch_size": 256,
        "lr": 1e-3,
        "warmup_steps": 100,
        "ema_decay": 0.998,
        "seed": 0,
    },
    "init_seed": 0,
}

#: the control: the same network, data and run, answering the mean (squared error)
PRIOR_REGRESSION_RECIPE = changed(PRIOR_DIFFUSION_RECIPE, model={"kind": "regression"})

#: the video chapter's text encoder: Chapter 1's CLIP whose image side reads a whole clip (its
#: 8 frames stacked as 24 channels), trained on fresh captioned clips (difflab.data.clips)
#: whose captions leave out the shape, colour or motion with probability p_omit
VIDEO_CLIP_RECIPE = {
    "family": "video_clip",
    "data": {"p_omit": 0.2},
    "model": {
        **CLIP_RECIPE["model"],
        "vocab_size": 76,
        "vocabulary": "clips",
        "frames": 8,
    },
    "train": {**CLIP_RECIPE["train"], "steps": 1000},
    "init_seed": 0,
}

#: the video chapter's denoiser: a diffusion transformer over spacetime patches of the
#: autoencoder's per-frame latents (F x 4 x 8 x 8), reading the clip CLIP's token states;
#: flow matching with SD3's logit-normal noise levels (Esser et al. 2024, Sec. 3.1),
#: condition dropout for classifier-free guidance
VIDEO_RECIPE = {
    "family": "video",
    "data": {"n_clips": 20000, "seed": 4, "p_omit": 0.2},
    "vae": VAE_RECIPE,
    "text": VIDEO_CLIP_RECIPE,
    "model": {  # VideoDiTConfig
        "latent_channels": 4,
        "frames": 8,
        "size": 8,
        "patch": 2,
        "stem": 64,
        "width": 128,
        "depth": 3,
        "heads": 4,
        "cond_dim": 64,
        "conditioning": "cross_attention",
        "text_layers": 2,
        "max_tokens": 24,
        "attention": "full",
    },
    "flow": {"sigma_sampling": "logit_normal", "loc": 0.0, "scale": 1.0},
    "train": {
        "steps": 8000,
        "batch_size": 32,
        "lr": 1e-3,
        "warmup_steps": 200,
        "ema_decay": 0.998,
        "seed": 0,
    },
    "p_uncond": 0.1,
    "init_seed": 0,
}
