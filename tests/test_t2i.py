"""difflab.t2i (Chapter 8): the prompt-to-image entry point, the pairs kept out of
training, and the shipped text-to-image model."""

import warnings

import pytest
import torch

from difflab import registry
from difflab.data.shapes import is_heldout, make_shapes
from difflab.recipes import T2I_RECIPE, changed
from difflab.saving import read_training_log
from difflab.t2i import (
    is_unseen_pair,
    text_to_image,
    unseen_prompts,
    warn_unknown,
)

T2I_CHECKPOINT = registry.CHECKPOINTS / "t2i.safetensors"


def _two_prompts(model, clip):
    return text_to_image(
        ["a red circle", "a blue square"],
        "green",
        scale=2.0,
        steps=2,
        n=2,
        model=model,
        clip=clip,
    )


def test_text_to_image_gives_n_images_per_prompt_in_the_unit_range(
    small_t2i, shipped_clip
):
    out = _two_prompts(small_t2i, shipped_clip)
    assert out.shape == (4, 3, 32, 32) and out.min() >= 0 and out.max() <= 1


def test_text_to_image_is_seeded(small_t2i, shipped_clip):
    out = _two_prompts(small_t2i, shipped_clip)
    assert torch.equal(out, _two_prompts(small_t2i, shipped_clip))


def test_an_unknown_word_becomes_the_unknown_word_token(small_t2i, shipped_clip):
    # a word the tokenizer never saw is not an error, only a warning
    with pytest.warns(UserWarning, match="zzyzx"):
        out = text_to_image(
            "a zzyzx circle", steps=1, model=small_t2i, clip=shipped_clip
        )
    assert out.shape == (1, 3, 32, 32)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"prompt": "a zzyzx circle"}, id="prompt"),
        pytest.param({"prompt": ["a red circle", "a zzyzx"]}, id="second-prompt"),
        pytest.param({"prompt": "a red circle", "negative": "zzyzx"}, id="negative"),
    ],
)
def test_an_unknown_word_is_named_in_a_warning(small_t2i, shipped_clip, kwargs):
    with pytest.warns(UserWarning, match=r"does not know the words \['zzyzx'\]"):
        text_to_image(steps=1, model=small_t2i, clip=shipped_clip, **kwargs)


def test_a_prompt_of_known_words_gives_no_warning(small_t2i, shipped_clip):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text_to_image(
            "a red circle", "blue", steps=1, model=small_t2i, clip=shipped_clip
        )


def test_warn_unknown_names_each_unknown_word_once(shipped_clip):
    with pytest.warns(UserWarning, match=r"\['hexagon', 'pink'\]"):
        warn_unknown(shipped_clip.tokenizer, ["a pink hexagon", "pink"])


def test_the_unknown_word_warning_points_at_the_callers_line(small_t2i, shipped_clip):
    with pytest.warns(UserWarning, match="zzyzx") as record:
        text_to_image("a zzyzx", steps=1, model=small_t2i, clip=shipped_clip)
    assert record[0].filename == __file__


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        pytest.param(
            {"prompt": ""}, "prompt='' must be a non-empty string", id="prompt"
        ),
        pytest.param(
            {"prompt": []}, r"prompt=\[\] must be a non-empty string", id="prompt-list"
        ),
        pytest.param(
            {"prompt": "a", "negative": " "},
            "negative=' ' must be a non-empty string",
            id="negative",
        ),
        pytest.param(
            {"prompt": "a", "scale": float("nan")},
            "scale=nan must be a finite real number",
            id="scale-nan",
        ),
        pytest.param(
            {"prompt": "a", "scale": float("inf")},
            "scale=inf must be a finite real number",
            id="scale-inf",
        ),
        pytest.param(
            {"prompt": "a", "steps": 0},
            "steps=0 is out of range: allowed is 1 <= steps",
            id="steps",
        ),
        pytest.param(
            {"prompt": "a", "n": 0}, "n=0 is out of range: allowed is 1 <= n", id="n"
        ),
    ],
)
def test_text_to_image_names_a_bad_argument(small_t2i, shipped_clip, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        text_to_image(model=small_t2i, clip=shipped_clip, **kwargs)


def test_text_to_image_shows_every_step_to_a_callback(small_t2i, shipped_clip):
    seen = []
    out = text_to_image(
        "a red circle",
        steps=3,
        model=small_t2i,
        clip=shipped_clip,
        callback=lambda i, t, x, x0_hat: seen.append((i, x.shape, x0_hat.shape)),
    )
    assert [s[0] for s in seen] == [0, 1, 2] and all(
        s[1] == s[2] == (1, 3, 32, 32) for s in seen
    )
    assert out.shape == (1, 3, 32, 32)


# --- the pairs kept out of training -------------------------------------------------------

RECIPE = changed(T2I_RECIPE, data={"n_images": 300})


def test_unseen_pairs_are_kept_out_of_training():
    images, emb = registry.FAMILIES["t2i"].data(RECIPE)
    data = RECIPE["data"]
    made = make_shapes(300, data["seed"], split="train", p_omit=data["p_omit"])
    unseen = is_unseen_pair(made.attributes, RECIPE)
    assert 0 < int(unseen.sum()) < 300 and images.shape[0] == emb.shape[0] == 300 - int(
        unseen.sum()
    )
    assert torch.equal(images, made.images[~unseen] * 2 - 1)


def test_the_test_prompts_hold_the_unseen_pairs():
    attrs, prompts = unseen_prompts(RECIPE)
    assert (
        len(prompts) == 96 and int(is_unseen_pair(attrs, RECIPE).sum()) == 30
    )  # 72 held out + 24 more of the pairs


def test_every_test_prompt_is_held_out_or_unseen():
    attrs, _ = unseen_prompts(RECIPE)
    assert bool((is_heldout(attrs) | is_unseen_pair(attrs, RECIPE)).all())


# --- training and the shipped model ------------------------------------------------------


def test_training_loss_falls():
    recipe = changed(
        T2I_RECIPE,
        data={"n_images": 64},
        model={"channels": [8, 16, 16], "emb_dim": 16},
        train={"steps": 30, "batch_size": 16, "ema_decay": 0.0, "warmup_steps": 30},
    )
    _, h = registry.train(recipe, progress=False)
    assert sum(h[-5:]) / 5 < sum(h[:5]) / 5, (h[:5], h[-5:])


def test_shipped_checkpoint_has_under_5_million_parameters():
    model = registry.load("t2i")
    assert sum(p.numel() for p in model.parameters()) < 5_000_000


def test_shipped_checkpoint_carries_its_training_log():
    log = read_training_log(T2I_CHECKPOINT)
    assert log["step"] == [1000, 2000, 3000, 4000] and log["scale"] == 2.0
    assert all(
        len(log[k]) == 4
        for k in ("colour", "shape", "size", "position", "colour+shape", "clip")
    )
    assert len(log["loss_per_100_steps"]) == 40
