"""Several instances of one service on one event loop: each an app behind the middleware with
a ``RedisRevocationStore`` and a Redis client of its own, as separate processes would have,
all talking to one :class:`~tests.revocation.deployments.Deployment`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from jwt_middleware import JWTSettings
from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.helpers import bearer, build_app, mint_token
from tests.revocation.deployments import AsyncClient, Deployment

__all__ = ["Instance", "current", "fleet", "until"]


@dataclass
class Instance:
    """One instance: its store, the Redis client it was given, and HTTP to its app."""

    store: RedisRevocationStore
    redis: AsyncClient
    http: httpx.AsyncClient

    async def status(self, jti: str) -> int:
        """The status of ``GET /private`` with a fresh token whose ``jti`` is ``jti``."""
        response = await self.http.get("/private", headers=bearer(mint_token("alice", jti=jti)))
        return response.status_code


async def until(condition: Callable[[], Any], within: float, what: str) -> float:
    """Seconds until ``condition`` (a plain or async callable) holds, polled every
    millisecond; fails naming ``what`` after ``within`` seconds."""
    started = time.monotonic()
    while True:
        outcome = condition()
        if asyncio.iscoroutine(outcome):
            outcome = await outcome
        if outcome:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"not in {within} s: {what}"
        await asyncio.sleep(0.001)


@contextlib.asynccontextmanager
async def fleet(
    deployment: Deployment, settings: JWTSettings, count: int, **options: Any
) -> AsyncIterator[list[Instance]]:
    """``count`` instances whose views are current, closed (stores and clients) afterwards;
    ``options`` go to every store."""
    instances: list[Instance] = []
    try:
        for _ in range(count):
            client = deployment.client()
            store = RedisRevocationStore(client, **options)
            app = build_app(settings, is_revoked=store.is_revoked)
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            )
            instances.append(Instance(store, client, http))
        for instance in instances:
            await current(instance)
        yield instances
    finally:
        for instance in instances:
            await instance.http.aclose()
            await instance.store.aclose()
            await deployment.close_client(instance.redis)


async def current(instance: Instance, within: float = 5.0) -> float:
    """Seconds until the instance's view is current (its follower started if need be)."""
    await instance.store.start()
    return await until(lambda: instance.store.view_is_current, within, "the view is current")
