"""Composition: what puts the feature packages together into running processes.

Only the entry points (`web.py`, `cli.py`, `scheduler.py`) and `migrations/` import this package;
no feature package does. `registry` lists every package's tables, routers and commands with real
imports; `serve` starts the web server with the scheduler and a worker; `tuning` holds the
process-wide garbage-collector and thread-switch settings of a long-running server; `demo` loads
the demo institution. The layer contract (docs/architecture.md) is checked by import-linter.
"""
