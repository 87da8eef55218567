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
