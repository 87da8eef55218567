"""Shared foundation: settings, database, shared models, tokens, clock, templating.

Its modules are its public face: import them directly (`core.db`, `core.models`, ...); this
file exports nothing (docs/architecture.md, section 4).
"""
