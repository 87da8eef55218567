"""Tables owned by bot."""

from __future__ import annotations
