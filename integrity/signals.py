"""Integrity signals: pure, vectorised detectors over plain arrays (no database).

Every detector takes a `ResponseBatch` (one questionnaire: one institution and group) or plain
arrays, and returns `Flag`s: the response id, the signal's name and the evidence behind it. A flag
only marks a response for review; nothing is dropped here (see `integrity.service`).

Signals (issue 9; precision and recall in docs/benchmarks.md, "Survey integrity and trust"):
- anomalies in answers: `straight_lining`, `too_fast`;
- pengkondisian (coaching): `near_identical`, `identical_cluster`, `burst_ip`, `burst_device`,
  `counter_burst`, `odd_hours`, `reminder_surge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.datafiles import read_yaml

SCALE = 6  # answers use a 1-6 scale (responses.questionnaire)
ANOMALY_SIGNALS = ("straight_lining", "too_fast")
COACHING_SIGNALS = (
    "near_identical", "identical_cluster", "burst_ip", "burst_device", "counter_burst",
    "odd_hours", "reminder_surge",
)
ALL_SIGNALS = ANOMALY_SIGNALS + COACHING_SIGNALS
THRESHOLDS_FILE = Path(__file__).parent / "data" / "thresholds.yaml"


@dataclass(frozen=True)
class Thresholds:
    straight_min_items: int = 10
    straight_modal_share: float = 1.0
    near_min_items: int = 10
    near_similarity: float = 0.95
    uninformative_share: float = 0.95
    cluster_similarity: float = 0.85
    cluster_window_minutes: float = 120
    cluster_min_size: int = 3
    fast_seconds_per_item: float = 1.5
    fast_total_fraction: float = 0.25
    burst_ip_window_minutes: float = 15
    burst_ip_min_count: int = 10
    burst_device_window_minutes: float = 60
    burst_device_min_count: int = 3
    counter_window_minutes: float = 10
    counter_min_count: int = 8
    odd_hour_start: int = 0
    odd_hour_end: int = 5
    odd_window_minutes: float = 180
    odd_min_count: int = 3
    surge_window_minutes: float = 60
    surge_min_count: int = 8
    surge_factor: float = 4.0
    surge_default_ratio: float = 0.05


@lru_cache
def load_thresholds(path: Path = THRESHOLDS_FILE) -> Thresholds:
    """Thresholds from the data file; an unknown key is an error naming the file and key."""
    raw = read_yaml(path) or {}
    known = {f.name for f in fields(Thresholds)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{path}: unknown threshold(s) {unknown}; known: {sorted(known)}")
    return Thresholds(**raw)


@dataclass(frozen=True)
class Flag:
    response_id: int
    signal: str
    evidence: dict[str, Any]


@dataclass
class ResponseBatch:
    """The responses of one questionnaire (institution + group) as arrays of equal length n.

    answers: (n, k) raw 1-6 answers, NaN where not answered. submitted: epoch seconds (UTC).
    page_seconds: (n, p) seconds spent per page, NaN unknown; items_per_page: (p,).
    ip / ua: integer codes of the hashes (-1 unknown), see `codes()`. local_hour: hour of day in
    the institution's timezone, as a float (9.5 = 09:30).
    """

    ids: np.ndarray
    answers: np.ndarray
    unit_ids: np.ndarray
    submitted: np.ndarray
    page_seconds: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    items_per_page: np.ndarray = field(default_factory=lambda: np.empty(0))
    ip: np.ndarray | None = None
    ua: np.ndarray | None = None
    local_hour: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def codes(values: Sequence[str | None]) -> np.ndarray:
    """Integer codes for hashes/labels; None or "" becomes -1 (never matches anything)."""
    table: dict[str, int] = {}
    out = np.full(len(values), -1, dtype=np.int64)
    for i, v in enumerate(values):
        if v:
            out[i] = table.setdefault(v, len(table))
    return out


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="seconds")


# --- answer patterns ------------------------------------------------------------------------


def _onehot(answers: np.ndarray) -> np.ndarray:
    """(n, k) answers -> (n, k*6) float32 one-hot; unanswered or out-of-scale items are all zero."""
    n, k = answers.shape
    vals = np.nan_to_num(answers, nan=0).astype(np.int64)
    ok = (vals >= 1) & (vals <= SCALE)
    out = np.zeros((n, k, SCALE), dtype=np.float32)
    rows, cols = np.nonzero(ok)
    out[rows, cols, vals[rows, cols] - 1] = 1.0
    return out.reshape(n, k * SCALE)


def straight_lining(b: ResponseBatch, th: Thresholds) -> list[Flag]:
    if len(b) == 0:
        return []
    n, k = b.answers.shape
    hot = _onehot(b.answers).reshape(n, k, SCALE).sum(axis=1)  # (n, 6) counts per value
    answered = hot.sum(axis=1)
    modal = hot.max(axis=1)
    share = np.divide(modal, answered, out=np.zeros(n), where=answered > 0)
    hit = (answered >= th.straight_min_items) & (share >= th.straight_modal_share - 1e-9)
    return [
        Flag(int(b.ids[i]), "straight_lining", {
            "answer": int(hot[i].argmax()) + 1, "share": round(float(share[i]), 3),
            "items": int(answered[i]),
        })
        for i in np.flatnonzero(hit)
    ]


def informative_items(answers: np.ndarray, th: Thresholds) -> np.ndarray:
    """Items where answers differ enough to tell respondents apart (computed on the whole batch)."""
    n, k = answers.shape
    per_item = _onehot(answers).reshape(n, k, SCALE).sum(axis=0)  # (k, 6)
    answered = per_item.sum(axis=1)
    modal_share = np.divide(per_item.max(axis=1), answered, out=np.ones(k), where=answered > 0)
    return np.asarray(modal_share < th.uninformative_share)


def _similarity(rows: np.ndarray, cols: np.ndarray, informative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of equal answers over informative items for every (row, col) pair, and common counts."""
    hot_r = _onehot(rows[:, informative])
    hot_c = _onehot(cols[:, informative])
    mask_r = (~np.isnan(rows[:, informative])).astype(np.float32)
    mask_c = (~np.isnan(cols[:, informative])).astype(np.float32)
    matches = hot_r @ hot_c.T
    common = mask_r @ mask_c.T
    sim = np.divide(matches, common, out=np.zeros_like(matches), where=common > 0)
    return sim, common


