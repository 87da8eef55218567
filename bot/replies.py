"""The reply texts: pure functions from what the bot decided to the words the respondent reads.

Texts live in `templates/bot/*.txt` (Bahasa Indonesia); the FAQ in `bot/data/faq.yaml` (or the
file named by BOT_FAQ_FILE), which the PIC may edit: an edit applies from the next question (the
file is re-read when it changes), and a broken edit never leaves a respondent without an answer:
the bot answers from the built-in FAQ and logs what to fix (also checked when the web starts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.lookup import Survey
from core.clock import format_date_id, format_datetime_id
from core.config import get_settings
from core.datafiles import DataFileError, read_yaml
from core.errors import SpibotError
from core.templating import get_env, render

FAQ_FILE = Path(__file__).resolve().parent / "data" / "faq.yaml"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topic:
    key: str
    title: str
    answer: str


class FaqError(SpibotError, ValueError):
    """The FAQ file is missing a field or malformed (says which entry and how to fix it)."""


@lru_cache(maxsize=8)
def _load_faq(path: str, _version: tuple[int, int] = (0, 0)) -> tuple[Topic, ...]:
    """The topics of one FAQ file; `_version` (mtime, size) keys the cache, so an edit is re-read."""
    data = read_yaml(Path(path)) or {}
    items = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise FaqError(f"{path}: no topics; add a 'topics:' list with key/title/answer entries")
    topics = []
    for n, item in enumerate(items, 1):
        fields = item if isinstance(item, dict) else {}
        missing = [f for f in ("key", "title", "answer") if not str(fields.get(f) or "").strip()]
        if missing:
            raise FaqError(f"{path}: topic {n} lacks {', '.join(missing)}; give every topic "
                           "a key, a title and an answer")
        topics.append(Topic(str(fields["key"]), str(fields["title"]).strip(), str(fields["answer"]).strip()))
    return tuple(topics)


def _custom_faq() -> tuple[tuple[Topic, ...] | None, str | None]:
    """The PIC's FAQ (BOT_FAQ_FILE) and what is wrong with it: (topics, None), (None, problem),
    or (None, None) when the built-in FAQ is configured."""
    custom = get_settings().bot_faq_file
    if custom is None or str(custom) in ("", "."):  # BOT_FAQ_FILE= (empty) means the default
        return None, None
    try:
        stat = Path(custom).stat()
        return _load_faq(str(custom), (stat.st_mtime_ns, stat.st_size)), None
    except OSError as exc:
        return None, f"{custom}: {exc.strerror or exc}; check BOT_FAQ_FILE"
    except (DataFileError, FaqError) as exc:
        return None, str(exc)


def faq_problem() -> str | None:
    """What is wrong with the PIC's FAQ file, or None (checked when the web starts)."""
    return _custom_faq()[1]


_reported: set[str] = set()


def faq_topics() -> tuple[Topic, ...]:
    """The PIC's FAQ when it reads well, else the built-in one (each problem logged once)."""
    topics, problem = _custom_faq()
    if topics is not None:
        return topics
    if problem is not None and problem not in _reported:
        _reported.add(problem)
        log.error("FAQ file unusable, answering from the built-in FAQ until it is fixed: %s", problem)
    return _load_faq(str(FAQ_FILE))


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
