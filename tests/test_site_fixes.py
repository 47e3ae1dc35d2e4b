"""book/_ext/site_fixes.py: Japanese text is marked lang="ja"; every page links to its
counterpart in the other language."""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import site_fixes  # noqa: E402


def test_japanese_runs_are_marked():
    html = "<dt>U-Net（U字型の畳み込みネットワーク）</dt><a href='g.html'>Glossary · 用語集</a>"
    assert site_fixes.mark_japanese(html) == (
        '<dt>U-Net<span lang="ja">（U字型の畳み込みネットワーク）</span></dt>'
        "<a href='g.html'>Glossary · <span lang=\"ja\">用語集</span></a>"
    )


def test_markup_outside_the_text_is_left_alone():
    html = (
        '<html><head><title>用語集</title></head><body><img alt="用語集" src="a.png">'
        '<script>var s = "用語";</script><p>English only</p></body></html>'
    )
    assert site_fixes.mark_japanese(html) == html


def test_the_built_glossary_is_marked():
    text = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    marked = site_fixes.mark_japanese(f"<p>{text}</p>")
    assert marked.count('lang="ja"') >= 50


class _App:
    """What language_link reads of a Sphinx application."""

    def __init__(self, language):
        self.config = type("Config", (), {"language": language})()
        self.builder = type("Builder", (), {"format": "html"})()


def test_an_english_page_links_to_its_japanese_counterpart():
    context = {"body": "<h1>x</h1>"}
    site_fixes.language_link(_App("en"), "book/ch06_cfg", "page.html", context, None)
    assert context["body"].startswith(
        '<p class="language-switch"><a href="../ja/book/ch06_cfg.html" hreflang="ja"'
    )


def test_a_japanese_page_links_back_to_the_english_one():
    context = {"body": "<h1>x</h1>"}
    site_fixes.language_link(_App("ja"), "intro", "page.html", context, None)
    assert (
        '<a href="../intro.html" hreflang="en" lang="en">English</a>' in context["body"]
    )