def near_identical(b: ResponseBatch, th: Thresholds, chunk: int = 1024) -> list[Flag]:
    if len(b) < 2:
        return []
    informative = informative_items(b.answers, th)
    flags = []
    for lo in range(0, len(b), chunk):
        sim, common = _similarity(b.answers[lo:lo + chunk], b.answers, informative)
        rows = np.arange(sim.shape[0])
        sim[rows, rows + lo] = 0.0  # not similar to itself
        close = (sim >= th.near_similarity) & (common >= th.near_min_items)
        counts = close.sum(axis=1)
        for r in np.flatnonzero(counts):
            neighbours = np.flatnonzero(close[r])
            flags.append(Flag(int(b.ids[lo + r]), "near_identical", {
                "similar_responses": int(counts[r]),
                "max_similarity": round(float(sim[r].max()), 3),
                "examples": [int(b.ids[j]) for j in neighbours[:5]],
            }))
    return flags


def identical_cluster(b: ResponseBatch, th: Thresholds) -> list[Flag]:
    """Groups of >= cluster_min_size similar responses in one unit, chained within a window."""
    flags: list[Flag] = []
    window = th.cluster_window_minutes * 60
    informative = informative_items(b.answers, th) if len(b) else None
    for unit in np.unique(b.unit_ids):
        idx = np.flatnonzero(b.unit_ids == unit)
        if len(idx) < th.cluster_min_size or informative is None:
            continue
        sub = b.answers[idx]
        sim, common = _similarity(sub, sub, informative)
        np.fill_diagonal(sim, 0.0)
        dt = np.abs(b.submitted[idx][:, None] - b.submitted[idx][None, :])
        adj = (sim >= th.cluster_similarity) & (common >= th.near_min_items) & (dt <= window)
        for comp in _components(adj):
            if len(comp) < th.cluster_min_size:
                continue
            members = idx[comp]
            times = b.submitted[members]
            evidence = {
                "unit_id": int(unit), "size": len(members), "from": iso(times.min()),
                "to": iso(times.max()), "members": [int(x) for x in b.ids[members][:20]],
            }
            flags.extend(Flag(int(b.ids[m]), "identical_cluster", evidence) for m in members)
    return flags


