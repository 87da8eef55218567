"""bot package: the WhatsApp conversation bot.

The public face: what other packages may import from bot.
"""

from bot.models import ConversationEntry, ConversationState, InboundMessage, IntentEvent
from bot.stats import activity, conversation_log

__all__ = ["activity", "conversation_log"]

# The bot's tables, for the purge of contact data (integrity.purge).
__all__ += ["ConversationEntry", "ConversationState", "InboundMessage", "IntentEvent"]

# Respondent cases, the call-centre inbox and opt-in proof (issue 25), for the dashboard.
from bot import callcentre, cases, consent  # noqa: E402
from bot.models import AgentConversation, ContactConsent, RespondentCase  # noqa: E402

__all__ += ["AgentConversation", "ContactConsent", "RespondentCase", "callcentre", "cases", "consent"]
