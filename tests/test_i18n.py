"""difflab.i18n: the figure labels and check lines of the Japanese notebooks."""

import json
import re

import matplotlib.pyplot as plt
import pytest

from difflab import i18n
from difflab.claims import at_least, check

ENTRIES = {
    "samples at s = {}": "s = {0} のサンプル",
    "{} of {} steps": "{1} ステップ中 {0} ステップ",
    "asked: {w}": "指示: {0}",
    "check: the loss falls": "チェック: 損失が下がる",
    "final loss": "最終損失",
    "(test: ≥ {})": "（テスト: ≥ {0}）",
    "the loss of the long run, drawn over every step": "長い学習の損失（全ステップ）",
}


@pytest.fixture
def japanese(monkeypatch):
    """The book in Japanese with a small catalogue of its own."""
    monkeypatch.setenv("DIFFLAB_LANG", "ja")
    monkeypatch.delenv("DIFFLAB_I18N_STRICT", raising=False)
    monkeypatch.setattr(i18n, "catalogue", lambda: ENTRIES)
    i18n._patterns.cache_clear()
    yield
    i18n._patterns.cache_clear()


def test_english_is_the_default_left_as_it_is(monkeypatch):
    monkeypatch.delenv("DIFFLAB_LANG", raising=False)
    assert i18n.language() == "en"
    assert i18n.translate("samples at s = 4") == "samples at s = 4"


def test_an_unknown_language_is_refused(monkeypatch):
    monkeypatch.setenv("DIFFLAB_LANG", "fr")
    with pytest.raises(ValueError, match="DIFFLAB_LANG='fr'.*en, ja"):
        i18n.language()


def test_a_key_writes_every_number_as_braces():
    assert i18n.key("s = 4: 87.5% of 1,000") == (
        "s = {}: {}% of {}",
        ["4", "87.5", "1,000"],
    )


def test_numbers_go_back_into_the_translation_in_the_order_it_asks(japanese):
    assert i18n.translate("samples at s = 7.5") == "s = 7.5 のサンプル"
    assert i18n.translate("3 of 20 steps") == "20 ステップ中 3 ステップ"


def test_a_prompt_inside_a_label_stays_english(japanese):
    assert (
        i18n.translate("asked: a red circle moving left")
        == "指示: a red circle moving left"
    )


def test_texts_without_words_or_with_prompts_need_no_translation():
    assert not i18n.needs_translation("$x_t$ = 0.5")
    assert not i18n.needs_translation("a blue square")
    assert i18n.needs_translation("after training")


def test_a_wrapped_label_is_looked_up_whole_then_wrapped_again(japanese):
    out = i18n.translate("the loss of the long run,\ndrawn over every step")
    assert (
        out.replace("\n", "")
        == ENTRIES["the loss of the long run, drawn over every step"]
    )
    assert max(i18n.width(line) for line in out.split("\n")) <= 25


def test_wrapping_keeps_latin_words_whole():
    assert i18n.wrap("指示: a red circle", 10).split("\n") == ["指示: a", "red circle"]


def test_a_missing_label_passes_through_unless_strict(japanese, monkeypatch):
    assert i18n.translate("a label nobody translated") == "a label nobody translated"
    monkeypatch.setenv("DIFFLAB_I18N_STRICT", "1")
    with pytest.raises(KeyError, match="a label nobody translated.*ja.json"):
        i18n.translate("a label nobody translated")


def test_a_missing_label_is_recorded_for_the_translator(
    japanese, monkeypatch, tmp_path
):
    record = tmp_path / "missing.jsonl"
    monkeypatch.setenv("DIFFLAB_I18N_RECORD", str(record))
    i18n.translate("after 3 steps")
    assert [json.loads(line) for line in record.read_text().splitlines()] == [
        "after {} steps"
    ]


def test_a_check_prints_in_japanese_aligned_by_display_width(japanese, capsys):
    check("the loss falls", at_least("final loss", 0.12, 0.1))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "チェック: 損失が下がる"
    assert out[1].split() == ["最終損失", "0.12", "（テスト:", "≥", "0.1）"]
    assert i18n.width("最終損失") == 8


def test_figure_texts_are_translated_once_the_language_is_used(japanese):
    with plt.rc_context():  # the Japanese font stays inside this test
        i18n.use_language()
        fig, ax = plt.subplots()
        ax.set_title("samples at s = 4")
        ax.set_xlabel("final loss")
        assert (ax.get_title(), ax.get_xlabel()) == ("s = 4 のサンプル", "最終損失")
        assert "IPAexGothic" in plt.rcParams["font.family"]
        plt.close(fig)


def test_every_shipped_translation_uses_each_number_of_its_key_once():
    """Every translation uses the numbers and words its key has, each exactly once."""
    for k, v in i18n.catalogue().items():
        n = k.count("{}") + k.count("{w}")
        used = sorted(int(i) for i in re.findall(r"\{(\d+)\}", v))
        assert used == list(range(n)), (k, v)
