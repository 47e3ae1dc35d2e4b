"""The Japanese edition (scripts/translate.py) stays in step with the English book.

An English edit is finished only with its Japanese: after it, these tests fail until
``scripts/translate.py update`` has merged it into the catalogues, a translator has written
the new and the changed ("fuzzy") entries, and ``scripts/translate.py render`` has written
the Japanese notebooks again (README, contributing notes).
"""

import json
import re

import pytest
import yaml
from conftest import ROOT

import translate

PO_DIR = ROOT / "locales" / "ja" / "LC_MESSAGES"
ENGLISH = sorted((ROOT / "book").glob("*.ipynb"))


@pytest.fixture(scope="module")
def catalogues():
    return {
        p: translate.entries(translate.read_po(p)) for p in translate.po_files(ROOT)
    }


def _pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [
        c["file"] for part in toc["parts"] for c in part["chapters"]
    ]


def test_every_page_of_the_book_has_its_catalogue():
    have = {
        p.relative_to(PO_DIR).with_suffix("").as_posix() for p in translate.po_files()
    }
    assert set(_pages()) <= have, sorted(set(_pages()) - have)


def test_the_catalogues_hold_exactly_the_units_of_the_english_pages(tmp_path):
    """After an English edit: run `python scripts/translate.py update`."""
    assert translate.stale(ROOT, tmp_path) == []


def test_every_entry_is_translated_none_fuzzy(catalogues):
    left = [
        f"{p.name}: {m.id[:60]!r}"
        for p, ms in catalogues.items()
        for m in ms
        if not m.string or m.fuzzy
    ]
    assert left == [], f"{len(left)} entries to translate: {left[:10]}"


def test_translations_keep_math_code_roles_link_targets(catalogues):
    lost = [
        f"{p.name}: {part!r} in {m.id[:50]!r}"
        for p, ms in catalogues.items()
        for m in ms
        if m.string
        for part in translate.kept_parts(m.id)
        if not translate._BADGE.match(m.id) and part not in m.string
    ]
    assert lost == [], lost[:10]


def test_every_glossary_term_a_unit_uses_appears_in_its_japanese_form(catalogues):
    base = translate.terms(ROOT)
    missing = [
        f"{p.name}: {problem} in {m.id[:50]!r}"
        for p, ms in catalogues.items()
        for m in ms
        if m.string
        for problem in translate.term_problems(
            m.id, m.string, base, translate.waived_terms(m)
        )
    ]
    assert missing == [], missing[:10]


def test_the_term_base_pairs_each_english_term_with_its_japanese():
    base = dict(translate.terms(ROOT))
    assert base["Classifier-free guidance"] >= {"分類器なしガイダンス"}
    assert base["Cosine similarity"] == {"コサイン類似度"}  # not the entry's other term
    assert "Probability-flow ODE" in base and "Negative prompt" in base


def test_a_waiver_excuses_a_missing_term():
    base = translate.terms(ROOT)
    assert translate.term_problems("The negative prompt", "否定的な文", base)
    assert not translate.term_problems(
        "The negative prompt", "否定的な文", base, {"negative prompt"}
    )
    assert not translate.term_problems(
        "The negative prompt", "ネガティブプロンプト", base
    )


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.stem)
def test_a_japanese_notebook_runs_the_english_code_unchanged(english):
    ja = json.loads((ROOT / "book_ja" / english.name).read_text(encoding="utf-8"))
    en = json.loads(english.read_text(encoding="utf-8"))
    code = [c["source"] for c in en["cells"] if c["cell_type"] == "code"]
    assert [c["source"] for c in ja["cells"][1:] if c["cell_type"] == "code"] == code
    first = "".join(ja["cells"][0]["source"])
    assert first == translate.FIRST_CELL.replace("NAME", english.name)
    assert 'os.environ["DIFFLAB_LANG"] = "ja"' in first


def test_the_committed_japanese_notebooks_equal_a_fresh_render():
    """After a catalogue or an English notebook changed: `python scripts/translate.py render`."""
    assert translate.out_of_step(ROOT) == []


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.stem)
def test_every_translated_unit_is_placed_in_the_japanese_notebook(english):
    _, missing = translate.render_notebook(
        english, PO_DIR / "book" / f"{english.stem}.po"
    )
    assert missing == set(), sorted(missing)[:5]


