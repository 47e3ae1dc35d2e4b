"""The package's shape: its docstring names every module, no two modules import each
other (even inside a function), no function is longer than a reader can hold, a quantity
has one name; and the tests' shape: a test file per module, one claim per test."""

import ast
import importlib
import io
import re
import tokenize
from pathlib import Path

import pytest

import difflab

SRC = Path(difflab.__file__).resolve().parent  # src/difflab
MAX_LINES = 50


def _modules() -> dict[str, Path]:
    """Every module of the package, ``difflab.x.y`` -> its file; a package is its
    ``__init__.py``."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name of what ``from ... import`` names (``from .x import y`` in
    ``difflab.a`` is ``difflab.x``)."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]  # a module's relative imports start at its package
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its file (inside
    functions too); ``from .x import name`` where ``x.name`` is a module imports it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path, node)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # difflab.data.spiral.x -> ...spiral
                name = name.rpartition(".")[0]
            while name:  # importing difflab.data.spiral runs difflab.data first
                if name in known and name != module:
                    found.add(name)
                name = name.rpartition(".")[0]
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """``difflab.a`` -> the package's modules it imports. A package does not count as
    imported by its own modules (``from . import x`` in a submodule names its sibling
    ``x``, not the ``__init__`` that runs first)."""
    known = set(modules)
    graph = {}
    for module, path in modules.items():
        graph[module] = {
            m for m in _imports(module, path, known) if not module.startswith(m + ".")
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as ``[a, b, ..., a]``, or None (depth-first search)."""
    done, path = set(), []

    def visit(node):
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if cycle := visit(nxt):
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        if cycle := visit(start):
            return cycle
    return None


def code_lines(func: ast.AST, source: str) -> int:
    """Lines of code of a function: its lines, less its docstring, blank lines and
    lines that hold only a comment."""
    lines = set(range(func.lineno, func.end_lineno + 1))
    body = func.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        lines -= set(range(body[0].lineno, body[0].end_lineno + 1))
    code = set()
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    skip = {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
    }
    for tok in tokens:
        if tok.type not in skip:
            code.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines & code)


def long_functions(path: Path, limit: int = MAX_LINES) -> list[str]:
    """``file:line name (n lines)`` for each function of ``path`` over ``limit``."""
    source = path.read_text()
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = code_lines(node, source)
            if n > limit:
                rel = path.relative_to(SRC.parent)
                found.append(f"{rel}:{node.lineno} {node.name} ({n} lines)")
    return found


def test_the_package_docstring_lists_every_module():
    named = set(re.findall(r"^- ``([\w.]+)``:", difflab.__doc__, re.MULTILINE))
    missing = [
        m
        for m in _modules()
        if m != "difflab" and m.removeprefix("difflab.") not in named
    ]
    assert not missing, f"not named in difflab.__doc__: {missing}"


def test_no_module_imports_one_that_imports_it_back():
    cycle = find_cycle(import_graph(_modules()))
    assert cycle is None, "an import cycle: " + " -> ".join(cycle)


def test_no_function_is_longer_than_fifty_lines_of_code():
    found = [f for path in _modules().values() for f in long_functions(path)]
    assert not found, f"over {MAX_LINES} lines of code:\n" + "\n".join(found)


def test_the_package_imports_at_module_level_only():
    """No import of another difflab module inside a function: such imports hide cycles."""
    hidden = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (
                        inner.level > 0 or (inner.module or "").startswith("difflab")
                    ):
                        hidden.append(f"{path.relative_to(SRC)}:{inner.lineno}")
    assert not hidden, hidden


def _count(text: str) -> list[str]:
    return [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        for _ in range(p.read_text().count(text))
    ]


def test_one_training_loop():
    # the loop, and the registry's entry by name that calls it
    assert sorted(_count("\ndef train(")) == ["registry.py", "training.py"]


def test_one_checkpoint_writer():
    assert _count("save_file(") == ["saving.py"]


TESTS = Path(__file__).resolve().parent


def _test_file(module: str) -> str:
    """tests/test_<module>.py; test_models_mlp.py for difflab.models.mlp."""
    return (
        "test_" + module.removeprefix("difflab.").replace(".", "_").lstrip("_") + ".py"
    )


def test_every_module_has_its_test_file():
    modules = [m for m, p in _modules().items() if p.name != "__init__.py"]
    missing = [_test_file(m) for m in modules if not (TESTS / _test_file(m)).exists()]
    assert not missing, missing


def test_no_test_name_joins_two_claims():
    # one claim per test: "test_x_and_y" is two tests
    joined = [
        f"{path.name}::{node.name}"
        for path in TESTS.glob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
        and node.name.startswith("test_")
        and "_and_" in node.name
    ]
    assert not joined, joined


@pytest.mark.parametrize(
    "module, old_name",
    [
        ("flow", "heun_sample"),
        ("samplers", "ddim_sigma"),
        ("schedules", "sigma_from_abar"),
    ],
)
def test_a_quantity_has_one_name(module, old_name):
    # flow_samplers.flow_heun_sample, samplers.ddim_noise_std, schedules.ve_sigma_from_abar
    assert not hasattr(importlib.import_module(f"difflab.{module}"), old_name)
