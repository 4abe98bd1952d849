"""Timing that survives a noisy machine: cases take turns, the best batch counts.

Every case in a contest runs a batch of the same number of iterations per round, in an
order that rotates from round to round (so drift on the machine falls on every case
alike), with the garbage collector paused; a case's figure is its best batch divided by
the iterations. Only figures from one contest are compared with each other.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message

__all__ = ["Case", "asgi_batch", "call_batch", "contest", "cycle_batch"]

#: Runs ``n`` iterations and returns the nanoseconds they took.
Batch = Callable[[int], int]


@dataclass
class Case:
    name: str
    batch: Batch
    best_ns: float = float("inf")

    @property
    def us(self) -> float:
        """Microseconds per iteration, best batch."""
        return self.best_ns / 1000


def contest(cases: Sequence[Case], *, iterations: int, repeats: int) -> None:
    """Time ``cases`` against each other; each gets its :attr:`Case.best_ns`."""
    for case in cases:
        case.batch(max(1, iterations // 10))  # warm-up
    for round_number in range(repeats):
        shift = round_number % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            gc.collect()
            gc.disable()
            try:
                elapsed = case.batch(iterations)
            finally:
                gc.enable()
            case.best_ns = min(case.best_ns, elapsed / iterations)


def call_batch(function: Callable[[], object]) -> Batch:
    """Call ``function`` ``n`` times."""

    def batch(n: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(n):
            function()
        return time.perf_counter_ns() - start

    return batch


def cycle_batch(function: Callable[[Any], object], items: Sequence[Any]) -> Batch:
    """Call ``function`` with the next of ``items`` each time, going round."""
    count = len(items)
    position = 0

    def batch(n: int) -> int:
        nonlocal position
        start = time.perf_counter_ns()
        for index in range(position, position + n):
            function(items[index % count])
        position = (position + n) % count
        return time.perf_counter_ns() - start

    return batch


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: Message) -> None:
    return None


def asgi_batch(
    loop: asyncio.AbstractEventLoop, app: ASGIApp, scopes: Sequence[dict[str, Any]]
) -> Batch:
    """Call ``app`` once per iteration with the next of ``scopes`` (each copied fresh, as a
    server makes a new scope per request), in ``loop``."""
    count = len(scopes)
    position = 0

    async def run(n: int) -> int:
        start = time.perf_counter_ns()
        for index in range(position, position + n):
            await app({**scopes[index % count], "state": {}}, _receive, _discard)
        return time.perf_counter_ns() - start

    def batch(n: int) -> int:
        nonlocal position
        coroutine: Coroutine[Any, Any, int] = run(n)
        elapsed = loop.run_until_complete(coroutine)
        position = (position + n) % count
        return elapsed

    return batch


async def answer(app: ASGIApp, scope: dict[str, Any]) -> tuple[int, bytes]:
    """One request, keeping the status and body: to check a case before timing it."""
    sent: list[Message] = []

    async def keep(message: Message) -> None:
        sent.append(message)

    await app({**scope, "state": {}}, _receive, keep)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])
