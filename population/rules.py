"""Eligibility keyword rules (the verdict they feed: population.records), read from
population/data/keywords.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from core.datafiles import read_yaml
from population.normalize import has_phrase, norm_key

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Keywords:
    unit_contains: tuple[str, ...]
    unit_starts: tuple[str, ...]
    top_prefixes: tuple[str, ...]
    top: tuple[str, ...]
    not_top: tuple[str, ...]
    support: tuple[str, ...]
    non_asn: tuple[str, ...]
    empty: frozenset[str]
    dst: frozenset[str]


def _norm_all(values: list[str]) -> tuple[str, ...]:
    return tuple(norm_key(v) for v in values)


@cache
def keywords() -> Keywords:
    raw = read_yaml(DATA / "keywords.yaml")
    return Keywords(
        unit_contains=_norm_all(raw["excluded_units"]["contains"]),
        unit_starts=_norm_all(raw["excluded_units"]["starts_with"]),
        top_prefixes=_norm_all(raw["top_officials"]["prefixes"]),
        top=_norm_all(raw["top_officials"]["top"]),
        not_top=_norm_all(raw["top_officials"]["not_top"]),
        support=_norm_all(raw["support_roles"]),
        non_asn=_norm_all(raw["non_asn"]),
        empty=frozenset(_norm_all(raw["empty_values"])),
        dst=frozenset(_norm_all(raw["dst_values"])),
    )


def _starts(key: str, phrases: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + " ") for p in phrases)


@lru_cache(maxsize=20_000)
def is_excluded_unit(unit_name: str) -> bool:
    """Inspektorat, BLU/BLUD, RSUD, Puskesmas, UPT/UPTD, schools, Kelurahan/Desa (by name)."""
    kw = keywords()
    key = norm_key(unit_name)
    return has_phrase(key, kw.unit_contains) or _starts(key, kw.unit_starts)


@lru_cache(maxsize=50_000)
def is_top_official(position: str) -> bool:
    """The head of a unit ("Plt. Kepala Dinas ..."), not a Kepala Bidang or Sekretaris Dinas."""
    kw = keywords()
    key = norm_key(position)
    changed = True
    while changed:
        changed = False
        for prefix in kw.top_prefixes:
            if key.startswith(prefix + " "):
                key, changed = key[len(prefix) + 1:], True
    if _starts(key, kw.not_top):
        return False
    return _starts(key, kw.top)


@lru_cache(maxsize=50_000)
def is_support_role(position: str) -> bool:
    return has_phrase(norm_key(position), keywords().support)


@lru_cache(maxsize=50_000)
def is_non_asn(text: str) -> bool:
    return has_phrase(norm_key(text), keywords().non_asn)


@cache
def sampling_rules() -> dict[str, Any]:
    """The draw's numeric rules (population/data/sampling_rules.yaml): tenure, experts, the
    external floor, the two-stage draw of large ministries."""
    raw: dict[str, Any] = read_yaml(DATA / "sampling_rules.yaml")
    return raw
