"""/metrics (app.observability, core.metrics): who may scrape it, what it shows, that database
figures are cached, that processes sharing PROMETHEUS_MULTIPROC_DIR are summed, and that the
send counter gives the send rate the fake provider saw (issue 22: within 5%)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app import observability
from core.config import reset_settings
from core.metrics import JOB_RUNS, JOB_SECONDS, SENDS, timed_job
from dispatch.models import Lane, Outbox, Status
from dispatch.service import enqueue_invitations
from dispatch.worker import Worker
from tests.dispatch.helpers import campaign_with

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ("127.0.0.1", 40000)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the exposition `text` (labels must match exactly), or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0] if "{" not in line else line[:line.rindex("}")]))
        if line.startswith(name + " ") and labels:
            continue
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def app_client(db_url: str) -> Iterator[TestClient]:
    from web import create_app

    observability.reset_figures()
    yield TestClient(create_app(), client=LOCAL)
    observability.reset_figures()


def test_metrics_are_refused_to_strangers_and_proxied_requests(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves the guard: a non-allowed address, or a request relayed by the public proxy (even from
    loopback), gets 403; a direct loopback request and a bearer token get the figures."""
    from web import create_app

    monkeypatch.setenv("METRICS_TOKEN", "s3cret-token-for-scrapers")
    reset_settings()
    app = create_app()
    stranger = TestClient(app, client=("203.0.113.9", 5000))
    assert stranger.get("/metrics").status_code == 403
    assert stranger.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert stranger.get("/metrics", headers={"Authorization": "Bearer s3cret-token-for-scrapers"}).status_code == 200
    local = TestClient(app, client=LOCAL)
    assert local.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 403
    ok = local.get("/metrics")
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")


def test_metrics_show_outbox_depth_per_lane_state_and_sender(session: Session, app_client: TestClient) -> None:
    """Proves the grouped depth figure counts rows per lane/state/sender (settled rows excluded)."""
    campaign, _, _, _ = campaign_with(session, 5, email=False)
    enqueue_invitations(session, campaign.id)
    session.commit()
    rows = list(session.exec(select(Outbox).order_by(col(Outbox.id))))
    sender = rows[0].sender
    rows[0].status = Status.sent  # settled: not in the depth
    rows[1].status = Status.unknown
    session.commit()
    body = app_client.get("/metrics").text
    assert sample(body, "spibot_outbox_depth", lane="bulk", status="pending", channel="whatsapp", sender=sender) == 3
    assert sample(body, "spibot_outbox_depth", lane="bulk", status="unknown", channel="whatsapp", sender=sender) == 1
    assert sample(body, "spibot_outbox_depth", lane="bulk", status="sent", channel="whatsapp", sender=sender) is None
    assert sample(body, "spibot_sender_cap_per_second", channel="whatsapp", sender=sender) is not None
    assert sample(body, "spibot_db_pool_capacity") is not None  # the pools of this process were seen
    assert rows[0].lane == Lane.bulk


def test_database_figures_are_computed_once_per_ttl(session: Session, app_client: TestClient) -> None:
    """Proves scrapes do not load the database: 5 scrapes in a row compute the figures once; a new
    row shows only after the cache has expired."""
    campaign, _, _, _ = campaign_with(session, 2, email=False)
    for _ in range(5):
        assert app_client.get("/metrics").status_code == 200
    assert observability.figures().computed == 1
    enqueue_invitations(session, campaign.id)
    session.commit()
    assert "spibot_outbox_depth{" not in app_client.get("/metrics").text  # still the cached figures
    observability.figures().ttl = 0
    assert "spibot_outbox_depth{" in app_client.get("/metrics").text
    assert observability.figures().computed == 2


def test_scheduler_jobs_are_counted_and_timed() -> None:
    """Proves the scheduler wrapper counts ok and error runs per job and observes durations."""
    def job_sample_ok() -> int:
        return 1

    def job_sample_fails() -> int:
        raise RuntimeError("boom")

    ok, fails = timed_job(job_sample_ok), timed_job(job_sample_fails)
    assert ok() == 1 and ok() == 1
    with pytest.raises(RuntimeError):
        fails()
    assert JOB_RUNS.labels("job_sample_ok", "ok")._value.get() == 2
    assert JOB_RUNS.labels("job_sample_fails", "error")._value.get() == 1
    count = [s.value for m in JOB_SECONDS.collect() for s in m.samples
             if s.name.endswith("_count") and s.labels.get("job") == "job_sample_ok"]
    assert count == [2]


