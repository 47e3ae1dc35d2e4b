"""Keep every chapter's "Open in Colab" badge and setup cell in step with _config.yml.

    python scripts/colab_links.py            # check: exit 1 and list what disagrees
    python scripts/colab_links.py --write    # rewrite badges and setup cells from _config.yml
    python scripts/colab_links.py --ref v0.2 # set repository.branch to a tag, then rewrite

The repository URL and ref live in one place, `_config.yml` (repository.url, .branch).
tests/test_colab.py runs the check.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")


def repo_and_ref(root: Path = ROOT) -> tuple[str, str]:
    repo = yaml.safe_load((root / "_config.yml").read_text())["repository"]
    return repo["url"].rstrip("/"), str(repo["branch"])


def badge(url: str, ref: str, notebook: str) -> str:
    """The markdown badge that opens ``notebook`` (a path relative to the root) in Colab."""
    github_path = url.split("github.com/", 1)[1]
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{github_path}/blob/{ref}/{notebook})"
    )


def setup_cell(url: str, ref: str) -> str:
    """The first code cell of every chapter."""
    return SETUP_CELL.replace("URL", url).replace("REF", ref)


SETUP_CELL = """# Setup: in Google Colab this installs the book's package `difflab` from the
# repository, at the version this notebook belongs to, and keeps Colab's own PyTorch.
# Locally (after the README's Quick start) it only imports. Then it prints the torch
# version, the device, the mode and the seed.
import subprocess
import sys

if "google.colab" in sys.modules:
    package = "difflab @ git+URL@REF"
    pip = [sys.executable, "-m", "pip", "install", "-q", package]
    done = subprocess.run(pip, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(
            f"pip could not install {package}: is the runtime online, and does "
            "that version exist in the repository? pip said:\\n" + done.stderr[-1500:]
        )

import difflab

device = difflab.check_env(seed=0)"""


def chapters(root: Path = ROOT) -> list[Path]:
    return sorted((root / "book").glob("ch*.ipynb"))


def problems(root: Path = ROOT) -> list[str]:
    url, ref = repo_and_ref(root)
    out = []
    for path in chapters(root):
        nb = json.loads(path.read_text())
        rel = path.relative_to(root).as_posix()
        first_md = next((c for c in nb["cells"] if c["cell_type"] == "markdown"), None)
        first_code = next((c for c in nb["cells"] if c["cell_type"] == "code"), None)
        if first_md is None or badge(url, ref, rel) not in "".join(first_md["source"]):
            out.append(
                f"{rel}: the first markdown cell lacks the badge {badge(url, ref, rel)}"
            )
        if first_code is None or "".join(first_code["source"]) != setup_cell(url, ref):
            out.append(
                f"{rel}: the first code cell is not the setup cell for {url}@{ref}"
            )
    return out


def write(root: Path = ROOT) -> None:
    url, ref = repo_and_ref(root)
    for path in chapters(root):
        nb = json.loads(path.read_text())
        rel = path.relative_to(root).as_posix()
        md = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        text = "".join(md["source"])
        if BADGE_RE.search(text):
            text = BADGE_RE.sub(badge(url, ref, rel), text)
        else:  # right under the chapter's title
            text = re.sub(
                r"(?m)^(# .*\n)",
                lambda m: m.group(1) + "\n" + badge(url, ref, rel) + "\n",
                text,
                count=1,
            )
        md["source"] = text.splitlines(keepends=True)
        code = next(c for c in nb["cells"] if c["cell_type"] == "code")
        code["source"] = setup_cell(url, ref).splitlines(keepends=True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--write",
        action="store_true",
        help="rewrite badges and setup cells from _config.yml",
    )
    ap.add_argument(
        "--ref",
        help="set repository.branch in _config.yml to this tag/commit/branch, then rewrite",
    )
    args = ap.parse_args(argv)
    if args.ref:
        cfg = ROOT / "_config.yml"
        text, n = re.subn(
            r"(?m)^(\s+branch:\s*).*$",
            lambda m: m.group(1) + args.ref,
            cfg.read_text(),
            count=1,
        )
        if n != 1:
            raise SystemExit("could not find repository.branch in _config.yml")
        cfg.write_text(text)
    if args.write or args.ref:
        write()
    found = problems()
    for p in found:
        print(p)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
