"""``RedisRevocationStore`` on the real server: TTLs that end when the token stops verifying,
keys only under its prefix, one winner across instances, and a client it does not own.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
import redis.asyncio

from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.revocation.stores import MAX_WAIT_SECONDS, RECORDING_METHODS, Store, run
from tests.services import REDIS_URL


def test_revoke_once_is_atomic_across_instances_sharing_redis(redis_prefix: str) -> None:
    """Two stores, two clients, one prefix: Redis, not either process, picks the winner."""
    stores = [RedisRevocationStore.from_url(REDIS_URL, key_prefix=redis_prefix) for _ in range(2)]

    async def race() -> list[bool]:
        expires_at = int(time.time()) + 60
        try:
            return await asyncio.gather(
                *(
                    stores[index % 2].revoke_once("same-jti", expires_at=expires_at)
                    for index in range(20)
                )
            )
        finally:
            for store in stores:
                await store.aclose()

    assert sorted(asyncio.run(race())) == [False] * 19 + [True]


# --- Redis: TTLs on the real server ---------------------------------------------------------


@pytest.mark.parametrize("method", RECORDING_METHODS)
@pytest.mark.parametrize(
    ("remaining", "leeway", "expected_ttl"),
    [
        pytest.param(3600, 0, 3600, id="one-hour"),
        pytest.param(0.2, 0, 1, id="fraction-rounds-up-to-one-second"),
        pytest.param(1.5, 0, 2, id="rounds-up"),
        pytest.param(60, 30, 90, id="plus-leeway"),
        pytest.param(600, 30, 630, id="ten-minutes-plus-leeway"),
        pytest.param(-10, 30, 20, id="expired-within-leeway"),
    ],
)
def test_redis_ttl_ends_when_the_token_stops_verifying(
    sync_redis: redis.Redis,
    redis_prefix: str,
    remaining: float,
    leeway: int,
    expected_ttl: int,
    method: str,
) -> None:
    exp = int(time.time()) + 7200
    store = RedisRevocationStore(
        REDIS_URL, key_prefix=redis_prefix, leeway_seconds=leeway, clock=lambda: exp - remaining
    )
    run(store, lambda store: getattr(store, method)("ttl", expires_at=exp))
    pttl = sync_redis.pttl(store.key("ttl"))
    assert expected_ttl * 1000 - 1000 < pttl <= expected_ttl * 1000


def test_redis_revoke_once_leaves_the_first_ttl_alone(
    sync_redis: redis.Redis, redis_prefix: str
) -> None:
    """Unlike ``revoke``, a second ``revoke_once`` changes nothing, the key's TTL included."""
    exp = int(time.time()) + 7200
    store = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix, clock=lambda: exp - 60)

    async def scenario(store: Store) -> tuple[bool, bool]:
        first = await store.revoke_once("ttl", expires_at=exp)
        return first, await store.revoke_once("ttl", expires_at=exp + 3600)

    assert run(store, scenario) == (True, False)
    assert 59_000 < sync_redis.pttl(store.key("ttl")) <= 60_000


def test_redis_entry_disappears_when_the_token_expires(
    sync_redis: redis.Redis, redis_prefix: str
) -> None:
    exp = int(time.time()) + 7200
    # The clock says half a second is left, so the key gets the one-second minimum.
    store = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix, clock=lambda: exp - 0.5)
    run(store, lambda store: store.revoke("short", expires_at=exp))
    key = store.key("short")
    assert sync_redis.exists(key)
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while sync_redis.exists(key) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not sync_redis.exists(key)


def test_redis_store_writes_only_under_its_prefix(
    sync_redis: redis.Redis, redis_prefix: str
) -> None:
    store = RedisRevocationStore.from_url(REDIS_URL, key_prefix=redis_prefix)
    run(store, lambda store: store.revoke("mine", expires_at=int(time.time()) + 60))
    assert list(sync_redis.scan_iter(match=f"{redis_prefix}*")) == [f"{redis_prefix}mine".encode()]


def test_redis_store_leaves_a_callers_client_open(redis_prefix: str) -> None:
    async def scenario() -> bool:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        store = RedisRevocationStore(client, key_prefix=redis_prefix)
        await store.aclose()
        answer = bool(await client.ping())
        await client.aclose()
        return answer

    assert asyncio.run(scenario()) is True


def test_redis_store_repr_hides_the_url() -> None:
    store = RedisRevocationStore.from_url("redis://:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in repr(store)
    assert "127.0.0.1" not in repr(store)
