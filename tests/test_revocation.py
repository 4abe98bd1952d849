"""Revocation stores: what a revoked token looks like to every instance, and for how long.

Shared behaviour runs against each store: in memory, Redis from a URL, and Redis through a
client the caller owns; so does ``revoke_once``, the "first caller wins" form of ``revoke``
that makes a token single-use. Redis tests talk to the real server on loopback, each under its own
key prefix; unreachable Redis is a closed port and a server that accepts but never answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
import redis
import redis.asyncio
from starlette.testclient import TestClient

from jwt_middleware import JWTSettings, create_jwt_token, verify_jwt_token
from jwt_middleware.errors import RevocationStoreFullError, RevocationStoreUnavailableError
from jwt_middleware.revocation import RevocationStore, SingleUseStore, revoke_token_claims
from jwt_middleware.revocation.memory import InMemoryRevocationStore
from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.helpers import FakeClock, bearer, build_app, mint_token
from tests.services import REDIS_URL

REVOKED = (
    'Bearer realm="api", error="invalid_token", error_description="The access token was revoked."'
)
UNAVAILABLE = {"detail": "Authentication is temporarily unavailable."}
# A safety bound so a broken timeout fails the test instead of hanging it; not a benchmark.
MAX_WAIT_SECONDS = 3.0

Store = InMemoryRevocationStore | RedisRevocationStore
StoreFactory = Callable[..., Store]
STORE_KINDS = ["memory", "redis-url", "redis-client"]
#: The two ways to record a jti; they share one code path in each store.
RECORDING_METHODS = ["revoke", "revoke_once"]


# --- fixtures -------------------------------------------------------------------------------


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


# --- helpers --------------------------------------------------------------------------------


async def close(store: Store) -> None:
    """Close the store, and a client the test handed it (the store leaves that to its owner)."""
    if isinstance(store, RedisRevocationStore):
        owned = store._owns_client
        await store.aclose()
        if not owned:
            await store.client.aclose()


def run(store: Store, scenario: Callable[[Store], Awaitable[Any]]) -> Any:
    """Run ``scenario`` on one event loop (a Redis client belongs to one) and close the store."""

    async def main() -> Any:
        try:
            return await scenario(store)
        finally:
            await close(store)

    return asyncio.run(main())


def holds(store: Store, jti: str, sync_redis: redis.Redis | None = None) -> bool:
    """Whether the store still keeps an entry for ``jti`` (expired or not)."""
    if isinstance(store, InMemoryRevocationStore):
        return jti in store._by_jti
    assert sync_redis is not None
    return bool(sync_redis.exists(store.key(jti)))


def in_app(client: TestClient, function: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Await ``function`` on the app's event loop, where the store's Redis client lives."""
    assert client.portal is not None, "use TestClient as a context manager"
    return client.portal.call(function, *args)


# --- shared behaviour -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revocations", "claims", "expected"),
    [
        pytest.param([("a", 3600)], {"jti": "a"}, True, id="revoked"),
        pytest.param([("a", 3600)], {"jti": "b"}, False, id="other-jti"),
        pytest.param([], {"jti": "a"}, False, id="nothing-revoked"),
        pytest.param([("a", 3600)], {"sub": "u"}, False, id="no-jti-never-revoked"),
        pytest.param([("a", 3600)], {"jti": ""}, False, id="empty-jti-never-revoked"),
        pytest.param([("a", 3600)], {"jti": 1}, False, id="non-string-jti"),
        pytest.param([("a", -10)], {"jti": "a"}, False, id="already-expired-is-noop"),
        pytest.param([("a", 0)], {"jti": "a"}, False, id="expiring-now-is-noop"),
        pytest.param([("a", 3600), ("a", 3600)], {"jti": "a"}, True, id="revoked-twice"),
        pytest.param([("a", 3600), ("a", -10)], {"jti": "a"}, True, id="expired-repeat-keeps"),
        pytest.param([("a", 60), ("a", 3600)], {"jti": "a"}, True, id="later-exp-extends"),
    ],
)
def test_is_revoked_after_revoke(
    make_store: StoreFactory,
    revocations: list[tuple[str, int]],
    claims: dict[str, Any],
    expected: bool,
) -> None:
    store = make_store()

    async def scenario(store: Store) -> bool:
        now = int(time.time())
        for jti, lifetime in revocations:
            await store.revoke(jti, expires_at=now + lifetime)
        return await store.is_revoked(claims)

    assert run(store, scenario) is expected


