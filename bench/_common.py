"""Helpers shared by the benchmarks: a fresh database per run (dropped at exit), the PostgreSQL
arguments every script takes, and the PostgreSQL server's CPU time."""

from __future__ import annotations

import argparse
import atexit
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PG_DEFAULT = "postgresql://root@127.0.0.1:5432/test"
PG_ADMIN = os.environ.get("SPIBOT_TEST_PG", PG_DEFAULT)


def add_pg_arguments(parser: argparse.ArgumentParser, *names: str, env: str = "SPIBOT_TEST_PG") -> None:
    """`--pg-admin URL` (a database the benchmark may connect to for CREATE/DROP DATABASE;
    default: $SPIBOT_TEST_PG or postgresql://root@127.0.0.1:5432/test) and `--pg-port PORT`
    (overrides the URL's port)."""
    parser.add_argument(*(names or ("--pg-admin",)), dest="pg_admin", metavar="URL",
                        default=os.environ.get(env, PG_DEFAULT),
                        help=f"PostgreSQL admin URL (default: ${env} or {PG_DEFAULT})")
    parser.add_argument("--pg-port", type=int, default=None,
                        help="PostgreSQL port (default: the admin URL's, 5432)")


def pg_admin(args: argparse.Namespace) -> str:
    """The admin URL of `add_pg_arguments`, with --pg-port applied."""
    url: str = args.pg_admin
    return with_port(url, args.pg_port) if args.pg_port else url


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo, _, _ = parts.netloc.rpartition("@")
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{userinfo + '@' if userinfo else ''}{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def unique_name(prefix: str = "spibot_bench") -> str:
    """A database name no other run uses, even a concurrent one or one whose leftover survived."""
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


def database(kind: str, admin: str | None = None, prefix: str = "spibot_bench") -> str:
    """A fresh, empty database for this run, removed when the process exits (SQLite: a file in a
    new temporary directory; PostgreSQL: a database of a name no other run uses)."""
    if kind == "sqlite":
        tmp = tempfile.mkdtemp(prefix=f"{prefix}_")
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        return f"sqlite:///{tmp}/bench.db"
    import psycopg

    admin = admin or PG_ADMIN
    name = unique_name(prefix)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    atexit.register(drop_database, admin, name)  # a benchmark's database does not outlive it
    return f"{admin.rsplit('/', 1)[0]}/{name}"


def drop_database(admin: str, name: str) -> None:
    """Drop a benchmark's database (idempotent: at exit again is harmless)."""
    import psycopg

    try:
        with psycopg.connect(admin, autocommit=True) as conn:
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
