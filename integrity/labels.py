"""Indonesian labels of the signals, their evidence and review decisions (data/labels.yaml).

`describe_evidence` is the one place evidence becomes text for people: only whitelisted keys are
shown, units are named only when large enough (minimum cell size), never an answer value.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from core.datafiles import read_yaml

LABELS_FILE = Path(__file__).parent / "data" / "labels.yaml"
SMALL_UNIT = "unit kecil (disembunyikan)"


@lru_cache
def labels() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(LABELS_FILE) or {}
    return data


def signal_label(signal: str) -> str:
    return str(labels()["signals"].get(signal, {}).get("label", signal))


def signal_meaning(signal: str) -> str:
    return str(labels()["signals"].get(signal, {}).get("meaning", ""))


def signal_kind(signal: str) -> str:
    return str(labels()["signals"].get(signal, {}).get("kind", ""))


def decision_label(decision: str | None) -> str:
    return str(labels()["decisions"].get(decision or "pending", decision or ""))


def _value(key: str, value: Any, unit_names: dict[int, str]) -> str:
    if key == "unit_id":
        return unit_names.get(int(value), SMALL_UNIT) if isinstance(value, int) else SMALL_UNIT
    if isinstance(value, list):
        shown = ", ".join(f"#{v}" if key in ("members", "examples") else str(v) for v in value[:10])
        return shown + (" …" if len(value) > 10 else "")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe_evidence(evidence: dict[str, Any], unit_names: dict[int, str]) -> str:
    """'jumlah: 4; dari: …; respons: #12, #13' — `unit_names` holds only units that may be named."""
    names = labels()["evidence"]
    return "; ".join(f"{names[k]}: {_value(k, v, unit_names)}" for k, v in evidence.items() if k in names)
