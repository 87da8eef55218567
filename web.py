"""The FastAPI app: mounts each package's router. No logic here."""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from bot.replies import faq_problem
from core.registry import PACKAGES, import_all_models
from core.security import install_security
from responses.questionnaire import preload as preload_questionnaires

FREEZE_GC_ENV = "SPIBOT_FREEZE_GC_AT_START"  # set by `spibot serve`, inherited by its web processes
SWITCH_INTERVAL = 0.0005  # seconds, under `spibot serve` (see lifespan)
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    preload_questionnaires()  # data files parsed at start, not on someone's first request
    problem = faq_problem()  # the PIC-edited FAQ: say at start what to fix (the bot falls back meanwhile)
    if problem is not None:
        log.error("FAQ file unusable, the bot answers from the built-in FAQ until it is fixed: %s", problem)
    if os.environ.get(FREEZE_GC_ENV) == "1":
        # Under `spibot serve` (each web process): what is alive now (modules, app, caches) lives
        # as long as the process, so keep full collections from walking it: otherwise each one
        # pauses the process for tens of ms (docs/benchmarks.md, issues 5 and 6). Not in tests:
        # a test's objects frozen here would never be collected.
        gc.collect()
        gc.freeze()
        # A thread that released the GIL for a database call (the registration writer, ~10
        # statements a batch) waits up to the switch interval (5 ms by default) for the event
        # loop to give it back. 0.5 ms: registration POST p95 124 -> 65 ms at 50 users
        # (docs/benchmarks.md, issue 6). Process-wide, only lowered.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
    yield


def create_app() -> FastAPI:
    import_all_models()
    app = FastAPI(title="spibot", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json",
                  lifespan=lifespan)
    for name in ["core", *PACKAGES]:
        module = importlib.import_module(f"{name}.router")
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/pic")

    install_security(app)  # security headers on every response, token-guessing limit on /s/*
    return app


app = create_app()
