"""Build the Japanese book into ``_build/html/ja/``, beside the English one.

    python scripts/build_ja.py                 # after the English build (README, command 1)
    python scripts/build_ja.py --no-execute    # quick: no chapter is executed (the tests)

The Japanese site is built from the English pages, as Python's documentation is translated:
Sphinx reads them with ``language: ja`` and puts in each unit's translation from
``locales/ja/LC_MESSAGES/<page>.po`` (scripts/translate.py). The chapters are executed with
``DIFFLAB_LANG=ja``, so their figures and check lines are Japanese (difflab.i18n), in a build
folder and execution cache of their own (``_build/ja``): a rebuild after a prose edit executes
nothing, in either language. Every page links to its counterpart in the other language
(book/_ext/site_fixes.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from translate import book_config, jupyter_book, read_po

ROOT = Path(__file__).resolve().parents[1]


def config(root: Path = ROOT, execute: bool = True) -> dict:
    """_config.yml in Japanese: ``language: ja``; unexecuted when ``execute`` is False."""
    cfg = book_config(root, execute, language="ja")
    cfg["title"] = "文から画像へ"
    return cfg


def toc(root: Path = ROOT) -> dict:
    """_toc.yml with its part captions in Japanese (the sidebar's headings are made from the
    table of contents, not from a page, so Sphinx does not translate them): from the
    catalogue of the root page, which holds them."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    catalog = read_po(root / "locales" / "ja" / "LC_MESSAGES" / f"{toc['root']}.po")
    for part in toc["parts"]:
        message = catalog.get(part["caption"])
        if message is not None and message.string and not message.fuzzy:
            part["caption"] = message.string
    return toc


def build(
    out: Path, root: Path = ROOT, execute: bool = True
) -> subprocess.CompletedProcess:
    """jupyter-book build of the Japanese book into ``out/_build/html``, warnings as errors."""
    out.mkdir(parents=True, exist_ok=True)
    path, toc_path = out / "_config_ja.yml", out / "_toc_ja.yml"
    path.write_text(yaml.safe_dump(config(root, execute), allow_unicode=True))
    toc_path.write_text(yaml.safe_dump(toc(root), allow_unicode=True, sort_keys=False))
    cmd = jupyter_book(root, path, out) + ["--toc", str(toc_path)]
    env = {**os.environ, "DIFFLAB_LANG": "ja"}
    return subprocess.run(cmd + ["-W", "-n", "--keep-going"], env=env)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-execute", action="store_true", help="execute no chapter")
    args = ap.parse_args(argv)
    work = ROOT / "_build" / "ja"
    done = build(work, execute=not args.no_execute)
    if done.returncode:
        return done.returncode
    target = ROOT / "_build" / "html" / "ja"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(work / "_build" / "html", target)
    print(f"The Japanese book is in {target.relative_to(ROOT)}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