def test_a_japanese_notebook_opens_itself_in_colab():
    for english in ENGLISH:
        ja = "".join((ROOT / "book_ja" / english.name).read_text(encoding="utf-8"))
        assert f"/blob/main/book_ja/{english.name})" in ja, english.name


def test_units_are_replaced_whole_never_inside_a_sentence():
    source = (
        "# Summary\n\nThe Summary below\nsays more.\n\n- Summary\n| a | Summary |\n"
    )
    out, found = translate.translate_markdown(source, {"Summary": "まとめ"})
    assert (
        out == "# まとめ\n\nThe Summary below\nsays more.\n\n- まとめ\n| a | まとめ |\n"
    )
    out, _ = translate.translate_markdown(
        source, {"The Summary below says more.": "詳細。"}
    )
    assert "詳細。" in out and "below" not in out


def test_an_untranslated_entry_falls_back_to_english_not_to_an_empty_cell(tmp_path):
    po = tmp_path / "page.po"
    po.write_text(
        'msgid "Hello there"\nmsgstr ""\n\n#, fuzzy\nmsgid "Old one"\nmsgstr "古い"\n'
    )
    assert translate.catalogue_messages(po) == {
        "Hello there": "Hello there",
        "Old one": "Old one",
    }


def test_the_badge_of_a_japanese_notebook_is_filled_in_for_the_translator(tmp_path):
    url = "https://colab.research.google.com/github/o/r/blob/main"
    po = tmp_path / "page.po"
    po.write_text(
        f'msgid "[![Open In Colab](x.svg)]({url}/book/ch01_clip.ipynb)"\nmsgstr ""\n'
    )
    (message,) = translate.entries(translate.read_po(po))
    translate.autofill(message)
    assert message.string.endswith(f"{url}/book_ja/ch01_clip.ipynb)")


def test_the_japanese_readme_has_the_readmes_commands():
    blocks = re.compile(r"```.*?```|<!-- quick-start: \w+ -->", re.S)
    english = blocks.findall((ROOT / "README.md").read_text())
    assert blocks.findall((ROOT / "README.ja.md").read_text()) == english


def test_a_translation_follows_when_only_a_number_of_its_english_changed():
    old_id, old_str = "executed on 2026-12-04 in 53 s", "2026-12-04 に 53 秒で実行"
    new = translate.carry_numbers(old_id, old_str, "executed on 2026-12-05 in 61 s")
    assert new == "2026-12-05 に 61 秒で実行"
    assert translate.carry_numbers("in 53 s", "五十三秒で", "in 61 s") is None


def test_an_acronym_term_is_matched_in_capitals_only():
    base = translate.terms(ROOT)
    assert not translate.term_problems(
        "a clip of eight frames", "8 フレームの動画", base
    )
    assert translate.term_problems("CLIP scores it", "それを評価する", base)


def test_a_numbered_title_is_escaped_so_that_it_stays_a_title(catalogues):
    """Sphinx reads a translation "6. ..." as a numbered list and keeps the English title."""
    bare = [
        f"{p.name}: {m.string[:30]!r}"
        for p, ms in catalogues.items()
        for m in ms
        if re.match(r"\d+\. ", m.string)
    ]
    assert bare == [], bare


def test_the_japanese_readme_names_the_chapters_as_their_pages_do():
    readme = (ROOT / "README.ja.md").read_text()
    for english in ENGLISH:
        title = translate.entries(
            translate.read_po(PO_DIR / "book" / f"{english.stem}.po")
        )
        name = re.sub(r"^[0-9a-z]+\\?\.\s*", "", title[0].string)
        assert f"[{name}](book_ja/{english.name})" in readme, (english.name, name)


def test_no_catalogue_header_is_left_fuzzy():
    """sphinx-intl writes a new catalogue's header as fuzzy; `update` clears it."""
    fuzzy = [p.name for p in translate.po_files(ROOT) if translate.read_po(p).fuzzy]
    assert fuzzy == [], fuzzy
