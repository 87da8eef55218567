"""The root of the project's own exceptions.

Every exception class of the project derives from `SpibotError`, so one `except SpibotError`
tells the project's own refusals and failures from a library's or Python's. A class that is also
a built-in kind of error keeps that base as well (`class DataFileError(SpibotError, ValueError)`),
so an `except ValueError` still catches it.
"""

from __future__ import annotations


class SpibotError(Exception):
    """An error raised by spibot's own code."""
