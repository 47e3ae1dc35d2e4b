"""Execute every chapter on this machine's device and record how long each took.

    python scripts/run_on_device.py                      # every chapter, default mode
    python scripts/run_on_device.py --jobs 3             # three chapters at a time
    python scripts/run_on_device.py book/ch02_random_walks.ipynb --fast --out /tmp/r

Each chapter runs top to bottom in a fresh kernel (nbclient), as the book build runs it
(``DIFFLAB_BOOK=1``), on ``difflab.device()``: a GPU where there is one, else the CPU
(``DIFFLAB_DEVICE`` overrides). A chapter whose cells all ran held every check, since
every check of the book is a ``difflab.claims.check`` that raises when it fails. The
script writes ``device_run.json`` into ``--out`` (``$OUT`` where that is set, else
``_build/device``) after every chapter, so a run cut short keeps what it measured:

- the machine: the device's name, torch, CUDA, Python, the cores, chapters at a time;
- per chapter: wall seconds, whether it held, the failing cell's error, the device and
  mode the chapter printed (``check_env``'s line).

``scripts/chapter_times.py --device-run device_run.json`` turns a GPU run into the GPU
column of the teacher's guide's table of chapter times. Exit status: 0 when every
chapter held. Needs nbclient and ipykernel (the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from concurrent import futures
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chapter_times import CHAPTER, _cores, chapter_key, parse_env_line

RESULT = "device_run.json"


def chapters(root: Path = ROOT) -> list[Path]:
    """The book's chapter notebooks, in the book's order."""
    paths = [p for p in (root / "book").glob("ch*.ipynb") if CHAPTER.match(_doc(p))]
    return sorted(paths, key=lambda p: chapter_key(_doc(p)))


def _doc(path: Path) -> str:
    return f"book/{path.stem}"


def machine(jobs: int) -> dict:
    """What the chapters run on: device name, torch, CUDA, Python, cores."""
    import torch

    import difflab

    dev = difflab.device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type
    return {
        "device": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cores": _cores(),
        "jobs": jobs,
    }


def run_chapter(path: Path, *, fast: bool, timeout: int, threads: int | None) -> dict:
    """Execute one chapter in a fresh kernel; its wall time, outcome and env line."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    env = {"DIFFLAB_BOOK": "1", "DIFFLAB_FAST": "1" if fast else "0"}
    if threads:
        env["DIFFLAB_THREADS"] = str(threads)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    error, start = None, time.perf_counter()
    try:
        client.execute(env={**os.environ, **env})  # the kernel's environment
    except CellExecutionError as e:  # a check that failed, or any other error
        error = f"{e.ename}: {_first_line(e.evalue)}"
    except Exception as e:  # a timeout or a dead kernel: recorded, not raised
        error = f"{type(e).__name__}: {_last_line(str(e))}"
    seconds = time.perf_counter() - start
    device, mode = _env_line(nb)
    return {
        "seconds": round(seconds, 1),
        "held": error is None,
        "error": error,
        "device": device,
        "mode": mode,
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _first_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _env_line(nb) -> tuple[str, str]:
    """(device, mode) from the first ``check_env`` line the chapter printed."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            found = parse_env_line(str(out.get("text", "")))
            if found[0]:
                return found
    return "", ""


def write(out: Path, record: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULT).write_text(json.dumps(record, indent=1) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter")
    ap.add_argument("--fast", action="store_true", help="DIFFLAB_FAST=1 (the tests')")
    ap.add_argument("--jobs", type=int, default=1, help="chapters at a time (1)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell (900)")
    ap.add_argument("--out", type=Path, default=None, help="folder for the result")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs {args.jobs}: must be 1 or more chapters at a time")
    paths = [p.resolve() for p in args.notebooks] or chapters()
    out = args.out or Path(os.environ.get("OUT") or ROOT / "_build" / "device")
    threads = max(1, _cores() // args.jobs) if args.jobs > 1 else None
    record = {"machine": machine(args.jobs), "chapters": {}}
    record["machine"]["mode"] = "fast (DIFFLAB_FAST=1)" if args.fast else "default"
    print(json.dumps(record["machine"]), flush=True)
    start = time.perf_counter()
    with futures.ThreadPoolExecutor(args.jobs) as pool:
        jobs = {
            pool.submit(
                run_chapter, p, fast=args.fast, timeout=args.timeout, threads=threads
            ): p
            for p in paths
        }
        for done in futures.as_completed(jobs):
            result = done.result()
            record["chapters"][_doc(jobs[done])] = result
            record["seconds"] = round(time.perf_counter() - start, 1)
            write(out, record)
            verdict = "held" if result["held"] else f"FAILED: {result['error']}"
            print(
                f"{jobs[done].stem}: {result['seconds']:.0f} s, {verdict}", flush=True
            )
    held = all(r["held"] for r in record["chapters"].values())
    print(f"{len(paths)} chapters in {record['seconds']:.0f} s; wrote {out / RESULT}")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
