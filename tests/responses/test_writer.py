"""The answer writer (responses.writer): the same stored rows as the former one-transaction-per-
request path, posts of one respondent applied in arrival order within a batch, one bad post not
failing its batch-mates, database errors reaching the request, and no lost update across
processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, text, update
from sqlmodel import Session, select

from core.clock import utcnow
from core.db import session_scope
from core.models import Assignment, AssignmentKind, Group
from core.tokens import hash_token
from responses import writer
from responses.models import Response, ResponseLink, ResponseStatus
from responses.questionnaire import CONFIRM_PAGE, Questionnaire
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit
from tests.responses import legacy_post
from tests.responses.helpers import full_answers, questionnaire, respondent

ROOT = Path(__file__).resolve().parents[2]
META = {"ip": "10.1.2.3", "user_agent": "Mozilla/5.0 (Linux; Android 10) uji"}


def _page(q: Questionnaire, index: int, answers: dict[str, Any], nav: str = "next",
          only: int | None = None) -> dict[str, str]:
    page = q.pages[index]
    data = {"page": page.id, "nav": nav}
    for x in page.questions[:only]:
        if x.id in answers:
            data[x.id] = str(answers[x.id])
    return data


def _outcome(outcome: writer.Outcome | BaseException, token: str) -> tuple[int, str | None]:
    """The (status, location) the route answers for an outcome (as legacy_post returns)."""
    assert isinstance(outcome, writer.Outcome), outcome
    codes = {"not_found": 404, "again": 409, "invalid": 422}
    if outcome.kind == "closed":
        return (403 if outcome.not_yet else 410), None
    if outcome.kind == "redirect":
        return 303, f"/s/{token}" + (f"?p={outcome.page}" if outcome.page else "")
    return codes[outcome.kind], None


def _jobs(posts: list[tuple[str, dict[str, str], datetime | None, dict[str, Any] | None]],
          url: str) -> tuple[list[writer.Job], list[Any]]:
    results: list[Any] = [None] * len(posts)

    def done_at(i: int) -> Callable[[Any], None]:
        def done(result: Any) -> None:
            results[i] = result
        return done

    jobs = [writer.Job(url, writer.Post(hash_token(token), data, shown, writer.meta_hashes(meta)),
                       done_at(i))
            for i, (token, data, shown, meta) in enumerate(posts)]
    return jobs, results


def _stored(session: Session) -> dict[int, tuple[dict[str, Any], Any]]:
    """Each assignment's response row (without its id) and responded_at, as stored."""
    session.expire_all()
    out = {}
    for link in session.exec(select(ResponseLink)).all():
        response = session.get(Response, link.response_id)
        assignment = session.get(Assignment, link.assignment_id)
        assert response is not None and assignment is not None
        row = response.model_dump(exclude={"id"})
        out[link.assignment_id] = (row, assignment.responded_at)
    return out


def _forget(session: Session) -> None:
    session.execute(delete(ResponseLink))
    session.execute(delete(Response))
    session.execute(update(Assignment).values(responded_at=None))
    session.commit()


