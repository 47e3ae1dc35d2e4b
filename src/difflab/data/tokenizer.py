"""A word-level tokenizer: a caption becomes a row of integer ids the text encoder can embed.

CLIP itself uses a byte-pair encoding of 49,152 sub-words (Radford et al. 2021, Sec. 2.4);
our captions use about a hundred words, so one id per word is enough.

- Text is lower-cased and split into words made of letters and digits; everything else
  (spaces, commas, colons, hyphens) only separates words: "Top-left: a RED disc" gives
  ["top", "left", "a", "red", "disc"].
- Every row is ``<bos> w1 w2 ... <eos>`` followed by ``<pad>`` up to ``max_len``. The text
  encoder reads its summary of the caption at the ``<eos>`` position, as CLIP does.
- **Unknown words** (not in the vocabulary, e.g. "pink" or "hexagon") become the single id
  ``<unk>``. They are kept (not dropped) so the encoder sees that something was said there,
  but all unknown words look the same to it. :meth:`Tokenizer.unknown_words` lists them, so
  a caller can warn a user.
- A caption with no words at all (empty, or only spaces and punctuation) raises ValueError,
  and so does a caption longer than ``max_len - 2`` words.
"""

from __future__ import annotations

import re

import torch

from .._checks import check_int

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = [PAD, UNK, BOS, EOS]  # ids 0, 1, 2, 3
_WORD = re.compile(r"[a-z0-9]+")


def split_words(text: str) -> list[str]:
    """Lower-case ``text`` and return its words (runs of letters and digits)."""
    return _WORD.findall(text.lower())


class Tokenizer:
    """Word-level tokenizer over a fixed vocabulary: ``Tokenizer(words, max_len=24)``."""

    def __init__(self, words: list[str], max_len: int = 24):
        self.max_len = check_int("max_len", max_len, low=3)
        words = list(dict.fromkeys(words))  # keep order, drop repeats
        bad = [w for w in words if w in SPECIALS or split_words(w) != [w]]
        if bad:
            raise ValueError(
                f"words contains {bad[:5]}: each entry must be one lower-case word, not a special token"
            )
        self.itos = SPECIALS + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def pad_id(self) -> int:
        return self.stoi[PAD]

    @property
    def eos_id(self) -> int:
        return self.stoi[EOS]

    def unknown_words(self, caption: str) -> list[str]:
        """The words of ``caption`` that are not in the vocabulary (they become ``<unk>``)."""
        return [w for w in split_words(caption) if w not in self.stoi]

    def encode(self, captions: list[str]) -> torch.Tensor:
        """Token ids (N, max_len) long for a list of N captions; see the module docstring."""
        if isinstance(captions, str):
            raise TypeError(
                "captions must be a list of strings, not one string; wrap it: [caption]"
            )
        rows = torch.full((len(captions), self.max_len), self.pad_id, dtype=torch.long)
        for i, caption in enumerate(captions):
            if not isinstance(caption, str):
                raise TypeError(f"captions[{i}]={caption!r} must be a str")
            words = split_words(caption)
            if not words:
                raise ValueError(
                    f"captions[{i}]={caption!r} has no words; an empty caption cannot be encoded"
                )
            if len(words) > self.max_len - 2:
                raise ValueError(
                    f"captions[{i}] has {len(words)} words; at most max_len - 2 = {self.max_len - 2} "
                    f"fit: {caption!r}"
                )
            ids = (
                [self.stoi[BOS]]
                + [self.stoi.get(w, self.stoi[UNK]) for w in words]
                + [self.eos_id]
            )
            rows[i, : len(ids)] = torch.tensor(ids)
        return rows

    def decode(self, ids: torch.Tensor) -> list[str]:
        """The words of each row of ids, without ``<bos>``, ``<eos>`` and ``<pad>``."""
        skip = {self.stoi[PAD], self.stoi[BOS], self.stoi[EOS]}
        return [
            " ".join(self.itos[i] for i in row.tolist() if i not in skip)
            for row in torch.atleast_2d(ids)
        ]
