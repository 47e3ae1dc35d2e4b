"""One formatter and one width for the whole repository: the package, the scripts, the tests,
the benchmarks and the chapters' code cells (``[tool.ruff]`` in pyproject.toml: 88 characters,
what fits the book's column)."""

import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> str:
    return shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")


def test_the_repository_has_one_width_of_88_characters():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["ruff"]["line-length"] == 88


def test_every_file_is_formatted():
    out = subprocess.run(
        [_ruff(), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, f"run `ruff format .`:\n{out.stdout}{out.stderr}"
