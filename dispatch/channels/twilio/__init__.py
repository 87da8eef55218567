"""Everything Twilio: the WhatsApp channel, its error table, status names. Nothing outside this
package knows a Twilio error code; it sees our own types (`dispatch.channels.base`)."""
