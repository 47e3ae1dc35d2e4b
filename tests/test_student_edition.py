"""The student edition (scripts/make_student_edition.py).

(a) Every exercise in the book has exactly one marked solution: the "**N." paragraphs
    under "## Exercises" against the cells tagged `solution` (or holding nbgrader's
    BEGIN SOLUTION markers), and every "# Solution" cell has the tags `solution` and
    `hide-cell`.
(b) The generated edition holds no solution code, its badges point at the student
    branch, its setup cells are the book's, and its zips hold the notebooks; the
    nbgrader markers and the error messages are checked on synthetic notebooks.
(c) Every student notebook executes in fast mode: each stub raises NotImplementedError
    and no other cell raises. One test per chapter, test_student_notebook_runs[chNN_x],
    so that one chapter can be run alone with -k; each takes as long as the chapter.
"""

import json
import re
import subprocess
import sys
import zipfile

import make_student_edition as mse
import nbformat
import pytest
from colab_links import badge, repo_and_ref, setup_cell
from conftest import ROOT

CHAPTERS = sorted((ROOT / "book").glob("ch*.ipynb"))
IDS = [p.stem for p in CHAPTERS]
URL, REF = repo_and_ref(ROOT)


def load(path):
    """The notebook at ``path`` as a dict."""
    return json.loads(path.read_text())


def code_lines(nb, keep):
    """The stripped lines of every cell of ``nb`` for which ``keep(cell)`` holds."""
    return {
        line.strip()
        for cell in nb["cells"]
        if keep(cell)
        for line in mse.source(cell).splitlines()
    }


def is_solution(cell):
    """Whether the cell is tagged `solution`."""
    return mse.SOLUTION_TAG in mse.tags(cell)


def split_lines(cell):
    """(public, secret): the stripped lines of a cell a student may see, and those of
    its solution: between BEGIN/END SOLUTION markers where it has them, all of a cell
    tagged `solution` without them."""
    text = mse.source(cell)
    marked, secret = mse.BEGIN in text, is_solution(cell) and mse.BEGIN not in text
    public, hidden = [], []
    for line in text.splitlines():
        line = line.strip()
        if marked and line in (mse.BEGIN, mse.END):
            secret = line == mse.BEGIN
        else:
            (hidden if secret else public).append(line)
    return public, hidden


def leaked(book, student):
    """The (cell, line) pairs of solution code in ``student``: non-blank, non-comment
    lines of a solution in ``book`` that no public part of ``book`` also has."""
    public = {line for c in book["cells"] for line in split_lines(c)[0]}
    present = code_lines(student, lambda c: True)
    return [
        (i, line)
        for i, cell in enumerate(book["cells"])
        for line in split_lines(cell)[1]
        if line and not line.startswith("#") and line not in public and line in present
    ]


@pytest.fixture(scope="session")
def edition(tmp_path_factory):
    """The student edition of the current chapters, written into a temporary folder."""
    out = tmp_path_factory.mktemp("student")
    rows = mse.make_edition(out, branch="student", root=ROOT)
    return out, rows


# (a) every exercise has a marked solution


def test_there_are_chapters():
    assert len(CHAPTERS) >= 8, [p.name for p in CHAPTERS]


