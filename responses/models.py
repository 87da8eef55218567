"""Tables owned by responses."""

from __future__ import annotations
