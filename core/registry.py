"""Where every package's tables, routers and commands are collected, in one place."""

from __future__ import annotations

import importlib

PACKAGES = ["population", "dispatch", "bot", "qr", "responses", "monitor", "integrity"]


def import_all_models() -> None:
    """Import every package's `models` module so SQLModel.metadata knows all tables."""
    import core.audit  # noqa: F401
    import core.models  # noqa: F401

    for name in PACKAGES:
        importlib.import_module(f"{name}.models")
