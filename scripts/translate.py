"""The Japanese edition: catalogues from the English pages, Japanese notebooks from both.

    python scripts/translate.py update   # after an English edit: extract, then update locales/ja
    python scripts/translate.py render   # write book_ja/*.ipynb from book/ and the catalogues
    python scripts/translate.py check    # exit 1 if book_ja/ or a catalogue is out of step
    python scripts/translate.py status   # entries per page: translated, fuzzy, untranslated

The English pages are the only source. Sphinx's gettext builder extracts their prose (one
.pot per page; notebook code and outputs are not extracted), ``sphinx-intl`` merges it into
``locales/ja/LC_MESSAGES/<page>.po`` and marks an entry "fuzzy" when its English changed.
The Japanese site is built from the English pages with ``language: ja``
(``scripts/build_ja.py``); the Japanese notebooks for Colab are written here: code cells
copied byte for byte, every markdown unit replaced by its translation (English where an
entry is untranslated or fuzzy), and one generated first cell that sets the language.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from difflab.i18n import NUMBER, key

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
PO_DIR = LOCALES / "ja" / "LC_MESSAGES"
BOOK_JA = ROOT / "book_ja"
BUILD = ROOT / "_build"


def book_config(root: Path = ROOT, execute: bool = False, **sphinx_config) -> dict:
    """_config.yml, its notebooks unexecuted unless ``execute``, ``sphinx_config`` added,
    and its extensions' paths made absolute (the file is written elsewhere, in _build)."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    if not execute:
        config["execute"] = {**config.get("execute", {}), "execute_notebooks": "off"}
    config["sphinx"]["config"].update(sphinx_config)
    ext = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {k: str(root / v) for k, v in ext.items()}
    return config


def jupyter_book(root: Path, config: Path, out: Path) -> list[str]:
    """The command that builds the book at ``root`` with ``config`` into ``out``/_build."""
    jb = Path(sys.executable).with_name("jupyter-book")
    return [
        str(jb),
        "build",
        str(root),
        "--config",
        str(config),
        "--path-output",
        str(out),
    ]


def extract(root: Path = ROOT, out: Path | None = None) -> Path:
    """Sphinx's gettext builder over the English book: one .pot per page; returns their
    folder (``out``/_build/gettext; ``out`` is _build/i18n unless given)."""
    out = out or root / "_build" / "i18n"
    config = out / "_config_gettext.yml"
    out.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(book_config(root)))
    cmd = jupyter_book(root, config, out)
    cmd += ["--builder", "custom", "--custom-builder", "gettext"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out / "_build" / "gettext"


def update(root: Path = ROOT) -> None:
    """Extract the English pages and merge them into locales/ja (sphinx-intl marks an entry
    fuzzy when its English changed); then fill what needs no translator (:func:`autofill`)."""
    pot = extract(root)
    before = {p: translated(read_po(p)) for p in po_files(root)}
    intl = Path(sys.executable).with_name("sphinx-intl")
    cmd = [str(intl), "update", "-p", str(pot), "-l", "ja", "-d", str(root / "locales")]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    for path in po_files(root):
        catalog = read_po(path)
        old = {key(k)[0]: (k, v) for k, v in before.get(path, {}).items()}
        for message in entries(catalog):
            message.flags.discard(
                "python-format"
            )  # prose, not a format string ("10% of")
            autofill(message)
            if (not message.string or message.fuzzy) and key(message.id)[0] in old:
                carried = carry_numbers(*old[key(message.id)[0]], message.id)
                if carried is not None:
                    message.string = carried
                    message.flags.discard("fuzzy")
        write_po(path, catalog)


def translated(catalog) -> dict[str, str]:
    return {m.id: m.string for m in entries(catalog) if m.string and not m.fuzzy}


def carry_numbers(old_id: str, old_str: str, new_id: str) -> str | None:
    """The translation of ``new_id``, which differs from ``old_id`` only in its numbers (a
    time, a date, a count written by a script): ``old_str`` with each of the old numbers
    replaced by the new one, in order. None when a number is not found in ``old_str``."""
    olds, news = NUMBER.findall(old_id), NUMBER.findall(new_id)
    out, pos = old_str, 0
    for a, b in zip(olds, news):
        at = out.find(a, pos)
        if at < 0:
            return None
        out = out[:at] + b + out[at + len(a) :]
        pos = at + len(b)
    return out


_BADGE = re.compile(
    r"^\[!\[Open In Colab\]\([^)]*\)\]\(([^)]*)/book/([^/)]+\.ipynb)\)$"
)


def autofill(message) -> None:
    """Fill an entry no translator needs to write: the Colab badge (it opens the Japanese
    notebook) and a message without English words (numbers, math, code), kept as it is."""
    badge = _BADGE.match(message.id)
    if message.id == "Open In Colab":  # the badge's label, Colab's own words
        message.string = message.id
    elif badge:
        message.string = message.id.replace("/book/", "/book_ja/")
    elif not has_words(message.id):
        message.string = message.id
    else:
        return
    message.flags.discard("fuzzy")


# --- the catalogues ------------------------------------------------------------------------
def po_files(root: Path = ROOT) -> list[Path]:
    return sorted((root / "locales" / "ja" / "LC_MESSAGES").rglob("*.po"))


def read_po(path: Path):
    from babel.messages import pofile

    with open(path, "rb") as f:
        return pofile.read_po(f, charset="utf-8")


def write_po(path: Path, catalog) -> None:
    from babel.messages import pofile

    # the header is no translation: a "fuzzy" on it would read as one left to revise
    catalog.fuzzy = False
    catalog.project = "From a sentence to a picture"

    with open(path, "wb") as f:
        pofile.write_po(f, catalog, width=76)


def entries(catalog):
    """The catalogue's messages, without its header."""
    return [m for m in catalog if m.id]


# what a translation must keep as it is: math, inline code, roles, link targets, URLs
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]+\$", re.S)
_CODE = re.compile(r"``.+?``|`[^`]+`")
_ROLE = re.compile(r"\{[a-z:-]+\}`[^`]*`")
_TARGET = re.compile(r"\]\(([^)\s]+)\)")
_LETTERS = re.compile(r"[A-Za-z]{2,}")