def test_stores_are_revocation_and_single_use_stores(make_store: StoreFactory) -> None:
    store = make_store()
    assert isinstance(store, RevocationStore)
    assert isinstance(store, SingleUseStore)
    run(store, lambda store: asyncio.sleep(0))


def test_expired_token_leaves_nothing_behind(
    make_store: StoreFactory, request: pytest.FixtureRequest
) -> None:
    store = make_store()
    run(store, lambda store: store.revoke("gone", expires_at=int(time.time()) - 1))
    inspector = None if isinstance(store, InMemoryRevocationStore) else _sync_redis(request)
    assert not holds(store, "gone", inspector)


#: Tokens past their exp: ``still_verifies`` while within the verifier's leeway.
LATE_TOKENS = [
    pytest.param(-5, 30, True, id="expired-but-within-leeway"),
    pytest.param(-5, 0, False, id="expired-no-leeway"),
    pytest.param(-31, 30, False, id="expired-beyond-leeway"),
]


@pytest.mark.parametrize(("lifetime", "leeway", "still_verifies"), LATE_TOKENS)
def test_leeway_keeps_entries_while_the_verifier_still_accepts(
    make_store: StoreFactory, lifetime: int, leeway: int, still_verifies: bool
) -> None:
    store = make_store(leeway_seconds=leeway)

    async def scenario(store: Store) -> bool:
        await store.revoke("late", expires_at=int(time.time()) + lifetime)
        return await store.is_revoked({"jti": "late"})

    assert run(store, scenario) is still_verifies


@pytest.mark.parametrize(
    "minter",
    [
        pytest.param(lambda settings: mint_token("alice", jti="pyjwt-jti"), id="pyjwt"),
        pytest.param(lambda settings: create_jwt_token("alice", settings=settings), id="helper"),
    ],
)
def test_revoke_token_claims_uses_jti_and_exp(
    make_store: StoreFactory, settings: JWTSettings, minter: Callable[[JWTSettings], str]
) -> None:
    claims = verify_jwt_token(minter(settings), settings=settings)
    other = verify_jwt_token(create_jwt_token("alice", settings=settings), settings=settings)
    store = make_store()

    async def scenario(store: Store) -> tuple[bool, bool]:
        await revoke_token_claims(store, claims)
        return await store.is_revoked(claims), await store.is_revoked(other)

    assert run(store, scenario) == (True, False)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        pytest.param({"sub": "u", "exp": 2**31}, "no jti", id="no-jti"),
        pytest.param({"sub": "u", "exp": 2**31, "jti": ""}, "no jti", id="empty-jti"),
        pytest.param({"sub": "u", "jti": "a"}, "no numeric exp", id="no-exp"),
        pytest.param({"sub": "u", "jti": "a", "exp": "soon"}, "no numeric exp", id="text-exp"),
        pytest.param({"sub": "u", "jti": "a", "exp": True}, "no numeric exp", id="bool-exp"),
        pytest.param({"sub": "u", "jti": "a", "exp": math.inf}, "no numeric exp", id="inf-exp"),
    ],
)
def test_revoke_token_claims_refuses_what_it_cannot_revoke(
    claims: dict[str, Any], message: str
) -> None:
    store = InMemoryRevocationStore()
    with pytest.raises(ValueError, match=message):
        asyncio.run(revoke_token_claims(store, claims))
    assert len(store) == 0


def test_revoke_token_claims_rounds_fractional_exp_up() -> None:
    clock = FakeClock(1000.0)
    store = InMemoryRevocationStore(clock=clock)
    asyncio.run(revoke_token_claims(store, {"jti": "a", "exp": 1000.2}))
    clock.advance(0.9)
    assert asyncio.run(store.is_revoked({"jti": "a"})) is True


