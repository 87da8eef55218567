"""Importing again never doubles a population.

- A file whose SHA-256 an earlier import of the institution already holds is skipped: importing
  the exact same file again writes nothing and says so.
- A unit's new list replaces that unit's earlier list of the same form (group): the earlier
  imported rows of each (unit, group) the new import brings are deleted, and the change is
  counted per unit as added / removed / changed people. Units and forms the new files do not
  contain keep their rows; people who came in through a QR registration or the guest book are
  never touched.
- Once a sample has been drawn from a unit's list, that list cannot be replaced: the import is
  refused (nothing written), so a person can never get a second assignment. New people then enter
  as reserves or through participatory registration.

Same person = same form, unit and normalised contact (phone, else email, else name).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlmodel import Session, col

from core.labels import label
from core.models import Assignment, Person, Unit
from population.errors import IntakeError
from population.models import ImportBatch
from population.normalize import norm_key

# What tells two rows of the same person apart: a change in any of these is "changed".
COMPARED = ("name", "phone", "email", "position", "start_date", "service_name", "service_date",
            "organisation", "criterion", "non_asn", "status", "reason")


@dataclass(frozen=True)
class UnitChange:
    unit: str  # the unit's name
    group: str
    added: int
    removed: int
    changed: int

    def describe(self) -> str:
        name = label("form", self.group)
        return (f"{self.unit} ({name}): {self.added} ditambah, {self.removed} dihapus, "
                f"{self.changed} berubah")


def file_digest(entry: str) -> str:
    """The SHA-256 of an ImportBatch.files entry ("name sha256:<hex>")."""
    return entry.rsplit("sha256:", 1)[-1]


def already_imported(session: Session, institution_id: int, files: Iterable[str]) -> set[str]:
    """The entries of `files` whose content an earlier import of the institution holds."""
    earlier = {file_digest(f) for fs in session.execute(
        select(col(ImportBatch.files)).where(col(ImportBatch.institution_id) == institution_id)).scalars()
        for f in fs}
    return {f for f in files if file_digest(f) in earlier}


def _key(row: Any) -> str:
    return norm_key(row.phone or row.email or row.name)


def replace_earlier(session: Session, institution_id: int, batch_id: int) -> list[UnitChange]:
    """Delete the earlier imported rows of each (unit, group) this batch brought, after counting
    what changed; refuse (IntakeError) where a sample was drawn from them."""
    pairs = set(session.execute(
        select(col(Person.unit_id), col(Person.group)).where(col(Person.import_batch_id) == batch_id).distinct()).all())
    if not pairs:
        return []
    # Earlier imported rows of those (unit, group) lists; a handful of pairs, so one OR each.
    earlier = and_(col(Person.institution_id) == institution_id, col(Person.import_batch_id).is_not(None),
                   col(Person.import_batch_id) != batch_id,
                   or_(*(and_(col(Person.unit_id) == u, col(Person.group) == g) for u, g in pairs)))
    drawn = set(session.execute(select(col(Person.unit_id), col(Person.group)).join(
        Assignment, col(Assignment.person_id) == col(Person.id)).where(earlier).distinct()).all())
    units: dict[int | None, str] = dict(session.execute(
        select(col(Unit.id), col(Unit.name)).where(col(Unit.id).in_({u for u, _ in pairs if u is not None}))).all())
    if drawn:
        names = ", ".join(f"{units.get(u, u)} ({label('form', g)})" for u, g in sorted(drawn, key=str))
        raise IntakeError(
            f"Sampel sudah ditarik dari daftar populasi unit {names}: daftar itu tidak dapat diganti "
            "lagi, agar tidak ada responden yang diundang dua kali. Tambahkan orang baru sebagai "
            "cadangan (halaman Sampel) atau lewat pendaftaran QR. / A sample was drawn from these "
            "lists: they cannot be replaced.")
    compared = [col(getattr(Person, c)) for c in COMPARED]
    old: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for r in session.execute(select(col(Person.unit_id), col(Person.group), *compared).where(earlier)).all():
        old[(r.unit_id, r.group)].append(r)
    if not old:
        return []
    new: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for r in session.execute(select(col(Person.unit_id), col(Person.group), *compared)
                             .where(col(Person.import_batch_id) == batch_id)).all():
        new[(r.unit_id, r.group)].append(r)
    changes = []
    for pair in sorted(old, key=lambda p: (str(units.get(p[0], "")), p[1])):
        before = {_key(r): tuple(getattr(r, c) for c in COMPARED) for r in old[pair]}
        after = {_key(r): tuple(getattr(r, c) for c in COMPARED) for r in new[pair]}
        change = UnitChange(
            unit=str(units.get(pair[0], pair[0])), group=pair[1],
            added=len(after.keys() - before.keys()), removed=len(before.keys() - after.keys()),
            changed=sum(1 for k in before.keys() & after.keys() if before[k] != after[k]))
        if change.added or change.removed or change.changed:  # a unit whose list is the same: silent
            changes.append(change)
    session.execute(delete(Person).where(earlier))
    return changes
