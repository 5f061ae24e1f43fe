"""The one way tests wait for something that happens asynchronously: poll until it holds.

`eventually` (a plain test) and `eventually_async` (code on an event loop) call `check` at once
and then every `interval` seconds until it holds, and return what it returned. Without `until`,
"holds" means the value is truthy; with `until`, it means `until(value)` is true, so the caller
gets the whole value (a workflow's state, a consumer's info) and a timeout can show it. When
`timeout` passes first they raise AssertionError with `message` and the last value seen.

An exception raised by `check` or `until` is not caught: a check that can tell it will never hold
(the workflow ended, the process exited) fails the test at once by raising.

Neither proves that something did NOT happen. For that, wait for positive evidence that it would
have shown by now (a server-side counter, a consumer's delivered sequence, a marker published
after it and seen), then assert; a fixed sleep proves nothing on a slow machine.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
Message = str | Callable[[], str]

TIMEOUT = 30.0
INTERVAL = 0.05


def eventually(
    check: Callable[[], T],
    *,
    until: Callable[[T], object] | None = None,
    timeout: float = TIMEOUT,
    interval: float = INTERVAL,
    message: Message = "condition not met",
) -> T:
    """Call `check` until its value holds (truthy, or `until(value)`); return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if _holds(value, until):
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(_timed_out(message, timeout, value))
        time.sleep(min(interval, remaining))


async def eventually_async(
    check: Callable[[], T | Awaitable[T]],
    *,
    until: Callable[[T], object] | None = None,
    timeout: float = TIMEOUT,
    interval: float = INTERVAL,
    message: Message = "condition not met",
) -> T:
    """`eventually` for an event loop: `check` may be a coroutine function; sleeps yield."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        value: T = await result if inspect.isawaitable(result) else result
        if _holds(value, until):
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(_timed_out(message, timeout, value))
        await asyncio.sleep(min(interval, remaining))


def _holds(value: T, until: Callable[[T], object] | None) -> bool:
    """Whether the polled value is the one waited for."""
    return bool(until(value) if until is not None else value)


def _timed_out(message: Message, timeout: float, last: Any) -> str:
    """The failure: what was waited for, for how long, and the last value seen."""
    text = message() if callable(message) else message
    shown = repr(last)
    if len(shown) > 2000:
        shown = shown[:2000] + "..."
    return f"{text} (after {timeout:g}s); last seen: {shown}"
