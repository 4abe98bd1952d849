"""``RedisRevocationStore``'s local view on the real Redis: requests answered without a round
trip, a revocation on one instance seen by the others at once, and never a stale answer:
while the view is not known to be current, Redis is asked, and ``on_error`` decides when
Redis cannot answer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from jwt_middleware.errors import RevocationStoreUnavailableError
from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.revocation.relay import relay_to
from tests.services import REDIS_URL

#: What issue 11 asks of a logout: refused by every other instance within this long.
PROPAGATION_SECONDS = 0.1
#: A safety bound for waiting on the view; not a benchmark.
WAIT_SECONDS = 3.0


def later(seconds: int = 600) -> int:
    return int(time.time()) + seconds


async def until(condition: Callable[[], Awaitable[bool] | bool], within: float) -> float:
    """Seconds until ``condition`` holds, polled every millisecond; fails after ``within``."""
    started = time.monotonic()
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return time.monotonic() - started
        assert time.monotonic() - started < within, "condition not met in time"
        await asyncio.sleep(0.001)


async def current(store: RedisRevocationStore) -> None:
    await store.start()
    await until(lambda: store.view_is_current, WAIT_SECONDS)


def revoked(store: RedisRevocationStore, jti: str) -> Callable[[], Awaitable[bool]]:
    return lambda: store.is_revoked({"jti": jti})


def exists_calls(sync_redis: redis.Redis) -> int:
    stats: dict[str, Any] = sync_redis.info("commandstats")
    return int(stats.get("cmdstat_exists", {}).get("calls", 0))


def run(scenario: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(scenario())


def test_a_revocation_on_one_instance_reaches_the_others_views_at_once(redis_prefix: str) -> None:
    async def scenario() -> list[float]:
        stores = [RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix) for _ in range(3)]
        try:
            for store in stores:
                await current(store)
            await stores[0].revoke("logged-out", expires_at=later())
            seen_after = []
            for store in stores[1:]:
                seen_after.append(await until(revoked(store, "logged-out"), PROPAGATION_SECONDS))
            return seen_after
        finally:
            for store in stores:
                await store.aclose()

    seen_after = run(scenario)
    assert max(seen_after) < PROPAGATION_SECONDS


@pytest.mark.parametrize(
    "expires_in",
    [
        pytest.param(600.5, id="half-second"),
        pytest.param(600.000001, id="just-past-a-second"),
        pytest.param(600.999999, id="just-before-a-second"),
    ],
)
def test_a_revocation_with_a_fractional_deadline_reaches_the_other_views(
    redis_prefix: str, expires_in: float
) -> None:
    """``revoke(jti, expires_at=time.time() + 600)``: a float deadline propagates too, as
    the next whole second, rather than waiting for the other instances' next resync."""

    async def scenario() -> tuple[float, float]:
        here = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix)
        there = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix)
        try:
            await current(here)
            await current(there)
            expires_at = time.time() + expires_in
            await here.revoke("fractional", expires_at=expires_at)  # type: ignore[arg-type]
            seen_after = await until(revoked(there, "fractional"), PROPAGATION_SECONDS)
            return seen_after, there._revoked["fractional"] - expires_at
        finally:
            await here.aclose()
            await there.aclose()

    seen_after, margin = run(scenario)
    assert seen_after < PROPAGATION_SECONDS
    assert 0 <= margin < 1  # rounded up: never forgotten while the token still verifies


def test_a_fractional_deadline_published_by_other_software_is_applied(
    sync_redis: redis.Redis, redis_prefix: str
) -> None:
    deadline = later()

    async def scenario() -> float:
        store = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix)
        try:
            await current(store)
            sync_redis.publish(redis_prefix, f"{deadline}.25 decimal")
            await until(revoked(store, "decimal"), WAIT_SECONDS)
            return store._revoked["decimal"]
        finally:
            await store.aclose()

    assert run(scenario) == deadline + 1


def test_the_view_answers_without_asking_redis(sync_redis: redis.Redis, redis_prefix: str) -> None:
    async def scenario() -> tuple[list[bool], int]:
        store = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix)
        try:
            await store.revoke("revoked", expires_at=later())
            await current(store)
            before = exists_calls(sync_redis)
            answers = [
                await store.is_revoked({"jti": jti}) for jti in ["revoked", "not-revoked"] * 100
            ]
            return answers, exists_calls(sync_redis) - before
        finally:
            await store.aclose()

    answers, asked = run(scenario)
    assert answers == [True, False] * 100
    assert asked == 0


def test_without_a_local_view_every_lookup_asks_redis(
    sync_redis: redis.Redis, redis_prefix: str
) -> None:
    async def scenario() -> tuple[bool, int, int]:
        store = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix, local_view=False)
        try:
            await store.revoke("revoked", expires_at=later())
            before = exists_calls(sync_redis)
            answer = await store.is_revoked({"jti": "revoked"})
            subscribers = dict(await store.client.pubsub_numsub(redis_prefix))
            return answer, exists_calls(sync_redis) - before, subscribers[redis_prefix.encode()]
        finally:
            await store.aclose()

    assert run(scenario) == (True, 1, 0)


