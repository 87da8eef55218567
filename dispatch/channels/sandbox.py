"""The default channel: sends nothing, marks the message delivered at once. What "was sent" is
the outbox row itself; `dispatch.sandbox` renders it as the respondent would see it."""

from __future__ import annotations

import uuid
from datetime import datetime

from dispatch.channels.base import OutMessage, ProviderMessage, SendResult


class SandboxChannel:
    backend = "sandbox"

    def __init__(self, channel: str) -> None:
        self.channel = channel

    async def send(self, message: OutMessage) -> SendResult:
        prefix = "SBWA" if self.channel == "whatsapp" else "SBEM"
        return SendResult(provider_id=f"{prefix}{uuid.uuid4().hex}", status="delivered", backend=self.backend)

    async def lookup(self, to: str, sender: str, since: datetime) -> list[ProviderMessage] | None:
        # Nothing leaves the process: a claimed row that never got its result was never "sent".
        return []

    async def close(self) -> None:
        return None