@pytest.mark.parametrize("method", RECORDING_METHODS)
@pytest.mark.parametrize("jti", [pytest.param("", id="empty"), pytest.param(None, id="none")])
def test_revoke_refuses_a_missing_jti(make_store: StoreFactory, jti: Any, method: str) -> None:
    store = make_store()

    async def scenario(store: Store) -> None:
        await getattr(store, method)(jti, expires_at=int(time.time()) + 60)

    with pytest.raises(ValueError, match="jti"):
        run(store, scenario)


# --- single use: revoke_once ----------------------------------------------------------------

ONCE = "revoke_once"
REVOKE = "revoke"


@pytest.mark.parametrize(
    ("steps", "answers", "revoked"),
    [
        pytest.param([(ONCE, "a", 3600)], [True], True, id="first"),
        pytest.param([(ONCE, "a", 3600), (ONCE, "a", 3600)], [True, False], True, id="second"),
        pytest.param(
            [(ONCE, "a", 3600), (ONCE, "a", 3600), (ONCE, "a", 3600)],
            [True, False, False],
            True,
            id="third",
        ),
        pytest.param([(ONCE, "a", 3600), (ONCE, "b", 3600)], [True, True], True, id="other-jti"),
        pytest.param([(ONCE, "a", 60), (ONCE, "a", 3600)], [True, False], True, id="later-exp"),
        pytest.param([(REVOKE, "a", 3600), (ONCE, "a", 3600)], [None, False], True, id="revoked"),
        pytest.param([(ONCE, "a", 3600), (REVOKE, "a", 3600)], [True, None], True, id="and-revoke"),
        pytest.param([(ONCE, "a", -10)], [True], False, id="expired"),
        pytest.param([(ONCE, "a", -10), (ONCE, "a", 3600)], [True, True], True, id="expired-first"),
        pytest.param([(ONCE, "a", 0), (ONCE, "a", 0)], [True, True], False, id="expiring-now"),
    ],
)
def test_revoke_once_is_true_only_for_the_first_caller(
    make_store: StoreFactory,
    steps: list[tuple[str, str, int]],
    answers: list[bool | None],
    revoked: bool,
) -> None:
    """``revoked``: whether the token "a" is refused afterwards."""
    store = make_store()

    async def scenario(store: Store) -> tuple[list[bool | None], bool]:
        now = int(time.time())
        results = [
            await getattr(store, method)(jti, expires_at=now + lifetime)
            for method, jti, lifetime in steps
        ]
        return results, await store.is_revoked({"jti": "a"})

    assert run(store, scenario) == (answers, revoked)


@pytest.mark.parametrize(("lifetime", "leeway", "still_verifies"), LATE_TOKENS)
def test_revoke_once_of_an_expired_token_is_true_and_records_nothing(
    make_store: StoreFactory,
    request: pytest.FixtureRequest,
    lifetime: int,
    leeway: int,
    still_verifies: bool,
) -> None:
    """While the verifier still accepts the token (leeway) it is recorded like any other."""
    store = make_store(leeway_seconds=leeway)

    async def scenario(store: Store) -> tuple[bool, bool, bool]:
        expires_at = int(time.time()) + lifetime
        first = await store.revoke_once("late", expires_at=expires_at)
        second = await store.revoke_once("late", expires_at=expires_at)
        return first, second, await store.is_revoked({"jti": "late"})

    assert run(store, scenario) == (True, not still_verifies, still_verifies)
    inspector = None if isinstance(store, InMemoryRevocationStore) else _sync_redis(request)
    assert holds(store, "late", inspector) is still_verifies


def test_revoke_once_is_atomic(make_store: StoreFactory) -> None:
    store = make_store()

    async def race(store: Store) -> list[bool]:
        expires_at = int(time.time()) + 60
        return await asyncio.gather(
            *(store.revoke_once("same-jti", expires_at=expires_at) for _ in range(20))
        )

    assert sorted(run(store, race)) == [False] * 19 + [True]


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


def test_memory_revoke_once_is_atomic_across_threads() -> None:
    store = InMemoryRevocationStore()
    expires_at = int(time.time()) + 60
    start = threading.Barrier(8, timeout=10)
    results: list[bool] = []

    def attempt() -> None:
        start.wait()
        results.append(asyncio.run(store.revoke_once("same-jti", expires_at=expires_at)))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]


