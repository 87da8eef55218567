"""The WhatsApp cost estimate (prices from a data file) and the wave preview shown before a wave."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.clock import utcnow
from core.datafiles import DataFileError, read_yaml
from core.models import OptOut
from dispatch.cost import PRICES_FILE, PriceFileError, estimate, format_cost_id, load_prices
from dispatch.models import Outbox, Unreachable
from dispatch.preview import wave_preview
from dispatch.service import enqueue_invitations, enqueue_reminder
from tests.dispatch.helpers import campaign_with

PRICES = """\
market: Indonesia
currency: USD
per_message:
  marketing: 0.0411
  utility: 0.0250
  authentication: 0.0250
as_of: 2025-07-01
source: test
provider: Twilio
provider_fee_per_message: {fee}
templates:
  invitation: utility
  reminder: {reminder}
  last_call: utility
  registration: utility
"""


def prices_file(tmp_path: Path, *, fee: str = "0", reminder: str = "utility", name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(PRICES.format(fee=fee, reminder=reminder), encoding="utf-8")
    return path


# --- the estimate ----------------------------------------------------------------------------------


def test_estimate_uses_the_shipped_prices_file() -> None:
    raw = read_yaml(PRICES_FILE)
    utility = Decimal(str(raw["per_message"]["utility"]))
    fee = Decimal(str(raw.get("provider_fee_per_message", 0)))
    assert {raw["templates"][t] for t in ("invitation", "reminder", "last_call", "registration")} == {"utility"}

    est = estimate({"invitation": 1000, "reminder": 200, "last_call": 30, "registration": 4})
    assert est.counts == {"utility": 1234} and est.messages == 1234
    assert est.unit_prices == {"utility": utility}
    assert est.costs == {"utility": 1234 * utility}
    assert est.meta_total == 1234 * utility
    assert est.provider_total == 1234 * fee
    assert est.total == 1234 * (utility + fee)
    assert est.currency == raw["currency"] and est.as_of == raw["as_of"] and est.source
    assert estimate({}).total == 0 and estimate({"invitation": 0}).counts == {}


def test_estimate_by_category_and_the_indonesian_line(tmp_path: Path) -> None:
    prices = load_prices(prices_file(tmp_path))
    est = estimate({"invitation": 1234}, prices)
    assert est.meta_total == Decimal("30.85") and est.total == Decimal("30.85")
    assert format_cost_id(est) == (
        f"1.234 pesan utilitas × US$0,0250 ≈ US$30,85 (tarif Meta Indonesia per 1 Juli 2025; "
        f"dapat diubah di {tmp_path / 'p.yaml'})")

    # a re-categorised reminder is priced as marketing; the provider's fee is added per message
    prices = load_prices(prices_file(tmp_path, fee="0.005", reminder="marketing", name="q.yaml"))
    est = estimate({"invitation": 1000, "reminder": 100}, prices)
    assert est.counts == {"marketing": 100, "utility": 1000}
    assert est.costs == {"marketing": Decimal("4.11"), "utility": Decimal("25")}
    assert est.provider_total == Decimal("5.5") and est.total == Decimal("34.61")
    line = format_cost_id(est)
    assert line.startswith("100 pesan pemasaran × US$0,0411 + 1.000 pesan utilitas × US$0,0250 "
                           "≈ US$29,11 + biaya Twilio US$5,50 = US$34,61 (tarif Meta Indonesia")


def test_shipped_file_is_named_relative_to_the_project() -> None:
    assert "dapat diubah di dispatch/data/whatsapp_prices.yaml)" in format_cost_id(estimate({"invitation": 1}))


def test_an_edited_prices_file_is_read_again(tmp_path: Path) -> None:
    path = prices_file(tmp_path)
    assert load_prices(path).per_message["utility"] == Decimal("0.0250")
    path.write_text(path.read_text().replace("utility: 0.0250", "utility: 0.03125"), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert load_prices(path).per_message["utility"] == Decimal("0.03125")


@pytest.mark.parametrize(("text", "fragment"), [
    ("per_message: [oops\n", "line"),  # not YAML
    ("", "not a mapping"),
    (PRICES.format(fee="0", reminder="utility").replace("utility: 0.0250", "utility: dua sen"),
     "per_message.utility"),
    (PRICES.format(fee="0", reminder="utility").replace("utility: 0.0250", "utility: -1"),
     "per_message.utility"),
    (PRICES.format(fee="0", reminder="utilitas"), "templates.reminder"),
    (PRICES.format(fee="0", reminder="utility").replace("as_of: 2025-07-01", "as_of: kemarin"), "as_of"),
    (PRICES.format(fee="0", reminder="utility").replace("currency: USD\n", ""), "currency"),
])
def test_a_malformed_prices_file_names_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "rusak.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        load_prices(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_a_missing_file_or_unknown_template_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(PriceFileError, match="hilang.yaml"):
        load_prices(tmp_path / "hilang.yaml")
    path = prices_file(tmp_path)
    with pytest.raises(PriceFileError, match=r"p\.yaml.*'survey'"):
        estimate({"survey": 1}, load_prices(path))
    with pytest.raises(ValueError, match="whole number"):
        estimate({"invitation": -1}, load_prices(path))


# --- the wave preview ------------------------------------------------------------------------------


def _outbox(session: Session) -> list[Outbox]:
    session.commit()  # end the read snapshot (SQLite WAL) before looking again
    session.expire_all()
    return list(session.exec(select(Outbox)).all())


def test_preview_counts_what_the_invitation_wave_then_enqueues(session: Session) -> None:
    campaign, _, _, people = campaign_with(session, 8)
    (a0, p0), (a1, p1), (a2, p2), (a3, p3), (a4, _), (a5, _), (a6, _), (a7, _) = people
    p0.phone = None  # email only
    session.add(OptOut(address=p1.phone, opted_out_at=utcnow()))  # STOP on WhatsApp: email instead
    p2.phone, p2.email = None, None  # no address at all
    session.add(Unreachable(address=p3.email.lower(), channel="email", error_code="550", at=utcnow()))
    p3.phone = None  # only an unreachable email
    a4.responded_at = utcnow()  # already answered: not in the wave
    a5.active = False  # a reserve not called up
    session.add_all([p0, p2, p3, a4, a5])
    session.commit()
    enqueue_invitations(session, campaign.id, assignment_ids=[a6.id])  # one invited earlier
    session.commit()
    before = {r.key for r in _outbox(session)}

    preview = wave_preview(session, campaign.id)
    assert _outbox(session) and {r.key for r in _outbox(session)} == before  # nothing written
    assert (preview.whatsapp, preview.email, preview.no_channel, preview.already_enqueued) == (1, 2, 2, 1)
    assert preview.not_due == 0 and preview.template == "invitation"
    assert preview.cost.counts == {"utility": 1} and preview.cost.messages == 1

    assert enqueue_invitations(session, campaign.id) == preview.messages
    new = [r for r in _outbox(session) if r.key not in before]
    assert sum(r.channel == "whatsapp" for r in new) == preview.whatsapp
    assert sum(r.channel == "email" for r in new) == preview.email
    assert {r.assignment_id for r in new} == {a0.id, a1.id, a7.id}

    again = wave_preview(session, campaign.id)
    assert (again.whatsapp, again.email, again.messages) == (0, 0, 0)
    assert again.already_enqueued == 4 and again.cost.total == 0


def test_preview_counts_what_a_reminder_then_enqueues(session: Session) -> None:
    campaign, _, _, people = campaign_with(session, 4)
    (_, p0), (a1, _), _, _ = people
    p0.phone = None
    session.add(p0)
    session.commit()
    enqueue_invitations(session, campaign.id, assignment_ids=[a.id for a, _ in people[:3]])
    session.commit()

    early = wave_preview(session, campaign.id, "reminder")  # within the minimum gap
    assert (early.messages, early.not_due) == (1, 3)  # only the one never invited

    later = utcnow() + timedelta(days=3)
    preview = wave_preview(session, campaign.id, "reminder", now=later)
    assert (preview.whatsapp, preview.email, preview.not_due) == (3, 1, 0)
    assert preview.template == "reminder" and preview.cost.counts == {"utility": 3}
    before = {r.key for r in _outbox(session)}
    assert enqueue_reminder(session, campaign.id, now=later) == preview.messages
    new = [r for r in _outbox(session) if r.key not in before]
    assert sum(r.channel == "whatsapp" for r in new) == preview.whatsapp
    assert wave_preview(session, campaign.id, "reminder", now=later).messages == 0


def test_preview_refuses_an_unknown_wave(session: Session) -> None:
    campaign, _, _, _ = campaign_with(session, 1)
    with pytest.raises(ValueError, match="purpose"):
        wave_preview(session, campaign.id, "registration")
    with pytest.raises(ValueError, match="does not exist"):
        wave_preview(session, 999_999)
