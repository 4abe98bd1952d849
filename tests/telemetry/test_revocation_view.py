"""``jwt_middleware.revocation.view.staleness``: how long ago a Redis store's local view was
last proved current, read from a store following a real Redis."""

from __future__ import annotations

import asyncio

from jwt_middleware import JWTSettings
from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.helpers import SECRET
from tests.services import REDIS_URL

from .readings import Recorded, attributes

STALENESS = "jwt_middleware.revocation.view.staleness"
WAIT_SECONDS = 3.0


async def _until_current(store: RedisRevocationStore) -> None:
    await store.start()
    for _ in range(int(WAIT_SECONDS / 0.01)):
        if store.view_is_current:
            return
        await asyncio.sleep(0.01)


def test_the_staleness_of_the_view_is_a_gauge(sdk: Recorded, redis_prefix: str) -> None:
    key = attributes(key_prefix=redis_prefix)
    readings: dict[str, float | None] = {}

    async def scenario() -> None:
        store = RedisRevocationStore.from_url(
            REDIS_URL, key_prefix=redis_prefix, max_staleness_seconds=0.4
        )
        try:
            readings["before"] = sdk.reading(STALENESS).get(key)
            await _until_current(store)
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


def test_a_store_from_settings_with_telemetry_off_reports_nothing(
    sdk: Recorded, redis_prefix: str
) -> None:
    settings = JWTSettings(secret=SECRET, telemetry=False)
    found: dict[str, object] = {}

    async def scenario() -> None:
        store = RedisRevocationStore.from_settings(
            settings, client=REDIS_URL, key_prefix=redis_prefix
        )
        try:
            await _until_current(store)
            found["current"] = store.view_is_current
            found["reported"] = sdk.reading(STALENESS).get(attributes(key_prefix=redis_prefix))
        finally:
            await store.aclose()

    asyncio.run(scenario())
    assert found == {"current": True, "reported": None}
