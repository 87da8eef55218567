"""The correction factor as the report shows it: the signals the system measured (integrity
`CorrectionInputs`, shares) beside the correction points entered by the PIC/KPK (subtracted).

One list of rows for the three renderings (HTML, PDF, .xlsx), so they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.labels import label
from core.numbers import Percent

MEASURED_TITLE = "Sinyal yang diukur sistem"
ENTERED_TITLE = "Poin koreksi yang dimasukkan PIC/KPK"
MEASURED_NOTE = ("Porsi yang diukur sistem selama survei (masukan, bukan poin); bobot dan poin "
                 "faktor koreksi ditetapkan KPK.")


@dataclass(frozen=True)
class CorrectionView:
    measured: list[tuple[str, str | Percent]]  # (label, value: a Percent prints as "83,7%")
    entered: list[tuple[str, float]]  # (part name, points)
    total: float
    notes: list[str]


def _pct(value: Any) -> str | Percent:
    return "-" if value is None else Percent(float(value))


def _get(signals: Any, key: str) -> Any:
    return signals.get(key) if isinstance(signals, dict) else getattr(signals, key, None)


def correction_view(signals: Any | None, parts: dict[str, float], total: float) -> CorrectionView:
    """Rows of both sides; `signals` is an integrity CorrectionInputs (or its dict), or None."""
    measured: list[tuple[str, str | Percent]] = []
    notes: list[str] = []
    if signals is not None:
        measured.append(("Kualitas data populasi (data bersih)", _pct(_get(signals, "data_quality"))))
        for form, share in (_get(signals, "data_quality_by_form") or {}).items():
            measured.append((f"Data bersih: {label('form', form)}", _pct(share)))
        measured += [
            ("Responden lewat enumerator (CAPI/impor)", _pct(_get(signals, "interviewer_share"))),
            ("Jawaban anomali", _pct(_get(signals, "anomaly_share"))),
            ("Indikasi pengkondisian", _pct(_get(signals, "coaching_share"))),
            ("Respons dikeluarkan peninjau", _pct(_get(signals, "excluded_share"))),
            ("Tinjauan belum diputuskan", str(_get(signals, "pending_reviews") or 0)),
        ]
        notes.append(MEASURED_NOTE)
    else:
        notes.append("Sinyal integritas belum tersedia.")
    return CorrectionView(measured, [(k, float(v)) for k, v in parts.items()], float(total), notes)
