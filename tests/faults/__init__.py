"""Fault tests (issue #22): each brings its own victim service (tests/faults/services.py)."""
