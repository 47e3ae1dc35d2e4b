"""book/_ext/citations.py: every reference reads as author and year, and no two works share a label."""

import sys

from conftest import ROOT
from pybtex.database import parse_file

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import citations  # noqa: E402


def _labels():
    entries = parse_file(ROOT / "references.bib").entries
    citations.AuthorYearLabels.suffixed = citations._suffixes([ROOT / "references.bib"])
    return dict(
        zip(entries, citations.AuthorYearLabels().format_labels(entries.values()))
    )


def test_labels_read_as_author_year():
    labels = _labels()
    assert labels["ho2020ddpm"] == "Ho et al. 2020"
    assert labels["ho2022cfg"] == "Ho and Salimans 2022"
    assert labels["automatic1111webui"] == "AUTOMATIC1111 2022"


def test_no_two_works_share_a_label():
    labels = _labels()
    assert len(set(labels.values())) == len(labels), sorted(labels.values())


def test_a_page_prefix_does_not_change_the_label():
    entry = parse_file(ROOT / "references.bib").entries["song2021ddim"]
    citations.AuthorYearLabels.suffixed = citations._suffixes([ROOT / "references.bib"])
    prefixed = type(entry)(entry.type, fields=entry.fields, persons=entry.persons)
    prefixed.key = "ch4-song2021ddim"
    assert list(citations.AuthorYearLabels().format_labels([prefixed])) == list(
        citations.AuthorYearLabels().format_labels([entry])
    )
