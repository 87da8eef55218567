"""Answers are never joinable to identity: structural guards over the whole code base.

- `Response` carries no identity column; `ResponseLink` is the only bridge, and only the modules
  that must enforce "one response per link" (responses.service) or attribute integrity signals
  (integrity.adapter) may use it. A new page, export or API that imports it fails here.
- No module that reads `Response` rows for output also selects Person's name/phone/email.
"""

from __future__ import annotations

import ast
from pathlib import Path

from responses.models import Response

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["core", "population", "dispatch", "bot", "qr", "responses", "monitor", "integrity", "capi", "actionplan"]
# responses/__init__.py: its public face re-exports the bridge for integrity.adapter (packages
# import each other only through faces); a module that imports it from there still fails here.
LINK_ALLOWED = {"responses/models.py", "responses/service.py", "integrity/adapter.py", "responses/__init__.py"}
IDENTITY = {"name", "phone", "email", "person_id", "assignment_id", "token_hash", "token_nonce"}


def _modules() -> list[tuple[str, ast.Module]]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            out.append((rel, ast.parse(path.read_text(encoding="utf-8"), rel)))
    return out


def _names(tree: ast.Module) -> set[str]:
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {a.name.split(".")[-1] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
              for a in n.names}
    return names


def test_response_table_has_no_identity_column() -> None:
    assert IDENTITY.isdisjoint(Response.model_fields)


def test_only_allowed_modules_touch_the_identity_bridge() -> None:
    users = {rel for rel, tree in _modules() if "ResponseLink" in _names(tree)}
    assert users <= LINK_ALLOWED, f"ResponseLink used outside {LINK_ALLOWED}: {users - LINK_ALLOWED}"


def test_no_module_reads_answers_and_contact_data_together() -> None:
    offenders = []
    for rel, tree in _modules():
        names = _names(tree)
        if rel in LINK_ALLOWED or "Response" not in names or "Person" not in names:
            continue
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                 and isinstance(n.value, ast.Name) and n.value.id == "Person"}
        if attrs & {"name", "phone", "email"}:
            offenders.append(rel)
    # integrity.purge blanks Person contact data and never reads answers.
    assert set(offenders) <= {"integrity/purge.py"}, offenders
