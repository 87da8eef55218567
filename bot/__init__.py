"""bot package: the WhatsApp conversation bot.

The public face: what other packages may import from bot.
"""

from bot.stats import activity, conversation_log

__all__ = ["activity", "conversation_log"]
