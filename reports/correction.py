"""The correction factor as the report shows it: the signals the system measured (integrity
`CorrectionInputs`, shares) beside the correction points entered by the PIC/KPK (subtracted).

One list of rows for the three renderings (HTML, PDF, .xlsx), so they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from core.clock import utcnow
from core.datafiles import read_yaml
from core.labels import label
from core.numbers import Percent
from responses import CorrectionInput

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


# --- KPK's formula, part by part (issue 24) ---------------------------------------------------

CORRECTION_DATA = Path(__file__).resolve().parent / "data" / "correction.yaml"
SOURCE_LABELS = {"spibot": "diukur spibot", "kpk": "dimasukkan dari KPK"}


def round2(value: float) -> float:
    """Half-up to 2 decimals, as the index (responses.scoring.method.round2)."""
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@lru_cache
def correction_model() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(CORRECTION_DATA)
    return data


@dataclass(frozen=True)
class FormulaPart:
    key: str
    label: str
    index: str  # corruption_prevalence / survey_integrity
    source: str  # spibot / kpk
    source_note: str  # where a KPK figure comes from; "" for measured parts
    measure: float | None  # a share (spibot) or a count (kpk); None = not known yet
    unit: str
    points: float | None  # the part's points in its sub-index
    cost: float | None  # coefficient x points: index points this part takes off


@dataclass(frozen=True)
class FormulaView:
    parts: list[FormulaPart]
    subindices: dict[str, float]  # sub-index -> points (known parts only)
    coefficients: dict[str, float]
    labels: dict[str, str]
    factor: float  # sum of the known parts' costs, rounded to 2 decimals
    missing: list[str]  # labels of parts not known yet


def _part_points(spec: dict[str, Any], measure: float) -> float:
    return min(float(spec["max_points"]), max(0.0, measure) * float(spec["points_per_unit"]))


def formula_view(signals: Any | None, kpk_inputs: dict[str, Any] | None) -> FormulaView:
    """factor = sum over parts of coefficient[index] x points(part) (reports/data/correction.yaml)."""
    model = correction_model()
    coefficients = {k: float(v) for k, v in model["coefficients"].items()}
    parts: list[FormulaPart] = []
    sub: dict[str, float] = {k: 0.0 for k in coefficients}
    missing = []
    for key, spec in model["parts"].items():
        note = ""
        measure: float | None
        if spec["source"] == "spibot":
            raw = _get(signals, spec["signal"]) if signals is not None else None
            measure = None if raw is None else (round(1.0 - float(raw), 6) if spec.get("invert") else float(raw))
        else:
            entry = (kpk_inputs or {}).get(key)
            measure = None if entry is None else float(entry["value"])
            note = "" if entry is None else str(entry.get("source", ""))
        points = None if measure is None else _part_points(spec, measure)
        cost = None if points is None else coefficients[spec["index"]] * points
        if points is None:
            missing.append(str(spec["label"]))
        else:
            sub[spec["index"]] += points
        parts.append(FormulaPart(key, str(spec["label"]), str(spec["index"]), str(spec["source"]), note,
                                 measure, str(spec["unit"]), points, cost))
    factor = sum(coefficients[k] * v for k, v in sub.items())
    return FormulaView(parts, {k: round(v, 4) for k, v in sub.items()}, coefficients,
                       {k: str(v) for k, v in model["labels"].items()}, round2(factor), missing)


@dataclass(frozen=True)
class Simulation:
    rows: list[tuple[str, float | None, float | None]]  # (label, measured share, index points at risk)
    total: float


def simulate(signals: Any | None) -> Simulation:
    """Before the close: the index points the spibot-measured parts (data quality, coaching...)
    currently put at risk, by the same formula as the report."""
    view = formula_view(signals, None)
    wanted = set(correction_model()["simulator_parts"])
    rows = [(p.label, p.measure, None if p.cost is None else round2(p.cost)) for p in view.parts if p.key in wanted]
    return Simulation(rows, round2(sum(p.cost or 0.0 for p in view.parts if p.key in wanted)))


def set_kpk_inputs(session: Session, campaign_id: int, inputs: dict[str, tuple[float, str]]) -> CorrectionInput:
    """Enter the parts only KPK has (SPDP cases, suspects, covert observation) with their source."""
    model = correction_model()["parts"]
    row = session.exec(select(CorrectionInput).where(CorrectionInput.campaign_id == campaign_id)).first()
    row = row or CorrectionInput(campaign_id=campaign_id)
    stored = dict(row.kpk_inputs or {})
    for key, (value, source) in inputs.items():
        if key not in model or model[key]["source"] != "kpk":
            raise ValueError(f"{key!r} is not a part KPK enters; known: "
                             f"{', '.join(k for k, v in model.items() if v['source'] == 'kpk')}")
        if not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{key}: a number >= 0 expected, got {value!r}")
        if not source.strip():
            raise ValueError(f"{key}: the source of the figure is required")
        stored[key] = {"value": float(value), "source": source.strip()}
    row.kpk_inputs = stored
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row