def _components(adj: np.ndarray) -> list[np.ndarray]:
    """Connected components (of size >= 2) of a symmetric boolean adjacency matrix."""
    seen = np.zeros(adj.shape[0], dtype=bool)
    out = []
    for start in np.flatnonzero(adj.any(axis=1)):
        if seen[start]:
            continue
        comp = np.zeros_like(seen)
        comp[start] = True
        frontier = comp.copy()
        while frontier.any():
            nxt = adj[frontier].any(axis=0) & ~comp
            comp |= nxt
            frontier = nxt
        seen |= comp
        out.append(np.flatnonzero(comp))
    return out


# --- timing ----------------------------------------------------------------------------------


def too_fast(b: ResponseBatch, th: Thresholds) -> list[Flag]:
    ps = b.page_seconds
    if len(b) == 0 or ps.size == 0:
        return []
    known = ~np.isnan(ps)
    has = known.any(axis=1)
    per_item = ps / np.maximum(b.items_per_page, 1)[None, :]
    median_item = np.full(len(b), np.nan)
    median_item[has] = np.nanmedian(per_item[has], axis=1)
    total = np.where(has, np.nansum(ps, axis=1), np.nan)
    batch_median = float(np.nanmedian(total)) if has.any() else np.nan
    hit = has & ((median_item < th.fast_seconds_per_item)
                 | (total < th.fast_total_fraction * batch_median))
    return [
        Flag(int(b.ids[i]), "too_fast", {
            "total_seconds": round(float(total[i]), 1),
            "median_total_seconds": round(batch_median, 1),
            "seconds_per_item": round(float(median_item[i]), 2),
        })
        for i in np.flatnonzero(hit)
    ]


def window_groups(keys: np.ndarray, times: np.ndarray, window: float, min_count: int) -> list[np.ndarray]:
    """Indices of events sharing a key with >= min_count of them inside some `window` seconds.

    Vectorised: sort by (key, time), count events in [t, t + window] with one searchsorted, mark
    the dense windows with a difference array, then split the marked runs at key changes and gaps.
    """
    valid = np.flatnonzero(keys >= 0)
    if len(valid) < min_count:
        return []
    order = valid[np.lexsort((times[valid], keys[valid]))]
    k, t = keys[order], times[order] - times[order].min()
    span = float(t.max()) + window + 1.0
    composite = k.astype(np.float64) * span + t
    ends = np.searchsorted(composite, composite + window, side="right")
    starts = np.flatnonzero(ends - np.arange(len(order)) >= min_count)
    if len(starts) == 0:
        return []
    diff = np.zeros(len(order) + 1, dtype=np.int64)
    np.add.at(diff, starts, 1)
    np.add.at(diff, ends[starts], -1)
    covered = np.cumsum(diff[:-1]) > 0
    breaks = np.ones(len(order), dtype=bool)
    breaks[1:] = (~covered[:-1]) | (k[1:] != k[:-1]) | (np.diff(t) > window)
    groups = []
    for run in np.split(np.arange(len(order)), np.flatnonzero(breaks)[1:]):
        run = run[covered[run]]
        if len(run) >= min_count:
            groups.append(order[run])
    return groups


def _group_flags(ids: np.ndarray, times: np.ndarray, groups: list[np.ndarray], signal: str,
                 **extra: Any) -> list[Flag]:
    flags: list[Flag] = []
    for g in groups:
        evidence = {"count": len(g), "from": iso(times[g].min()), "to": iso(times[g].max()),
                    "members": [int(x) for x in ids[g][:20]], **extra}
        flags.extend(Flag(int(ids[i]), signal, evidence) for i in g)
    return flags


