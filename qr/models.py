"""Tables owned by qr."""

from __future__ import annotations
