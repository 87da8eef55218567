from __future__ import annotations

import random
from datetime import date, datetime

import pytest

from population.normalize import (
    normalize_email,
    normalize_email_reference,
    normalize_phone,
    normalize_phone_reference,
    parse_date,
)


@pytest.mark.parametrize(
    "raw",
    ["0813-3448-1749", "+62 813 3448 1749", "6281334481749", 81334481749, 81334481749.0,
     "0813 3448 1749", "(+62) 813-3448-1749", "+62 0813 3448 1749", "  081334481749 ", "0062 813 3448 1749",
     "WA: 0813-3448-1749", "HP 0813 3448 1749", "Telp. 0813-3448-1749", "0813-3448-1749 (WA)"],
)
def test_phone_written_every_way_becomes_e164(raw: object) -> None:
    assert normalize_phone(raw) == "+6281334481749"


@pytest.mark.parametrize(
    "raw",
    [None, "", "-", "0536-3221234", "021-555-1234", "0812-345", "12345", "0813344817491234", 3.5,
     "081-tidak-ada", "+44 20 7946 0958",
     # a letter among the digits is a typo or a mask, never stripped into another valid number
     "08l3-3448-1749", "0813-3448-17xx", "0813-3448-174O"],
)
def test_landlines_and_invalid_numbers_are_not_whatsapp_contacts(raw: object) -> None:
    assert normalize_phone(raw) is None


def test_foreign_mobile_goes_through_phonenumbers() -> None:
    assert normalize_phone("+60 12-345 6789") == "+60123456789"  # Malaysian mobile


def test_fast_phone_path_agrees_with_phonenumbers() -> None:
    rng = random.Random(5)
    samples = []
    for _ in range(3000):
        nsn = str(rng.choice([8, 8, 8, 2, 5, 6])) + "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 12)))
        samples += ["0" + nsn, "+62" + nsn, "62" + nsn, nsn]
    assert [normalize_phone(s) for s in samples] == [normalize_phone_reference(s) for s in samples]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Budi.Santoso@Gmail.COM ", "Budi.Santoso@gmail.com"), ("siti@kab.go.id", "siti@kab.go.id"),
     ("ani @ yahoo.co.id", "ani@yahoo.co.id"), ("budi@", None), ("nama.gmail.com", None),
     ("a..b@gmail.com", None), ("budi@gmail", None), ("budi@-x.com", None), ("budi@x.test", None)],
)
def test_email_cleaning(raw: str, expected: str | None) -> None:
    assert normalize_email(raw) == expected


def test_fast_email_path_agrees_with_email_validator() -> None:
    rng = random.Random(9)
    alphabet = "abcXYZ019.-_+@"
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 16)))
               + rng.choice(["", ".com", ".co.id", ".x"])
               for _ in range(6000)]
    for s in samples:
        if normalize_email(s) is not None:
            assert normalize_email(s) == normalize_email_reference(s.strip().rstrip(";,.").replace(" ", "")), s


@pytest.mark.parametrize(
    "raw",
    [datetime(2019, 10, 13), date(2019, 10, 13), "13/10/2019", "2019-10-13", "13-10-2019",
     "13 Oktober 2019", "13 okt 2019", "13.10.2019", 43751, 43751.0, "43751", "13 October 2019",
     "2019-10-13 00:00:00", " 13 OKTOBER 2019 "],
)
def test_dates_written_every_way(raw: object) -> None:
    assert parse_date(raw) == date(2019, 10, 13)


@pytest.mark.parametrize("raw", [None, "", "belum diisi", "31/02/2019", "13/13/2019", "1/1/1800", 12, "lupa"])
def test_unreadable_dates(raw: object) -> None:
    assert parse_date(raw) is None


def test_month_only_dates_are_the_first_of_the_month() -> None:
    assert parse_date("Oktober 2019") == date(2019, 10, 1)
    assert parse_date("10/2019") == date(2019, 10, 1)
