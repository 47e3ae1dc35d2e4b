"""difflab.data.scenes: the latent-space chapter's two-object scenes: seeded pictures, a
caption that binds each colour to its shape and side, and held-out pairs and wordings."""

import re

import pytest
import torch

from difflab.data.scenes import (
    HELDOUT_TEMPLATES,
    N_OBJECTS,
    TRAIN_TEMPLATES,
    Scene,
    caption_of,
    describe_scenes,
    is_heldout_pair,
    make_scenes,
    pair_index,
    scene_pairs,
    scenes_tokenizer,
    swap_colours,
)
from difflab.data.shapes import COLOURS, WORDS, vocabulary
from difflab.data.tokenizer import split_words

TRAIN = make_scenes(1000, seed=1, split="train")
HELD = make_scenes(300, seed=1, split="heldout")


def _pattern(template: str) -> re.Pattern:
    """A template as a regular expression; its groups L and R are the noun phrases."""
    fill = {
        "{art_l}": "(?:a|an)",
        "{art_r}": "(?:a|an)",
        "{L}": "(?P<L>.+?)",
        "{R}": "(?P<R>.+?)",
    }
    parts = re.split(r"(\{\w+\})", template)
    return re.compile("".join(fill.get(p, re.escape(p)) for p in parts))


def _matches(caption: str, templates: list[str]) -> list[re.Match]:
    return [m for t in templates if (m := _pattern(t).fullmatch(caption))]


def _names(noun_phrase: str, shape: int, colour: int) -> bool:
    """Whether a noun phrase ends in a word for ``colour`` followed by one for ``shape``."""
    return any(
        re.search(rf"(^|\s){c} {s}$", noun_phrase)
        for c in WORDS["colour"][colour]
        for s in WORDS["shape"][shape]
    )


# --- the pictures ---------------------------------------------------------------------------


def test_make_scenes_gives_n_rgb_images_of_32_pixels():
    assert TRAIN.images.shape == (1000, 3, 32, 32)


def test_make_scenes_images_lie_in_the_unit_range():
    assert TRAIN.images.min() >= 0 and TRAIN.images.max() <= 1


def test_make_scenes_gives_a_caption_per_image():
    assert len(TRAIN.captions) == 1000


def test_make_scenes_gives_two_rows_of_attributes_per_image():
    assert all(a.shape == (2, 1000) for a in TRAIN.scene)


def test_same_seed_same_scenes():
    a, b = make_scenes(20, seed=3), make_scenes(20, seed=3)
    assert torch.equal(a.images, b.images) and a.captions == b.captions


def test_another_seed_other_scenes():
    assert not torch.equal(
        make_scenes(20, seed=3).images, make_scenes(20, seed=4).images
    )


def test_make_scenes_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    make_scenes(20, seed=3)
    assert torch.equal(before, torch.rand(3))


@pytest.mark.parametrize("split", ["train", "heldout", "all"])
def test_the_two_colours_of_every_scene_differ(split):
    colour = make_scenes(500, seed=2, split=split).scene.colour
    assert (colour[0] != colour[1]).all()


# --- the held-out pairs ---------------------------------------------------------------------


def test_pair_index_names_each_pair_once():
    index = pair_index(scene_pairs("all"))
    assert (
        len(set(index.tolist())) == len(index) and 0 <= index.min() < index.max() < 576
    )


def test_the_splits_share_no_pair():
    train, held = pair_index(scene_pairs("train")), pair_index(scene_pairs("heldout"))
    assert not set(train.tolist()) & set(held.tolist())


def test_the_splits_cover_every_pair_of_two_colours():
    n = scene_pairs("train").shape.shape[1] + scene_pairs("heldout").shape.shape[1]
    assert n == scene_pairs("all").shape.shape[1] == N_OBJECTS * (N_OBJECTS - 4)


def test_about_one_pair_in_seven_is_held_out():
    share = scene_pairs("heldout").shape.shape[1] / scene_pairs("all").shape.shape[1]
    assert 0.1 < share < 0.2, share


def test_held_out_pairs_never_appear_in_training_scenes():
    held = set(pair_index(scene_pairs("heldout")).tolist())
    assert not held & set(pair_index(TRAIN.scene).tolist())


