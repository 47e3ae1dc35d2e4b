import time

import pytest
import torch

from difflab.data import make_shapes, shapes_tokenizer
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
from difflab.data.tokenizer import Tokenizer, split_words


def test_shapes_dtypes_range_and_attributes():
    d = make_shapes(300, seed=1)
    assert d.images.shape == (300, 3, 32, 32) and d.images.dtype == torch.float32
    assert d.images.min() >= 0 and d.images.max() <= 1
    assert len(d.captions) == 300 and all(isinstance(c, str) and c for c in d.captions)
    assert all(t.shape == (300,) and t.dtype == torch.long for t in d.attributes)


def test_same_seed_same_data_and_global_state_untouched():
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    a = make_shapes(50, seed=3)
    assert torch.equal(before, torch.rand(3)), (
        "make_shapes must not draw from the global generator"
    )
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


def test_anti_aliased_edges_and_minimum_size():
    d = make_shapes(200, seed=0)
    cover = d.images.max(1).values  # (N, H, W)
    rel = cover / cover.amax((1, 2), keepdim=True)  # 1 inside the shape, 0 outside
    partial = ((rel > 0.02) & (rel < 0.98)).float().sum((1, 2))
    assert (partial > 0).all(), "edges should be anti-aliased"
    width = (rel > 0.5).any(1).float().sum(1)  # columns the shape covers
    assert width.min() >= 7, f"the smallest shape is {width.min():.0f} px wide"


def test_every_caption_word_is_in_the_vocabulary():
    vocab = set(vocabulary())
    d = make_shapes(2000, seed=0, split="all", p_omit=0.3)
    assert {w for c in d.captions for w in split_words(c)} <= vocab
    assert {
        w
        for a in ("shape", "colour", "size", "position")
        for p in class_prompts(a)
        for w in split_words(p)
    } <= vocab


def test_render_without_jitter_is_deterministic():
    a = combo_attributes(torch.arange(0, 360, 7))
    assert torch.equal(render(a, jitter=False), render(a, jitter=False))


def test_tokenizer_round_trip_unknown_words_and_padding():
    tok = shapes_tokenizer()
    ids = tok.encode(["Top-left: a RED disc", "a pink hexagon"])
    assert ids.shape == (2, tok.max_len) and ids.dtype == torch.long
    assert tok.decode(ids) == ["top left a red disc", "a <unk> <unk>"]
    assert tok.unknown_words("a pink hexagon") == ["pink", "hexagon"]
    assert (ids[0, 7:] == tok.pad_id).all() and ids[0, 6] == tok.eos_id


@pytest.mark.parametrize(
    "captions,exc,match",
    [
        ([""], ValueError, r"captions\[0\]='' has no words"),
        (["a red circle", " ,: "], ValueError, r"captions\[1\]=' ,: ' has no words"),
        (["word " * 30], ValueError, "has 30 words"),
        ("a red circle", TypeError, "list of strings"),
        ([3], TypeError, r"captions\[0\]=3"),
    ],
)
def test_tokenizer_bad_input(captions, exc, match):
    with pytest.raises(exc, match=match):
        shapes_tokenizer().encode(captions)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: make_shapes(0), ValueError, "n=0"),
        (lambda: make_shapes(5, seed=-1), ValueError, "seed=-1"),
        (lambda: make_shapes(5, split="test"), ValueError, "split='test'"),
        (lambda: make_shapes(5, p_omit=1.0), ValueError, "p_omit=1.0"),
        (lambda: class_prompts("texture"), ValueError, "attribute='texture'"),
        (lambda: Tokenizer(["red", "two words"]), ValueError, "two words"),
    ],
)
def test_bad_arguments_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
