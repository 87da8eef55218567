"""The action plan of a campaign: made from the risk map, edited, exported as the 2024 form's
.xlsx and re-imported from it, and its progress.

From the risk map: `generate` takes the score report's matrix (`reports.build_report(...).actions`:
per variable, the worst risk level and the standard recommendation text of that level and
dimension, responses/data/recommendations.yaml) and adds one ActionItem per row, once (a plan
that exists is not generated again). What the institution writes (action, MCP area, success
criteria and measure, owner unit, timing, due date, status) is edited on the page or in the form.

The form (`write_form` / `read_form`): one sheet, the columns of actionplan/data/actionplan.yaml
in order, one row per action; "ID" ties a row to its action. Re-importing applies every row or
none: an unknown ID, an owner that is not one of the institution's units, an unknown status or an
unreadable date refuses the file with the row numbers to fix. A row without ID adds an action.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font
from sqlmodel import Session, col, select

from actionplan.models import ActionItem
from core.audit import record as audit
from core.clock import local, utcnow
from core.datafiles import read_yaml
from core.errors import SpibotError
from core.labels import labels
from core.models import Campaign, Institution, Unit

DATA = Path(__file__).parent / "data"
EDITABLE = ("recommendation", "action", "mcp_area", "success_criteria", "success_measure", "timing")


class PlanError(SpibotError, ValueError):
    """A refused edit or import; the message is for the PIC (Bahasa Indonesia)."""


@lru_cache(maxsize=1)
def settings() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(DATA / "actionplan.yaml")
    return data


def status_labels() -> dict[str, str]:
    return dict(settings()["statuses"])


def items(session: Session, campaign_id: int) -> list[ActionItem]:
    return list(session.scalars(select(ActionItem).where(col(ActionItem.campaign_id) == campaign_id)
                                .order_by(col(ActionItem.position), col(ActionItem.id))))


def units_of(session: Session, institution_id: int) -> list[Unit]:
    return list(session.scalars(
        select(Unit).where(col(Unit.institution_id) == institution_id).order_by(col(Unit.name))))


def seed(session: Session, campaign: Campaign, rows: list[Any], actor: str) -> int:
    """One ActionItem per matrix row (attributes level, group, dimension, variable, levels,
    recommendation, mcp_area, timing), unless the campaign has a plan already. Returns added."""
    assert campaign.id is not None
    if items(session, campaign.id):
        return 0
    now = utcnow()
    for position, row in enumerate(rows, start=1):
        session.add(ActionItem(campaign_id=campaign.id, institution_id=campaign.institution_id, position=position,
                               level=row.level, group=row.group, dimension=row.dimension, variable=row.variable,
                               levels=row.levels, recommendation=row.recommendation, mcp_area=row.mcp_area,
                               timing=row.timing, updated_by=actor, updated_at=now))
    session.flush()
    audit(session, actor, "actionplan.generate", institution_id=campaign.institution_id,
          target=f"campaign:{campaign.id}", details={"actions": len(rows)})
    return len(rows)


def generate(session: Session, campaign: Campaign, actor: str) -> int:
    """The plan from the campaign's risk map (module docstring)."""
    from reports import build_report  # heavy (scoring, charts): only when a plan is made

    assert campaign.id is not None
    return seed(session, campaign, build_report(session, campaign.id).actions, actor)


def _status(value: str) -> str:
    value = (value or "").strip()
    for code, text in status_labels().items():
        if value.lower() in (code, text.lower()):
            return code
    raise PlanError(f"Status \u201c{value}\u201d tidak dikenal; "
                    f"gunakan salah satu: {', '.join(status_labels().values())}.")


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    parts = text.split("/")
    if len(parts) == 3 and all(p.strip().isdigit() for p in parts):
        try:
            return date(int(parts[2]), int(parts[1]), int(parts[0]))
        except ValueError:
            pass
    raise PlanError(f"Tanggal \u201c{text}\u201d tidak terbaca; tulis seperti 2025-03-31 atau 31/03/2025.")


def _owner(units: dict[str, Unit], value: Any) -> int | None:
    name = str(value or "").strip()
    if not name:
        return None
    unit = units.get(name.lower())
    if unit is None:
        raise PlanError(f"Unit kerja \u201c{name}\u201d tidak ada di daftar unit instansi.")
    return unit.id


def update(session: Session, item: ActionItem, values: dict[str, Any], actor: str) -> None:
    """Apply the page's edit of one action (only EDITABLE texts, owner unit id, due date, status)."""
    for key in EDITABLE:
        if key in values:
            setattr(item, key, str(values[key]).strip())
    if "owner_unit_id" in values:
        owner = values["owner_unit_id"]
        if owner is not None:
            unit = session.get(Unit, owner)
            if unit is None or unit.institution_id != item.institution_id:
                raise PlanError("Unit kerja penanggung jawab tidak ditemukan.")
        item.owner_unit_id = owner
    if "due_date" in values:
        item.due_date = _date(values["due_date"])
    if "status" in values:
        item.status = _status(values["status"])
    item.updated_by, item.updated_at = actor, utcnow()
    session.add(item)
    audit(session, actor, "actionplan.update", institution_id=item.institution_id,
          target=f"action:{item.id}", details={"fields": sorted(values)})


# --- the .xlsx form ---------------------------------------------------------------------------


