"""A local fake of Twilio's REST API, driven by the real twilio client (loopback only).

Messages create/fetch/list (2010-04-01 API) and Content API create. Records every request and
every accepted message; sends nothing anywhere. Fault injection: a share of requests answered 429
(code 20429), 500, or "timeout" (the message IS created, the answer comes too late: the dangerous
case for double sends); `reject[number] = code` refuses one recipient with that error code.

Run standalone (benchmarks, other processes): `python -m tests.fakes.twilio_api --port 8765`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from aiohttp import web

ERRORS = {
    "429": (429, 20429, "Too Many Requests"),
    "500": (500, 20500, "Internal Server Error"),
}


class FakeTwilio:
    def __init__(self, *, seed: int = 0, timeout_delay: float = 1.5, record_requests: bool = True) -> None:
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.contents: list[dict[str, Any]] = []
        self.faults: dict[str, float] = {"429": 0.0, "500": 0.0, "timeout": 0.0}
        self.reject: dict[str, int] = {}  # E.164 number -> Twilio error code
        self.timeout_delay = timeout_delay
        self.record_requests = record_requests
        self._rng = random.Random(seed)
        self._by_sid: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- helpers for tests ----------------------------------------------------------------------

    def set_faults(self, *, rate_limited: float = 0.0, server_error: float = 0.0, timeout: float = 0.0) -> None:
        self.faults = {"429": rate_limited, "500": server_error, "timeout": timeout}

    def to(self, number: str) -> list[dict[str, Any]]:
        target = number if number.startswith("whatsapp:") else f"whatsapp:{number}"
        return [m for m in self.messages if m["To"] == target]

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        self._by_sid[sid]["status"] = status
        self._by_sid[sid]["error_code"] = error_code

    # --- the app ----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self.create_message)
        app.router.add_get("/2010-04-01/Accounts/{account}/Messages.json", self.list_messages)
        app.router.add_get("/2010-04-01/Accounts/{account}/Messages/{sid}.json", self.fetch_message)
        app.router.add_post("/v1/Content", self.create_content)
        app.router.add_get("/_fake/messages", self.dump_messages)  # for tests in other processes
        app.router.add_post("/_fake/faults", self.post_faults)
        return app

    async def dump_messages(self, request: web.Request) -> web.Response:
        keys = ("sid", "To", "From", "Body", "ContentSid", "ContentVariables", "at")
        return web.json_response([{k: m.get(k) for k in keys} for m in self.messages])

    async def post_faults(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.set_faults(**body)
        return web.json_response(self.faults)

    def _fault(self) -> str | None:
        with self._lock:
            r = self._rng.random()
        edge = 0.0
        for name, share in self.faults.items():
            edge += share
            if r < edge:
                return name
        return None

    def _json(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {
            "sid": msg["sid"], "account_sid": msg["account"], "to": msg["To"], "from": msg["From"],
            "body": msg.get("Body") or "", "status": msg["status"], "error_code": msg.get("error_code"),
            "error_message": None, "direction": "outbound-api", "num_segments": "1", "num_media": "0",
            "date_created": format_datetime(msg["created"], usegmt=True),
            "date_updated": format_datetime(msg["created"], usegmt=True), "date_sent": None,
            "api_version": "2010-04-01", "price": None, "price_unit": "USD", "messaging_service_sid": None,
            "uri": f"/2010-04-01/Accounts/{msg['account']}/Messages/{msg['sid']}.json", "subresource_uris": {},
        }

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status}
        return web.json_response(body, status=status)

    async def create_message(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        fault = self._fault()
        if self.record_requests:
            self.requests.append({"method": "POST", "path": request.path, "params": form,
                                  "fault": fault, "at": time.time()})
        if fault in ERRORS:
            return self._error(*ERRORS[fault])
        to = str(form.get("To", ""))
        if not to.startswith("whatsapp:+"):
            return self._error(400, 21211, "The 'To' number is not a valid phone number.")
        code = self.reject.get(to.removeprefix("whatsapp:"))
        if code is not None:
            return self._error(400, code, f"Message rejected ({code})")
        if "Body" in form and "ContentSid" in form:
            return self._error(400, 21619, "Body and ContentSid are exclusive")
        msg = {
            "sid": "SM" + uuid.uuid4().hex, "account": request.match_info["account"],
            "To": to, "From": str(form.get("From", "")), "Body": form.get("Body"),
            "ContentSid": form.get("ContentSid"), "ContentVariables": form.get("ContentVariables"),
            "StatusCallback": form.get("StatusCallback"), "status": "queued",
            "created": datetime.now(UTC), "at": time.time(),
        }
        self.messages.append(msg)
        self._by_sid[msg["sid"]] = msg
        if fault == "timeout":  # created, but the answer never arrives in time
            await asyncio.sleep(self.timeout_delay)
        return web.json_response(self._json(msg), status=201)

    async def fetch_message(self, request: web.Request) -> web.Response:
        msg = self._by_sid.get(request.match_info["sid"])
        if msg is None:
            return self._error(404, 20404, "not found")
        return web.json_response(self._json(msg))

    async def list_messages(self, request: web.Request) -> web.Response:
        q = request.query
        found = [m for m in reversed(self.messages)
                 if ("To" not in q or m["To"] == q["To"]) and ("From" not in q or m["From"] == q["From"])]
        if "DateSent>" in q:
            floor = datetime.fromisoformat(q["DateSent>"].replace("Z", "+00:00"))
            found = [m for m in found if m["created"] >= floor]
        size = int(q.get("PageSize", "50"))
        uri = request.path
        return web.json_response({
            "messages": [self._json(m) for m in found[:size]], "first_page_uri": uri,
            "next_page_uri": None, "previous_page_uri": None, "page": 0, "page_size": size,
            "start": 0, "end": max(0, min(size, len(found)) - 1), "uri": uri,
        })

    async def create_content(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, 20001, "JSON body expected")
        sid = "HX" + uuid.uuid4().hex
        self.contents.append({**body, "sid": sid})
        return web.json_response({
            "sid": sid, "account_sid": "AC", "friendly_name": body.get("friendly_name"),
            "language": body.get("language"), "variables": body.get("variables"),
            "types": body.get("types"), "url": f"{self.url}/v1/Content/{sid}", "links": {},
            "date_created": None, "date_updated": None,
        }, status=201)

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


def parse_date(value: str) -> datetime:
    return parsedate_to_datetime(value)


def start_process(port: int) -> tuple[Any, str]:
    """The fake in its own process (so it does not share a GIL with the code under test)."""
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.twilio_api", "--port", str(port)],
                            cwd=Path(__file__).resolve().parents[2])
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


def fetch_messages(url: str) -> list[dict[str, Any]]:
    import urllib.request

    with urllib.request.urlopen(f"{url}/_fake/messages", timeout=60) as resp:  # noqa: S310 - loopback
        return list(json.loads(resp.read()))


def main() -> None:
    from tests import netguard

    netguard.install()
    parser = argparse.ArgumentParser(description="Fake Twilio API on loopback")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    fake = FakeTwilio(record_requests=False)
    web.run_app(fake.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
