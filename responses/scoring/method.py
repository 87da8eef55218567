"""KPK's published SPI method: weights, categories, risk thresholds (data in responses/data/).

Rounding (decided here, documented in docs): the index is computed from unrounded sub-indices and
rounded half-up to 2 decimals *before* it is categorised, so 72.995 -> 73.00 -> Waspada, exactly
as a reader of the published two-decimal figure would categorise it.

Risk levels: a share <= rendah_max is Rendah, <= sedang_max Sedang, <= tinggi_max Tinggi, above
Sangat Tinggi (a value on a boundary takes the lower level). Prevention items: a positive share
>= the 2021 national mean is "Di atas rata-rata", below it "Di bawah rata-rata".
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.datafiles import read_yaml
from core.errors import SpibotError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
RENTAN, WASPADA, TERJAGA = "Rentan", "Waspada", "Terjaga"
LEVELS = ("Rendah", "Sedang", "Tinggi", "Sangat Tinggi")
ABOVE, BELOW = "Di atas rata-rata", "Di bawah rata-rata"
KINDS = ("keberadaan", "risiko", "pencegahan")


class MethodError(SpibotError, ValueError):
    """An unknown item/kind or a value outside its range."""


@dataclass(frozen=True)
class Threshold:
    table: str
    group: str
    kind: str
    item: str
    rendah_max: float | None
    sedang_max: float | None
    tinggi_max: float | None
    national_mean: float | None


def _group_of_table(table: str) -> str:
    """Tables 3.1-3.12 are internal, 3.13-3.17 external, 3.18-3.19 expert (KPK report chapter 3)."""
    minor = int(table.split(".")[1])
    return "internal" if minor <= 12 else "external" if minor <= 17 else "expert"


def _num(text: str) -> float | None:
    return float(text) if text.strip() else None


@lru_cache
def thresholds(year: int = 2024) -> dict[tuple[str, str, str], Threshold]:
    """(group, kind, exact reference description) -> Threshold."""
    path = DATA_DIR / f"spi{year}_risk_thresholds.csv"
    out: dict[tuple[str, str, str], Threshold] = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            t = Threshold(
                table=row["table"], group=_group_of_table(row["table"]), kind=row["kind"],
                item=row["item"], rendah_max=_num(row["rendah_max"]), sedang_max=_num(row["sedang_max"]),
                tinggi_max=_num(row["tinggi_max"]), national_mean=_num(row["national_mean_2021"]),
            )
            out[(t.group, t.kind, t.item)] = t
    return out


@lru_cache
def weights(year: int = 2024) -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(DATA_DIR / f"spi{year}_index_weights.yaml")
    return data


@lru_cache
def _variants() -> tuple[tuple[re.Pattern[str], str], ...]:
    data: dict[str, str] = read_yaml(DATA_DIR / "wording_variants.yaml") or {}
    return tuple((re.compile(rf"(?<![\w-]){re.escape(k.lower())}(?![\w-])"), v.lower()) for k, v in data.items())


def normalise_item(text: str) -> str:
    """The form item look-ups compare: KPK's wording variants (responses/data/wording_variants.yaml)
    as one spelling, lower case, no punctuation, single spaces."""
    out = text.lower()
    for pattern, spelling in _variants():
        out = pattern.sub(spelling, out)
    out = re.sub(r"[^\w\s]", " ", out)
    return " ".join(out.split())


@lru_cache
def _normalised(year: int) -> dict[tuple[str, str, str], Threshold | None]:
    """Normal form -> threshold; None when two different items share a normal form (ambiguous)."""
    out: dict[tuple[str, str, str], Threshold | None] = {}
    for (group, kind, item), t in thresholds(year).items():
        key = (group, kind, normalise_item(item))
        out[key] = t if key not in out else None
    return out


def find_threshold(group: str, kind: str, item: str, year: int = 2024) -> Threshold:
    """The threshold of an item: its exact description first, else its normalised form (the
    returned `Threshold.item` says which item was matched)."""
    table = thresholds(year)
    key = (group, kind, item.strip())
    if key not in table:
        match = _normalised(year).get((group, kind, normalise_item(item)))
        if match is not None:
            return match
        close = [t.item for (g, k, _), t in table.items() if g == group and k == kind]
        hint = f" Known {group}/{kind} items: {len(close)}, e.g. {close[0]!r}." if close else ""
        raise MethodError(f"no {kind} threshold for {group} item {item!r}.{hint}")
    return table[key]


def risk_level(value: float, rendah_max: float, sedang_max: float, tinggi_max: float) -> str:
    """Level of a negative-side share; a value on a boundary takes the lower level."""
    if value <= rendah_max:
        return LEVELS[0]
    if value <= sedang_max:
        return LEVELS[1]
    if value <= tinggi_max:
        return LEVELS[2]
    return LEVELS[3]


def prevention_level(value: float, national_mean: float) -> str:
    return ABOVE if value >= national_mean else BELOW


def classify(group: str, kind: str, item: str, value: float, year: int = 2024) -> str:
    """The level of one risk-map value (share 0..1) for a reference item."""
    if not 0.0 <= value <= 1.0:
        raise MethodError(f"value {value} is a share: expected 0..1")
    t = find_threshold(group, kind, item, year)
    if kind == "pencegahan":
        assert t.national_mean is not None
        return prevention_level(value, t.national_mean)
    assert t.rendah_max is not None and t.sedang_max is not None and t.tinggi_max is not None
    return risk_level(value, t.rendah_max, t.sedang_max, t.tinggi_max)


def round2(value: float) -> float:
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def category(index: float) -> str:
    """Rentan < 73 <= Waspada < 78 <= Terjaga, on the index rounded to 2 decimals."""
    value = round2(index)
    if value < 73:
        return RENTAN
    if value < 78:
        return WASPADA
    return TERJAGA


def integrity_index(internal: float, external: float, expert: float, correction: float = 0.0,
                    year: int = 2024) -> float:
    """0.305*internal + 0.328*external + 0.367*expert - correction, rounded to 2 decimals."""
    for name, v in (("internal", internal), ("external", external), ("expert", expert)):
        if not 0.0 <= v <= 100.0:
            raise MethodError(f"{name} sub-index {v} outside 0..100")
    if correction < 0:
        raise MethodError("the correction factor is points subtracted: expected >= 0")
    w = weights(year)["integrity_index"]
    raw = w["internal"] * internal + w["external"] * external + w["expert"] * expert - correction
    return round2(raw)
