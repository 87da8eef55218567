"""Posters of a campaign: what goes on each (PosterSpec), the short links, one poster on
demand, and the whole set as one PDF plus a ZIP of PNGs (CLI and dashboard download)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.clock import format_date_id, utcnow
from core.config import get_settings
from core.models import Campaign, Institution, Unit
from qr.layout import PosterSpec, page_for
from qr.models import ShortLink
from qr.render import iter_png_pages, pdf_bytes, png_pages, svg_text
from qr.service import closing_day
from qr.urls import GUESTBOOK, REGISTRATION, short_code, short_url, target_url

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class PosterBundle:
    pdf: bytes  # every poster, one page each
    zip: bytes  # one PNG per poster
    count: int


def short_link(session: Session, kind: str, institution: Institution, unit: Unit,
               counter: str | None) -> str:
    """The short code of a poster target, created on first use (stable across reprints)."""
    counter_key = counter or ""
    query = select(ShortLink).where(ShortLink.unit_id == unit.id, ShortLink.kind == kind,
                                    ShortLink.counter == counter_key)
    found = session.exec(query).first()
    if found:
        return found.code
    for length in (8, 10, 12):  # a longer code only on the (rare) collision of two targets
        code = short_code(kind, institution.code, unit.code, counter, length)
        try:
            with session.begin_nested():
                session.add(ShortLink(code=code, kind=kind, institution_id=institution.id,  # type: ignore[arg-type]
                                      unit_id=unit.id, counter=counter_key, created_at=utcnow()))  # type: ignore[arg-type]
            return code
        except IntegrityError:
            found = session.exec(query).first()  # someone else created it meanwhile
            if found:
                return found.code
    raise RuntimeError(f"no free short code for {kind} {institution.code}/{unit.code}")


def resolve_short_link(session: Session, code: str) -> str | None:
    """The full URL behind `/p/<code>`, or None."""
    if not re.fullmatch(r"[a-z2-7]{6,16}", code or ""):
        return None
    link = session.exec(select(ShortLink).where(ShortLink.code == code)).first()
    if link is None:
        return None
    unit = session.get(Unit, link.unit_id)
    institution = session.get(Institution, link.institution_id)
    if unit is None or institution is None:
        return None
    return target_url(link.kind, institution.code, unit.code, link.counter or None)


def poster_spec(session: Session, kind: str, campaign: Campaign, institution: Institution,
                unit: Unit, counter: str | None) -> PosterSpec:
    code = short_link(session, kind, institution, unit, counter)
    return PosterSpec(
        kind=kind,
        year=campaign.year,
        institution_name=institution.name,
        unit_name=unit.name,
        counter=counter,
        url=target_url(kind, institution.code, unit.code, counter),
        short_url=short_url(code),
        closes_on=format_date_id(closing_day(campaign, institution.timezone)),
        call_centre=get_settings().call_centre,
    )


def campaign_specs(session: Session, campaign: Campaign, unit_code: str | None = None,
                   *, guestbook: bool = True) -> list[PosterSpec]:
    """One registration poster per counter (or one per unit without counters) of every unit
    that serves the public, plus one guest-book poster per unit; ordered by unit code."""
    institution = session.get(Institution, campaign.institution_id)
    assert institution is not None
    query = select(Unit).where(Unit.institution_id == institution.id, col(Unit.serves_public))
    if unit_code:
        query = query.where(Unit.code == unit_code)
    specs: list[PosterSpec] = []
    for unit in sorted(session.exec(query).all(), key=lambda u: u.code):
        counters: list[str | None] = list(unit.counters or []) or [None]
        for counter in counters:
            specs.append(poster_spec(session, REGISTRATION, campaign, institution, unit, counter))
        if guestbook:
            specs.append(poster_spec(session, GUESTBOOK, campaign, institution, unit, None))
    return specs


def render_one(spec: PosterSpec, fmt: str = "a4", ext: str = "pdf") -> bytes:
    """One poster as PDF, PNG or SVG."""
    page = page_for(spec, fmt)
    if ext == "svg":
        return svg_text(page, title=_title(spec)).encode()
    pdf = pdf_bytes([page], title=_title(spec))
    if ext == "png":
        return png_pages(pdf, get_settings().qr_png_dpi)[0]
    return pdf


def _title(spec: PosterSpec) -> str:
    where = f"{spec.unit_name} loket {spec.counter}" if spec.counter else spec.unit_name
    return f"Poster SPI {spec.year} - {spec.institution_name} - {where}"


def file_name(spec: PosterSpec, index: int, fmt: str = "a4") -> str:
    where = f"{spec.unit_name}-{spec.counter}" if spec.counter else spec.unit_name
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{index:04d}-{spec.kind}-{where}").strip("-")[:90]
    return f"{slug}-{fmt}.png"


def render_bundle(specs: list[PosterSpec], fmt: str = "a4",
                  progress: Progress | None = None) -> PosterBundle:
    """All posters into one vector PDF and a ZIP of PNGs."""
    total = len(specs)
    pdf = pdf_bytes((page_for(spec, fmt) for spec in specs), title="Poster SPI")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:  # PNGs are compressed
        for index, png in enumerate(iter_png_pages(pdf, get_settings().qr_png_dpi), 1):
            zf.writestr(file_name(specs[index - 1], index, fmt), png)
            if progress:
                progress(index, total)
    return PosterBundle(pdf=pdf, zip=buf.getvalue(), count=total)


def campaign_bundle(session: Session, campaign_id: int, unit_code: str | None = None,
                    fmt: str = "a4", progress: Progress | None = None) -> PosterBundle:
    """For the dashboard download and the CLI: every poster of a campaign (or of one unit)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    specs = campaign_specs(session, campaign, unit_code)
    return render_bundle(specs, fmt, progress)
