"""Intercept selection at a counter: every k-th arrival, from a random start each day.

k = floor(daily visitors / daily quota), at least 1: picking every k-th of V arrivals gives about
V/k >= quota interviews a day, at most one more than the quota per k (k+1 > V/quota), so refusals
are absorbed without ever picking by the interviewer's choice. The start s (1..k) is drawn at
random once per counter and day, so who stands at a fixed position cannot be predicted. Pure
functions: the app (capi/static/app.js) implements the same rule, tests/capi/test_intercept.py
checks the shares over 10,000 arrivals.
"""

from __future__ import annotations

import random


def interval(daily_visitors: int, daily_quota: int) -> int:
    """k for a counter: every k-th arrival is asked. A counter with no visitor figure, or fewer
    visitors than the quota, asks everyone (k = 1)."""
    if daily_visitors <= 0 or daily_quota <= 0:
        return 1
    return max(1, daily_visitors // daily_quota)


def random_start(k: int, rng: random.Random | None = None) -> int:
    """The day's first selected arrival: uniform over 1..k."""
    return (rng or random.SystemRandom()).randint(1, max(1, k))


def is_selected(arrival: int, k: int, start: int) -> bool:
    """Whether the `arrival`-th person of the day (1-based) is asked, for interval k and start s."""
    return arrival >= start and (arrival - start) % max(1, k) == 0


def selected_count(arrivals: int, k: int, start: int) -> int:
    """How many of the day's first `arrivals` are asked (closed form of `is_selected`)."""
    return 0 if arrivals < start else (arrivals - start) // max(1, k) + 1
