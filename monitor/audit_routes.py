"""The audit log for admins (`/pic/admin/audit`): filter by action and institution, paginated,
CSV export. Read only: the app has no route that edits or deletes an audit row (append-only)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select as sa_select
from sqlalchemy import text
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
COUNT_LIMIT = 10_000  # the page counts matching rows exactly up to here


def _filters(action: str, institution: str) -> list[Any]:
    where: list[Any] = []
    if action:
        where.append(AuditLog.action == action)
    if institution.isdigit():
        where.append(AuditLog.institution_id == int(institution))
    return where


def _actions(session: Session) -> list[str]:
    """Every distinct action, by a loose index scan of ix_auditlog_action (one index probe per
    action: the next action after the previous one) instead of reading every audit row."""
    rows = session.execute(text(
        "WITH RECURSIVE t(a) AS (SELECT min(action) FROM auditlog"
        " UNION ALL SELECT (SELECT min(action) FROM auditlog WHERE action > t.a) FROM t WHERE t.a IS NOT NULL)"
        " SELECT a FROM t WHERE a IS NOT NULL"
    ))
    return [str(a) for (a,) in rows]


def _count(session: Session, where: list[Any]) -> int:
    """Matching rows, counted up to COUNT_LIMIT + 1 (the page says "more than" beyond that): a
    bounded index walk, never a count of the whole log per request."""
    matching = select(AuditLog.id).where(*where).limit(COUNT_LIMIT + 1).subquery()
    return int(session.exec(select(func.count()).select_from(matching)).one())


def _table(session: Session, where: list[Any], offset: int, limit: int, names: dict[int, str]) -> Table:
    t = Table("audit", "Log audit", ["Waktu (UTC)", "Pelaku", "Tindakan", "Instansi", "Sasaran", "Rincian"])
    # Columns, not ORM objects: the export reads up to EXPORT_LIMIT rows.
    rows = session.execute(
        sa_select(AuditLog.at, AuditLog.actor, AuditLog.action, AuditLog.institution_id,  # type: ignore[call-overload]
                  AuditLog.target, AuditLog.details)
        .where(*where).order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc()).offset(offset).limit(limit)
    )
    dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str).encode
    for at, actor, action, institution_id, target, details in rows:
        inst = names.get(institution_id, str(institution_id)) if institution_id is not None else "-"
        t.rows.append([at.isoformat(timespec="seconds") if at else "-", actor, action, inst,
                       target or "-", dumps(details or {})])
    return t


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: Admin, action: str = "", institution: str = "",
               hal: int = 0) -> HTMLResponse:
    hal = max(0, min(hal, 100_000))
    action, institution = action[:60], institution[:12]
    with session_scope() as session:
        names = {int(i.id): i.name for i in session.exec(select(Institution).order_by(Institution.name))
                 if i.id is not None}
        actions = _actions(session)
        where = _filters(action, institution)
        total = _count(session, where)
        table = _table(session, where, hal * PER_PAGE, PER_PAGE + 1, names)
    has_next = len(table.rows) > PER_PAGE
    table.rows = table.rows[:PER_PAGE]
    return _render(request, "audit.html", user, table=table, actions=actions, institutions=names,
                   action=action, institution=institution, hal=hal, total=min(total, COUNT_LIMIT),
                   more=total > COUNT_LIMIT, has_next=has_next, per_page=PER_PAGE)


@router.get("/admin/audit.csv")
def audit_csv(user: Admin, action: str = "", institution: str = "") -> Response:
    """Every matching row (newest first, at most EXPORT_LIMIT); the export itself is audited."""
    with session_scope(write=True) as session:
        names = {int(i.id): i.name for i in session.exec(select(Institution)) if i.id is not None}
        table = _table(session, _filters(action[:60], institution[:12]), 0, EXPORT_LIMIT, names)
        record(session, user.login, "monitor.export", target="audit.csv",
               details={"rows": len(table.rows), "action": action[:60], "institution": institution[:12]})
    return Response(to_csv(table), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="log-audit.csv"'})
