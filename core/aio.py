"""Running a coroutine from sync code, whether or not this thread already runs an event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def run_sync(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """`asyncio.run` the coroutine; inside a running loop, do it on a fresh thread instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())  # type: ignore[arg-type]
    box: dict[str, T] = {}
    errors: list[BaseException] = []

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro_factory())  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box["result"]
