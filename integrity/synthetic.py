"""Synthetic campaigns, clean or with planted coaching patterns, to measure the signals.

Honest respondents: a personal level plus item effects plus noise on the 1-6 scale; submissions
spread over 30 days mostly in daytime (a few at night); a share answering within hours of one of
their unit's reminders; reading speed around 6 s per item; office IPs (NAT) or mobile IPs; common
user agents. Planted patterns (each a set of response ids in `planted`):

- coached_cluster: 12 people of one unit fill in the same answer key (1-2 items changed) within
  45 minutes from the office network;
- straight_lining: all answers identical; speeders: under a second per item;
- shared_device: 5 responses from one phone (same IP + user agent) within half an hour;
- night_session: 5 responses of one unit between 01:00 and 02:30 local time;
- reminder_surge: 12 responses of one unit within 40 minutes after its reminder;
- counter_burst (assignments, not responses): 10 participatory registrations at one counter in
  6 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from integrity.signals import ResponseBatch

DAY = 86400.0
T0 = 1_719_792_000.0  # 2024-07-01 00:00 UTC
TZ_HOURS = 7  # WIB


@dataclass
class SyntheticCampaign:
    batch: ResponseBatch
    reminders: list[tuple[int, float]]
    unit_sizes: dict[int, int]
    counter_ids: np.ndarray
    counter_keys: np.ndarray
    counter_times: np.ndarray
    planted: dict[str, set[int]] = field(default_factory=dict)

    @property
    def planted_responses(self) -> set[int]:
        return set().union(*(v for k, v in self.planted.items() if k != "counter_burst"))


def _local_hour(t: np.ndarray) -> np.ndarray:
    return ((t - T0) / 3600.0 + TZ_HOURS) % 24.0


def generate(n: int = 1000, units: int = 20, items: int = 43, pages: int = 7, seed: int = 0,
             planted: bool = True) -> SyntheticCampaign:
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1, dtype=np.int64) * 7 + 1000  # ids that are not row numbers
    unit_ids = rng.integers(0, units, n) + 100
    level = rng.normal(4.6, 0.7, n)
    effect = rng.normal(0, 0.5, items)
    answers = np.clip(np.rint(level[:, None] + effect[None, :] + rng.normal(0, 1.0, (n, items))), 1, 6)
    answers[rng.random((n, items)) < 0.02] = np.nan

    reminders = [(int(u), T0 + d * DAY + (9 - TZ_HOURS) * 3600.0) for u in range(100, 100 + units)
                 for d in (3, 7, 14)]
    day = rng.integers(0, 30, n)
    hour = np.where(rng.random(n) < 0.01, rng.uniform(0, 5, n), rng.uniform(7, 22, n))
    submitted = T0 + day * DAY + (hour - TZ_HOURS) * 3600.0
    after = rng.random(n) < 0.25  # answered soon after one of their unit's reminders
    which = rng.choice([3, 7, 14], n)
    submitted = np.where(after, T0 + which * DAY + (9 - TZ_HOURS) * 3600.0
                         + rng.exponential(8 * 3600.0, n), submitted)

    per_page = np.full(pages, items // pages)
    per_page[: items % pages] += 1
    speed = rng.lognormal(np.log(6.0), 0.35, n)
    page_seconds = speed[:, None] * per_page[None, :] * rng.lognormal(0, 0.3, (n, pages))

    office = rng.random(n) < 0.6
    ip = np.where(office, unit_ids, 1000 + rng.integers(0, 5000, n)).astype(np.int64)
    ua_p = 1.0 / np.arange(1, 41)
    ua = rng.choice(40, n, p=ua_p / ua_p.sum()).astype(np.int64)

    plant: dict[str, set[int]] = {}
    if planted:
        pool = iter(rng.permutation(n))

        def take(k: int, unit: int | None = None) -> np.ndarray:
            if unit is None:
                return np.array([next(pool) for _ in range(k)])
            chosen = np.array([next(pool) for _ in range(k)])
            unit_ids[chosen] = unit
            return chosen

        rows = take(12, 100)
        key = np.clip(np.rint(rng.normal(5.5, 0.6, items)), 1, 6)
        answers[rows] = key
        for r in rows:
            answers[r, rng.choice(items, rng.integers(1, 3), replace=False)] = rng.integers(1, 7)
        submitted[rows] = T0 + 5 * DAY + 2 * 3600.0 + np.sort(rng.uniform(0, 45 * 60, 12))
        ip[rows] = 100
        plant["coached_cluster"] = {int(x) for x in ids[rows]}

        rows = take(8)
        answers[rows] = rng.integers(1, 7, (8, 1)).astype(float)
        plant["straight_lining"] = {int(x) for x in ids[rows]}

        rows = take(8)
        page_seconds[rows] = 0.8 * per_page[None, :] * rng.lognormal(0, 0.2, (8, pages))
        plant["speeders"] = {int(x) for x in ids[rows]}

        rows = take(5)
        submitted[rows] = T0 + 11 * DAY + 4 * 3600.0 + np.sort(rng.uniform(0, 30 * 60, 5))
        ip[rows], ua[rows] = 9999, 3
        plant["shared_device"] = {int(x) for x in ids[rows]}

        rows = take(5, 101)
        submitted[rows] = T0 + 9 * DAY + (1 - TZ_HOURS) * 3600.0 + np.sort(rng.uniform(0, 90 * 60, 5))
        ip[rows] = 1000 + rng.integers(0, 5000, 5)
        plant["night_session"] = {int(x) for x in ids[rows]}

        rows = take(12, 102)
        at = T0 + 7 * DAY + (9 - TZ_HOURS) * 3600.0
        submitted[rows] = at + np.sort(rng.uniform(60, 40 * 60, 12))
        ip[rows] = 1000 + rng.integers(0, 5000, 12)
        plant["reminder_surge"] = {int(x) for x in ids[rows]}

    # Participatory registrations: ~10 a day over 40 counters, plus a planted burst.
    m = 300
    counter_ids = np.arange(1, m + 1, dtype=np.int64) + 50_000
    counter_keys = rng.integers(0, 40, m).astype(np.int64)
    counter_times = T0 + rng.integers(0, 30, m) * DAY + rng.uniform(1, 9, m) * 3600.0
    if planted:
        burst = np.arange(10)
        counter_keys[burst] = 5
        counter_times[burst] = T0 + 12 * DAY + 3 * 3600.0 + np.sort(rng.uniform(0, 6 * 60, 10))
        plant["counter_burst"] = {int(x) for x in counter_ids[burst]}

    unit_sizes = {int(u): int(c) for u, c in zip(*np.unique(unit_ids, return_counts=True), strict=True)}
    batch = ResponseBatch(
        ids=ids, answers=answers, unit_ids=unit_ids.astype(np.int64), submitted=submitted,
        page_seconds=page_seconds, items_per_page=per_page, ip=ip, ua=ua,
        local_hour=_local_hour(submitted),
    )
    return SyntheticCampaign(batch, reminders, unit_sizes, counter_ids, counter_keys, counter_times,
                             plant)
