"""A national draw selecting in a worker process draws exactly what the in-process draw draws,
only when the worker can see what the writing transaction sees, and fails cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from sqlalchemy import select
from sqlmodel import Session

from core.assignments import create_assignment
from core.db import session_scope
from core.models import Assignment, AssignmentKind, Campaign, Person
from population import parallel, sampling
from population.errors import SamplingError
from population.models import SampleDraw
from population.selection import DrawParams, Job
from tests.factories import make_campaign, make_institution, make_unit

PARAMS = DrawParams(margin=0.05, confidence=0.95, reserve_ratio=0.5, expert_per_criterion=2)


def _institution(session: Session, k: int, units: int = 3, size: int = 40) -> int:
    inst = make_institution(session, code=f"KAB-{k}", name=f"Kabupaten {k}")
    people = []
    for u in range(units):
        unit = make_unit(session, inst, name=f"Dinas {k}-{u}", code=f"d{u}")
        for i in range(size + 7 * u):
            people.append(Person(institution_id=inst.id, unit_id=unit.id, group="internal",
                                 name=f"Pegawai {k} {u} {i}", phone=f"+62812{k:02d}{u:02d}{i:04d}"))
            people.append(Person(institution_id=inst.id, unit_id=unit.id, group="vendor" if i % 5 == 0 else "external",
                                 name=f"Pengguna {k} {u} {i}", email=f"p{k}.{u}.{i}@contoh.id"))
    for i in range(3):
        people.append(Person(institution_id=inst.id, group="expert", name=f"Ahli {k} {i}", criterion="Akademisi"))
    session.add_all(people)
    session.flush()
    return int(inst.id)  # type: ignore[arg-type]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many campaigns each call of the worker path got."""
    calls: list[int] = []
    real = parallel.Worker.selections

    def counting(self: parallel.Worker, url: str, snapshot: str, jobs: Any, params: DrawParams) -> Iterator[Any]:
        calls.append(len(jobs))
        return real(self, url, snapshot, jobs, params)

    monkeypatch.setattr(parallel.Worker, "selections", counting)
    monkeypatch.setattr(sampling, "PARALLEL_MIN_CAMPAIGNS", 2)
    yield calls


def _no_worker_left() -> bool:
    return not [p for p in psutil.Process().children(recursive=True) if "population.parallel" in " ".join(p.cmdline())]


def _outcome(session: Session, campaign_ids: list[int]) -> list[tuple[Any, ...]]:
    """Per campaign: its institution, draw record and sampled people (no campaign id)."""
    out = []
    for cid in campaign_ids:
        camp = session.get(Campaign, cid)
        draw = session.scalars(select(SampleDraw).where(SampleDraw.campaign_id == cid)).one()
        people = sorted(session.execute(select(Assignment.person_id, Assignment.kind, Assignment.active)
                                        .where(Assignment.campaign_id == cid)).all())
        out.append((camp.institution_id, draw.seed, draw.population_hash, draw.sizes,  # type: ignore[union-attr]
                    draw.allocations, people))
    return out


def test_worker_draws_what_the_writer_would_draw(db_url: str, spy: list[int]) -> None:
    with session_scope(write=True) as s:
        insts = [_institution(s, k) for k in range(3)]
        first = [make_campaign(s, _inst(s, i)) for i in insts]
        second = [make_campaign(s, _inst(s, i)) for i in insts]
        walk_in = s.scalars(select(Person).where(Person.institution_id == insts[0], Person.group == "external")).first()
        for campaign in (first[0], second[0]):  # registered at a counter before the draw: not drawn again
            create_assignment(s, campaign, walk_in, kind=AssignmentKind.participatory)  # type: ignore[arg-type]
        ids_parallel, ids_serial = [int(c.id) for c in first], [int(c.id) for c in second]  # type: ignore[arg-type]
    with session_scope(write=True) as s:
        sampling.draw_samples(s, [s.get_one(Campaign, c) for c in ids_parallel], seed=11)
    assert spy == [3]
    with session_scope(write=True) as s:
        for cid in ids_serial:  # one at a time, in this process
            sampling.draw_sample(s, s.get_one(Campaign, cid), seed=11)
    with session_scope() as s:
        assert _outcome(s, ids_parallel) == _outcome(s, ids_serial)
        taken = s.scalars(select(Assignment.kind).where(Assignment.campaign_id == ids_parallel[0],
                                                         Assignment.person_id == walk_in.id)).all()  # type: ignore[union-attr]
    assert taken == ["participatory"]  # still only the registration


