"""The one Jinja2 environment: autoescape on, StrictUndefined (a missing variable is an error at
render time, never a blank in a message to 100,000 people)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core import clock
from core.labels import label
from core.config import ROOT

TEMPLATES_DIR = ROOT / "templates"


@lru_cache
def get_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html", "htm", "xml", "svg"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tanggal"] = clock.format_date_id
    env.filters["tanggal_jam"] = clock.format_datetime_id
    env.filters["ribuan"] = lambda n: f"{n:,}".replace(",", ".")
    env.filters["label"] = lambda code, kind: label(kind, code)
    return env


def render(name: str, **context: Any) -> str:
    return get_env().get_template(name).render(**context)
