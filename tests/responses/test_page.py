"""The fast questionnaire page (responses.page): the same bytes as the template, one fresh read per
request, and nothing of one respondent on another's page."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from core.clock import utcnow
from core.models import AssignmentKind, Campaign, Unit
from core.templating import get_env
from responses import page as link_page
from responses import service
from responses.questionnaire import CONFIRM_PAGE, GROUPS, load_questionnaire
from responses.router import _shown_at
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit
from tests.responses.helpers import full_answers, questionnaire, respondent, responses_app


def _view(**kw: Any) -> service.LinkView:
    now = utcnow()
    base: dict[str, Any] = dict(
        group="internal", year=2024, opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=1),
        campaign_status="open", institution="Pemerintah Kabupaten Uji", unit="Dinas Uji",
        response_status=None, answers={},
    )
    return service.LinkView(**{**base, **kw})


def _template(view: service.LinkView, page_id: str, action: str, shown: str) -> str:
    q = load_questionnaire(view.survey_group, view.year)
    context = link_page.form_context(q, page_id, view.year, view.institution, view.unit, view.answers, {},
                                     None, shown, action)
    return get_env().get_template(link_page.TEMPLATE).render(context)


def _random_answers(rng: random.Random, group: str) -> dict[str, Any]:
    q = load_questionnaire(group, 2024)
    answers: dict[str, Any] = {}
    for question in q.questions:
        pick = rng.random()
        if pick < 0.5:
            answers[question.id] = rng.choice(question.options)[0]
            if question.scale in ("likert", "negated") and rng.random() < 0.5:
                answers[question.id] = int(answers[question.id])  # stored as int
        elif pick < 0.6:
            answers[question.id] = rng.choice([None, "", "7", 0, "<b>x</b>", True])
    return answers


@pytest.mark.parametrize("group", GROUPS)
def test_same_bytes_as_the_template_on_every_page(group: str) -> None:
    link_page.clear()
    rng = random.Random(group)
    q = load_questionnaire(group, 2024)
    places = [("Pemerintah Kabupaten Uji", "Dinas Uji"), ('Kota <A> & "B"', "Unit 'C' <script>"),
              ("Kabupaten Tanpa Unit", None), ("Kabupaten X", "")]
    for page_id in q.page_ids():
        for institution, unit in places:
            for _ in range(5):
                view = _view(group=group, institution=institution, unit=unit,
                             answers=_random_answers(rng, group))
                action, shown = f"/s/tok{rng.randint(0, 10**9)}", f"{rng.randint(0, 10**9)}.abc"
                assert link_page.skeleton(q, page_id, view.year) is not None, page_id
                fast = link_page.render_page(q, page_id, view, action, shown)
                assert fast == _template(view, page_id, action, shown), (group, page_id, institution, unit)


def test_answers_only_set_checked_flags_and_the_cache_holds_no_respondent() -> None:
    link_page.clear()
    q = questionnaire("internal")
    first = q.pages[0]
    question = first.questions[0]
    value = question.options[-1][0]
    mine = link_page.render_page(q, first.id, _view(answers={question.id: value}), "/s/TOKEN-A", "1.a")
    theirs = link_page.render_page(q, first.id, _view(), "/s/TOKEN-B", "2.b")
    assert f'name="{question.id}" value="{value}" checked' in mine and "TOKEN-A" in mine
    assert " checked" not in theirs and "TOKEN-A" not in theirs and "TOKEN-B" in theirs
    cached = link_page.skeleton(q, first.id, 2024)
    assert cached is not None
    text = "".join(cached.texts)
    assert "TOKEN" not in text and " checked" not in text and "1.a" not in text


@pytest.fixture
def client(db_url: str) -> TestClient:
    return TestClient(responses_app(), follow_redirects=False)


def _form_action(html: str) -> str:
    match = re.search(r'<form method="post" action="([^"]+)"', html)
    assert match
    return match.group(1)


def test_two_respondents_never_see_each_other(client: TestClient, session: Session) -> None:
    inst = make_institution(session)
    unit = make_unit(session, inst)
    camp = make_campaign(session, inst, year=2024)
    _, token_a = make_assignment(session, camp, make_person(session, unit, group="internal"))
    _, token_b = make_assignment(session, camp, make_person(session, unit, group="internal"))
    session.commit()
    q = questionnaire("internal")
    first = q.pages[0]
    answers = full_answers(q)
    data = {"page": first.id, "nav": "next", **{x.id: str(answers[x.id]) for x in first.questions}}
    assert client.post(f"/s/{token_a}", data=data).status_code == 303
    page_a = client.get(f"/s/{token_a}?p={first.id}").text
    page_b = client.get(f"/s/{token_b}?p={first.id}").text
    assert _form_action(page_a) == f"/s/{token_a}" and _form_action(page_b) == f"/s/{token_b}"
    assert token_a not in page_b and token_b not in page_a
    assert page_a.count(" checked") == len(first.questions) and " checked" not in page_b
    # A resumes where they left off; B starts at the beginning.
    assert f'name="page" value="{q.pages[1].id}"' in client.get(f"/s/{token_a}").text
    assert f'name="page" value="{first.id}"' in client.get(f"/s/{token_b}").text


def test_every_request_reads_the_database(client: TestClient, session: Session) -> None:
    assignment, token = respondent(session, "internal")
    assert client.get(f"/s/{token}").status_code == 200
    unit = session.get(Unit, assignment.unit_id)
    assert unit is not None
    unit.name = "Dinas Baru & Lama"
    session.add(unit)
    session.commit()
    assert "Dinas Baru &amp; Lama" in client.get(f"/s/{token}").text
    campaign = session.get(Campaign, assignment.campaign_id)
    assert campaign is not None
    campaign.status = "closed"
    session.add(campaign)
    session.commit()
    closed = client.get(f"/s/{token}")
    assert closed.status_code == 410 and "sudah berakhir" in closed.text
    campaign.status, campaign.opens_at = "open", utcnow() + timedelta(days=1)
    campaign.closes_at = utcnow() + timedelta(days=30)
    session.add(campaign)
    session.commit()
    later = client.get(f"/s/{token}")
    assert later.status_code == 403 and "belum dibuka" in later.text


def test_navigation_confirm_page_and_signed_shown_field(client: TestClient, session: Session) -> None:
    _, token = respondent(session, "expert")
    q = questionnaire("expert")
    second = client.get(f"/s/{token}?p={q.pages[1].id}").text
    assert f'name="page" value="{q.pages[1].id}"' in second and "Bagian 2 dari" in second
    shown = re.search(r'name="t" value="([^"]+)"', second)
    assert shown and _shown_at(shown.group(1)) is not None
    assert _shown_at(shown.group(1) + "0") is None
    confirm = client.get(f"/s/{token}?p={CONFIRM_PAGE}").text
    assert "Kirim jawaban" in confirm and f'name="page" value="{CONFIRM_PAGE}"' in confirm
    unknown = client.get(f"/s/{token}?p=nope").text
    assert f'name="page" value="{q.pages[0].id}"' in unknown


def test_inactive_links(client: TestClient, session: Session) -> None:
    inst = make_institution(session)
    unit = make_unit(session, inst)
    camp = make_campaign(session, inst, year=2024)
    _, second_registration = make_assignment(session, camp, make_person(session, unit, group="external"),
                                             kind=AssignmentKind.participatory, active=False)
    _, idle_reserve = make_assignment(session, camp, make_person(session, unit, group="internal"),
                                      kind=AssignmentKind.reserve, active=False)
    session.commit()
    served = client.get(f"/s/{second_registration}")
    assert served.status_code == 200 and _form_action(served.text) == f"/s/{second_registration}"
    refused = client.get(f"/s/{idle_reserve}")
    unknown = client.get("/s/" + "x" * 43)
    too_long = client.get("/s/" + "x" * 200)
    assert refused.status_code == unknown.status_code == too_long.status_code == 404
    assert refused.text == unknown.text == too_long.text  # nothing tells a known token apart


def _run(coro: Any) -> Any:
    """asyncio.run in a thread of its own (the browser fixtures keep a loop running in this one)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=30)