def test_stored_rows_identical_to_the_former_path(session: Session, db_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The same sequence of posts through the former ORM path (tests/responses/legacy_post.py,
    the code as of 38799e9) and through the writer, one post per batch and all in one batch:
    the same answers to the phone and the same stored rows, column by column."""
    now = utcnow().replace(microsecond=0)
    clock = [now]
    for module in (writer, legacy_post, sys.modules["responses.service"]):
        monkeypatch.setattr(module, "utcnow", lambda: clock[0])
    inst = make_institution(session)
    unit = make_unit(session, inst)
    camp = make_campaign(session, inst, year=2024)
    late = make_campaign(session, inst, year=2024, opens_at=now + timedelta(days=2),
                         closes_at=now + timedelta(days=9))
    tokens: dict[str, str] = {}
    for group in ("internal", "external", "vendor", "expert"):
        _, tokens[group] = make_assignment(session, camp, make_person(session, unit, group=group))
    _, tokens["dup"] = make_assignment(session, camp, make_person(session, unit, group=Group.external),
                                       kind=AssignmentKind.participatory, active=False)
    _, tokens["reserve"] = make_assignment(session, camp, make_person(session, unit, group="internal"),
                                           active=False)
    _, tokens["late"] = make_assignment(session, late, make_person(session, unit, group="internal"))
    session.commit()
    shown = now - timedelta(minutes=3)
    posts: list[tuple[str, dict[str, str], datetime | None, dict[str, Any] | None]] = []
    for name, group in (("internal", "internal"), ("external", "external"), ("vendor", "external"),
                        ("expert", "expert"), ("dup", "external")):
        q = questionnaire(group)
        answers = full_answers(q, value=4, experience="ya")
        token = tokens[name]
        posts.append((token, {"page": CONFIRM_PAGE, "nav": "next"}, None, META))  # nothing yet
        posts.append((token, _page(q, 0, answers, only=1), shown, META))  # 422, nothing saved
        posts.append((token, _page(q, 0, answers, nav="back", only=1), shown, META))  # back, saves one
        posts.append((token, {"page": "nope"}, shown, META))
        for i in range(len(q.pages)):
            posts.append((token, _page(q, i, answers), shown if i % 2 else None,
                          META if i != 1 else {"ip": "10.9.9.9", "user_agent": None}))
        posts.append((token, _page(q, 1, answers, nav="back"), shown, META))
        posts.append((token, {"page": CONFIRM_PAGE, "nav": "back"}, None, META))
        posts.append((token, {"page": CONFIRM_PAGE, "nav": "submit"}, None, META))
        posts.append((token, _page(q, 0, answers), shown, META))  # after submission: 409
    posts.append((tokens["reserve"], {"page": "p1"}, None, META))
    posts.append((tokens["late"], {"page": "p1"}, None, META))
    posts.append(("no-such-token", {"page": "p1"}, None, META))

    def step() -> None:  # a different time for each post, the same in every run
        clock[0] = clock[0] + timedelta(seconds=7)

    expected = []
    for token, data, shown_at, meta in posts:
        step()
        with session_scope(write=True) as s:
            expected.append(legacy_post.handle_post(s, token, data, meta or {}, shown_at))
    reference = _stored(session)
    assert len(reference) == 5 and {r["status"] for r, _ in reference.values()} == {"submitted"}
    assert any(r["flagged"] and r["review_status"] == "excluded" for r, _ in reference.values())

    for one_batch in (False, True):
        _forget(session)
        clock[0] = now
        jobs, results = _jobs(posts, db_url)
        if one_batch:
            monkeypatch.setattr(writer, "utcnow", lambda: clock[0])
            # one transaction; the clock steps per decision as above
            real_decide = writer._Batch.decide

            def decide(self: Any, post: writer.Post, real: Any = real_decide) -> writer.Outcome:
                step()
                return real(self, post)

            monkeypatch.setattr(writer._Batch, "decide", decide)
            writer.write_batch(jobs)
            monkeypatch.setattr(writer._Batch, "decide", real_decide)
        else:
            for job in jobs:
                step()
                writer.write_batch([job])
        got = [_outcome(r, token) for r, (token, *_rest) in zip(results, posts, strict=True)]
        assert got == expected
        assert _stored(session) == reference


def test_posts_of_one_respondent_in_one_batch_apply_in_order(session: Session, db_url: str) -> None:
    _, token = respondent(session, "internal")
    q = questionnaire("internal")
    answers = full_answers(q)
    posts: list[Any] = [(token, _page(q, i, answers), None, META) for i in range(len(q.pages))]
    posts.append((token, {"page": CONFIRM_PAGE, "nav": "submit"}, None, META))
    posts.append((token, _page(q, 0, full_answers(q, value=1)), None, META))  # too late
    jobs, results = _jobs(posts, db_url)
    writer.write_batch(jobs)
    kinds = [(r.kind, r.page) for r in results]
    assert kinds == [("redirect", p) for p in q.page_ids()[1:]] + [("redirect", None), ("again", None)]
    stored = session.exec(select(Response)).one()
    assert stored.status == ResponseStatus.submitted and stored.answers == answers
    assert set(stored.page_times) == {p.id for p in q.pages}


def test_a_bad_post_does_not_fail_its_batch_mates(session: Session, db_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (_, good), (_, bad), (_, other) = (respondent(session, "internal") for _ in range(3))
    q = questionnaire("internal")
    answers = full_answers(q)
    real = writer.validate_page

    def validate(q: Any, page: Any, data: Any, context: Any) -> Any:
        if data.get("boom"):
            raise RuntimeError("bad post")
        return real(q, page, data, context)

    monkeypatch.setattr(writer, "validate_page", validate)
    posts: list[Any] = [(good, _page(q, 0, answers), None, META),
                        (bad, {**_page(q, 0, answers), "boom": "1"}, None, META),
                        (other, _page(q, 0, answers), None, META)]
    jobs, results = _jobs(posts, db_url)
    writer.write_batch(jobs)
    assert isinstance(results[1], RuntimeError)
    assert [r.kind for r in (results[0], results[2])] == ["redirect", "redirect"]
    assert len(session.exec(select(Response)).all()) == 2


def _run(coro: Any) -> Any:
    """asyncio.run in a thread of its own (the browser fixtures keep a loop running in this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=30)


def test_a_database_error_reaches_the_request_and_the_writer_recovers(
        session: Session, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    _, token = respondent(session, "internal")
    q = questionnaire("internal")
    post = writer.Post(hash_token(token), _page(q, 0, full_answers(q)), None, {})
    real = writer._Batch.read

    def broken(self: Any, posts: Any) -> None:
        raise OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(writer._Batch, "read", broken)
    with pytest.raises(OperationalError):
        _run(writer.save(post))
    monkeypatch.setattr(writer._Batch, "read", real)
    outcome = _run(writer.save(post))
    assert outcome.kind == "redirect" and outcome.page == q.pages[1].id
    assert session.exec(select(Response)).one().answers


_CHILD = """
import json, sys
from core.tokens import hash_token
from responses import writer
token, data, url = json.loads(sys.argv[1])
out = []
job = writer.Job(url, writer.Post(hash_token(token), data, None, {}), out.append)
print("ready", flush=True)
writer.write_batch([job])
print(out[0].kind, out[0].page, flush=True)
"""


def test_no_lost_update_across_processes(session: Session, db_url: str) -> None:
    """Another process saves page 2 while this one holds the respondent's lock and writes page 1;
    it must wait, then read what was committed (the race of 38799e9, across processes)."""
    from core.db import write_scope

    assignment, token = respondent(session, "internal")
    q = questionnaire("internal")
    answers = full_answers(q)
    jobs, results = _jobs([(token, _page(q, 0, answers, nav="back", only=1), None, None)], db_url)
    writer.write_batch(jobs)
    assert results[0].kind == "redirect"  # the draft exists, with one answer
    first = {x.id: answers[x.id] for x in q.pages[0].questions}
    with write_scope(db_url) as holder:
        holder.execute(text("SELECT id FROM assignment WHERE id = :id FOR UPDATE" if
                            holder.get_bind().dialect.name == "postgresql" else
                            "SELECT id FROM assignment WHERE id = :id"), {"id": assignment.id})
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", _CHILD, json.dumps([token, _page(q, 1, answers), db_url])],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # the child is now waiting for the lock
        assert child.poll() is None
        draft = holder.exec(select(Response)).one()
        draft.answers = {**draft.answers, **first}
        holder.add(draft)
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0
    assert out.split() == ["redirect", q.pages[2].id]
    session.expire_all()
    stored = session.exec(select(Response)).one()
    assert {**first, **{x.id: answers[x.id] for x in q.pages[1].questions}}.items() <= stored.answers.items()
