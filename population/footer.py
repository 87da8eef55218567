"""The lines under a population table: signature block, notes, totals (never data rows).

KPK forms end with lines like "Kasongan, 12 Maret 2024", "Mengetahui,", "Kepala Dinas ...",
the signer's name, "NIP. 19700101 199003 1 001", "Catatan: ..." and "Jumlah" rows. Taken as
data they would be counted as rows and become unusable records; `Footer` recognises them
(phrases in data/keywords.yaml, `footer`):

  * a footer line has no valid phone or email, at most two filled cells (a totals row may add
    numbers), and a text that starts with a label ("Mengetahui", "NIP", "Jumlah", "Catatan",
    "a.n."; "Keterangan:" only with its colon), is a place and date ("Kasongan, 12 Maret 2024",
    also with the day left blank), or consists of titles only ("Kepala Dinas Pendidikan");
  * after a footer line, a row of at most two filled cells without a valid phone or email
    (the signer's name, "(....................)") is footer too;
  * a row with a valid phone or email, or three filled cells, is data again (a "Catatan" or
    "Jumlah" line between two parts of a table does not swallow the rows after it).

Ambiguity, resolved the way a PIC reads the sheet: a name alone in a row right under
"Mengetahui," is the signer, not a respondent; the same lone name above any footer line stays
a (unusable) data row, so the unit is told to complete it in the data-quality report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from core.datafiles import read_yaml
from population.normalize import norm_key, parse_date

DATA = Path(__file__).parent / "data"
MAX_CELLS = 2  # filled cells of a footer line (a signature block has two sides at most)


@dataclass(frozen=True)
class FooterWords:
    labels: tuple[str, ...]
    colon_labels: re.Pattern[str]
    titles: tuple[str, ...]


@cache
def footer_words() -> FooterWords:
    raw = read_yaml(DATA / "keywords.yaml")["footer"]
    colon = "|".join(re.escape(w) for w in raw["colon_labels"])
    return FooterWords(
        labels=tuple(norm_key(w) for w in raw["labels"]),
        colon_labels=re.compile(rf"(?:{colon})\.?\s*:", re.IGNORECASE),
        titles=tuple(norm_key(w) for w in raw["titles"]),
    )


def _starts(key: str, phrases: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + " ") for p in phrases)


_PLACE_DATE = re.compile(r"[^\d,]{2,40},\s*(.+)")


def is_place_date(text: str) -> bool:
    """'Kasongan, 12 Maret 2024', 'Palangka Raya, 12-03-2024', 'Kasongan, ...... Maret 2024'."""
    m = _PLACE_DATE.fullmatch(text.strip())
    if not m:
        return False
    when = m.group(1).strip().strip(".").strip()
    when = re.sub(r"^[.\s_]+", "", when)  # a day left blank for the pen
    return parse_date(when) is not None


def _is_label(text: str) -> bool:
    if footer_words().colon_labels.match(text.strip()):
        return True
    return _starts(norm_key(text), footer_words().labels) or is_place_date(text)


def _is_title(text: str) -> bool:
    return _starts(norm_key(text), footer_words().titles)


def _is_number(value: Any) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and value.strip().replace(".", "").replace(",", "").isdigit()


def _filled(cells: Any) -> list[Any]:
    return [c for c in cells if c is not None and not (isinstance(c, str) and not c.strip())]


def is_footer_line(cells: Any) -> bool:
    """Whether a row (all its cells, without a valid contact) is a footer line by its wording."""
    filled = _filled(cells)
    texts = [c for c in filled if isinstance(c, str) and not _is_number(c)]
    if not texts:
        return False
    if len(filled) > MAX_CELLS:
        # A totals row: "Jumlah" followed by numbers only.
        return len(texts) == 1 and _starts(norm_key(texts[0]), footer_words().labels)
    if any(_is_label(t) for t in texts):
        return True
    return len(texts) == len(filled) and all(_is_title(t) for t in texts)


@dataclass
class Footer:
    """Footer state of one sheet, carried from chunk to chunk."""

    active: bool = False  # a footer line was seen and no data row since
    rows: int = 0  # footer lines and rows read as part of the footer (not data rows)

    def take(self, cells: Any) -> bool:
        """Whether this non-blank row without a valid phone or email belongs to the footer
        (updates the state; the caller ends the footer at a row with a valid contact)."""
        if is_footer_line(cells):
            self.active = True
            self.rows += 1
            return True
        if self.active:
            if len(_filled(cells)) <= MAX_CELLS:
                self.rows += 1
                return True
            self.active = False
        return False