def exercise_numbers(nb):
    """The numbers N of the "**N." paragraphs from "## Exercises" to the next heading
    of level 1 or 2 (counted here independently of the script's parser)."""
    text = "\n".join(mse.source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    _, found, rest = text.partition("\n## Exercises\n")
    assert found, "no '## Exercises' section"
    section = re.split(r"(?m)^#{1,2} ", rest, maxsplit=1)[0]
    return [int(n) for n in re.findall(r"(?m)^\*\*(\d+)\.", section)]


def marked_solutions(nb):
    """The cells tagged `solution`, and code cells with a BEGIN SOLUTION marker."""
    return [
        i
        for i, c in enumerate(nb["cells"])
        if is_solution(c) or (c["cell_type"] == "code" and mse.BEGIN in mse.source(c))
    ]


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_every_exercise_has_a_marked_solution(path):
    nb = load(path)
    numbers = exercise_numbers(nb)
    solutions = marked_solutions(nb)
    assert numbers, f"{path.name}: no '**N. Title.**' exercise under '## Exercises'"
    assert numbers == list(range(1, len(numbers) + 1)), (
        f"{path.name}: exercises numbered {numbers}, expected 1..{len(numbers)}"
    )
    assert len(solutions) == len(numbers), (
        f"{path.name}: {len(numbers)} exercises but marked solutions in cells "
        f"{solutions}"
    )
    assert [n for n, _ in mse.exercises(nb)] == numbers, "the script reads others"
    assigned = mse.assign_exercises(nb, path.name)
    got = [assigned[i][0] for i in solutions]
    assert got == numbers, f"{path.name}: solution cells {solutions} answer {got}"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_solution_cells_are_tagged(path):
    for i, cell in enumerate(load(path)["cells"]):
        where = mse.describe(path.name, i, cell)
        starts = mse.source(cell).lstrip().startswith("# Solution")
        if cell["cell_type"] == "code" and starts:
            assert {"solution", "hide-cell"} <= set(mse.tags(cell)), (
                f"{where}: a '# Solution' cell needs the tags solution and hide-cell"
            )
        if is_solution(cell):
            assert cell["cell_type"] == "code" and starts, (
                f"{where}: tagged 'solution' but not a code cell starting '# Solution'"
            )


# (b) the generated edition


def test_edition_lists_every_chapter(edition):
    out, rows = edition
    assert [name for name, _, _ in rows if "/" not in name] == [
        p.name for p in CHAPTERS
    ]
    readme = (out / "README.md").read_text()
    for path in CHAPTERS:
        assert (out / "book" / path.name).is_file(), path.name
        assert f"(book/{path.name})" in readme, f"README.md does not list {path.name}"
        assert badge(URL, "student", f"book/{path.name}") in readme, path.name


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_no_solution_code_in_edition(path, edition):
    out, _ = edition
    book, student = load(path), load(out / "book" / path.name)
    nbformat.validate(nbformat.reads(json.dumps(student), as_version=4))
    ids = [cell.get("id") for cell in student["cells"]]
    assert None not in ids and len(set(ids)) == len(ids), f"{path.name}: cell ids {ids}"
    assert not [i for i, c in enumerate(student["cells"]) if is_solution(c)]
    assert not leaked(book, student), f"{path.name}: solution lines in the edition"
    text = json.dumps(student)
    assert mse.BEGIN not in text and mse.END not in text


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_stubs_replace_the_solutions(path, edition):
    out, _ = edition
    book, student = load(path), load(out / "book" / path.name)
    assert len(book["cells"]) == len(student["cells"])
    chapter = mse.chapter_number(path.name)
    number = 0
    for i, (old, new) in enumerate(zip(book["cells"], student["cells"])):
        if new["cell_type"] == "code":
            assert new["outputs"] == [] and new["execution_count"] is None, i
        if not is_solution(old):
            if i > 0 or new["cell_type"] != "markdown":
                assert mse.source(new) == mse.source(old), f"{path.name}: cell {i}"
            continue
        number += 1
        assert set(mse.tags(new)) == (
            set(mse.tags(old)) - {"solution", "hide-cell"}
        ) | {"raises-exception"}, f"{path.name}: cell {i} tags {mse.tags(new)}"
        src = mse.source(new)
        assert src.startswith(f"# Exercise {number}"), src
        expected = f"Exercise {number} of Chapter {chapter}: write your solution here"
        assert f'raise NotImplementedError("{expected}")' in src, src


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_badge_points_at_student_branch(path, edition):
    out, _ = edition
    student = load(out / "book" / path.name)
    first_md = next(c for c in student["cells"] if c["cell_type"] == "markdown")
    text = mse.source(first_md)
    rel = f"book/{path.name}"
    assert badge(URL, "student", rel) in text, text[:400]
    assert badge(URL, REF, rel) not in text or REF == "student"
    assert "Student edition" in text
    first_code = next(c for c in student["cells"] if c["cell_type"] == "code")
    assert mse.source(first_code) == setup_cell(URL, REF), "the setup cell changed"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_zip_holds_the_notebook(path, edition):
    out, _ = edition
    archive = out / "zips" / f"{path.stem}.zip"
    assert archive.is_file(), f"{archive} is missing"
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == sorted([path.name, "README.txt"])
        assert zf.read(path.name) == (out / "book" / path.name).read_bytes()
        readme = zf.read("README.txt").decode()
    assert "colab.research.google.com" in readme and "jupyter lab" in readme
    assert f"git+{URL}@{REF}" in readme


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_the_japanese_edition_stubs_the_same_exercises(path, edition):
    out, rows = edition
    student = load(out / "book_ja" / path.name)
    english = load(out / "book" / path.name)

    def code(cells):  # the stubs' comments name the exercise in the edition's language
        return [
            mse.source(c) if mse.RAISES_TAG not in mse.tags(c) else "stub"
            for c in cells
            if c["cell_type"] == "code"
        ]

    assert code(student["cells"][1:]) == code(english["cells"])
    assert not leaked(load(ROOT / "book_ja" / path.name), student)
    text = mse.source(next(c for c in student["cells"] if c["cell_type"] == "markdown"))
    assert badge(URL, "student", f"book_ja/{path.name}") in text and "学生版" in text
    with zipfile.ZipFile(out / "zips" / "ja" / f"{path.stem}.zip") as zf:
        assert zf.read(path.name) == (out / "book_ja" / path.name).read_bytes()
        assert "Google Colab" in zf.read("README.txt").decode()
    assert f"(book_ja/{path.name})" in (out / "README.md").read_text()


def synthetic(*cells, title="# 9. A synthetic chapter"):
    """A notebook: a title cell with a badge, a setup cell, then ``cells``, each
    ('md', text), ('code', text) or ('solution', text)."""
    nb = nbformat.v4.new_notebook()
    rel = "book/ch09_synthetic.ipynb"
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"{title}\n\n{badge(URL, REF, rel)}\n\nText."),
        nbformat.v4.new_code_cell(setup_cell(URL, REF)),
    ]
    for kind, text in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            cell = nbformat.v4.new_code_cell(text)
            if kind == "solution":
                cell.metadata["tags"] = ["hide-cell", "solution"]
            nb.cells.append(cell)
    return json.loads(nbformat.writes(nb))


