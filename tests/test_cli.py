"""`spibot --help` lists every job a user runs; core commands give clear messages."""

from __future__ import annotations

from typer.testing import CliRunner

from cli import app

runner = CliRunner()
JOBS = ["serve", "worker", "demo", "db", "institution", "campaign", "population", "sample", "reserve",
        "send", "remind", "templates", "bot", "qr", "score", "responses", "users", "integrity",
        "purge", "monitor"]


def test_help_lists_every_job() -> None:
    result = runner.invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for job in JOBS:
        assert f" {job} " in result.output, job


def test_institution_and_campaign_commands(db_url: str) -> None:
    ok = runner.invoke(app, ["institution", "add", "KAB-UJI", "Pemerintah Kabupaten Uji", "--timezone", "WITA"])
    assert ok.exit_code == 0, ok.output
    dup = runner.invoke(app, ["institution", "add", "KAB-UJI", "Lagi"])
    assert dup.exit_code == 2 and "sudah ada" in dup.output
    bad_tz = runner.invoke(app, ["institution", "add", "KAB-2", "X", "--timezone", "GMT"])
    assert bad_tz.exit_code == 2 and "WIB, WITA atau WIT" in bad_tz.output
    created = runner.invoke(app, ["campaign", "create", "--institution", "KAB-UJI", "--year", "2026",
                                  "--opens", "2026-07-01", "--closes", "2026-10-31"])
    assert created.exit_code == 0 and "SPI 2026" in created.output
    unknown = runner.invoke(app, ["campaign", "create", "--institution", "NOPE", "--year", "2026",
                                  "--opens", "2026-07-01", "--closes", "2026-10-31"])
    assert unknown.exit_code == 2 and "tidak ditemukan" in unknown.output
    backwards = runner.invoke(app, ["campaign", "create", "--institution", "KAB-UJI", "--year", "2026",
                                    "--opens", "2026-10-31", "--closes", "2026-07-01"])
    assert backwards.exit_code == 2 and "sesudah" in backwards.output
    bad_date = runner.invoke(app, ["campaign", "create", "--institution", "KAB-UJI", "--year", "2026",
                                   "--opens", "1 Juli", "--closes", "2026-07-01"])
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.output


def test_campaign_lifecycle_commands(db_url: str) -> None:
    from datetime import date, timedelta

    from sqlmodel import select

    from core.db import session_scope
    from core.models import Campaign

    assert runner.invoke(app, ["institution", "add", "KAB-SIKLUS", "Pemerintah Kabupaten Siklus"]).exit_code == 0
    today = date.today()
    created = runner.invoke(app, ["campaign", "create", "--institution", "KAB-SIKLUS", "--year", str(today.year),
                                  "--opens", str(today - timedelta(days=10)),
                                  "--closes", str(today + timedelta(days=20))])
    assert created.exit_code == 0, created.output
    with session_scope() as s:
        cid = str(s.exec(select(Campaign.id)).one())
    listed = runner.invoke(app, ["campaign", "list"], terminal_width=200)
    assert listed.exit_code == 0 and "KAB-SIKLUS" in listed.output and "berjalan" in listed.output
    no_reason = runner.invoke(app, ["campaign", "close", "--campaign", cid, "--reason", " "])
    assert no_reason.exit_code == 2 and "alasan" in no_reason.output
    closed = runner.invoke(app, ["campaign", "close", "--campaign", cid, "--reason", "Target tercapai"])
    assert closed.exit_code == 0 and "ditutup" in closed.output
    listed = runner.invoke(app, ["campaign", "list"], terminal_width=200)
    assert "Target tercapai" in listed.output and "ditutup" in listed.output.lower()
    again = runner.invoke(app, ["campaign", "close", "--campaign", cid, "--reason", "lagi"])
    assert again.exit_code == 2 and "sudah ditutup" in again.output
    reopened = runner.invoke(app, ["campaign", "reopen", "--campaign", cid, "--reason", "Diperpanjang",
                                   "--closes", str(today + timedelta(days=30))])
    assert reopened.exit_code == 0, reopened.output
    archive_open = runner.invoke(app, ["campaign", "archive", "--campaign", cid])
    assert archive_open.exit_code == 2 and "sudah ditutup" in archive_open.output
    assert runner.invoke(app, ["campaign", "close", "--campaign", cid, "--reason", "Selesai"]).exit_code == 0
    archived = runner.invoke(app, ["campaign", "archive", "--campaign", cid])
    assert archived.exit_code == 0 and "diarsipkan" in archived.output
    missing = runner.invoke(app, ["campaign", "close", "--campaign", "999999", "--reason", "x"])
    assert missing.exit_code == 2 and "tidak ditemukan" in missing.output
    with session_scope() as s:
        campaign = s.get(Campaign, int(cid))
        assert campaign is not None and campaign.status == "archived" and campaign.archived_by
