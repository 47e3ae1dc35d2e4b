"""The book's language: figure labels and check lines in English or in Japanese.

The Japanese notebooks (``book_ja/``) run the English code unchanged; their first cell sets
``DIFFLAB_LANG=ja`` before ``difflab`` is imported. Then every text matplotlib draws (titles,
axis labels, legends, captions of animations) and every line :func:`difflab.claims.check`
prints is looked up in the message catalogue ``locale/ja.json`` (English -> Japanese), and
figures use a Japanese font (IPAexGothic, shipped by ``matplotlib-fontja``).

A catalogue key is the English text with every number written as ``{}``, so one entry
serves ``"s = 4"`` and ``"s = 8"``: ``"s = {}"`` -> ``"s = {0}"``; the translation puts the
numbers back by position (``{0}``, ``{1}``, ...), in whatever order Japanese needs. A text made
only of the models' own words (a prompt such as "a red circle moving right") is what the
reader typed and stays English, as do texts without a word of two letters (numbers, math);
a key may hold such words as ``{w}``: ``"asked: {w}"`` -> ``"指示: {0}"``.

With ``DIFFLAB_I18N_STRICT=1`` (the tests set it) a text that needs a translation and has
none raises ``KeyError``, naming the text and the catalogue: so a chapter that draws a new
label fails its Japanese notebook's test until the catalogue has it.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import matplotlib_fontja
from matplotlib.text import Text

from .models.clip import TOKENIZERS

LANGUAGES = ("en", "ja")
CATALOGUE = Path(__file__).with_name("locale") / "ja.json"
NUMBER = re.compile(r"(?<![A-Za-z_\\])[-−]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?")
_MATH = re.compile(r"\$[^$]*\$")
_WORD = re.compile(r"[A-Za-z]{2,}")


def language() -> str:
    """The book's language: ``DIFFLAB_LANG`` (``en`` or ``ja``), English when unset."""
    lang = os.environ.get("DIFFLAB_LANG", "").strip() or "en"
    if lang not in LANGUAGES:
        raise ValueError(f"DIFFLAB_LANG={lang!r}: the book has {', '.join(LANGUAGES)}")
    return lang


@lru_cache(maxsize=1)
def catalogue() -> dict[str, str]:
    """The Japanese message catalogue: a key with ``{}`` for numbers -> its translation."""
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _own_words() -> frozenset[str]:
    """The words of every caption the book's models read (data.tokenizer's vocabularies)."""
    return frozenset(w for make in TOKENIZERS.values() for w in make().itos)


def key(text: str) -> tuple[str, list[str]]:
    """``text`` as a catalogue key, numbers replaced by ``{}``, and the numbers in order."""
    return NUMBER.sub("{}", text), NUMBER.findall(text)


def needs_translation(text: str) -> bool:
    """True for a text with a word of two letters outside math that is not a prompt."""
    words = [w.lower() for w in _WORD.findall(_MATH.sub(" ", text))]
    return bool(words) and not set(words) <= _own_words()


def translate(text: str, lang: str | None = None) -> str:
    """``text`` in ``lang`` (the book's language when None), from the catalogue.

    A text wrapped over several lines is looked up whole (its translation is wrapped again to
    the same width, :func:`wrap`), else line by line."""
    if (lang or language()) == "en" or not text.strip():
        return text
    if "\n" not in text:
        return _translate(text)
    whole = _lookup(" ".join(text.split()))
    if whole is not None:
        return wrap(whole, max(len(line) for line in text.split("\n")))
    lines = text.split("\n")
    if all(_lookup(ln) is not None or not needs_translation(ln) for ln in lines):
        return "\n".join(_lookup(ln) or ln for ln in lines)
    return _translate(" ".join(text.split()))


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern, str]]:
    """The catalogue's keys with ``{w}`` (any words the models read, e.g. a prompt) as
    regular expressions; ``{}`` stands for a number there too."""
    out = []
    for k, v in catalogue().items():
        if "{w}" in k:
            parts = re.split(r"(\{w\}|\{\})", k)
            rx = "".join(
                "(.+?)"
                if p == "{w}"
                else f"({NUMBER.pattern})"
                if p == "{}"
                else re.escape(p)
                for p in parts
            )
            out.append((re.compile(rx + "$"), v))
    return out


def _lookup(text: str) -> str | None:
    k, numbers = key(text)
    found = catalogue().get(k)
    if found is not None:
        return _fill(found, numbers)
    for rx, translation in _patterns():
        m = rx.match(text)
        if m and not any(needs_translation(g) for g in m.groups()):
            return _fill(translation, m.groups())
    return None


def _fill(translation: str, values) -> str:
    """``translation`` with ``{0}``, ``{1}``, ... replaced by ``values`` (other braces, as in
    LaTeX, are left alone)."""
    return re.sub(r"\{(\d+)\}", lambda m: str(values[int(m.group(1))]), translation)


def _translate(text: str) -> str:
    found = _lookup(text)
    if found is not None or not needs_translation(text):
        return text if found is None else found
    k, _ = key(text)
    if os.environ.get(
        "DIFFLAB_I18N_RECORD"
    ):  # scripts/translate.py labels collects these
        with open(os.environ["DIFFLAB_I18N_RECORD"], "a", encoding="utf-8") as f:
            f.write(json.dumps(k, ensure_ascii=False) + "\n")
    if os.environ.get("DIFFLAB_I18N_STRICT") == "1":
        raise KeyError(
            f"no Japanese for {text!r}: add the key {k!r} to src/difflab/locale/ja.json"
        )
    return text


def width(text: str) -> int:
    """Columns ``text`` takes in a monospaced font: a kanji or kana takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int, right: bool = False) -> str:
    """``text`` padded with spaces to ``columns`` (see :func:`width`), left- or right-aligned."""
    fill = " " * max(0, columns - width(text))
    return fill + text if right else text + fill


_TOKEN = re.compile(r"\s+|[^\s\u3000-\u9fff\uff00-\uffef]+|.")


def wrap(text: str, columns: int) -> str:
    """``text`` in lines of at most ``columns`` (:func:`width`): Latin words stay whole, a
    line may break between any two Japanese characters."""
    lines, line = [], ""
    for token in _TOKEN.findall(text):
        if line.strip() and width(line + token.rstrip()) > columns:
            lines.append(line.rstrip())
            line = "" if token.isspace() else token
        else:
            line += token
    return "\n".join(lines + [line.rstrip()])


def use_language() -> None:
    """Draw in the book's language: for Japanese, a Japanese font and translated texts.

    Called once when ``difflab`` is imported; it changes matplotlib's settings only when the
    language is Japanese."""
    if language() == "en":
        return
    matplotlib_fontja.japanize()
    if getattr(Text.set_text, "_difflab", False):
        return
    original = Text.set_text

    def set_text(self, s):
        original(self, translate(s) if isinstance(s, str) else s)

    set_text._difflab = True
    Text.set_text = set_text