def kept_parts(text: str) -> list[str]:
    """The parts of an English message its translation must contain verbatim."""
    parts = _ROLE.findall(text)
    rest = _ROLE.sub(" ", text)
    parts += _MATH.findall(rest)
    rest = _MATH.sub(" ", rest)
    parts += _CODE.findall(rest)
    parts += [f"]({t})" for t in _TARGET.findall(rest)]
    return parts


def prose(text: str) -> str:
    """``text`` without its math, code, roles, link targets and URLs."""
    rest = _MATH.sub(" ", _ROLE.sub(" ", text))
    return _CODE.sub(" ", re.sub(r"\]\([^)]*\)|https?://\S+", " ", rest))


def has_words(text: str) -> bool:
    """True when ``text`` has English words outside math, code, roles and URLs."""
    return bool(_LETTERS.search(prose(text)))


# --- the term base: the glossary's headings, "English terms · Japanese terms" --------------
_HEADING = re.compile(r"^([^\s:#\[<].*?) · (.+)$")
_FUNCTION_WORDS = {"and", "or", "of", "the"}  # what is left of "$y$ and $\sigma$"


def _split_top(text: str, seps: str) -> list[str]:
    """``text`` split at ``seps`` outside parentheses （...） and (...)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "（(" and 1 or 0
        depth -= ch in "）)" and 1 or 0
        if ch in seps and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p.strip() for p in parts + [cur] if p.strip()]


def _japanese_forms(ja: str) -> set[str]:
    forms = set()
    for item in _split_top(ja.replace("（本書の用語）", ""), "、；"):
        plain = _MATH.sub("", item).strip()
        head = re.split(r"[（(]", plain)[0].strip()
        forms |= {item, plain, head}
        for inner in re.findall(r"[（(]([^）)]*)[）)]", plain):
            forms |= {p.strip() for p in re.split(r"[、：:]", inner) if p.strip()}
    return {f for f in forms if f}


def terms(root: Path = ROOT) -> list[tuple[str, set[str]]]:
    """(English term, its Japanese forms), longest English first, from book/glossary.md."""
    found = []
    for line in (root / "book" / "glossary.md").read_text().splitlines():
        m = _HEADING.match(line)
        if not m:
            continue
        en, ja = m.groups()
        en_items, ja_items = _split_top(en, ",;"), _split_top(ja, "、；")
        paired = len(en_items) == len(ja_items)  # "A, B · a、b": A is a, B is b
        for i, item in enumerate(en_items):
            forms = _japanese_forms(ja_items[i] if paired else ja)
            term = re.sub(r"\s*\([^)]*\)", "", _MATH.sub("", item)).strip()
            term = re.sub(r"^The ", "", term)
            if _LETTERS.search(term) and term.lower() not in _FUNCTION_WORDS:
                found.append((term, forms))
    return sorted(found, key=lambda t: -len(t[0]))


def term_problems(msgid: str, msgstr: str, base, waived=()) -> list[str]:
    """The glossary terms ``msgid`` uses whose Japanese form ``msgstr`` lacks (longest first;
    a term inside a longer one counts once; ``waived``: terms a translator comment excuses)."""
    text, problems = prose(msgid), []
    for term, forms in base:
        pattern = rf"(?<![A-Za-z-]){re.escape(term)}(?:s|es)?(?![A-Za-z-])"
        flags = 0 if term.isupper() else re.I  # CLIP the model, not a video clip
        if re.search(pattern, text, flags):
            text = re.sub(pattern, " ", text, flags=flags)
            if term.lower() not in waived and not any(f in msgstr for f in forms):
                problems.append(f"term {term!r}: use one of {sorted(forms)}")
    return problems


# --- checking translations --------------------------------------------------------------------
_WAIVE = re.compile(r"terms:\s*(.+)")


def waived_terms(message) -> set[str]:
    """Terms a translator comment ``# terms: -latent, -class`` excuses in this entry."""
    out = set()
    for comment in message.user_comments:
        m = _WAIVE.search(comment)
        if m:
            out |= {t.strip().lstrip("-").lower() for t in m.group(1).split(",")}
    return out


