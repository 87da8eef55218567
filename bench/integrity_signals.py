"""Integrity signals: speed on synthetic campaigns and precision/recall over seeds.

    .venv/bin/python bench/integrity_signals.py
"""

from __future__ import annotations

import time

from integrity.signals import counter_burst, detect, load_thresholds
from integrity.synthetic import generate

TH = load_thresholds()


def quality(seeds: range, n: int = 1000) -> None:
    tp = fl = planted = clean_fp = clean_n = 0
    recall: dict[str, list[float]] = {}
    for seed in seeds:
        c = generate(n=n, seed=seed)
        flagged = {f.response_id for f in detect(c.batch, TH, c.reminders, c.unit_sizes)}
        counters = {f.response_id for f in counter_burst(c.counter_ids, c.counter_keys, c.counter_times, TH)}
        tp += len(flagged & c.planted_responses)
        fl += len(flagged)
        planted += len(c.planted_responses)
        for name, ids in c.planted.items():
            got = counters if name == "counter_burst" else flagged
            recall.setdefault(name, []).append(len(ids & got) / len(ids))
        clean = generate(n=n, seed=1000 + seed, planted=False)
        clean_fp += len({f.response_id for f in detect(clean.batch, TH, clean.reminders, clean.unit_sizes)})
        clean_n += n
    print(f"{len(seeds)} planted + {len(seeds)} clean campaigns of {n} responses")
    print(f"  precision {tp / fl:.3f}  recall {tp / planted:.3f}")
    for name, values in recall.items():
        print(f"  recall {name:16} {sum(values) / len(values):.3f}")
    print(f"  clean false-positive rate {clean_fp / clean_n:.4f}")


def speed() -> None:
    for n, units in [(1000, 20), (5000, 60), (20000, 200)]:
        c = generate(n=n, units=units, seed=1)
        t = time.perf_counter()
        flags = detect(c.batch, TH, c.reminders, c.unit_sizes)
        dt = time.perf_counter() - t
        print(f"  n={n:6d} units={units:3d}: {dt:6.2f} s all detectors, {len(flags)} flags")


if __name__ == "__main__":
    quality(range(20))
    print("speed (one batch = one institution and group, 43 items, 7 pages)")
    speed()
