"""Tables owned by dispatch."""

from __future__ import annotations