def _row(item: ActionItem, unit_names: dict[int, str]) -> dict[str, Any]:
    return {"id": item.id, "level": item.level, "group": labels("group").get(item.group, item.group),
            "dimension": item.dimension, "variable": item.variable, "levels": item.levels,
            "recommendation": item.recommendation, "action": item.action, "mcp_area": item.mcp_area,
            "success_criteria": item.success_criteria, "success_measure": item.success_measure,
            "owner": unit_names.get(item.owner_unit_id, "") if item.owner_unit_id else "", "timing": item.timing,
            "due_date": item.due_date, "status": status_labels().get(item.status, item.status)}


def write_form(session: Session, campaign: Campaign, path_or_buffer: Any) -> None:
    """The plan as the action-plan form (.xlsx)."""
    assert campaign.id is not None
    columns: dict[str, str] = settings()["form_columns"]
    unit_names = {u.id: u.name for u in units_of(session, campaign.institution_id) if u.id is not None}
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = settings()["form_sheet"]
    ws.append(list(columns.values()))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for item in items(session, campaign.id):
        values = _row(item, unit_names)
        ws.append([values[key] for key in columns])
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    wb.save(path_or_buffer)


def read_form(session: Session, campaign: Campaign, path_or_buffer: Any, actor: str) -> int:
    """Apply a filled-in form (module docstring): all rows or none. Returns actions changed or added."""
    assert campaign.id is not None
    columns: dict[str, str] = settings()["form_columns"]
    try:
        wb = load_workbook(path_or_buffer, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same answer to the PIC
        raise PlanError("Berkas tidak terbaca sebagai .xlsx formulir rencana aksi.") from exc
    sheet = settings()["form_sheet"]
    if sheet not in wb.sheetnames:
        raise PlanError(f"Lembar \u201c{sheet}\u201d tidak ada di berkas.")
    rows = list(wb[sheet].iter_rows(values_only=True))
    header = [str(c or "").strip() for c in (rows[0] if rows else [])]
    where = {key: header.index(title) for key, title in columns.items() if title in header}
    if "id" not in where or "action" not in where:
        raise PlanError("Baris judul formulir tidak dikenali; gunakan berkas yang diunduh dari halaman ini.")
    existing = {i.id: i for i in items(session, campaign.id)}
    units = {u.name.strip().lower(): u for u in units_of(session, campaign.institution_id)}
    errors: list[str] = []
    planned: list[tuple[ActionItem | None, dict[str, Any]]] = []
    for number, raw in enumerate(rows[1:], start=2):
        cells = {key: raw[i] if i < len(raw) else None for key, i in where.items()}
        if all(v in (None, "") for v in cells.values()):
            continue
        try:
            values: dict[str, Any] = {key: "" if cells.get(key) is None else str(cells[key]).strip()
                                      for key in EDITABLE if key in where}
            if "owner" in where:
                values["owner_unit_id"] = _owner(units, cells["owner"])
            if "due_date" in where:
                values["due_date"] = _date(cells["due_date"])
            if "status" in where:
                values["status"] = _status(str(cells["status"] or "") or status_labels()["belum"])
            ident = cells.get("id")
            if isinstance(ident, float) and ident.is_integer():
                ident = int(ident)  # a spreadsheet may keep the number as 3.0
            item = None
            if ident not in (None, ""):
                item = existing.get(int(str(ident).strip()) if str(ident).strip().isdigit() else -1)
                if item is None:
                    raise PlanError(f"ID {ident} bukan aksi rencana ini.")
            planned.append((item, values))
        except PlanError as exc:
            errors.append(f"baris {number}: {exc}")
    if errors:
        raise PlanError("Formulir tidak diimpor. Perbaiki: " + "; ".join(errors[:20]))
    changed = 0
    position = max((i.position for i in existing.values()), default=0)
    for item, values in planned:
        if item is None:
            position += 1
            item = ActionItem(campaign_id=campaign.id, institution_id=campaign.institution_id, position=position)
        before = _fields(item)
        for key in EDITABLE:
            if key in values:
                setattr(item, key, values[key])
        for key in ("owner_unit_id", "due_date", "status"):
            if key in values:
                setattr(item, key, values[key])
        if item.id is None or _fields(item) != before:
            item.updated_by, item.updated_at = actor, utcnow()
            session.add(item)
            changed += 1
    session.flush()
    audit(session, actor, "actionplan.import", institution_id=campaign.institution_id,
          target=f"campaign:{campaign.id}", details={"changed": changed, "rows": len(planned)})
    return changed


def _fields(item: ActionItem) -> tuple[Any, ...]:
    return tuple(getattr(item, key) for key in (*EDITABLE, "owner_unit_id", "due_date", "status"))


# --- progress ---------------------------------------------------------------------------------


@dataclass
class Progress:
    """Per status counts and the overdue actions (due date passed, not finished)."""

    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)  # status label -> count, every status listed
    overdue: list[ActionItem] = field(default_factory=list)


def progress(session: Session, campaign: Campaign, now: datetime | None = None) -> Progress:
    assert campaign.id is not None
    inst = session.get(Institution, campaign.institution_id)
    assert inst is not None
    today = local(now or utcnow(), inst.timezone).date()
    closed = set(settings()["closed_statuses"])
    plan = items(session, campaign.id)
    counts = Counter(i.status for i in plan)
    return Progress(len(plan), {text: counts.get(code, 0) for code, text in status_labels().items()},
                    [i for i in plan if i.due_date is not None and i.due_date < today and i.status not in closed])