def make(nb):
    """The student edition of a synthetic notebook."""
    return mse.student_notebook(nb, "book/ch09_synthetic.ipynb", URL, "student")


SCAFFOLD = """def add_noise(x, t):
    scale = t / 10
    ### BEGIN SOLUTION
    secret = x + scale * 42
    return secret
    ### END SOLUTION


y = 3
### BEGIN SOLUTION
print("also secret", add_noise(y, 2))
### END SOLUTION
print("done")"""


def test_markers_keep_the_scaffold():
    nb = synthetic(
        ("md", "## Exercises\n\n**1. Scaffold.** Fill it in."), ("code", SCAFFOLD)
    )
    student, n = make(nb)
    cell = student["cells"][-1]
    src = mse.source(cell)
    assert n == 1 and "raises-exception" in mse.tags(cell)
    assert len(leaked(nb, student)) == 0 < len(split_lines(nb["cells"][-1])[1])
    assert "secret" not in src and "BEGIN" not in src and "END SOLUTION" not in src
    for kept in (
        "def add_noise(x, t):",
        "    scale = t / 10",
        "y = 3",
        'print("done")',
    ):
        assert kept in src.splitlines(), kept
    message = (
        'raise NotImplementedError("Exercise 1 of Chapter 9: write your solution here")'
    )
    assert src.splitlines().count("    " + message) == 1, src
    assert src.splitlines().count(message) == 1, src
    compile(src, "scaffold", "exec")


def test_markers_outside_exercises_name_the_chapter():
    student, _ = make(
        synthetic(("code", "x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION"))
    )
    src = mse.source(student["cells"][-1])
    assert 'NotImplementedError("Chapter 9: write your solution here")' in src
    assert "x = 2" not in src


def test_one_markdown_cell_for_all_exercises():
    text = "## Exercises\n\n**1. One.** a\n\n**2. Two.** b\n\n**3. Three.** c"
    nb = synthetic(
        ("md", text), *[("solution", f"# Solution\nz = {k}") for k in (1, 2, 3)]
    )
    student, n = make(nb)
    stubs = [mse.source(c) for c in student["cells"][-3:]]
    assert n == 3
    for k, (src, name) in enumerate(zip(stubs, ["One", "Two", "Three"]), 1):
        assert src.startswith(f"# Exercise {k} ({name}): your code here"), src
        assert f"Exercise {k} of Chapter 9" in src
    assert mse.RAISES_TAG in mse.tags(student["cells"][-1])


def test_chapter_4b_is_named_4b_in_the_stubs():
    assert mse.chapter_number("book/ch03_ddpm.ipynb") == "3"
    assert mse.chapter_number("book/ch04b_flow_matching.ipynb") == "4b"
    with pytest.raises(mse.StudentEditionError, match="chNN_"):
        mse.chapter_number("book/intro.md")
    nb = synthetic(
        ("md", "## Exercises\n\n**1. One.** a"),
        ("solution", "# Solution\nz = 1"),
        title="# 4b. A synthetic chapter",
    )
    name = "book/ch04b_flow_matching.ipynb"
    student, n = mse.student_notebook(nb, name, URL, "student")
    src = mse.source(student["cells"][-1])
    expected = "Exercise 1 of Chapter 4b: write your solution here"
    assert n == 1 and f'raise NotImplementedError("{expected}")' in src, src
    assert badge(URL, "student", name) in mse.source(student["cells"][0])