# --- in memory: expiry and bounds -----------------------------------------------------------


@pytest.mark.parametrize(
    ("leeway", "elapsed", "expected"),
    [
        pytest.param(0, 0, True, id="just-revoked"),
        pytest.param(0, 59.9, True, id="just-before-exp"),
        pytest.param(0, 60, False, id="at-exp"),
        pytest.param(0, 3600, False, id="long-after"),
        pytest.param(10, 65, True, id="within-leeway"),
        pytest.param(10, 70, False, id="after-leeway"),
    ],
)
def test_memory_entries_expire_with_the_token(leeway: int, elapsed: float, expected: bool) -> None:
    clock = FakeClock()
    store = InMemoryRevocationStore(clock=clock, leeway_seconds=leeway)
    asyncio.run(store.revoke("a", expires_at=int(clock.now) + 60))
    clock.advance(elapsed)
    assert asyncio.run(store.is_revoked({"jti": "a"})) is expected


def test_memory_store_does_not_grow_without_bound() -> None:
    clock = FakeClock()
    store = InMemoryRevocationStore(clock=clock)
    start = int(clock.now)

    async def revoke_many() -> None:
        for index in range(10_000):
            # 100 tokens for each lifetime from 1 to 100 seconds.
            await store.revoke(f"token-{index}", expires_at=start + index % 100 + 1)

    asyncio.run(revoke_many())
    assert len(store) == 10_000

    clock.advance(50)
    asyncio.run(store.revoke("trigger", expires_at=start + 3600))
    assert len(store) == 5_001
    assert asyncio.run(store.is_revoked({"jti": "token-49"})) is False
    assert asyncio.run(store.is_revoked({"jti": "token-50"})) is True

    clock.advance(3600)
    assert store.purge() == 5_001
    assert len(store) == 0
    assert store._heap == []


def test_memory_store_repeated_revocations_leave_no_stale_heap_entries() -> None:
    clock = FakeClock()
    store = InMemoryRevocationStore(clock=clock)

    async def revoke_again_and_again() -> None:
        for lifetime in range(1, 1_001):
            await store.revoke("same", expires_at=int(clock.now) + lifetime)

    asyncio.run(revoke_again_and_again())
    assert len(store) == 1
    clock.advance(2_000)
    store.purge()
    assert len(store) == 0
    assert store._heap == []


def test_memory_store_full_refuses_new_revocations_and_forgets_none() -> None:
    clock = FakeClock()
    store = InMemoryRevocationStore(clock=clock, max_entries=3)
    now = int(clock.now)

    async def scenario() -> None:
        await store.revoke("a", expires_at=now + 10)
        await store.revoke("b", expires_at=now + 100)
        await store.revoke("c", expires_at=now + 100)
        with pytest.raises(RevocationStoreFullError) as raised:
            await store.revoke("d", expires_at=now + 100)
        assert raised.value.status_code == 503
        for jti in "abc":
            assert await store.is_revoked({"jti": jti})
        assert not await store.is_revoked({"jti": "d"})
        # Revoking a known token again (even with a later exp) needs no new room.
        await store.revoke("a", expires_at=now + 20)
        # Once an entry expires there is room again.
        clock.advance(25)
        await store.revoke("d", expires_at=now + 100)
        assert await store.is_revoked({"jti": "d"})
        assert not await store.is_revoked({"jti": "a"})

    asyncio.run(scenario())
    assert len(store) == 3


def test_memory_revoke_once_leaves_the_first_deadline_alone() -> None:
    """Unlike ``revoke``, a second ``revoke_once`` changes nothing, as in Redis."""
    clock = FakeClock()
    store = InMemoryRevocationStore(clock=clock)
    now = int(clock.now)

    async def scenario() -> tuple[bool, bool]:
        first = await store.revoke_once("a", expires_at=now + 60)
        return first, await store.revoke_once("a", expires_at=now + 3600)

    assert asyncio.run(scenario()) == (True, False)
    clock.advance(60)
    assert asyncio.run(store.is_revoked({"jti": "a"})) is False


