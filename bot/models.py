"""Tables owned by the bot: inbound messages (once per MessageSid), the conversation log, the
per-number conversation state, and intent events for the dashboard.

Phone numbers are kept in full here (the database is the one place for full data); log lines and
PIC pages mask them. Outbound bodies in the conversation log have personal link tokens redacted:
the real text lives only in the dispatch outbox.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from core.models import json_field, not_personal, personal, utc_field


class InboundMessage(SQLModel, table=True):
    """One webhook from Twilio. UNIQUE MessageSid: a retried webhook is recognised, not re-run."""

    __tablename__ = "bot_inbound"
    __table_args__ = (Index("ix_bot_inbound_from_at", "from_number", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    message_sid: str = Field(unique=True, max_length=64)
    # E.164 when valid, else the raw value (truncated)
    from_number: str = Field(max_length=40, sa_column_kwargs={"info": personal()})
    to_number: str = Field(default="", max_length=60, sa_column_kwargs={"info": not_personal("our SPI sender")})
    body: str = Field(default="", sa_column=Column(Text, nullable=False, info=personal()))
    kind: str = Field(default="text", max_length=16)  # text, media, empty, long
    num_media: int = 0
    intent: str | None = Field(default=None, max_length=24)
    status: str = Field(default="received", max_length=16)  # replied, ignored, rate_limited, no_reply
    received_at: datetime | None = utc_field(nullable=False)


class ConversationEntry(SQLModel, table=True):
    """The conversation log, both directions, as the PIC may see it (links redacted)."""

    __tablename__ = "bot_conversation"
    __table_args__ = (Index("ix_bot_conversation_phone_at", "phone", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = utc_field(nullable=False, index=True)
    phone: str = Field(max_length=40, sa_column_kwargs={"info": personal()})
    direction: str = Field(max_length=3)  # in, out
    body: str = Field(default="", sa_column=Column(Text, nullable=False, info=personal()))
    intent: str | None = Field(default=None, max_length=24)
    # Set when the exchange concerns one institution only; None = every institution of the number.
    institution_id: int | None = Field(default=None, index=True)
    message_sid: str | None = Field(default=None, max_length=64)  # the inbound it belongs to


class ConversationState(SQLModel, table=True):
    """Where a number is in a conversation: FAQ menu, or a numbered list of its surveys."""

    __tablename__ = "bot_state"

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(unique=True, max_length=40, sa_column_kwargs={"info": personal()})
    mode: str = Field(default="", max_length=16)  # "", faq, choose
    options: list[int] = json_field(list)  # assignment ids offered in a numbered list
    muted_until: datetime | None = utc_field()  # rate limited: ignored until then
    updated_at: datetime | None = utc_field()


class IntentEvent(SQLModel, table=True):
    """One intent that fired, attributed to an institution (one row per institution concerned)."""

    __tablename__ = "bot_intent_event"
    __table_args__ = (Index("ix_bot_intent_event_inst", "institution_id", "campaign_id", "intent"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = utc_field(nullable=False)
    intent: str = Field(max_length=24)
    outcome: str | None = Field(default=None, max_length=24)  # link, list, submitted, closed, unknown
    topic: str | None = Field(default=None, max_length=40)  # FAQ topic key
    phone: str = Field(max_length=40, sa_column_kwargs={"info": personal()})
    institution_id: int | None = None
    campaign_id: int | None = None
    assignment_id: int | None = Field(default=None, index=True)


class RespondentCase(SQLModel, table=True):
    """A respondent's correction ("bukan saya", "salah unit", "nomor salah"...): confirmed by the
    respondent, it pauses the assignment and waits for the PIC (corrected, replaced or dropped)."""

    __tablename__ = "bot_case"
    __table_args__ = (Index("ix_bot_case_inst_status", "institution_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # not_me, wrong_name, wrong_unit, moved, wrong_number
    # the number that wrote (for a wrong number: the number removed from the person)
    phone: str = Field(max_length=40, sa_column_kwargs={"info": personal()})
    correction: str = Field(default="", sa_column=Column(Text, nullable=False, info=personal()))
    status: str = Field(default="pending", max_length=12)  # pending, open, resolved, cancelled
    resolution: str | None = Field(default=None, max_length=12)  # corrected, replaced, dropped
    note: str = Field(default="", sa_column=Column(Text, nullable=False, info=personal()))
    institution_id: int | None = Field(default=None)
    campaign_id: int | None = Field(default=None)
    assignment_id: int | None = Field(default=None, index=True)
    person_id: int | None = Field(default=None)
    replacement_id: int | None = None  # the reserve's assignment
    resolved_by: str | None = Field(default=None, max_length=120)
    opened_at: datetime | None = utc_field(nullable=False)
    confirmed_at: datetime | None = utc_field()
    resolved_at: datetime | None = utc_field()


class AgentConversation(SQLModel, table=True):
    """A call-centre conversation: a respondent's question the bot could not answer, for the
    agents of one institution (None: a number of no institution, for the admins)."""

    __tablename__ = "bot_agent_conversation"
    __table_args__ = (Index("ix_bot_agent_conv_inst_status", "institution_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=40, sa_column_kwargs={"info": personal()})
    institution_id: int | None = Field(default=None)
    status: str = Field(default="open", max_length=12)  # open, closed
    agent_id: int | None = None  # monitor_user.id of the agent it is assigned to
    unread: int = 0  # respondent messages no agent has read yet
    opened_at: datetime | None = utc_field(nullable=False)
    last_in_at: datetime | None = utc_field()
    first_response_at: datetime | None = utc_field()
    closed_at: datetime | None = utc_field()


class ContactConsent(SQLModel, table=True):
    """Opt-in proof: where and when a contact's number (or email) came to us with consent."""

    __tablename__ = "bot_consent"
    __table_args__ = (Index("ux_bot_consent_person_addr", "person_id", "address", "source", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int | None = Field(default=None, index=True)
    address: str = Field(max_length=254, sa_column_kwargs={"info": personal()})
    source: str = Field(max_length=24)  # population_list, qr_registration, respondent_message
    detail: str = Field(default="", max_length=600, sa_column_kwargs={
        "info": not_personal("the unit and file of a list, or the consent text and its version")})
    consented_at: datetime | None = utc_field()
    recorded_at: datetime | None = utc_field(nullable=False)
