"""Commands of population: `spibot population import|quality` and `spibot sample`."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlmodel import Session, select

from core.audit import cli_actor
from core.console import console, fail
from core.db import session_scope
from core.models import Campaign, Institution
from population.errors import IntakeError, SamplingError
from population.importer import import_files
from population.models import SampleDraw
from population.quality import quality_report, write_xlsx
from population.sampling import draw_sample, draw_samples, replace_with_reserve, undrawn_campaigns

population_app = typer.Typer(help="Population lists: import, data quality.", no_args_is_help=True)


def _institution(session: Session, code: str) -> Institution:
    inst = session.exec(select(Institution).where(Institution.code == code)).first()
    if inst is None:
        fail(f"Instansi dengan kode {code!r} tidak ditemukan / institution {code!r} does not exist. "
              f"Buat dulu / create it first: spibot institution add {code} \"Nama Instansi\"")
    return inst


@population_app.command("import")
def import_command(
    files: list[Path] = typer.Argument(..., help=".xlsx or .csv files (KPK population forms)"),  # noqa: B008
    institution: str = typer.Option(..., "--institution", help="Institution code"),
    reference_date: str = typer.Option(..., "--reference-date", help="YYYY-MM-DD: tenure and service windows end here"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
) -> None:
    """Import population files (all or nothing) and print what was found per form."""
    try:
        ref = date.fromisoformat(reference_date)
    except ValueError:
        fail(f"--reference-date {reference_date!r} is not a date: write it as YYYY-MM-DD, e.g. 2024-06-30")
    try:
        with session_scope(write=True) as session:
            inst = _institution(session, institution)
            if as_json:
                report = import_files(session, list(files), inst, ref, actor=cli_actor())
            else:
                with Progress(TextColumn("Mengimpor"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("baris"), console=console, transient=True) as bar:
                    task = bar.add_task("import", total=None)
                    report = import_files(session, list(files), inst, ref, actor=cli_actor(),
                                          progress=lambda n: bar.update(task, completed=n))
    except IntakeError as exc:
        fail(f"Impor dibatalkan, tidak ada data yang disimpan / import refused, nothing written: {exc}")
    if as_json:
        extra = {"unchanged": report.unchanged, "replaced": [c.describe() for c in report.changes]}
        typer.echo(json.dumps({**report.summary(), **{k: v for k, v in extra.items() if v}}, ensure_ascii=False))
        return
    for entry in report.unchanged:
        console.print(f"Sudah pernah diimpor dengan isi yang sama, dilewati: {entry.split(' sha256:')[0]}",
                      highlight=False)
    if report.batch_id is None:
        console.print("Tidak ada perubahan: semua file sudah pernah diimpor. / Nothing changed.")
        return
    for change in report.changes:
        console.print(f"Daftar diganti: {change.describe()}", highlight=False)
    table = Table(title=f"Impor populasi {inst.code} (batch {report.batch_id}, tanggal acuan {ref})")
    for column in ("Kelompok", "Baris", "Eligible", "Non-ASN", "Duplikat", "Dikecualikan", "Tidak dapat dipakai"):
        table.add_column(column,
                         justify="left" if column in ("Kelompok", "Dikecualikan", "Tidak dapat dipakai") else "right")
    for form, c in report.summary().items():
        if c["rows"]:
            table.add_row(form, str(c["rows"]), str(c["eligible"]), str(c["eligible_non_asn"]),
                          str(c["duplicates"]), _fmt(c["excluded"]), _fmt(c["unusable"]))
    console.print(table)
    for sheet in report.sheets:
        console.print(f"  {sheet['file']} / {sheet['sheet'] or '-'}: {sheet['form']}, judul kolom di baris "
                      f"{sheet['header_row']}, {sheet['rows']} baris data"
                      + (f", {sheet['footer_rows']} baris penutup (tanda tangan, catatan, jumlah) tidak dihitung"
                         if sheet.get("footer_rows") else ""), highlight=False)


def _fmt(counts: dict[str, int]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in counts.items()) or "-"


@population_app.command("quality")
def quality_command(
    institution: str = typer.Option(..., "--institution", help="Institution code"),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="Also write the workbook to send back to units"),  # noqa: B008
) -> None:
    """Data quality per unit: clean %, reasons, examples."""
    with session_scope() as session:
        inst = _institution(session, institution)
        assert inst.id is not None  # a stored row
        report = quality_report(session, inst.id)
    table = Table(title=f"Kualitas data {inst.name}: {report.clean_pct:.2f}% bersih")
    for column in ("Unit", "Baris", "% bersih", "% pegawai", "% pengguna", "Masalah"):
        table.add_column(column)
    for u in report.units:
        table.add_row(u.unit, str(u.rows), f"{u.clean_pct:.2f}", _opt(u.internal_clean_pct),
                      _opt(u.external_clean_pct), _fmt(u.unusable))
    console.print(table)
    if xlsx is not None:
        write_xlsx(report, xlsx)
        console.print(f"[green]Ditulis / written: {xlsx}[/green]")


def _opt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def sample_command(
    campaign: list[int] = typer.Option(None, "--campaign", help="Campaign id; repeat it to draw several at once"),  # noqa: B008
    all_campaigns: bool = typer.Option(False, "--all", help="Every draft or open campaign without a sample whose "
                                       "institution has eligible people: a national draw"),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (recorded; random if omitted)"),
    margin: float | None = typer.Option(None, "--margin", help="Margin of error, e.g. 0.05 (at most 0.10)"),
    replace: bool = typer.Option(False, "--replace",
                                 help="Replace an earlier draw (one campaign, only before any invitation)"),
) -> None:
    """Draw samples and print their audit: seed, population hash, sizes, allocations.

    Several campaigns (--campaign repeated, or --all) are drawn in one transaction: all or nothing."""
    ids = list(campaign or [])
    if all_campaigns == bool(ids):
        fail("Pilih --campaign ID (boleh diulang) atau --all. / Give --campaign ID (repeatable) or --all.")
    if replace and len(ids) != 1:
        fail("--replace hanya untuk satu kampanye. / --replace works on one campaign at a time.")
    started = time.perf_counter()
    try:
        with session_scope(write=True) as session:
            campaigns = undrawn_campaigns(session) if all_campaigns else [session.get(Campaign, i) for i in ids]
            missing = [i for i, c in zip(ids, campaigns, strict=False) if c is None]
            if missing:
                fail(f"Kampanye {', '.join(map(str, missing))} tidak ditemukan / campaign(s) "
                     f"{', '.join(map(str, missing))} do not exist (see spibot campaign create).")
            if not campaigns:
                fail("Tidak ada kampanye yang perlu ditarik sampelnya. / No campaign left to draw "
                     "(every draft or open campaign with eligible people has a sample).")
            if len(campaigns) == 1:
                draws = [draw_sample(session, campaigns[0], seed=seed, margin=margin, replace=replace,  # type: ignore[arg-type]
                                     actor=cli_actor())]
            else:
                with console.status(f"Menarik sampel {len(campaigns)} kampanye dalam satu transaksi / "
                                    f"drawing {len(campaigns)} campaigns..."):
                    draws = draw_samples(session, campaigns, seed=seed, margin=margin, actor=cli_actor())  # type: ignore[arg-type]
    except SamplingError as exc:
        fail(str(exc))
    if len(draws) == 1:
        _print_draw(draws[0], draws[0].campaign_id)
    else:
        _print_draws(draws, time.perf_counter() - started)


def reserve_command(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id"),
    unit: str = typer.Option(..., "--unit", help="Unit code (as in the draw's allocation)"),
    group: str = typer.Option(..., "--group", help="internal or external"),
) -> None:
    """Replace an unreachable respondent with the unit's next reserve (invited at once if the
    invitation wave already ran)."""
    if group not in ("internal", "external"):
        fail(f"Kelompok {group!r} tidak dikenal: pakai internal atau external. / Use --group internal or external.")
    try:
        with session_scope(write=True) as session:
            camp = session.get(Campaign, campaign)
            if camp is None:
                fail(f"Kampanye {campaign} tidak ditemukan / campaign {campaign} does not exist.")
            assignment, invited = replace_with_reserve(session, camp, unit, group, actor=cli_actor())
    except SamplingError as exc:
        fail(str(exc))
    if assignment is None:
        fail(f"Daftar cadangan unit {unit} ({group}) sudah habis. / The reserve list of unit {unit} is used up.")
    when = "undangan diantrekan / invitation queued" if invited else \
        "diundang bersama gelombang undangan / invited with the invitation wave"
    console.print(f"Cadangan ke-{assignment.reserve_rank} unit {unit} ({group}) dipanggil; {when}.", highlight=False)


def _print_draw(draw: SampleDraw, campaign: int) -> None:
    console.print(f"Sampel kampanye {campaign} (versi {draw.version})", highlight=False)
    console.print(f"  seed: {draw.seed}\n  population hash (SHA-256): {draw.population_hash}\n"
                  f"  margin: {draw.margin}, confidence: {draw.confidence}", highlight=False)
    table = Table(title="Ukuran sampel")
    for column in ("Kelompok", "Populasi", "Sampel", "Cadangan", "Target"):
        table.add_column(column)
    for group, s in draw.sizes.items():
        table.add_row(group, str(s["population"]), str(s["size"]), str(s.get("reserves", "-")),
                      str(s.get("target", s["size"])))
    console.print(table)
    alloc = Table(title="Alokasi per unit / kriteria")
    for column in ("Kelompok", "Unit/kriteria", "Populasi", "Sampel", "Cadangan"):
        alloc.add_column(column)
    for group, units in draw.allocations.items():
        for unit, a in units.items():
            alloc.add_row(group, unit, str(a["population"]), str(a["sample"]), str(a.get("reserve", "-")))
    console.print(alloc)


def _print_draws(draws: list[SampleDraw], seconds: float) -> None:
    table = Table(title=f"Sampel {len(draws)} kampanye / samples of {len(draws)} campaigns")
    for column in ("Kampanye", "Seed", "Internal", "Eksternal", "Ahli", "Cadangan", "Population hash"):
        table.add_column(column)
    totals = [0, 0, 0, 0]
    for d in draws:
        s = d.sizes
        counts = (s["internal"]["size"], s["external"]["size"], s["expert"]["size"],
                  s["internal"]["reserves"] + s["external"]["reserves"])
        totals = [t + c for t, c in zip(totals, counts, strict=True)]
        table.add_row(str(d.campaign_id), str(d.seed),
                      f"{counts[0]}/{s['internal']['population']}", f"{counts[1]}/{s['external']['population']}",
                      str(counts[2]), str(counts[3]), d.population_hash[:16])
    console.print(table)
    console.print(f"Jumlah / total: {sum(totals[:3]):,} responden ({totals[0]:,} internal, {totals[1]:,} eksternal, "
                  f"{totals[2]:,} ahli), {totals[3]:,} cadangan; {seconds:.1f} s. "
                  "Alokasi per unit tersimpan di catatan "
                  "sampel dan log audit. / Per-unit allocations are kept in each draw record and the audit log.",
                  highlight=False)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `spibot` app."""
    app.add_typer(population_app, name="population")
    app.command("sample")(sample_command)
    app.command("reserve")(reserve_command)
