"""Small fixes to the built site, as a local Sphinx extension (see _config.yml, sphinx.local_extensions).

- The book opens its notebooks in Colab and has no live-code (thebe) button, but Jupyter Book 1.x
  loads sphinx-thebe anyway and injects its configuration script twice, which is a JavaScript
  error ("THEBE_JS_URL has already been declared") on every page. We drop its scripts and styles.
- The theme puts a search field both in the top bar and in the sidebar; we keep the sidebar's.
- Every page links to its counterpart in the other language (the Japanese site is
  _build/html/ja, scripts/build_ja.py).
- Japanese text (the glossary's terms, the sidebar's "用語集") is marked ``lang="ja"``, so that
  browsers pick Japanese glyph forms and a CJK font (``_static/book.css`` names the usual ones,
  falling back to the reader's system fonts) and screen readers read it as Japanese.
"""

from __future__ import annotations

import re
from pathlib import Path

THEBE_CONFIG = re.compile(
    r'\s*<script type="text/x-thebe-config">.*?</script>\s*'
    r"(<script>kernelName = '[^']*'</script>)?",
    re.S,
)


def _is_thebe(asset) -> bool:
    body = getattr(asset, "attributes", {}).get("body", "") or ""
    return "thebe" in str(asset).lower() or "THEBE_JS_URL" in body


def drop_thebe(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]
    if "body" in context:
        context["body"] = THEBE_CONFIG.sub("\n", context["body"])


# a run of Japanese characters (kana, CJK ideographs, full-width forms and CJK punctuation),
# with any Latin letters, digits or spaces between two such characters kept inside the run
_JA = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
JAPANESE = re.compile(f"[{_JA}](?:[A-Za-z0-9 .+/-]*[{_JA}])*")
_TAG = re.compile(r"(<[^>]*>)")
_SKIP = ("script", "style", "head", "textarea", "title")


def mark_japanese(html: str) -> str:
    """Wrap every run of Japanese text outside tags, scripts and the head in <span lang="ja">."""
    parts, inside = _TAG.split(html), []
    for i, part in enumerate(parts):
        if part.startswith("<"):
            name = re.match(r"</?\s*([a-zA-Z0-9]+)", part)
            name = name.group(1).lower() if name else ""
            if name in _SKIP and not part.endswith("/>"):
                if part.startswith("</"):
                    if name in inside:
                        inside.remove(name)
                else:
                    inside.append(name)
        elif not inside and JAPANESE.search(part):
            parts[i] = JAPANESE.sub(
                lambda m: f'<span lang="ja">{m.group(0)}</span>', part
            )
    return "".join(parts)


def mark_japanese_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    if (app.config.language or "en").startswith("ja"):  # the whole page is lang="ja"
        return
    for path in Path(app.outdir).rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        marked = mark_japanese(html)
        if marked != html:
            path.write_text(marked, encoding="utf-8")


def language_link(app, pagename, templatename, context, doctree):
    """A link at the top of every page to the same page in the other language: the English
    site is _build/html, the Japanese one _build/html/ja (scripts/build_ja.py)."""
    if "body" not in context or app.builder.format != "html":
        return
    up = "../" * pagename.count("/")
    if (app.config.language or "en").startswith("ja"):
        href, text, lang = f"{up}../{pagename}.html", "English", "en"
    else:
        href, text, lang = f"{up}ja/{pagename}.html", "日本語", "ja"
    link = f'<a href="{href}" hreflang="{lang}" lang="{lang}">{text}</a>'
    context["body"] = f'<p class="language-switch">{link}</p>\n' + context["body"]


def one_search_field(app, config):
    config.html_theme_options = {**config.html_theme_options, "navbar_persistent": []}


def setup(app):
    app.connect("config-inited", one_search_field)
    app.connect("html-page-context", drop_thebe, priority=900)
    app.connect("html-page-context", language_link, priority=910)
    app.connect("build-finished", mark_japanese_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
