from __future__ import annotations

from datetime import date

import pytest

from population.records import Record, judge, parse_row
from population.rules import is_excluded_unit, is_non_asn, is_support_role, is_top_official

REF = date(2024, 6, 30)


@pytest.mark.parametrize("name", ["Inspektorat Daerah", "RSUD dr. Doris Sylvanus", "Rumah Sakit Umum Daerah",
                                  "UPT Puskesmas Kasongan", "UPTD Pengelolaan Pasar", "BLUD RS Jiwa",
                                  "Kelurahan Kasongan Baru", "Desa Tewang", "SDN 2 Kasongan", "SMP Negeri 1",
                                  "Puskesmas Pembantu"])
def test_excluded_units(name: str) -> None:
    assert is_excluded_unit(name)


@pytest.mark.parametrize("name", ["Dinas Pemberdayaan Masyarakat dan Desa", "Dinas Kesehatan", "Sekretariat DPRD",
                                  "Kecamatan Katingan Hilir", "Badan Pendapatan Daerah", "Dinas Pendidikan"])
def test_main_units_are_not_excluded(name: str) -> None:
    assert not is_excluded_unit(name)


@pytest.mark.parametrize("position", ["Kepala Dinas Kesehatan", "Plt. Kepala Badan Pendapatan Daerah",
                                      "Camat Katingan Hilir", "Sekretaris DPRD", "Inspektur", "Direktur RSUD",
                                      "Kepala Biro Umum", "KEPALA KANTOR", "Kepala Satuan Polisi Pamong Praja",
                                      "Plh Kepala Pusat Data"])
def test_top_officials(position: str) -> None:
    assert is_top_official(position)


@pytest.mark.parametrize("position", ["Kepala Bidang Pelayanan", "Kepala Seksi Perizinan", "Sekretaris Dinas",
                                      "Kepala Sub Bagian Umum", "Inspektur Pembantu Wilayah II", "Kepala Bagian Hukum",
                                      "Analis Kebijakan"])
def test_not_the_head(position: str) -> None:
    assert not is_top_official(position)


@pytest.mark.parametrize("position", ["Sopir", "Driver", "Satpam", "Security", "Cleaning Service", "Pramusaji",
                                      "Resepsionis", "Teknisi Jaringan", "Pengemudi Kendaraan Dinas"])
def test_support_roles(position: str) -> None:
    assert is_support_role(position)
    assert not is_support_role("Analis Kebijakan Ahli Muda")


@pytest.mark.parametrize("text", ["Non ASN", "NON-ASN", "Honorer", "Tenaga Honorer", "THL", "PPNPN"])
def test_non_asn_markers(text: str) -> None:
    assert is_non_asn(text)
    assert not is_non_asn("PNS") and not is_non_asn("PPPK")


INTERNAL_COLUMNS = {"unit": 0, "name": 1, "start_date": 2, "position": 3, "phone": 4, "email": 5, "note": 6}
GOOD = ["Dinas Kesehatan", "Budi Santoso", "13/10/2019", "Analis", "0813-3448-1749", "budi@gmail.com", "PNS"]


def _internal(**changes: object) -> Record:
    cells = list(GOOD)
    for field, value in changes.items():
        cells[INTERNAL_COLUMNS[field]] = value
    record = parse_row("internal", INTERNAL_COLUMNS, cells, 10)
    assert record is not None
    judge(record, REF, set())
    return record


@pytest.mark.parametrize(
    ("changes", "status", "reason"),
    [({}, "eligible", None),
     ({"name": ""}, "unusable", "missing_name"),
     ({"unit": "-"}, "unusable", "missing_unit"),
     ({"phone": "021-555-1234", "email": "budi@"}, "unusable", "no_valid_contact"),
     ({"phone": None}, "eligible", None),  # an email alone is enough
     ({"email": None}, "eligible", None),
     ({"start_date": "belum diisi"}, "unusable", "missing_start_date"),
     ({"position": ""}, "unusable", "missing_position"),
     ({"unit": "RSUD Kasongan"}, "excluded", "excluded_unit"),
     ({"position": "Kepala Dinas Kesehatan"}, "excluded", "top_official"),
     ({"position": "Sopir"}, "excluded", "support_role"),
     ({"start_date": "01/07/2023"}, "excluded", "tenure_under_1_year"),
     ({"start_date": "30/06/2023"}, "eligible", None)],  # exactly one year
)
def test_internal_verdicts(changes: dict[str, object], status: str, reason: str | None) -> None:
    record = _internal(**changes)
    assert (record.status, record.reason) == (status, reason)


def test_non_asn_stays_eligible_and_flagged() -> None:
    record = _internal(note="Honorer")
    assert record.status == "eligible" and record.non_asn and record.flags == ["non_asn"]


EXTERNAL_COLUMNS = {"unit": 0, "service_name": 1, "service_date": 2, "name": 3, "phone": 4, "email": 5}


def _external(cells: list[object], employees: set[str] | None = None) -> Record:
    record = parse_row("external", EXTERNAL_COLUMNS, cells, 3)
    assert record is not None
    judge(record, REF, employees or set())
    return record


@pytest.mark.parametrize(
    ("cells", "reason"),
    [(["Disdukcapil", "KTP-el", "01/06/2024", "Rina", "081234567890", None], None),
     (["Disdukcapil", None, "01/06/2024", "Rina", "081234567890", None], "missing_service_name"),
     (["Disdukcapil", "KTP-el", "lupa", "Rina", "081234567890", None], "missing_service_date"),
     (["Disdukcapil", "KTP-el", "30/06/2023", "Rina", "081234567890", None], "outside_service_window"),
     (["Disdukcapil", "KTP-el", "01/07/2024", "Rina", "081234567890", None], "outside_service_window"),
     (["Puskesmas Tewang", "Berobat", "01/06/2024", "Rina", "081234567890", None], "excluded_unit")],
)
def test_external_verdicts(cells: list[object], reason: str | None) -> None:
    assert _external(cells).reason == reason


def test_service_user_who_is_an_employee_is_excluded() -> None:
    cells = ["Disdukcapil", "KTP-el", "01/06/2024", "Rina", "0812-3456-7890", None]
    assert _external(cells, {"+6281234567890"}).reason == "is_employee"
    cells = ["Disdukcapil", "KTP-el", "01/06/2024", "Rina", None, "Rina@Kab.go.id"]
    assert _external(cells, {"rina@kab.go.id"}).reason == "is_employee"


@pytest.mark.parametrize("cells", [[None] * 7, ["dst", None, None], ["dst..", "...", "..."],
                                   ["(1)", "(2)", "(3)", "(4)", "(5)", "(6)", "(7)"], ["-", "", "  ", None]])
def test_non_data_rows_are_skipped(cells: list[object]) -> None:
    assert parse_row("internal", INTERNAL_COLUMNS, cells, 5) is None


def test_a_row_with_only_a_phone_is_data() -> None:
    assert parse_row("internal", INTERNAL_COLUMNS, [None, None, None, None, "081234567890"], 5) is not None
