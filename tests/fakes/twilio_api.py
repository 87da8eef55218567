"""A local fake of Twilio's REST API, driven by the real twilio client (loopback only), at least
as strict as the real platform for what spibot uses.

Contract read from twilio/twilio-oai (spec/json/twilio_api_v2010.json, twilio_content_v1.json)
and the error pages https://www.twilio.com/docs/api/errors/NNNNN:

* Messages create/fetch/list (2010-04-01). The create call refuses, with Twilio's code and
  `{"code", "message", "more_info", "status"}` body, what Twilio refuses synchronously: bad
  account SID or credentials, To/From not `whatsapp:+E.164`, no Body/ContentSid, an unknown or
  malformed ContentSid, invalid ContentVariables. What WhatsApp refuses (template not approved,
  outside the 24-hour window, messaging limit, marketing limits, experiments) is accepted with
  201 "queued" and FAILS afterwards (status "failed" + error_code, and a status callback), as on
  the real platform.
* Content API v1: create, fetch, list, delete, and the WhatsApp approval request/fetch.

Test knobs: `set_faults` (429 / 500 / "timeout": the message IS created, the answer comes too
late), `reject[number] = code` (a synchronous refusal of one recipient), `add_content`,
`set_template_status`, `inbound`, `messaging_limit`, `marketing_limited`, `experiment_numbers`,
`fail_share`, `callbacks` / `deliver_callbacks` / `auto_callbacks`. Time comes from `clock`.
With `record_requests`, every create call (`requests`: its arrival time, To, injected fault) and
every look-up (`lookups`: a Messages list call) is kept, for tests that count requests per
recipient or the most requests in any 1-second window (`max_in_window`); a fake in another process
serves them at `/_fake/requests` (`fetch_requests`).

Run standalone (benchmarks, other processes): `python -m tests.fakes.twilio_api --port 8765`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from aiohttp import ClientSession, ClientTimeout, web

ERRORS = {  # injected faults
    "429": (429, 20429, "Too Many Requests"),
    "500": (500, 20500, "Internal Server Error"),
}
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")  # spec: AccountSid path parameter
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")  # spec: ContentSid
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")  # WhatsApp template names
PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
CATEGORIES = ("UTILITY", "MARKETING", "AUTHENTICATION")
TEMPLATE_STATUSES = ("unsubmitted", "received", "pending", "approved", "rejected", "paused", "disabled")
CONTENT_TYPES = (  # spec: components.schemas.types
    "twilio/text", "twilio/media", "twilio/location", "twilio/list-picker", "twilio/call-to-action",
    "twilio/quick-reply", "twilio/card", "twilio/catalog", "twilio/carousel", "twilio/flows",
    "twilio/schedule", "whatsapp/card", "whatsapp/authentication", "whatsapp/flows",
)
WINDOW = timedelta(hours=24)  # customer service window and messaging-limit window
DEFAULT_AUTH_TOKEN = "test-auth-token"  # noqa: S105 - the tests' TWILIO_AUTH_TOKEN
FAILURE_TEXT = {  # error_message of asynchronous failures (Twilio's error titles)
    63016: "Failed to send freeform message because you are outside the allowed window. "
           "If you are using WhatsApp, please use a Message Template.",
    63018: "Rate limit exceeded for Channel",
    63027: "Template does not exist for a language and locale",
    63028: "Number of parameters provided does not match the expected number of parameters",
    63032: "User's number is part of an experiment",
    63049: "Meta chose not to deliver this WhatsApp marketing message",
}


class Refused(Exception):
    """A synchronous refusal: the HTTP status, Twilio's error code and its message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def utcnow() -> datetime:
    return datetime.now(UTC)


def _number(address: str) -> str:
    return address.removeprefix("whatsapp:")


def _is_e164(number: str) -> bool:
    """E.164 and a number that can exist (Twilio answers 21211 for one that cannot)."""
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", number):
        return False
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return False


