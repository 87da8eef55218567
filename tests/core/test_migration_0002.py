"""Migration 0002: link-token hashes move from 64 hex characters to 32 raw bytes, data included."""

from __future__ import annotations

from sqlalchemy import text

from core.db import get_engine
from core.tokens import hash_token, token_for
from tests.fixtures.db import migrate

NONCES = [f"{i:032x}" for i in range(1, 4)]


def _hashes(url: str) -> list[object]:
    with get_engine(url).connect() as conn:
        return [bytes(h) if isinstance(h, memoryview) else h
                for h, in conn.execute(text("SELECT token_hash FROM assignment ORDER BY id"))]


def test_existing_token_hashes_are_converted_both_ways(empty_url: str) -> None:
    migrate(empty_url, "0001")
    with get_engine(empty_url).begin() as conn:
        conn.execute(text("INSERT INTO institution (id, code, name, kind, timezone, registration_enabled) "
                          "VALUES (1, 'I1', 'Kab. Contoh', 'kabupaten', 'Asia/Jakarta', true)"))
        conn.execute(text("INSERT INTO campaign (id, institution_id, year, name, opens_at, closes_at, status, config) "
                          "VALUES (1, 1, 2024, 'SPI', '2024-08-01 00:00:00+00:00', '2024-09-01 00:00:00+00:00', "
                          "'open', '{}')"))
        for i, nonce in enumerate(NONCES, start=1):
            conn.execute(text("INSERT INTO person (id, institution_id, \"group\", name, non_asn, status, flags, "
                              "source) VALUES (:i, 1, 'internal', :n, false, 'eligible', '[]', 'import')"),
                         {"i": i, "n": f"P{i}"})
            conn.execute(text("INSERT INTO assignment (id, campaign_id, person_id, \"group\", kind, active, "
                              "token_nonce, token_hash) "
                              "VALUES (:i, 1, :i, 'internal', 'sampled', true, :nonce, :h)"),
                         {"i": i, "nonce": nonce, "h": hash_token(token_for(nonce)).hex()})
    migrate(empty_url, "head")
    assert _hashes(empty_url) == [hash_token(token_for(n)) for n in NONCES]
    with get_engine(empty_url).connect() as conn:  # the personal link still finds its respondent
        found = conn.execute(text("SELECT person_id FROM assignment WHERE token_hash = :h"),
                             {"h": hash_token(token_for(NONCES[1]))}).scalar()
    assert found == 2
    migrate(empty_url, "0001", down=True)
    assert _hashes(empty_url) == [hash_token(token_for(n)).hex() for n in NONCES]
