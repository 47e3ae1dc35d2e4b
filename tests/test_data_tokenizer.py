"""difflab.data.tokenizer: words to ids and back, with an unknown-word token, an end
token and padding."""

import pytest
import torch

from difflab.data import shapes_tokenizer
from difflab.data.tokenizer import Tokenizer


def _encoded():
    tok = shapes_tokenizer()
    return tok, tok.encode(["Top-left: a RED disc", "a pink hexagon"])


def test_encode_gives_a_row_of_max_len_ids_per_caption():
    tok, ids = _encoded()
    assert ids.shape == (2, tok.max_len) and ids.dtype == torch.long


def test_tokenizer_round_trip():
    # lower case, punctuation gone, unknown words as <unk>
    tok, ids = _encoded()
    assert tok.decode(ids) == ["top left a red disc", "a <unk> <unk>"]


def test_unknown_words_are_listed():
    tok, _ = _encoded()
    assert tok.unknown_words("a pink hexagon") == ["pink", "hexagon"]


def test_a_caption_ends_with_the_end_token_then_padding():
    tok, ids = _encoded()
    assert (ids[0, 7:] == tok.pad_id).all() and ids[0, 6] == tok.eos_id


@pytest.mark.parametrize(
    "captions,exc,match",
    [
        pytest.param(
            [""], ValueError, r"captions\[0\]='' has no words", id="captions-empty"
        ),
        pytest.param(
            ["a red circle", " ,: "],
            ValueError,
            r"captions\[1\]=' ,: ' has no words",
            id="captions-punctuation",
        ),
        pytest.param(
            ["word " * 30],
            ValueError,
            r"captions\[0\] has 30 words",
            id="captions-long",
        ),
        pytest.param(
            "a red circle", TypeError, "captions.*list of strings", id="captions-str"
        ),
        pytest.param([3], TypeError, r"captions\[0\]=3", id="captions-int"),
    ],
)
def test_tokenizer_bad_input(captions, exc, match):
    with pytest.raises(exc, match=match):
        shapes_tokenizer().encode(captions)


def test_a_vocabulary_word_with_a_space_is_named():
    with pytest.raises(ValueError, match="words contains .*two words"):
        Tokenizer(["red", "two words"])
