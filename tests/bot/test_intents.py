"""The intent table on real-looking phrasings (positive and negative)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bot.intents import intent_of, match, normalise, parse_choice

ISI_SURVEI = [
    "Isi Survei", "isi survei", "ISI SURVEI", "ISI SURVEI!!", "Isi survei.", "isi survey",
    "isisurvei", "IsiSurvei", "isi-survei", "isi  survei", " isi survei ", "isi survei ya",
    "isi survei ya pak", "Isi survei bu", "isi survei kak", "isi survei min", "isi survei 🙏",
    "🙏 Isi Survei 🙏", "Isi Survei 👍👍", "isi surve", "isi survai", "isi srvei", "isi suvei",
    "isi servei", "isi survey pak", "isiii surveiii", "i s i  s u r v e i", "𝗜𝘀𝗶 𝗦𝘂𝗿𝘃𝗲𝗶",
    "ＩＳＩ ＳＵＲＶＥＩ", "mau isi survei", "Saya mau isi survei", "mau isi survei pak",
    "ingin mengisi survei", "saya ingin isi survey", "link survei", "Link survey", "minta link",
    "minta linknya", "minta link survei", "minta link nya dong", "tolong kirim link survei",
    "kirim ulang link survei", "kirim lagi linknya", "mohon dikirim ulang tautan survei",
    "mana linknya?", "linknya mana ya?", "link nya mana bu", "link", "Link?", "linknya hilang pak",
    "pesan saya terhapus, minta dikirim ulang surveinya", "survei", "survey", "SURVEY SPI",
    "survei spi", "isi spi", "kuesioner", "isi kuesioner", "fill survey", "fill the survey",
    "survey link", "send me the link please", "resend link", "Assalamualaikum, mau isi survei SPI",
    "Selamat pagi, isi survei", "Halo min, minta link survei", "gimana cara isi survei",
    "isi survei 2024", "Isi Survei SPI 2024", "isi survei 🙏🏻 terima kasih", "Isi",
    "tautan survei", "bagi link survei dong", "kirimkan link", "saya belum dapat link survei",
]

TANYA_SPI = [
    "Tanya SPI", "tanya spi", "TANYA SPI", "tanyaspi", "Tanya", "tanya spi dong", "mau tanya spi",
    "apa itu SPI?", "Apa itu spi", "SPI itu apa ya?", "apa itu survei penilaian integritas",
    "berapa lama isi survei?", "berapa lama", "sampai kapan surveinya?", "kapan batas waktunya?",
    "apakah rahasia?", "apakah jawaban saya rahasia", "dari mana nomor saya didapat?",
    "kenapa saya dikirim survei?", "kenapa saya terpilih?", "ini siapa?", "bapak ini siapa?",
    "survei apa ini?", "faq", "info", "informasi", "menu", "SPI", "kpk", "What is SPI?",
    "is it confidential?", "ini dari KPK beneran?", "nomor call center berapa?",
]

STOP = [
    "STOP", "stop", "Stop.", "STOP!!!", "stop ya", "stopp", "berhenti", "BERHENTI", "Berhnti",
    "berhenti saja", "unsubscribe", "UNSUBSCRIBE", "jangan kirim lagi", "jangan kirim pesan lagi",
    "tolong jangan kirim lagi", "jangan hubungi saya lagi", "stop kirim pesan",
    "berhenti kirim pesan", "saya tidak mau dikirim pesan lagi", "tidak mau isi survei",
    "hapus nomor saya", "jangan ganggu saya", "stop sending me messages", "opt out", "keluar",
]

START = [
    "START", "start", "Mulai", "MULAI", "mulai lagi", "Mulai lagi ya", "unstop", "subscribe",
    "aktifkan lagi", "boleh kirim lagi", "start again",
]

HELP = [
    "halo", "Hallo", "hai", "hi", "selamat pagi", "Selamat siang pak", "Assalamualaikum",
    "terima kasih", "makasih", "ok", "oke siap", "🙏", "👍", "😀😀😀", "p", "test", "1", "2", "0.5",
    "sudah", "Saya sudah isi", "baik pak", "wkwk", "sip", "", "   ", "...", "?!", "Ya",
    "x" * 600, "\x00\x01\x02", "lorem ipsum dolor sit amet",
]


@pytest.mark.parametrize("text", ISI_SURVEI)
def test_isi_survei_phrasings(text: str) -> None:
    assert intent_of(text) == "isi_survei"


@pytest.mark.parametrize("text", TANYA_SPI)
def test_tanya_spi_phrasings(text: str) -> None:
    assert intent_of(text) == "tanya_spi"


@pytest.mark.parametrize("text", STOP)
def test_stop_phrasings(text: str) -> None:
    assert intent_of(text) == "stop"


@pytest.mark.parametrize("text", START)
def test_start_phrasings(text: str) -> None:
    assert intent_of(text) == "start"


@pytest.mark.parametrize("text", HELP)
def test_everything_else_is_help(text: str) -> None:
    assert intent_of(text) == "help"
    assert match(text) is None


def test_there_are_over_a_hundred_phrasings() -> None:
    assert len(ISI_SURVEI) + len(TANYA_SPI) + len(STOP) + len(START) + len(HELP) >= 100


@pytest.mark.parametrize("text", ["STOP kirim link survei", "jangan kirim link survei lagi"])
def test_stop_wins_over_isi_survei(text: str) -> None:
    assert intent_of(text) == "stop"


def test_normalise_strips_emoji_punctuation_and_fancy_letters() -> None:
    assert normalise("  𝗜𝘀𝗶   Survéi!!! 🙏 ") == "isi survei"


@pytest.mark.parametrize(("text", "number"), [("1", 1), (" 2 ", 2), ("2.", 2), ("no 3", 3),
                                              ("Pilih 4", 4), ("0", 0), ("satu", None),
                                              ("1 2", None), ("12345", None)])
def test_parse_choice(text: str, number: int | None) -> None:
    assert parse_choice(text) == number


def test_cli_prints_intent_name() -> None:
    from cli import app

    runner = CliRunner()
    for text, name in [("isi survei ya pak", "isi_survei"), ("BERHENTI", "stop"),
                       ("Tanya SPI", "tanya_spi"), ("mulai", "start"), ("halo", "help")]:
        result = runner.invoke(app, ["bot", "intent", text])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == name
