"""Make the student edition: every chapter with its solutions replaced by stubs.

    python scripts/make_student_edition.py                  # into _build/student
    python scripts/make_student_edition.py --out DIR --branch student

For every book/ch*.ipynb this writes DIR/book/<name>.ipynb (and for every Japanese chapter,
book_ja/ch*.ipynb, DIR/book_ja/<name>.ipynb, its exercises under "## 演習"), in which

- a cell tagged ``solution`` becomes a stub: a comment naming the exercise and
  ``raise NotImplementedError("Exercise 2 of Chapter 3: write your solution here")``
  ("Chapter 4b" for book/ch04b_flow_matching.ipynb);
  its tags lose ``solution`` and ``hide-cell`` and gain ``raises-exception`` (nbval,
  nbclient and Jupyter Book then let it raise). The exercise number is that of the
  "**N." paragraphs under "## Exercises" before it, the first not yet taken;
- in any code cell, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION``
  (inclusive) become one ``raise NotImplementedError(...)`` at the same indentation
  (nbgrader's markers), so an exercise cell can keep a scaffold around the gap; such a
  cell gains ``raises-exception`` too, and under "## Exercises" it counts as the
  solution of its exercise (it need not be tagged ``solution``);
- the "Open in Colab" badge points at the student notebook on the student branch, with a
  one-line note that this is the student edition; the setup cell is left as it is (it
  installs the package from _config.yml's repository.url at repository.branch);
- all outputs are cleared (and a cell without an id gets a stable one).

It also writes DIR/zips/<name>.zip (the notebook and a README.txt saying how to open it;
DIR/zips/ja/<name>.zip for the Japanese chapters)
and DIR/README.md listing the notebooks. DIR is what the workflow publishes to the
student branch. It fails, naming the notebook and the cell, when a chapter's number of
exercises differs from its number of solution cells, or a solution cell has
no exercise number. tests/test_student_edition.py checks and runs the result.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import re
import sys
import zipfile
from pathlib import Path

from colab_links import BADGE_RE, badge, chapters, repo_and_ref

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"
DROPPED_TAGS = ("solution", "hide-cell")
RAISES_TAG = "raises-exception"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISE_HEADINGS = ("exercises", "演習")  # the English and the Japanese chapters
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXERCISE_RE = re.compile(r"^\*\*(\d+)\.\s*(.*?)\*\*")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
ZIP_DATE = (
    2026,
    1,
    1,
    0,
    0,
    0,
)  # fixed, so that an unchanged chapter gives the same zip


class StudentEditionError(ValueError):
    """A chapter whose exercises and solutions cannot be turned into stubs."""


def source(cell: dict) -> str:
    """The cell's source as one string (nbformat allows a string or a list of lines)."""
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def tags(cell: dict) -> list[str]:
    """The cell's tags (an empty list when it has none)."""
    return list(cell.get("metadata", {}).get("tags", []))


def describe(nb_name: str, index: int, cell: dict) -> str:
    """'book/ch03_ddpm.ipynb, cell 35 (id ..., "first line")' for error messages."""
    first = source(cell).strip().splitlines()[0] if source(cell).strip() else ""
    cell_id = cell.get("id", "?")
    return f"{nb_name}, cell {index} (0-based; id {cell_id}; starts {first[:60]!r})"


def chapter_number(nb_name: str) -> str:
    """The chapter's number as the book writes it: "3" for 'book/ch03_ddpm.ipynb', "4b"
    for 'book/ch04b_flow_matching.ipynb' (the chapter between 4 and 5)."""
    m = re.match(r"ch(\d+)([a-z]?)_", Path(nb_name).name)
    if m is None:
        raise StudentEditionError(
            f"{nb_name}: the name does not start with chNN_ or chNNa_"
        )
    return f"{int(m.group(1))}{m.group(2)}"


def exercise_markers(text: str, in_section: bool) -> tuple[list[tuple[int, str]], bool]:
    """The exercises ("**N. Title.**" paragraphs) under "## Exercises" in one markdown
    cell, as (number, title) pairs, and whether the section is still open at its end.

    ``in_section`` says whether the section was open at the start of the cell. A heading
    of level 1 or 2 opens or closes it; code fences are skipped."""
    found, fenced = [], False
    for line in text.splitlines():
        if FENCE_RE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        heading = HEADING_RE.match(line)
        if heading and len(heading.group(1)) <= 2:
            in_section = heading.group(2).strip().lower() in EXERCISE_HEADINGS
            continue
        exercise = EXERCISE_RE.match(line)
        if in_section and exercise:
            found.append(
                (int(exercise.group(1)), exercise.group(2).strip().rstrip("."))
            )
    return found, in_section


