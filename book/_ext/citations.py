"""Reference labels that read as author and year: [Lipman et al. 2023], not [LCBH+23].

sphinxcontrib-bibtex labels entries with a pybtex *label style*; its default ("alpha") glues
initials and the year, which a reader cannot decode and which turns an author such as
AUTOMATIC1111 into "AUTOMATIC111122". This local extension registers the formatting style
"authoryear": pybtex's "unsrt" entry format with labels "Last 2023", "Last and Other 2023" or
"Last et al. 2023" (with a, b, ... when two works of the file would share a label). _config.yml selects it
with ``bibtex_default_style``.
"""

from __future__ import annotations

import string
from pathlib import Path

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


def _last(person) -> str:
    names = person.prelast_names + person.last_names
    return " ".join(names).replace("{", "").replace("}", "")


def author_year(entry) -> str:
    """'Ho and Salimans 2022' for one entry (authors, else editors, else the key)."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    year = entry.fields.get("year", "n.d.")
    if not people:
        return f"{entry.key} {year}"
    if len(people) == 1:
        who = _last(people[0])
    elif len(people) == 2:
        who = f"{_last(people[0])} and {_last(people[1])}"
    else:
        who = f"{_last(people[0])} et al."
    return f"{who} {year}"


class AuthorYearLabels(BaseLabelStyle):
    """Labels are decided over the whole bibliography file at once (see ``setup``), so a work has
    the same label on every page, whichever other works that page cites."""

    suffixed: dict[
        str, str
    ] = {}  # key -> label with its a/b suffix, for labels two works share

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            key = (
                entry.key if entry.key in self.suffixed else entry.key.split("-", 1)[-1]
            )
            yield self.suffixed.get(key, author_year(entry))


def _suffixes(bibfiles) -> dict[str, str]:
    """key -> 'Song et al. 2021a' / '... 2021b' for every label that two entries would share."""
    from pybtex.database import parse_file

    by_label: dict[str, list[str]] = {}
    for path in bibfiles:
        for key, entry in parse_file(path).entries.items():
            by_label.setdefault(author_year(entry), []).append(key)
    return {
        key: label + string.ascii_lowercase[i]
        for label, keys in by_label.items()
        if len(keys) > 1
        for i, key in enumerate(sorted(keys))
    }


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabels


def _read_bibfiles(app, config):
    AuthorYearLabels.suffixed = _suffixes(
        [Path(app.srcdir, f) for f in config.bibtex_bibfiles]
    )


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    app.connect("config-inited", _read_bibfiles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
