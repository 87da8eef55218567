"""Message content: the variables of one respondent, WhatsApp texts (sandbox and Content API
definitions, from the same Jinja2 files), and email (HTML + text, Message-ID, List-Unsubscribe).

A missing variable raises `jinja2.UndefinedError` at render time: enqueueing renders every wave
once before inserting anything, so nothing half-written goes out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache
from html import escape
from typing import Any

from core.clock import format_date_id
from core.config import Settings, get_settings
from core.models import Campaign, Institution, Person, Unit
from core.templating import get_env
from core.tokens import survey_url, token_for

# Content API variables are numbered; the order is part of the approved templates.
VARIABLE_ORDER = ("name", "year", "institution", "unit", "closes")
TOKEN_VARIABLE = str(len(VARIABLE_ORDER) + 1)
WHATSAPP_TEMPLATES = ("invitation", "reminder", "registration")
TEMPLATE_OF_PURPOSE = {
    "invitation": "invitation",
    "reminder": "reminder",
    "last_call": "reminder",
    "registration": "registration",
}


def respondent_variables(
    person: Person, unit: Unit | None, institution: Institution, campaign: Campaign
) -> dict[str, str]:
    assert campaign.closes_at is not None
    return {
        "name": (person.name or "Responden").strip()[:100],
        "year": str(campaign.year),
        "institution": institution.name,
        "unit": unit.name if unit else institution.name,
        "closes": format_date_id(campaign.closes_at, institution.timezone),
    }


def content_sid(template: str, campaign_config: dict[str, Any] | None = None) -> str:
    """The approved Content SID of a template (per-campaign override, else `.env`)."""
    override = (campaign_config or {}).get("content_sids", {}).get(template)
    if override:
        return str(override)
    settings = get_settings()
    return {
        "invitation": settings.twilio_content_sid_invitation,
        "reminder": settings.twilio_content_sid_reminder,
        "registration": settings.twilio_content_sid_registration,
    }[template]


def content_variables(variables: dict[str, str], token: str) -> str:
    values = {str(i + 1): variables[name] for i, name in enumerate(VARIABLE_ORDER)}
    values[TOKEN_VARIABLE] = token
    return json.dumps(values, ensure_ascii=False)


def render(name: str, context: dict[str, str]) -> str:
    # not core.templating.render(name, **ctx): our variables include "name"
    return get_env().get_template(name).render(**context)


def whatsapp_text(template: str, variables: dict[str, str]) -> str:
    return render(f"whatsapp/{template}.txt", variables).strip()


def content_definitions(settings: Settings | None = None) -> list[dict[str, Any]]:
    """The Content API definitions (twilio/call-to-action) to submit for WhatsApp approval."""
    settings = settings or get_settings()
    placeholders = {name: "{{" + str(i + 1) + "}}" for i, name in enumerate(VARIABLE_ORDER)}
    samples = {"1": "Budi Santoso", "2": "2026", "3": "Pemerintah Kabupaten Katingan",
               "4": "Dinas Penanaman Modal dan PTSP", "5": "31 Oktober 2026",
               TOKEN_VARIABLE: "contohtoken"}
    base = settings.public_base_url.rstrip("/")
    return [
        {
            "friendly_name": f"spi_{template}",
            "language": "id",
            "variables": samples,
            "types": {
                "twilio/call-to-action": {
                    "body": whatsapp_text(template, placeholders),
                    "actions": [
                        {"type": "URL", "title": "ISI SURVEI", "url": f"{base}/s/{{{{{TOKEN_VARIABLE}}}}}"}
                    ],
                }
            },
        }
        for template in WHATSAPP_TEMPLATES
    ]


# --- email ---------------------------------------------------------------------------------------


def unsubscribe_signature(outbox_id: int) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"unsubscribe:{outbox_id}".encode(), hashlib.sha256).hexdigest()[:24]


def unsubscribe_url(outbox_id: int) -> str:
    base = get_settings().public_base_url.rstrip("/")
    return f"{base}/berhenti/email/{outbox_id}/{unsubscribe_signature(outbox_id)}"


def message_id(outbox_id: int, key: str) -> str:
    """Stable per outbox row: a retried send carries the same Message-ID (receivers may dedupe)."""
    domain = get_settings().email_from.rsplit("@", 1)[-1].strip(" >") or "spibot.local"
    digest = hashlib.sha256(f"{outbox_id}:{key}".encode()).hexdigest()[:16]
    return f"<spi.{outbox_id}.{digest}@{domain}>"


_PERSONAL = ("name", "link", "unsubscribe")


@lru_cache(maxsize=256)
def _email_skeleton(template: str, shared: tuple[tuple[str, str], ...]) -> tuple[str, str, str]:
    """Rendered once per wave (same institution, unit, dates); personal fields left as markers."""
    ctx = {**dict(shared), **{k: f"\x00{k}\x00" for k in _PERSONAL}}
    subject = render("email/subject.txt", ctx).strip()
    return subject, render(f"email/{template}.txt", ctx), render(f"email/{template}.html", ctx)


def email_parts(template: str, variables: dict[str, str], link: str, unsubscribe: str) -> tuple[str, str, str]:
    """(subject, text, html), personalised by filling the wave's skeleton."""
    shared = tuple(sorted((k, v) for k, v in variables.items() if k not in _PERSONAL))
    subject, text, html = _email_skeleton(template, shared)
    personal = {"name": variables["name"], "link": link, "unsubscribe": unsubscribe}
    for key, value in personal.items():
        marker = f"\x00{key}\x00"
        text = text.replace(marker, value)
        html = html.replace(marker, escape(value))
        subject = subject.replace(marker, value)
    return subject, text, html


