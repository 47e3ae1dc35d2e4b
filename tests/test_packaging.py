"""What the book imports is declared, and the two dependency lists agree."""

import ast
import json
import re
import sys

import tomllib
from conftest import ROOT

# import name -> distribution name, where they differ
DIST = {
    "sklearn": "scikit-learn",
    "ot": "pot",
    "yaml": "pyyaml",
    "IPython": "ipython",
    "PIL": "pillow",
    "matplotlib_fontja": "matplotlib-fontja",
}


def _deps():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [re.split(r"[<>=!~ \[]", d)[0].lower() for d in meta["dependencies"]]
    extras = {
        k: [re.split(r"[<>=!~ \[]", d)[0].lower() for d in v]
        for k, v in meta["optional-dependencies"].items()
    }
    return runtime, extras


def _imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _declared(names, allowed):
    stdlib = set(sys.stdlib_module_names)
    return sorted(
        n
        for n in names
        if n not in stdlib and n != "difflab" and DIST.get(n, n).lower() not in allowed
    )


def test_code_imports_only_declared_dependencies():
    runtime, extras = _deps()
    src = set().union(*(_imports(p.read_text()) for p in (ROOT / "src").rglob("*.py")))
    assert _declared(src, runtime) == []
    for nb in (ROOT / "book").glob("*.ipynb"):
        code = "\n".join(
            "".join(c["source"])
            for c in json.loads(nb.read_text())["cells"]
            if c["cell_type"] == "code"
        )
        code = "\n".join(
            line
            for line in code.splitlines()
            if not line.lstrip().startswith(("%", "!"))
        )
        assert _declared(_imports(code), runtime) == [], nb.name


def test_tests_import_only_declared_dependencies():
    runtime, extras = _deps()
    allowed = (
        set(runtime)
        | set(extras["dev"])
        | set(extras["book"])
        | {"conftest", "colab_links", "make_student_edition", "site_fixes", "citations"}
        | {"exec_cache", "translate", "build_ja"}
    )
    for p in (ROOT / "tests").glob("*.py"):
        assert _declared(_imports(p.read_text()), allowed) == [], p.name


def test_requirements_txt_agrees_with_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = set(meta["dependencies"]) | set(meta["optional-dependencies"]["book"])
    lines = {
        ln.strip()
        for ln in (ROOT / "requirements.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    assert lines == expected


def test_constraints_pin_torch():
    text = (ROOT / "constraints.txt").read_text()
    assert re.search(r"(?m)^torch==2\.13\.0$", text)
    pinned = {ln.split("==")[0].lower() for ln in text.splitlines() if "==" in ln}
    runtime, extras = _deps()
    missing = [
        d
        for d in runtime + extras["book"] + extras["dev"]
        if d not in pinned and d != "difflab"
    ]
    assert missing == [], f"constraints.txt does not pin {missing}"


def _quick_start(name: str) -> str:
    readme = (ROOT / "README.md").read_text()
    pattern = rf"<!-- quick-start: {name} -->\n```bash\n(.+)\n```"
    return re.search(pattern, readme).group(1)


def test_readme_has_a_quick_start_command_to_build():
    build = _quick_start("build")
    assert "-c constraints.txt" in build and "jupyter-book build" in build


def test_readme_has_a_quick_start_command_to_test():
    test = _quick_start("test")
    assert (
        "-c constraints.txt" in test and "pytest" in test and "DIFFLAB_FAST=1" in test
    )


def test_ci_runs_the_readme_test_command():
    import subprocess

    extracted = subprocess.run(
        [
            "awk",
            "/<!-- quick-start: test -->/ { getline; getline; print; exit }",
            str(ROOT / "README.md"),
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert extracted == _quick_start("test")
    assert "README.md" in (ROOT / ".ci" / "run").read_text()
