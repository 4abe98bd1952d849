"""JWKS keys through the middleware on real uvicorn servers: published keys accepted, others
refused, rotation followed, and an endpoint that is down at start-up or later.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from jwt_middleware import InvalidTokenError, JWTAuthMiddleware, JWTSettings, TokenVerifier
from jwt_middleware.keys.jwks import JWKSKeys
from tests.helpers import FakeClock, bearer, mint_token, whoami
from tests.keypairs import RSA, RSA_OTHER
from tests.keys.endpoint import FAILURES, Endpoint, jwks_keys, public_jwk, settings_for, signed
from tests.servers import free_port, serve


def protected_app(keys: JWKSKeys) -> Starlette:
    """The middleware fetches the keys at start-up and closes them at shutdown itself."""
    settings = settings_for("RS256")
    app = Starlette(routes=[Route("/private", whoami)])
    app.add_middleware(
        JWTAuthMiddleware, settings=settings, verifier=TokenVerifier(settings, keys=keys)
    )
    return app


def get(base_url: str, token: str) -> httpx.Response:
    return httpx.get(f"{base_url}/private", headers=bearer(token))


@pytest.fixture
def app_url(endpoint: Endpoint, clock: FakeClock) -> Iterator[str]:
    # 2 s, like the other scenarios: the breakers used here fail fast (refused, garbage,
    # 500), and 0.5 s was once too short for the start-up fetch on a loaded CI machine.
    keys = jwks_keys(endpoint.url, timeout_seconds=2, clock=clock)
    with serve(protected_app(keys)) as base_url:
        yield base_url


def test_middleware_accepts_published_keys_and_refuses_others(
    endpoint: Endpoint, app_url: str
) -> None:
    reply = get(app_url, signed(RSA, kid="a"))
    assert (reply.status_code, reply.json()["user_id"]) == (200, "user-1")
    assert get(app_url, signed(RSA, kid=None)).status_code == 200  # one key: kid optional
    for token in (
        signed(RSA_OTHER, kid="unknown"),
        signed(RSA_OTHER, kid="a"),
        signed(RSA_OTHER, kid=None),
    ):
        reply = get(app_url, token)
        assert reply.status_code == 401
        assert 'error="invalid_token"' in reply.headers["www-authenticate"]
    assert get(app_url, mint_token(headers={"kid": "a"})).status_code == 401  # HS256
    assert endpoint.requests == 1  # prefetched at start-up; no refetch within the interval


@pytest.mark.parametrize(
    "breaker", [p for p in FAILURES if p.id in {"down", "garbage", "http-500"}]
)
def test_middleware_keeps_accepting_known_keys_when_the_endpoint_fails(
    endpoint: Endpoint, app_url: str, clock: FakeClock, breaker: Callable[[Endpoint], None]
) -> None:
    token = signed(RSA, kid="a")
    assert get(app_url, token).status_code == 200
    breaker(endpoint)
    for _ in range(3):
        clock.advance(301)
        for _ in range(3):
            assert get(app_url, token).status_code == 200
    assert get(app_url, signed(RSA_OTHER, kid="b")).status_code == 401


def test_middleware_follows_key_rotation(
    endpoint: Endpoint, app_url: str, clock: FakeClock
) -> None:
    assert get(app_url, signed(RSA, kid="a")).status_code == 200
    endpoint.publish(public_jwk(RSA_OTHER, "b"))
    assert get(app_url, signed(RSA_OTHER, kid="b")).status_code == 401  # within the interval
    clock.advance(5)
    assert get(app_url, signed(RSA_OTHER, kid="b")).status_code == 200
    assert get(app_url, signed(RSA, kid="a")).status_code == 401  # withdrawn
    assert endpoint.requests == 2


def test_middleware_starts_and_recovers_when_the_endpoint_is_down_at_start_up(
    clock: FakeClock,
) -> None:
    with ExitStack() as stack:
        port = free_port()
        url = f"http://127.0.0.1:{port}/jwks.json"
        keys = JWKSKeys(url, algorithms=["RS256"], clock=clock)
        app_url = stack.enter_context(serve(protected_app(keys)))
        token = signed(RSA, kid="a")
        # No key set at all: the token may be valid, so 503 with Retry-After, not 401.
        reply = get(app_url, token)
        assert (reply.status_code, reply.headers["retry-after"]) == (503, "5")
        app = Starlette(routes=[Route("/jwks.json", lambda _: Response(jwks_body()))])
        stack.enter_context(serve(app, port=port))
        assert get(app_url, token).status_code == 503  # retried only after the interval
        clock.advance(5)
        assert get(app_url, token).status_code == 200


def test_settings_with_a_jwks_url_alone_verify_through_the_endpoint(endpoint: Endpoint) -> None:
    settings = JWTSettings(algorithm="RS256", jwks_url=endpoint.url)

    async def main() -> None:
        verifier = TokenVerifier(settings)  # no keys given: the JWKS URL is the key source
        await verifier.prefetch()
        assert endpoint.requests == 1
        assert (await verifier.verify_async(signed(RSA)))["sub"] == "user-1"
        with pytest.raises(InvalidTokenError):
            await verifier.verify_async(signed(RSA_OTHER))
        await verifier.aclose()

    asyncio.run(main())


def jwks_body() -> bytes:
    return json.dumps({"keys": [public_jwk(RSA, "a")]}).encode()
