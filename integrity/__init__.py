"""integrity package: integrity signals, flags and their review, correction-factor inputs.

The public face: what other packages may import from integrity. `labels` (the Indonesian
wording of signals, evidence and decisions) is public as a module.
"""

from integrity import labels
from integrity.models import Review
from integrity.service import (
    ReviewError,
    correction_inputs,
    flag_campaign,
    last_flagged_at,
    record_review,
    stored_report,
)
from integrity.signals import ALL_SIGNALS

__all__ = [
    "ALL_SIGNALS",
    "Review",
    "ReviewError",
    "correction_inputs",
    "flag_campaign",
    "labels",
    "last_flagged_at",
    "record_review",
    "stored_report",
]