CHILD = """
import sys
from core.metrics import SENDS, exposition
if sys.argv[1] == "count":
    SENDS.labels("whatsapp", "whatsapp:+620000").inc(int(sys.argv[2]))
else:
    sys.stdout.write(exposition().decode())
"""


def test_processes_sharing_the_multiprocess_dir_are_summed(tmp_path: Path) -> None:
    """Proves the multiprocess mode: two processes count 3 and 4 sends, a third (the web worker
    answering the scrape) shows 7."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for n in ("3", "4"):
        subprocess.run([sys.executable, "-c", CHILD, "count", n], env=env, check=True, cwd=ROOT, timeout=60)
    out = subprocess.run([sys.executable, "-c", CHILD, "show"], env=env, check=True, cwd=ROOT, timeout=60,
                         capture_output=True, text=True).stdout
    assert sample(out, "spibot_sends_total", channel="whatsapp", sender="whatsapp:+620000") == 7


@pytest.mark.slow
def test_scraped_send_rate_matches_the_provider(session: Session, fake_twilio, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                app_client: TestClient) -> None:
    """Issue 22: /metrics scraped before and after a blast against the fake provider gives the
    send rate the provider counted, within 5% (the counter is incremented where the worker
    records each result, so a result recorded twice or not at all would show)."""
    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    monkeypatch.setenv("WHATSAPP_RATE_PER_SENDER", "100")
    reset_settings()
    campaign, _, _, _ = campaign_with(session, 300, email=False)
    enqueue_invitations(session, campaign.id)
    session.commit()

    def scraped() -> float:
        text = app_client.get("/metrics").text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("spibot_sends_total{") and 'channel="whatsapp"' in line)

    before, provider_before, t0 = scraped(), len(fake_twilio.messages), time.monotonic()
    stop = threading.Event()
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(
        __import__("asyncio").run(Worker().run(stop, until_idle=True, timeout=60))))
    thread.start()
    thread.join(timeout=90)
    elapsed = time.monotonic() - t0
    after, provider_after = scraped(), len(fake_twilio.messages)
    provider_rate = (provider_after - provider_before) / elapsed
    scraped_rate = (after - before) / elapsed
    assert provider_after - provider_before == 300, result
    assert abs(scraped_rate - provider_rate) <= 0.05 * provider_rate, (scraped_rate, provider_rate)
    sender = session.exec(select(Outbox.sender)).first()
    assert sender and SENDS.labels("whatsapp", sender)._value.get() >= 300


def test_the_dashboard_and_scrape_config_use_real_metric_names(session: Session, app_client: TestClient) -> None:
    """Proves deploy/grafana/spibot.json is valid JSON whose every spibot_* series is one /metrics
    declares (a renamed metric would leave a panel empty), with a panel per metric group."""
    import json

    dashboard = json.loads((ROOT / "deploy" / "grafana" / "spibot.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {re.sub(r"_(bucket|count|sum)$", "", n) for e in exprs for n in re.findall(r"spibot_[a-z0-9_]+", e)}
    declared = set(re.findall(r"^# TYPE (spibot_[a-z0-9_]+) ", app_client.get("/metrics").text, re.M))
    declared |= {n + "_total" for n in declared}  # counters: TYPE names the family, series add _total
    assert used and used <= declared, used - declared
    for group in ("spibot_outbox_depth", "spibot_sends_total", "spibot_send_errors_total",
                  "spibot_callback_lag_seconds",
                  "spibot_webhook_seconds", "spibot_bot_replies_total", "spibot_scheduler_job_runs_total",
                  "spibot_db_pool_checked_out", "spibot_sender_cap_per_second", "spibot_whatsapp_messaging_limit"):
        assert group in used, group
