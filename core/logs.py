"""Structured logs and the request id (docs/observability.md).

LOG_FORMAT=text (the default, for development) writes `time level logger: message`; LOG_FORMAT=json
writes one JSON object a line: ts (UTC, ISO 8601), level, logger, msg, request_id, and exc (the
traceback) when there is one. Either way the masking filter (core.masking) runs first, and the
JSON path masks the traceback too.

Every HTTP request gets an id (`RequestIdMiddleware`): the X-Request-ID a trusted proxy
(FORWARDED_ALLOW_IPS) sent, if it looks like an id, else a new one. It is echoed in the
response's X-Request-ID header and carried into every log record written while the request is
handled (a contextvar; FastAPI's thread pool copies it into sync routes).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from core.config import get_settings
from core.masking import mask_text

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
HEADER = b"x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")  # what a proxy's id looks like (uuid, hex ...)


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            entry["exc"] = mask_text(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = mask_text(record.exc_text)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def _trusted(ip: str) -> bool:
    allowed = [a.strip() for a in get_settings().forwarded_allow_ips.split(",") if a.strip()]
    if "*" in allowed:
        return True
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _header(scope: Scope, wanted: bytes) -> str:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return bytes(value).decode("latin-1")
    return ""


def from_trusted_proxy(scope: Scope) -> bool:
    """The request came through a proxy of FORWARDED_ALLOW_IPS: its peer is one (proxy headers
    off), or uvicorn believed its X-Forwarded-For (proxy headers on: the client then is the
    right-most address of that header that is not a trusted proxy)."""
    client = scope.get("client")
    ip = str(client[0]) if client else ""
    if _trusted(ip):
        return True
    forwarded = [h.strip() for h in _header(scope, b"x-forwarded-for").split(",") if h.strip()]
    if not forwarded or not get_settings().forwarded_allow_ips.strip():
        return False
    untrusted = [h for h in forwarded if not _trusted(h)]
    return bool(untrusted) and untrusted[-1] == ip


def request_id_for(scope: Scope) -> str:
    given = _header(scope, HEADER).strip()
    if given and _VALID_ID.match(given) and from_trusted_proxy(scope):
        return given
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_for(scope)
        token = REQUEST_ID.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message["headers"] = [*headers, (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
