"""The one Jinja2 environment: autoescape on, StrictUndefined (a missing variable is an error at
render time, never a blank in a message to 100,000 people)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core import clock, numbers
from core.config import ROOT
from core.labels import label

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
    env.filters["ribuan"] = numbers.ribuan  # 1.234
    env.filters["persen"] = numbers.persen  # a share: 0.837 -> 83,7%
    env.filters["desimal"] = numbers.desimal  # an index: 83.456 -> 83,46
    env.filters["label"] = lambda code, kind: label(kind, code)
    return env


def render(name: str, **context: Any) -> str:
    return get_env().get_template(name).render(**context)
