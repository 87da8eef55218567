"""Benchmark: importing population files (rows/s, peak memory) into SQLite and PostgreSQL.

    .venv/bin/python bench/intake.py --rows 200000 --format xlsx --db sqlite
    .venv/bin/python bench/intake.py --rows 1000000 --format csv --db postgresql [--pg-port 5432]

The file is generated once (in a separate process, so its memory does not count) under
var/bench/; the import runs in this process on a fresh database, end to end (read, clean, judge,
insert, summary) and is checked against the generator's expected counts. The database is created
for the run under a name of its own and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REF = date(2024, 6, 30)
from bench._common import add_pg_arguments, database, drop_database, pg_admin, server_cpu  # noqa: E402


def ensure_file(rows: int, fmt: str) -> Path:
    out = ROOT / "var" / "bench" / f"population-{rows}.{fmt}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        call = f"write_population_csv(Path({str(out)!r}), seed=1, n_rows={rows}, form='internal', reference_date=REF)"
    else:
        call = (f"write_population_workbook(Path({str(out)!r}), seed=1, n_internal={rows // 2}, "
                f"n_external={rows - rows // 2}, n_vendor=0, n_expert=0, reference_date=REF)")
    code = ("import pickle, sys; from pathlib import Path; from datetime import date; REF=date(2024,6,30); "
            "from population.synthetic import write_population_csv, write_population_workbook; "
            f"e={call}; pickle.dump(e.summary(), open({str(out) + '.expected'!r}, 'wb'))")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    print(f"generated {out.name} in {time.perf_counter() - started:.1f} s")
    return out


def main() -> None:
    import pickle

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    add_pg_arguments(parser)
    args = parser.parse_args()
    admin = pg_admin(args)
    path = ensure_file(args.rows, args.format)
    expected = pickle.load(open(str(path) + ".expected", "rb"))  # noqa: SIM115
    url = database(args.db, admin)
    os.environ["DATABASE_URL"] = url
    from core.db import session_scope
    from core.migrate import upgrade
    from core.models import Institution
    from population.importer import import_files

    upgrade()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dbname = url.rsplit("/", 1)[1]
    server = server_cpu(dbname) if args.db == "postgresql" else 0.0
    started, cpu = time.perf_counter(), time.process_time()
    with session_scope(write=True) as session:
        inst = Institution(code="BENCH", name="Bench")
        session.add(inst)
        session.flush()
        report = import_files(session, [path], inst, REF)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    server = server_cpu(dbname) - server if args.db == "postgresql" else 0.0
    rows = sum(f["rows"] for f in report.summary().values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ok = report.summary() == expected
    print(f"{args.format} {args.rows:,} rows -> {args.db}: {elapsed:.1f} s, {rows / elapsed:,.0f} rows/s, "
          f"CPU {cpu:.1f} s ({rows / cpu:,.0f} rows/CPU-s)"
          + (f", PostgreSQL server CPU {server:.1f} s" if args.db == "postgresql" else "")
          + f", load avg {os.getloadavg()[0]:.1f}, peak RSS {peak:,.0f} MB"
          f" (before import {before:,.0f} MB), counts match: {ok}")
    if args.db == "postgresql":
        from core.db import dispose_engines

        dispose_engines()
        drop_database(admin, dbname)


if __name__ == "__main__":
    main()
