"""Every chapter's Colab badge and setup cell agree with _config.yml (the one place the URL lives)."""

import json

import colab_links  # scripts/colab_links.py
from conftest import ROOT


def test_every_chapter_badge_and_setup_cell_agree_with_config():
    assert colab_links.chapters(), "no chapter notebooks found in book/"
    assert colab_links.problems() == []


def test_config_turns_on_colab_launch_button():
    import yaml

    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert cfg["repository"]["url"].startswith("https://github.com/")


def test_setup_cell_installs_only_in_colab_and_keeps_torch():
    cell = colab_links.setup_cell("https://github.com/o/r", "v1")
    assert (
        'if "google.colab" in sys.modules' in cell
        and "git+https://github.com/o/r@v1" in cell
    )
    install = [
        line for line in cell.splitlines() if "difflab @" in line or '"install"' in line
    ]
    assert install and not any(
        "torch" in line for line in install
    )  # no torch reinstall
    assert "difflab.check_env(" in cell


def test_notebooks_are_stored_without_outputs():
    # the book is executed when it is built; stored outputs would go stale
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"], (
                    f"{path.name} stores outputs; clear them before committing"
                )
