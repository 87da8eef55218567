"""The web side of observability (docs/observability.md): `/metrics`, the request id, webhook
latency, and the host check that lets probes and scrapers in.

- `/metrics`: the process instruments of core.metrics (every process of this host in
  multiprocess mode) followed by figures read from the database at scrape time with a few
  grouped queries, recomputed at most every METRICS_CACHE_SECONDS whatever the scrape rate.
  Served to `Authorization: Bearer <METRICS_TOKEN>` (when set) or to a direct request (no
  X-Forwarded-For / Forwarded header: not relayed by the public proxy) from METRICS_ALLOW_IPS;
  anything else gets 403.
- `install(app)`: the request id (core.logs) on every request, and the latency histogram of the
  provider webhooks (`/twilio/inbound`, `/twilio/status`) measured around the whole request.
- `OpsHostCheck`: production's TrustedHostMiddleware, except for /healthz, /readyz and /metrics,
  which probes and Prometheus reach by an internal name (web:8000, 127.0.0.1).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from starlette.middleware.trustedhost import TrustedHostMiddleware

from core.clock import utcnow
from core.config import get_settings
from core.db import session_scope
from core.logs import RequestIdMiddleware
from core.metrics import CONTENT_TYPE, WEBHOOK_SECONDS, Cached, exposition
from dispatch.models import (
    Hold,
    OpsIncident,
    Outbox,
    RateBucket,
    Status,
    WhatsAppReach,
    WorkerHeartbeat,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
WEBHOOKS = {"/twilio/inbound": "inbound", "/twilio/status": "status"}
QUEUED = (Status.pending, Status.sending, Status.unknown)  # the outbox's depth: not settled yet

router = APIRouter()


# --- figures read from the database at scrape time ------------------------------------------------

def _t(model: Any) -> Any:
    return model.__table__


def database_figures() -> list[Any]:
    settings = get_settings()
    now = utcnow()
    t = _t(Outbox)
    depth = GaugeMetricFamily("spibot_outbox_depth", "Outbox rows not settled yet, per lane, state and sender.",
                              labels=["lane", "status", "channel", "sender"])
    oldest = GaugeMetricFamily("spibot_outbox_oldest_due_seconds",
                               "Age of the oldest pending row that is due, per lane.", labels=["lane"])
    cap = GaugeMetricFamily("spibot_sender_cap_per_second", "Configured send cap of each sender.",
                            labels=["channel", "sender"])
    factor = GaugeMetricFamily("spibot_sender_rate_factor", "Share of the cap a rate bucket uses now "
                               "(below 1 after the provider's 429s).", labels=["bucket"])
    limit = GaugeMetricFamily("spibot_whatsapp_messaging_limit",
                              "WhatsApp messaging limit: unique numbers per rolling 24 h (0: unlimited).")
    reached = GaugeMetricFamily("spibot_whatsapp_reached_24h",
                                "Unique numbers reached with templates in the last 24 h.")
    seen = GaugeMetricFamily("spibot_worker_last_seen_seconds", "Seconds since each dispatch worker's heartbeat.",
                             labels=["worker"])
    holds = GaugeMetricFamily("spibot_holds", "Holds (paused lanes) by scope.", labels=["scope"])
    incidents = GaugeMetricFamily("spibot_ops_incidents_open", "Open operational incidents (alerts) by kind.",
                                  labels=["kind"])
    oldest_due: dict[str, float] = {}
    with session_scope() as s:
        rows = s.execute(select(t.c.lane, t.c.status, t.c.channel, t.c.sender, func.count(),
                                func.min(t.c.next_attempt_at))
                         .where(t.c.status.in_(QUEUED)).group_by(t.c.lane, t.c.status, t.c.channel, t.c.sender)).all()
        for lane, status, channel, sender, count, first in rows:
            lane_name = "reply" if lane == 0 else "bulk"
            depth.add_metric([lane_name, status, channel, sender], count)
            if status == Status.pending and first is not None:
                age = (now - first).total_seconds()
                if age > 0:
                    oldest_due[lane_name] = max(oldest_due.get(lane_name, 0.0), age)
        for bucket, value in s.execute(select(_t(RateBucket).c.key, _t(RateBucket).c.factor)).all():
            factor.add_metric([bucket], value)
        reach = _t(WhatsAppReach)
        reached.add_metric([], s.execute(select(func.count()).select_from(reach)
                                         .where(reach.c.last_at > now - timedelta(hours=24))).scalar() or 0)
        beats = _t(WorkerHeartbeat)
        for worker, at in s.execute(select(beats.c.worker, beats.c.seen_at)).all():
            seen.add_metric([worker], max((now - at).total_seconds(), 0.0))
        h = _t(Hold)
        for scope, count in s.execute(select(h.c.scope, func.count()).group_by(h.c.scope)).all():
            holds.add_metric([scope], count)
        kinds: dict[str, int] = {}
        for key in s.execute(select(_t(OpsIncident).c.key)).scalars():
            kinds[key.split(":", 1)[0]] = kinds.get(key.split(":", 1)[0], 0) + 1
        for kind, count in kinds.items():
            incidents.add_metric([kind], count)
    for lane_name in ("reply", "bulk"):
        oldest.add_metric([lane_name], oldest_due.get(lane_name, 0.0))
    for sender in sorted({settings.whatsapp_sender_internal, settings.whatsapp_sender_external}):
        cap.add_metric(["whatsapp", sender], settings.whatsapp_rate_per_sender)
    cap.add_metric(["email", settings.email_from], settings.email_rate_per_server)
    limit.add_metric([], settings.whatsapp_daily_limit or 0)
    return [depth, oldest, cap, factor, limit, reached, seen, holds, incidents]


_figures: Cached | None = None


def figures() -> Cached:
    global _figures  # noqa: PLW0603 - one cache per process
    if _figures is None:
        _figures = Cached(database_figures, ttl=get_settings().metrics_cache_seconds)
    return _figures


def reset_figures() -> None:
    """Forget the cached figures (tests change the database and the settings)."""
    global _figures  # noqa: PLW0603
    _figures = None


# --- /metrics ---------------------------------------------------------------------------------------

def _in(ip: str, allowed: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in (a.strip() for a in allowed.split(",")):
        try:
            if entry and addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def scraper_allowed(request: Request, authorization: str | None) -> bool:
    settings = get_settings()
    token = settings.metrics_token
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    relayed = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    client = request.client.host if request.client else ""
    return not relayed and _in(client, settings.metrics_allow_ips)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
    if not scraper_allowed(request, authorization):
        return JSONResponse({"detail": "forbidden"}, status_code=403)
    return Response(exposition([figures()]), media_type=CONTENT_TYPE)


# --- middleware -------------------------------------------------------------------------------------

class WebhookTimer:
    """Observes each provider webhook's time from its arrival to the end of its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hook = WEBHOOKS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if hook is None:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        done = False

        async def timed_send(message: Message) -> None:
            nonlocal done
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False) and not done:
                done = True
                WEBHOOK_SECONDS.labels(hook).observe(time.perf_counter() - start)

        await self.app(scope, receive, timed_send)


class OpsHostCheck:
    """TrustedHostMiddleware for every path but OPS_PATHS (they reflect no host)."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        self.checked = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in OPS_PATHS:
            await self.app(scope, receive, send)
        else:
            await self.checked(scope, receive, send)


def install(app: Any) -> None:
    """The /metrics route, webhook timing and (outermost) the request id."""
    app.include_router(router)
    app.add_middleware(WebhookTimer)
    app.add_middleware(RequestIdMiddleware)
