"""Indonesian labels of internal codes (core/data/labels.yaml): the one source for every page,
export, report and message, so a PIC never reads `external` or `no_valid_contact`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core.datafiles import read_yaml

LABELS_FILE = Path(__file__).parent / "data" / "labels.yaml"


@lru_cache
def labels(kind: str) -> dict[str, str]:
    """Every label of one kind (code → Indonesian); KeyError for a kind the file does not have."""
    table: dict[str, dict[str, str]] = read_yaml(LABELS_FILE)
    return dict(table[kind])


def label(kind: str, code: str | None) -> str:
    """The label of `code` in `kind`; "-" for no code. An unknown code is returned as it is (the
    page scan in the tests fails on it, so it gets a label before it reaches a PIC)."""
    if code is None or code == "":
        return "-"
    return labels(kind).get(str(code), str(code))