def bursts(b: ResponseBatch, th: Thresholds) -> list[Flag]:
    flags: list[Flag] = []
    if b.ip is not None:
        groups = window_groups(b.ip, b.submitted, th.burst_ip_window_minutes * 60, th.burst_ip_min_count)
        flags += _group_flags(b.ids, b.submitted, groups, "burst_ip",
                              window_minutes=th.burst_ip_window_minutes)
    if b.ip is not None and b.ua is not None:
        device = np.where((b.ip >= 0) & (b.ua >= 0), b.ip * (int(b.ua.max()) + 1) + b.ua, -1)
        groups = window_groups(device, b.submitted, th.burst_device_window_minutes * 60,
                               th.burst_device_min_count)
        flags += _group_flags(b.ids, b.submitted, groups, "burst_device",
                              window_minutes=th.burst_device_window_minutes)
    return flags


def odd_hours(b: ResponseBatch, th: Thresholds) -> list[Flag]:
    """A session of responses at night (local time) in one unit; a lone night owl is not flagged."""
    if b.local_hour is None or len(b) == 0:
        return []
    h = b.local_hour
    if th.odd_hour_start <= th.odd_hour_end:
        odd = (h >= th.odd_hour_start) & (h < th.odd_hour_end)
    else:  # wraps midnight, e.g. 23 -> 5
        odd = (h >= th.odd_hour_start) | (h < th.odd_hour_end)
    keys = np.where(odd, b.unit_ids, -1)
    groups = window_groups(keys, b.submitted, th.odd_window_minutes * 60, th.odd_min_count)
    flags = []
    for g in groups:
        flags += _group_flags(b.ids, b.submitted, [g], "odd_hours", unit_id=int(b.unit_ids[g[0]]),
                              local_hours=[round(float(x), 2) for x in h[g][:20]])
    return flags


def counter_burst(assignment_ids: np.ndarray, counter_keys: np.ndarray, created: np.ndarray,
                  th: Thresholds) -> list[Flag]:
    """Participatory registrations: many from one counter (unit + loket) within minutes.

    Returns flags on *assignment* ids; the service maps them to their responses.
    """
    groups = window_groups(counter_keys, created, th.counter_window_minutes * 60, th.counter_min_count)
    return _group_flags(assignment_ids, created, groups, "counter_burst",
                        window_minutes=th.counter_window_minutes)


def reminder_surge(b: ResponseBatch, reminders: Sequence[tuple[int, float]], th: Thresholds,
                   unit_sizes: dict[int, int] | None = None) -> list[Flag]:
    """Responses in a window right after a unit's reminder, far above other units' response.

    reminders: (unit_id, epoch seconds). unit_sizes: sampled respondents per unit (defaults to the
    unit's responses). Expected = median over reminders of (count in window / unit size) x size.
    """
    if not reminders or len(b) == 0:
        return []
    window = th.surge_window_minutes * 60
    events = []
    for unit, at in reminders:
        in_unit = b.unit_ids == unit
        hit = np.flatnonzero(in_unit & (b.submitted >= at) & (b.submitted <= at + window))
        size = (unit_sizes or {}).get(unit) or int(in_unit.sum())
        events.append((unit, at, hit, max(size, 1)))
    ratios = np.array([len(hit) / size for _, _, hit, size in events])
    ratio = float(np.median(ratios)) if len(events) >= 3 else th.surge_default_ratio
    flags: list[Flag] = []
    for unit, at, hit, size in events:
        expected = ratio * size
        if len(hit) >= th.surge_min_count and len(hit) >= th.surge_factor * max(expected, 1.0):
            evidence = {"unit_id": int(unit), "reminder_at": iso(at), "count": len(hit),
                        "expected": round(expected, 1), "window_minutes": th.surge_window_minutes}
            flags.extend(Flag(int(b.ids[i]), "reminder_surge", evidence) for i in hit)
    return flags


def detect(b: ResponseBatch, th: Thresholds | None = None,
           reminders: Sequence[tuple[int, float]] = (),
           unit_sizes: dict[int, int] | None = None) -> list[Flag]:
    """Run every response-level detector on one batch."""
    th = th or load_thresholds()
    return [
        *straight_lining(b, th), *near_identical(b, th), *identical_cluster(b, th),
        *too_fast(b, th), *bursts(b, th), *odd_hours(b, th),
        *reminder_surge(b, reminders, th, unit_sizes),
    ]