def test_memory_store_full_refuses_new_single_uses_and_forgets_none() -> None:
    clock = FakeClock(1_000_000.0)
    store = InMemoryRevocationStore(clock=clock, max_entries=2, leeway_seconds=5)

    async def scenario() -> None:
        assert await store.revoke_once("a", expires_at=1_000_010)
        assert await store.revoke_once("b", expires_at=1_000_100)
        with pytest.raises(RevocationStoreFullError) as raised:
            await store.revoke_once("c", expires_at=1_000_100)
        assert raised.value.status_code == 503
        assert not await store.is_revoked({"jti": "c"})
        # A known jti needs no room: it is simply not the first use.
        assert not await store.revoke_once("b", expires_at=1_000_100)
        clock.now = 1_000_014.0  # "a" still verifies within the leeway
        assert not await store.revoke_once("a", expires_at=1_000_010)
        clock.now = 1_000_016.0
        assert await store.revoke_once("c", expires_at=1_000_100)  # "a" made room

    asyncio.run(scenario())
    assert len(store) == 2


def test_memory_store_full_refusal_is_logged_without_the_jti(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = InMemoryRevocationStore(max_entries=1)
    exp = int(time.time()) + 60
    asyncio.run(store.revoke("first-jti", expires_at=exp))
    with (
        caplog.at_level(logging.WARNING, logger="jwt_middleware"),
        pytest.raises(RevocationStoreFullError),
    ):
        asyncio.run(store.revoke("second-jti", expires_at=exp))
    assert "revocation store full" in caplog.text
    assert "second-jti" not in caplog.text


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


# --- Redis unreachable ----------------------------------------------------------------------


@pytest.mark.parametrize("method", RECORDING_METHODS)
@pytest.mark.parametrize("on_error", ["deny", "allow"])
def test_unreachable_redis_revoke_always_raises(
    unreachable_redis_url: str, on_error: Any, method: str
) -> None:
    store = RedisRevocationStore(unreachable_redis_url, on_error=on_error, timeout_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(RevocationStoreUnavailableError) as raised:
        run(store, lambda store: getattr(store, method)("x", expires_at=int(time.time()) + 60))
    assert time.monotonic() - started < MAX_WAIT_SECONDS
    assert raised.value.status_code == 503


@pytest.mark.parametrize(
    ("on_error", "outcome"),
    [
        pytest.param("deny", RevocationStoreUnavailableError, id="deny-raises"),
        pytest.param("allow", False, id="allow-says-not-revoked"),
    ],
)
def test_unreachable_redis_is_revoked(
    unreachable_redis_url: str, on_error: Any, outcome: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisRevocationStore(unreachable_redis_url, on_error=on_error, timeout_seconds=0.3)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="jwt_middleware"):
        if outcome is False:
            assert run(store, lambda store: store.is_revoked({"jti": "secret-jti"})) is False
            assert "treated as not revoked" in caplog.text
        else:
            with pytest.raises(outcome):
                run(store, lambda store: store.is_revoked({"jti": "secret-jti"}))
    assert time.monotonic() - started < MAX_WAIT_SECONDS
    assert "secret-jti" not in caplog.text


@pytest.mark.parametrize(
    ("on_error", "status"),
    [pytest.param("deny", 503, id="deny-fails-closed"), pytest.param("allow", 200, id="allow")],
)
def test_unreachable_redis_through_the_middleware(
    settings: JWTSettings,
    unreachable_redis_url: str,
    on_error: Any,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RedisRevocationStore(unreachable_redis_url, on_error=on_error, timeout_seconds=0.3)
    token = mint_token("alice", jti="alice-jti")
    with (
        caplog.at_level(logging.WARNING, logger="jwt_middleware"),
        TestClient(build_app(settings, is_revoked=store.is_revoked)) as client,
    ):
        started = time.monotonic()
        response = client.get("/private", headers=bearer(token))
        elapsed = time.monotonic() - started
        in_app(client, store.aclose)
    assert elapsed < MAX_WAIT_SECONDS
    assert response.status_code == status
    if status == 503:
        assert response.json() == UNAVAILABLE
        assert response.headers["retry-after"] == "5"
    else:
        assert response.json()["user_id"] == "alice"
        assert "treated as not revoked" in caplog.text
    assert caplog.records
    assert token not in caplog.text
    assert "alice-jti" not in caplog.text


# --- end to end -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "minter",
    [
        pytest.param(lambda settings: mint_token("alice", jti="alice-1"), id="pyjwt"),
        pytest.param(lambda settings: create_jwt_token("alice", settings=settings), id="helper"),
    ],
)
def test_revoked_token_is_refused_by_the_middleware(
    settings: JWTSettings, make_store: StoreFactory, minter: Callable[[JWTSettings], str]
) -> None:
    store = make_store()
    token = minter(settings)
    other = create_jwt_token("alice", settings=settings)
    claims = verify_jwt_token(token, settings=settings)
    with TestClient(build_app(settings, is_revoked=store.is_revoked)) as client:
        assert client.get("/private", headers=bearer(token)).status_code == 200
        in_app(client, revoke_token_claims, store, claims)
        refused = client.get("/private", headers=bearer(token))
        still_fine = client.get("/private", headers=bearer(other))
        anonymous_public = client.get("/health")
        in_app(client, close, store)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == REVOKED
    assert refused.json() == {"detail": "The access token was revoked."}
    assert still_fine.status_code == 200
    assert anonymous_public.status_code == 200


def test_revocation_reaches_every_instance_sharing_redis(
    settings: JWTSettings, redis_prefix: str
) -> None:
    store_a = RedisRevocationStore.from_url(REDIS_URL, key_prefix=redis_prefix)
    store_b = RedisRevocationStore.from_url(REDIS_URL, key_prefix=redis_prefix)
    token = create_jwt_token("alice", settings=settings)
    other = mint_token("bob", jti="bob-1")
    claims = verify_jwt_token(token, settings=settings)
    app_a = build_app(settings, is_revoked=store_a.is_revoked)
    app_b = build_app(settings, is_revoked=store_b.is_revoked)
    with TestClient(app_a) as instance_a, TestClient(app_b) as instance_b:
        assert instance_a.get("/private", headers=bearer(token)).status_code == 200
        assert instance_b.get("/private", headers=bearer(token)).status_code == 200
        in_app(instance_a, revoke_token_claims, store_a, claims)
        on_b = instance_b.get("/private", headers=bearer(token))
        on_a = instance_a.get("/private", headers=bearer(token))
        bob_on_b = instance_b.get("/private", headers=bearer(other))
        in_app(instance_a, store_a.aclose)
        in_app(instance_b, store_b.aclose)
    assert on_b.status_code == 401
    assert on_b.headers["www-authenticate"] == REVOKED
    assert on_a.status_code == 401
    assert bob_on_b.status_code == 200


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: InMemoryRevocationStore(max_entries=0), id="memory-max-entries-0"),
        pytest.param(lambda: InMemoryRevocationStore(leeway_seconds=-1), id="memory-leeway"),
        pytest.param(lambda: RedisRevocationStore(REDIS_URL, key_prefix=""), id="empty-prefix"),
        pytest.param(
            lambda: RedisRevocationStore(REDIS_URL, on_error=cast(Any, "ignore")), id="on-error"
        ),
        pytest.param(lambda: RedisRevocationStore(REDIS_URL, timeout_seconds=0), id="timeout-0"),
        pytest.param(
            lambda: RedisRevocationStore(REDIS_URL, timeout_seconds=math.nan), id="timeout-nan"
        ),
        pytest.param(lambda: RedisRevocationStore(REDIS_URL, leeway_seconds=-1), id="leeway"),
        pytest.param(lambda: RedisRevocationStore.from_url("http://127.0.0.1/"), id="scheme"),
    ],
)
def test_bad_options_fail_at_construction(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each row has its own message
        build()


def test_redis_store_repr_hides_the_url() -> None:
    store = RedisRevocationStore.from_url("redis://:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in repr(store)
    assert "127.0.0.1" not in repr(store)


def _sync_redis(request: pytest.FixtureRequest) -> redis.Redis:
    client: redis.Redis = request.getfixturevalue("sync_redis")
    return client
