"""An endpoint that is down, slow, wrong or hostile: no key and no exception while nothing is
cached, the keys it had while something is, bounded time, and logs that name it safely.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from jwt_middleware import InvalidTokenError, TokenVerifier
from jwt_middleware.errors import KeysUnavailableError
from jwt_middleware.keys.jwks import JWKSKeys
from tests.helpers import FakeClock
from tests.keypairs import RSA, RSA_ATTACKER, RSA_OTHER
from tests.keys.endpoint import (
    FAILURE_OPTIONS,
    FAILURES,
    Endpoint,
    Run,
    header,
    open_keys,
    public_jwk,
    resolve,
    settings_for,
    signed,
)


@pytest.mark.parametrize("breaker", FAILURES)
def test_failing_endpoint_with_nothing_cached_is_unavailable_not_invalid(
    endpoint: Endpoint,
    run: Run,
    caplog: pytest.LogCaptureFixture,
    breaker: Callable[[Endpoint], None],
) -> None:
    # No key set was ever fetched: the token may be perfectly valid, so the answer is
    # "try again" (503), never "bad token" (401), which would make clients discard it.
    breaker(endpoint)

    async def scenario(keys: JWKSKeys) -> None:
        started = time.monotonic()
        with pytest.raises(KeysUnavailableError):
            await resolve(keys, header("a"))
        assert time.monotonic() - started < 1.2  # the whole fetch is bounded by the timeout
        with pytest.raises(KeysUnavailableError):
            await TokenVerifier(settings_for("RS256"), keys=keys).verify_async(signed(RSA))
        await keys.prefetch()  # never raises
        assert keys.has_keys is False

    run(scenario, **FAILURE_OPTIONS)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("JWKS fetch from" in r.getMessage() for r in warnings)


@pytest.mark.parametrize("breaker", FAILURES)
def test_failing_endpoint_keeps_serving_the_keys_it_had(
    endpoint: Endpoint, run: Run, clock: FakeClock, breaker: Callable[[Endpoint], None]
) -> None:
    async def scenario(keys: JWKSKeys) -> None:
        await keys.prefetch()
        assert keys.has_keys is True
        breaker(endpoint)
        clock.advance(301)  # past the TTL
        verifier = TokenVerifier(settings_for("RS256"), keys=keys)
        assert (await verifier.verify_async(signed(RSA)))["sub"] == "user-1"
        await keys.prefetch()
        assert keys.has_keys is True  # the refresh failed; the old keys remain
        assert (await verifier.verify_async(signed(RSA)))["sub"] == "user-1"
        with pytest.raises(InvalidTokenError):
            await verifier.verify_async(signed(RSA_OTHER, kid="b"))

    run(scenario, **FAILURE_OPTIONS)


def test_warnings_name_the_endpoint_without_credentials_or_query(
    endpoint: Endpoint, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.status = 503
    host = endpoint.base_url.removeprefix("http://")
    url = f"http://alice:hunter2@{host}/jwks.json?api_key=s3cret"

    async def main() -> None:
        async with open_keys(url, clock) as keys:
            with pytest.raises(KeysUnavailableError):
                await resolve(keys, header("a"))

    asyncio.run(main())
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"http://{host}/jwks.json" in m and "503" in m for m in messages)
    assert not any("hunter2" in m or "s3cret" in m or "alice" in m for m in messages)


def test_redirects_are_not_followed(
    endpoint: Endpoint, start_endpoint: Callable[[], Endpoint], run: Run
) -> None:
    elsewhere = start_endpoint()
    elsewhere.publish(public_jwk(RSA_ATTACKER, "evil"))
    endpoint.redirect_to = elsewhere.url

    async def scenario(keys: JWKSKeys) -> None:
        with pytest.raises(KeysUnavailableError):  # the redirect is no key set
            await resolve(keys, header("evil"))

    run(scenario)
    assert (endpoint.requests, elsewhere.requests) == (1, 0)


class UnreadableStream(httpx.AsyncByteStream):
    """A body that must not be read: its declared length already disqualifies it."""

    read = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        UnreadableStream.read = True
        yield b"{}"


def test_declared_oversized_body_is_refused_unread(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Length": "10000000", "Content-Type": "application/json"}
        return httpx.Response(200, headers=headers, stream=UnreadableStream())

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            keys = JWKSKeys(
                "https://idp.example/jwks.json", algorithms=["RS256"], client=client, clock=clock
            )
            await keys.prefetch()
            assert keys.has_keys is False

    asyncio.run(main())
    assert UnreadableStream.read is False
