"""Questionnaires (data under responses/data/questionnaires/<year>/<group>.yaml) and answer validation.

A *scored item* has a `kind` (keberadaan / risiko / pencegahan), a `scale` and the exact KPK
reference description; a *choice* question (profile, experience details) is stored but not scored.
Raw answer values: likert/negated items 1..6 (int), experience items "ya"/"tidak", choices their
option code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.datafiles import read_yaml
from core.errors import SpibotError

DATA_DIR = Path(__file__).resolve().parent / "data"
QUESTIONNAIRE_DIR = DATA_DIR / "questionnaires"
GROUPS = ("internal", "external", "expert")
SCALES = ("likert", "negated", "experience")
KINDS = ("keberadaan", "risiko", "pencegahan")
LIKERT_VALUES = ("1", "2", "3", "4", "5", "6")
EXPERIENCE_OPTIONS = (("ya", "Ya, pernah"), ("tidak", "Tidak pernah"))
CONFIRM_PAGE = "konfirmasi"

MSG_REQUIRED = "Mohon pilih salah satu jawaban."
MSG_INVALID = "Pilihan tidak dikenal. Mohon pilih salah satu jawaban yang tersedia."


class QuestionnaireError(SpibotError):
    """A questionnaire data file is missing or malformed."""


@dataclass(frozen=True)
class Question:
    id: str
    text: str  # what the respondent reads as the statement
    options: tuple[tuple[str, str], ...]
    prompt: str | None = None
    variable: str | None = None
    dimension: str | None = None
    kind: str | None = None  # None for unscored choice questions
    scale: str | None = None
    reference: str | None = None
    anchors: tuple[str, str] | None = None
    required_if: Mapping[str, tuple[str, ...]] | None = None
    expert_group_of: Mapping[str, str] | None = None

    @property
    def scored(self) -> bool:
        return self.kind is not None

    def required(self, answers: Mapping[str, Any]) -> bool:
        if not self.required_if:
            return True
        return any(
            str(answers.get(q)).strip().lower() in values for q, values in self.required_if.items()
        )

    def parse(self, raw: Any) -> Any:
        """The stored value of a raw answer, or raise ValueError."""
        text = str(raw).strip().lower() if raw is not None else ""
        if self.scale in ("likert", "negated"):
            if text.endswith(".0"):
                text = text[:-2]
            if text not in LIKERT_VALUES:
                raise ValueError(text)
            return int(text)
        codes = {code.lower(): code for code, _ in self.options}
        if text in codes:
            return codes[text]
        if self.scale == "experience" and text in ("y", "yes", "1", "pernah", "ya, pernah"):
            return "ya"
        if self.scale == "experience" and text in ("t", "no", "0", "tidak pernah"):
            return "tidak"
        raise ValueError(text)


@dataclass(frozen=True)
class Block:
    """Questions shown together: consecutive items of one KPK variable (its label once as
    `heading`, each item then headed by its own question, its `prompt`), or one question alone
    (`heading` None). `items`: (number on the page, question)."""

    heading: str | None
    items: tuple[tuple[int, Question], ...]


@dataclass(frozen=True)
class Page:
    id: str
    title: str
    questions: tuple[Question, ...]
    dimension: str | None = None
    intro: str | None = None

    @property
    def follow_up(self) -> bool:
        """A follow-up part: every question on it is conditional (`required_if`), as "Rincian
        Pengalaman" after the experience items. It is shown only when the answers require one of
        its questions, i.e. skipped when every experience answer it follows was "Tidak pernah"."""
        return bool(self.questions) and all(x.required_if for x in self.questions)

    def applies(self, answers: Mapping[str, Any]) -> bool:
        """Whether the respondent with these answers is shown this page."""
        return not self.follow_up or any(x.required(answers) for x in self.questions)

    def blocks(self) -> tuple[Block, ...]:
        """The page's questions in order, consecutive items of one variable grouped."""
        runs: list[list[tuple[int, Question]]] = []
        for number, question in enumerate(self.questions, 1):
            last = runs[-1][-1][1] if runs else None
            if last is not None and question.variable and question.variable == last.variable:
                runs[-1].append((number, question))
            else:
                runs.append([(number, question)])
        return tuple(Block(run[0][1].text if len(run) > 1 else None, tuple(run)) for run in runs)


