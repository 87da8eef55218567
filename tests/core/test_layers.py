"""The layer contract of pyproject.toml ([tool.importlinter]) holds for the project, and it does
catch a violation: the same contract, run on scratch packages of the same names, fails as soon
as a lower layer imports a higher one (even from inside a function).

Feature packages import each other only through the public face (`__init__.py`, its `__all__`):
never `other.submodule`, never a name the face does not list. `core` (the foundation: its modules
are its face) and `app` (composition) are exempt, so are the entry points, tests and bench."""

from __future__ import annotations

import ast
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


CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
FEATURES = [name for name in CONFIG["root_packages"] if name not in ("app", "core")]


def public_face(init: str) -> set[str] | None:
    """The names in a package's `__all__` (`=` and `+=`), or None when it declares none."""
    names: set[str] | None = None
    for node in ast.walk(ast.parse(init)):
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and isinstance(target, ast.Name) \
                and target.id == "__all__" and isinstance(node.value, ast.List | ast.Tuple):
            names = (names or set()) | {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
    return names


def face_violations(source: str, path: str, package: str, faces: dict[str, set[str] | None]) -> list[str]:
    """Imports in one module of `package` that go past another feature package's public face."""
    found = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            modules = [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [(node.module, [alias.name for alias in node.names])]
        else:
            continue
        for module, names in modules:
            top, _, submodule = module.partition(".")
            if top not in faces or top == package:
                continue
            if submodule:
                found.append(f"{path}:{node.lineno}: imports {module}, a submodule of {top}; import the name "
                             f"from the package (`from {top} import ...`), adding it to {top}/__init__.py's __all__")
            elif missing := sorted(set(names) - (faces[top] or set())):
                found.append(f"{path}:{node.lineno}: imports {', '.join(missing)} from {top}, not in its public "
                             f"face; add it to {top}/__init__.py's __all__ (or use a name that is there)")
    return found


def project_faces() -> dict[str, set[str] | None]:
    return {name: public_face((ROOT / name / "__init__.py").read_text()) for name in FEATURES}


def test_every_feature_package_declares_its_public_face() -> None:
    assert [name for name, face in project_faces().items() if face is None] == []


def test_feature_packages_import_each_other_only_through_the_public_face() -> None:
    faces = project_faces()
    found = [v for name in FEATURES for path in sorted((ROOT / name).rglob("*.py"))
             for v in face_violations(path.read_text(), str(path.relative_to(ROOT)), name, faces)]
    assert found == [], "\n".join(found)


def test_the_face_check_catches_a_violation() -> None:
    faces = {"bot": {"activity"}, "dispatch": {"Outbox"}, "responses": None}
    source = ("from dispatch import Outbox\nfrom dispatch.worker import run_until_idle\n"
              "def f():\n    import dispatch.sandbox\n    from bot import activity, inbox\n"
              "from .models import X\nfrom integrity.models import Review\nfrom core.db import session_scope\n")
    assert face_violations(source, "integrity/x.py", "integrity", faces) == [
        "integrity/x.py:2: imports dispatch.worker, a submodule of dispatch; import the name from the "
        "package (`from dispatch import ...`), adding it to dispatch/__init__.py's __all__",
        "integrity/x.py:4: imports dispatch.sandbox, a submodule of dispatch; import the name from the "
        "package (`from dispatch import ...`), adding it to dispatch/__init__.py's __all__",
        "integrity/x.py:5: imports inbox from bot, not in its public face; add it to bot/__init__.py's "
        "__all__ (or use a name that is there)",
    ]
    assert public_face("__all__ = ['a']\n__all__ += ['b']\n") == {"a", "b"}
    assert public_face("x = 1\n") is None
