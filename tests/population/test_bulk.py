"""The bulk paths (COPY / executemany of tuples) behave like the ORM: same values, same
transaction, same tokens."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from core.clock import utcnow
from core.models import Assignment, Person, Unit
from core.tokens import hash_token, token_for
from population.bulk import BulkWriter
from population.drawing import token_pairs
from population.importer import import_files
from population.models import SampleDraw
from population.sampling import draw_sample
from population.synthetic import write_population_csv
from tests.factories import make_campaign, make_institution, make_unit

REF = date(2024, 6, 30)


@pytest.mark.parametrize("secret", [None, "k", "x" * 64, "ü" * 80])
def test_token_pairs_are_core_tokens(secret: str | None) -> None:
    pairs = list(token_pairs(50, secret))
    assert len({nonce for nonce, _ in pairs}) == 50
    for nonce, token_hash in pairs:
        assert len(nonce) == 32 and int(nonce, 16) >= 0
        assert token_hash == hash_token(token_for(nonce, secret))


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_bulk_rows_read_back_like_orm_rows(session: Session, binary: bool) -> None:
    """Text COPY and binary COPY (the import's; JSON sent as its text) on PostgreSQL, executemany
    on SQLite: escapes, non-ASCII text, NULL, a date, a boolean, JSON and an aware timestamp."""
    inst = make_institution(session)
    unit = make_unit(session, inst)
    now = utcnow()
    columns = ("institution_id", "unit_id", "group", "name", "phone", "email", "start_date", "non_asn",
               "status", "flags", "source", "created_at")
    writer = BulkWriter(session, Person.__table__, columns, binary=binary)  # type: ignore[attr-defined]
    with writer:
        writer.append((inst.id, unit.id, "internal", "Tab\there \\ back, Ni Luh Putu Ayu Ṣ", "+6281234567890",
                       None, writer.converter("start_date")(date(2019, 10, 13)), writer.value("non_asn", True),
                       "eligible", writer.value("flags", ["non_asn", "kontak ganda: \"é\""]), "import",
                       writer.value("created_at", now)))
    person = session.scalars(select(Person).where(Person.institution_id == inst.id)).one()
    assert person.name == "Tab\there \\ back, Ni Luh Putu Ayu Ṣ" and person.start_date == date(2019, 10, 13)
    assert person.email is None
    assert person.non_asn is True and person.flags == ["non_asn", 'kontak ganda: "é"']
    assert person.created_at == now and person.created_at.tzinfo is not None


def test_assignment_rows_read_back_like_orm_rows(session: Session) -> None:
    """The draw's writer (binary COPY on PostgreSQL): NULLs, booleans, bytes and an aware
    timestamp come back as written, across two appends into one open COPY."""
    from population.drawing import assignment_writer, write_assignments

    inst = make_institution(session)
    unit = make_unit(session, inst)
    campaign = make_campaign(session, inst)
    people = [Person(institution_id=inst.id, unit_id=unit.id if i else None, group="internal", name=f"P{i}")
              for i in range(3)]
    session.add_all(people)
    session.flush()
    now = utcnow()
    with assignment_writer(session) as writer:
        write_assignments(writer, campaign.id, [(people[0].id, None, "internal", "sampled", None)], now)  # type: ignore[arg-type,list-item]
        write_assignments(writer, campaign.id, [(people[1].id, unit.id, "external", "reserve", 2),  # type: ignore[arg-type,list-item]
                                                (people[2].id, unit.id, "vendor", "expert", None)], now)
    rows = {a.person_id: a for a in session.scalars(select(Assignment).where(Assignment.campaign_id == campaign.id))}
    first, reserve, expert = (rows[p.id] for p in people)  # type: ignore[index]
    assert (first.unit_id, first.group, first.kind, first.active, first.reserve_rank, first.counter) == (
        None, "internal", "sampled", True, None, None)
    assert (reserve.unit_id, reserve.kind, reserve.active, reserve.reserve_rank) == (unit.id, "reserve", False, 2)
    assert (expert.group, expert.kind, expert.active) == ("vendor", "expert", True)
    for a in rows.values():
        assert a.created_at == now and a.created_at.tzinfo is not None
        assert isinstance(a.token_hash, bytes) and a.token_hash == hash_token(token_for(a.token_nonce))


def test_failure_while_rows_stream_writes_nothing(session: Session, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An error with the COPY still open (PostgreSQL) or rows pending (SQLite) rolls back all."""
    import population.importer as importer

    path = tmp_path / "pegawai.csv"
    write_population_csv(path, seed=3, n_rows=400, form="internal", reference_date=REF)
    inst = make_institution(session)
    session.commit()
    monkeypatch.setattr(importer, "CHUNK", 50)

    def progress(done: int) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        import_files(session, [path], inst, REF, progress=progress)
    session.commit()  # the session is usable again
    assert session.scalar(select(func.count()).select_from(Person)) == 0
    assert session.scalar(select(func.count()).select_from(Unit)) == 0
    report = import_files(session, [path], inst, REF)
    assert session.scalar(select(func.count()).select_from(Person)) == sum(
        f["rows"] - f["duplicates"] for f in report.summary().values()
    )


def test_frame_order_and_hash_are_byte_order_on_every_backend(session: Session) -> None:
    """PostgreSQL sorts with the "C" collation, so both backends list the frame alike."""
    inst = make_institution(session)
    unit = make_unit(session, inst, code="u1")
    names = ["budi", "Budi", "Ádi", "Zaki", "adi", "Ani-Ani", "Ani Ani", "ani"]
    session.add_all([Person(institution_id=inst.id, unit_id=unit.id, group="internal", name=n,  # type: ignore[arg-type]
                            phone=f"+62812000000{i:02d}") for i, n in enumerate(names)])
    session.flush()
    draw = draw_sample(session, make_campaign(session, inst), seed=5)
    lines = sorted((f"internal|u1|{n}|+62812000000{i:02d}|" for i, n in enumerate(names)), key=str.encode)
    assert draw.population_hash == hashlib.sha256("\n".join(lines).encode()).hexdigest()
    tokens = session.scalars(select(Assignment.token_hash)).all()
    assert len(tokens) == len(set(tokens)) == draw.sizes["internal"]["size"] + draw.sizes["internal"]["reserves"]


def test_people_already_assigned_are_left_out_of_the_draw(session: Session) -> None:
    from core.assignments import create_assignment
    from core.models import AssignmentKind

    inst = make_institution(session)
    unit = make_unit(session, inst)
    people = [Person(institution_id=inst.id, unit_id=unit.id, group=group, name=f"Orang {i}",  # type: ignore[arg-type]
                     phone=f"+6281300000{i:03d}") for i in range(40) for group in ("internal", "external")]
    expert = Person(institution_id=inst.id, group="expert", name="Ahli", criterion="Akademisi", phone="+6281399999999")  # type: ignore[arg-type]
    session.add_all([*people, expert])
    session.flush()
    campaign = make_campaign(session, inst)
    walk_in = create_assignment(session, campaign, people[1], kind=AssignmentKind.participatory)
    create_assignment(session, campaign, expert, kind=AssignmentKind.participatory)
    draw = draw_sample(session, campaign, seed=1)
    assert draw.sizes["external"]["population"] == 39 and draw.sizes["internal"]["population"] == 40
    assert draw.sizes["expert"]["population"] == 0
    kinds = session.scalars(select(Assignment.kind).where(Assignment.person_id == walk_in.person_id)).all()
    assert kinds == [AssignmentKind.participatory]


def test_drawn_assignments_read_back_like_orm_rows(session: Session) -> None:
    """The draw's assignments (executemany on SQLite, binary COPY on PostgreSQL):
    right person, unit (also none), group and kind, active, a token that verifies, an aware
    creation time."""
    from core.models import AssignmentKind

    inst = make_institution(session)
    unit = make_unit(session, inst)
    people = [Person(institution_id=inst.id, unit_id=unit.id if i % 3 else None, group=group,  # type: ignore[arg-type]
                     name=f"Orang {i}", phone=f"+6281300000{i:03d}") for i in range(30)
              for group in ("internal", "external", "vendor")]
    session.add_all(people)
    session.flush()
    before = utcnow()
    draw_sample(session, make_campaign(session, inst), seed=2)
    by_id = {p.id: p for p in people}
    assignments = session.scalars(select(Assignment)).all()
    assert len(assignments) == sum(a["sample"] for g in ("internal", "external")
                                   for a in session.scalars(select(SampleDraw)).one().allocations[g].values())
    assert {by_id[a.person_id].unit_id for a in assignments} == {None, unit.id}
    for a in assignments:
        person = by_id[a.person_id]
        assert (a.unit_id, a.group, a.kind, a.active) == (person.unit_id, person.group, AssignmentKind.sampled, True)
        assert a.reserve_rank is None and a.counter is None and a.responded_at is None
        assert a.token_hash == hash_token(token_for(a.token_nonce))
        assert a.created_at is not None and a.created_at.tzinfo is not None
        assert before <= a.created_at <= utcnow()
