"""The per-key sliding window: in memory, in a real Redis, and the fall-back between them."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from typing import Any

import pytest
import redis

from core import ratewindow
from core.config import Settings, reset_settings
from core.ratewindow import MemoryWindow, RedisWindow, rate_window, reset_rate_window
from tests.fixtures.redis import RedisServer

SECRET = "test-secret-key-0123456789abcdef0123456789"


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _count_calls(monkeypatch: pytest.MonkeyPatch, window: RedisWindow) -> list[int]:
    """Count the scripts `window` sends to Redis (each hit or count is one EVALSHA)."""
    calls = [0]
    evalsha = window._client.evalsha

    def counting(*args: Any) -> Any:
        calls[0] += 1
        return evalsha(*args)

    monkeypatch.setattr(window._client, "evalsha", counting)
    return calls


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "core.ratewindow" and r.levelno == logging.WARNING]


# --- memory ---------------------------------------------------------------------------------


def test_memory_window_limits_each_key_and_records_only_under_the_limit() -> None:
    window = MemoryWindow(clock=Clock())
    assert [window.hit("a", 3, 60) for _ in range(5)] == [True, True, True, False, False]
    assert window.count("a", 60) == 3  # refused hits are not recorded
    assert window.hit("b", 3, 60) and window.count("b", 60) == 1
    assert window.count("nobody", 60) == 0


def test_memory_window_forgets_events_as_the_window_passes() -> None:
    clock = Clock()
    window = MemoryWindow(clock=clock)
    assert window.hit("k", 2, 10)
    clock.now = 5.0
    assert window.hit("k", 2, 10) and not window.hit("k", 2, 10)
    clock.now = 10.0  # the event at 0 is now exactly one window old: expired
    assert window.count("k", 10) == 1
    assert window.hit("k", 2, 10) and not window.hit("k", 2, 10)
    clock.now = 30.0
    assert window.count("k", 10) == 0
    assert window.size() == 0  # an empty key is forgotten


def test_memory_window_bounds_its_keys_dropping_stale_ones_first() -> None:
    clock = Clock()
    window = MemoryWindow(clock=clock, max_keys=3)
    window.hit("a", 5, 100)
    window.hit("b", 5, 100)
    window.hit("short", 5, 1)  # the most recently used, but stale after one second
    clock.now = 5.0
    window.hit("c", 5, 100)  # full: only the stale key goes
    assert window.size() == 3
    assert [window.count(k, 100) for k in "abc"] == [1, 1, 1]
    window.hit("a", 5, 100)  # "b" is now the least recently used
    window.hit("d", 5, 100)  # full and nothing stale: the least recently used go
    assert window.size() <= 3
    assert window.count("b", 100) == 0
    assert window.count("a", 100) == 2 and window.count("d", 100) == 1
    for n in range(1000):
        window.hit(f"flood{n}", 5, 100)
    assert window.size() <= 3


def _race(threads: int, keys: int) -> tuple[MemoryWindow, list[bool]]:
    """`threads` threads hit each of `keys` keys (limit 2) at once."""
    window = MemoryWindow()
    allowed: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def hammer() -> None:
        start.wait()
        mine = [window.hit(f"k{n}", 2, 60) for n in range(keys)]
        with lock:
            allowed.extend(mine)

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return window, allowed


def test_memory_window_is_thread_safe() -> None:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show
    try:
        for _ in range(3):  # without the lock, each round shows the race most of the time
            window, allowed = _race(8, 2000)
            # Two hits admitted per key, never three.
            assert allowed.count(True) == 4000
            assert all(window.count(f"k{n}", 60) == 2 for n in range(2000))
    finally:
        sys.setswitchinterval(previous)


# --- Redis ----------------------------------------------------------------------------------


def _redis_window(server: RedisServer, **kw: Any) -> RedisWindow:
    return RedisWindow(server.url, SECRET, prefix=server.prefix, **kw)


def test_redis_window_limits_and_expires(redis_server: RedisServer) -> None:
    window = _redis_window(redis_server)
    assert [window.hit("k", 2, 0.5) for _ in range(3)] == [True, True, False]
    assert window.count("k", 0.5) == 2 and window.count("other", 0.5) == 0
    time.sleep(0.6)
    assert window.count("k", 0.5) == 0
    assert window.hit("k", 2, 0.5)
    assert window.fallback.size() == 0  # everything was counted in Redis
    window.close()


def test_two_windows_share_the_count_through_redis(redis_server: RedisServer) -> None:
    worker_a, worker_b = _redis_window(redis_server), _redis_window(redis_server)
    assert worker_a.hit("tok|127.0.0.1", 3, 60) and worker_a.hit("tok|127.0.0.1", 3, 60)
    assert worker_b.count("tok|127.0.0.1", 60) == 2
    assert worker_b.hit("tok|127.0.0.1", 3, 60)
    assert not worker_a.hit("tok|127.0.0.1", 3, 60)
    assert not worker_b.hit("tok|127.0.0.1", 3, 60)
    assert worker_a.hit("tok|127.0.0.2", 3, 60)  # another IP has its own count
    worker_a.close()
    worker_b.close()


def test_redis_keys_hide_the_ip_and_expire_with_the_window(redis_server: RedisServer) -> None:
    window = _redis_window(redis_server)
    assert window.hit("reg|127.0.0.9", 5, 30)
    keys = redis_server.keys()
    assert keys == [window.redis_key("reg|127.0.0.9")]
    assert "127.0.0.9" not in keys[0]
    assert len(keys[0]) == len(redis_server.prefix) + 32
    ttl = redis_server.client.pttl(keys[0])
    assert 0 < ttl <= 30_000
    other_secret = RedisWindow(redis_server.url, "another-secret", prefix=redis_server.prefix)
    assert other_secret.redis_key("reg|127.0.0.9") != keys[0]  # a keyed hash, not a plain one
    window.close()
    other_secret.close()


def test_redis_scores_are_the_server_time(redis_server: RedisServer) -> None:
    # The local clock (here far in the past) only paces retries; events carry Redis's time.
    window = _redis_window(redis_server, clock=Clock(12.0))
    window.hit("k", 5, 60)
    seconds, micros = redis_server.client.time()
    [member] = redis_server.client.zrange(window.redis_key("k"), 0, -1)
    score = redis_server.client.zscore(window.redis_key("k"), member)
    assert score is not None and abs(score - (seconds + micros / 1e6)) < 5
    window.close()


def test_unreachable_redis_falls_back_to_memory_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(100.0)
    window = RedisWindow(f"redis://127.0.0.1:{_closed_port()}/0", SECRET, clock=clock)
    calls = _count_calls(monkeypatch, window)
    with caplog.at_level(logging.INFO, logger="core.ratewindow"):
        results = [window.hit("tok|127.0.0.1", 3, 60) for _ in range(5)]
        assert results == [True, True, True, False, False]  # still limited, in memory
        assert window.count("tok|127.0.0.1", 60) == 3
        assert calls[0] == 1  # one try, then the back-off: no connect per request
        assert len(_warnings(caplog)) == 1
        clock.now += 31  # the back-off has passed: Redis is tried again, fails, no new warning
        assert not window.hit("tok|127.0.0.1", 3, 60)
        assert calls[0] == 2 and len(_warnings(caplog)) == 1
        clock.now += 601  # still down ten minutes later: one more warning
        window.count("tok|127.0.0.1", 60)
        assert calls[0] == 3 and len(_warnings(caplog)) == 2
    assert not any("tok|" in r.getMessage() for r in caplog.records)  # never the key / IP
    window.close()


def test_redis_is_used_again_after_the_back_off(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    window = _redis_window(redis_server, clock=clock)
    working = window._client.evalsha

    def failing(*args: Any) -> Any:
        raise redis.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(window._client, "evalsha", failing)
    with caplog.at_level(logging.INFO, logger="core.ratewindow"):
        assert window.hit("k", 5, 60)
        assert window.fallback.count("k", 60) == 1 and redis_server.keys() == []
        monkeypatch.setattr(window._client, "evalsha", working)  # Redis is back ...
        assert window.hit("k", 5, 60)
        assert window.fallback.count("k", 60) == 2  # ... but not asked before the back-off
        clock.now = 31.0
        assert window.hit("k", 5, 60)
        assert window.fallback.count("k", 60) == 2 and window.count("k", 60) == 1
        assert any("answers again" in r.getMessage() for r in caplog.records)
    assert len(_warnings(caplog)) == 1
    window.close()


# --- the per-process factory ----------------------------------------------------------------


def test_rate_window_is_memory_without_redis_url_and_made_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = rate_window()
    assert isinstance(first, MemoryWindow) and rate_window() is first
    monkeypatch.setattr(ratewindow.os, "getpid", lambda: -1)  # as in a forked web worker
    assert rate_window() is not first


def test_rate_window_is_redis_with_redis_url(monkeypatch: pytest.MonkeyPatch,
                                            redis_server: RedisServer) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    reset_settings()
    reset_rate_window()
    try:
        window = rate_window()
        assert isinstance(window, RedisWindow) and window.remote
        assert window.count("tok|127.0.0.1", 60) == 0  # connected; nothing recorded
        assert window.fallback.size() == 0
    finally:
        reset_rate_window()
        monkeypatch.setenv("REDIS_URL", "")
        reset_settings()


def test_settings_refuse_a_redis_url_of_another_scheme() -> None:
    with pytest.raises(ValueError, match="REDIS_URL"):
        Settings(redis_url="http://127.0.0.1:6379")
    assert Settings(redis_url="").redis_url == ""
    assert Settings(redis_url="redis://127.0.0.1:6379/0").redis_url