@dataclass(frozen=True)
class Questionnaire:
    year: int
    group: str
    title: str
    pages: tuple[Page, ...]
    expert_groups: Mapping[str, str] = field(default_factory=dict)

    @property
    def questions(self) -> list[Question]:
        return [q for p in self.pages for q in p.questions]

    @property
    def items(self) -> list[Question]:
        """Scored items, in questionnaire order."""
        return [q for q in self.questions if q.scored]

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)

    def page(self, page_id: str) -> Page | None:
        return next((p for p in self.pages if p.id == page_id), None)

    def page_ids(self, answers: Mapping[str, Any] | None = None) -> list[str]:
        """Every page and then the confirmation page; with `answers`, only the pages shown to a
        respondent with those answers (a follow-up part they skip is left out)."""
        return [p.id for p in self.pages if answers is None or p.applies(answers)] + [CONFIRM_PAGE]

    def drop_skipped(self, answers: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The answers without those of a part the respondent is no longer shown (a follow-up
        part, "Rincian Pengalaman", filled in and then made moot by changing every experience
        answer to "Tidak pernah"), and the ids dropped. Such answers never reach scoring.
        Repeated until nothing changes (a follow-up part may hang on another)."""
        kept: dict[str, Any] = dict(answers)
        dropped: list[str] = []
        while True:
            moot = [x.id for p in self.pages if not p.applies(kept) for x in p.questions if x.id in kept]
            if not moot:
                return kept, dropped
            for qid in moot:
                del kept[qid]
            dropped += moot

    def neighbour(self, page_id: str, answers: Mapping[str, Any], forward: bool = True) -> str:
        """The page shown after (`forward`) or before `page_id` to a respondent with `answers`,
        skipping the pages they are not shown; going back from the first page stays there."""
        every = self.page_ids()
        shown = self.page_ids(answers)
        at = every.index(page_id)
        after = every[at + 1:] if forward else every[:at][::-1]
        return next((x for x in after if x in shown), shown[0])


def _question(raw: dict[str, Any], anchors: Mapping[str, Any], where: str) -> Question:
    qid = raw.get("id")
    if not qid:
        raise QuestionnaireError(f"{where}: a question has no id")
    scale = raw.get("scale")
    if "kind" in raw:
        if raw["kind"] not in KINDS or scale not in SCALES or not raw.get("reference"):
            raise QuestionnaireError(f"{where}: item {qid} needs kind in {KINDS}, scale in {SCALES} and reference")
        anchor = anchors.get(raw.get("anchors", "")) if raw.get("anchors") else None
        options: tuple[tuple[str, str], ...]
        if scale == "experience":
            options = EXPERIENCE_OPTIONS
        else:
            options = tuple((v, v) for v in LIKERT_VALUES)
        return Question(
            id=qid, text=raw.get("text") or raw["reference"], options=options, prompt=raw.get("prompt"),
            variable=raw.get("variable") or qid, dimension=raw.get("dimension"), kind=raw["kind"],
            scale=scale, reference=raw["reference"],
            anchors=(anchor["low"], anchor["high"]) if anchor else None,
        )
    choices = tuple((str(o[0]), str(o[1])) for o in raw.get("options") or [])
    if not choices:
        raise QuestionnaireError(f"{where}: choice question {qid} has no options")
    required_if = raw.get("required_if")
    return Question(
        id=qid, text=raw.get("text", qid), options=choices, prompt=raw.get("prompt"),
        required_if={k: tuple(str(x) for x in v) for k, v in required_if.items()} if required_if else None,
        expert_group_of=raw.get("expert_group"),
    )


def parse_questionnaire(data: dict[str, Any], where: str = "questionnaire") -> Questionnaire:
    anchors = data.get("anchors") or {}
    pages = []
    for p in data.get("pages") or []:
        qs = tuple(_question(q, anchors, f"{where} page {p.get('id')}") for q in p.get("questions") or [])
        pages.append(Page(id=p["id"], title=p.get("title", p["id"]), questions=qs,
                          dimension=p.get("dimension"), intro=p.get("intro")))
    q = Questionnaire(year=int(data["year"]), group=data["group"], title=data.get("title", ""),
                      pages=tuple(pages), expert_groups=data.get("expert_groups") or {})
    ids = [x.id for x in q.questions]
    if len(ids) != len(set(ids)):
        raise QuestionnaireError(f"{where}: duplicate question ids")
    return q


def available_years() -> list[int]:
    return sorted(int(p.name) for p in QUESTIONNAIRE_DIR.iterdir() if p.is_dir() and p.name.isdigit())


@lru_cache
def load_questionnaire(group: str, year: int) -> Questionnaire:
    """The questionnaire of `group` for `year` (or the latest earlier year on file)."""
    if group not in GROUPS:
        raise QuestionnaireError(f"unknown group {group!r}: expected one of {GROUPS}")
    years = available_years()
    usable = [y for y in years if y <= year] or years[:1]
    if not usable:
        raise QuestionnaireError(f"no questionnaire under {QUESTIONNAIRE_DIR}")
    path = QUESTIONNAIRE_DIR / str(usable[-1]) / f"{group}.yaml"
    return parse_questionnaire(read_yaml(path), str(path))


def preload() -> None:
    """Parse the latest year's questionnaires now (a web process calls this at start), so no
    respondent's or PIC's first request pays for it."""
    years = available_years()
    for group in GROUPS:
        load_questionnaire(group, years[-1] if years else 0)


def validate_page(
    q: Questionnaire, page: Page, form: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse the answers of one page. Returns (values, errors by question id).

    `context` holds answers from other pages (conditional questions may depend on them).
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for question in page.questions:
        raw = form.get(question.id)
        if raw is None or str(raw).strip() == "":
            continue
        try:
            values[question.id] = question.parse(raw)
        except ValueError:
            errors[question.id] = MSG_INVALID
    merged = {**(context or {}), **values}
    for question in page.questions:
        if question.id not in values and question.id not in errors and question.required(merged):
            errors[question.id] = MSG_REQUIRED
    return values, errors


def validate_all(q: Questionnaire, answers: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse a complete set of answers (final submit, imports). Unknown keys are errors too."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    known = {x.id for x in q.questions}
    for key in answers:
        if key not in known:
            errors[str(key)] = "Pertanyaan tidak dikenal di kuesioner ini."
    for page in q.pages:
        v, e = validate_page(q, page, answers, answers)
        values.update(v)
        errors.update(e)
    return values, errors


def first_incomplete_page(q: Questionnaire, answers: Mapping[str, Any]) -> str | None:
    for page in q.pages:
        if not page.applies(answers):
            continue  # nothing on a skipped follow-up part is required
        _, errors = validate_page(q, page, answers, answers)
        if errors:
            return page.id
    return None
