"""Process-wide tuning of a long-running server: the garbage collector and the thread switch
interval (docs/benchmarks.md, issues 5 and 6). Applied by `spibot serve` and its web processes,
never in tests."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from typing import Any

FREEZE_GC_ENV = "SPIBOT_FREEZE_GC_AT_START"  # set by `spibot serve`, inherited by its web processes
SWITCH_INTERVAL = 0.0005  # seconds, under `spibot serve` (see tune_web_process)


def tune_web_process() -> None:
    """At a web process's start, under `spibot serve` only (FREEZE_GC_ENV=1)."""
    if os.environ.get(FREEZE_GC_ENV) != "1":
        return
    # What is alive now (modules, app, caches) lives as long as the process, so keep full
    # collections from walking it: otherwise each one pauses the process for tens of ms. Not in
    # tests: a test's objects frozen here would never be collected.
    gc.collect()
    gc.freeze()
    # A thread that released the GIL for a database call (the registration writer, ~10
    # statements a batch) waits up to the switch interval (5 ms by default) for the event loop
    # to give it back. 0.5 ms: registration POST p95 124 -> 65 ms at 50 users. Process-wide,
    # only lowered.
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))


def freeze_after_startup_jobs(sched: Any) -> None:
    """Once the scheduler's start-up run of its jobs is over (their one-off "-now" jobs taken and
    the process quiet for a second), move every object alive then (the modules and caches those
    jobs loaded: ~200,000 objects with 50,000 respondents) out of the garbage collector's reach
    with `gc.freeze()`. Otherwise each full collection walks them: a 60-100 ms pause of the web
    process, which now and then lands inside a burst of webhooks (docs/benchmarks.md, issue 5)."""
    def wait_then_freeze() -> None:
        deadline = time.monotonic() + 600
        last = time.process_time()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            used, last = time.process_time() - last, time.process_time()
            pending = any(job.id.endswith("-now") for job in sched.get_jobs())
            if not pending and used < 0.05:
                break
        gc.collect()
        gc.freeze()

    threading.Thread(target=wait_then_freeze, name="gc-freeze", daemon=True).start()
