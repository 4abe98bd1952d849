"""Caching, refreshing and rate limits: one fetch per TTL, refetches for unknown kids at most
once per interval, one shared fetch for concurrent callers, and clean closing.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from jwt_middleware import InvalidTokenError, TokenVerifier
from jwt_middleware.errors import KeysUnavailableError
from jwt_middleware.keys.jwks import JWKSKeys
from tests.helpers import FakeClock
from tests.keypairs import RSA, RSA_OTHER
from tests.keys.endpoint import Endpoint, Run, header, public_jwk, resolve, settings_for, signed


def test_key_set_is_cached_for_the_ttl_then_refreshed_once(
    endpoint: Endpoint, run: Run, clock: FakeClock
) -> None:
    async def scenario(keys: JWKSKeys) -> None:
        for _ in range(20):
            assert len(await resolve(keys, header("a"))) == 1
        clock.advance(299)
        assert len(await resolve(keys, header("a"))) == 1
        assert endpoint.requests == 1
        clock.advance(2)
        for _ in range(20):
            assert len(await resolve(keys, header("a"))) == 1
        await keys.prefetch()  # waits for the background refresh in flight
        assert endpoint.requests == 2

    run(scenario)


def test_expired_set_is_refreshed_in_the_background(
    endpoint: Endpoint, run: Run, clock: FakeClock
) -> None:
    async def scenario(keys: JWKSKeys) -> None:
        await keys.prefetch()
        assert keys.has_keys is True
        endpoint.delay = 0.5
        endpoint.publish(public_jwk(RSA_OTHER, "b"))  # rotated: "a" withdrawn
        clock.advance(301)
        started = time.monotonic()
        assert len(await resolve(keys, header("a"))) == 1  # answered from the cache
        assert time.monotonic() - started < 0.4
        await keys.prefetch()
        assert await resolve(keys, header("a")) == ()  # withdrawn keys stop working
        assert len(await resolve(keys, header("b"))) == 1
        assert endpoint.requests == 2

    run(scenario)


def test_rotation_new_kid_is_accepted_after_a_refetch(
    endpoint: Endpoint, run: Run, clock: FakeClock
) -> None:
    async def scenario(keys: JWKSKeys) -> None:
        verifier = TokenVerifier(settings_for("RS256"), keys=keys)
        assert (await verifier.verify_async(signed(RSA, kid="a")))["sub"] == "user-1"
        endpoint.publish(public_jwk(RSA, "a"), public_jwk(RSA_OTHER, "b"))
        # Just after a fetch, an unknown kid may not trigger another one...
        with pytest.raises(InvalidTokenError):
            await verifier.verify_async(signed(RSA_OTHER, kid="b"))
        assert endpoint.requests == 1
        # ...but once the interval has passed it does, and the new key is found.
        clock.advance(30)
        assert (await verifier.verify_async(signed(RSA_OTHER, kid="b")))["sub"] == "user-1"
        assert (await verifier.verify_async(signed(RSA, kid="a")))["sub"] == "user-1"
        assert endpoint.requests == 2

    run(scenario)


def test_unknown_kid_spray_refetches_at_most_once_per_interval(
    endpoint: Endpoint, run: Run, clock: FakeClock
) -> None:
    async def scenario(keys: JWKSKeys) -> None:
        await keys.prefetch()
        assert keys.has_keys is True
        for round_number in range(1, 4):
            clock.advance(30)
            for _ in range(100):
                assert await resolve(keys, header(uuid.uuid4().hex)) == ()
                clock.advance(0.1)
            assert endpoint.requests == 1 + round_number
        assert len(await resolve(keys, header("a"))) == 1

    run(scenario, min_refetch_seconds=30)


def test_the_default_interval_picks_up_a_new_key_within_seconds(
    endpoint: Endpoint, run: Run, clock: FakeClock
) -> None:
    async def scenario(keys: JWKSKeys) -> None:
        await keys.prefetch()
        endpoint.publish(public_jwk(RSA, "a"), public_jwk(RSA_OTHER, "b"))
        clock.advance(1)
        assert await resolve(keys, header("b")) == ()  # too soon after the last fetch
        clock.advance(4)  # the default interval: 5 s
        assert len(await resolve(keys, header("b"))) == 1
        assert endpoint.requests == 2

    run(scenario)


def test_failed_fetch_is_retried_only_after_the_interval(
    endpoint: Endpoint, run: Run, clock: FakeClock
) -> None:
    endpoint.status = 500

    async def scenario(keys: JWKSKeys) -> None:
        for _ in range(10):
            with pytest.raises(KeysUnavailableError):
                await resolve(keys, header("a"))
        assert endpoint.requests == 1
        endpoint.status = 200
        clock.advance(29)
        with pytest.raises(KeysUnavailableError):
            await resolve(keys, header("a"))
        clock.advance(1)
        assert len(await resolve(keys, header("a"))) == 1
        assert endpoint.requests == 2

    run(scenario, min_refetch_seconds=30)


def test_concurrent_requests_share_one_fetch(endpoint: Endpoint, run: Run) -> None:
    endpoint.delay = 0.3

    async def scenario(keys: JWKSKeys) -> None:
        results = await asyncio.gather(*(resolve(keys, header("a")) for _ in range(50)))
        assert all(len(found) == 1 for found in results)

    run(scenario)
    assert endpoint.requests == 1


def test_concurrent_unknown_kids_share_one_refetch(
    endpoint: Endpoint, run: Run, clock: FakeClock
) -> None:
    async def scenario(keys: JWKSKeys) -> None:
        await keys.prefetch()
        endpoint.delay = 0.3
        endpoint.publish(public_jwk(RSA_OTHER, "b"))
        clock.advance(30)
        kids = ["b"] * 25 + [uuid.uuid4().hex for _ in range(25)]
        results = await asyncio.gather(*(resolve(keys, header(kid)) for kid in kids))
        assert [len(found) for found in results] == [1] * 25 + [0] * 25

    run(scenario)
    assert endpoint.requests == 2


def test_a_caller_giving_up_does_not_cancel_the_shared_fetch(endpoint: Endpoint, run: Run) -> None:
    endpoint.delay = 0.3

    async def scenario(keys: JWKSKeys) -> None:
        impatient = asyncio.create_task(resolve(keys, header("a")))
        patient = asyncio.create_task(resolve(keys, header("a")))
        await asyncio.sleep(0.1)
        impatient.cancel()
        assert len(await patient) == 1
        assert impatient.cancelled()

    run(scenario)
    assert endpoint.requests == 1


def test_aclose_during_a_fetch_answers_waiters_unavailable(endpoint: Endpoint, run: Run) -> None:
    endpoint.delay = 0.5

    async def scenario(keys: JWKSKeys) -> None:
        waiter = asyncio.create_task(resolve(keys, header("a")))
        await asyncio.sleep(0.1)
        await keys.aclose()
        with pytest.raises(KeysUnavailableError):
            await waiter

    run(scenario)


def test_aclose_leaves_a_provided_client_open(endpoint: Endpoint, clock: FakeClock) -> None:
    async def main() -> None:
        async with httpx.AsyncClient() as client:
            keys = JWKSKeys(endpoint.url, algorithms=["RS256"], client=client, clock=clock)
            await keys.prefetch()
            assert keys.has_keys is True
            await keys.aclose()
            assert not client.is_closed
            assert (await client.get(endpoint.url)).status_code == 200

    asyncio.run(main())


def test_prefetch_fetches_even_within_the_interval(endpoint: Endpoint, run: Run) -> None:
    async def scenario(keys: JWKSKeys) -> None:
        await keys.prefetch()
        assert keys.has_keys is True
        endpoint.publish(public_jwk(RSA_OTHER, "b"))
        await keys.prefetch()
        assert keys.has_keys is True
        assert len(await resolve(keys, header("b"))) == 1

    run(scenario)
    assert endpoint.requests == 2
