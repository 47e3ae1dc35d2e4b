"""Write the table of chapter execution times that the teacher's guide includes.

    .venv/bin/python scripts/chapter_times.py          # _build -> book/_times.md
    .venv/bin/python scripts/chapter_times.py --check  # exit 1 if it is stale
    .venv/bin/python scripts/chapter_times.py --build _build --build ../gpu/_build
    .venv/bin/python scripts/chapter_times.py --build _build --device-run book/_gpu_run.json

Nothing in the table is typed in. Jupyter Book 1.x executes each chapter with myst-nb,
which stores what happened in the Sphinx environment of the build,
`_build/.doctrees/environment.pickle`: `env.nb_metadata[docname]["exec_data"]` holds
the runtime in seconds, the time of execution and whether it succeeded (the record that
the Reproducibility appendix's `{nb-exec-table}` shows). The device each chapter ran on
is read from the first line the chapter printed, `difflab.check_env()`'s "device: ...",
in the executed copy `_build/jupyter_execute/book/<chapter>.ipynb`: a chapter that ran
on CUDA or MPS goes into the GPU column, one that ran on the CPU into the CPU column; the
GPU column appears once a build has filled it. Give `--build` twice (a CPU build and a GPU
build) to fill both columns, or give a GPU run of `scripts/run_on_device.py` (its
device_run.json, which records the machine too) with `--device-run`. A chapter of
book/ that no build executed (one newer than the build) gets a row "not yet measured".
The rows follow the book: ch04_ddim, then ch04b_flow_matching (chapter 4b), then ch05.

The Sphinx environment does not record the machine, so the script counts the cores of
the machine it runs on: run it where the book was built, right after command 1 of the
README, or say how many with `--cores`. Unpickling the environment needs Sphinx and
myst-nb, so run it with the book's `.venv`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "book" / "_times.md"
# a chapter's docname: two digits and an optional letter, "book/ch04_ddim",
# "book/ch04b_flow_matching" (the chapter between 4 and 5)
CHAPTER = re.compile(r"^book/ch(?P<number>\d+)(?P<letter>[a-z]?)_\w+$")
NOT_MEASURED = "not yet measured"


@dataclass
class Run:
    """One chapter executed in one build."""

    docname: str  # e.g. "book/ch01_clip"
    title: str
    seconds: float | None  # None: not executed in this build, or it failed
    when: dt.datetime | None  # when it was executed (UTC)
    device: str  # what check_env printed, e.g. "cpu", "NVIDIA H200"; "" if unknown
    mode: str  # "default" or "fast (DIFFLAB_FAST=1)"; "" if unknown
    how: str = "myst-nb ran each chapter in a fresh kernel"
    machine: str = ""  # e.g. "torch 2.11.0+cu130, CUDA 13.0, Python 3.12.3, 16 cores"

    @property
    def on_gpu(self) -> bool:
        return self.device not in ("", "cpu")


def chapter_key(docname: str) -> tuple[int, str, str]:
    """The order of the book: (4, "", ...) for ch04_ddim before (4, "b", ...) for
    ch04b_flow_matching, and both before (5, "", ...) for ch05_conditioning."""
    m = CHAPTER.match(docname)
    if m is None:
        raise ValueError(f"{docname!r} is not a chapter (book/chNN_name or chNNa_name)")
    return int(m["number"]), m["letter"], docname


def book_chapters(root: Path = ROOT) -> dict[str, str]:
    """{docname: title} of the chapters in root/book, the title being the first '# '
    heading of the notebook (what Sphinx records as the page's title)."""
    out = {}
    for path in (root / "book").glob("ch*.ipynb"):
        doc = f"book/{path.stem}"
        if not CHAPTER.match(doc):
            continue
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
        m = re.search(r"(?m)^# (.+)$", text)
        out[doc] = m.group(1).strip() if m else path.stem
    return dict(sorted(out.items(), key=lambda item: chapter_key(item[0])))


def _title(node) -> str:
    return node.astext() if hasattr(node, "astext") else str(node)


def read_environment(pickle_path: Path) -> dict[str, dict]:
    """{docname: {"title", "exec_data"}} of the chapters in a Sphinx environment."""
    with open(pickle_path, "rb") as f:
        env = pickle.load(f)
    metadata = getattr(env, "nb_metadata", {}) or {}
    titles = getattr(env, "titles", {}) or {}
    return {
        doc: {
            "title": _title(titles.get(doc, doc)),
            "exec_data": metadata[doc].get("exec_data"),
        }
        for doc in sorted(filter(CHAPTER.match, metadata), key=chapter_key)
    }


ENV_LINE = re.compile(r"\| device: (?P<device>[^|]+?) \| mode: (?P<mode>[^|]+?) \|")


def parse_env_line(text: str) -> tuple[str, str]:
    """(device, mode) from check_env's line, e.g.
    'torch 2.13.0+cpu | device: cpu | mode: default | threads: 2 | seed: 0'."""
    m = ENV_LINE.search(text)
    return (m["device"].strip(), m["mode"].strip()) if m else ("", "")


def device_and_mode(executed: Path) -> tuple[str, str]:
    """The device and mode that an executed notebook printed first; ("", "") if none."""
    if not executed.exists():
        return "", ""
    for cell in json.loads(executed.read_text())["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            found = parse_env_line("".join(text) if isinstance(text, list) else text)
            if found[0]:
                return found
    return "", ""


def runs(build: Path) -> list[Run]:
    """Every chapter of one build (a `_build` folder), in order."""
    pickle_path = build / ".doctrees" / "environment.pickle"
    if not pickle_path.exists():
        raise SystemExit(
            f"{pickle_path} not found: build the book first (README, command 1)"
        )
    out = []
    for doc, info in read_environment(pickle_path).items():
        data = info["exec_data"] or {}
        ok = data.get("succeeded") and data.get("runtime") is not None
        mtime = data.get("mtime")
        device, mode = device_and_mode(build / "jupyter_execute" / f"{doc}.ipynb")
        out.append(
            Run(
                docname=doc,
                title=info["title"],
                seconds=float(data["runtime"]) if ok else None,
                when=dt.datetime.fromtimestamp(mtime, dt.timezone.utc)
                if mtime
                else None,
                device=device,
                mode=mode,
            )
        )
    return out


def device_runs(path: Path, chapters: dict[str, str] | None = None) -> list[Run]:
    """Every chapter of a run of ``scripts/run_on_device.py`` (its device_run.json);
    a chapter that failed a check gets no time. ``chapters`` gives the titles."""
    record = json.loads(Path(path).read_text())
    m, titles = record["machine"], chapters or book_chapters()
    cuda = f", CUDA {m['cuda']}" if m.get("cuda") else ""
    at_a_time = "one" if m["jobs"] == 1 else str(m["jobs"])
    return [
        Run(
            docname=doc,
            title=titles.get(doc, doc),
            seconds=r["seconds"] if r["held"] else None,
            when=dt.datetime.fromisoformat(r["when"]),
            device=r["device"],
            mode=r["mode"],
            how="scripts/run_on_device.py ran each chapter in a fresh kernel, "
            f"{at_a_time} at a time",
            machine=f"torch {m['torch']}{cuda}, Python {m['python']}, "
            f"{m['cores']} cores",
        )
        for doc, r in sorted(
            record["chapters"].items(), key=lambda kv: chapter_key(kv[0])
        )
    ]


def _dates(rs: list[Run]) -> str:
    days = sorted({r.when.date().isoformat() for r in rs if r.when})
    return (
        days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}" if days else "unknown"
    )


def _devices(rs: list[Run]) -> str:
    return ", ".join(sorted({r.device for r in rs if r.device})) or "unknown"


def _modes(rs: list[Run]) -> str:
    return ", ".join(sorted({r.mode for r in rs if r.mode})) or "unknown"


def _joined(values) -> str:
    return "; ".join(sorted({v for v in values if v}))


def _cell(r: Run | None) -> str:
    return NOT_MEASURED if r is None or r.seconds is None else f"{r.seconds:.0f}"


def _total(col: dict[str, Run], n: int) -> str:
    if not col:
        return NOT_MEASURED
    if len(col) < n:
        return "not every chapter"
    total = sum(r.seconds for r in col.values())
    return f"{total:.0f} ({total / 60:.0f} min)"


def table(
    all_runs: list[Run], cores: int, chapters: dict[str, str] | None = None
) -> str:
    """The markdown the guide includes: one row per chapter, CPU and GPU seconds, in
    the book's order. ``chapters`` ({docname: title}, as :func:`book_chapters` gives)
    adds a row for each chapter of the book that no build executed (a chapter newer
    than the builds), marked not yet measured."""
    cpu = {r.docname: r for r in all_runs if not r.on_gpu and r.seconds is not None}
    gpu = {r.docname: r for r in all_runs if r.on_gpu and r.seconds is not None}
    titles = dict(chapters or {}) | {r.docname: r.title for r in all_runs}
    columns = [("CPU", cpu)] + (
        [("GPU", gpu)] if gpu else []
    )  # a GPU column once one is measured
    lines = [
        "<!-- Written by scripts/chapter_times.py from a build; do not edit. -->",
        "",
        "| chapter | " + " | ".join(f"{name}, seconds" for name, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for doc in sorted(titles, key=chapter_key):
        link = f"[{titles[doc]}]({Path(doc).name}.ipynb)"
        lines.append(
            f"| {link} | "
            + " | ".join(_cell(col.get(doc)) for _, col in columns)
            + " |"
        )
    n = len(titles)
    lines += [
        "| all chapters | " + " | ".join(_total(col, n) for _, col in columns) + " |",
        "",
    ]
    for name, col in (("CPU", cpu), ("GPU", gpu)):
        rs = list(col.values())
        if not rs:
            lines.append(
                f"{name}: no build of this copy has been timed on one yet; a build made on one "
                "adds its column here (`--build` twice)."
            )
            lines.append("")
            continue
        details = _joined(r.machine for r in rs)
        cores_text = (
            f" on a {cores}-core machine" if name == "CPU" and not details else ""
        )
        details = f" ({details})" if details else ""
        lines.append(
            f"{name}: executed on {_dates(rs)} (UTC){cores_text}, device: "
            f"{_devices(rs)}{details}, mode: {_modes(rs)}; {_joined(r.how for r in rs)}."
        )
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _cores() -> int:
    return (
        len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count() or 1
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--build",
        action="append",
        type=Path,
        help="a _build folder (repeatable; default: the repository's _build)",
    )
    ap.add_argument(
        "--device-run",
        action="append",
        type=Path,
        default=[],
        help="a device_run.json of scripts/run_on_device.py (repeatable)",
    )
    ap.add_argument("--out", type=Path, default=OUT, help="the markdown file to write")
    ap.add_argument(
        "--cores",
        type=int,
        default=None,
        help="the build machine's core count (default: this machine's)",
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if --out differs from what it would write",
    )
    args = ap.parse_args(argv)
    builds = args.build or ([] if args.device_run else [ROOT / "_build"])
    chapters = book_chapters()
    all_runs = [r for b in builds for r in runs(b)]
    all_runs += [r for path in args.device_run for r in device_runs(path, chapters)]
    text = table(all_runs, args.cores or _cores(), chapters)
    if args.check:
        same = args.out.exists() and args.out.read_text() == text
        print(f"{args.out}: {'up to date' if same else 'differs from the build'}")
        return 0 if same else 1
    args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
