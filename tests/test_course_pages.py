"""The pages around the chapters: the glossary, the map from the video to the book and
the bibliography exist and are in the table of contents; every glossary term has its
Japanese name and a link to the chapter that defines it; every citation in book/ names
an entry of references.bib. (That links and citations resolve: test_book_build.)"""

import json
import re

import pytest
import yaml
from conftest import ROOT
from pybtex.database import parse_file

PAGES = ["book/glossary", "book/video_map", "book/bibliography"]
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")  # kana and kanji
# a link to a chapter: ch04_ddim.ipynb, or ch04b_flow_matching.ipynb (chapter 4b)
CHAPTER_LINK = re.compile(r"\]\((ch\d\d[a-z]?_\w+)\.ipynb(?:#[\w-]+)?\)")
CITE = re.compile(r"\{(?:foot)?cite(?::\w+)?\}`([^`]+)`")
KEYPREFIX = re.compile(r"^:keyprefix:\s*(\S+)\s*$", re.MULTILINE)


def _text(path):
    """A page's MyST source: a .md file, or the markdown cells of a notebook."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
    return path.read_text(encoding="utf-8")


def _glossary():
    """[(term line, definition)] of the glossary's definition list."""
    lines = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8").splitlines()
    terms = []
    for i, line in enumerate(lines[1:], start=1):
        if line.startswith(": "):
            body = [line[2:]]
            for nxt in lines[i + 1 :]:
                if not nxt.startswith("  "):
                    break
                body.append(nxt.strip())
            terms.append((lines[i - 1], " ".join(body)))
    return terms


def _bib_keys():
    return set(parse_file(str(ROOT / "references.bib"), "bibtex").entries)


@pytest.mark.parametrize("page", PAGES)
def test_page_exists(page):
    assert (ROOT / f"{page}.md").exists(), f"{page}.md is missing"


@pytest.mark.parametrize("page", PAGES)
def test_page_is_in_the_toc(page):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert page in files, f"{page} is not in _toc.yml"


def test_the_bibliography_is_configured():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg.get("bibtex_bibfiles") == ["references.bib"]
    text = (ROOT / "book" / "bibliography.md").read_text(encoding="utf-8")
    assert re.search(r"```\{bibliography\}\n:all:\n```", text), (
        "bibliography.md lists all"
    )


def test_the_glossary_covers_the_book():
    terms = _glossary()
    assert len(terms) >= 30, f"only {len(terms)} glossary terms"
    linked = {m.group(1) for _, body in terms for m in CHAPTER_LINK.finditer(body)}
    chapters = {p.stem for p in (ROOT / "book").glob("ch*.ipynb")}
    assert chapters <= linked, f"no glossary term links to {sorted(chapters - linked)}"


def test_chapter_links_include_chapter_4b():
    text = (
        "[Reflow](ch04b_flow_matching.ipynb#reflow-straightening-the-paths), "
        "[DDIM](ch04_ddim.ipynb) and [not a chapter](intro.md#notation)"
    )
    assert CHAPTER_LINK.findall(text) == ["ch04b_flow_matching", "ch04_ddim"]


def test_every_glossary_term_has_japanese():
    for term, _ in _glossary():
        english, sep, japanese = term.partition(" · ")
        assert sep and english.strip(), (
            f"{term!r}: write the term as 'English · 日本語'"
        )
        assert JAPANESE.search(japanese), f"{term!r}: no Japanese term after ' · '"


def test_every_glossary_term_links_a_chapter():
    for term, body in _glossary():
        links = CHAPTER_LINK.findall(body)
        assert links, f"{term!r}: the definition links to no chapter"
        for stem in links:
            assert (ROOT / "book" / f"{stem}.ipynb").exists(), (
                f"{term!r}: no {stem}.ipynb"
            )


def test_references_bib_parses_without_duplicates():
    keys = _bib_keys()  # pybtex refuses a repeated key
    assert len(keys) >= 40, f"only {len(keys)} entries in references.bib"


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "book").glob("ch*.ipynb")),
    ids=lambda p: p.name,
)
def test_every_citation_is_in_references_bib(path):
    """Only pages with cite roles are checked, so a chapter whose References section is
    still plain text passes. A page that cites has its own {bibliography} with its own
    :keyprefix: (one key in two bibliographies would be a duplicate citation), and every
    cited key is that prefix plus a key of references.bib."""
    text = _text(path)
    cited = [k.strip() for group in CITE.findall(text) for k in group.split(",")]
    if not cited:
        return
    prefixes = KEYPREFIX.findall(text)
    assert len(prefixes) == 1, (
        f"{path.name}: cites, so it needs one bibliography with a :keyprefix:"
    )
    prefix, keys = prefixes[0], _bib_keys()
    others = {
        KEYPREFIX.findall(_text(p))[0]
        for p in [*(ROOT / "book").glob("*.md"), *(ROOT / "book").glob("ch*.ipynb")]
        if p != path and KEYPREFIX.findall(_text(p))
    }
    assert prefix not in others, (
        f"{path.name}: another page uses the key prefix {prefix}"
    )
    for key in cited:
        assert key.startswith(prefix), (
            f"{path.name}: {key} lacks this page's prefix {prefix}"
        )
        assert key[len(prefix) :] in keys, (
            f"{path.name}: {key[len(prefix) :]} is not in references.bib"
        )
