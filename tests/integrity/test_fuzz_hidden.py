"""Fuzzing the public endpoints that are left out of the OpenAPI schema (so schemathesis never
reaches them): the Twilio webhooks, signed and unsigned, the questionnaire `/s/{token}` and the
email unsubscribe link. Hypothesis-generated form bodies, tokens, paths and fields, with a fixed
derandomized budget: never a 5xx, never a crash, and the bot parks no message as an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from core.config import get_settings
from core.db import get_engine
from dispatch.channels.twilio.webhooks import sign

EXAMPLES = 60
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))

# Text an HTTP client can send (no lone surrogates), with control characters and NUL included.
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
PHONE = st.one_of(st.from_regex(r"(whatsapp:)?\+?[0-9 ]{0,16}", fullmatch=True), TEXT)
TWILIO_FIELDS = ["MessageSid", "SmsSid", "AccountSid", "From", "To", "Body", "NumMedia", "ProfileName",
                 "WaId", "MessageStatus", "SmsStatus", "ErrorCode", "MediaUrl0", "MediaContentType0",
                 "ButtonText", "ButtonPayload"]
STATUSES = ["queued", "sent", "delivered", "read", "failed", "undelivered", "accepted", "", "DELIVERED"]


@dataclass
class Target:
    client: TestClient
    token: str
    pages: list[str]
    items: list[str]


@pytest.fixture
def target(db_url: str) -> Iterator[Target]:
    """One open campaign and one respondent with a real token, on SQLite and PostgreSQL (NUL
    bytes and odd text behave differently there)."""
    from responses.questionnaire import load_questionnaire
    from tests.factories import (
        make_assignment,
        make_campaign,
        make_institution,
        make_person,
        make_unit,
    )

    with Session(get_engine(db_url)) as s:
        inst = make_institution(s)
        campaign = make_campaign(s, inst, year=2024)
        person = make_person(s, make_unit(s, inst), phone="+6281200000001")
        _, token = make_assignment(s, campaign, person)
        s.commit()
    q = load_questionnaire("internal", 2024)
    from web import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield Target(client, token, [p.id for p in q.pages], [i.id for i in q.items])


def _twilio_form() -> st.SearchStrategy[dict[str, str]]:
    value = st.one_of(TEXT, PHONE, st.sampled_from(STATUSES), st.from_regex(r"SM[0-9a-f]{0,40}", fullmatch=True))
    known = st.dictionaries(st.sampled_from(TWILIO_FIELDS), value, max_size=len(TWILIO_FIELDS))
    extra = st.dictionaries(st.text(min_size=1, max_size=20).filter(lambda k: "\x00" not in k), TEXT, max_size=3)
    return st.builds(lambda a, b: {**b, **a}, known, extra)


@FUZZ
@given(form=_twilio_form(), path=st.sampled_from(["/twilio/inbound", "/twilio/status"]),
       signed=st.booleans(), bad_signature=TEXT)
def test_twilio_webhooks_never_5xx(target: Target, form: dict[str, str], path: str, signed: bool,
                                   bad_signature: str) -> None:
    url = get_settings().public_base_url.rstrip("/") + path
    signature = sign(url, form) if signed else bad_signature.encode("ascii", "ignore").decode()
    response = target.client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code < 500, (path, form, response.status_code, response.text[:200])
    if signed:
        assert response.status_code in (200, 204), (path, form, response.status_code)
    elif signature != sign(url, form):
        assert response.status_code == 403


def test_fuzzed_inbound_messages_are_answered_without_errors(target: Target) -> None:
    """Run the fuzz above, then make the bot process what was stored: nothing parked as error."""
    test_twilio_webhooks_never_5xx(target)  # type: ignore[call-arg]
    from bot.models import InboundMessage
    from bot.service import process_pending

    process_pending()
    with Session(get_engine()) as s:
        stored = s.exec(select(InboundMessage)).all()
        assert stored, "the fuzzing stored no inbound message: it tested nothing"
        assert [m.status for m in stored if m.status == "error"] == []


def _survey_form(target_items: list[str], pages: list[str]) -> st.SearchStrategy[dict[str, str]]:
    keys = st.one_of(st.sampled_from(["page", "nav", "t", "csrf", *target_items[:20]]),
                     st.text(min_size=1, max_size=20).filter(lambda k: "\x00" not in k))
    values = st.one_of(TEXT, st.sampled_from([*pages, "next", "back", "1", "6", "7", "-1", "ya", "tidak"]),
                       st.integers(-10**12, 10**12).map(str))
    return st.dictionaries(keys, values, max_size=12)


@FUZZ
@given(data=st.data(), real_token=st.booleans(),
       junk=st.one_of(TEXT.filter(bool), st.from_regex(r"[A-Za-z0-9_\-]{1,80}", fullmatch=True)),
       page=st.one_of(st.none(), TEXT))
def test_questionnaire_never_5xx(target: Target, data: st.DataObject, real_token: bool, junk: str,
                                 page: str | None) -> None:
    token = target.token if real_token else junk
    path = f"/s/{quote(token, safe='')}"
    got = target.client.get(path, params={"p": page} if page is not None else None, follow_redirects=False)
    assert got.status_code < 500, (path, page, got.status_code, got.text[:200])
    form = data.draw(_survey_form(target.items, target.pages))
    posted = target.client.post(path, data=form, follow_redirects=False)
    assert posted.status_code < 500, (path, form, posted.status_code, posted.text[:200])
    if not real_token:
        assert target.token not in posted.text and target.token not in got.text


ASCII = st.text(alphabet=st.characters(max_codepoint=127, blacklist_categories=("Cs",)), min_size=1, max_size=80)


@FUZZ
@given(outbox_id=st.one_of(st.integers(-10**20, 10**20).map(str), TEXT.filter(bool)), sig=ASCII,
       method=st.sampled_from(["GET", "POST"]))
def test_unsubscribe_link_never_5xx(target: Target, outbox_id: str, sig: str, method: str) -> None:
    path = f"/berhenti/email/{quote(outbox_id, safe='')}/{quote(sig, safe='')}"
    response = target.client.request(method, path)
    assert response.status_code < 500, (method, path, response.status_code)
    assert response.status_code in (400, 404, 405, 422)  # 400: a control character (core.security)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unsubscribe_link_with_non_ascii_signature(target: Target, method: str) -> None:
    """Found by the fuzzing above: /berhenti/email/0/%C2%80 answered 500 (compare_digest on str)."""
    assert target.client.request(method, "/berhenti/email/0/%C2%80").status_code == 404
