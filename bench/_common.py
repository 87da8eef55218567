"""Helpers shared by the benchmarks: a fresh database and the PostgreSQL server's CPU time."""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path

PG_ADMIN = os.environ.get("SPIBOT_TEST_PG", "postgresql://root@127.0.0.1:5432/test")


def database(kind: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    import psycopg

    name = f"spibot_bench_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    atexit.register(_drop, name)  # a benchmark's database does not outlive it
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


def _drop(name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error as exc:  # the figures are printed already; say what is left behind
        print(f"could not drop the benchmark database {name}: {exc}")


def server_cpu(dbname: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving `dbname`, including backends
    that have ended (a draw's selection worker closes its connection before the draw ends).
    Read from /proc on this machine: a backend's title names its database, and an ended
    backend's time is in the postmaster's children total. That total also counts any other
    backend that ended meanwhile (autovacuum workers, say): the benchmarks run alone, and it
    can only overstate the server's share."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    stats = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm, rest = (proc / "stat").read_text().rsplit(")", 1)
            if comm.endswith("(postgres"):
                stats[proc.name] = (rest.split(), (proc / "cmdline").read_bytes().replace(b"\0", b" "))
        except OSError:
            continue
    for fields, cmdline in stats.values():
        if f" {dbname} ".encode() in cmdline:
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        elif fields[1] not in stats:  # the postmaster: cutime + cstime of its reaped backends
            total += (int(fields[13]) + int(fields[14])) / tick
    return total
