"""dispatch package: sending invitations, reminders and links (WhatsApp, email).

The public face: what other packages may import from dispatch. `holds` (pause/resume/cancel of
waves and campaigns, held senders and templates) and `limits` (the sending plan) are public as
modules: their functions are read through them (`holds.resume`, `limits.plan`).
"""

from dispatch import holds, limits
from dispatch.cost import format_cost_id
from dispatch.models import Hold, HoldScope, Lane, Outbox, Status
from dispatch.preview import WavePreview, wave_preview
from dispatch.service import enqueue_link, enqueue_links, enqueue_reminder

__all__ = [
    "Hold",
    "HoldScope",
    "Lane",
    "Outbox",
    "Status",
    "WavePreview",
    "enqueue_link",
    "enqueue_links",
    "enqueue_reminder",
    "format_cost_id",
    "holds",
    "limits",
    "wave_preview",
]

# Launching the invitation wave by hand (the dashboard's "Luncurkan").
from dispatch.launch import LaunchRefused, Readiness, launch, readiness  # noqa: E402
from dispatch.preflight import Problem, run_checks  # noqa: E402

__all__ += ["LaunchRefused", "Problem", "Readiness", "launch", "readiness", "run_checks"]
