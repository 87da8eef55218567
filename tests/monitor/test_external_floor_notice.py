"""The overview (ringkasan) tells the PIC when the external floor will be missed (issue 24)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core.models import Campaign
from tests.monitor.conftest import World


def test_overview_shows_the_floor_notice_only_after_the_campaign_date(world: World, as_user: Any,
                                                                   session: Session) -> None:
    """Proves the banner appears once config["external_floor_check_at"] passed (the fixture's
    campaign has no external answers: projected 0 < 30) and not before the date is set."""
    client = as_user("pic.a")
    url = f"/pic/c/{world.a.campaign.id}/ringkasan"
    before = client.get(url)
    assert before.status_code == 200 and 'id="batas-eksternal"' not in before.text
    campaign = session.get(Campaign, world.a.campaign.id)
    assert campaign is not None
    campaign.config = {**campaign.config, "external_floor_check_at": "2020-01-01T00:00:00+07:00"}
    session.add(campaign)
    session.commit()
    after = client.get(url)
    assert after.status_code == 200
    assert 'id="batas-eksternal"' in after.text
    assert "Jawaban eksternal diperkirakan kurang dari 30" in after.text
    assert "cadangan" in after.text and "intercept" in after.text
