"""Write the "Tested with" table of the how-to page from a run of scripts/check_latest.sh.

    python scripts/tested_with.py --results _build/latest/results.xml --out book/_tested_with.md

Run with the Python of the environment that was tested (check_latest.sh does): the
versions are read from that environment (importlib.metadata), the pinned ones from
constraints.txt, the outcome from pytest's JUnit XML (unit tests, and the chapters, which
nbval runs as one test per code cell). Nothing in the table is typed in.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import re
import sys
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "torch",
    "numpy",
    "matplotlib",
    "scipy",
    "scikit-learn",
    "POT",
    "safetensors",
    "ipython",
    "ipywidgets",
    "diffusers",
    "jupyter-book",
    "myst-nb",
    "Sphinx",
    "nbval",
    "pytest",
)


def pinned(path: Path = ROOT / "constraints.txt") -> dict[str, str]:
    """{normalised name: version} of constraints.txt."""
    pins = re.findall(r"(?m)^([A-Za-z0-9_.-]+)==(\S+)", path.read_text())
    return {_norm(name): version for name, version in pins}


def ci_pythons(workflow: Path = ROOT / ".github" / "workflows" / "book.yml") -> str:
    """The Pythons the publishing workflow tests the pinned versions on."""
    import yaml

    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    return ", ".join(jobs["pinned"]["strategy"]["matrix"]["python"])


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def outcome(results: Path) -> str:
    """'N unit tests passed; chapters: K of 9 passed (nbval, fast mode)' and failures."""
    cases = ET.parse(results).getroot().iter("testcase")
    tests, chapters = {"passed": 0, "failed": 0, "skipped": 0}, {}
    for case in cases:
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        file = case.get("file") or case.get("classname", "")
        chapter = re.search(r"(ch\d+[a-z]?_\w+)\.ipynb", file)
        if chapter:
            chapters[chapter[1]] = chapters.get(chapter[1], True) and not failed
        else:
            tests["failed" if failed else "skipped" if skipped else "passed"] += 1
    held = sum(chapters.values())
    text = f"{tests['passed']} unit tests passed, {tests['failed']} failed"
    text += f"; chapters in fast mode: {held} of {len(chapters)} passed"
    broken = sorted(c for c, ok in chapters.items() if not ok)
    return text + (f" (failed: {', '.join(broken)})" if broken else "")


def table(results: Path, torch_from: str) -> str:
    pins = pinned()
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    lines = [
        "<!-- Written by scripts/tested_with.py from the last run of "
        "scripts/check_latest.sh; do not edit. -->",
        "",
        "| | pinned (`constraints.txt`) | newest releases, checked on " + today + " |",
        "|---|---|---|",
        f"| Python | {ci_pythons()} | {platform.python_version()} |",
    ]
    for name in PACKAGES:
        lines.append(f"| {name} | {pins.get(_norm(name), '-')} | {installed(name)} |")
    lines += [
        "",
        f"Newest releases: {outcome(results)}. torch: {torch_from}.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", type=Path, required=True, help="pytest's JUnit XML")
    ap.add_argument("--torch-from", default="", help="where torch came from")
    ap.add_argument("--out", type=Path, default=ROOT / "book" / "_tested_with.md")
    args = ap.parse_args(argv)
    if not args.results.exists():
        ap.error(f"--results {args.results}: no such file (did the tests run?)")
    text = table(args.results, args.torch_from)
    args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