def _inst(session: Session, inst_id: int) -> Any:
    from core.models import Institution

    return session.get_one(Institution, inst_id)


def test_uncommitted_people_keep_the_draw_in_this_process(db_url: str, spy: list[int]) -> None:
    with session_scope(write=True) as s:
        insts = [_institution(s, k, units=1, size=10) for k in range(2)]
        ids = [int(make_campaign(s, _inst(s, i)).id) for i in insts]  # type: ignore[arg-type]
    with session_scope(write=True) as s:
        late = Person(institution_id=insts[0], unit_id=None, group="internal", name="Pegawai Baru",
                      phone="+6281399990000")
        s.add(late)  # not committed: a worker would not see this person
        draws = sampling.draw_samples(s, [s.get_one(Campaign, c) for c in ids], seed=3)
    assert spy == []
    assert draws[0].sizes["internal"]["population"] == 11  # the uncommitted person is in the frame


def test_sqlite_without_the_write_lock_draws_in_this_process(db_url: str, spy: list[int]) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL exports a snapshot in any transaction")
    with session_scope(write=True) as s:
        ids = [int(make_campaign(s, _inst(s, _institution(s, k, units=1, size=5))).id) for k in range(2)]  # type: ignore[arg-type]
    with session_scope() as s:  # BEGIN (deferred): another writer could commit meanwhile
        sampling.draw_samples(s, [s.get_one(Campaign, c) for c in ids], seed=3)
    assert spy == []


def test_a_refusal_stops_the_worker_and_writes_nothing(db_url: str, spy: list[int]) -> None:
    with session_scope(write=True) as s:
        ids = [int(make_campaign(s, _inst(s, _institution(s, k, units=1, size=5))).id) for k in range(2)]  # type: ignore[arg-type]
        ids.append(int(make_campaign(s, make_institution(s, code="KOSONG")).id))  # type: ignore[arg-type]
    with pytest.raises(SamplingError, match="No eligible population"), session_scope(write=True) as s:
        sampling.draw_samples(s, [s.get_one(Campaign, c) for c in ids], seed=3)
    assert spy == [3]
    assert _no_worker_left()
    with session_scope() as s:
        assert s.scalars(select(Assignment)).first() is None and s.scalars(select(SampleDraw)).first() is None


def test_a_refusal_while_preparing_stops_the_started_worker_quietly(db_url: str, spy: list[int],
                                                                   capfd: pytest.CaptureFixture[str]) -> None:
    """The worker starts before the jobs are prepared; a campaign refused then (drawn already)
    stops it before it got any job, without a traceback of its own."""
    with session_scope(write=True) as s:
        ids = [int(make_campaign(s, _inst(s, _institution(s, k, units=1, size=5))).id) for k in range(3)]  # type: ignore[arg-type]
        sampling.draw_sample(s, s.get_one(Campaign, ids[1]), seed=1)
    capfd.readouterr()
    with pytest.raises(SamplingError, match="already drawn"), session_scope(write=True) as s:
        sampling.draw_samples(s, [s.get_one(Campaign, c) for c in ids], seed=3)
    assert spy == []  # no jobs were handed over
    assert _no_worker_left()
    assert "Traceback" not in capfd.readouterr().err
    with session_scope() as s:
        assert s.scalars(select(SampleDraw).where(SampleDraw.campaign_id != ids[1])).first() is None


