"""Small fixes to the built site, as a local Sphinx extension (see _config.yml, sphinx.local_extensions).

- The book opens its notebooks in Colab and has no live-code (thebe) button, but Jupyter Book 1.x
  loads sphinx-thebe anyway and injects its configuration script twice, which is a JavaScript
  error ("THEBE_JS_URL has already been declared") on every page. We drop its scripts and styles.
- The theme puts a search field both in the top bar and in the sidebar; we keep the sidebar's.
"""
from __future__ import annotations

import re

THEBE_CONFIG = re.compile(r'\s*<script type="text/x-thebe-config">.*?</script>\s*'
                          r"(<script>kernelName = '[^']*'</script>)?", re.S)


def _is_thebe(asset) -> bool:
    body = getattr(asset, "attributes", {}).get("body", "") or ""
    return "thebe" in str(asset).lower() or "THEBE_JS_URL" in body


def drop_thebe(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]
    if "body" in context:
        context["body"] = THEBE_CONFIG.sub("\n", context["body"])


def one_search_field(app, config):
    config.html_theme_options = {**config.html_theme_options, "navbar_persistent": []}


def setup(app):
    app.connect("config-inited", one_search_field)
    app.connect("html-page-context", drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