def exercises(nb: dict) -> list[tuple[int, str]]:
    """Every exercise of the notebook, as (number, title), in the order they appear."""
    out, in_section = [], False
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            found, in_section = exercise_markers(source(cell), in_section)
            out += found
    return out


def solution_cells(nb: dict) -> list[int]:
    """The cells that answer an exercise: those tagged ``solution``, and code cells
    under "## Exercises" with a BEGIN SOLUTION marker (a scaffold to fill in)."""
    out, in_section = [], False
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            in_section = exercise_markers(source(cell), in_section)[1]
        elif SOLUTION_TAG in tags(cell) or (in_section and BEGIN in source(cell)):
            out.append(i)
    return out


def assign_exercises(nb: dict, nb_name: str) -> dict[int, tuple[int, str]]:
    """Map each solution cell (see ``solution_cells``) to its exercise: (number, title).

    A solution takes the earliest exercise before it that no earlier solution took, so
    both layouts work: one markdown cell per exercise each followed by its solution, or
    one markdown cell with all exercises followed by the solutions in order."""
    pending, out, in_section = [], {}, False
    answers = set(solution_cells(nb))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            found, in_section = exercise_markers(source(cell), in_section)
            pending += found
        elif i in answers:
            if not pending:
                raise StudentEditionError(
                    f"{describe(nb_name, i, cell)} is a solution (tagged 'solution' "
                    "or with a BEGIN SOLUTION marker) but no exercise "
                    "'**N. Title.**' under '## Exercises' comes before it that "
                    "another solution has not taken"
                )
            out[i] = pending.pop(0)
    return out


def check_counts(nb: dict, nb_name: str) -> None:
    """Fail unless the notebook has as many exercises as solution cells."""
    found = exercises(nb)
    solutions = solution_cells(nb)
    if len(found) != len(solutions):
        numbers = ", ".join(str(n) for n, _ in found) or "none"
        raise StudentEditionError(
            f"{nb_name}: {len(found)} exercises under '## Exercises' (numbers "
            f"{numbers}) but {len(solutions)} solution cells (cells {solutions}, "
            "0-based: tagged 'solution', or with a BEGIN SOLUTION marker under "
            "'## Exercises'); every exercise needs exactly one solution cell"
        )


def raise_line(chapter: str, exercise: int | None) -> str:
    """The ``raise NotImplementedError(...)`` line of a stub (no indentation)."""
    where = (
        f"Exercise {exercise} of Chapter {chapter}"
        if exercise
        else f"Chapter {chapter}"
    )
    return f'raise NotImplementedError("{where}: write your solution here")'


def stub_source(chapter: str, exercise: int, title: str) -> str:
    """The source of the cell that replaces a solution cell."""
    comment = f"# Exercise {exercise} ({title}): your code here"
    if not title or len(comment) > 88:
        comment = f"# Exercise {exercise}: your code here"
    return comment + "\n" + raise_line(chapter, exercise)


def strip_marked(text: str, line: str, where: str) -> str:
    """Replace every BEGIN SOLUTION ... END SOLUTION block of ``text`` (inclusive) by
    ``line`` at the BEGIN marker's indentation."""
    out, start = [], None
    for k, row in enumerate(text.splitlines()):
        if row.strip() == BEGIN:
            if start is not None:
                raise StudentEditionError(f"{where}: {BEGIN!r} twice without {END!r}")
            start = k
            out.append(row[: len(row) - len(row.lstrip())] + line)
        elif row.strip() == END:
            if start is None:
                raise StudentEditionError(f"{where}: {END!r} without {BEGIN!r}")
            start = None
        elif start is None:
            out.append(row)
    if start is not None:
        raise StudentEditionError(f"{where}: {BEGIN!r} on line {start + 1} not closed")
    return "\n".join(out)


def as_stub(cell: dict, text: str) -> dict:
    """A copy of a code cell with ``text`` as source, stub tags and no outputs."""
    new = copy.deepcopy(cell)
    new["source"] = text.splitlines(keepends=True)
    kept = [t for t in tags(cell) if t not in DROPPED_TAGS]
    new.setdefault("metadata", {})["tags"] = kept + [RAISES_TAG] * (
        RAISES_TAG not in kept
    )
    return new


def clear_outputs(cell: dict) -> dict:
    """The cell without outputs, execution count or execution timing."""
    if cell["cell_type"] == "code":
        cell["outputs"], cell["execution_count"] = [], None
    cell.get("metadata", {}).pop("execution", None)
    return cell


def ensure_ids(nb: dict, nb_name: str) -> None:
    """Give every cell without an id (nbformat 4.5 requires one) a stable one, made
    from the notebook's name and the cell's place."""
    taken = {c["id"] for c in nb["cells"] if "id" in c}
    for i, cell in enumerate(nb["cells"]):
        if "id" not in cell:
            digest = hashlib.sha1(f"{nb_name}:{i}".encode()).hexdigest()
            cell["id"] = next(
                digest[k : k + 8] for k in range(33) if digest[k : k + 8] not in taken
            )
            taken.add(cell["id"])


