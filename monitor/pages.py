"""What each dashboard page shows, as Tables (the same rows feed the page and its exports)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from bot import activity, conversation_log
from core.campaigns import has_ended
from core.clock import format_date_id, format_datetime_id, local, utcnow
from core.config import get_settings
from core.datafiles import read_yaml
from core.labels import label
from core.models import Campaign, Institution, Unit
from core.numbers import Percent, points
from monitor import problems, sending, stats
from monitor.models import CampaignSnapshot
from monitor.tables import Table, lowest
from population import (
    called_reserves,
    draw_summary,
    external_floor,
    quality_report,
    reason_texts,
    sample_plan,
)
from qr import registrations

LABELS_FILE = Path(__file__).parent / "data" / "labels.yaml"


@dataclass
class PageData:
    tables: list[Table]
    extra: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)


def _pct(value: float | None) -> Percent | None:
    """A rate in points (83.7) as a table cell: "83,7%" on the page, a percent number in .xlsx."""
    return points(value)


# --- overview -------------------------------------------------------------------------------------


def overview(session: Session, campaign: Campaign, inst: Institution) -> PageData:
    ov = stats.overview(session, campaign, inst.timezone)
    funnel = Table("corong", "Corong per saluran",
                   ["Saluran", "Sampel", "Antre", "Terkirim", "Diterima", "Dibaca", "Menjawab"])
    funnel.live_keys = []
    for r in ov.funnel:
        funnel.rows.append([label("channel", r.channel), r.sampled, r.queued, r.sent, r.delivered, r.read, r.responded])
        funnel.live_keys.append([None] + [f"funnel.{r.channel}.{k}" for k in
                                          ("sampled", "queued", "sent", "delivered", "read", "responded")])
    groups = Table("kelompok", "Tingkat jawaban per kelompok terhadap target",
                   ["Kelompok", "Sampel", "Target", "Menjawab", "Persentase"])
    groups.live_keys = []
    for g in ov.groups:
        groups.rows.append([label("group", g.group), g.sample, g.target, g.responded,
                            _pct(g.rate)])
        groups.live_keys.append([None, None, None, f"group.{g.group}.responded", f"group.{g.group}.rate"])
    daily = Table("harian", "Kiriman dan jawaban per hari", ["Tanggal", "Pesan terkirim", "Jawaban"])
    daily.rows = [[format_date_id(d), s, a] for d, s, a in ov.daily]
    peak = max([max(s, a) for _, s, a in ov.daily] or [0])
    return PageData([funnel, groups, daily], {"days_left": ov.days_left, "daily": ov.daily, "peak": peak,
                                              "floor": external_floor(session, campaign)})


# --- units ----------------------------------------------------------------------------------------


def units(session: Session, campaign: Campaign, inst: Institution) -> PageData:
    rows = stats.unit_rows(session, campaign)
    tables = []
    unit_ids: dict[str, list[int | None]] = {}
    for group in stats.GROUPS:
        mine = [r for r in rows if r.group == group]
        if not mine:
            continue
        t = Table(f"unit-{group}", f"Unit kerja — {label('group', group)}",
                  ["Kode", "Unit kerja", "Populasi", "Data bersih", "Sampel", "Terjangkau", "Menjawab",
                   "Persentase"])
        t.live_keys = []
        for r in mine:
            t.rows.append([r.code, r.name, r.population, _pct(r.clean_pct), r.sample, r.reached,
                           r.responded, _pct(r.rate)])
            key = f"unit.{r.unit_id}.{group}"
            t.live_keys.append([None, None, None, None, None, f"{key}.reached", f"{key}.responded",
                                f"{key}.rate"])
        t.highlight = lowest([r.rate for r in mine])
        tables.append(t)
        unit_ids[t.name] = [r.unit_id for r in mine]
    # A reminder button that would queue nothing is shown disabled, saying why.
    blocked = stats.reminder_blockers(session, campaign, has_ended(campaign))
    return PageData(tables, {"unit_ids": unit_ids, "remind_blocked": blocked,
                             "quiet": _quiet_note(inst.timezone)})


def _quiet_note(tz: str, now: datetime | None = None) -> str | None:
    """During quiet hours (QUIET_START-QUIET_END, the institution's time) reminders are queued but
    wait: said beside the buttons. None outside them (or with no quiet hours)."""
    settings = get_settings()
    start, end = settings.quiet_start, settings.quiet_end
    if start == end:
        return None
    t = local(now or utcnow(), tz).strftime("%H:%M")
    quiet = (t >= start or t < end) if start > end else (start <= t < end)
    return stats.REMINDER_BLOCKED["quiet_hours"].format(start=end.replace(":", ".")) if quiet else None


def live_figures(session: Session, campaign: Campaign, inst: Institution) -> dict[str, str]:
    """Every live-refreshing cell of the overview and units pages, by key (and the overview's
    sending plan line)."""
    figures: dict[str, str] = {}
    for page in (overview(session, campaign, inst), units(session, campaign, inst)):
        for t in page.tables:
            for row, keys in zip(t.rows, t.live_keys or [], strict=False):
                for value, key in zip(row, keys, strict=False):
                    if key:
                        figures[key] = "-" if value is None else str(value)
    figures["days_left"] = str(stats.days_left(campaign))
    figures["sending.plan"] = sending.plan_line(session, campaign, inst.timezone)
    return figures


# --- delivery problems ----------------------------------------------------------------------------


def delivery_problems(session: Session, campaign: Campaign, inst: Institution) -> PageData:
    found = problems.failures(session, campaign)
    reasons = Table("alasan", "Pesan gagal per alasan", ["Alasan", "Yang perlu dilakukan", "Jumlah responden"])
    contacts = Table("kontak", "Daftar kontak yang perlu diperbaiki",
                     ["Unit kerja", "Nama", "Saluran", "Kontak tercatat", "Alasan", "Yang perlu dilakukan"])
    reasons.rows = [list(r) for r in problems.by_reason(found)]
    labels, unit_rows = problems.by_unit(session, campaign, found)
    per_unit = Table("per-unit", "Pesan gagal per unit kerja", ["Unit kerja", *labels, "Total"], unit_rows)
    contacts.rows = problems.contact_list(session, campaign, found)
    return PageData([reasons, per_unit, contacts], {"show_contacts": False})


# --- bot, QR, quality (from other packages) --------------------------------------------------------


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    if hasattr(item, "_asdict"):
        return dict(item._asdict())
    if hasattr(item, "model_dump"):
        return dict(item.model_dump())
    return {"nilai": str(item)}


@lru_cache
def _labels() -> dict[str, str]:
    data = read_yaml(LABELS_FILE) or {}
    return {str(k): str(v or "") for k, v in data.items()}


def table_from_items(name: str, title: str, items: list[Any]) -> Table:
    """A table from a list of dicts/dataclasses/named tuples (columns from the first item, headed
    in Indonesian from data/labels.yaml; internal ids hidden)."""
    dicts = [_as_dict(i) for i in items]
    keys = [k for k in (dicts[0].keys() if dicts else []) if _labels().get(k, k) != ""]
    rows = [[_cell(d.get(k)) for k in keys] for d in dicts]
    return Table(name, title, [_labels().get(k, k) for k in keys], rows)


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _readable(item: Any, tz: str) -> Any:
    """A conversation-log row with its intent labelled and its time local ("7 Desember 2026 14.30 WIB")."""
    if not isinstance(item, dict):
        return item
    out = dict(item)
    if out.get("intent"):
        out["intent"] = label("intent", out["intent"])
    if isinstance(out.get("at"), datetime):
        out["at"] = format_datetime_id(out["at"], tz)
    return out


# bot.stats.activity keys whose values are counts per code: the codes' label kind (core/data/labels.yaml)
BOT_VALUE_KINDS = {"intents": "intent", "re_requests_by_outcome": "bot_outcome"}


def bot(session: Session, campaign: Campaign, inst: Institution, page: int = 0) -> PageData:
    summary = Table("aktivitas", "Aktivitas bot", ["Ukuran", "Nilai"])
    for key, value in activity(session, inst.id, campaign.id).items():  # type: ignore[arg-type]
        heading = _labels().get(key) or key
        kind = BOT_VALUE_KINDS.get(key)
        if isinstance(value, dict):
            summary.rows.extend([f"{heading}: {label(kind, k) if kind else k}", _cell(v)] for k, v in value.items())
        else:
            summary.rows.append([heading, _cell(value)])
    log = list(conversation_log(session, inst.id, 100, page * 100))  # type: ignore[arg-type]
    conv = table_from_items("percakapan", "Log percakapan", [_readable(i, inst.timezone) for i in log])
    return PageData([summary, conv], {"page_no": page, "has_next": len(log) == 100})


def qr(session: Session, campaign: Campaign, inst: Institution) -> PageData:
    items = list(registrations(session, inst.id, campaign.id))  # type: ignore[arg-type]
    t = table_from_items("registrasi", "Registrasi QR per unit, loket dan hari", items)
    return PageData([t], {"posters": True})


def quality(session: Session, campaign: Campaign, inst: Institution) -> PageData:
    report = quality_report(session, inst.id)  # type: ignore[arg-type]
    t = Table("kualitas", "Kualitas data populasi per unit",
              ["Kode", "Unit kerja", "Baris", "Bersih", "Bersih (%)", "Internal bersih (%)",
               "Eksternal bersih (%)", "Memenuhi syarat", "Tidak dipakai (alasan)", "Dikecualikan (alasan)"])
    texts = dict(reason_texts())

    def reasons(counts: Any) -> str:
        items = counts.items() if isinstance(counts, dict) else []
        # the problem only ("Nama kosong"); how to fix it is in the downloadable workbook
        return "; ".join(f"{str(texts.get(k, k)).partition('. ')[0].rstrip('.')} ({n})"
                         for k, n in sorted(items, key=lambda kv: -kv[1]))

    # Counts and reasons only: the example rows (names) stay in the downloadable workbook.
    for u in getattr(report, "units", []):
        t.rows.append([getattr(u, "unit_code", ""), getattr(u, "unit", ""), getattr(u, "rows", 0),
                       getattr(u, "clean", 0), _pct(getattr(u, "clean_pct", None)),
                       _pct(getattr(u, "internal_clean_pct", None)),
                       _pct(getattr(u, "external_clean_pct", None)), getattr(u, "eligible", 0),
                       reasons(getattr(u, "unusable", {})), reasons(getattr(u, "excluded", {}))])
    t.highlight = lowest([getattr(u, "clean_pct", None) for u in getattr(report, "units", [])])
    return PageData([t], {"report": True})


def sample(session: Session, campaign: Campaign, inst: Institution) -> PageData:
    """Before the draw, its plan from the current population (sizes per group and per unit);
    after it, the draw's audit figures, sizes per group, the allocation per unit and the
    reserves called up."""
    draw = draw_summary(session, campaign.id, inst.id)  # type: ignore[arg-type]
    if draw is None:
        return _sample_plan(session, campaign, inst)
    sizes = Table("ukuran", "Ukuran sampel per kelompok",
                  ["Kelompok", "Populasi memenuhi syarat", "Sampel", "Cadangan", "Target"])
    alloc = Table("alokasi", "Alokasi per unit kerja / kriteria ahli",
                  ["Kelompok", "Kode", "Unit kerja / kriteria", "Populasi", "Sampel", "Cadangan", "Cadangan dipanggil",
                   "Tidak terjangkau"])
    for group, s in draw.sizes.items():
        sizes.rows.append([label("draw_group", group), s.get("population", 0), s.get("size", 0),
                           s.get("reserves"), s.get("target", s.get("size", 0))])
    actions = []  # per row: (draw group, unit code) for "call up a reserve", None for experts
    lost = problems.unreachable(session, campaign)
    for a in draw.allocations:
        left = a.reserves is not None and a.reserves_called is not None and a.reserves_called < a.reserves
        actions.append((a.group, a.code) if left else None)
        alloc.rows.append([label("draw_group", a.group), a.code, a.name, a.population, a.sample,
                           a.reserves, a.reserves_called,  # None (experts) shows as "-"
                           None if a.reserves is None else lost.get((a.unit_id, a.group), 0)])
    return PageData([sizes, alloc], {"draw": draw, "tz": inst.timezone, "actions": actions,
                                     "called": called_reserves(session, campaign)})


def _sample_plan(session: Session, campaign: Campaign, inst: Institution) -> PageData:
    plan = sample_plan(session, campaign)
    sizes = Table("rencana", "Rencana ukuran sampel per kelompok",
                  ["Kelompok", "Populasi memenuhi syarat", "Sampel", "Cadangan", "Target jawaban"])
    for group in ("internal", "external", "expert"):
        s = plan.sizes[group]
        sizes.rows.append([label("draw_group", group), s["population"], s["size"], s.get("reserves"),
                           s.get("target", s["size"])])
    names: dict[str, str] = {code: name for code, name in session.execute(
        select(Unit.code, Unit.name).where(Unit.institution_id == inst.id))}
    units = Table("rencana-unit", "Rencana alokasi per unit kerja / kriteria ahli",
                  ["Kelompok", "Kode", "Unit kerja / kriteria", "Populasi", "Sampel", "Cadangan"])
    for u in plan.units:
        units.rows.append([label("draw_group", u.group), u.code, names.get(u.code, u.code), u.population, u.sample,
                           u.reserves])  # None (experts) shows as "-"
    if not plan.drawable:
        sizes.note = "Sampel belum bisa ditarik: belum ada populasi eligible."
    return PageData([sizes, units], {"plan": plan, "tz": inst.timezone})


# --- national (admin) -----------------------------------------------------------------------------


def national(session: Session) -> PageData:
    t = Table("nasional", "Semua instansi",
              ["Instansi", "Kampanye", "Sampel", "Terkirim", "Diterima", "Gagal", "Menjawab", "Persentase"])
    rates, ids = [], []
    for snap, inst, camp in session.exec(
        select(CampaignSnapshot, Institution, Campaign)
        .join(Institution, Institution.id == CampaignSnapshot.institution_id)  # type: ignore[arg-type]
        .join(Campaign, Campaign.id == CampaignSnapshot.campaign_id)  # type: ignore[arg-type]
    ):
        r = stats.rate(snap.responded, snap.sampled)
        rates.append(r)
        ids.append(camp.id)
        t.rows.append([inst.name, camp.name, snap.sampled, snap.sent, snap.delivered, snap.failed,
                       snap.responded, _pct(r)])
    order = sorted(range(len(t.rows)), key=lambda i: (rates[i] if rates[i] is not None else 101.0, t.rows[i][0]))
    t.rows = [t.rows[i] for i in order]
    rates = [rates[i] for i in order]
    t.highlight = lowest(rates)
    return PageData([t], {"campaign_ids": [ids[i] for i in order]})


def integrity(session: Session, campaign: Campaign, inst: Institution) -> PageData:
    """Signals, flagged responses, correction inputs, index with/without flagged (every row)."""
    # Imported here: monitor.integrity_page builds on this module (PageData), so a top-level
    # import would be circular.
    from monitor.integrity_page import build

    return build(session, campaign, inst)


CampaignPage = Callable[[Session, Campaign, Institution], PageData]
PAGES: dict[str, tuple[str, CampaignPage]] = {
    "ringkasan": ("Ringkasan", overview),
    "unit": ("Unit kerja", units),
    "masalah": ("Masalah pengiriman", delivery_problems),
    "bot": ("Aktivitas bot", bot),
    "qr": ("Registrasi QR", qr),
    "kualitas": ("Kualitas data", quality),
    "sampel": ("Sampel", sample),
    "integritas": ("Integritas", integrity),
}
