"""Every package's tables and web routers, collected in one place with real imports (the
commands: app/cli.py)."""

from __future__ import annotations

from fastapi import APIRouter

import actionplan.models
import bot.models
import bot.router
import capi.models
import capi.router
import core.audit
import core.models
import core.router
import dispatch.models
import dispatch.router
import integrity.models
import integrity.router
import monitor.capi_routes
import monitor.models
import monitor.router
import population.models
import population.router
import qr.models
import qr.router
import responses.models
import responses.router

PACKAGES = ["population", "dispatch", "bot", "qr", "responses", "monitor", "integrity", "capi"]
MODELS = (core.audit, core.models, population.models, dispatch.models, bot.models, qr.models,
          responses.models, monitor.models, integrity.models, capi.models, actionplan.models)
ROUTERS: tuple[APIRouter, ...] = (
    core.router.router, population.router.router, dispatch.router.router, bot.router.router,
    qr.router.router, responses.router.router, monitor.router.router, integrity.router.router,
    capi.router.router, monitor.capi_routes.router,
)


def import_all_models() -> None:
    """SQLModel.metadata knows every table once this module is imported (the imports above);
    kept as a call for the places that say so explicitly (migrations, tests)."""
