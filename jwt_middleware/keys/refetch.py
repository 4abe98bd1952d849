"""One fetch at a time, and not too often: what the key set and the metadata fetches share;
and a token bucket, for what may start only so many times a minute (new tenants, keys of
a ``kid`` not held).

A :class:`SingleFlight` runs a fetch coroutine as a task that every caller can wait on, so
concurrent requests share one fetch; it starts a new one only when none is in flight and
``min_interval_seconds`` have passed since the last start, whatever asked for it (expiry,
an unknown ``kid``, a retry after a failure). A caller that gives up (its client went
away) does not cancel the shared fetch; :meth:`cancel` does, at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

__all__ = ["SingleFlight", "TokenBucket", "join"]

logger = logging.getLogger(__name__)

_SECONDS_PER_MINUTE: Final = 60.0


class SingleFlight:
    """Runs ``fetch`` at most one at a time and at most once per ``min_interval_seconds``."""

    __slots__ = ("_attempted_at", "_clock", "_fetch", "_min_interval", "_name", "_task", "fetches")

    def __init__(
        self,
        fetch: Callable[[], Coroutine[Any, Any, None]],
        *,
        min_interval_seconds: float,
        clock: Callable[[], float],
        name: str,
    ) -> None:
        self._fetch = fetch
        self._min_interval = min_interval_seconds
        self._clock = clock
        self._name = name  # safe to log: no credentials, no query
        self._attempted_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        #: Fetches started, successful or not (for monitoring, and the kid-flood tests).
        self.fetches = 0

    def allowed(self, now: float | None = None) -> bool:
        """Whether a caller may have a fetch now: one is in flight, or a new one may start."""
        if self._task is not None or self._attempted_at is None:
            return True
        return (self._clock() if now is None else now) - self._attempted_at >= self._min_interval

    def start(self) -> asyncio.Task[None]:
        """The fetch in flight, or a new one. It does not ask :meth:`allowed`: callers do
        first, except a prefetch at start-up (through :meth:`wait`), which fetches regardless."""
        if self._task is None:
            self._attempted_at = self._clock()
            self.fetches += 1
            task = asyncio.create_task(self._fetch())
            task.add_done_callback(self._done)
            self._task = task
        return self._task

    async def wait(self) -> None:
        """Start a fetch (or join the one in flight) and wait for it to end."""
        await join(self.start())

    async def cancel(self) -> None:
        """Cancel the fetch in flight, if any, and wait until it is gone."""
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    def _done(self, task: asyncio.Task[None]) -> None:
        if self._task is task:
            self._task = None
        if not task.cancelled() and (error := task.exception()) is not None:
            # A bug, not a bad endpoint: those are handled inside the fetch itself.
            logger.error("fetch of %s crashed", self._name, exc_info=error)


async def join(fetch: asyncio.Task[None]) -> None:
    """Wait for a shared fetch to end. A caller that gives up (is cancelled) does not cancel
    it for the others; a fetch cancelled itself (at shutdown) just ends the wait, and the
    caller answers with what is held."""
    try:
        await asyncio.shield(fetch)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


class TokenBucket:
    """``per_minute`` takes a minute, in bursts of up to ``per_minute``."""

    __slots__ = ("_capacity", "_clock", "_rate", "_tokens", "_updated")

    def __init__(self, *, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / _SECONDS_PER_MINUTE
        self._clock = clock
        self._tokens = self._capacity
        self._updated = clock()

    def take(self) -> bool:
        """Take one if there is one; ``False`` when the bucket is empty."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