def message_problems(message, base) -> list[str]:
    """What is wrong with one entry's translation (empty when nothing is)."""
    if not message.string:
        return ["untranslated"]
    problems = ["fuzzy"] if message.fuzzy else []
    if _BADGE.match(message.id):
        return problems
    if re.match(r"\d+\. ", message.string):  # "6. Title" would be read as a list item
        problems.append(f"write {message.string[:4]!r} with a backslash: '6\\. ...'")
    for part in kept_parts(message.id):
        if part not in message.string:
            problems.append(f"keep {part!r} verbatim")
    problems += term_problems(message.id, message.string, base, waived_terms(message))
    return problems


def lint(paths: list[Path], root: Path = ROOT) -> int:
    """Print every problem of the catalogues ``paths``; return how many there are."""
    base, count = terms(root), 0
    for path in paths:
        catalog = read_po(path)
        for m in entries(catalog):
            for problem in message_problems(m, base):
                count += 1
                where = m.locations[0][1] if m.locations else "?"
                print(
                    f"{path.relative_to(root)}:{where}: {problem}\n    msgid: {m.id[:100]!r}"
                )
    return count


# --- the Japanese notebooks ----------------------------------------------------------------
FIRST_CELL = """\
# 日本語版: scripts/translate.py が書いたセル。図のラベルとチェックの出力を日本語にする
# (difflab.i18n)。ここから下のコードは英語版 book/NAME と同じ。
import os

os.environ["DIFFLAB_LANG"] = "ja"
""".rstrip("\n")
_PREFIX = set("#*+->|:)}.$0123456789 ")


def _normalise(text: str) -> tuple[str, list[int]]:
    """``text`` with every run of whitespace as one space, and where each character came from."""
    out, where = [], []
    for i, ch in enumerate(text):
        if ch.isspace():
            if out and out[-1] == " ":
                continue
            ch = " "
        out.append(ch)
        where.append(i)
    return "".join(out), where


def _is_unit(source: str, start: int, end: int) -> bool:
    """True when source[start:end] is a whole unit: only markdown markers before it on its
    line, and the line's end (or a table's ``|``) after it."""
    line_start = source.rfind("\n", 0, start) + 1
    before = source[line_start:start]
    after = source[end:].split("\n", 1)[0].strip()
    return (
        not before.strip() or set(before) <= _PREFIX or before.rstrip().endswith("|")
    ) and (after in ("", "$$") or after.startswith("|"))


def translate_markdown(source: str, messages: dict[str, str]) -> tuple[str, set[str]]:
    """``source`` with every unit that ``messages`` (msgid -> msgstr) has replaced, longest
    msgid first; also the msgids found. A unit inside a replaced one is not looked up again."""
    norm, where = _normalise(source)
    spans = []  # (start, end, msgstr) in source
    found = set()
    for msgid in sorted(messages, key=len, reverse=True):
        if messages[msgid] == msgid:  # nothing to replace (maths, numbers, the English)
            continue
        target = " ".join(msgid.split())
        for m in re.finditer(re.escape(target), norm):
            start, end = where[m.start()], where[m.end() - 1] + 1
            if any(a < end and start < b for a, b, _ in spans):
                if any(a <= start and end <= b for a, b, _ in spans):
                    found.add(msgid)
                continue
            if _is_unit(source, start, end):
                spans.append((start, end, messages[msgid]))
                found.add(msgid)
    for start, end, text in sorted(spans, reverse=True):
        source = source[:start] + text + source[end:]
    return source, found


def catalogue_messages(po: Path) -> dict[str, str]:
    """msgid -> what the Japanese notebook shows: the translation, or the English where the
    entry is untranslated or fuzzy (never an empty cell)."""
    return {
        m.id: (m.string if m.string and not m.fuzzy else m.id)
        for m in entries(read_po(po))
    }


def placed_messages(po: Path) -> set[str]:
    """The msgids a Japanese notebook must place: those whose text changes."""
    return {k for k, v in catalogue_messages(po).items() if k != v}


