"""Counters (loket) per unit: created by the PIC (dashboard "Loket dan poster", `spibot qr counter
add`), each with its average daily visitors, its own posters (registration and guest book), and
the registrations and guest-book entries that came through it.

A counter's name is also its code in `Unit.counters`, the list the registration page, the guest
book and the posters check (`?loket=<name>`); `add_counter` keeps the two in step. Counters that
are only in `Unit.counters` (from before this table, or the demo) are listed too, without their
daily visitors.
"""

from __future__ import annotations

import unicodedata
from collections import Counter as Tally
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.audit import record
from core.clock import utcnow
from core.models import Campaign, Institution, Person, Unit
from qr.models import Counter
from qr.posters import file_name, poster_spec, render_one
from qr.service import COUNTER_FLAG
from qr.stats import registrations
from qr.urls import GUESTBOOK, KINDS, REGISTRATION

NAME_MAX = 60  # Assignment.counter, ShortLink.counter
VISITORS_MAX = 100_000
NAME_MARKS = " -_.,/()#&'+:"  # besides letters and digits
MEDIA = {"pdf": "application/pdf", "png": "image/png"}


class CounterError(ValueError):
    """A counter that cannot be created; the message is for the PIC (Indonesian)."""


def clean_name(raw: str) -> str:
    """The counter name as stored: NFC, spaces collapsed; CounterError when it cannot be one.

    Letters (Latin-1: the poster's Helvetica has no other), digits, spaces and a few marks only:
    the name is printed on the poster and travels in its URL."""
    text = unicodedata.normalize("NFC", raw or "")
    if any(unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp") for ch in text):
        raise CounterError("Nama loket tidak boleh berisi karakter kontrol atau karakter tak terlihat "
                           "(misalnya baris baru atau tab).")
    name = " ".join(text.split())
    if not name:
        raise CounterError('Nama loket wajib diisi, misalnya "Loket 1".')
    if len(name) > NAME_MAX:
        raise CounterError(f"Nama loket paling panjang {NAME_MAX} karakter.")
    if not all(ch in NAME_MARKS or (ch.isalnum() and _latin1(ch)) for ch in name):
        raise CounterError("Nama loket hanya boleh berisi huruf, angka, spasi dan tanda "
                           + " ".join(NAME_MARKS.strip()) + ".")
    return name


def _latin1(ch: str) -> bool:
    try:
        ch.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def clean_visitors(raw: str | int) -> int:
    """Average visitors a day: a whole number from 0 to 100.000."""
    text = str(raw).strip().replace(".", "") if not isinstance(raw, int) else str(raw)
    if not text.isascii() or not text.isdigit() or int(text) > VISITORS_MAX:
        raise CounterError("Rata-rata pengunjung per hari diisi angka bulat 0 sampai 100.000.")
    return int(text)


@dataclass(frozen=True)
class Added:
    counter: Counter
    created: bool  # False: it already existed, nothing changed


def add_counter(session: Session, unit: Unit, name: str, daily_visitors: str | int, *,
                actor: str) -> Added:
    """Create a counter of `unit` (idempotent: an existing one, whatever the case of its name, is
    returned unchanged) and add its name to `unit.counters`. Audit-logged when created."""
    name, visitors = clean_name(name), clean_visitors(daily_visitors)
    if not unit.serves_public:
        raise CounterError(f"Unit {unit.name} tidak melayani publik, jadi tidak memakai loket dan poster.")
    assert unit.id is not None
    # Lock the unit (PostgreSQL; SQLite's write transaction already serialises): its counters
    # list is rewritten below.
    locked = session.exec(select(Unit).where(Unit.id == unit.id).with_for_update()).one()
    found = _find(session, locked.id, name)  # type: ignore[arg-type]
    if found is not None:
        _keep_in_unit(session, locked, found.name)
        return Added(found, False)
    # a counter known only from unit.counters keeps its spelling (and gets its row now)
    name = next((n for n in locked.counters or [] if n.casefold() == name.casefold()), name)
    counter = Counter(institution_id=locked.institution_id, unit_id=locked.id, name=name,  # type: ignore[arg-type]
                      daily_visitors=visitors, created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(counter)
    except IntegrityError:  # created meanwhile by another request
        again = _find(session, locked.id, name)  # type: ignore[arg-type]
        if again is None:
            raise
        return Added(again, False)
    _keep_in_unit(session, locked, name)
    record(session, actor, "qr.counter", institution_id=locked.institution_id,
           target=f"unit:{locked.code}", details={"counter": name, "daily_visitors": visitors})
    return Added(counter, True)


def _find(session: Session, unit_id: int, name: str) -> Counter | None:
    rows = session.exec(select(Counter).where(Counter.unit_id == unit_id)).all()
    return next((c for c in rows if c.name.casefold() == name.casefold()), None)


def _keep_in_unit(session: Session, unit: Unit, name: str) -> None:
    if name not in (unit.counters or []):
        unit.counters = [*(unit.counters or []), name]  # a new list: the JSON column sees the change
        session.add(unit)


# --- the overview per unit ------------------------------------------------------------------------


@dataclass(frozen=True)
class CounterRow:
    name: str | None  # None: registrations or entries without a (known) counter
    daily_visitors: int | None  # None: a counter known only from Unit.counters
    registrations: int
    guestbook: int
    counter_id: int | None = None


@dataclass
class UnitCounters:
    unit: Unit
    rows: list[CounterRow] = field(default_factory=list)

    @property
    def registrations(self) -> int:
        return sum(r.registrations for r in self.rows)

    @property
    def guestbook(self) -> int:
        return sum(r.guestbook for r in self.rows)


def guestbook_counts(session: Session, institution_id: int) -> Tally[tuple[int, str | None]]:
    """Guest-book entries per (unit, counter) of an institution; counter None: without one."""
    query = select(Person.unit_id, Person.flags).where(
        Person.institution_id == institution_id, Person.source == "guestbook")
    out: Tally[tuple[int, str | None]] = Tally()
    for unit_id, flags in session.exec(query):
        if unit_id is None:
            continue
        named = [f.removeprefix(COUNTER_FLAG) for f in (flags or []) if f.startswith(COUNTER_FLAG)]
        out[(unit_id, named[0] if named else None)] += 1
    return out


def overview(session: Session, campaign: Campaign) -> list[UnitCounters]:
    """Every unit serving the public, with its counters (table rows and `Unit.counters`), each
    counter's registrations in this campaign and guest-book entries; then one row "no counter"
    when something came without one. Ordered by unit name."""
    institution_id = campaign.institution_id
    units = session.exec(select(Unit).where(Unit.institution_id == institution_id,
                                            col(Unit.serves_public))).all()
    stored: dict[tuple[int, str], Counter] = {
        (c.unit_id, c.name): c for c in session.exec(select(Counter).where(Counter.institution_id == institution_id))}
    regs: Tally[tuple[int, str | None]] = Tally()
    for r in registrations(session, institution_id, campaign.id):
        regs[(r.unit_id, r.counter)] += r.count
    book = guestbook_counts(session, institution_id)
    out = []
    for unit in sorted(units, key=lambda u: (u.name.lower(), u.code)):
        assert unit.id is not None
        names = list(dict.fromkeys([*(unit.counters or []),
                                    *sorted(n for (uid, n) in stored if uid == unit.id)]))
        item = UnitCounters(unit)
        for name in names:
            c = stored.get((unit.id, name))
            item.rows.append(CounterRow(name, c.daily_visitors if c else None, regs[(unit.id, name)],
                                        book[(unit.id, name)], c.id if c else None))
        # anything counted under a name the unit no longer lists counts as "no counter" here
        loose_regs = sum(n for (uid, name), n in regs.items() if uid == unit.id and name not in names)
        loose_book = sum(n for (uid, name), n in book.items() if uid == unit.id and name not in names)
        if loose_regs or loose_book:
            item.rows.append(CounterRow(None, None, loose_regs, loose_book))
        out.append(item)
    return out


# --- posters per counter -----------------------------------------------------------------------


@dataclass(frozen=True)
class Poster:
    body: bytes
    media_type: str
    filename: str


def counter_poster(session: Session, campaign: Campaign, unit: Unit, name: str,
                   kind: str = REGISTRATION, ext: str = "pdf", fmt: str = "a4") -> Poster:
    """One counter's A4 poster (registration or guest book) as PDF or PNG; LookupError when the
    unit has no such counter. Creates the counter's short link on first use (write session)."""
    if kind not in KINDS or ext not in MEDIA:
        raise LookupError(f"no {kind} poster as {ext}")
    if not unit.serves_public or name not in (unit.counters or []):
        raise LookupError(f"unit {unit.code} has no counter {name!r}")
    institution = session.get(Institution, unit.institution_id)
    assert institution is not None
    spec = poster_spec(session, kind, campaign, institution, unit, name)
    body = render_one(spec, fmt, ext)
    stem = file_name(spec, 1, fmt).removesuffix(".png").removeprefix("0001-")
    return Poster(body, MEDIA[ext], f"poster-{stem}.{ext}")


__all__ = ["GUESTBOOK", "REGISTRATION", "Added", "CounterError", "CounterRow", "Poster", "UnitCounters",
           "add_counter", "clean_name", "clean_visitors", "counter_poster", "guestbook_counts", "overview"]
