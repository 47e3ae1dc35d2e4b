"""The book builds with warnings as errors (without executing the notebooks, to stay quick):
a broken _toc.yml, a dangling cross-reference or a missing image fails here."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import translate
import yaml
from conftest import ROOT


def test_book_builds_with_warnings_as_errors(tmp_path):
    jb = shutil.which(
        "jupyter-book", path=str(Path(sys.executable).parent)
    ) or shutil.which("jupyter-book")
    if jb is None:
        pytest.fail(
            "jupyter-book is not installed: install the dev extra (see the README's Quick start)"
        )
    cfg = translate.book_config(ROOT)  # unexecuted, extension paths made absolute
    config = tmp_path / "_config.yml"
    config.write_text(yaml.safe_dump(cfg))
    result = subprocess.run(
        [
            jb,
            "build",
            str(ROOT),
            "--config",
            str(config),
            "--path-output",
            str(tmp_path),
            "-W",
            "-n",
            "--keep-going",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    html = tmp_path / "_build" / "html"
    assert (html / "index.html").exists()
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [page for part in toc["parts"] for page in part["chapters"]]
    assert len(pages) >= 11
    for page in pages:
        assert (html / (page["file"] + ".html")).exists(), page["file"]


def test_the_japanese_book_builds_with_warnings_as_errors(tmp_path):
    """scripts/build_ja.py, unexecuted: a translation that breaks a reference fails here."""
    import build_ja

    done = build_ja.build(tmp_path, execute=False)
    assert done.returncode == 0
    html = tmp_path / "_build" / "html"
    page = (html / "book" / "ch06_cfg.html").read_text(encoding="utf-8")
    assert '<html lang="ja"' in page
    assert 'href="../../book/ch06_cfg.html" hreflang="en"' in page
