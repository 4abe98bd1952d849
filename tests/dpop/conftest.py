"""Fixtures for the DPoP tests: a Redis replay cache of each kind an application passes
(from a URL; a client of the Redis on loopback, of a Redis Cluster, of a Sentinel setup),
every cache of one test under one key prefix of its own."""

from __future__ import annotations

import pytest
import redis.asyncio

from jwt_middleware.verification.dpop_replay_redis import RedisProofReplayCache
from tests.dpop.fleet import CacheFactory
from tests.revocation.deployments import Deployment
from tests.services import REDIS_URL

#: The kinds of Redis a replay cache is tested against, and the fixture of each deployment.
REPLAY_CACHE_KINDS = ["redis-url", "redis-client", "redis-cluster", "redis-sentinel"]
_DEPLOYMENTS = {"redis-cluster": "shared_cluster", "redis-sentinel": "shared_sentinels"}
#: Loose: these tests are about replays, not timeouts (tests/dpop/test_replay_outage.py sets
#: its own), and a cache's first command also connects, which a loaded CI machine stretches.
_TIMEOUT_SECONDS = 2.0


@pytest.fixture(params=REPLAY_CACHE_KINDS)
def make_replay_cache(request: pytest.FixtureRequest, redis_prefix: str) -> CacheFactory:
    """New caches, each with a client of its own, as separate instances would have."""
    kind: str = request.param
    if kind == "redis-url":
        return lambda: RedisProofReplayCache(
            REDIS_URL, key_prefix=redis_prefix, timeout_seconds=_TIMEOUT_SECONDS
        )
    if kind == "redis-client":
        return lambda: RedisProofReplayCache(
            redis.asyncio.Redis.from_url(REDIS_URL),
            key_prefix=redis_prefix,
            timeout_seconds=_TIMEOUT_SECONDS,
        )
    shared: Deployment = request.getfixturevalue(_DEPLOYMENTS[kind])
    return lambda: RedisProofReplayCache(
        shared.client(), key_prefix=redis_prefix, timeout_seconds=_TIMEOUT_SECONDS
    )
