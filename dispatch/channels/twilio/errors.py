"""Twilio's error codes, and what spibot does for each: the one table (docs/whatsapp.md cites
the Twilio and Meta pages behind every row).

A code reaches us two ways: as the REST error of the create call (validation: 21211, 21655,
21619 ...) or, for WhatsApp's own refusals (63018, 63049, 63032, 63024 ...), in a status callback
or a status look-up after Twilio accepted the message. Both go through `classify`.
"""

from __future__ import annotations

from dispatch.channels.base import (
    Action,
    ChannelError,
    error_for,
)

# code -> (what we do, why, in English for logs and admins)
CODES: dict[str, tuple[Action, str]] = {
    # Sending too fast for the sender / account: slow down and retry soon.
    "20429": (Action.rate_limited, "too many requests"),
    "63017": (Action.rate_limited, "account rate limit (messages per second) exceeded"),
    # The WhatsApp messaging limit (unique users per rolling 24 h) is reached: wait for the window.
    "63018": (Action.defer, "WhatsApp messaging limit reached: wait until the 24-hour window frees"),
    # Meta did not deliver a MARKETING template to this user now (per-user marketing limit):
    # try again hours later, then by email.
    "63049": (Action.marketing, "Meta chose not to deliver this marketing message"),
    # The user's number is part of a Meta experiment (marketing templates held back): email now;
    # the number stays reachable for the next campaign.
    "63032": (Action.fallback, "the user's number is part of a WhatsApp experiment"),
    # Our configuration or template is wrong, for every recipient: stop the sender's bulk lane,
    # keep the rows pending, tell an admin.
    "63038": (Action.hold, "the account's daily message limit is reached"),
    "63016": (Action.hold, "template sent outside the window without an approved ContentSid"),
    "21655": (Action.hold, "the ContentSid is invalid (placeholder, or not this account's)"),
    "21656": (Action.hold, "the ContentVariables are invalid"),
    "21619": (Action.hold, "no message body or ContentSid was sent"),
    "63027": (Action.hold, "the template does not exist, or is paused or disabled by WhatsApp"),
    "63030": (Action.hold, "an unsupported parameter for this channel"),
    "21606": (Action.hold, "the From number is not a valid WhatsApp sender of this account"),
    "21212": (Action.hold, "the From number is invalid"),
    "63007": (Action.hold, "the From address is not a WhatsApp sender of this account"),
    "21703": (Action.hold, "the Messaging Service has no sender"),
    "20003": (Action.hold, "authentication failed (TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN)"),
    "20404": (Action.hold, "resource not found (account or sender)"),
    "21408": (Action.hold, "sending to this region is not enabled on the account"),
    # This address cannot be reached on WhatsApp: mark it, send by email instead.
    "21211": (Action.unreachable, "invalid 'To' number"),
    "21614": (Action.unreachable, "'To' is not a mobile number"),
    "63024": (Action.unreachable, "the recipient is not a WhatsApp user"),
    "63003": (Action.unreachable, "the channel could not find the To address"),
    # The person said STOP.
    "21610": (Action.opted_out, "the recipient unsubscribed (STOP)"),
}


def classify(status: int | None, code: int | str | None, message: str, *,
             free_form: bool = False) -> ChannelError:
    """Our error for a Twilio answer: an HTTP status and/or a Twilio error code.

    `free_form`: the message was a Body (a reply inside the 24-hour window). 63016 then means that
    this person's window has closed: the reply is dropped, nothing is wrong with our setup."""
    code_s = str(code).strip() if code not in (None, "") else None
    if code_s == "63016" and free_form:
        return error_for(Action.rejected, "the 24-hour window closed before the reply", code_s)
    if code_s in CODES:
        action, why = CODES[code_s]
        return error_for(action, f"{why}: {message}" if message else why, code_s)
    if status == 429:
        return error_for(Action.rate_limited, message or "too many requests", code_s or "429")
    if status is None or status >= 500:
        return error_for(Action.retry, message or "provider error", code_s or (str(status) if status else None))
    # Any other 4xx: our request is wrong for this recipient; do not hammer the provider.
    return error_for(Action.rejected, message or "refused", code_s or str(status))
