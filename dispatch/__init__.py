"""dispatch package: sending invitations, reminders and links (WhatsApp, email).

The public face: what other packages may import from dispatch. `holds` (pause/resume/cancel of
waves and campaigns, held senders and templates) and `limits` (the sending plan) are public as
modules: their functions are read through them (`holds.resume`, `limits.plan`).
"""

from typing import TYPE_CHECKING, Any

from dispatch import holds, limits
from dispatch.channels.base import Incoming
from dispatch.cost import format_cost_id
from dispatch.models import Hold, HoldScope, Lane, Outbox, Status, Unreachable, WhatsAppReach
from dispatch.preview import WavePreview, wave_preview
from dispatch.sandbox import conversation as sandbox_conversation
from dispatch.service import (
    enqueue_link,
    enqueue_links,
    enqueue_notice,
    enqueue_reminder,
    enqueue_reply,
    invite_after_wave,
)

__all__ = [
    "Hold",
    "HoldScope",
    "Incoming",
    "Lane",
    "Outbox",
    "Status",
    "Unreachable",
    "WavePreview",
    "WhatsAppReach",
    "enqueue_link",
    "enqueue_links",
    "enqueue_notice",
    "enqueue_reminder",
    "enqueue_reply",
    "format_cost_id",
    "holds",
    "invite_after_wave",
    "limits",
    "sandbox_conversation",
    "wave_preview",
]

# Launching the invitation wave by hand (the dashboard's "Luncurkan").
from dispatch.launch import LaunchRefused, Readiness, launch, readiness  # noqa: E402
from dispatch.preflight import Problem, run_checks  # noqa: E402

__all__ += ["LaunchRefused", "Problem", "Readiness", "launch", "readiness", "run_checks"]

# The worker run in-process (the bot's sandbox and `spibot bot say --send`) and Twilio's inbound
# webhook (the bot's endpoint). Loaded on first use (`__getattr__` below), not with the package:
# the webhook module imports FastAPI (~170 ms) and the worker ~25 ms more, which `import dispatch`
# would otherwise pay in every process.
if TYPE_CHECKING:
    from dispatch.channels.twilio.webhooks import parse_form as parse_twilio_form
    from dispatch.channels.twilio.webhooks import parse_inbound as parse_twilio_inbound
    from dispatch.channels.twilio.webhooks import public_url as twilio_public_url
    from dispatch.channels.twilio.webhooks import verify as verify_twilio_signature
    from dispatch.worker import run_until_idle

__all__ += ["parse_twilio_form", "parse_twilio_inbound", "run_until_idle", "twilio_public_url",
            "verify_twilio_signature"]
_TWILIO_WEBHOOKS = {"parse_twilio_form": "parse_form", "parse_twilio_inbound": "parse_inbound",
                    "twilio_public_url": "public_url", "verify_twilio_signature": "verify"}


def __getattr__(name: str) -> Any:
    """A name of the public face, imported from its module on first use (see above)."""
    value: Any
    if name == "run_until_idle":
        from dispatch.worker import run_until_idle as value  # lazy: see above
    elif name in _TWILIO_WEBHOOKS:
        from dispatch.channels.twilio import webhooks  # lazy: see above

        value = getattr(webhooks, _TWILIO_WEBHOOKS[name])
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
