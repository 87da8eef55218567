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
    """CPU seconds used so far by the PostgreSQL backends serving `dbname` (same machine:
    read from /proc, where a backend's title names its database)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f" {dbname} ".encode() not in (proc / "cmdline").read_bytes().replace(b"\0", b" "):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total