def test_the_view_starts_from_what_redis_holds(sync_redis: redis.Redis, redis_prefix: str) -> None:
    """Revocations made before the instance started, and keys other software wrote."""
    sync_redis.set(f"{redis_prefix}written-by-hand", "1", ex=60)
    sync_redis.set(f"{redis_prefix}without-ttl", "1")

    async def scenario() -> dict[str, bool]:
        earlier = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix)
        store = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix)
        try:
            await earlier.revoke("before-start", expires_at=later())
            await current(store)
            return {
                jti: await store.is_revoked({"jti": jti})
                for jti in ["before-start", "written-by-hand", "without-ttl", "never"]
            }
        finally:
            await earlier.aclose()
            await store.aclose()

    assert run(scenario) == {
        "before-start": True,
        "written-by-hand": True,
        "without-ttl": True,
        "never": False,
    }


@pytest.mark.parametrize(
    ("suffix", "glob_match"),
    [
        pytest.param("star*", "star", id="star"),
        pytest.param("what?", "whatz", id="question-mark"),
        pytest.param("[ab]c", "ac", id="brackets"),
        pytest.param("back\\slash", "backslash", id="backslash"),
    ],
)
def test_the_snapshot_reads_only_its_own_prefix(
    sync_redis: redis.Redis, redis_prefix: str, suffix: str, glob_match: str
) -> None:
    """Glob characters in the prefix are matched literally. ``glob_match`` is what the
    prefix would match as a glob; the other key is padded so that, read as one of ours,
    it would say ``other``."""
    prefix = f"{redis_prefix}{suffix}:"
    padding = "x" * (len(suffix) - len(glob_match))
    sync_redis.set(f"{prefix}mine", "1", ex=60)
    sync_redis.set(f"{redis_prefix}{glob_match}:{padding}other", "1", ex=60)

    async def scenario() -> tuple[bool, bool]:
        store = RedisRevocationStore(REDIS_URL, key_prefix=prefix)
        try:
            await current(store)
            mine = await store.is_revoked({"jti": "mine"})
            return mine, await store.is_revoked({"jti": "other"})
        finally:
            await store.aclose()

    assert run(scenario) == (True, False)


def test_the_view_forgets_nothing_before_the_token_expires(redis_prefix: str) -> None:
    now = [time.time()]

    async def scenario() -> list[bool]:
        store = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix, clock=lambda: now[0])
        try:
            await current(store)
            await store.revoke("short", expires_at=math.ceil(now[0]) + 30)
            answers = [await store.is_revoked({"jti": "short"})]
            now[0] += 29
            answers.append(await store.is_revoked({"jti": "short"}))
            now[0] += 2  # past exp: the verifier refuses the token on its own
            answers.append(await store.is_revoked({"jti": "short"}))
            return answers
        finally:
            await store.aclose()

    assert run(scenario) == [True, True, False]


