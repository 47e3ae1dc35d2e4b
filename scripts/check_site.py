"""Check the built book in a real browser, as a reader meets it.

    python scripts/check_site.py                    # checks _build/html
    python scripts/check_site.py _build/html --screenshots shots/ --widths 1280 400

Builds nothing: it serves the built HTML on 127.0.0.1, loads every page in headless Chromium
(Debian's ``chromium`` package, with ``fonts-noto-cjk`` for the Japanese pages; the
``playwright`` Python package drives it) and fails if a page

- raises a JavaScript error,
- shows an image that does not load (an image of the book itself; the Colab badge and MathJax
  come from the internet, which this check blocks, as an offline reader's browser would),
- weighs more than 3 MB (the page's own HTML and images; the theme's scripts, fonts and styles
  under ``_static/`` are shared by every page and loaded once, so they are not counted), or
- shows a figure at less than 85% of its own width (a figure wider than the text column), or
- shows an image of its own without alt text (an animation's frame image included), or
- has a table wider than the text column at 1280 px (tables with maths are left out: MathJax
  comes from the internet, and raw TeX is wider than the rendered formula), or
- is wider than the window at 400 px (something that makes a phone reader scroll the whole page;
  code and printed results scroll inside their own boxes, which is fine), or
- has no link to its counterpart in the other language, or one that does not lead to a page
  linking back (the English site is the root, the Japanese one ``ja/``; scripts/build_ja.py).

Tick labels printed over each other and titles covered by a colour key are refused earlier, when
the figure is drawn (``difflab.plot.collisions``), so a chapter with one fails its tests.

It prints one line per page and a summary, and exits 1 if anything failed. With
``--screenshots`` it also saves a full-page PNG of every page at each of ``--widths``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
from pathlib import Path

MAX_BYTES = 3_000_000
MIN_SHOWN = 0.85
SKIP = {"genindex.html", "search.html"}


def pages(root: Path) -> list[Path]:
    """Every page of the book: the HTML files outside Sphinx's own folders."""
    return sorted(
        p
        for p in root.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(root).parts)
        and p.name not in SKIP
    )


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per page is enough
        pass


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


FIGURES_JS = """() => Array.from(document.images).map(img => {
    const r = img.getBoundingClientRect();
    return {src: img.currentSrc || img.src, complete: img.complete, natural: img.naturalWidth,
            shown: r.width, visible: r.width > 0 && r.height > 0 && img.offsetParent !== null,
            alt: (img.getAttribute("alt") || "").trim()};
})"""


TABLES_JS = r"""() => Array.from(document.querySelectorAll("article table")).filter(
    t => !t.querySelector(".math, mjx-container") && !t.innerText.includes("\\(")
         && !t.innerText.includes("$$")).map(t => ({
    width: t.scrollWidth, room: t.closest("article").clientWidth,
    head: (t.innerText || "").trim().split("\n")[0].slice(0, 60)}))"""


def language_link_problems(page, url: str, base: str) -> list[str]:
    """The link to the page's counterpart in the other language must exist and lead to a
    page that links back here (book/_ext/site_fixes.py)."""
    href = page.evaluate(
        "() => { const a = document.querySelector('p.language-switch a');"
        " return a ? a.href : null; }"
    )
    if href is None:
        return ["no link to the page in the other language"]
    other = page.context.new_page()
    try:
        resp = other.goto(href, wait_until="domcontentloaded")
        if resp is None or resp.status >= 400:
            return [f"the language link leads nowhere: {href[len(base) :]}"]
        back = other.evaluate(
            "() => { const a = document.querySelector('p.language-switch a');"
            " return a ? a.href : null; }"
        )
    finally:
        other.close()
    if back != url:
        return [f"the page in the other language does not link back here: {back}"]
    return []


def check_page(page, url: str, base: str) -> tuple[list[str], int]:
    """Load one page; return (problems, bytes of the page's own HTML and images)."""
    problems, loaded = [], []
    page.on("pageerror", lambda exc: problems.append(f"JavaScript error: {exc}"))
    page.on(
        "response",
        lambda resp: (
            loaded.append(resp)
            if resp.url.startswith(base) and "/_static/" not in resp.url
            else None
        ),
    )
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    size = 0
    for resp in loaded:
        try:
            size += len(resp.body())
        except Exception:  # a redirect or an aborted request has no body
            pass
        if resp.status >= 400:
            problems.append(f"{resp.status} for {resp.url[len(base) :]}")
    if size > MAX_BYTES:
        problems.append(
            f"page weighs {size / 1e6:.1f} MB (at most {MAX_BYTES / 1e6:.0f} MB)"
        )
    for img in page.evaluate(FIGURES_JS):
        if not img["src"].startswith(base):
            continue  # from the internet (the Colab badge): blocked here on purpose
        if img["complete"] and img["natural"] == 0:
            problems.append(f"image does not load: {img['src'][len(base) :]}")
        if img["visible"] and not img["alt"]:
            problems.append(f"image without alt text: {img['src'][len(base) :][:60]}")
        elif (
            img["visible"]
            and img["natural"] >= 200
            and img["shown"] < MIN_SHOWN * img["natural"]
        ):
            problems.append(
                f"figure shown at {img['shown'] / img['natural']:.0%} of its width "
                f"({img['natural']} px): {img['src'][len(base) :][:60]}"
            )
    for table in page.evaluate(TABLES_JS):
        if table["width"] > table["room"] + 2:
            problems.append(
                f"table {table['width']} px wide in a {table['room']} px column: {table['head']!r}"
            )
    problems += language_link_problems(
        page, page.url, base
    )  # page.url: after a redirect
    page.set_viewport_size({"width": 400, "height": 900})
    page.wait_for_timeout(200)
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    if wide > 402:
        problems.append(
            f"at 400 px the page is {wide} px wide: the reader scrolls the whole page sideways"
        )
    page.set_viewport_size({"width": 1280, "height": 900})
    return problems, size


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("root", nargs="?", default="_build/html", type=Path)
    ap.add_argument(
        "--screenshots", type=Path, help="save a full-page PNG of every page here"
    )
    ap.add_argument(
        "--widths",
        type=int,
        nargs="+",
        default=[1280],
        help="viewport widths for screenshots",
    )
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="check only pages whose path contains one of these",
    )
    args = ap.parse_args(argv)
    if not (args.root / "index.html").exists():
        print(
            f"{args.root} holds no built book (no index.html); build it first (README, command 1)"
        )
        return 2
    from playwright.sync_api import sync_playwright

    server, base = serve(args.root)
    failed = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        chosen = [
            p
            for p in pages(args.root)
            if not args.only
            or any(name in p.relative_to(args.root).as_posix() for name in args.only)
        ]
        for path in chosen:
            rel = path.relative_to(args.root).as_posix()
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith(base)
                    else route.abort()
                ),
            )
            page = context.new_page()
            problems, size = check_page(page, f"{base}/{rel}", base)
            print(f"{'FAIL' if problems else 'ok  '} {rel} ({size / 1e6:.2f} MB)")
            for p in problems:
                print(f"       {p}")
            failed += bool(problems)
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                for width in args.widths:
                    page.set_viewport_size({"width": width, "height": 900})
                    page.wait_for_timeout(200)
                    page.screenshot(
                        path=str(
                            args.screenshots
                            / f"{rel.replace('/', '_')[:-5]}_{width}.png"
                        ),
                        full_page=True,
                    )
            context.close()
        browser.close()
    server.shutdown()
    n = len(chosen)
    print(
        f"{n - failed} of {n} pages passed" + (f"; {failed} failed" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
