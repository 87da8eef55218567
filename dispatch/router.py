"""HTTP routes of dispatch: Twilio status callbacks, one-click email unsubscribe."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from core.clock import utcnow
from core.db import session_scope
from core.metrics import CALLBACK_LAG
from core.models import OptOut
from dispatch import content, outbox
from dispatch.channels.twilio.webhooks import verified_form
from dispatch.channels.twilio.whatsapp import TWILIO_STATUS
from dispatch.models import DeliveryEvent, Outbox
from dispatch.service import is_opted_out

router = APIRouter()
log = logging.getLogger("spibot.dispatch")


@router.post("/twilio/status", include_in_schema=False)
def twilio_status(form: Annotated[dict[str, str], Depends(verified_form)]) -> Response:
    """Delivery status from Twilio (signed). Repeated or out-of-order callbacks never move a
    message backwards; a callback for a message we have not recorded yet is kept and applied
    when the worker records the message."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    raw = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    status = TWILIO_STATUS.get(raw)
    if not sid or len(sid) > 64 or status is None:
        return Response(status_code=204)
    code = (form.get("ErrorCode") or "").strip()[:20] or None
    with session_scope(write=True) as session:
        event = DeliveryEvent(provider_id=sid, status=status, error_code=code, received_at=utcnow())
        session.add(event)
        try:
            session.flush()
        except IntegrityError:  # the same callback again: nothing new
            session.rollback()
            return Response(status_code=204)
        event.applied = outbox.apply_status(session, sid, status, code)
        sent_at = session.execute(select(col(Outbox.sent_at)).where(col(Outbox.provider_id) == sid)).scalar()
        if sent_at is not None and event.received_at is not None:  # /metrics: callback lag
            CALLBACK_LAG.labels(status).observe(max((event.received_at - sent_at).total_seconds(), 0.0))
    return Response(status_code=204)


PAGE = ("""<!doctype html><html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Berhenti berlangganan SPI</title>
<style>body{{font-family:Arial,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;"""
        """color:#1a1a1a;line-height:1.5}}
button{{font-size:1rem;padding:.7rem 1.4rem;background:#0b3d91;color:#fff;border:0;border-radius:6px}}</style>
</head><body><h1>Berhenti berlangganan</h1>{body}</body></html>""")


def _row_for(outbox_id: int, sig: str) -> Outbox:
    # Compare bytes: compare_digest refuses non-ASCII str, and the path is whatever anyone typed.
    expected = content.unsubscribe_signature(outbox_id).encode()
    if not hmac.compare_digest(sig.encode("utf-8", "replace"), expected):
        raise HTTPException(status_code=404, detail="Tautan tidak dikenal.")
    with session_scope() as session:
        row = session.get(Outbox, outbox_id)
    if row is None or row.channel != "email":
        raise HTTPException(status_code=404, detail="Tautan tidak dikenal.")
    return row


@router.get("/berhenti/email/{outbox_id}/{sig}", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe_page(outbox_id: int, sig: str) -> HTMLResponse:
    _row_for(outbox_id, sig)
    body = ("<p>Tekan tombol di bawah ini bila Anda tidak ingin lagi menerima email tentang SPI.</p>"
            f'<form method="post" action="/berhenti/email/{outbox_id}/{sig}">'
            '<button type="submit">Berhenti menerima email</button></form>')
    return HTMLResponse(PAGE.format(body=body))


@router.post("/berhenti/email/{outbox_id}/{sig}", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe(outbox_id: int, sig: str) -> HTMLResponse:
    """One-click unsubscribe (RFC 8058): the address goes to the opt-out list."""
    row = _row_for(outbox_id, sig)
    with session_scope(write=True) as session:
        if not is_opted_out(session, row.to_address):
            session.add(OptOut(address=row.to_address, channel="email", opted_out_at=utcnow()))
    return HTMLResponse(
        PAGE.format(body="<p>Terima kasih. Kami tidak akan mengirim email SPI lagi ke alamat Anda.</p>")
    )
