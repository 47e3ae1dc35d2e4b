"""book/_ext/exec_cache.py: a rebuild executes a chapter again when the package or the
mode changed, and only then."""

import sys
from types import SimpleNamespace

import yaml
from conftest import ROOT

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import exec_cache  # noqa: E402


def _package(tmp_path):
    package = tmp_path / "difflab"
    package.mkdir()
    (package / "samplers.py").write_text("x = 1\n")
    return package


def test_the_book_builds_with_the_execution_cache():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "cache"
    assert "exec_cache" in config["sphinx"]["local_extensions"]


def test_the_fingerprint_changes_with_a_file_of_the_package(tmp_path):
    package = _package(tmp_path)
    before = exec_cache.fingerprint(package, environ={})
    (package / "samplers.py").write_text("x = 2\n")
    assert exec_cache.fingerprint(package, environ={}) != before


def test_the_fingerprint_changes_with_the_mode(tmp_path):
    package = _package(tmp_path)
    default = exec_cache.fingerprint(package, environ={"DIFFLAB_BOOK": "1"})
    fast = {"DIFFLAB_BOOK": "1", "DIFFLAB_FAST": "1"}
    assert exec_cache.fingerprint(package, environ=fast) != default


def test_the_fingerprint_ignores_other_variables(tmp_path):
    package = _package(tmp_path)
    assert exec_cache.fingerprint(package, environ={"HOME": "/a"}) == (
        exec_cache.fingerprint(package, environ={"HOME": "/b"})
    )


def _app(tmp_path):
    config = SimpleNamespace(nb_execution_cache_path="")
    return SimpleNamespace(outdir=str(tmp_path / "_build" / "html"), config=config)


def _build(app, fingerprint):
    exec_cache.fingerprint = lambda: fingerprint  # the package as it is now
    exec_cache.start(app)
    env = SimpleNamespace(
        found_docs={"intro", "book/ch01_clip"},
        doc2path=lambda d: f"{d}.ipynb" if d.startswith("book/ch") else f"{d}.md",
    )
    outdated = exec_cache.outdated(app, env, set(), set(), set())
    exec_cache.finish(app, None)
    return outdated


def test_a_rebuild_of_the_same_package_keeps_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(exec_cache, "fingerprint", exec_cache.fingerprint)
    app, cache = _app(tmp_path), tmp_path / "_build" / ".jupyter_cache"
    _build(app, "a")
    cache.mkdir(parents=True)
    assert _build(app, "a") == []
    assert cache.exists()


def test_a_changed_package_executes_every_notebook_again(tmp_path, monkeypatch):
    monkeypatch.setattr(exec_cache, "fingerprint", exec_cache.fingerprint)
    app, cache = _app(tmp_path), tmp_path / "_build" / ".jupyter_cache"
    _build(app, "a")
    cache.mkdir(parents=True)
    assert _build(app, "b") == ["book/ch01_clip"]
    assert not cache.exists()


def test_a_failed_build_leaves_the_old_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setattr(exec_cache, "fingerprint", exec_cache.fingerprint)
    app = _app(tmp_path)
    _build(app, "a")
    exec_cache.fingerprint = lambda: "b"
    exec_cache.start(app)
    exec_cache.finish(app, RuntimeError("a chapter failed"))
    stamp = tmp_path / "_build" / ".difflab_fingerprint"
    assert stamp.read_text().strip() == "a"