def test_held_out_scenes_hold_only_held_out_pairs():
    assert is_heldout_pair(HELD.scene).all()


@pytest.mark.parametrize("side", [0, 1], ids=["left", "right"])
def test_every_object_appears_on_each_side_in_the_training_pairs(side):
    pairs = scene_pairs("train")
    objects = pairs.shape[side] * len(COLOURS) + pairs.colour[side]
    assert set(objects.tolist()) == set(range(N_OBJECTS))


# --- the captions ---------------------------------------------------------------------------


def test_training_captions_never_use_a_held_out_template():
    used = [c for c in TRAIN.captions if _matches(c, HELDOUT_TEMPLATES)]
    assert not used, used[:3]


def test_training_captions_use_the_training_templates():
    assert all(_matches(c, TRAIN_TEMPLATES) for c in TRAIN.captions)


def test_held_out_captions_use_the_held_out_templates():
    assert all(_matches(c, HELDOUT_TEMPLATES) for c in HELD.captions)


def test_every_word_of_the_held_out_captions_occurs_in_training_captions():
    seen = {w for c in TRAIN.captions for w in split_words(c)}
    new = {w for c in HELD.captions for w in split_words(c)} - seen
    assert not new, new


@pytest.mark.parametrize("sample", [TRAIN, HELD], ids=["train", "heldout"])
def test_a_caption_names_each_objects_colour_with_its_shape(sample):
    s = sample.scene
    for i, caption in enumerate(sample.captions):
        m = _matches(caption, TRAIN_TEMPLATES + HELDOUT_TEMPLATES)[0]
        assert _names(m["L"], s.shape[0, i], s.colour[0, i]), caption
        assert _names(m["R"], s.shape[1, i], s.colour[1, i]), caption


def test_caption_of_names_the_left_object_first():
    scene = Scene(torch.tensor([[0], [1]]), torch.tensor([[0], [4]]), torch.zeros(2, 1))
    assert caption_of(scene) == ["a red circle to the left of a blue square"]


def test_caption_of_picks_the_article_of_the_colour():
    scene = Scene(torch.tensor([[2], [3]]), torch.tensor([[1], [5]]), torch.zeros(2, 1))
    assert caption_of(scene) == ["an orange triangle to the left of a purple cross"]


def test_swap_colours_exchanges_the_colours():
    swapped = swap_colours(TRAIN.scene)
    assert torch.equal(swapped.colour, TRAIN.scene.colour[[1, 0]])


def test_swap_colours_keeps_the_shapes_in_place():
    swapped = swap_colours(TRAIN.scene)
    assert torch.equal(swapped.shape, TRAIN.scene.shape)


# --- the tokenizer --------------------------------------------------------------------------


def test_the_scenes_tokenizer_knows_every_word_of_every_caption():
    tokenizer = scenes_tokenizer()
    captions = make_scenes(2000, seed=0, split="all").captions
    unknown = {w for c in captions for w in tokenizer.unknown_words(c)}
    assert not unknown, unknown


def test_the_scenes_tokenizer_knows_chapter_ones_words():
    assert set(vocabulary()) <= set(scenes_tokenizer().itos)


def test_every_caption_fits_the_scenes_tokenizer():
    captions = make_scenes(2000, seed=0, split="all").captions
    assert max(len(split_words(c)) for c in captions) <= scenes_tokenizer().max_len - 2


# --- bad arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        pytest.param(
            lambda: make_scenes(4, split="val"),
            "split='val' is not allowed",
            id="split",
        ),
        pytest.param(
            lambda: scene_pairs("test"), "split='test' is not allowed", id="pairs-split"
        ),
        pytest.param(
            lambda: describe_scenes(TRAIN.scene, wording="test"),
            "wording='test' is not allowed",
            id="wording",
        ),
        pytest.param(lambda: make_scenes(0), "n=0 is out of range", id="n"),
        pytest.param(
            lambda: make_scenes(4, seed=-1), "seed=-1 is out of range", id="seed"
        ),
    ],
)
def test_a_bad_argument_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
