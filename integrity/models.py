"""Tables owned by integrity."""

from __future__ import annotations