def build_email(
    *, to: str, sender: str, subject: str, text: str, html: str, msg_id: str, unsubscribe: str | None
) -> bytes:
    """The MIME message (multipart/alternative: text + HTML) as bytes, built directly: the stdlib
    `EmailMessage` header machinery costs ~5 ms a message, which caps a blast at ~200/s."""
    boundary = f"=_spi_{uuid.uuid4().hex}"
    name, addr = parseaddr(sender)
    from_header = formataddr((str(Header(name, "utf-8")), addr)) if name else addr
    headers = [
        f"From: {from_header}",
        f"To: {to}",
        f"Subject: {Header(subject, 'utf-8').encode()}",
        f"Date: {formatdate(usegmt=True)}",
        f"Message-ID: {msg_id}",
        *([f"List-Unsubscribe: <{unsubscribe}>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
          if unsubscribe else []),  # not on alerts to our own admins
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    parts = []
    for subtype, body in (("plain", text), ("html", html)):
        if subtype == "html" and not html:
            continue
        encoded = base64.encodebytes(body.encode("utf-8")).decode("ascii")
        parts.append(f"--{boundary}\r\nContent-Type: text/{subtype}; charset=\"utf-8\"\r\n"
                     f"Content-Transfer-Encoding: base64\r\n\r\n{encoded.replace(chr(10), chr(13) + chr(10))}")
    raw = "\r\n".join(headers) + "\r\n\r\n" + "\r\n".join(parts) + f"\r\n--{boundary}--\r\n"
    return raw.encode("ascii")


def link_for_nonce(nonce: str) -> tuple[str, str]:
    """(token, survey URL) of an assignment, derived again from its nonce."""
    token = token_for(nonce)
    return token, survey_url(token)


def validate(channel: str, template: str, variables: dict[str, str]) -> None:
    """Render once with these variables; raises if anything is missing (before enqueueing)."""
    if channel == "whatsapp":
        whatsapp_text(template, variables)
        content_variables(variables, "x")
    else:
        email_parts(template, variables, "https://example.invalid/s/x", "https://example.invalid/u")