def _drafts(session: Session, count: int) -> list[tuple[str, str, dict[str, Any]]]:
    """`count` respondents, each in their own unit with their own draft answers."""
    from responses.models import Response, ResponseLink

    inst = make_institution(session)
    camp = make_campaign(session, inst, year=2024)
    q = questionnaire("internal")
    out = []
    for n in range(count):
        unit = make_unit(session, inst, name=f"Dinas Nomor {n}")
        assignment, token = make_assignment(session, camp, make_person(session, unit, group="internal"))
        answers = {q.pages[0].questions[0].id: q.pages[0].questions[0].options[n % 2][0]}
        response = Response(campaign_id=camp.id, institution_id=inst.id,  # type: ignore[arg-type]
                            unit_id=unit.id, group="internal", respondent_group="internal",
                            questionnaire_year=2024, answers=answers)
        session.add(response)
        session.flush()
        session.add(ResponseLink(assignment_id=assignment.id, response_id=response.id))  # type: ignore[arg-type]
        out.append((token, unit.name, answers))
    session.commit()
    return out


def test_reader_gives_each_request_its_own_link(session: Session) -> None:
    import asyncio

    from core.db import get_engine
    from core.tokens import hash_token

    drafts = _drafts(session, 12)
    tokens = [t for t, _, _ in drafts] + ["y" * 43, "z" * 43]

    async def read_all() -> list[service.LinkView | None]:
        return await asyncio.gather(*(link_page.reader.read(t) for t in tokens))

    for _ in range(3):
        found = _run(read_all())
        for (_token, unit, answers), link in zip(drafts, found, strict=False):
            assert link is not None and link.unit == unit and dict(link.answers) == answers
        assert found[-2:] == [None, None]
    # One statement for many links (what a batch does) maps each hash to its own row.
    with get_engine().connect() as conn:
        links = service.read_links(conn, [hash_token(t) for t in tokens])
    assert len(links) == len(drafts)
    for token, unit, answers in drafts:
        link = links[hash_token(token)]
        assert link is not None and link.unit == unit and dict(link.answers) == answers


