"""Sliding-window rate limits per key, shared by every web worker when Redis is configured.

Users: core.security (unknown personal links /s/... per client IP) and qr.ratelimit
(registrations and guest-book entries per client IP).

Every window answers two questions about a key (`window` in seconds):
- `hit(key, limit, window) -> bool`: records an event when the key has had fewer than `limit`
  events in the last `window` seconds and returns True; returns False (recording nothing) when
  it is at its limit.
- `count(key, window) -> int`: events in the last `window` seconds; records nothing.

`rate_window()` returns this process's window:
- `RedisWindow` when `REDIS_URL` is set: one count per key for all processes and machines. Each
  key is a sorted set of event times, trimmed, counted and added to atomically by one Lua
  script that reads the Redis server's clock (machines whose clocks disagree still count alike)
  and expires with the window. Key names are `spibot:rate:` + HMAC(SECRET_KEY, key): keys carry
  client IP addresses, which are never written in clear (so every process sharing the Redis
  needs the same SECRET_KEY, as it does for link tokens anyway). If Redis fails, the limits are
  counted in this process's memory (a warning is logged, not one per request) and Redis is
  tried again after RETRY_SECONDS, so the public pages keep working and do not each pay a
  connect timeout.
- `MemoryWindow` otherwise: in this process's memory, so with N web workers a client may get
  up to N x the limit.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.concurrency import run_in_threadpool

from core.config import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

KEY_PREFIX = "spibot:rate:"
TIMEOUT_SECONDS = 0.25  # connect and read: a slow Redis must not hold a public page
RETRY_SECONDS = 30.0  # after a failure, count in memory this long before trying Redis again
WARN_EVERY_SECONDS = 600.0  # while Redis stays down, repeat the warning at most this often

# KEYS[1]: the key's sorted set; ARGV: limit, window (ms), a unique member. Returns 1 or 0.
# Scores are the server's time in seconds; numbers are formatted here because Lua's own
# number-to-string conversion keeps only 14 digits.
HIT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window_ms = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now - window_ms / 1000))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], string.format('%.6f', now), ARGV[3])
redis.call('PEXPIRE', KEYS[1], window_ms)
return 1
"""
# KEYS[1]: the key's sorted set; ARGV: window (ms). Events newer than now - window.
COUNT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local since = string.format('%.6f', now - tonumber(ARGV[1]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. since, '+inf')
"""


class RateWindow(Protocol):
    # True when the window talks over the network: async callers run it in a thread.
    remote: bool

    def hit(self, key: str, limit: int, window: float) -> bool: ...

    def count(self, key: str, window: float) -> int: ...


@dataclass
class _Events:
    window: float  # the window of the key's last call: when its events are all stale
    times: deque[float] = field(default_factory=deque)


class MemoryWindow:
    """The window in this process's memory: thread-safe, at most `max_keys` keys (when full,
    keys whose events have all expired go first, then the least recently used half)."""

    remote = False

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.clock, self.max_keys = clock, max_keys
        self._keys: OrderedDict[str, _Events] = OrderedDict()
        self._lock = threading.Lock()

    def _trim(self, key: str, window: float, now: float) -> _Events | None:
        events = self._keys.get(key)
        if events is not None:
            events.window = window
            while events.times and events.times[0] <= now - window:
                events.times.popleft()
        return events

    def hit(self, key: str, limit: int, window: float) -> bool:
        with self._lock:
            now = self.clock()
            events = self._trim(key, window, now)
            if events is None:
                if len(self._keys) >= self.max_keys:
                    self._evict(now)
                events = self._keys[key] = _Events(window)
            self._keys.move_to_end(key)
            if len(events.times) >= limit:
                return False
            events.times.append(now)
            return True

    def count(self, key: str, window: float) -> int:
        with self._lock:
            events = self._trim(key, window, self.clock())
            if events is None:
                return 0
            if not events.times:
                del self._keys[key]
            return len(events.times)

    def _evict(self, now: float) -> None:
        stale = [k for k, e in self._keys.items() if not e.times or e.times[-1] <= now - e.window]
        for key in stale:
            del self._keys[key]
        if len(self._keys) >= self.max_keys:  # still full: forget the least recently used half
            for key in list(self._keys)[: max(1, self.max_keys // 2)]:
                del self._keys[key]

    def size(self) -> int:
        """Keys held (tests: memory stays bounded)."""
        return len(self._keys)


class RedisWindow:
    """The window in Redis, shared by every process using the same server and `secret`;
    `fallback` counts while Redis is failing (see the module docstring)."""

    remote = True

    def __init__(self, url: str, secret: str, prefix: str = KEY_PREFIX,
                 fallback: MemoryWindow | None = None, clock: Callable[[], float] = time.monotonic,
                 retry_seconds: float = RETRY_SECONDS) -> None:
        self.prefix, self.clock, self.retry_seconds = prefix, clock, retry_seconds
        self.fallback = fallback or MemoryWindow()
        self._secret = secret.encode()
        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0))
        self._hit_script = self._client.register_script(HIT_SCRIPT)
        self._count_script = self._client.register_script(COUNT_SCRIPT)
        self._state = threading.Lock()
        self._retry_at: float | None = None  # set while Redis is failing: when to try again
        self._warned_at: float | None = None

    def redis_key(self, key: str) -> str:
        return self.prefix + hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()[:32]

    def hit(self, key: str, limit: int, window: float) -> bool:
        def remote() -> bool:
            member = secrets.token_hex(8)
            return bool(self._hit_script(keys=[self.redis_key(key)],
                                         args=[limit, _milliseconds(window), member]))

        return self._either(remote, lambda: self.fallback.hit(key, limit, window))

    def count(self, key: str, window: float) -> int:
        def remote() -> int:
            return int(self._count_script(keys=[self.redis_key(key)],
                                          args=[_milliseconds(window)]))

        return self._either(remote, lambda: self.fallback.count(key, window))

    def _either(self, remote: Callable[[], T], local: Callable[[], T]) -> T:
        now = self.clock()
        with self._state:
            if self._retry_at is not None and now < self._retry_at:
                return local()
        try:
            result = remote()
        except redis.RedisError as exc:
            self._failed(now, exc)
            return local()
        with self._state:
            if self._retry_at is not None:
                self._retry_at = self._warned_at = None
                log.info("Redis answers again: per-IP rate limits are shared again")
        return result

    def _failed(self, now: float, exc: redis.RedisError) -> None:
        with self._state:
            self._retry_at = now + self.retry_seconds
            if self._warned_at is not None and now - self._warned_at < WARN_EVERY_SECONDS:
                return
            self._warned_at = now
        # The message names the error only: never the key (it holds a client IP).
        log.warning("Redis failed (%s: %s): per-IP rate limits are counted per process; "
                    "next try in %.0f s", type(exc).__name__, exc, self.retry_seconds)

    def close(self) -> None:
        self._client.close()


def _milliseconds(window: float) -> int:
    return max(1, math.ceil(window * 1000))


async def hit_async(window: RateWindow, key: str, limit: int, seconds: float) -> bool:
    """`window.hit` for async code: a remote window runs in a thread (the event loop never
    waits on the network), the memory one directly."""
    if window.remote:
        return await run_in_threadpool(window.hit, key, limit, seconds)
    return window.hit(key, limit, seconds)


async def count_async(window: RateWindow, key: str, seconds: float) -> int:
    if window.remote:
        return await run_in_threadpool(window.count, key, seconds)
    return window.count(key, seconds)


_current: tuple[int, RateWindow] | None = None
_current_lock = threading.Lock()


def rate_window() -> RateWindow:
    """This process's window (Redis when `REDIS_URL` is set). Made on first use in each process:
    a Redis client made before uvicorn forks its workers must not be shared by them."""
    global _current
    current = _current
    if current is not None and current[0] == os.getpid():
        return current[1]
    with _current_lock:
        if _current is None or _current[0] != os.getpid():
            settings = get_settings()
            made: RateWindow = (RedisWindow(settings.redis_url, settings.secret_key,
                                            retry_seconds=RETRY_SECONDS)  # read now: tests shorten it
                                if settings.redis_url else MemoryWindow())
            _current = (os.getpid(), made)
        return _current[1]


def reset_rate_window() -> None:
    """Forget this process's window (tests; a changed REDIS_URL)."""
    global _current
    with _current_lock:
        if _current is not None and _current[0] == os.getpid() and isinstance(_current[1], RedisWindow):
            _current[1].close()
        _current = None
