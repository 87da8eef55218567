"""Tables owned by population."""

from __future__ import annotations