def test_reader_recovers_from_a_broken_connection_and_reports_errors(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, token = respondent(session, "internal")
    assert _run(link_page.reader.read(token)) is not None
    conn = link_page.reader._conn
    assert conn is not None
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    dbapi.close()  # e.g. the database server restarted
    assert _run(link_page.reader.read(token)) is not None

    def broken(*_: Any) -> None:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(service, "read_links", broken)
    with pytest.raises(RuntimeError, match="unavailable"):
        _run(link_page.reader.read(token))
    monkeypatch.undo()
    assert _run(link_page.reader.read(token)) is not None


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite: BEGIN IMMEDIATE serialises first
def test_a_submission_after_the_lock_sees_what_another_request_committed(session: Session, db_url: str) -> None:
    """`submit_answers` (imports, webhook) may be called with a draft read before it locks the
    assignment; a submission committed by another request in between must be seen (38799e9).
    The answer POST reads after its lock: tests/responses/test_writer.py."""
    from core.assignments import find_by_token
    from core.db import session_scope
    from core.tokens import hash_token
    from responses import writer
    from responses.service import AlreadySubmitted, response_of, submit_answers

    _, token = respondent(session, "internal")
    q = questionnaire("internal")
    answers = full_answers(q)
    first = q.pages[0].questions[0].id
    results: list[Any] = []
    post = writer.Post(hash_token(token), {"page": q.pages[0].id, "nav": "back", first: str(answers[first])},
                       None, {})
    writer.write_batch([writer.Job(db_url, post, results.append)])
    assert results[0].kind == "redirect"  # a draft with one answer
    with session_scope(write=True) as mine:
        assignment = find_by_token(mine, token)
        assert assignment is not None
        draft = response_of(mine, assignment)  # read before the lock and kept
        assert draft is not None and draft.status == "draft"
        with session_scope(write=True) as other:
            submit_answers(other, find_by_token(other, token), answers)  # type: ignore[arg-type]
        with pytest.raises(AlreadySubmitted):
            submit_answers(mine, assignment, answers)
