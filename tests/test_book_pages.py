"""The chapters as a reader meets them: code that fits the column, formatted; every figure with
real alt text; no stored widget state; check cells that say what they checked."""

import json
import re

import pytest
from conftest import ROOT

CHAPTERS = sorted((ROOT / "book").glob("ch*.ipynb"))
SHOWS_A_FIGURE = re.compile(
    r"plt\.show\(\)|plot\.animate\(|plot\.explorer\(|_explorer\("
)


def _code_cells(path):
    return [
        c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
    ]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_code_lines_fit_the_column(path):
    long = [
        (i, line)
        for i, c in enumerate(_code_cells(path))
        for line in "".join(c["source"]).splitlines()
        if len(line) > 88
    ]
    assert long == [], f"{path.name}: code lines over 88 characters: {long[:3]}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_code_shown_in_the_prose_fits_the_column(path):
    """Code blocks in markdown cells are set larger than code cells: 76 characters fit at 1280 px."""
    long = []
    for i, c in enumerate(json.loads(path.read_text())["cells"]):
        if c["cell_type"] == "markdown":
            blocks = "".join(c["source"]).split("```")[
                1::2
            ]  # the insides of fenced blocks
            long += [
                (i, line)
                for b in blocks
                for line in b.splitlines()[1:]
                if len(line) > 76
            ]
    assert long == [], (
        f"{path.name}: code lines in the prose over 76 characters: {long[:3]}"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_has_alt_text(path):
    for i, cell in enumerate(_code_cells(path)):
        if SHOWS_A_FIGURE.search("".join(cell["source"])):
            alt = cell["metadata"].get("mystnb", {}).get("image", {}).get("alt", "")
            assert len(alt) >= 40 and not alt.endswith((".png", ".jpg")), (
                f"{path.name}, code cell {i}: a figure without real alt text ({alt!r}); set "
                f"metadata mystnb.image.alt to a sentence saying what it shows"
            )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_widget_state_is_stored(path):
    assert "widgets" not in json.loads(path.read_text())["metadata"], (
        f"{path.name} stores widget state"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_check_is_one_call_of_claims_check(path):
    """A claim is asserted and printed by one call (difflab.claims.check), not by a bare assert
    beside a hand-written "check:" print; exercise solutions (hidden) may assert as they like."""
    for i, cell in enumerate(_code_cells(path)):
        src = "".join(cell["source"])
        if {"solution", "hide-cell"} & set(cell["metadata"].get("tags", [])):
            continue
        assert not re.search(r"(?m)^\s*assert ", src), (
            f"{path.name}, code cell {i}: a bare assert; say the claim with check(claim, at_most(...), ...)"
        )
        assert "check:" not in src, (
            f"{path.name}, code cell {i}: a 'check:' line printed by hand"
        )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_setup_and_import_cells_are_collapsed_online(path):
    """The Colab set-up cell and the import cell are one click away, not in the reader's way."""
    cells = _code_cells(path)
    for i, cell in enumerate(cells[:2]):
        assert "hide-input" in cell["metadata"].get("tags", []), (
            f"{path.name}, code cell {i} (set-up or imports): tag it hide-input"
        )
