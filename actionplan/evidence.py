"""Evidence of an action (bukti dukung: reports, attendance lists, minutes, photos).

Accepted by content, not by name (`sniff`: PDF, PNG, JPEG, and Word/Excel .docx/.xlsx recognised
inside their zip), up to `evidence_max_bytes` (actionplan/data/actionplan.yaml). The bytes are
written to DATA_DIR/actionplan/<32 random hex characters> (never in the database, never under
the uploaded name); the row keeps the type, size, SHA-256 and the cleaned original name for the
page. Served only to users of the action's institution (the route checks the scope and that the
file belongs to the campaign's plan; anything else is 404).
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import zipfile
from pathlib import Path

from sqlmodel import Session

from actionplan.models import ActionEvidence, ActionItem
from actionplan.service import PlanError, settings
from core.audit import record as audit
from core.clock import utcnow
from core.config import get_settings

_SAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def folder() -> Path:
    path = Path(get_settings().data_dir) / "actionplan"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sniff(content: bytes) -> str | None:
    """The evidence type of the bytes (an evidence_types key), or None when not allowed."""
    if content.startswith(b"%PDF-"):
        return "pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError):
            return None
        if "[Content_Types].xml" in names:
            if "word/document.xml" in names:
                return "docx"
            if "xl/workbook.xml" in names:
                return "xlsx"
    return None


def clean_label(filename: str) -> str:
    base = Path(filename.replace("\\", "/")).name
    return _SAFE.sub("_", base).strip()[:120] or "bukti"


def save(session: Session, item: ActionItem, kind: str, filename: str, content: bytes, actor: str) -> ActionEvidence:
    """Check and store one evidence file (module docstring). Raises PlanError (for the PIC)."""
    cfg = settings()
    if kind not in cfg["evidence_kinds"]:
        raise PlanError("Jenis bukti tidak dikenal.")
    if len(content) > int(cfg["evidence_max_bytes"]):
        raise PlanError(f"Berkas terlalu besar: {cfg['evidence_size_rule']}.")
    if not content:
        raise PlanError("Berkas kosong.")
    file_type = sniff(content)
    if file_type is None or file_type not in cfg["evidence_types"]:
        raise PlanError(f"Jenis berkas tidak diterima: unggah {cfg['evidence_type_rule']}.")
    stored = secrets.token_hex(16)
    (folder() / stored).write_bytes(content)
    evidence = ActionEvidence(item_id=item.id, institution_id=item.institution_id, kind=kind,  # type: ignore[arg-type]
                              file_type=file_type, size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                              stored=stored, label=clean_label(filename), uploaded_by=actor, uploaded_at=utcnow())
    session.add(evidence)
    session.flush()
    audit(session, actor, "actionplan.evidence", institution_id=item.institution_id, target=f"action:{item.id}",
          details={"evidence": evidence.id, "kind": kind, "type": file_type, "size": len(content)})
    return evidence


def read(evidence: ActionEvidence) -> tuple[bytes, str]:
    """The stored bytes and their media type."""
    return (folder() / evidence.stored).read_bytes(), str(settings()["evidence_types"][evidence.file_type])
