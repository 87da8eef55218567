"""The integrity page (`/pic/c/{id}/integritas`): signals per institution and unit with their
evidence, flagged responses for review, the measured correction-factor inputs and the index with
and without flagged responses. Tables only (the same rows feed the page and its exports).

Never identity: responses appear by id only; a unit with fewer responses than the minimum cell
size is not broken down or named next to a response.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from sqlmodel import Session, col, select

from core.clock import as_utc
from core.labels import label
from core.labels import labels as code_labels
from core.models import Campaign, Institution, Unit
from core.numbers import LOCALE, Percent
from core.numbers import share as as_share
from integrity import ALL_SIGNALS, Review, correction_inputs, labels, last_flagged_at, stored_report
from monitor.cache import CACHE, Cached, scoring_version, unflagged_equals_all
from monitor.pages import PageData
from monitor.tables import Table
from responses import CorrectionInput, score_institution

PER_PAGE = 50
INDEX_WAIT = 0.1  # seconds the page waits for recomputed scores before showing the previous ones


def _pct(value: float | None) -> Percent | None:
    return as_share(value)


def _num(value: float | None) -> str:
    return "-" if value is None else format_decimal(value, "#,##0.00", locale=LOCALE)


def _signal_tables(report: Any, units: dict[int, Unit]) -> tuple[Table, Table, dict[int, str]]:
    signals = Table("sinyal", "Sinyal integritas seluruh instansi",
                    ["Sinyal", "Respons ditandai", "Jenis", "Artinya"])
    for name in ALL_SIGNALS:
        signals.rows.append([labels.signal_label(name), report.by_signal.get(name, 0),
                             labels.signal_kind(name), labels.signal_meaning(name)])
    per_unit = Table("sinyal-unit", "Sinyal per unit kerja",
                     ["Kode", "Unit kerja", "Respons", "Ditandai", "Sinyal (jumlah respons)"])
    nameable: dict[int, str] = {}
    for u in sorted(report.units, key=lambda u: (-u.flagged, u.unit_id or 0)):
        unit = units.get(u.unit_id) if u.unit_id is not None else None
        code, name = (unit.code, unit.name) if unit else ("-", "Tanpa unit")
        if u.small:
            per_unit.rows.append([code, name, u.responses, "-",
                                  "disembunyikan: kurang dari batas minimal responden"])
            continue
        if unit is not None:
            nameable[int(unit.id)] = unit.name  # type: ignore[arg-type]
        detail = "; ".join(f"{labels.signal_label(s)}: {n}" for s, n in sorted(u.by_signal.items()))
        per_unit.rows.append([code, name, u.responses, u.flagged, detail or "-"])
    per_unit.note = ("Unit dengan respons kurang dari batas minimal tidak dirinci, untuk menjaga "
                     "kerahasiaan responden.")
    return signals, per_unit, nameable


def _flagged(session: Session, campaign: Campaign, report: Any, nameable: dict[int, str],
             page: int | None) -> tuple[Table, list[int], bool]:
    by_response: dict[int, list[Review]] = defaultdict(list)
    query = select(Review).where(Review.campaign_id == campaign.id).order_by(
        col(Review.response_id), col(Review.signal))
    for r in session.exec(query):
        by_response[r.response_id].append(r)
    ids = sorted(by_response, key=lambda rid: (by_response[rid][0].decision != "pending", rid))
    has_next = False
    if page is not None:
        has_next = len(ids) > (page + 1) * PER_PAGE
        ids = ids[page * PER_PAGE:(page + 1) * PER_PAGE]
    t = Table("ditandai", "Respons yang ditandai untuk ditinjau",
              ["No. respons", "Unit kerja", "Sinyal", "Bukti", "Keputusan", "Peninjau"])
    for rid in ids:
        reviews = by_response[rid]
        first = reviews[0]
        unit = nameable.get(first.unit_id, labels.SMALL_UNIT) if first.unit_id is not None else "-"
        evidence = " | ".join(f"{labels.signal_label(r.signal)}: {labels.describe_evidence(r.evidence, nameable)}"
                              for r in reviews)
        t.rows.append([rid, unit, ", ".join(labels.signal_label(r.signal) for r in reviews), evidence,
                       labels.decision_label(first.decision), first.reviewer or "-"])
    t.note = ("Respons yang ditandai tetap disimpan; keputusan peninjau menentukan apakah respons "
              "dihitung. Tidak ada identitas responden di halaman ini.")
    return t, ids, has_next


def _correction(session: Session, campaign: Campaign, report: Any) -> Table:
    ci = correction_inputs(session, campaign.id, report=report)  # type: ignore[arg-type]
    t = Table("koreksi", "Masukan faktor koreksi yang diukur sistem", ["Masukan", "Nilai", "Keterangan"])
    t.rows.append(["Kualitas data populasi (data bersih)", _pct(ci.data_quality),
                   "Dari impor data populasi"])
    for form, share in ci.data_quality_by_form.items():
        t.rows.append([f"  Data bersih: {label('form', form)}", _pct(share), ""])
    t.rows += [
        ["Responden lewat enumerator (CAPI/impor)", _pct(ci.interviewer_share), f"dari {ci.responses} respons"],
        ["Jawaban anomali (belum dinyatakan wajar)", _pct(ci.anomaly_share), "Jawaban seragam, terlalu cepat"],
        ["Indikasi pengkondisian (belum dinyatakan wajar)", _pct(ci.coaching_share),
         "Pola sama, kiriman beruntun, dll."],
        ["Respons dikeluarkan peninjau", _pct(ci.excluded_share), ""],
        ["Tinjauan yang belum diputuskan", ci.pending_reviews, ""],
    ]
    entered = session.exec(select(CorrectionInput).where(CorrectionInput.campaign_id == campaign.id)).first()
    for name, points in ((entered.parts if entered else {}) or {}).items():
        t.rows.append([f"Poin koreksi dimasukkan PIC/KPK: {name}", _num(float(points)), "poin (dikurangkan)"])
    t.note = ("Porsi di atas adalah sinyal yang diukur sistem; bobot dan poin faktor koreksi ditetapkan "
              "KPK. " + " ".join(ci.notes)).strip()
    return t


def _both_scores(session: Session, campaign_id: int, wait: float | None) -> Cached[tuple[Any, Any]]:
    """The campaign scored with and without flagged responses, cached under the scoring inputs'
    data version (monitor.cache): recomputed only after a submission, flag, decision or
    correction change. Scored once when leaving flagged responses out would remove nothing."""
    version = scoring_version(session, campaign_id)

    def compute(db: Session) -> tuple[Any, Any]:
        every = score_institution(db, campaign_id, include_flagged=True)
        if unflagged_equals_all(version):
            return every, every
        return every, score_institution(db, campaign_id, include_flagged=False)

    return CACHE.get(session, "integrity.index", campaign_id, version, compute, wait=wait)


def _index(session: Session, campaign: Campaign, inst: Institution, wait: float | None) -> Table:
    t = Table("indeks", "Indeks dengan dan tanpa respons yang ditandai",
              ["Komponen", "Semua respons", "Tanpa respons ditandai"])
    cached = _both_scores(session, campaign.id, wait)  # type: ignore[arg-type]
    both = cached.value
    t.rows.append(["Indeks Integritas", _num(both[0].index), _num(both[1].index)])
    t.rows.append(["Kategori", both[0].category or "-", both[1].category or "-"])
    for group, title in code_labels("subindex").items():
        a, b = both[0].groups[group], both[1].groups[group]
        t.rows.append([title, _num(a.index), _num(b.index)])
        t.rows.append([f"  Responden {title.split()[-1]}", a.n, b.n])
    t.rows.append(["Faktor koreksi (poin)", _num(both[0].correction), _num(both[1].correction)])
    t.note = ("Respons yang dikeluarkan peninjau tidak pernah dihitung; kolom kanan juga tidak menghitung "
              "respons yang masih ditandai. Nilai kelompok kecil disembunyikan (-).")
    if not cached.fresh:
        at = as_utc(cached.computed_at).astimezone(ZoneInfo(inst.timezone)).strftime("%H.%M")
        t.note = (f"Data berubah; angka ini sedang dihitung ulang. Yang tampil dihitung pukul {at} "
                  "(waktu setempat). Muat ulang halaman sebentar lagi. ") + t.note
    return t


def build(session: Session, campaign: Campaign, inst: Institution, page: int | None = None,
          wait: float | None = None) -> PageData:
    """All tables of the page; `page` paginates the flagged list (None: every row, for exports).
    `wait`: at most this long for the index to be recomputed after a data change, else the
    previous figures, labelled (the page); None: always the exact figures (exports)."""
    report = stored_report(session, campaign.id)  # type: ignore[arg-type]
    units = {u.id: u for u in session.exec(select(Unit).where(Unit.institution_id == inst.id))}
    signals, per_unit, nameable = _signal_tables(report, units)  # type: ignore[arg-type]
    flagged, ids, has_next = _flagged(session, campaign, report, nameable, page)
    tables = [signals, per_unit, flagged, _correction(session, campaign, report),
              _index(session, campaign, inst, wait)]
    return PageData(tables, {
        "response_ids": ids, "page_no": page or 0, "has_next": has_next,
        "responses": report.responses, "flagged": report.flagged,
        "checked_at": last_flagged_at(session, campaign.id),  # type: ignore[arg-type]
    })