def student_badge(nb: dict, nb_name: str, url: str, branch: str) -> None:
    """Point the first markdown cell's Colab badge at ``branch`` and add the note."""
    md = next((c for c in nb["cells"] if c["cell_type"] == "markdown"), None)
    if md is None:
        raise StudentEditionError(
            f"{nb_name}: no markdown cell to hold the Colab badge"
        )
    rel = Path(nb_name).parent.name + "/" + Path(nb_name).name  # book/ or book_ja/
    line = (
        badge(url, branch, rel) + "\n\n" + student_note(url, rel.startswith("book_ja/"))
    )
    text = source(md)
    if BADGE_RE.search(text):
        text = BADGE_RE.sub(lambda m: line, text, count=1)
    else:  # right under the chapter's title, as colab_links.write does
        text = re.sub(
            r"(?m)^(# .*\n)", lambda m: m.group(1) + "\n" + line + "\n", text, 1
        )
    md["source"] = text.splitlines(keepends=True)


def student_note(url: str, japanese: bool = False) -> str:
    """The one line under the badge that says what this edition is."""
    if japanese:
        return (
            "*学生版: 演習の解答は空けてあり、読者が書く。解答つきの本は "
            f"{url} にある。*"
        )
    return (
        "*Student edition: the solutions of the exercises are left for you to write. "
        f"The full book, with solutions, is at {url}.*"
    )


def student_notebook(nb: dict, nb_name: str, url: str, branch: str) -> tuple[dict, int]:
    """The student edition of one chapter (a new notebook), and how many cells it
    stubbed.

    ``nb_name`` (e.g. 'book/ch03_ddpm.ipynb') names the chapter in messages, badges and
    the stubs' error text."""
    check_counts(nb, nb_name)
    numbers = assign_exercises(nb, nb_name)
    chapter = chapter_number(nb_name)
    out = copy.deepcopy(nb)
    stubbed = 0
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            out["cells"][i] = clear_outputs(out["cells"][i])
            continue
        number, title = numbers.get(i) or (None, "")
        text = source(cell)
        if BEGIN in text or END in text:
            where = describe(nb_name, i, cell)
            text = strip_marked(text, raise_line(chapter, number), where)
            out["cells"][i] = as_stub(cell, text)
            stubbed += 1
        elif SOLUTION_TAG in tags(cell):
            out["cells"][i] = as_stub(cell, stub_source(chapter, number, title))
            stubbed += 1
        out["cells"][i] = clear_outputs(out["cells"][i])
    student_badge(out, nb_name, url, branch)
    if (out.get("nbformat"), out.get("nbformat_minor", 0)) >= (4, 5):
        ensure_ids(out, nb_name)
    return out, stubbed


def notebook_json(nb: dict) -> str:
    """The notebook as the repository stores it (indent 1, UTF-8, final newline)."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def zip_readme(name: str, url: str, ref: str, branch: str, folder: str = "book") -> str:
    """README.txt of a chapter's zip: how to open the notebook (in Japanese for book_ja)."""
    colab = badge(url, branch, f"{folder}/{name}").rsplit("(", 1)[1].rstrip(")")
    if folder == "book_ja":
        return f"""{name}: 『文から画像へ』(From a sentence to a picture) の一章、学生版。
章末の演習は読者が解く。各演習のセルは、コードで置き換えるまで
NotImplementedError を送出する。

Google Colab で (インストール不要):
  {colab} を開く。
  または https://colab.research.google.com で「ファイル > ノートブックをアップロード」から
  {name} を選ぶ。最初の二つのセルを実行すると、言語が日本語になり、本のパッケージ
  difflab がインストールされる。

手元の Jupyter で (Python 3.10 以降):
  python -m pip install "difflab @ git+{url}@{ref}" jupyterlab
  jupyter lab {name}

解答つきの本: {url}
"""
    return f"""{name}: a chapter of "From a sentence to a picture", student edition.
The exercises at the end are left for you: each has a cell that raises
NotImplementedError until you replace it with your code.

In Google Colab (nothing to install):
  open {colab}
  or go to https://colab.research.google.com, choose File > Upload notebook and pick
  {name}. Run the first cell: it installs the book's package, difflab.

In Jupyter on your computer (Python 3.10 or newer):
  python -m pip install "difflab @ git+{url}@{ref}" jupyterlab
  jupyter lab {name}

The full book, with the solutions: {url}
"""


