"""Shared foundation: settings, database, shared models, tokens, clock, templating."""