class FakeTwilio:
    def __init__(self, *, seed: int = 0, timeout_delay: float = 1.5, record_requests: bool = True,
                 clock: Callable[[], datetime] = utcnow, auth_token: str = DEFAULT_AUTH_TOKEN) -> None:
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.lookups: list[dict[str, Any]] = []  # Messages list calls (reconcile's look-ups)
        self.contents: list[dict[str, Any]] = []  # created through POST /v1/Content
        self.templates: dict[str, dict[str, Any]] = {}  # the content store, by SID
        self.faults: dict[str, float] = {"429": 0.0, "500": 0.0, "timeout": 0.0}
        self.reject: dict[str, int] = {}  # E.164 number -> Twilio error code (synchronous)
        self.senders: set[str] | None = None  # the account's WhatsApp senders; None: any
        self.messaging_limit: int | None = None  # unique business-initiated users / rolling 24 h
        self.marketing_limited = 0.0  # share of users Meta holds MARKETING templates back from
        self.experiment_numbers: set[str] = set()  # users in a Meta marketing experiment
        self.auto_callbacks = False
        self.callback_errors: list[str] = []
        self.warnings: list[str] = []
        self.clock = clock
        self.auth_token = auth_token
        self.timeout_delay = timeout_delay
        self.record_requests = record_requests
        self._seed = seed
        self._rng = random.Random(seed)
        self._fail_shares: dict[int, float] = {}
        self._inbound: dict[str, datetime] = {}
        self._by_sid: dict[str, dict[str, Any]] = {}
        self._by_to: dict[str, list[dict[str, Any]]] = {}  # look-ups by To without a full scan
        self._callbacks: list[tuple[str, dict[str, str]]] = []
        self._delivered = 0  # callbacks before this index were delivered
        self._lock = threading.RLock()
        self._http: ClientSession | None = None
        self._pump: asyncio.Task[None] | None = None
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- helpers for tests ----------------------------------------------------------------------

    def set_faults(self, *, rate_limited: float = 0.0, server_error: float = 0.0, timeout: float = 0.0) -> None:
        self.faults = {"429": rate_limited, "500": server_error, "timeout": timeout}

    def fail_share(self, code: int, share: float) -> None:
        """Fail this share of (otherwise accepted) template messages, asynchronously, with `code`."""
        with self._lock:
            self._fail_shares[int(code)] = share

    def to(self, number: str) -> list[dict[str, Any]]:
        target = number if number.startswith("whatsapp:") else f"whatsapp:{number}"
        return [m for m in self.messages if m["To"] == target]

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        with self._lock:
            msg = self._by_sid[sid]
            self._apply(msg, status, error_code)
        self._kick_threadsafe()

    def inbound(self, number: str, at: datetime | None = None) -> None:
        """The user wrote to the business: their 24-hour customer service window opens."""
        with self._lock:
            self._inbound[_number(number)] = at or self.clock()

    def add_content(self, name: str = "spi_template", category: str = "UTILITY", status: str = "approved", *,
                    types: dict[str, Any] | None = None, variables: dict[str, str] | None = None,
                    language: str = "id", sid: str | None = None, account_sid: str | None = None) -> str:
        """Register a template directly (as if created and reviewed in the Console); its SID."""
        if status not in TEMPLATE_STATUSES or category not in CATEGORIES or not TEMPLATE_NAME.match(name):
            raise ValueError(f"bad template: {name!r} {category!r} {status!r}")
        sid = sid or "HX" + uuid.uuid4().hex
        if not CONTENT_SID.match(sid):
            raise ValueError(f"not a Content SID: {sid!r}")
        record = self._new_content(sid, account_sid, {
            "friendly_name": name, "language": language, "variables": variables or {},
            "types": types or {"twilio/text": {"body": name}}})
        if status != "unsubmitted":
            record["whatsapp"] = {"name": name, "category": category, "status": status,
                                  "rejection_reason": "", "allow_category_change": True}
        return sid

    def set_template_status(self, sid: str, status: str, category: str | None = None,
                            rejection_reason: str = "") -> None:
        """What WhatsApp's review (or quality checks) did to a template: approve, pause, re-categorise."""
        if status not in TEMPLATE_STATUSES or (category is not None and category not in CATEGORIES):
            raise ValueError(f"bad status or category: {status!r} {category!r}")
        with self._lock:
            record = self.templates[sid]
            wa = record["whatsapp"] or {"name": record["friendly_name"] or "template", "category": "UTILITY",
                                        "allow_category_change": True}
            wa.update(status=status, rejection_reason=rejection_reason)
            if category is not None:
                wa["category"] = category
            record["whatsapp"] = wa
            record["date_updated"] = self.clock()

    def reached_unique(self, window_end: datetime | None = None) -> int:
        """Distinct recipients of accepted template messages in the 24 h ending at `window_end`."""
        end = window_end or self.clock()
        return len(self._unique_between(end - WINDOW, end))

    def max_unique_in_any_24h(self, *, business_initiated_only: bool = False) -> int:
        """The most distinct recipients of accepted (not failed) template messages in any rolling
        24-hour window (optionally only those sent outside the user's service window)."""
        events = sorted((m["created"], m["To"]) for m in self._template_messages(business_initiated_only))
        best, left, inside = 0, 0, Counter[str]()
        for at, to in events:
            inside[to] += 1
            while events[left][0] <= at - WINDOW:
                inside[events[left][1]] -= 1
                if not inside[events[left][1]]:
                    del inside[events[left][1]]
                left += 1
            best = max(best, len(inside))
        return best

    # --- callbacks ------------------------------------------------------------------------------

    def callbacks(self) -> list[tuple[str, dict[str, str]]]:
        """Every status callback the fake would POST (delivered or not), in order."""
        with self._lock:
            return [(url, dict(params)) for url, params in self._callbacks]

    def deliver_callbacks(self, post: Callable[[str, dict[str, str]], object]) -> int:
        """Hand each callback not yet delivered to `post(url, params)`, in order; how many."""
        count = 0
        while (item := self._next_callback()) is not None:
            post(*item)
            count += 1
        return count

    def signature(self, url: str, params: dict[str, str]) -> str:
        from twilio.request_validator import RequestValidator

        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def _next_callback(self) -> tuple[str, dict[str, str]] | None:
        with self._lock:
            if self._delivered >= len(self._callbacks):
                return None
            url, params = self._callbacks[self._delivered]
            self._delivered += 1
            return url, dict(params)

    def _kick(self) -> None:
        """In the fake's loop: POST pending callbacks (one pump, so they leave in order)."""
        if self.auto_callbacks and (self._pump is None or self._pump.done()):
            self._pump = asyncio.get_running_loop().create_task(self._post_pending())

    def _kick_threadsafe(self) -> None:
        if self.auto_callbacks and self._loop is not None:
            self._loop.call_soon_threadsafe(self._kick)

    async def _post_pending(self) -> None:
        if self._http is None:
            self._http = ClientSession(timeout=ClientTimeout(total=10))
        while (item := self._next_callback()) is not None:
            url, params = item
            try:
                async with self._http.post(url, data=params,
                                           headers={"X-Twilio-Signature": self.signature(url, params)}) as resp:
                    if resp.status >= 400:
                        self.callback_errors.append(f"{url}: HTTP {resp.status}")
            except Exception as exc:  # recorded for the test to see
                self.callback_errors.append(f"{url}: {type(exc).__name__}: {exc}")

    # --- the rules: what happens to an accepted message -------------------------------------------

    def _template_messages(self, business_initiated_only: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m["ContentSid"] and m["status"] != "failed"
                    and (m["business_initiated"] or not business_initiated_only)]

    def _unique_between(self, start: datetime, end: datetime, business_initiated_only: bool = False) -> set[str]:
        return {m["To"] for m in self._template_messages(business_initiated_only) if start < m["created"] <= end}

    def _in_window(self, number: str, now: datetime) -> bool:
        last = self._inbound.get(number)
        return last is not None and last <= now < last + WINDOW

    def _share(self, number: str, share: float) -> bool:
        """Deterministic per user: a user Meta limits stays limited."""
        digest = hashlib.sha256(f"{self._seed}:{number}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < share

    def _drawn_failure(self) -> int | None:
        if not self._fail_shares:
            return None
        r, edge = self._rng.random(), 0.0
        for code, share in self._fail_shares.items():
            edge += share
            if r < edge:
                return code
        return None

    def _outcome(self, msg: dict[str, Any], now: datetime) -> int | None:
        """The error code WhatsApp fails this message with, or None (delivered)."""
        number = _number(msg["To"])
        in_window = self._in_window(number, now)
        if not msg["ContentSid"]:
            return None if in_window else 63016
        record = self.templates[msg["ContentSid"]]
        wa = record["whatsapp"] or {"status": "unsubmitted", "category": None}
        msg["category"] = wa["category"]
        # Meta: a paused or disabled template "can't be sent to customers ... the API will reject
        # these attempts" (developers.facebook.com/docs/whatsapp/business-management-api/
        # message-templates/template-pausing), not charged, not counted against the limit. Twilio
        # reports an unusable template as 63027 "Template does not exist for a language and locale".
        if wa["status"] in ("paused", "disabled"):
            return 63027
        # Not (yet) approved: Twilio sends the content as a free-form session message, so outside
        # the 24-hour window it fails with 63016 ("business-initiated messages sent outside the
        # 24-hour customer service window must use an approved template").
        if wa["status"] != "approved":
            return None if in_window else 63016
        if self._variables_mismatch(record, msg["ContentVariables"]):
            return 63028
        if wa["category"] == "MARKETING" and not in_window:
            if number in self.experiment_numbers:
                return 63032  # Meta experiment: marketing templates held back outside a conversation
            if self._share(number, self.marketing_limited):
                return 63049  # Meta's per-user marketing limit
        if not in_window and self.messaging_limit is not None:
            # Messaging limit: unique users reached by business-initiated templates in a rolling
            # 24 h, shared by all senders of the business portfolio (error 63018).
            recent = self._unique_between(now - WINDOW, now, business_initiated_only=True)
            if msg["To"] not in recent and len(recent) >= self.messaging_limit:
                return 63018
        msg["business_initiated"] = not in_window
        return self._drawn_failure()

    @staticmethod
    def _variables_mismatch(record: dict[str, Any], raw: str | None) -> bool:
        """63028: keys the template has no placeholder for, or a placeholder with no value and no
        default. Only checked for templates that have placeholders."""
        placeholders = record["placeholders"]
        if not placeholders:
            return False
        given = set(json.loads(raw)) if raw else set()
        defaults = set(record["variables"] or {})
        return bool(given - placeholders) or bool(placeholders - given - defaults)

    def _apply(self, msg: dict[str, Any], status: str, error_code: int | None) -> None:
        now = self.clock()
        msg.update(status=status, error_code=error_code, date_updated=now,
                   error_message=FAILURE_TEXT.get(error_code or 0, f"Message failed ({error_code})")
                   if error_code else None)
        if status in ("sent", "delivered", "read") and msg.get("date_sent") is None:
            msg["date_sent"] = now
        if msg["StatusCallback"]:
            params = {"MessageSid": msg["sid"], "SmsSid": msg["sid"], "MessageStatus": status,
                      "SmsStatus": status, "AccountSid": msg["account"], "From": msg["From"], "To": msg["To"],
                      "ApiVersion": "2010-04-01", "ChannelPrefix": "whatsapp"}
            if error_code:
                params["ErrorCode"] = str(error_code)
            self._callbacks.append((msg["StatusCallback"], params))

    def _settle(self, msg: dict[str, Any]) -> None:
        """Decide what WhatsApp does with an accepted message (immediately: the clock is the
        creation time): failed with a code, or sent then delivered."""
        with self._lock:
            code = self._outcome(msg, msg["created"])
            self.messages.append(msg)
            self._by_sid[msg["sid"]] = msg
            self._by_to.setdefault(msg["To"], []).append(msg)
            if code is None:
                self._apply(msg, "sent", None)
                self._apply(msg, "delivered", None)
            else:
                msg["business_initiated"] = False
                self._apply(msg, "failed", code)

    # --- the app ----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._refusals])
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self.create_message)
        app.router.add_get("/2010-04-01/Accounts/{account}/Messages.json", self.list_messages)
        app.router.add_get("/2010-04-01/Accounts/{account}/Messages/{sid}.json", self.fetch_message)
        app.router.add_post("/v1/Content", self.create_content)
        app.router.add_get("/v1/Content", self.list_contents)
        app.router.add_get("/v1/Content/{sid}", self.fetch_content)
        app.router.add_delete("/v1/Content/{sid}", self.delete_content)
        app.router.add_post("/v1/Content/{sid}/ApprovalRequests/whatsapp", self.create_approval)
        app.router.add_get("/v1/Content/{sid}/ApprovalRequests", self.fetch_approval)
        app.router.add_get("/_fake/messages", self.dump_messages)  # for tests in other processes
        app.router.add_get("/_fake/requests", self.dump_requests)
        app.router.add_post("/_fake/faults", self.post_faults)
        app.router.add_post("/_fake/contents", self.post_content)
        return app

    async def dump_messages(self, request: web.Request) -> web.Response:
        keys = ("sid", "To", "From", "Body", "ContentSid", "ContentVariables", "at", "status", "error_code")
        return web.json_response([{k: m.get(k) for k in keys} for m in self.messages])

    async def dump_requests(self, request: web.Request) -> web.Response:
        """Create calls (arrival time, To, fault) and look-ups (To, time), as recorded."""
        return web.json_response({
            "requests": [{"To": r["params"].get("To"), "fault": r["fault"], "at": r["at"]} for r in self.requests],
            "lookups": list(self.lookups)})

    async def post_faults(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.set_faults(**body)
        return web.json_response(self.faults)

    async def post_content(self, request: web.Request) -> web.Response:
        return web.json_response({"sid": self.add_content(**await request.json())})

    def _fault(self) -> str | None:
        with self._lock:
            r = self._rng.random()
        edge = 0.0
        for name, share in self.faults.items():
            edge += share
            if r < edge:
                return name
        return None

    @web.middleware
    async def _refusals(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """A request the real API refuses (`Refused` raised anywhere in a handler) gets Twilio's
        error body."""
        try:
            return await handler(request)
        except Refused as exc:
            return self._error(exc.status, exc.code, exc.message)

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status}
        return web.json_response(body, status=status)

    def _account(self, request: web.Request, path_account: str | None = None) -> str:
        """The authenticated account (HTTP basic: account SID and auth token), else Refused."""
        if path_account is not None and not ACCOUNT_SID.match(path_account):
            raise Refused(404, 20404, f"The requested resource {request.path} was not found")
        user, password = "", ""
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                pass
        if not ACCOUNT_SID.match(user) or password != self.auth_token or path_account not in (None, user):
            raise Refused(401, 20003, "Authenticate")
        return user

    # --- messages ---------------------------------------------------------------------------------

    def _json(self, msg: dict[str, Any]) -> dict[str, Any]:
        def date(value: datetime | None) -> str | None:
            return format_datetime(value, usegmt=True) if value else None

        return {
            "sid": msg["sid"], "account_sid": msg["account"], "to": msg["To"], "from": msg["From"],
            "body": msg["rendered"], "status": msg["status"], "error_code": msg.get("error_code"),
            "error_message": msg.get("error_message"), "direction": "outbound-api", "num_segments": "1",
            "num_media": "0", "date_created": date(msg["created"]),
            "date_updated": date(msg.get("date_updated") or msg["created"]), "date_sent": date(msg.get("date_sent")),
            "api_version": "2010-04-01", "price": None, "price_unit": "USD", "messaging_service_sid": None,
            "uri": f"/2010-04-01/Accounts/{msg['account']}/Messages/{msg['sid']}.json", "subresource_uris": {},
        }

    def _check_addresses(self, form: dict[str, str]) -> None:
        to, sender = form.get("To", ""), form.get("From", "")
        if not to:
            raise Refused(400, 21604, "A 'To' phone number is required.")
        if not (to.startswith("whatsapp:") or to.startswith("+")) or not _is_e164(_number(to)):
            raise Refused(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not sender:
            raise Refused(400, 21603, "A 'From' phone number is required.")
        if not (sender.startswith("whatsapp:") or sender.startswith("+")) or not _is_e164(_number(sender)):
            raise Refused(400, 21212, f"The 'From' number {sender} is not a valid phone number, shortcode, "
                                      "or alphanumeric sender ID.")
        if to.startswith("whatsapp:") != sender.startswith("whatsapp:"):
            raise Refused(400, 21910, "Invalid From and To pair. From and To should be of the same channel")
        if not to.startswith("whatsapp:"):  # this fake speaks WhatsApp only
            raise Refused(400, 21606, "The 'From' phone number provided is not a valid message-capable "
                                      "Twilio phone number for this destination.")
        if _number(to) == _number(sender):
            raise Refused(400, 21211, f"Invalid 'To' Phone Number: {to} (the sender itself)")
        if self.senders is not None and sender not in self.senders:
            raise Refused(400, 63007, "Twilio could not find a Channel with the specified From address")
        callback = form.get("StatusCallback")
        if callback is not None:
            parts = urlsplit(callback)
            if parts.scheme not in ("http", "https") or not parts.hostname or "_" in parts.hostname:
                raise Refused(400, 21609, f"Invalid StatusCallback url: {callback}")

    def _check_content(self, account: str, form: dict[str, str]) -> None:
        body, sid, raw = form.get("Body"), form.get("ContentSid"), form.get("ContentVariables")
        if raw is not None and not sid:
            raise Refused(400, 21654, "ContentSid Required")
        if not sid and not body and not form.get("MediaUrl"):
            raise Refused(400, 21619, "A text message body or media url must be specified.")
        if body and len(body) > 1600:
            raise Refused(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if not sid:
            return
        record = self.templates.get(sid) if CONTENT_SID.match(sid) else None
        if record is None or record["account_sid"] not in (None, account):
            raise Refused(400, 21655, "The ContentSid is Invalid")
        if body:
            # "Body and MediaUrl should be excluded ... They are both superseded by the ContentSid"
            # (twilio.com/docs/content-api/send-templates-created-with-content-api): accepted,
            # the Body is ignored.
            self.warnings.append(f"Body ignored: ContentSid {sid} supersedes it")
        if raw is not None:
            self._check_variables(raw)

    @staticmethod
    def _check_variables(raw: str) -> None:
        """21656 (twilio.com/docs/api/errors/21656): a JSON object of at most 100 pairs whose values
        are non-empty strings without newline, tab or more than four consecutive spaces; 21658:
        a value longer than 1,600 characters."""
        try:
            values = json.loads(raw)
        except ValueError:
            raise Refused(400, 21656, "The ContentVariables Parameter is invalid") from None
        if not isinstance(values, dict) or len(values) > 100:
            raise Refused(400, 21656, "The ContentVariables Parameter is invalid")
        for key, value in values.items():
            if not isinstance(value, str) or not value.strip() or re.search(r"[\n\t]| {5,}", value):
                raise Refused(400, 21656, f"The ContentVariables Parameter is invalid: {key!r}={value!r}")
            if len(value) > 1600:
                raise Refused(400, 21658, f"Parameter exceeded character limit: {key!r}")

    def _render(self, form: dict[str, str]) -> str:
        sid = form.get("ContentSid")
        if not sid:
            return form.get("Body", "")
        record = self.templates[sid]
        values = {**(record["variables"] or {}), **json.loads(form.get("ContentVariables") or "{}")}
        text = next((t["body"] for t in record["types"].values() if isinstance(t, dict) and "body" in t), "")
        return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), str(text))

    async def create_message(self, request: web.Request) -> web.Response:
        arrived = time.time()  # before reading the body: the request's arrival
        form = {k: str(v) for k, v in (await request.post()).items()}
        fault = self._fault()
        if self.record_requests:
            self.requests.append({"method": "POST", "path": request.path, "params": form,
                                  "fault": fault, "at": arrived})
        if fault in ERRORS:
            return self._error(*ERRORS[fault])
        account = self._account(request, request.match_info["account"])
        self._check_addresses(form)
        self._check_content(account, form)
        code = self.reject.get(_number(form["To"]))
        if code is not None:
            return self._error(400, code, f"Message rejected ({code})")
        msg = {
            "sid": "SM" + uuid.uuid4().hex, "account": account, "To": form["To"], "From": form["From"],
            "Body": form.get("Body"), "ContentSid": form.get("ContentSid"),
            "ContentVariables": form.get("ContentVariables"), "StatusCallback": form.get("StatusCallback"),
            "status": "queued", "created": self.clock(), "at": time.time(), "rendered": self._render(form),
            "business_initiated": False, "category": None,
        }
        answer = self._json(msg)  # what the create call answers: "queued"
        self._settle(msg)
        self._kick()
        if fault == "timeout":  # created, but the answer never arrives in time
            await asyncio.sleep(self.timeout_delay)
        return web.json_response(answer, status=201)

    async def fetch_message(self, request: web.Request) -> web.Response:
        account = self._account(request, request.match_info["account"])
        msg = self._by_sid.get(request.match_info["sid"])
        if msg is None or msg["account"] != account:
            return self._error(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response(self._json(msg))

    async def list_messages(self, request: web.Request) -> web.Response:
        account = self._account(request, request.match_info["account"])
        q = request.query
        if self.record_requests:
            self.lookups.append({"To": q.get("To"), "From": q.get("From"), "at": time.time()})
        pool = self._by_to.get(q["To"], []) if "To" in q else self.messages
        found = [m for m in reversed(pool) if m["account"] == account
                 and ("To" not in q or m["To"] == q["To"]) and ("From" not in q or m["From"] == q["From"])]
        for key, keep in (("DateSent>", lambda at, floor: at >= floor), ("DateSent<", lambda at, top: at <= top)):
            if key in q:
                bound = datetime.fromisoformat(q[key].replace("Z", "+00:00"))
                found = [m for m in found if keep(m["created"], bound)]
        size = int(q.get("PageSize", "50"))
        uri = request.path
        return web.json_response({
            "messages": [self._json(m) for m in found[:size]], "first_page_uri": uri,
            "next_page_uri": None, "previous_page_uri": None, "page": 0, "page_size": size,
            "start": 0, "end": max(0, min(size, len(found)) - 1), "uri": uri,
        })

    # --- content ----------------------------------------------------------------------------------

    def _new_content(self, sid: str, account: str | None, body: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        types = {k: v for k, v in (body.get("types") or {}).items() if v is not None}
        record = {"sid": sid, "account_sid": account, "friendly_name": body.get("friendly_name") or "",
                  "language": body["language"], "variables": body.get("variables") or {}, "types": types,
                  "date_created": now, "date_updated": now, "whatsapp": None,
                  "placeholders": set(PLACEHOLDER.findall(json.dumps(types, ensure_ascii=False)))}
        with self._lock:
            self.templates[sid] = record
        return record

    def _content_json(self, record: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.url}/v1/Content/{record['sid']}"
        return {
            "sid": record["sid"], "account_sid": record["account_sid"], "friendly_name": record["friendly_name"],
            "language": record["language"], "variables": record["variables"], "types": record["types"],
            "url": url, "links": {"approval_create": f"{url}/ApprovalRequests/whatsapp",
                                  "approval_fetch": f"{url}/ApprovalRequests"},
            "date_created": record["date_created"].isoformat().replace("+00:00", "Z"),
            "date_updated": record["date_updated"].isoformat().replace("+00:00", "Z"),
        }

    def _approval_json(self, record: dict[str, Any]) -> dict[str, Any]:
        wa = record["whatsapp"] or {"name": "", "category": "", "status": "unsubmitted", "rejection_reason": "",
                                    "allow_category_change": True}
        return {"name": wa["name"], "category": wa["category"], "content_type": next(iter(record["types"]), None),
                "status": wa["status"], "rejection_reason": wa.get("rejection_reason", ""),
                "allow_category_change": wa.get("allow_category_change", True)}

    def _owned(self, request: web.Request) -> dict[str, Any]:
        account = self._account(request)
        record = self.templates.get(request.match_info["sid"])
        if record is None or record["account_sid"] not in (None, account):
            raise Refused(404, 20404, f"The requested resource {request.path} was not found")
        return record

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise Refused(400, 70002, "Bad request: the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise Refused(400, 70002, "Bad request: a JSON object is expected")
        return body

    @staticmethod
    def _check_definition(body: dict[str, Any]) -> None:
        """ContentCreateRequest (spec): `language` and `types` required, `variables` string values."""
        types = {k: v for k, v in (body.get("types") or {}).items() if v is not None}
        if not isinstance(body.get("language"), str) or not body["language"] or not types:
            raise Refused(400, 70002, "Bad request: language and types are required")
        if any(k not in CONTENT_TYPES or not isinstance(v, dict) for k, v in types.items()):
            raise Refused(400, 70002, "Bad request: unknown content type")
        if "twilio/text" in types and not isinstance(types["twilio/text"].get("body"), str):
            raise Refused(400, 70002, "Bad request: twilio/text needs a body")
        variables = body.get("variables") or {}
        if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
            raise Refused(400, 70002, "Bad request: variables must map names to strings")

    async def create_content(self, request: web.Request) -> web.Response:
        account = self._account(request)
        body = await self._json_body(request)
        self._check_definition(body)
        record = self._new_content("HX" + uuid.uuid4().hex, account, body)
        self.contents.append({**body, "sid": record["sid"]})
        return web.json_response(self._content_json(record), status=201)

    async def list_contents(self, request: web.Request) -> web.Response:
        account = self._account(request)
        found = [self._content_json(r) for r in self.templates.values() if r["account_sid"] in (None, account)]
        url = f"{self.url}/v1/Content"
        return web.json_response({"contents": found, "meta": {
            "page": 0, "page_size": len(found), "first_page_url": url, "previous_page_url": None,
            "url": url, "next_page_url": None, "key": "contents"}})

    async def fetch_content(self, request: web.Request) -> web.Response:
        return web.json_response(self._content_json(self._owned(request)))

    async def delete_content(self, request: web.Request) -> web.Response:
        record = self._owned(request)
        with self._lock:
            del self.templates[record["sid"]]
        return web.Response(status=204)

    async def create_approval(self, request: web.Request) -> web.Response:
        """POST /v1/Content/{sid}/ApprovalRequests/whatsapp: submit for WhatsApp review."""
        record = self._owned(request)
        body = await self._json_body(request)
        name, category = body.get("name"), body.get("category")
        if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
            raise Refused(400, 70002, "Bad request: name must be lowercase letters, digits and underscores")
        if category not in CATEGORIES:
            raise Refused(400, 70002, f"Bad request: category must be one of {', '.join(CATEGORIES)}")
        if record["whatsapp"] and record["whatsapp"]["status"] not in ("unsubmitted", "rejected"):
            # Resubmitting a template under review or approved is refused (the code is the
            # fake's choice: Twilio does not document one).
            raise Refused(400, 70002, "Bad request: an approval request already exists for this content")
        with self._lock:
            record["whatsapp"] = {"name": name, "category": category, "status": "received", "rejection_reason": "",
                                  "allow_category_change": True}
        return web.json_response(self._approval_json(record), status=201)

    async def fetch_approval(self, request: web.Request) -> web.Response:
        """GET /v1/Content/{sid}/ApprovalRequests: the WhatsApp approval of one content."""
        record = self._owned(request)
        return web.json_response({
            "sid": record["sid"], "account_sid": record["account_sid"],
            "whatsapp": {"type": "whatsapp", **self._approval_json(record)},
            "url": f"{self.url}/v1/Content/{record['sid']}/ApprovalRequests"})

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.1)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", port)
            loop.run_until_complete(site.start())
            sock = site._server.sockets[0]  # type: ignore[union-attr]
            self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            ready.set()
            loop.run_forever()
            if self._http is not None:
                loop.run_until_complete(self._http.close())
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-twilio", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Twilio API did not start")
        return self.url

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any half-open window [t, t + window) of the given times."""
    ordered, best, left = sorted(times), 0, 0
    for right, at in enumerate(ordered):
        while ordered[left] <= at - window:
            left += 1
        best = max(best, right - left + 1)
    return best


def parse_date(value: str) -> datetime:
    return parsedate_to_datetime(value)


def start_process(port: int, *, auth_token: str = DEFAULT_AUTH_TOKEN,
                  record_requests: bool = False, timeout_delay: float | None = None) -> tuple[Any, str]:
    """The fake in its own process (so it does not share a GIL with the code under test)."""
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    extra = ["--record-requests"] if record_requests else []
    if timeout_delay is not None:
        extra += ["--timeout-delay", str(timeout_delay)]
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.twilio_api", "--port", str(port),
                             "--auth-token", auth_token, *extra], cwd=Path(__file__).resolve().parents[2])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/_fake/messages", timeout=1).read()  # noqa: S310 - loopback
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("fake Twilio process did not start") from None
            time.sleep(0.1)


def add_content_remote(url: str, name: str, category: str = "UTILITY", status: str = "approved") -> str:
    """`add_content` on a fake running in another process; the new Content SID."""
    import urllib.request

    data = json.dumps({"name": name, "category": category, "status": status}).encode()
    req = urllib.request.Request(f"{url}/_fake/contents", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        return str(json.loads(resp.read())["sid"])


def fetch_requests(url: str) -> dict[str, list[dict[str, Any]]]:
    """A fake in another process started with `record_requests`: its create calls and look-ups."""
    import urllib.request

    with urllib.request.urlopen(f"{url}/_fake/requests", timeout=60) as resp:  # noqa: S310 - loopback
        return dict(json.loads(resp.read()))


def fetch_messages(url: str) -> list[dict[str, Any]]:
    import urllib.request

    with urllib.request.urlopen(f"{url}/_fake/messages", timeout=60) as resp:  # noqa: S310 - loopback
        return list(json.loads(resp.read()))


def main() -> None:
    from tests import netguard

    netguard.install()
    parser = argparse.ArgumentParser(description="Fake Twilio API on loopback")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--record-requests", action="store_true", help="keep create calls and look-ups")
    parser.add_argument("--timeout-delay", type=float, default=1.5, help="how late an injected timeout answers")
    args = parser.parse_args()
    fake = FakeTwilio(record_requests=args.record_requests, auth_token=args.auth_token,
                      timeout_delay=args.timeout_delay)
    web.run_app(fake.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
