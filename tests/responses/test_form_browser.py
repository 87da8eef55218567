"""The questionnaire in headless Chromium on a phone-sized screen: complete, leave and resume,
double submit refused. No JavaScript is needed by the page (it has none)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from core.assignments import link_of
from responses.models import Response
from tests.responses.helpers import full_answers, questionnaire, respondent

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _answer_page(page: Any, answers: dict[str, Any], page_id: str) -> None:
    q = questionnaire("expert")
    for question in q.page(page_id).questions:  # type: ignore[union-attr]
        if question.id in answers:
            page.check(f"input[name='{question.id}'][value='{answers[question.id]}']")
    page.click("button[value='next']")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL: same flow in test_form.py
def test_complete_leave_resume_and_double_submit(live_app: Any, page: Any, browser: Any, session: Session) -> None:
    assignment, _ = respondent(session, "expert")
    link = link_of(assignment)
    assert link.startswith(live_app.url)
    answers = full_answers(questionnaire("expert"), value=4)
    page.goto(link)
    assert page.locator("h1").inner_text() == "Tentang Anda"
    assert page.locator("script").count() == 0
    assert page.get_by_role("progressbar").count() == 1
    # Submitting an empty page shows what is missing, in Indonesian, and keeps the respondent there.
    page.click("button[value='next']")
    assert "Mohon pilih salah satu jawaban" in page.content()
    _answer_page(page, answers, "profil")
    assert page.locator("h1").inner_text() == "Penilaian Eksper (1/2)"
    _answer_page(page, answers, "penilaian_1")

    # Leave, and come back later through the same link in a fresh browser.
    other = browser.new_context(viewport={"width": 360, "height": 740})
    resumed = other.new_page()
    resumed.goto(link)
    assert resumed.locator("h1").inner_text() == "Penilaian Eksper (2/2)"
    assert "Bagian 3 dari 4" in resumed.content()
    resumed.click("button[value='back']")
    assert resumed.locator("h1").inner_text() == "Penilaian Eksper (1/2)"
    first_item = questionnaire("expert").page("penilaian_1").questions[0].id  # type: ignore[union-attr]
    assert resumed.is_checked(f"input[name='{first_item}'][value='4']")
    resumed.click("button[value='next']")
    _answer_page(resumed, answers, "penilaian_2")
    assert "Kirim jawaban" in resumed.content()

    # Both browsers now show the confirmation page; the second sends, then the first tries too.
    page.goto(link)
    assert page.locator("button[value='submit']").count() == 1
    resumed.click("button[value='submit']")
    assert "Jawaban Anda sudah kami terima" in resumed.content()
    assert resumed.locator("form").count() == 0
    other.close()
    page.click("button[value='submit']")
    assert "sudah kami terima sebelumnya" in page.content()
    page.goto(link)
    assert "Jawaban Anda sudah kami terima" in page.content() and page.locator("form").count() == 0
    session.expire_all()
    stored = session.exec(select(Response)).all()
    assert len(stored) == 1 and stored[0].status == "submitted" and stored[0].expert_group is not None
