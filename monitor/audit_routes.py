"""The audit log for admins (`/pic/admin/audit`): filter by action and institution, paginated,
CSV export. Read only: the app has no route that edits or deletes an audit row (append-only)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, func, select

from core.audit import AuditLog, record
from core.db import session_scope
from core.models import Institution
from monitor.auth import CurrentUser, require_user
from monitor.models import Role
from monitor.router import _render
from monitor.tables import Table, to_csv

router = APIRouter(prefix="/pic", tags=["dashboard"])
Admin = Annotated[CurrentUser, Depends(require_user(Role.admin))]
PER_PAGE = 100
EXPORT_LIMIT = 100_000


def _filters(action: str, institution: str) -> list[Any]:
    where: list[Any] = []
    if action:
        where.append(AuditLog.action == action)
    if institution.isdigit():
        where.append(AuditLog.institution_id == int(institution))
    return where


def _table(session: Session, where: list[Any], offset: int, limit: int, names: dict[int, str]) -> Table:
    t = Table("audit", "Log audit", ["Waktu (UTC)", "Pelaku", "Tindakan", "Instansi", "Sasaran", "Rincian"])
    rows = session.exec(select(AuditLog).where(*where)
                        .order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc()).offset(offset).limit(limit))
    for a in rows:
        inst = names.get(a.institution_id, str(a.institution_id)) if a.institution_id is not None else "-"
        details = json.dumps(a.details or {}, ensure_ascii=False, sort_keys=True, default=str)
        t.rows.append([a.at.isoformat(timespec="seconds") if a.at else "-", a.actor, a.action, inst,
                       a.target or "-", details])
    return t


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: Admin, action: str = "", institution: str = "",
               hal: int = 0) -> HTMLResponse:
    hal = max(0, min(hal, 100_000))
    action, institution = action[:60], institution[:12]
    with session_scope() as session:
        names = {int(i.id): i.name for i in session.exec(select(Institution).order_by(Institution.name))  # type: ignore[arg-type]
                 if i.id is not None}
        actions = sorted(session.exec(select(AuditLog.action).distinct()).all())
        where = _filters(action, institution)
        total = int(session.exec(select(func.count()).select_from(AuditLog).where(*where)).one())
        table = _table(session, where, hal * PER_PAGE, PER_PAGE, names)
    return _render(request, "audit.html", user, table=table, actions=actions, institutions=names,
                   action=action, institution=institution, hal=hal, total=total,
                   has_next=(hal + 1) * PER_PAGE < total, per_page=PER_PAGE)


@router.get("/admin/audit.csv")
def audit_csv(user: Admin, action: str = "", institution: str = "") -> Response:
    """Every matching row (newest first, at most EXPORT_LIMIT); the export itself is audited."""
    with session_scope(write=True) as session:
        names = {int(i.id): i.name for i in session.exec(select(Institution)) if i.id is not None}  # type: ignore[arg-type]
        table = _table(session, _filters(action[:60], institution[:12]), 0, EXPORT_LIMIT, names)
        record(session, user.login, "monitor.export", target="audit.csv",
               details={"rows": len(table.rows), "action": action[:60], "institution": institution[:12]})
    return Response(to_csv(table), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="log-audit.csv"'})
