"""``jwt_middleware.revocation.view.staleness``: how long ago a Redis store's local view was
last proved current, read from a store following a real Redis."""

from __future__ import annotations

import asyncio

from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.services import REDIS_URL

from .readings import Recorded, attributes

STALENESS = "jwt_middleware.revocation.view.staleness"
WAIT_SECONDS = 3.0


def test_the_staleness_of_the_view_is_a_gauge(sdk: Recorded, redis_prefix: str) -> None:
    key = attributes(key_prefix=redis_prefix)
    readings: dict[str, float | None] = {}

    async def scenario() -> None:
        store = RedisRevocationStore.from_url(
            REDIS_URL, key_prefix=redis_prefix, max_staleness_seconds=0.4
        )
        try:
            readings["before"] = sdk.reading(STALENESS).get(key)
            await store.start()
            for _ in range(int(WAIT_SECONDS / 0.01)):
                if store.view_is_current:
                    break
                await asyncio.sleep(0.01)
            readings["current"] = sdk.reading(STALENESS)[key]
        finally:
            await store.aclose()
        await asyncio.sleep(0.5)  # no heartbeat any more: the view grows stale
        readings["closed"] = sdk.reading(STALENESS)[key]

    asyncio.run(scenario())
    assert readings["before"] is None  # never proved current: nothing to say yet
    current, closed = readings["current"], readings["closed"]
    assert current is not None
    assert closed is not None
    assert 0 <= current < 0.4 + WAIT_SECONDS
    assert closed >= current + 0.5
