"""``make_store``: each store the library ships, built the way a test asks for it.

In memory, Redis from a URL, and Redis through a client the caller owns; the Redis kinds
talk to the real server on loopback, each test under its own key prefix.
"""

from __future__ import annotations

import pytest
import redis
import redis.asyncio

from jwt_middleware.revocation.memory import InMemoryRevocationStore
from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.revocation.stores import STORE_KINDS, SettingsStoreFactory, StoreFactory
from tests.services import REDIS_URL


@pytest.fixture(params=STORE_KINDS)
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    """Builds the store under test; Redis kinds need the server (and get a fresh prefix)."""
    kind: str = request.param
    if kind == "memory":
        return lambda **options: InMemoryRevocationStore(**options)
    prefix: str = request.getfixturevalue("redis_prefix")
    if kind == "redis-url":
        return lambda **options: RedisRevocationStore.from_url(
            REDIS_URL, key_prefix=prefix, **options
        )
    return lambda **options: RedisRevocationStore(
        redis.asyncio.Redis.from_url(REDIS_URL), key_prefix=prefix, **options
    )


@pytest.fixture(params=STORE_KINDS)
def make_store_from_settings(request: pytest.FixtureRequest) -> SettingsStoreFactory:
    """Builds the store under test with ``from_settings``, as ``make_store`` does with the
    constructor."""
    kind: str = request.param
    if kind == "memory":
        return lambda settings, **options: InMemoryRevocationStore.from_settings(
            settings, **options
        )
    prefix: str = request.getfixturevalue("redis_prefix")
    if kind == "redis-url":
        return lambda settings, **options: RedisRevocationStore.from_settings(
            settings, client=REDIS_URL, key_prefix=prefix, **options
        )
    return lambda settings, **options: RedisRevocationStore.from_settings(
        settings, client=redis.asyncio.Redis.from_url(REDIS_URL), key_prefix=prefix, **options
    )
