"""bot package: the WhatsApp conversation bot.

The public face: what other packages may import from bot.
"""

from bot.models import ConversationEntry, ConversationState, InboundMessage, IntentEvent
from bot.stats import activity, conversation_log

__all__ = ["activity", "conversation_log"]

# The bot's tables, for the purge of contact data (integrity.purge).
__all__ += ["ConversationEntry", "ConversationState", "InboundMessage", "IntentEvent"]