@pytest.mark.parametrize("on_error", ["deny", "allow"])
def test_a_silent_partition_ends_the_view_and_on_error_decides(
    redis_prefix: str, on_error: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Frozen connections: the view stops answering within its staleness bound, lookups fail
    as configured, and a revocation made meanwhile is refused once the view is back."""

    async def scenario() -> dict[str, Any]:
        outcome: dict[str, Any] = {}
        with relay_to(REDIS_URL) as relay:
            store = RedisRevocationStore(
                relay.url,
                key_prefix=redis_prefix,
                on_error=on_error,
                timeout_seconds=0.3,
                max_staleness_seconds=0.4,
            )
            elsewhere = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix)
            try:
                await current(store)
                relay.freeze()
                outcome["view ended after"] = await until(
                    lambda: not store.view_is_current, WAIT_SECONDS
                )
                await elsewhere.revoke("during-partition", expires_at=later())
                started = time.monotonic()
                try:
                    outcome["lookup"] = await store.is_revoked({"jti": "during-partition"})
                except RevocationStoreUnavailableError:
                    outcome["lookup"] = "503"
                outcome["lookup took"] = time.monotonic() - started
                relay.thaw()
                relay.cut()  # the frozen connections are gone; the store reconnects
                await until(lambda: store.view_is_current, WAIT_SECONDS)
                outcome["after"] = await store.is_revoked({"jti": "during-partition"})
            finally:
                await store.aclose()
                await elsewhere.aclose()
        return outcome

    with caplog.at_level(logging.WARNING, logger="jwt_middleware"):
        outcome = run(scenario)
    # Bounded by the staleness bound and the timeout (with a margin for a loaded machine),
    # not by how long the partition lasts.
    assert outcome["view ended after"] < 0.4 + 0.3
    assert outcome["lookup"] == ("503" if on_error == "deny" else False)
    assert outcome["lookup took"] < 0.3 + 0.5
    assert outcome["after"] is True
    assert "revocation view (Redis) lost" in caplog.text
    assert "current again" in caplog.text
    assert "during-partition" not in caplog.text


def test_a_cut_connection_is_resynchronised_before_the_view_answers(redis_prefix: str) -> None:
    """Pub/sub delivers at most once: what was published while the subscriber was gone is
    read from the snapshot, before the view counts as current again."""

    async def scenario() -> tuple[bool, bool]:
        with relay_to(REDIS_URL) as relay:
            store = RedisRevocationStore(relay.url, key_prefix=redis_prefix, timeout_seconds=0.3)
            elsewhere = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix)
            try:
                await current(store)
                relay.freeze()
                await until(lambda: not store.view_is_current, WAIT_SECONDS)
                await elsewhere.revoke("missed-message", expires_at=later())
                relay.thaw()
                relay.cut()
                await until(lambda: store.view_is_current, WAIT_SECONDS)
                seen = await store.is_revoked({"jti": "missed-message"})
                return seen, await store.is_revoked({"jti": "never"})
            finally:
                await store.aclose()
                await elsewhere.aclose()

    assert run(scenario) == (True, False)


def test_a_subscription_the_client_renewed_by_itself_is_resynchronised(
    redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that retries (``redis.asyncio.Redis(...)`` does by default) reconnects a
    pub/sub connection and subscribes again on its own, after a cut or a Sentinel
    failover: a message sent while it was away is lost, so the renewed subscription ends
    the session and the view is read again. Here the message is held by the frozen relay,
    then dropped with the connection; the timeouts are long enough that only the cut ends
    the old connection."""

    async def scenario() -> tuple[bool, bool]:
        with relay_to(REDIS_URL) as relay:
            retrying = redis.asyncio.Redis.from_url(relay.url, retry=Retry(NoBackoff(), 3))
            store = RedisRevocationStore(
                retrying, key_prefix=redis_prefix, timeout_seconds=2, max_staleness_seconds=4
            )
            elsewhere = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix)
            try:
                await current(store)
                relay.freeze()
                await elsewhere.revoke("sent-while-away", expires_at=later())
                relay.cut()
                relay.thaw()
                await until(lambda: "revocation view (Redis) lost" in caplog.text, WAIT_SECONDS)
                await until(lambda: store.view_is_current, WAIT_SECONDS)
                seen = await store.is_revoked({"jti": "sent-while-away"})
                return seen, await store.is_revoked({"jti": "never"})
            finally:
                await store.aclose()
                await retrying.aclose()
                await elsewhere.aclose()

    with caplog.at_level(logging.WARNING, logger="jwt_middleware"):
        assert run(scenario) == (True, False)
    assert "revocation view (Redis) lost (SubscriptionRenewedError)" in caplog.text


def test_malformed_messages_are_ignored_without_their_text(
    sync_redis: redis.Redis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> list[bool]:
        store = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix)
        try:
            await current(store)
            malformed = ["no-deadline\r\nFAKE LOG LINE", "", "12x3 jti", f"{later()} "]
            malformed.append("9" * 400 + " overflowing")  # an int no float can hold
            malformed += ["nan not-a-number", "inf infinite", "1e999 overflowing"]
            for message in malformed:
                sync_redis.publish(redis_prefix, message)
            sync_redis.publish(redis_prefix, f"{later()} good")
            await until(lambda: store.is_revoked({"jti": "good"}), WAIT_SECONDS)
            return [
                store.view_is_current,
                await store.is_revoked({"jti": "jti"}),
                await store.is_revoked({"jti": ""}),
                await store.is_revoked({"jti": "overflowing"}),
                await store.is_revoked({"jti": "not-a-number"}),
                await store.is_revoked({"jti": "infinite"}),
            ]
        finally:
            await store.aclose()

    with caplog.at_level(logging.INFO, logger="jwt_middleware"):
        assert run(scenario) == [True, False, False, False, False, False]
    assert "a malformed message was ignored" in caplog.text
    assert "revocation view (Redis) lost" not in caplog.text  # no message ends the view
    assert "FAKE LOG LINE" not in caplog.text


def test_aclose_unsubscribes(sync_redis: redis.Redis, redis_prefix: str) -> None:
    async def scenario() -> tuple[int, int]:
        store = RedisRevocationStore(REDIS_URL, key_prefix=redis_prefix)
        await current(store)
        subscribed = dict(sync_redis.pubsub_numsub(redis_prefix))[redis_prefix.encode()]
        await store.aclose()
        await asyncio.sleep(0.05)
        gone = dict(sync_redis.pubsub_numsub(redis_prefix))[redis_prefix.encode()]
        return subscribed, gone

    assert run(scenario) == (1, 0)