def render_notebook(english: Path, po: Path) -> tuple[dict, set[str]]:
    """The Japanese notebook of ``english``, and the msgids its catalogue has that no markdown
    cell contains (:func:`check` reports them)."""
    nb = json.loads(english.read_text(encoding="utf-8"))
    messages = catalogue_messages(po)
    found = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text, got = translate_markdown("".join(cell["source"]), messages)
            cell["source"] = text.splitlines(keepends=True)
            found |= got
    first = {
        "cell_type": "code",
        "execution_count": None,
        "id": "difflab-language",
        "metadata": {"tags": ["hide-input"]},
        "outputs": [],
        "source": FIRST_CELL.replace("NAME", english.name).splitlines(keepends=True),
    }
    nb["cells"].insert(0, first)
    return nb, {k for k, v in messages.items() if k != v} - found


def dumps(nb: dict) -> str:
    return json.dumps(nb, ensure_ascii=False, indent=1) + "\n"


def render(root: Path = ROOT) -> list[str]:
    """Write book_ja/*.ipynb; return the msgids that could not be placed (should be none)."""
    out = root / "book_ja"
    out.mkdir(exist_ok=True)
    lost = []
    for english in sorted((root / "book").glob("*.ipynb")):
        po = root / "locales" / "ja" / "LC_MESSAGES" / "book" / f"{english.stem}.po"
        nb, missing = render_notebook(english, po)
        (out / english.name).write_text(dumps(nb), encoding="utf-8")
        lost += [f"{english.name}: {m[:90]!r}" for m in sorted(missing)]
    return lost


def stale(root: Path = ROOT, out: Path | None = None) -> list[str]:
    """The pages whose catalogue's msgids differ from a fresh extraction of the English."""
    pot_dir = extract(root, out)
    pages = []
    for pot in sorted(pot_dir.rglob("*.pot")):
        po = root / "locales" / "ja" / "LC_MESSAGES" / pot.relative_to(pot_dir)
        po = po.with_suffix(".po")
        want = {m.id for m in entries(read_po(pot))}
        have = {m.id for m in entries(read_po(po))} if po.exists() else set()
        if want != have:
            pages.append(
                f"{po.relative_to(root)}: {len(want - have)} new, {len(have - want)} gone"
            )
    return pages


def out_of_step(root: Path = ROOT) -> list[str]:
    """What differs between book_ja/ and a fresh render from book/ and the catalogues."""
    problems = []
    english = {p.name for p in (root / "book").glob("*.ipynb")}
    japanese = {p.name for p in (root / "book_ja").glob("*.ipynb")}
    problems += [f"book_ja/{n} is missing" for n in sorted(english - japanese)]
    problems += [
        f"book_ja/{n} has no English notebook" for n in sorted(japanese - english)
    ]
    for name in sorted(english & japanese):
        po = (
            root
            / "locales"
            / "ja"
            / "LC_MESSAGES"
            / "book"
            / name.replace(".ipynb", ".po")
        )
        nb, _ = render_notebook(root / "book" / name, po)
        if (root / "book_ja" / name).read_text(encoding="utf-8") != dumps(nb):
            problems.append(f"book_ja/{name} differs from a fresh render")
    return problems


def status(root: Path = ROOT) -> None:
    """Entries per page: translated, fuzzy, untranslated."""
    total = [0, 0, 0]
    for path in po_files(root):
        ms = entries(read_po(path))
        row = [
            sum(bool(m.string) and not m.fuzzy for m in ms),
            sum(m.fuzzy for m in ms),
        ]
        row.append(len(ms) - row[0] - row[1])
        total = [a + b for a, b in zip(total, row)]
        print(
            f"{path.relative_to(root)}: {row[0]} translated, {row[1]} fuzzy, {row[2]} untranslated"
        )
    share = total[0] / max(1, sum(total))
    print(
        f"all: {total[0]} translated ({share:.1%}), {total[1]} fuzzy, {total[2]} untranslated"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "command", choices=["update", "render", "check", "status", "lint"]
    )
    parser.add_argument("pages", nargs="*", help="lint: .po files (all when none)")
    args = parser.parse_args(argv)
    if args.command == "update":
        update()
    elif args.command == "render":
        lost = render()
        for line in lost:
            print("not placed:", line)
        return 1 if lost else 0
    elif args.command == "status":
        status()
    elif args.command == "check":
        problems = stale() + out_of_step()
        for line in problems:
            print(line)
        n = lint(po_files())
        print(f"{len(problems)} pages out of step, {n} problems in the catalogues")
        return 1 if problems or n else 0
    elif args.command == "lint":
        paths = [Path(p).resolve() for p in args.pages] or po_files()
        n = lint(paths)
        print(f"{n} problems in {len(paths)} catalogues")
        return 1 if n else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
