"""Twilio's Content API: create the WhatsApp templates (`spibot templates --create`), submit
them for WhatsApp approval (`--submit`) and read their approval back (`--status`).

Answers leave this module as our own types: `Approval`, or `ContentApiError` with the HTTP
status (404: no such content for this account, e.g. a placeholder Content SID).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.rest.content.v1.content import ContentList
from twilio.rest.content.v1.content.approval_create import ApprovalCreateList

from core.config import Settings, get_settings
from core.errors import SpibotError
from dispatch.channels.twilio.whatsapp import make_client


class ContentApiError(SpibotError):
    """The Content API refused or could not be reached (`status` 0: no HTTP answer)."""

    def __init__(self, message: str, *, status: int = 0, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Approval:
    """WhatsApp's review of one content, as Twilio reports it (status in lower case, category in
    upper case; "unsubmitted" and no category before a request was made)."""

    content_sid: str
    name: str
    status: str
    category: str | None
    rejection_reason: str


def _client(settings: Settings | None = None) -> Client:
    settings = settings or get_settings()
    # The synchronous client has no timeout by default: a CLI call or a scheduler job would hang.
    return make_client(settings, TwilioHttpClient(timeout=settings.twilio_timeout_seconds))


def _call(what: str, fn: Any) -> Any:
    try:
        return fn()
    except TwilioRestException as exc:
        raise ContentApiError(f"{what}: {exc.msg}", status=exc.status, code=exc.code) from None
    except TwilioServiceException as exc:
        raise ContentApiError(f"{what}: {exc.detail or exc.title}", status=exc.status, code=exc.code) from None
    except (TwilioException, requests.RequestException) as exc:
        raise ContentApiError(f"{what}: {type(exc).__name__}: {exc}") from None


def create_templates(definitions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    client = _client()
    out = []
    for d in definitions:
        req = ContentList.ContentCreateRequest(d)
        created = _call(f"create {d['friendly_name']}", lambda req=req: client.content.v1.contents.create(req))
        out.append((d["friendly_name"], str(created.sid)))
    return out


def _approval(sid: str, payload: dict[str, Any] | None) -> Approval:
    wa = payload or {}
    category = str(wa.get("category") or "").upper() or None
    return Approval(content_sid=sid, name=str(wa.get("name") or ""),
                    status=str(wa.get("status") or "unsubmitted").lower(), category=category,
                    rejection_reason=str(wa.get("rejection_reason") or ""))


def fetch_approval(sid: str, settings: Settings | None = None) -> Approval:
    """GET /v1/Content/{sid}/ApprovalRequests: status, category and rejection reason."""
    client = _client(settings)
    found = _call(f"approval of {sid}", lambda: client.content.v1.contents(sid).approval_fetch().fetch())
    return _approval(sid, found.whatsapp)


def submit_approval(sid: str, name: str, category: str, settings: Settings | None = None) -> Approval:
    """POST /v1/Content/{sid}/ApprovalRequests/whatsapp: submit the content for WhatsApp review
    under `name` (lower case, digits, underscores) in `category`."""
    client = _client(settings)
    request = ApprovalCreateList.ContentApprovalRequest({"name": name, "category": category})
    created = _call(f"submit {sid}", lambda: client.content.v1.contents(sid).approval_create.create(request))
    return _approval(sid, {"name": created.name, "category": created.category, "status": created.status,
                           "rejection_reason": created.rejection_reason})
