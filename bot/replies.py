"""The reply texts: pure functions from what the bot decided to the words the respondent reads.

Texts live in `templates/bot/*.txt` (Bahasa Indonesia); the FAQ in `bot/data/faq.yaml` (or the
file named by BOT_FAQ_FILE), which the PIC may edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.lookup import Survey
from core.clock import format_date_id, format_datetime_id
from core.config import get_settings
from core.datafiles import read_yaml
from core.templating import get_env, render

FAQ_FILE = Path(__file__).resolve().parent / "data" / "faq.yaml"


@dataclass(frozen=True)
class Topic:
    key: str
    title: str
    answer: str


class FaqError(ValueError):
    """The FAQ file is missing a field or malformed (says which entry and how to fix it)."""


@lru_cache
def _load_faq(path: str) -> tuple[Topic, ...]:
    data = read_yaml(Path(path)) or {}
    topics = []
    for n, item in enumerate(data.get("topics") or [], 1):
        missing = [f for f in ("key", "title", "answer") if not str(item.get(f) or "").strip()]
        if missing:
            raise FaqError(f"{path}: topic {n} lacks {', '.join(missing)}; give every topic "
                           "a key, a title and an answer")
        topics.append(Topic(str(item["key"]), str(item["title"]).strip(), str(item["answer"]).strip()))
    if not topics:
        raise FaqError(f"{path}: no topics; add a 'topics:' list with key/title/answer entries")
    return tuple(topics)


def faq_topics() -> tuple[Topic, ...]:
    custom = get_settings().bot_faq_file
    if custom is None or str(custom) in ("", "."):  # BOT_FAQ_FILE= (empty) means the default
        return _load_faq(str(FAQ_FILE))
    return _load_faq(str(custom))


def _call_centre() -> str:
    return get_settings().call_centre


def faq_menu() -> str:
    return render("bot/faq_menu.txt", topics=faq_topics()).strip()


def faq_answer(topic: Topic, closes: str | None) -> str:
    batas = closes or "tanggal yang disebutkan dalam pesan undangan Anda"
    answer = get_env().from_string(topic.answer).render(call_centre=_call_centre(), batas_waktu=batas)
    return render("bot/faq_answer.txt", title=topic.title, answer=answer.strip()).strip()


def closes_text(survey: Survey) -> str:
    return format_datetime_id(survey.closes_at, survey.timezone)


def link_one(survey: Survey) -> str:
    return render(
        "bot/link_one.txt", person=survey.person_name or "Bapak/Ibu", institution=survey.institution,
        unit=survey.unit, link=survey.link(), closes=closes_text(survey),
    ).strip()


def link_list(surveys: list[Survey]) -> str:
    return render("bot/link_list.txt", items=surveys).strip()


def submitted(survey: Survey) -> str:
    return render(
        "bot/submitted.txt", person=survey.person_name or "Bapak/Ibu",
        institution=survey.institution, unit=survey.unit,
    ).strip()


def closed(survey: Survey) -> str:
    return render(
        "bot/closed.txt", institution=survey.institution,
        closed=format_date_id(survey.closes_at, survey.timezone),
    ).strip()


def not_open(survey: Survey) -> str:
    return render(
        "bot/not_open.txt", institution=survey.institution,
        opens=format_datetime_id(survey.opens_at, survey.timezone),
    ).strip()


def unknown(registrations: list[dict[str, str]]) -> str:
    return render("bot/unknown.txt", registrations=registrations, call_centre=_call_centre()).strip()


def simple(name: str, **context: object) -> str:
    """help, media, stop, start, rate_limited, choice_invalid."""
    return render(f"bot/{name}.txt", call_centre=_call_centre(), **context).strip()
