"""Tests of difflab.data.tokenizer."""

import pytest
import torch

from difflab.data import make_shapes, shapes_tokenizer
from difflab.data.shapes import (
    class_prompts,
    vocabulary,
)
from difflab.data.tokenizer import split_words


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


def test_tokenizer_round_trip():
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
