"""The intent table: pure matchers `match(text) -> Match | None`, one per intent, tried in order.

Keyword lists live in `bot/data/intents.yaml`. Every matcher sees the same normalised text: NFKC
(so fancy Unicode letters become plain ones), lower case, anything that is not a letter or a digit
(punctuation, emoji) turned into a space, runs of 3+ equal letters squeezed ("isiii" -> "isi").
Filler words ("ya", "pak", "bu", "tolong", greetings...) are dropped for the whole-message lists.
A word of 5+ letters within one edit of a known word counts as that word ("survai" -> "survei").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.datafiles import read_yaml

DATA = Path(__file__).resolve().parent / "data" / "intents.yaml"
MAX_MATCH_CHARS = 500  # longer texts are not read for intents (they get the help message)

ISI_SURVEI = "isi_survei"
TANYA_SPI = "tanya_spi"
STOP = "stop"
START = "start"
HELP = "help"
CORRECTION = "koreksi"  # "bukan saya", "salah unit", "nomor salah"... (bot.cases)
INTENTS = (ISI_SURVEI, TANYA_SPI, STOP, START, HELP, CORRECTION)
# The kinds of correction, in the order they are tried (a wrong number before "bukan saya").
CORRECTION_KINDS = ("wrong_number", "wrong_unit", "wrong_name", "moved", "not_me")

# Question words that make "... survei ..." a question about the survey, not a request for it.
_WHY_WHAT = {"apa", "apakah", "apaan", "kenapa", "mengapa", "knp", "napa", "siapa", "kapan",
             "berapa", "darimana", "what", "why", "who", "when"}


@dataclass(frozen=True)
class Match:
    intent: str
    rule: str  # which list matched (for tests and debugging)


@dataclass(frozen=True)
class Text:
    """A message prepared once for all matchers."""

    raw: str
    words: tuple[str, ...]  # normalised words
    kept: tuple[str, ...]  # normalised words without fillers

    @property
    def joined(self) -> str:
        return " ".join(self.words)

    @property
    def kept_joined(self) -> str:
        return " ".join(self.kept)

    @property
    def compact(self) -> str:
        return "".join(self.kept)


@lru_cache
def keywords() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(DATA)
    return data


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")[: MAX_MATCH_CHARS * 2]
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    ).lower()
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    text = re.sub(r"([a-z])\1{2,}", r"\1", text)
    return " ".join(text.split())


def prepare(text: str) -> Text:
    words = tuple(normalise(text).split())
    fillers = set(keywords()["fillers"])
    return Text(raw=text, words=words, kept=tuple(w for w in words if w not in fillers))


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Levenshtein distance, giving up (returning limit + 1) once it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def _near(word: str, vocabulary: Iterable[str], *, min_len: int = 5) -> bool:
    """`word` is in `vocabulary`, or one edit away from a vocabulary word of `min_len`+ letters."""
    vocab = set(vocabulary)
    if word in vocab:
        return True
    if len(word) < min_len:
        return False
    return any(len(v) >= min_len and edit_distance(word, v, 1) <= 1 for v in vocab)


def _fuzzy_phrase(text: str, phrases: Iterable[str]) -> bool:
    """The whole `text` is one of `phrases` (one edit allowed from 5 letters, two from 9)."""
    if not text:
        return False
    for phrase in phrases:
        if text == phrase:
            return True
        if len(phrase) >= 5 and len(text) >= 5:
            allowed = 2 if len(phrase) >= 11 else 1
            if edit_distance(text, phrase, allowed) <= allowed:
                return True
    return False


def _contains(text: Text, phrases: Iterable[str]) -> bool:
    padded = f" {text.joined} "
    return any(f" {p} " in padded for p in phrases)


def _exact(text: Text, phrases: Iterable[str]) -> bool:
    """Whole-message match, on the text with and without fillers (words fuzzily)."""
    phrases = list(phrases)
    candidates = {text.joined, text.kept_joined} - {""}
    if candidates & set(phrases):
        return True
    singles = [p for p in phrases if " " not in p]
    return len(text.kept) == 1 and _near(text.kept[0], singles)


# --- the matchers -------------------------------------------------------------------------------


def match_stop(text: Text) -> Match | None:
    kw = keywords()["stop"]
    if _exact(text, kw["exact"]):
        return Match(STOP, "exact")
    if _contains(text, kw["contains"]):
        return Match(STOP, "contains")
    return None


def match_start(text: Text) -> Match | None:
    kw = keywords()["start"]
    if _exact(text, kw["exact"]):
        return Match(START, "exact")
    if _contains(text, kw["contains"]):
        return Match(START, "contains")
    return None


def match_isi_survei_exact(text: Text) -> Match | None:
    kw = keywords()["isi_survei"]
    compacts = {text.compact, "".join(text.words)}
    if compacts & set(kw["exact"]):
        return Match(ISI_SURVEI, "exact")
    if set(text.words) & _WHY_WHAT:
        return None  # "survei apa ini?" is a question: no fuzzy whole-message match
    if any(_fuzzy_phrase(c, kw["exact"]) for c in compacts):
        return Match(ISI_SURVEI, "exact")
    return None


def match_correction(text: Text) -> Match | None:
    """The respondent says the message reached the wrong person, name, unit or number."""
    kw = keywords()["correction"]
    for kind in CORRECTION_KINDS:
        if _contains(text, kw[kind]):
            return Match(CORRECTION, kind)
    return None


def match_tanya_spi(text: Text) -> Match | None:
    kw = keywords()["tanya_spi"]
    if _exact(text, kw["exact"]):
        return Match(TANYA_SPI, "exact")
    if _contains(text, kw["contains"]):
        return Match(TANYA_SPI, "contains")
    return None


def match_isi_survei_request(text: Text) -> Match | None:
    kw = keywords()["isi_survei"]
    if any(_near(w, kw["strong"]) for w in text.words):
        return Match(ISI_SURVEI, "strong")
    if set(text.words) & _WHY_WHAT:
        return None  # "kenapa saya dikirim survei?" is a question, for the FAQ
    has_verb = any(_near(w, kw["verbs"], min_len=6) for w in text.words)
    has_object = any(_near(w, kw["objects"]) for w in text.words)
    if has_verb and has_object:
        return Match(ISI_SURVEI, "request")
    return None


def match_question(text: Text) -> Match | None:
    kw = keywords()["tanya_spi"]
    if "?" in text.raw or set(text.words) & set(kw["question_words"]):
        return Match(TANYA_SPI, "question")
    return None


MATCHERS: list[Callable[[Text], Match | None]] = [
    match_stop,
    match_start,
    match_isi_survei_exact,
    match_correction,
    match_tanya_spi,
    match_isi_survei_request,
    match_question,
]


def match(text: str) -> Match | None:
    """The first intent of the table that claims `text`, or None (the help message)."""
    if not text or len(text) > MAX_MATCH_CHARS:
        return None
    prepared = prepare(text)
    if not prepared.words:
        return None
    for matcher in MATCHERS:
        found = matcher(prepared)
        if found:
            return found
    return None


def correction_kind(text: str) -> str | None:
    """not_me, wrong_name, wrong_unit, moved or wrong_number when `text` is a correction."""
    found = match(text)
    return found.rule if found and found.intent == CORRECTION else None


def confirmation(text: str) -> bool | None:
    """The answer to "is that right?": True (ya), False (tidak) or None (something else)."""
    said = normalise(text or "")[:40]
    kw = keywords()["correction"]
    if said in kw["confirm_yes"]:
        return True
    if said in kw["confirm_no"]:
        return False
    return None


def intent_of(text: str) -> str:
    """The intent name for `text`: isi_survei, tanya_spi, stop, start, koreksi or help."""
    found = match(text)
    return found.intent if found else HELP


_CHOICE = re.compile(r"^(?:no|nomor|nomer|pilih|pilihan|angka)?\s*(\d{1,3})$")


def parse_choice(text: str) -> int | None:
    """A numbered answer ("2", "no 2", "2.", "pilih 2"), or None."""
    found = _CHOICE.match(normalise(text or "")[:20])
    return int(found.group(1)) if found else None


def is_menu(text: str) -> bool:
    return normalise(text or "") in {"menu", "0", "kembali", "back", "menu utama"}
