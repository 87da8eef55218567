"""One YAML loader for every data file: same content as PyYAML's safe loader, parsed at start."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.datafiles import DataFileError, read_yaml

ROOT = Path(__file__).resolve().parents[2]
DATA_FILES = sorted(p for pkg in ("bot", "dispatch", "integrity", "monitor", "population", "qr", "responses")
                    for p in (ROOT / pkg).rglob("*.yaml"))


def test_there_are_data_files() -> None:
    assert len(DATA_FILES) >= 10


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_read_yaml_gives_what_the_safe_loader_gives(path: Path) -> None:
    assert read_yaml(path) == yaml.safe_load(path.read_text(encoding="utf-8"))


def test_read_yaml_refuses_python_objects(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("x: !!python/object/apply:os.system ['true']\n", encoding="utf-8")
    with pytest.raises(DataFileError):
        read_yaml(bad)


def test_a_broken_data_file_says_where_and_what_to_fix(tmp_path: Path) -> None:
    faq = tmp_path / "faq.yaml"
    faq.write_text("topics:\n  - key: apa\n    title: Apa itu SPI\n   answer: [tidak ditutup\n", encoding="utf-8")
    with pytest.raises(DataFileError) as err:
        read_yaml(faq)
    message = str(err.value)
    assert str(faq) in message and "line 4" in message and "Fix the YAML" in message
