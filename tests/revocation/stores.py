"""The revocation stores under test, and how a test drives one: on one event loop (a Redis
client belongs to one), closed afterwards, looked at from outside.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
import redis.asyncio
from starlette.testclient import TestClient

from jwt_middleware.revocation.memory import InMemoryRevocationStore
from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.revocation.deployments import Deployment, SyncClient

REVOKED = (
    'Bearer realm="api", error="invalid_token", error_description="The access token was revoked."'
)
UNAVAILABLE = {"detail": "Authentication is temporarily unavailable."}
# A safety bound so a broken timeout fails the test instead of hanging it; not a benchmark.
MAX_WAIT_SECONDS = 3.0

Store = InMemoryRevocationStore | RedisRevocationStore
StoreFactory = Callable[..., Store]
#: ``from_settings(settings, **options)`` of the store under test.
SettingsStoreFactory = Callable[..., Store]
STORE_KINDS = ["memory", "redis-url", "redis-client", "redis-cluster", "redis-sentinel"]
#: The kinds whose Redis is a deployment shared by the run, by the fixture that starts it.
DEPLOYMENT_FIXTURES = {"redis-cluster": "shared_cluster", "redis-sentinel": "shared_sentinels"}
#: The two ways to record a jti; they share one code path in each store.
RECORDING_METHODS = ["revoke", "revoke_once"]


async def close(store: Store) -> None:
    """Close the store, and a client the test handed it (the store leaves that to its owner),
    with the sentinels' own clients when it is managed by Sentinel."""
    if isinstance(store, RedisRevocationStore):
        owned = store._owns_client
        await store.aclose()
        if not owned:
            await store.client.aclose()
            pool = getattr(store.client, "connection_pool", None)
            manager = getattr(pool, "sentinel_manager", None)
            for sentinel in manager.sentinels if manager is not None else []:
                await sentinel.aclose()


def run(store: Store, scenario: Callable[[Store], Awaitable[Any]]) -> Any:
    """Run ``scenario`` on one event loop (a Redis client belongs to one) and close the store."""

    async def main() -> Any:
        try:
            return await scenario(store)
        finally:
            await close(store)

    return asyncio.run(main())


def holds(store: Store, jti: str, sync_redis: SyncClient | None = None) -> bool:
    """Whether the store still keeps an entry for ``jti`` (expired or not)."""
    if isinstance(store, InMemoryRevocationStore):
        return jti in store._by_jti
    assert sync_redis is not None
    return bool(sync_redis.exists(store.key(jti)))


def in_app(client: TestClient, function: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Await ``function`` on the app's event loop, where the store's Redis client lives."""
    assert client.portal is not None, "use TestClient as a context manager"
    return client.portal.call(function, *args)


def sync_redis_for(request: pytest.FixtureRequest) -> SyncClient:
    """A plain client on the Redis of the store under test (the session's on loopback, or
    the shared deployment's), for a test that needs it only for some stores."""
    kind = request.node.callspec.params.get("make_store")
    if kind in DEPLOYMENT_FIXTURES:
        shared: Deployment = request.getfixturevalue(DEPLOYMENT_FIXTURES[kind])
        return shared.inspector()
    client: redis.Redis = request.getfixturevalue("sync_redis")
    return client
