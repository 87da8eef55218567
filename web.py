"""The FastAPI app: mounts each package's router. No logic here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from app.observability import OpsHostCheck
from app.observability import install as install_observability
from app.registry import ROUTERS
from app.tuning import tune_web_process
from bot import spool
from bot.replies import faq_problem
from core.config import get_settings
from core.errorpages import install_error_pages
from core.masking import configure_logging
from core.security import install_security
from responses.questionnaire import preload as preload_questionnaires

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    preload_questionnaires()  # data files parsed at start, not on someone's first request
    problem = faq_problem()  # the PIC-edited FAQ: say at start what to fix (the bot falls back meanwhile)
    if problem is not None:
        log.error("FAQ file unusable, the bot answers from the built-in FAQ until it is fixed: %s", problem)
    tune_web_process()  # under `spibot serve` only
    spool.kick_if_waiting()  # inbound messages spooled while the database was down, by an earlier process
    if not logging.getLogger().handlers:  # a web worker process uvicorn spawned: masked, LOG_FORMAT
        configure_logging(get_settings().log_level)
    yield
    spool.stop()


def public_host() -> str:
    """The host name of PUBLIC_BASE_URL: the one Host header a production server answers."""
    return urlsplit(get_settings().public_base_url).hostname or "localhost"


def create_app() -> FastAPI:
    prod = get_settings().env == "prod"  # no public API docs in production
    # redirect_slashes off: Starlette's "/pic/" -> "/pic" redirect is built from the Host header
    # (an attacker's host reflected in Location); a path with a stray slash is simply not found.
    app = FastAPI(title="spibot", version="0.1.0", docs_url=None if prod else "/api/docs",
                  redoc_url=None, openapi_url=None if prod else "/api/openapi.json", lifespan=lifespan,
                  redirect_slashes=False)
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/pic")

    install_error_pages(app)  # Indonesian HTML error pages on browser routes, JSON on the API
    install_security(app)  # security headers on every response, token-guessing limit on /s/*
    if get_settings().env == "prod":  # a request for another host is refused, never reflected
        app.add_middleware(OpsHostCheck, allowed_hosts=[public_host()])  # probes/scrapers: any host
    install_observability(app)  # /metrics, webhook latency, and (outermost) the request id
    return app


app = create_app()
