"""difflab.data.shapes: the captioned images of Chapters 1 and 8: seeded, fast, every\nattribute named in the caption, and a held-out split of combinations and wordings."""

import time

import pytest
import torch

from difflab.data import make_shapes
from difflab.data.shapes import (
    HELDOUT_TEMPLATES,
    N_COMBOS,
    TRAIN_TEMPLATES,
    Attributes,
    class_prompts,
    combo_attributes,
    combo_index,
    describe,
    is_heldout,
    render,
    split_combos,
    vocabulary,
)
from difflab.data.tokenizer import split_words

SHAPES = make_shapes(300, seed=1)


def test_make_shapes_gives_n_float32_rgb_images_of_32_pixels():
    images = SHAPES.images
    assert images.shape == (300, 3, 32, 32) and images.dtype == torch.float32


def test_make_shapes_images_lie_in_the_unit_range():
    assert SHAPES.images.min() >= 0 and SHAPES.images.max() <= 1


def test_make_shapes_gives_a_caption_per_image():
    captions = SHAPES.captions
    assert len(captions) == 300 and all(isinstance(c, str) and c for c in captions)


def test_make_shapes_gives_the_attributes_of_each_image():
    assert all(t.shape == (300,) and t.dtype == torch.long for t in SHAPES.attributes)


def test_make_shapes_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    make_shapes(50, seed=3)
    assert torch.equal(before, torch.rand(3)), (
        "make_shapes must not draw from the global generator"
    )


def test_same_seed_same_data():
    a = make_shapes(50, seed=3)
    b = make_shapes(50, seed=3)
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    assert not torch.equal(a.images, make_shapes(50, seed=4).images)


def test_ten_thousand_images_in_under_five_seconds():
    start = time.perf_counter()
    make_shapes(10_000, seed=0, p_omit=0.2)
    seconds = time.perf_counter() - start
    assert seconds < 5, f"10,000 captioned images took {seconds:.2f} s"


def test_heldout_split_of_combinations():
    train, held = split_combos("train"), split_combos("heldout")
    assert len(train) + len(held) == N_COMBOS == 360 and len(held) == 72
    assert not set(train.tolist()) & set(held.tolist())
    every = combo_attributes(torch.arange(N_COMBOS))
    assert torch.equal(combo_index(every), torch.arange(N_COMBOS))
    d = make_shapes(3000, seed=0, split="train")
    assert not is_heldout(d.attributes).any()
    assert is_heldout(make_shapes(500, seed=0, split="heldout").attributes).all()
    # every attribute value is seen in training, in every (shape, colour, size) but one position
    for values in d.attributes:
        assert len(values.unique()) == int(values.max()) + 1
    assert len((combo_index(d.attributes) // 5).unique()) == 72


def test_heldout_wordings_are_new_sentences_of_known_words():
    train_words = {
        w
        for pair in TRAIN_TEMPLATES
        for t in pair
        for w in split_words(t.replace("{np}", "").replace("{pos}", ""))
    }
    for pair in HELDOUT_TEMPLATES:
        for t in pair:
            assert t not in {x for p in TRAIN_TEMPLATES for x in p}
            assert set(
                split_words(t.replace("{np}", "").replace("{pos}", ""))
            ) <= train_words | {"a", "an"}
    tr = set(make_shapes(3000, seed=0, split="train").captions)
    he = make_shapes(300, seed=0, split="heldout").captions
    assert not tr & set(he)


def test_captions_name_the_attributes():
    d = make_shapes(200, seed=2)
    names = [{"circle", "disc"}, {"square", "box"}, {"triangle"}, {"cross", "plus"}]
    for caption, shape in zip(d.captions, d.attributes.shape.tolist()):
        assert set(split_words(caption)) & names[shape], caption
    a = Attributes(
        *(torch.tensor([v]) for v in (2, 0, 2, 4))
    )  # large red triangle in the centre
    caption = describe(a, torch.Generator().manual_seed(0))[0]
    assert (
        "red" in caption
        and "triangle" in caption
        and any(w in caption for w in ("centre", "center", "middle"))
    )
    assert any(w in caption for w in ("large", "big", "huge"))


def test_p_omit_leaves_attributes_out_but_never_all():
    d = make_shapes(500, seed=0, p_omit=0.5)
    assert all(split_words(c) for c in d.captions)
    assert sum("shape" in c or "object" in c for c in d.captions) > 100


def _coverage():
    cover = make_shapes(200, seed=0).images.max(1).values  # (N, H, W)
    return cover / cover.amax((1, 2), keepdim=True)  # 1 inside the shape, 0 outside


def test_edges_are_anti_aliased():
    rel = _coverage()
    partial = ((rel > 0.02) & (rel < 0.98)).float().sum((1, 2))
    assert (partial > 0).all(), "edges should be anti-aliased"


def test_the_smallest_shape_is_7_pixels_wide():
    rel = _coverage()
    width = (rel > 0.5).any(1).float().sum(1)  # columns the shape covers
    assert width.min() >= 7, f"the smallest shape is {width.min():.0f} px wide"


def test_render_without_jitter_is_deterministic():
    a = combo_attributes(torch.arange(0, 360, 7))
    assert torch.equal(render(a, jitter=False), render(a, jitter=False))


@pytest.mark.parametrize(
    "call,match",
    [
        pytest.param(lambda: make_shapes(0), "n=0", id="n"),
        pytest.param(lambda: make_shapes(5, seed=-1), "seed=-1", id="seed"),
        pytest.param(lambda: make_shapes(5, split="test"), "split='test'", id="split"),
        pytest.param(lambda: make_shapes(5, p_omit=1.0), "p_omit=1.0", id="p_omit"),
        pytest.param(
            lambda: class_prompts("texture"), "attribute='texture'", id="attribute"
        ),
    ],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_every_caption_word_is_in_the_vocabulary():
    d = make_shapes(2000, seed=0, split="all", p_omit=0.3)
    assert {w for c in d.captions for w in split_words(c)} <= set(vocabulary())


def test_every_class_prompt_word_is_in_the_vocabulary():
    assert {
        w
        for a in ("shape", "colour", "size", "position")
        for p in class_prompts(a)
        for w in split_words(p)
    } <= set(vocabulary())