def test_a_failing_worker_is_reported_with_its_traceback(db_url: str, tmp_path: Any) -> None:
    job = Job(campaign_id=1, institution_id=1, seed=1)
    if db_url.startswith("sqlite"):
        url, snapshot, expected = f"sqlite:///{tmp_path / 'missing' / 'x.db'}", "", "unable to open"
    else:
        url, snapshot, expected = db_url, "00000003-0000001B-1", "snapshot"
    with pytest.raises(parallel.WorkerFailed, match=expected):
        list(parallel.Worker().selections(url, snapshot, [job], PARAMS))
    assert _no_worker_left()


def test_cli_draws_several_campaigns_or_all_at_once(db_url: str) -> None:
    from typer.testing import CliRunner

    from cli import app

    with session_scope(write=True) as s:
        insts = [_institution(s, k, units=2, size=15) for k in range(3)]
        ids = [int(make_campaign(s, _inst(s, i)).id) for i in insts]  # type: ignore[arg-type]
        make_campaign(s, make_institution(s, code="TANPA-DATA"))  # no eligible people: --all leaves it
        closed = make_campaign(s, _inst(s, insts[0]), status="closed")
    runner = CliRunner()
    result = runner.invoke(app, ["sample", "--campaign", str(ids[0]), "--campaign", str(ids[1]), "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "Sampel 2 kampanye" in result.output and "cadangan" in result.output
    result = runner.invoke(app, ["sample", "--all", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "Sampel kampanye" in result.output  # only the third campaign was left: its full audit
    with session_scope() as s:
        drawn = sorted(s.scalars(select(SampleDraw.campaign_id)).all())
    assert drawn == sorted(ids) and closed.id not in drawn
    result = runner.invoke(app, ["sample", "--all"])
    assert result.exit_code == 2 and "No campaign left to draw" in result.output.replace("\n", " ")
    result = runner.invoke(app, ["sample", "--campaign", str(ids[0]), "--all"])
    assert result.exit_code == 2 and "--all" in result.output
    result = runner.invoke(app, ["sample", "--campaign", "999999", "--campaign", str(ids[0])])
    assert result.exit_code == 2 and "999999" in result.output


def test_only_databases_another_process_can_open_get_a_worker() -> None:
    assert parallel.reachable("postgresql+psycopg://root@127.0.0.1:5432/spibot")
    assert parallel.reachable("sqlite:///var/demo/spibot.db") and parallel.reachable("sqlite:////tmp/x.db")
    assert not parallel.reachable("sqlite://") and not parallel.reachable("sqlite:///:memory:")
    assert not parallel.reachable("sqlite:///file:x?mode=memory&cache=shared")


def test_read_ahead_keeps_job_order_raises_in_order_and_stops_its_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from population.selection import JobRows

    read: list[int] = []

    def read_job(conn: Any, postgres: bool, job: Job) -> JobRows:
        if job.campaign_id == 3:
            raise RuntimeError("disk error at job 3")
        time.sleep(0.01 if job.campaign_id % 2 else 0)  # uneven reads keep their order
        read.append(job.campaign_id)
        return JobRows([(job.campaign_id,)], [])

    monkeypatch.setattr(parallel, "read_job", read_job)
    jobs = [Job(i, i, 1) for i in range(1, 6)]
    ahead = parallel._read_ahead(None, False, jobs)
    got = []
    with pytest.raises(RuntimeError, match="job 3"):
        for job, rows in ahead:
            got.append((job.campaign_id, rows.frame))
    assert got == [(1, [(1,)]), (2, [(2,)])]
    assert read == [1, 2]  # nothing read past the failure

    # A consumer that stops early (the writer went away) stops the reading thread.
    ahead = parallel._read_ahead(None, False, [Job(i, i, 1) for i in range(10, 100)])
    assert next(ahead)[0].campaign_id == 10
    ahead.close()
    assert not [t for t in threading.enumerate() if t.name == "selection-reader"]
    assert len(read) <= 2 + 1 + parallel.READ_AHEAD_JOBS + 1  # bounded read-ahead, not all 90 jobs
