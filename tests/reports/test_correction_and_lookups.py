"""KPK's correction-factor formula part by part (worked example), the pre-close simulator, KPK-only
parts entered with their source, and item look-ups tolerant of KPK's wording variants."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from reports import build_report, render_html, set_kpk_inputs, simulate
from reports.correction import formula_view
from responses.scoring.method import MethodError, classify, find_threshold, normalise_item
from tests.integrity.helpers import build_world

SIGNALS = {"data_quality": 0.90, "interviewer_share": 0.10, "anomaly_share": 0.05, "coaching_share": 0.02}
KPK = {"spdp_cases": {"value": 2, "source": "Surat KPK"}, "suspects": {"value": 3, "source": "Surat KPK"},
       "covert_observation": {"value": 1, "source": "Observasi KPK"}}


def test_worked_example() -> None:
    """Proves the formula on hand-computed numbers (reports/data/correction.yaml):
    prevalence = 2 cases x 1.0 + 3 suspects x 0.5 = 3.5 points;
    survey integrity = (1 - 0.90) x 5 + 0.10 x 2 + 0.05 x 5 + 0.02 x 10 + 1 finding x 0.5 = 1.65;
    factor = 0.5805 x 3.5 + 0.4194 x 1.65 = 2.03175 + 0.69201 = 2.72376 -> 2.72."""
    v = formula_view(SIGNALS, KPK)
    assert v.subindices == {"corruption_prevalence": 3.5, "survey_integrity": 1.65}
    costs = {p.key: round(p.cost or 0, 5) for p in v.parts}
    assert costs == {"spdp_cases": 1.161, "suspects": 0.87075, "data_quality": 0.2097,
                     "interviewer_share": 0.08388, "anomalies": 0.10485, "pengkondisian": 0.08388,
                     "covert_observation": 0.2097}
    assert v.factor == 2.72 and not v.missing
    assert round(sum(costs.values()), 5) == 2.72376  # the parts add up to the factor


def test_parts_are_capped_and_unknown_parts_listed() -> None:
    """Proves: a part never costs more than its max points; parts not known yet are named."""
    v = formula_view({"coaching_share": 1.0}, None)
    p = next(p for p in v.parts if p.key == "pengkondisian")
    assert p.points == 10.0 and p.cost == pytest.approx(4.194)
    assert "Perkara korupsi (SPDP)" in v.missing and "Kualitas data populasi (bagian data tidak bersih)" in v.missing


def test_simulator_before_close() -> None:
    """Proves: the simulator counts only spibot-measured parts: 0.2097 + 0.08388 + 0.10485 + 0.08388."""
    sim = simulate(SIGNALS)
    assert [r[2] for r in sim.rows] == [0.21, 0.08, 0.1, 0.08] and sim.total == 0.48


def test_kpk_parts_entered_with_source_and_shown(session: Session) -> None:
    """Proves: KPK-only parts are stored with their source and the report shows each part, its
    source and its cost beside the measured ones; wrong entries are refused."""
    w = build_world(session, n=20)
    cid = w.campaign.id
    set_kpk_inputs(session, cid, {"spdp_cases": (2, "Surat KPK No. 12/2024"), "suspects": (3, "Surat KPK No. 12/2024")})  # type: ignore[arg-type]
    session.commit()
    with pytest.raises(ValueError, match="not a part KPK enters"):
        set_kpk_inputs(session, cid, {"anomalies": (1, "x")})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="source"):
        set_kpk_inputs(session, cid, {"suspects": (1, " ")})  # type: ignore[arg-type]
    report = build_report(session, cid)  # type: ignore[arg-type]
    f = report.formula
    assert f is not None
    spdp = next(p for p in f.parts if p.key == "spdp_cases")
    assert spdp.source_note == "Surat KPK No. 12/2024" and spdp.cost == pytest.approx(1.161)
    html = render_html(report)
    assert "dimasukkan dari KPK: Surat KPK No. 12/2024" in html and "diukur spibot" in html
    assert "Temuan observasi tertutup" in html  # not entered yet: listed as missing


@pytest.mark.parametrize(("group", "kind", "text", "table_item"), [
    ("internal", "keberadaan", "Pengaruh pihak lain dalam penetapan program/kegiatan",
     "Pengaruh pihak lain dalam penentuan program/kegiatan"),
    ("external", "keberadaan", "Pelayanan yang telah sesuai aturan, tidak membedakan orang/pihak yang dilayani",
     "Pelayanan yang telah sesuai aturan, tidak membeda-bedakan orang / pihak yang dilayani"),
    ("external", "risiko", "pelayanan yang telah sesuai aturan,  tidak membeda-bedakan orang / pihak yang dilayani.",
     "Pelayanan yang telah sesuai aturan, tidak membedakan orang / pihak yang dilayani"),
])
def test_wording_variants_match_and_say_which_item(group: str, kind: str, text: str, table_item: str) -> None:
    """Proves: KPK's variants (penentuan/penetapan, membeda-bedakan/membedakan, spacing, case,
    punctuation) find the threshold, and the match names the table's own item."""
    assert find_threshold(group, kind, text).item == table_item
    assert classify(group, kind, text, 0.0) == "Rendah"


def test_normalised_lookup_stays_strict() -> None:
    """Proves: normalising does not make different items equal, and an unknown item still fails."""
    assert normalise_item("Pengaruh pihak lain dalam penentuan program") != normalise_item(
        "Pengaruh pihak lain dalam penetapan penerima")
    assert normalise_item("membeda-bedakan") == "membedakan" and normalise_item("pembedaan") == "pembedaan"
    with pytest.raises(MethodError):
        find_threshold("internal", "keberadaan", "Pengaruh pihak lain dalam penetapan sesuatu yang lain")
