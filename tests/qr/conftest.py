"""Fixtures of the qr tests: an institution with a public unit and an open campaign."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session

from core.clock import utcnow
from core.models import Campaign, Institution, Unit
from qr import cache
from tests.factories import make_campaign, make_institution, make_unit


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # The per-IP window is reset for every test by tests/conftest.py.
    cache.clear()
    yield
    cache.clear()


@dataclass
class World:
    institution: Institution
    unit: Unit
    campaign: Campaign


def build_world(session: Session, **campaign_kw: Any) -> World:
    institution = make_institution(session, code="KAB-KTG", name="Pemerintah Kabupaten Katingan")
    unit = make_unit(session, institution, code="DUKCAPIL",
                     name="Dinas Kependudukan dan Pencatatan Sipil",
                     services=["Pembuatan KTP", "Pembuatan KK", "Akta Kelahiran"],
                     counters=["L1", "L2"])
    now = utcnow()
    campaign_kw.setdefault("opens_at", now - timedelta(days=2))
    campaign_kw.setdefault("closes_at", now + timedelta(days=30))
    campaign = make_campaign(session, institution, **campaign_kw)
    session.commit()
    return World(institution, unit, campaign)


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)
