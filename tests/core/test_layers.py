"""The layer contract of pyproject.toml ([tool.importlinter]) holds for the project, and it does
catch a violation: the same contract, run on scratch packages of the same names, fails as soon
as a lower layer imports a higher one (even from inside a function)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)}, check=False)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """Empty packages named like ours, under the project's own contract."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for name in config["root_packages"]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_project_keeps_its_layers() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(scratch: Path) -> None:
    assert lint(scratch).returncode == 0
    (scratch / "core" / "helpers.py").write_text("def f():\n    from monitor import pages  # noqa\n")
    (scratch / "monitor" / "pages.py").write_text("")
    result = lint(scratch)
    assert result.returncode != 0 and "core is not allowed to import monitor" in result.stdout


def test_siblings_may_not_import_each_other(scratch: Path) -> None:
    (scratch / "bot" / "x.py").write_text("import qr  # noqa\n")
    result = lint(scratch)
    assert result.returncode != 0 and "bot is not allowed to import qr" in result.stdout
