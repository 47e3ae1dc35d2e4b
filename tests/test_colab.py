"""Every chapter's Colab badge and setup cell agree with _config.yml (the one place the URL lives)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import colab_links  # scripts/colab_links.py
import pytest
import torch
from conftest import ROOT


def test_every_chapter_agrees_with_the_configured_repository():
    assert colab_links.chapters(), "no chapter notebooks found in book/"
    assert colab_links.problems() == []


def test_config_turns_on_colab_launch_button():
    import yaml

    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert cfg["repository"]["url"].startswith("https://github.com/")


def _setup_cell():
    return colab_links.setup_cell("https://github.com/o/r", "v1")


def test_setup_cell_installs_only_in_colab():
    cell = _setup_cell()
    assert (
        'if "google.colab" in sys.modules' in cell
        and "git+https://github.com/o/r@v1" in cell
    )


def test_setup_cell_keeps_colabs_torch():
    install = [
        line
        for line in _setup_cell().splitlines()
        if "difflab @" in line or '"install"' in line
    ]
    assert install and not any("torch" in line for line in install)  # no reinstall


def test_setup_cell_checks_the_environment():
    assert "difflab.check_env(" in _setup_cell()


def test_notebooks_are_stored_without_outputs():
    # the book is executed when it is built; stored outputs would go stale
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"], (
                    f"{path.name} stores outputs; clear them before committing"
                )


# --- the setup cell, run as Colab runs it --------------------------------------------
# Colab has its own torch (and numpy, matplotlib, ...) but not difflab; the setup cell
# must install difflab from the repository and keep that torch. Here the repository is
# this checkout (git+file://ROOT@HEAD), and the environment is a fresh virtual environment
# that sees this one's packages as Colab's preinstalled ones (a .pth file).

COLAB_URL = re.compile(r"git\+(\S+?)@(\S+?)\"")


def _colab_cell(cell: str, url: str, ref: str) -> str:
    found = COLAB_URL.search(cell)
    assert found, "the setup cell has no git+URL@REF"
    return cell.replace(f"{found[1]}@{found[2]}", f"{url}@{ref}")


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """(python, site-packages) of a fresh venv that sees this environment's packages."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    venv = tmp_path_factory.mktemp("colab") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # Colab's pip is recent; the one ensurepip gives may be too old for git+file URLs
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True
    )
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    preinstalled = Path(torch.__file__).resolve().parents[1]
    (Path(site) / "colab_preinstalled.pth").write_text(f"{preinstalled}\n")
    return python, Path(site)


COLAB_RUN = """
import json, sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")  # as in Colab
import torch
before = (torch.__version__, torch.__file__)
namespace = {}
for cell in json.loads(sys.argv[1]):
    exec(compile(cell, "<cell>", "exec"), namespace)
import difflab
print(json.dumps({"torch": before, "difflab": difflab.__file__}))
"""


def _run_in_colab(python, cells, tmp_path):
    env = {**os.environ, "DIFFLAB_FAST": "1", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [python, "-c", COLAB_RUN, json.dumps(cells)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )


@pytest.mark.parametrize("path", colab_links.chapters(), ids=lambda p: p.stem)
def test_setup_cell_in_colab_installs_difflab_beside_colabs_torch(
    path, colab, tmp_path
):
    python, site = colab
    head = subprocess.run(
        ["git", "-C", ROOT, "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    code = [
        c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
    ]
    setup, imports = ("".join(c["source"]) for c in code[:2])
    done = _run_in_colab(
        python, [_colab_cell(setup, f"file://{ROOT}", head), imports], tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(seen["difflab"]).is_relative_to(site)  # installed, not this checkout
    assert seen["torch"][0] == torch.__version__
    assert Path(seen["torch"][1]).resolve() == Path(torch.__file__).resolve()
    assert not (site / "torch").exists()  # pip kept the preinstalled torch


def test_setup_cell_says_what_failed_when_the_install_fails(colab, tmp_path):
    python, _ = colab
    setup = colab_links.setup_cell(f"file://{ROOT}", "no-such-branch")
    done = _run_in_colab(python, [setup], tmp_path)
    assert done.returncode != 0
    assert "RuntimeError: pip could not install difflab @ git+file://" in done.stderr
    assert "no-such-branch" in done.stderr
