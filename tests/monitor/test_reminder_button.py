"""A button that does nothing explains why (issue #20): on "Unit kerja", a unit whose reminder
would queue nobody shows "Kirim pengingat" disabled (no form to post) with the reason — everyone
answered, nothing sent yet, the campaign closed — while a unit with invited non-responders keeps a
working button; and the reason is true: pressing that unit's route queues 0. During quiet hours
the page says reminders wait until the end of them. World from conftest: unit i of institution
A has 5 sampled, i answered; its outbox rows cycle delivered/read/sent/failed."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.campaigns import close_campaign
from core.clock import utcnow
from core.config import reset_settings
from dispatch import Outbox
from tests.monitor.conftest import World, csrf_of, login


def button_of(page: str, unit_name: str) -> str:
    """The action cell of a unit's row (its first table)."""
    found = re.search(r"<td>" + re.escape(unit_name) + r"</td>.*?<td>(.*?)</td>\s*</tr>", page, re.S)
    assert found, unit_name
    return found.group(1)


@pytest.fixture(autouse=True)
def no_quiet_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    reset_settings()


def test_a_reminder_that_would_queue_nobody_is_disabled_with_its_reason(
        world: World, session: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    side = world.a
    names = [u.name for u in side.units]
    everyone = [a for a in side.assignments if a.unit_id == side.units[1].id]
    for a in everyone:  # unit 1: all answered
        a.responded_at = utcnow()
    not_sent = {a.id for a in side.assignments if a.unit_id == side.units[2].id}
    for row in session.exec(select(Outbox).where(col(Outbox.assignment_id).in_(not_sent))):
        row.status = "failed"  # unit 2: no invitation went out
    session.commit()
    assert login(client, "pic.a").status_code == 303
    page = client.get(f"/pic/c/{side.campaign.id}/unit").text
    assert "jam-kirim" not in page  # no quiet hours configured

    open_one = button_of(page, names[0])
    assert "<form" in open_one and "disabled" not in open_one and "0 responden" not in open_one
    answered = button_of(page, names[1])
    assert "disabled" in answered and "<form" not in answered and "0 responden: semua sudah menjawab" in answered
    unsent = button_of(page, names[2])
    assert "disabled" in unsent and "0 responden: belum ada yang terkirim" in unsent

    # the reason is true: the route itself queues nobody for the unit whose people all answered
    csrf = csrf_of(client, f"/pic/c/{side.campaign.id}/unit")
    done = client.post(f"/pic/c/{side.campaign.id}/unit/{side.units[1].id}/pengingat", data={"csrf": csrf},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("n=0")
    # ... and a working one does queue
    done = client.post(f"/pic/c/{side.campaign.id}/unit/{side.units[0].id}/pengingat", data={"csrf": csrf},
                       follow_redirects=False)
    assert done.status_code == 303 and not done.headers["location"].endswith("n=0")

    # quiet hours all day: the page says reminders wait; the buttons stay as they were
    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "23:59")
    reset_settings()
    page = client.get(f"/pic/c/{side.campaign.id}/unit").text
    assert "di luar jam kirim" in page and "23.59" in page

    # closed: every unit's button is disabled, saying so
    session.rollback()
    close_campaign(session, side.campaign, actor="test", reason="selesai")
    session.commit()
    page = client.get(f"/pic/c/{side.campaign.id}/unit").text
    for name in names:
        cell = button_of(page, name)
        assert "disabled" in cell and "0 responden: kampanye ditutup" in cell and "<form" not in cell
