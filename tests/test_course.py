"""The course around the book: the publishing workflow runs the README's two commands,
deploys the site to GitHub Pages and the student edition to the branch `student`; the
teacher's guide is in the table of contents; chapter_times.py writes its times table."""

import datetime as dt
import importlib.util
import json
import pickle
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml
from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
CHAPTERS = sorted((ROOT / "book").glob("ch*.ipynb"))


def _script(name):
    """Load scripts/<name>.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _readme_command(marker):
    """The command under `<!-- quick-start: marker -->`, extracted as .ci/run does."""
    awk = f"/<!-- quick-start: {marker} -->/ {{ getline; getline; print; exit }}"
    out = subprocess.run(
        ["awk", awk, str(ROOT / "README.md")], capture_output=True, text=True
    )
    command = out.stdout.strip()
    assert command, f"no command under <!-- quick-start: {marker} --> in README.md"
    return command


@pytest.fixture(scope="module")
def workflow():
    return yaml.safe_load(WORKFLOW.read_text())


def _steps(workflow, job):
    return workflow["jobs"][job]["steps"]


def _step(workflow, job, *, uses=None, runs=None):
    for step in _steps(workflow, job):
        if uses and step.get("uses", "").startswith(uses + "@"):
            return step
        if runs and runs in step.get("run", ""):
            return step
    raise AssertionError(f"job {job!r} has no step that uses {uses!r} / runs {runs!r}")


def _on(workflow):
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def test_workflow_runs_on_every_push_to_main(workflow):
    assert _on(workflow)["push"]["branches"] == ["main"]


def test_workflow_has_its_five_jobs(workflow):
    assert set(workflow["jobs"]) == {"pinned", "latest", "book", "pages", "student"}


def test_workflow_reads_the_repository_only(workflow):
    assert workflow["permissions"] == {"contents": "read"}


def test_workflow_runs_every_week_for_colabs_drift(workflow):
    (schedule,) = _on(workflow)["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert (day, month) == ("*", "*") and weekday != "*"


def test_workflow_tests_the_pinned_versions_on_colabs_pythons(workflow):
    pinned = workflow["jobs"]["pinned"]
    assert pinned["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    runs = [s.get("run", "").strip() for s in pinned["steps"]]
    assert _readme_command("test") in runs


def test_workflow_tests_the_newest_releases_on_colabs_pythons(workflow):
    latest = workflow["jobs"]["latest"]
    assert latest["strategy"]["matrix"]["python"] == ["3.12", "3.13"]
    _step(workflow, "latest", runs="bash scripts/check_latest.sh")


def test_workflow_builds_with_the_readme_command_after_the_tests(workflow):
    runs = [s.get("run", "").strip() for s in _steps(workflow, "book")]
    assert _readme_command("build") in runs
    assert workflow["jobs"]["book"]["needs"] == "pinned"


def test_workflow_deploys_the_built_site_to_github_pages(workflow):
    upload = _step(workflow, "book", uses="actions/upload-pages-artifact")
    assert upload["with"]["path"] == "_build/html"
    pages = workflow["jobs"]["pages"]
    assert pages["needs"] == "book"
    assert pages["permissions"] == {"pages": "write", "id-token": "write"}
    assert pages["environment"]["name"] == "github-pages"
    deploy = _step(workflow, "pages", uses="actions/deploy-pages")
    assert deploy["id"] == "deployment"
    assert "steps.deployment.outputs.page_url" in pages["environment"]["url"]


def test_workflow_publishes_the_student_edition_to_the_student_branch(workflow):
    runs = [s.get("run", "") for s in _steps(workflow, "book")]
    make = _step(workflow, "book", runs="scripts/make_student_edition.py")
    build = _step(workflow, "book", runs=_readme_command("build"))
    assert runs.index(make["run"]) > runs.index(build["run"])
    upload = _step(workflow, "book", uses="actions/upload-artifact")
    assert upload["with"]["path"] == "_build/student"
    student = workflow["jobs"]["student"]
    assert student["needs"] == "book"
    assert student["permissions"] == {"contents": "write"}
    download = _step(workflow, "student", uses="actions/download-artifact")
    assert download["with"]["name"] == upload["with"]["name"]
    push = _step(workflow, "student", runs="git push")
    assert re.search(r"git push -f origin HEAD:student\b", push["run"])


# --- scripts/chapter_times.py ----------------------------------------


def _fake_build(tmp_path, chapters):
    """A _build folder with what a Jupyter Book 1.x build leaves: the Sphinx environment
    pickle (myst-nb's exec_data per document) and the executed notebooks."""
    metadata, titles = {}, {}
    for doc, (title, seconds, first_line) in chapters.items():
        titles[doc] = title
        metadata[doc] = {
            "exec_data": None
            if seconds is None
            else {
                "mtime": dt.datetime(
                    2026, 12, 1, 13, 30, tzinfo=dt.timezone.utc
                ).timestamp(),
                "runtime": seconds,
                "method": "force",
                "succeeded": True,
                "error": None,
                "traceback": None,
            }
        }
        nb = {
            "cells": [
                {
                    "cell_type": "code",
                    "outputs": [
                        {
                            "output_type": "stream",
                            "name": "stdout",
                            "text": [first_line + "\n"],
                        }
                    ],
                }
            ]
        }
        executed = tmp_path / "jupyter_execute" / f"{doc}.ipynb"
        executed.parent.mkdir(parents=True, exist_ok=True)
        executed.write_text(json.dumps(nb))
    metadata["book/reproducibility"] = {"has_exec_table": True}  # not a chapter
    env = SimpleNamespace(nb_metadata=metadata, titles=titles)
    (tmp_path / ".doctrees").mkdir()
    (tmp_path / ".doctrees" / "environment.pickle").write_bytes(pickle.dumps(env))
    return tmp_path


CPU_LINE = "torch 2.13.0+cpu | device: cpu | mode: default | threads: 2 | seed: 0"
GPU_LINE = "torch 2.13.0 | device: NVIDIA H200 | mode: default | threads: 16 | seed: 0"


def test_parse_env_line_reads_what_check_env_printed():
    ct = _script("chapter_times")
    assert ct.parse_env_line(CPU_LINE) == ("cpu", "default")
    old = "torch 2.13.0+cpu | device: cpu | mode: fast (DIFFLAB_FAST=1) | seed: 0"
    assert ct.parse_env_line(old) == ("cpu", "fast (DIFFLAB_FAST=1)")
    assert ct.parse_env_line(GPU_LINE) == ("NVIDIA H200", "default")
    assert ct.parse_env_line("10,000 captioned images") == ("", "")


def _two_chapters(ct, tmp_path):
    build = _fake_build(
        tmp_path / "cpu",
        {
            "book/ch01_clip": ("1. CLIP", 48.6, CPU_LINE),
            "book/ch02_random_walks": ("2. Random walks", 17.3, CPU_LINE),
        },
    )
    return ct.runs(build)


def test_chapter_times_reads_each_chapter_of_a_build(tmp_path):
    ct = _script("chapter_times")
    runs = _two_chapters(ct, tmp_path)
    assert [r.docname for r in runs] == ["book/ch01_clip", "book/ch02_random_walks"]
    assert runs[0].seconds == pytest.approx(48.6) and runs[0].device == "cpu"
    assert runs[0].when.date() == dt.date(2026, 12, 1)


def test_chapter_times_writes_one_row_per_chapter_of_a_build(tmp_path):
    ct = _script("chapter_times")
    text = ct.table(_two_chapters(ct, tmp_path), cores=2)
    rows = [ln for ln in text.splitlines() if ln.startswith("| [")]
    assert rows == [
        "| [1. CLIP](ch01_clip.ipynb) | 49 |",
        "| [2. Random walks](ch02_random_walks.ipynb) | 17 |",
    ]
    assert "| all chapters | 66 (1 min) |" in text
    assert "2026-12-01 (UTC) on a 2-core machine, device: cpu, mode: default" in text


def test_chapter_times_without_a_gpu_build_says_so_once(tmp_path):
    # no GPU build: no column of placeholders, one line saying so
    ct = _script("chapter_times")
    text = ct.table(_two_chapters(ct, tmp_path), cores=2)
    assert "GPU, seconds" not in text and "not yet measured" not in text
    assert "GPU: no build of this copy has been timed on one yet" in text


def test_chapter_times_puts_a_gpu_build_in_the_gpu_column(tmp_path):
    ct = _script("chapter_times")
    cpu = _fake_build(tmp_path / "cpu", {"book/ch01_clip": ("1. CLIP", 48.6, CPU_LINE)})
    gpu = _fake_build(tmp_path / "gpu", {"book/ch01_clip": ("1. CLIP", 9.4, GPU_LINE)})
    text = ct.table(ct.runs(cpu) + ct.runs(gpu), cores=2)
    assert "| chapter | CPU, seconds | GPU, seconds |" in text
    assert "| [1. CLIP](ch01_clip.ipynb) | 49 | 9 |" in text
    assert "device: NVIDIA H200" in text


def test_chapter_times_marks_a_chapter_that_did_not_execute(tmp_path):
    ct = _script("chapter_times")
    build = _fake_build(
        tmp_path / "b",
        {
            "book/ch01_clip": ("1. CLIP", 48.6, CPU_LINE),
            "book/ch02_random_walks": ("2. Random walks", None, CPU_LINE),
        },
    )
    text = ct.table(ct.runs(build), cores=2)
    assert "| [2. Random walks](ch02_random_walks.ipynb) | not yet measured |" in text
    assert "| all chapters | not every chapter |" in text


def test_chapter_times_puts_chapter_4b_after_chapter_4(tmp_path):
    ct = _script("chapter_times")
    build = _fake_build(
        tmp_path / "b",
        {
            "book/ch05_conditioning": ("5. Conditioning", 91.0, CPU_LINE),
            "book/ch04b_flow_matching": ("4b. Flow matching", 60.2, CPU_LINE),
            "book/ch04_ddim": ("4. DDIM", 127.0, CPU_LINE),
        },
    )
    runs = ct.runs(build)
    assert [r.docname for r in runs] == [
        "book/ch04_ddim",
        "book/ch04b_flow_matching",
        "book/ch05_conditioning",
    ]
    assert ct.chapter_key("book/ch04b_flow_matching")[:2] == (4, "b")
    text = ct.table(runs, cores=2)
    rows = [ln for ln in text.splitlines() if ln.startswith("| [")]
    row = "| [4b. Flow matching](ch04b_flow_matching.ipynb) | 60 |"
    assert rows[1] == row
    assert "| all chapters | 278 (5 min) |" in text


def test_chapter_times_lists_a_chapter_newer_than_the_build(tmp_path):
    ct = _script("chapter_times")
    ddim = {"book/ch04_ddim": ("4. DDIM", 127.0, CPU_LINE)}
    build = _fake_build(tmp_path / "b", ddim)
    book = tmp_path / "repo" / "book"
    book.mkdir(parents=True)
    titles = {"ch04b_flow_matching": "4b. Flow matching", "ch04_ddim": "4. DDIM"}
    for name, title in titles.items():
        cell = {"cell_type": "markdown", "source": [f"# {title}\n", "\n", "Text."]}
        (book / f"{name}.ipynb").write_text(json.dumps({"cells": [cell]}))
    chapters = ct.book_chapters(tmp_path / "repo")
    assert list(chapters.items()) == [
        ("book/ch04_ddim", "4. DDIM"),
        ("book/ch04b_flow_matching", "4b. Flow matching"),
    ]
    text = ct.table(ct.runs(build), cores=2, chapters=chapters)
    rows = [ln for ln in text.splitlines() if ln.startswith("| [")]
    assert rows == [
        "| [4. DDIM](ch04_ddim.ipynb) | 127 |",
        "| [4b. Flow matching](ch04b_flow_matching.ipynb) | not yet measured |",
    ]
    assert "| all chapters | not every chapter |" in text


def test_chapter_times_check_sees_what_writing_changes(tmp_path):
    ct = _script("chapter_times")
    build = _fake_build(tmp_path / "b", {"book/ch01_clip": ("1. CLIP", 48.6, CPU_LINE)})
    out = tmp_path / "times.md"
    args = ["--build", str(build), "--out", str(out), "--cores", "2"]
    assert ct.main(args + ["--check"]) == 1
    assert ct.main(args) == 0 and "| 49 |" in out.read_text()
    assert ct.main(args + ["--check"]) == 0


# --- the teacher's guide ---------------------------------------------


GPU_RUN = {
    "machine": {
        "device": "NVIDIA H200",
        "torch": "2.11.0+cu130",
        "cuda": "13.0",
        "python": "3.12.3",
        "cores": 16,
        "jobs": 1,
        "mode": "default",
    },
    "chapters": {
        "book/ch01_clip": {
            "seconds": 27.6,
            "held": True,
            "error": None,
            "device": "NVIDIA H200",
            "mode": "default",
            "when": "2026-12-04T12:22:06+00:00",
        }
    },
}


# --- scripts/run_on_device.py ------------------------------------------------------


def test_run_on_device_records_a_chapter_that_held(tmp_path):
    # one chapter in fast mode on this machine's device (the CPU here), as on a GPU
    rod = _script("run_on_device")
    chapter = ROOT / "book" / "ch02_random_walks.ipynb"
    assert rod.main([str(chapter), "--fast", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "device_run.json").read_text())
    run = record["chapters"]["book/ch02_random_walks"]
    assert run["held"] and run["seconds"] > 0
    assert run["mode"] == "fast (DIFFLAB_FAST=1)"
    assert run["device"] == record["machine"]["device"]


def test_run_on_device_records_a_failed_check(tmp_path):
    rod = _script("run_on_device")
    nb = json.loads((ROOT / "book" / "ch02_random_walks.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    failing = (
        "from difflab.claims import at_most, check\ncheck('x', at_most('x', 1, 0.5))"
    )
    code[2]["source"] = failing
    nb["cells"] = code[:3]  # set-up, imports, a check that fails
    broken = tmp_path / "ch02_random_walks.ipynb"
    broken.write_text(json.dumps(nb))
    assert rod.main([str(broken), "--fast", "--out", str(tmp_path)]) == 1
    run = json.loads((tmp_path / "device_run.json").read_text())["chapters"]
    (result,) = run.values()
    assert not result["held"] and "AssertionError" in result["error"]


def test_chapter_times_puts_a_device_run_in_the_gpu_column(tmp_path):
    ct = _script("chapter_times")
    (tmp_path / "run.json").write_text(json.dumps(GPU_RUN))
    runs = ct.device_runs(tmp_path / "run.json", {"book/ch01_clip": "1. CLIP"})
    text = ct.table(runs, cores=2)
    assert "| [1. CLIP](ch01_clip.ipynb) | not yet measured | 28 |" in text
    assert (
        "NVIDIA H200 (torch 2.11.0+cu130, CUDA 13.0, Python 3.12.3, 16 cores)" in text
    )
    assert "one at a time" in text


def test_chapter_times_leaves_a_chapter_that_failed_on_the_device_untimed(tmp_path):
    ct = _script("chapter_times")
    failed = json.loads(json.dumps(GPU_RUN))
    failed["chapters"]["book/ch01_clip"].update(held=False, error="AssertionError")
    (tmp_path / "run.json").write_text(json.dumps(failed))
    (run,) = ct.device_runs(tmp_path / "run.json", {"book/ch01_clip": "1. CLIP"})
    assert run.seconds is None


def test_teachers_guide_follows_how_to_use_under_start_here():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    start = next(p for p in toc["parts"] if p["caption"] == "Start here")
    files = [c["file"] for c in start["chapters"]]
    assert files.index("book/teachers_guide") == files.index("book/how_to_use") + 1


def test_teachers_guide_includes_the_generated_times_with_a_row_per_chapter():
    guide = (ROOT / "book" / "teachers_guide.md").read_text()
    assert re.search(r"```\{include\} _times\.md\n```", guide)
    times = (ROOT / "book" / "_times.md").read_text()
    assert times.startswith("<!-- Written by scripts/chapter_times.py")
    for nb in CHAPTERS:
        row = rf"(?m)^\| \[[^]]+\]\({nb.name}\) \| (\d+|not yet measured) \|"
        assert re.search(row, times), f"book/_times.md has no row for {nb.name}"


def test_teachers_guide_links_every_chapter():
    guide = (ROOT / "book" / "teachers_guide.md").read_text()
    for nb in CHAPTERS:
        assert f"({nb.name}" in guide, nb.name


# the chapter sections the guide names (in italics) where it answers a misconception
SECTIONS = {
    "ch01_clip": ["The temperature", "What the temperature does after training"],
    "ch03_ddpm": ["Remove the noise and it collapses"],
    "ch04_ddim": [
        "...and it has a deterministic twin",
        "DDIM's ODE is the probability-flow ODE in other variables",
        "Remove the dice: DDPM collapses, DDIM does not",
        "Beyond DDIM: second-order solvers and the choice of timesteps",
        "The spacing matters as much as the solver: the last step",
        "What diffusers calls it",
    ],
    "ch04b_flow_matching": [
        "One table for every prediction",
        "Beside DDIM, at equal network calls",
        "How curved are the paths?",
        "Reflow: straightening the paths",
    ],
    "ch06_cfg": [
        "Two conventions, one formula",
        "The sweep: what guidance buys and what it costs",
        "What guidance aims at",
    ],
    "ch08_text_to_image": [
        "The model: a U-Net that reads a sentence",
        "Diversity across guidance scales",
    ],
    "ch08b_unclip": [
        "The modality gap: a caption is not a picture",
        "The prior: from a caption's embedding to a picture's",
    ],
    "ch09_latent_diffusion": [
        "A text encoder for two objects, and its weakness",
        "Why attention to words: binding two objects",
        "Where each word looks",
        "What the KL term does, and the scaling factor",
    ],
    "ch10_video": ["A picture per frame is not a video", "Motion follows the words"],
}


@pytest.mark.parametrize("chapter", sorted(SECTIONS))
def test_the_sections_the_guide_names_exist(chapter):
    guide = " ".join((ROOT / "book" / "teachers_guide.md").read_text().split())
    nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())
    headings = {
        line.lstrip("#").strip()
        for cell in nb["cells"]
        if cell["cell_type"] == "markdown"
        for line in "".join(cell["source"]).splitlines()
        if re.match(r"#{2,4} ", line)
    }
    for section in SECTIONS[chapter]:
        assert f"*{section}*" in guide, f"the guide does not name {section!r}"
        assert section in headings, f"{chapter} has no section {section!r} any more"
