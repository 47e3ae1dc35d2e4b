"""Execute a chapter again when the code it runs changes, not only its own cells.

The book builds with myst-nb's execution cache (``_config.yml``: ``execute_notebooks:
cache``, jupyter-cache in ``_build/.jupyter_cache``): a chapter whose code cells are
unchanged takes its outputs from the cache, so a rebuild after a prose edit executes
nothing. But a chapter's outputs also depend on what its cells import: the package
``difflab`` (its code and checkpoints) and the environment variables that choose the
mode and the device. This extension keeps a fingerprint of those in
``_build/.difflab_fingerprint``; when a build starts with another one, it empties the
cache and has Sphinx read every notebook again, so every chapter is executed anew. The
fingerprint is written when a build ends without an error.

To execute everything again by hand: ``jupyter-book clean . --all`` (README).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "difflab"
#: the variables a chapter's outputs depend on (difflab.utils reads them)
ENVIRONMENT = (
    "DIFFLAB_BOOK",
    "DIFFLAB_FAST",
    "DIFFLAB_DEVICE",
    "DIFFLAB_THREADS",
    "DIFFLAB_LANG",
)
SUFFIXES = {".py", ".safetensors", ".json", ".md"}


def fingerprint(package: Path = PACKAGE, environ=os.environ) -> str:
    """sha256 of the package's files (path and bytes) and of the mode's variables."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in SUFFIXES:
            h.update(path.relative_to(package).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    for name in ENVIRONMENT:
        h.update(f"{name}={environ.get(name, '')}\0".encode())
    return h.hexdigest()


def _paths(app) -> tuple[Path, Path]:
    build = Path(app.outdir).parent
    cache = (
        getattr(app.config, "nb_execution_cache_path", "") or build / ".jupyter_cache"
    )
    return Path(cache), build / ".difflab_fingerprint"


def start(app) -> None:
    """Empty the cache when the package or the mode changed since the last build."""
    cache, stamp = _paths(app)
    app.difflab_fingerprint = fingerprint()
    old = stamp.read_text().strip() if stamp.exists() else None
    app.difflab_stale = old != app.difflab_fingerprint
    if app.difflab_stale and cache.exists():
        shutil.rmtree(cache)


def outdated(app, env, added, changed, removed) -> list[str]:
    """Every notebook, to be read (and so executed) again, when the cache was emptied."""
    if not app.difflab_stale:
        return []
    return sorted(d for d in env.found_docs if str(env.doc2path(d)).endswith(".ipynb"))


def finish(app, exception) -> None:
    if exception is None:
        _, stamp = _paths(app)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(app.difflab_fingerprint + "\n")


def setup(app):
    app.connect("builder-inited", start)
    app.connect("env-get-outdated", outdated)
    app.connect("build-finished", finish)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
