"""Issue #20 ("Also"): the questionnaire's headings and its follow-up part.

- Consecutive items of one KPK variable show the variable's label once (a group heading) and each
  item's own question as its legend: no page shows the same heading twice in a row.
- "Rincian Pengalaman" (external) is a follow-up part: skipped when every experience answer it
  follows is "Tidak pernah" (not shown, not counted in "Bagian X dari Y", not required at
  submit), shown and required again when an answer changes to "Ya, pernah". Server-side only.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response as HttpResponse
from sqlmodel import Session, select

from core.clock import utcnow
from responses import page as link_page
from responses import service
from responses.models import Response
from responses.questionnaire import CONFIRM_PAGE, GROUPS, MSG_REQUIRED, Questionnaire
from tests.responses.helpers import full_answers, questionnaire, respondent, responses_app

FOLLOW_UP = "pengalaman"  # external: "Rincian Pengalaman"
EXPERIENCE_PAGE = "employee_integrity"
DETAILS = ("pemberian_cara", "pemberian_frekuensi", "pemberian_nilai", "pemberian_alasan")


# --- headings and form structure, on every page of every questionnaire ----------------------------


class _Outline(HTMLParser):
    """Headings (h1-h6, legend) in document order and what the fieldset/label checks need."""

    HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6", "legend")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[str] = []
        self.ids: list[str] = []
        self.references: list[str] = []  # ids named by aria-labelledby / aria-describedby
        self.fieldsets: list[list[str]] = []  # per fieldset: its element children's tags
        self.radios_outside_labels = 0
        self._open: list[str] = []
        self._fieldset_depth: list[int] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if values.get("id"):
            self.ids.append(values["id"])
        for name in ("aria-labelledby", "aria-describedby"):
            self.references.extend(values.get(name, "").split())
        if self._fieldset_depth and len(self._open) == self._fieldset_depth[-1]:
            self.fieldsets[-1].append(tag)
        if tag == "input":
            if values.get("type") == "radio" and "label" not in self._open:
                self.radios_outside_labels += 1
            return  # void element
        self._open.append(tag)
        if tag == "fieldset":
            self.fieldsets.append([])
            self._fieldset_depth.append(len(self._open))
        if tag in self.HEADINGS:
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HEADINGS and self._heading is not None:
            text = " ".join("".join(self._heading).split())
            self.headings.append(re.sub(r"^\d+\.\s*", "", text))  # "3. X" reads as X
            self._heading = None
        if tag == "fieldset" and self._fieldset_depth:
            self._fieldset_depth.pop()
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)


def _view(group: str, answers: dict[str, Any]) -> service.LinkView:
    now = utcnow()
    return service.LinkView(group=group, year=2024, opens_at=now - timedelta(days=1),
                            closes_at=now + timedelta(days=1), campaign_status="open",
                            institution="Pemerintah Kabupaten Uji", unit="Dinas Uji", response_status=None,
                            answers=answers)


def _outline(html: str) -> _Outline:
    parser = _Outline()
    parser.feed(html)
    parser.close()
    return parser


@pytest.mark.parametrize("group", GROUPS)
def test_no_page_shows_the_same_heading_twice_in_a_row(group: str) -> None:
    link_page.clear()
    q = questionnaire(group)
    for answers in ({}, full_answers(q, experience="ya")):
        view = _view(group, answers)
        for page_id in q.page_ids():
            html = link_page.render_page(q, page_id, view, "/s/TOKEN", "1.a")
            outline = _outline(html)
            repeated = [a for a, b in zip(outline.headings, outline.headings[1:], strict=False) if a == b]
            assert not repeated, (group, page_id, repeated)
            page = q.page(page_id)
            questions = page.questions if page else ()
            # One fieldset per question, its legend its first child and its only legend.
            assert len(outline.fieldsets) == len(questions), (group, page_id)
            for children in outline.fieldsets:
                assert children[:1] == ["legend"] and children.count("legend") == 1, (group, page_id, children)
            assert outline.radios_outside_labels == 0, (group, page_id)
            assert len(outline.ids) == len(set(outline.ids)), (group, page_id)
            assert set(outline.references) <= set(outline.ids), (group, page_id)
            # Every question's own wording is on its page (the shared label is not all that is left).
            for question in questions:
                assert question.prompt is None or question.prompt in html, (group, page_id, question.id)


def test_items_of_one_variable_share_one_group_heading() -> None:
    q = questionnaire("internal")
    page = q.page("trading_in_influence")
    assert page is not None
    html = link_page.render_page(q, page.id, _view("internal", {}), "/s/TOKEN", "1.a")
    first, second = page.questions[0], page.questions[1]
    assert first.variable == second.variable and first.text == second.text
    assert html.count(f">{first.text}</h2>") == 1
    assert f"<legend>1. {first.prompt}</legend>" in html and f"<legend>2. {second.prompt}</legend>" in html


# --- the follow-up part "Rincian Pengalaman" ----------------------------------------------------------


@pytest.fixture
def client(db_url: str) -> TestClient:
    return TestClient(responses_app(), follow_redirects=False)


def _page_id(html: str) -> str:
    match = re.search(r'<input type="hidden" name="page" value="([^"]+)">', html)
    assert match, html[:500]
    return match.group(1)


def _progress(html: str) -> tuple[int, int]:
    match = re.search(r"Bagian (\d+) dari (\d+)", html)
    assert match
    return int(match.group(1)), int(match.group(2))


def _follow(client: TestClient, r: HttpResponse) -> HttpResponse:
    assert r.status_code == 303, r.text[:500]
    shown = client.get(r.headers["location"])
    assert shown.status_code == 200
    return shown


def _post(client: TestClient, token: str, q: Questionnaire, page_id: str, answers: dict[str, Any],
          nav: str = "next") -> HttpResponse:
    page = q.page(page_id)
    assert page is not None
    data = {"page": page_id, "nav": nav,
            **{x.id: str(answers[x.id]) for x in page.questions if x.id in answers}}
    return client.post(f"/s/{token}", data=data)


def _walk(client: TestClient, token: str, q: Questionnaire, answers: dict[str, Any],
          shown: HttpResponse | None = None) -> tuple[list[tuple[str, int, int]], HttpResponse]:
    """Answer page after page as a browser without JavaScript would, from the page shown (or the
    link's first page) to the confirmation page: (page id, X, Y of "Bagian X dari Y") seen."""
    r = shown or client.get(f"/s/{token}")
    seen: list[tuple[str, int, int]] = []
    for _ in range(len(q.pages) + 2):
        page_id = _page_id(r.text)
        seen.append((page_id, *_progress(r.text)))
        if page_id == CONFIRM_PAGE:
            return seen, r
        r = _follow(client, _post(client, token, q, page_id, answers))
    raise AssertionError(f"no confirmation page after {seen}")


def _stored(session: Session) -> Response:
    session.expire_all()
    rows = session.exec(select(Response)).all()
    assert len(rows) == 1
    return rows[0]


def test_all_tidak_pernah_skips_the_follow_up_part_and_submits(client: TestClient, session: Session) -> None:
    q = questionnaire("external")
    _, token = respondent(session, "external")
    answers = full_answers(q, experience="tidak")
    assert not any(d in answers for d in DETAILS)
    seen, confirm = _walk(client, token, q, answers)
    ids = [page_id for page_id, _, _ in seen]
    assert FOLLOW_UP not in ids
    assert ids == [p.id for p in q.pages if p.id != FOLLOW_UP] + [CONFIRM_PAGE]
    assert [(x, y) for _, x, y in seen] == [(i, len(ids)) for i in range(1, len(ids) + 1)]
    assert "Rincian Pengalaman" not in confirm.text
    # Asked for by its address, the skipped part gives the next page shown.
    assert _page_id(client.get(f"/s/{token}?p={FOLLOW_UP}").text) == "prevention_efforts"
    done = client.post(f"/s/{token}", data={"page": CONFIRM_PAGE, "nav": "submit"})
    assert done.status_code == 303 and "?p=" not in done.headers["location"]
    assert "Jawaban Anda sudah kami terima" in client.get(f"/s/{token}").text
    row = _stored(session)
    assert row.status == "submitted" and not any(d in row.answers for d in DETAILS)
    assert FOLLOW_UP not in (row.page_times or {})


def test_back_from_the_page_after_a_skipped_part(client: TestClient, session: Session) -> None:
    q = questionnaire("external")
    _, token = respondent(session, "external")
    answers = full_answers(q, experience="tidak")
    _walk(client, token, q, answers)
    back = _follow(client, _post(client, token, q, "prevention_efforts", answers, nav="back"))
    assert _page_id(back.text) == EXPERIENCE_PAGE
    assert _progress(back.text) == (3, 5)


def test_one_pernah_brings_the_follow_up_part_back_and_requires_it(
    client: TestClient, session: Session
) -> None:
    q = questionnaire("external")
    _, token = respondent(session, "external")
    answers = full_answers(q, experience="tidak")
    seen, _ = _walk(client, token, q, answers)
    assert FOLLOW_UP not in [page_id for page_id, _, _ in seen]
    # Back on the experience page, one answer changed to "Ya, pernah": the part is shown again.
    answers["employee_integrity_3_k"] = "ya"
    again = client.get(f"/s/{token}?p={EXPERIENCE_PAGE}")
    assert _page_id(again.text) == EXPERIENCE_PAGE and _progress(again.text) == (3, 5)
    follow_up = _follow(client, _post(client, token, q, EXPERIENCE_PAGE, answers))
    assert _page_id(follow_up.text) == FOLLOW_UP
    assert "Rincian Pengalaman" in follow_up.text and _progress(follow_up.text) == (4, 6)
    # ... and required: neither the page nor the submit goes on without it.
    empty = _post(client, token, q, FOLLOW_UP, {})
    assert empty.status_code == 422 and empty.text.count(MSG_REQUIRED) == len(DETAILS)
    early = client.post(f"/s/{token}", data={"page": CONFIRM_PAGE, "nav": "submit"})
    assert early.status_code == 303 and early.headers["location"].endswith(f"?p={FOLLOW_UP}")
    details = {x.id: x.options[0][0] for x in q.questions if x.id in DETAILS}
    seen, _ = _walk(client, token, q, {**answers, **details}, shown=follow_up)
    assert [page_id for page_id, _, _ in seen] == [FOLLOW_UP, "prevention_efforts", CONFIRM_PAGE]
    assert [(x, y) for _, x, y in seen] == [(4, 6), (5, 6), (6, 6)]
    done = client.post(f"/s/{token}", data={"page": CONFIRM_PAGE, "nav": "submit"})
    assert done.status_code == 303 and "?p=" not in done.headers["location"]
    row = _stored(session)
    assert row.status == "submitted" and {d: row.answers.get(d) for d in DETAILS} == details


def test_pages_shown_follow_the_answers() -> None:
    q = questionnaire("external")
    every = q.page_ids()
    tidak = full_answers(q, experience="tidak")
    assert q.page_ids(tidak) == [p for p in every if p != FOLLOW_UP]
    for item in ("employee_integrity_2_k", "employee_integrity_3_k"):
        assert q.page_ids({**tidak, item: "ya"}) == every
    assert q.neighbour(EXPERIENCE_PAGE, tidak) == "prevention_efforts"
    assert q.neighbour("prevention_efforts", tidak, forward=False) == EXPERIENCE_PAGE
    assert q.neighbour(EXPERIENCE_PAGE, {**tidak, "employee_integrity_3_k": "ya"}) == FOLLOW_UP
    for group in ("internal", "expert"):  # no follow-up part: every page, whatever the answers
        other = questionnaire(group)
        assert other.page_ids(full_answers(other, experience="tidak")) == other.page_ids()