def test_exercises_section_ends_at_next_heading():
    text = "## Exercises\n\n**1. One.** a\n\n## Summary\n\n**2. Not an exercise.** b"
    assert [n for n, _ in mse.exercises(synthetic(("md", text)))] == [1]


def test_count_mismatch_names_the_notebook():
    text = "## Exercises\n\n**1. One.** a\n\n**2. Two.** b"
    with pytest.raises(
        mse.StudentEditionError, match=r"ch09_synthetic.*2 exercises.*1 solution cell"
    ):
        make(synthetic(("md", text), ("solution", "# Solution\nz = 1")))


def test_solution_without_exercise_names_the_cell():
    nb = synthetic(
        ("md", "Some text."),
        ("solution", "# Solution\nz = 1"),
        ("md", "## Exercises\n\n**1. One.** a"),
    )
    cell_id = nb["cells"][3]["id"]
    with pytest.raises(
        mse.StudentEditionError, match=rf"ch09_synthetic.*cell 3.*{cell_id}"
    ):
        make(nb)


def test_unclosed_marker_is_an_error():
    with pytest.raises(mse.StudentEditionError, match="not closed"):
        make(synthetic(("code", "### BEGIN SOLUTION\nx = 2")))


def test_command_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "make_student_edition.py"),
            "--out",
            str(tmp_path),
            "--branch",
            "course-2026",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for path in CHAPTERS:
        assert any(
            line.startswith(f"{path.name}: ") and "stubbed" in line for line in lines
        ), result.stdout
    student = load(tmp_path / "book" / CHAPTERS[0].name)
    assert badge(URL, "course-2026", f"book/{CHAPTERS[0].name}") in mse.source(
        student["cells"][0]
    )


# (c) the student notebooks execute


def current_env_kernel_manager():
    """An nbclient kernel manager class whose kernel is this interpreter, as nbval's
    --nbval-current-env, so that `import difflab` finds the editable install."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class CurrentEnvSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            argv = [
                sys.executable,
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
            ]
            return KernelSpec(argv=argv, display_name="difflab", language="python")

    class CurrentEnvKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _current_env_specs(self):
            return CurrentEnvSpecs()

    return CurrentEnvKernelManager


def execution_problems(nb, cwd):
    """Execute ``nb`` (an nbformat notebook, in place) with the working directory
    ``cwd`` and list what went wrong: a stub (tagged `raises-exception`) that did not
    raise NotImplementedError, or any other cell that raised."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    client = NotebookClient(
        nb,
        kernel_manager_class=current_env_kernel_manager(),
        timeout=900,
        allow_errors=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    try:
        client.execute()
    except CellExecutionError as err:
        return [f"a cell that is not a stub raised:\n{str(err)[-3000:]}"]
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        names = [o.ename for o in cell.outputs if o.output_type == "error"]
        if mse.RAISES_TAG in mse.tags(cell) and names != ["NotImplementedError"]:
            problems.append(f"stub cell {i} raised {names}, not NotImplementedError")
        elif mse.RAISES_TAG not in mse.tags(cell) and names:
            problems.append(f"cell {i} raised {names}")
    return problems


def test_execution_check_catches_problems(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFLAB_FAST", "1")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in ("import difflab", "x = 1")]
    nb.cells[1].metadata["tags"] = [mse.RAISES_TAG]  # a stub that does not raise
    assert execution_problems(nb, tmp_path) == [
        "stub cell 1 raised [], not NotImplementedError"
    ]
    nb.cells[1].source = "undefined_name"  # an error, but not NotImplementedError
    assert "NameError" in execution_problems(nb, tmp_path)[0]
    nb.cells[1].metadata["tags"] = []
    found = execution_problems(nb, tmp_path)
    assert len(found) == 1 and "not a stub raised" in found[0]


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_student_notebook_runs(path, edition, monkeypatch):
    monkeypatch.setenv("DIFFLAB_FAST", "1")
    out, _ = edition
    nb = nbformat.read(out / "book" / path.name, as_version=4)
    problems = execution_problems(nb, out / "book")
    assert not problems, f"{path.name}: " + "\n".join(problems)
    stubs = [i for i, c in enumerate(nb.cells) if mse.RAISES_TAG in mse.tags(c)]
    assert len(stubs) == len(marked_solutions(load(path))), stubs
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert "mode: fast" in "".join(o.get("text", "") for o in setup.outputs)
