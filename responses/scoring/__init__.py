"""SPI scoring: KPK's method (`method`), the vectorised engine (`engine`) and per-institution
results (`institution`)."""

from __future__ import annotations

from responses.scoring.institution import InstitutionScore, score_institution, set_correction
from responses.scoring.method import category, classify, integrity_index

__all__ = ["InstitutionScore", "category", "classify", "integrity_index", "score_institution", "set_correction"]
