"""Tables owned by monitor."""

from __future__ import annotations
