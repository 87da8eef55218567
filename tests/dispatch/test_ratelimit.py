"""The per-worker answer window: the cap holds at the provider whatever the delays."""

from __future__ import annotations

import asyncio
import random
import time

from dispatch.ratelimit import AnswerWindow
from tests.dispatch.helpers import run_in_own_loop


def _worst(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if s <= t < s + 1.0) for s in times)


def test_stalls_do_not_bunch_arrivals_above_the_cap() -> None:
    """A provider that sometimes stalls then takes a backlog at once: each request is received
    at the worst moment allowed (slow ones at their answer, fast ones at their start). Starts are
    requested back to back, as by a worker that fell behind its schedule. No 1-second window of
    arrivals may hold more than the cap, and the window must not throttle far below it."""
    cap, n = 10, 60
    rng = random.Random(4)
    arrivals: list[float] = []

    async def scenario() -> None:
        window = AnswerWindow()

        async def one(i: int) -> None:
            started = await window.acquire(cap)
            delay = rng.choice([0.0, 0.0, 0.01, 0.3])  # a stall every few requests
            await asyncio.sleep(delay)
            arrivals.append(time.monotonic() if delay >= 0.3 else started)
            window.release(started)

        await asyncio.gather(*(one(i) for i in range(n)))

    t0 = time.monotonic()
    run_in_own_loop(scenario)
    elapsed = time.monotonic() - t0
    assert len(arrivals) == n
    assert _worst(arrivals) <= cap
    assert elapsed < n / cap + 1.5  # ~6 s of cap, plus the stalls' tails


def test_a_remote_provider_keeps_the_cap_and_nearly_all_the_rate() -> None:
    """A provider 0.4 s away (round trip), transit varying by up to the configured spread: each
    request arrives at the worst moment within its spread. No 1-second window of arrivals holds
    more than the cap, and the rate stays near it: ~97% (counting each message until its answer
    + 1 s would hold it to cap / 1.4 = 71%; 90% leaves room for a loaded machine's timers)."""
    cap, n, spread, rtt = 20, 100, 0.03, 0.4
    rng = random.Random(7)
    arrivals: list[float] = []

    async def scenario() -> None:
        window = AnswerWindow(spread)

        async def one(i: int) -> None:
            started = await window.acquire(cap)
            arrivals.append(started + rtt / 2 + rng.choice([0.0, spread]))
            await asyncio.sleep(rtt)
            window.release(started)

        await asyncio.gather(*(one(i) for i in range(n)))

    run_in_own_loop(scenario)
    arrivals.sort()
    assert _worst(arrivals) <= cap
    rate = (n - cap) / (arrivals[-1] - arrivals[cap - 1])  # after the first burst of `cap`
    assert rate >= 0.9 * cap


def test_a_start_only_window_would_have_bunched() -> None:
    """The same adversary against counting starts in a 1-second window (the old guard) does
    exceed the cap: the test above is not vacuous."""
    cap, n = 10, 60
    rng = random.Random(4)
    starts: list[float] = []
    arrivals: list[float] = []

    async def scenario() -> None:
        async def one(i: int) -> None:
            while True:
                now = time.monotonic()
                recent = [s for s in starts if now - s < 1.0]
                if len(recent) < cap:
                    break
                await asyncio.sleep(min(recent) + 1.0 - now)
            starts.append(time.monotonic())
            started = starts[-1]
            delay = rng.choice([0.0, 0.0, 0.01, 0.3])
            await asyncio.sleep(delay)
            arrivals.append(time.monotonic() if delay >= 0.3 else started)

        await asyncio.gather(*(one(i) for i in range(n)))

    run_in_own_loop(scenario)
    assert _worst(arrivals) > cap