def write_zip(path: Path, name: str, notebook: str, readme: str) -> None:
    """A zip holding the notebook and README.txt, with fixed dates (reproducible)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, text in ((name, notebook), ("README.txt", readme)):
            info = zipfile.ZipInfo(member, date_time=ZIP_DATE)
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            zf.writestr(info, text.encode("utf-8"))
    path.write_bytes(buffer.getvalue())


def title_of(nb: dict) -> str:
    """The chapter's title: the first '# ' heading of its first markdown cell."""
    for cell in nb["cells"]:
        m = re.search(r"(?m)^# (.+)$", source(cell))
        if cell["cell_type"] == "markdown" and m:
            return m.group(1).strip()
    return ""


def index_readme(
    rows: list[tuple[str, str, int]], url: str, branch: str, japanese=()
) -> str:
    """DIR/README.md: one line per notebook, with its Colab badge and its zip; the
    Japanese chapters (``japanese``, rows of book_ja/) in a second table."""
    lines = [
        '# "From a sentence to a picture": student edition',
        "",
        "The book's chapters with the exercises' solutions left for you to write: each",
        "solution is a cell that raises `NotImplementedError` until you replace it.",
        f"The full book, with solutions: {url}",
        "",
    ]
    tables = [
        ("book", "zips", rows, "| chapter | notebook | exercises | open | download |")
    ]
    if japanese:
        lines_ja = "| 章 | ノートブック | 演習 | 開く | ダウンロード |"
        tables.append(("book_ja", "zips/ja", japanese, lines_ja))
    for folder, zips, table, header in tables:
        if folder == "book_ja":
            lines += ["", "## 日本語版 (Japanese)", ""]
        lines += [header, "|---|---|---|---|---|"]
        for name, title, n in table:
            colab = badge(url, branch, f"{folder}/{name}")
            link = f"[{folder}/{name}]({folder}/{name})"
            zipped = f"[zip]({zips}/{Path(name).stem}.zip)"
            lines.append(f"| {title} | {link} | {n} | {colab} | {zipped} |")
    return "\n".join(lines) + "\n"


def make_edition(out: Path, branch: str = "student", root: Path = ROOT) -> list[tuple]:
    """Write the student edition of every chapter under ``root`` into ``out``: the English
    chapters into out/book and out/zips, the Japanese ones (book_ja/) into out/book_ja and
    out/zips/ja.

    Returns (notebook name, chapter title, stubs) per chapter (the English ones first, the
    Japanese ones named book_ja/<name>). Stale chapters (no longer in the book) are removed."""
    out = Path(out).resolve()
    if out == Path(root).resolve():
        raise StudentEditionError(
            f"--out {out} is the repository: it would overwrite book/"
        )
    url, ref = repo_and_ref(root)
    rows, japanese = [], []
    for folder, zips in (("book", out / "zips"), ("book_ja", out / "zips" / "ja")):
        (out / folder).mkdir(parents=True, exist_ok=True)
        zips.mkdir(parents=True, exist_ok=True)
        written = []
        for path in sorted((root / folder).glob("ch*.ipynb")):
            nb_name = path.relative_to(root).as_posix()
            nb, n = student_notebook(json.loads(path.read_text()), nb_name, url, branch)
            text = notebook_json(nb)
            (out / folder / path.name).write_text(text)
            readme = zip_readme(path.name, url, ref, branch, folder)
            write_zip(zips / f"{path.stem}.zip", path.name, text, readme)
            written.append((path.name, title_of(nb), n))
        names = {name for name, _, _ in written}
        for stale in [*(out / folder).glob("ch*.ipynb"), *zips.glob("ch*.zip")]:
            if f"{stale.stem}.ipynb" not in names:
                stale.unlink()
        if folder == "book":
            rows += written
        else:
            japanese = written
            rows += [(f"book_ja/{name}", title, n) for name, title, n in written]
    english = [r for r in rows if not r[0].startswith("book_ja/")]
    (out / "README.md").write_text(index_readme(english, url, branch, japanese))
    return rows


def main(argv=None) -> int:
    """Command line: write the edition, print one line per chapter."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=ROOT / "_build" / "student",
        help="output folder (default: _build/student in the repository)",
    )
    ap.add_argument(
        "--branch",
        default="student",
        help="the branch the edition is published to, for the Colab badges "
        "(default: student)",
    )
    args = ap.parse_args(argv)
    if not args.branch.strip() or any(c.isspace() for c in args.branch):
        ap.error(f"--branch {args.branch!r}: give a branch name without spaces")
    try:
        rows = make_edition(args.out, args.branch)
    except StudentEditionError as err:
        print(f"make_student_edition: {err}", file=sys.stderr)
        return 1
    for name, _, n in rows:
        print(f"{name}: {n} exercises stubbed")
    print(f"wrote {len(rows)} notebooks, zips and README.md to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
