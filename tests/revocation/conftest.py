"""``make_store``: each store the library ships, built the way a test asks for it; and
``cluster``: a Redis Cluster of the test's own (the suite's ``deployment`` starts a cluster
or a Sentinel setup).

In memory, Redis from a URL, and Redis through a client the caller owns: of the server on
loopback, of a cluster or behind sentinels (one of each for the whole run, started by the
suite's ``shared_cluster`` and ``shared_sentinels``); each test under its own key prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from jwt_middleware.revocation.memory import InMemoryRevocationStore
from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.revocation.deployments import AsyncClient, Deployment, LocalCluster, local_cluster
from tests.revocation.stores import (
    DEPLOYMENT_FIXTURES,
    STORE_KINDS,
    SettingsStoreFactory,
    StoreFactory,
)
from tests.services import REDIS_URL

#: What the contract does not test, the timeout, loose: a store's first command also
#: connects (to every primary, for a cluster), which a loaded CI machine has been seen to
#: stretch past the default 0.5 s. The tests of timeouts set their own.
CONTRACT_OPTIONS: dict[str, float] = {"timeout_seconds": 2.0}


@pytest.fixture(params=STORE_KINDS)
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    """Builds the store under test; Redis kinds need the server (and get a fresh prefix)."""
    kind: str = request.param
    if kind == "memory":
        return lambda **options: InMemoryRevocationStore(**options)
    prefix: str = request.getfixturevalue("redis_prefix")
    if kind == "redis-url":
        return lambda **options: RedisRevocationStore.from_url(
            REDIS_URL, key_prefix=prefix, **{**CONTRACT_OPTIONS, **options}
        )
    client = client_factory(request, kind)
    return lambda **options: RedisRevocationStore(
        client(), key_prefix=prefix, **{**CONTRACT_OPTIONS, **options}
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
    client = client_factory(request, kind)
    return lambda settings, **options: RedisRevocationStore.from_settings(
        settings, client=client(), key_prefix=prefix, **options
    )


def client_factory(request: pytest.FixtureRequest, kind: str) -> Callable[[], AsyncClient]:
    """New clients of the Redis a store ``kind`` talks to, for the caller to own."""
    if kind in DEPLOYMENT_FIXTURES:
        shared: Deployment = request.getfixturevalue(DEPLOYMENT_FIXTURES[kind])
        return shared.client
    return lambda: redis.asyncio.Redis.from_url(REDIS_URL)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A new cluster of the test's own, for a test about what only a cluster does."""
    with local_cluster(tmp_path / "redis") as started:
        yield started
