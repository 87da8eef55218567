"""The intercept selection rule (capi.intercept): every k-th arrival from a random start, k from
the counter's daily visitors and the quota. Over 10,000 simulated arrivals the share picked is 1/k
within one arrival per simulated day, and the interviews per day meet the quota without exceeding
it by more than a factor (k+1)/k."""

from __future__ import annotations

import random

import pytest

from capi import interval, is_selected, random_start, selected_count


@pytest.mark.parametrize(("visitors", "quota", "k"), [(120, 10, 12), (125, 10, 12), (9, 10, 1), (0, 10, 1),
                                                      (300, 7, 42), (50, 50, 1), (51, 25, 2)])
def test_interval_is_visitors_over_quota_at_least_one(visitors: int, quota: int, k: int) -> None:
    """Proves k = floor(visitors / quota), and 1 (ask everyone) when the counter is small or unknown."""
    assert interval(visitors, quota) == k


@pytest.mark.parametrize(("visitors", "quota"), [(120, 10), (347, 12), (40, 15), (1000, 9), (10, 10)])
def test_ten_thousand_arrivals_are_picked_at_the_rule_share(visitors: int, quota: int) -> None:
    """Simulates 10,000 arrivals spread over days whose visitor numbers vary around the average
    (uniform 50%-150%), with a new random start each day. Bounds: picked = sum over days of the
    closed form, |picked - arrivals/k| <= days (one per day), and per average day the picks
    are at least the quota and less than quota * (k+1)/k (+1 for the random start)."""
    rng = random.Random(visitors * 1000 + quota)
    k = interval(visitors, quota)
    arrivals = picked = days = 0
    while arrivals < 10_000:
        today = min(10_000 - arrivals, rng.randint(visitors // 2, visitors * 3 // 2) or 1)
        start = random_start(k, rng)
        assert 1 <= start <= k
        chosen = [n for n in range(1, today + 1) if is_selected(n, k, start)]
        assert len(chosen) == selected_count(today, k, start)
        assert all(b - a == k for a, b in zip(chosen, chosen[1:], strict=False))  # exactly every k-th
        picked += len(chosen)
        arrivals += today
        days += 1
    assert arrivals == 10_000
    assert abs(picked - arrivals / k) <= days, (picked, arrivals / k, days)
    share = picked / arrivals
    assert abs(share - 1 / k) <= days / arrivals
    # Against the quota: an average day of `visitors` arrivals yields visitors/k picks.
    per_day = visitors / k
    assert quota <= per_day < quota * (k + 1) / k + 1


def test_the_start_is_uniform_over_one_to_k() -> None:
    """Proves the random start covers 1..k evenly (so no fixed position is predictable): 12,000
    draws for k = 12 put each start within 20% of its expected 1,000."""
    rng = random.Random(7)
    seen = [0] * 12
    for _ in range(12_000):
        seen[random_start(12, rng) - 1] += 1
    assert all(800 <= n <= 1200 for n in seen), seen
