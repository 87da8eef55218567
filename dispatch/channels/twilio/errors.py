"""Twilio's error codes, and what spibot does for each: the one table (docs/whatsapp.md cites
the Twilio and Meta pages behind every row).

A code reaches us two ways: as the REST error of the create call (validation: 21211, 21655,
21619 ...) or, for WhatsApp's own refusals (63018, 63049, 63032, 63024 ...), in a status callback
or a status look-up after Twilio accepted the message. Both go through `classify`.
"""

from __future__ import annotations

from typing import NamedTuple

from dispatch.channels.base import (
    Action,
    ChannelError,
    error_for,
)


class Row(NamedTuple):
    action: Action  # what we do
    reason: str  # why, in our own neutral words: a failed row's error_class, a hold's code
    why: str  # in English, for logs and admins


# code -> Row
CODES: dict[str, Row] = {
    # Sending too fast for the sender / account: slow down and retry soon.
    "20429": Row(Action.rate_limited, "rate_limited", "too many requests"),
    "63017": Row(Action.rate_limited, "rate_limited", "account rate limit (messages per second) exceeded"),
    # The WhatsApp messaging limit (unique users per rolling 24 h) is reached: wait for the window.
    "63018": Row(Action.defer, "deferred", "WhatsApp messaging limit reached: wait until the 24-hour window frees"),
    # Meta did not deliver a MARKETING template to this user now (per-user marketing limit):
    # try again hours later, then by email.
    "63049": Row(Action.marketing, "marketing_limit", "Meta chose not to deliver this marketing message"),
    # The user's number is part of a Meta experiment (marketing templates held back): email now;
    # the number stays reachable for the next campaign.
    "63032": Row(Action.fallback, "fallback", "the user's number is part of a WhatsApp experiment"),
    # Our configuration or template is wrong, for every recipient: stop the sender's bulk lane,
    # keep the rows pending, tell an admin.
    "63038": Row(Action.hold, "account_daily_limit", "the account's daily message limit is reached"),
    "63016": Row(Action.hold, "template_setup", "template sent outside the window without an approved ContentSid"),
    "21655": Row(Action.hold, "template_setup", "the ContentSid is invalid (placeholder, or not this account's)"),
    "21656": Row(Action.hold, "template_variables", "the ContentVariables are invalid"),
    "21619": Row(Action.hold, "template_setup", "no message body or ContentSid was sent"),
    "63027": Row(Action.hold, "template_paused", "the template does not exist, or is paused or disabled by WhatsApp"),
    "63030": Row(Action.hold, "unsupported_param", "an unsupported parameter for this channel"),
    "21606": Row(Action.hold, "sender_unregistered", "the From number is not a valid WhatsApp sender of this account"),
    "21212": Row(Action.hold, "sender_invalid", "the From number is invalid"),
    "63007": Row(Action.hold, "sender_unregistered", "the From address is not a WhatsApp sender of this account"),
    "21703": Row(Action.hold, "no_sender", "the Messaging Service has no sender"),
    "20003": Row(Action.hold, "credentials", "authentication failed (TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN)"),
    "20404": Row(Action.hold, "account_not_found", "resource not found (account or sender)"),
    "21408": Row(Action.hold, "region_disabled", "sending to this region is not enabled on the account"),
    # This address cannot be reached on WhatsApp: mark it, send by email instead.
    "21211": Row(Action.unreachable, "invalid_address", "invalid 'To' number"),
    "21614": Row(Action.unreachable, "invalid_address", "'To' is not a mobile number"),
    "63024": Row(Action.unreachable, "not_whatsapp", "the recipient is not a WhatsApp user"),
    "63003": Row(Action.unreachable, "not_whatsapp", "the channel could not find the To address"),
    # The person said STOP.
    "21610": Row(Action.opted_out, "opted_out", "the recipient unsubscribed (STOP)"),
}


def classify(status: int | None, code: int | str | None, message: str, *,
             free_form: bool = False) -> ChannelError:
    """Our error for a Twilio answer: an HTTP status and/or a Twilio error code.

    `free_form`: the message was a Body (a reply inside the 24-hour window). 63016 then means that
    this person's window has closed: the reply is dropped, nothing is wrong with our setup."""
    code_s = str(code).strip() if code not in (None, "") else None
    if code_s == "63016" and free_form:
        return error_for(Action.rejected, "the 24-hour window closed before the reply", code_s, "window_closed")
    if code_s in CODES:
        row = CODES[code_s]
        return error_for(row.action, f"{row.why}: {message}" if message else row.why, code_s, row.reason)
    if status == 429:
        return error_for(Action.rate_limited, message or "too many requests", code_s or "429")
    if status is None or status >= 500:
        return error_for(Action.retry, message or "provider error", code_s or (str(status) if status else None))
    # Any other 4xx: our request is wrong for this recipient; do not hammer the provider.
    return error_for(Action.rejected, message or "refused", code_s or str(status))
