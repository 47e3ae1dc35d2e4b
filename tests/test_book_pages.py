"""The chapters as a reader meets them: code that fits the column, formatted; every figure with
real alt text; no stored widget state; check cells that say what they checked."""

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

import difflab

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
def test_the_first_two_code_cells_are_collapsed_online(path):
    """The Colab set-up cell and the import cell are one click away, not in the reader's way."""
    cells = _code_cells(path)
    for i, cell in enumerate(cells[:2]):
        assert "hide-input" in cell["metadata"].get("tags", []), (
            f"{path.name}, code cell {i} (set-up or imports): tag it hide-input"
        )


SRC = Path(difflab.__file__).parent


BOOK = SRC.parents[1] / "book"


# what makes a tensor or a model; left out: torch.Generator, a CPU generator by design (a seed
# gives the same draws on every device; the draws are moved with .to(device)), and the float64
# schedule table (registry.schedule), which the package reads on any device
_MAKERS = re.compile(
    r"\b(torch\.(?:randn|rand|randint|zeros|ones|full|empty|tensor|as_tensor|arange|linspace|eye)"
    r"|registry\.(?:load|build|train|parts)|make_spiral"
    r"|MLPDenoiser|UNet|median_w2_ratio|median_r|VelocityMLP)\("
)


def _call_end(src: str, open_paren: int) -> int:
    depth = 0
    for i in range(open_paren, len(src)):
        depth += {"(": 1, ")": -1}.get(src[i], 0)
        if depth == 0:
            return i
    raise ValueError(
        f"unbalanced parentheses after {src[open_paren - 20 : open_paren]!r}"
    )


def device_ignored(src: str) -> list[str]:
    """The calls in ``src`` that make a tensor or a model and say nothing of its device: no
    ``device=`` among their arguments, no ``.to(...)`` right after, and no ``# on the CPU: why``
    comment on their line."""
    out = []
    for m in _MAKERS.finditer(src):
        end = _call_end(src, m.end() - 1)
        line = src[
            src.rfind("\n", 0, m.start()) + 1 : src.find("\n", end) % (len(src) + 1)
        ]
        if (
            "device=" in src[m.end() : end]
            or src[end + 1 :].startswith(".to(")
            or "# on the CPU:" in line
        ):
            continue
        out.append(line.strip())
    return out


def test_no_notebook_spells_out_q_sample_or_a_median_of_three():
    book = BOOK
    pattern = re.compile(
        r"sqrt\(\)\s*\*\s*x\w*\s*\+\s*\(1 - \w+\)\.sqrt\(\)|sorted\([^)]*\)\[1\]|sorted\(\w+\)\[len"
    )
    found = []
    for nb in sorted(book.glob("ch*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            if cell["cell_type"] == "code" and pattern.search("".join(cell["source"])):
                found.append(f"{nb.name} cell {i}")
    assert not found, found


def test_device_check_finds_what_ignores_the_device():
    assert device_ignored("x = torch.randn(3, 2, generator=g)") == [
        "x = torch.randn(3, 2, generator=g)"
    ]
    assert device_ignored('m = registry.load("spiral_cond")') == [
        'm = registry.load("spiral_cond")'
    ]
    assert device_ignored("x = torch.randn(3, 2, generator=g).to(device)") == []
    assert (
        device_ignored(
            'x = torch.zeros(3, device=device)\nm = registry.load("clip", device=device)'
        )
        == []
    )
    assert (
        device_ignored("u = torch.linspace(0, 1, 9)  # on the CPU: for a table") == []
    )


@pytest.mark.parametrize("notebook", sorted(p.name for p in BOOK.glob("ch*.ipynb")))
def test_chapters_make_what_they_compute_on_the_device(notebook):
    nb = json.loads((BOOK / notebook).read_text())
    code = "\n".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
    )
    bad = device_ignored(code)
    assert not bad, (
        f"{notebook}: {len(bad)} tensors or models ignore the device:\n"
        + "\n".join(bad)
    )


@pytest.mark.parametrize("notebook", sorted(p.name for p in BOOK.glob("ch*.ipynb")))
def test_chapters_bring_tensors_to_the_cpu_before_numpy(notebook):
    # Tensor.numpy() fails on a GPU tensor: every chapter's .numpy() follows a .cpu()
    nb = json.loads((BOOK / notebook).read_text())
    code = "\n".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
    )
    bad = [
        line.strip()
        for line in code.splitlines()
        if re.search(r"(?<!\.cpu\(\))\.numpy\(\)", line)
    ]
    assert not bad, f"{notebook}: .numpy() without .cpu() first:\n" + "\n".join(bad)
