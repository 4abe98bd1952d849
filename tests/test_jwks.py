"""JWKSKeys against a real JWK Set served on loopback: keys, caching, failures, middleware.

Keys are generated with ``cryptography``, published as public JWKs with PyJWT's ``to_jwk``,
and tokens are signed with PyJWT directly. Time is a fake clock, so TTLs and refetch
intervals are crossed by advancing it, not by waiting.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any, Protocol

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from jwt_middleware import (
    InvalidTokenError,
    JWTAuthMiddleware,
    JWTSettings,
    KeySource,
    TokenVerifier,
)
from jwt_middleware.jwks import MAX_KEYS_WITHOUT_KID, JWKSKeys
from jwt_middleware.types import BoundKey
from tests.helpers import FakeClock, bearer, mint_token, whoami
from tests.keypairs import (
    EC_P256,
    EC_P384,
    ED25519,
    RSA,
    RSA_1024,
    RSA_ATTACKER,
    RSA_OTHER,
    PrivateKey,
)
from tests.servers import free_port, serve


async def resolve(keys: JWKSKeys, header: dict[str, Any]) -> tuple[BoundKey, ...]:
    """The keys the source offers a token with this header (by its ``alg`` and ``kid``)."""
    return tuple(await keys.keys(header.get("alg"), header.get("kid")))


def jwk_of(key: Any, kid: Any = None, **members: Any) -> dict[str, Any]:
    """The JWK of ``key`` as PyJWT writes it (private keys keep their private members)."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    jwk.update(members)
    return jwk


def public_jwk(key: PrivateKey, kid: Any = None, **members: Any) -> dict[str, Any]:
    return jwk_of(key.public_key(), kid, **members)


def signed(key: Any, algorithm: str = "RS256", kid: str | None = "a", **headers: Any) -> str:
    """A token for ``user-1`` signed by ``key`` with PyJWT, its header carrying ``kid``.

    Each token is unique (``jti``), so the verifier's cache of verified tokens never
    answers for one: every token in these tests reaches the key source.
    """
    if kid is not None:
        headers["kid"] = kid
    return mint_token(secret=key, algorithm=algorithm, headers=headers, jti=uuid.uuid4().hex)


def settings_for(algorithm: str) -> JWTSettings:
    # Unvalidated, so these tests do not depend on how JWTSettings checks key configuration;
    # the verifier only reads the algorithm and claim options from it, as keys are given.
    return JWTSettings.model_construct(algorithm=algorithm)


def public_numbers(key: Any) -> Any:
    return key.public_numbers()


class Run(Protocol):
    def __call__(self, scenario: Callable[[JWKSKeys], Awaitable[None]], **options: Any) -> None: ...


class Endpoint:
    """A JWKS endpoint on loopback whose behaviour a test switches while it runs."""

    def __init__(self, stack: ExitStack) -> None:
        self.document: Any = {"keys": [public_jwk(RSA, "a")]}
        self.status = 200
        self.delay = 0.0
        self.body: bytes | None = None
        self.chunked = False
        self.drip = False
        self.redirect_to: str | None = None
        self.requests = 0
        self._stack = ExitStack()
        stack.callback(self._stack.close)
        app = Starlette(routes=[Route("/jwks.json", self._serve)])
        self.base_url = self._stack.enter_context(serve(app))
        self.url = f"{self.base_url}/jwks.json"

    def publish(self, *jwks: dict[str, Any]) -> None:
        self.document = {"keys": list(jwks)}

    def stop(self) -> None:
        self._stack.close()

    async def _serve(self, request: Request) -> Response:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.redirect_to is not None:
            return RedirectResponse(self.redirect_to)
        body = self.body if self.body is not None else json.dumps(self.document).encode()
        if self.drip:
            return StreamingResponse(_drip(body), media_type="application/json")
        if self.chunked:
            chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
            return StreamingResponse(iter(chunks), status_code=self.status)
        return Response(body, status_code=self.status, media_type="application/json")


async def _drip(body: bytes) -> AsyncIterator[bytes]:
    """Leading whitespace, a byte at a time and well within any read timeout, then the set."""
    for _ in range(20):
        await asyncio.sleep(0.1)
        yield b" "
    yield body


@pytest.fixture
def start_endpoint() -> Iterator[Callable[[], Endpoint]]:
    with ExitStack() as stack:
        yield lambda: Endpoint(stack)


@pytest.fixture
def endpoint(start_endpoint: Callable[[], Endpoint]) -> Endpoint:
    return start_endpoint()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@asynccontextmanager
async def open_keys(url: str, clock: FakeClock, **options: Any) -> AsyncIterator[JWKSKeys]:
    options = {"algorithms": ["RS256"], "timeout_seconds": 2, "clock": clock, **options}
    keys = JWKSKeys(url, **options)
    try:
        yield keys
    finally:
        await keys.aclose()


@pytest.fixture
def run(endpoint: Endpoint, clock: FakeClock) -> Run:
    """Run an async scenario against ``endpoint`` with a fresh JWKSKeys (RS256, 2 s timeout)."""

    def runner(scenario: Callable[[JWKSKeys], Awaitable[None]], **options: Any) -> None:
        async def main() -> None:
            async with open_keys(endpoint.url, clock, **options) as keys:
                await scenario(keys)

        asyncio.run(main())

    return runner


def header(kid: str | None = "a", alg: str = "RS256", **more: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"alg": alg, **more}
    if kid is not None:
        found["kid"] = kid
    return found


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options", "error"),
    [
        pytest.param("ftp://idp.example/jwks", {}, ValueError, id="ftp-url"),
        pytest.param("/jwks.json", {}, ValueError, id="relative-url"),
        pytest.param("https://", {}, ValueError, id="no-host"),
        pytest.param("https://idp.example/j", {"algorithms": []}, ValueError, id="no-algorithm"),
        pytest.param("https://idp.example/j", {"algorithms": "RS256"}, TypeError, id="alg-str"),
        pytest.param("https://idp.example/j", {"algorithms": ["HS256"]}, ValueError, id="hmac"),
        pytest.param(
            "https://idp.example/j", {"algorithms": ["RS256", "HS512"]}, ValueError, id="mixed"
        ),
        pytest.param("https://idp.example/j", {"algorithms": ["none"]}, ValueError, id="none"),
        pytest.param("https://idp.example/j", {"algorithms": ["RS999"]}, ValueError, id="unknown"),
        pytest.param("https://idp.example/j", {"ttl_seconds": 0}, ValueError, id="ttl-zero"),
        pytest.param("https://idp.example/j", {"ttl_seconds": -5}, ValueError, id="ttl-negative"),
        pytest.param("https://idp.example/j", {"ttl_seconds": float("inf")}, ValueError, id="inf"),
        pytest.param("https://idp.example/j", {"ttl_seconds": float("nan")}, ValueError, id="nan"),
        pytest.param("https://idp.example/j", {"ttl_seconds": "300"}, TypeError, id="ttl-str"),
        pytest.param(
            "https://idp.example/j", {"min_refetch_interval_seconds": 0}, ValueError, id="interval"
        ),
        pytest.param("https://idp.example/j", {"timeout_seconds": 0}, ValueError, id="timeout"),
        pytest.param("https://idp.example/j", {"max_response_bytes": 0}, ValueError, id="bytes-0"),
        pytest.param("https://idp.example/j", {"max_response_bytes": 1.5}, TypeError, id="bytes"),
    ],
)
def test_bad_configuration_is_refused_at_construction(
    url: str, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        JWKSKeys(url, **{"algorithms": ["RS256"], **options})


@pytest.mark.parametrize(
    ("url", "warns"),
    [
        pytest.param("http://idp.example/jwks.json", True, id="plain-http"),
        pytest.param("https://idp.example/jwks.json", False, id="https"),
        pytest.param("http://127.0.0.1:8080/jwks.json", False, id="loopback"),
        pytest.param("http://localhost/jwks.json", False, id="localhost"),
    ],
)
def test_plain_http_to_a_remote_host_is_a_warning(
    url: str, warns: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="jwt_middleware")
    JWKSKeys(url, algorithms=["RS256"])
    assert any("plain http" in r.getMessage() for r in caplog.records) is warns


def test_construction_fetches_nothing_and_makes_a_key_source(endpoint: Endpoint) -> None:
    keys = JWKSKeys(endpoint.url, algorithms=["RS256"])
    assert isinstance(keys, KeySource)
    assert endpoint.requests == 0


# --- verifying with published keys ---------------------------------------------------------


@pytest.mark.parametrize(
    ("private", "algorithm", "members"),
    [
        pytest.param(RSA, "RS256", {"alg": "RS256", "use": "sig"}, id="RS256"),
        pytest.param(RSA, "RS512", {}, id="RS512-jwk-without-alg"),
        pytest.param(RSA, "PS256", {}, id="PS256-jwk-without-alg"),
        pytest.param(EC_P256, "ES256", {"alg": "ES256"}, id="ES256"),
        pytest.param(EC_P384, "ES384", {}, id="ES384"),
        pytest.param(ED25519, "EdDSA", {"key_ops": ["verify"]}, id="EdDSA"),
    ],
)
def test_token_signed_with_a_published_key_verifies(
    endpoint: Endpoint,
    clock: FakeClock,
    private: PrivateKey,
    algorithm: str,
    members: dict[str, Any],
) -> None:
    endpoint.publish(public_jwk(RSA_OTHER, "other"), public_jwk(private, "k1", **members))
    token = signed(private, algorithm, kid="k1")

    async def main() -> None:
        async with open_keys(endpoint.url, clock, algorithms=[algorithm]) as keys:
            claims = await TokenVerifier(settings_for(algorithm), keys=keys).verify_async(token)
            assert claims["sub"] == "user-1"
            found = await resolve(keys, jwt.get_unverified_header(token))
            assert len(found) == 1
            # The key as returned decodes the token with PyJWT alone, too.
            assert jwt.decode(token, found[0].key, algorithms=[algorithm])["sub"] == "user-1"

    asyncio.run(main())
    assert endpoint.requests == 1


def test_kid_selects_only_its_own_key(endpoint: Endpoint, run: Run) -> None:
    endpoint.publish(public_jwk(RSA, "a"), public_jwk(RSA_OTHER, "b"))
    verifier_settings = settings_for("RS256")

    async def scenario(keys: JWKSKeys) -> None:
        (key,) = await resolve(keys, header("b"))
        assert public_numbers(key.key) == public_numbers(RSA_OTHER.public_key())
        verifier = TokenVerifier(verifier_settings, keys=keys)
        assert (await verifier.verify_async(signed(RSA_OTHER, kid="b")))["sub"] == "user-1"
        with pytest.raises(InvalidTokenError):
            await verifier.verify_async(signed(RSA_OTHER, kid="a"))  # the right key, wrong kid

    run(scenario)


@pytest.mark.parametrize(
    ("published", "accepted"),
    [
        pytest.param(1, True, id="one-key"),
        pytest.param(MAX_KEYS_WITHOUT_KID, True, id="at-the-limit"),
        pytest.param(MAX_KEYS_WITHOUT_KID + 1, False, id="over-the-limit"),
    ],
)
def test_token_without_kid_tries_every_key_of_a_small_set(
    endpoint: Endpoint, run: Run, published: int, accepted: bool
) -> None:
    others = [public_jwk(RSA, f"a{i}") for i in range(published - 1)]
    endpoint.publish(*others, public_jwk(RSA_OTHER))  # the signing key has no kid either
    token = signed(RSA_OTHER, kid=None)

    async def scenario(keys: JWKSKeys) -> None:
        verifier = TokenVerifier(settings_for("RS256"), keys=keys)
        if accepted:
            assert (await verifier.verify_async(token))["sub"] == "user-1"
            assert len(await resolve(keys, header(None))) == published
        else:
            with pytest.raises(InvalidTokenError):
                await verifier.verify_async(token)

    run(scenario)
    assert endpoint.requests == 1  # a missing kid never asks for a refetch


def test_key_is_offered_only_to_tokens_of_its_algorithm(endpoint: Endpoint, run: Run) -> None:
    endpoint.publish(public_jwk(RSA, "a"), public_jwk(EC_P256, "e"))

    async def scenario(keys: JWKSKeys) -> None:
        assert len(await resolve(keys, header("a", "RS256"))) == 1
        assert len(await resolve(keys, header("e", "ES256"))) == 1
        assert await resolve(keys, header("a", "ES256")) == ()
        assert await resolve(keys, header("e", "RS256")) == ()
        assert await resolve(keys, header("a", "PS256")) == ()  # an algorithm not pinned

    run(scenario, algorithms=["RS256", "ES256"])
    assert endpoint.requests == 1


@pytest.mark.parametrize(
    "token_header",
    [
        pytest.param({"alg": "HS256", "kid": "a"}, id="hmac-alg"),
        pytest.param({"alg": "none", "kid": "a"}, id="alg-none"),
        pytest.param({"kid": "a"}, id="no-alg"),
        pytest.param({"alg": "RS256", "kid": 7}, id="kid-not-a-string"),
        pytest.param({"alg": ["RS256"], "kid": "a"}, id="alg-not-a-string"),
    ],
)
def test_headers_we_would_never_verify_get_no_key_and_no_fetch(
    endpoint: Endpoint, run: Run, token_header: dict[str, Any]
) -> None:
    async def scenario(keys: JWKSKeys) -> None:
        assert await resolve(keys, token_header) == ()

    run(scenario)
    assert endpoint.requests == 0


# --- which published keys are used ---------------------------------------------------------


WARNING, DEBUG = logging.WARNING, logging.DEBUG
UNUSABLE = "not a usable public key"


@pytest.mark.parametrize(
    ("member", "level", "reason"),
    [
        pytest.param(public_jwk(RSA_OTHER, "x", use="enc"), DEBUG, "'use'", id="use-enc"),
        pytest.param(
            public_jwk(RSA_OTHER, "x", key_ops=["encrypt"]),
            DEBUG,
            "'key_ops'",
            id="key-ops-encrypt",
        ),
        pytest.param(
            public_jwk(RSA_OTHER, "x", key_ops="verify"), DEBUG, "'key_ops'", id="key-ops-not-list"
        ),
        pytest.param(public_jwk(RSA_OTHER, "x", alg="RS512"), DEBUG, "'alg'", id="alg-not-pinned"),
        pytest.param(public_jwk(RSA_OTHER, "x", alg="HS256"), DEBUG, "'alg'", id="alg-hmac"),
        pytest.param(public_jwk(EC_P384, "x"), WARNING, UNUSABLE, id="curve-not-pinned"),
        pytest.param(
            public_jwk(EC_P384, "x", alg="ES256"), WARNING, UNUSABLE, id="curve-mismatches-alg"
        ),
        pytest.param(jwk_of(RSA_OTHER, "x"), WARNING, "private key material", id="rsa-private"),
        pytest.param(jwk_of(EC_P256, "x"), WARNING, "private key material", id="ec-private"),
        pytest.param(jwk_of(ED25519, "x"), WARNING, "private key material", id="okp-private"),
        pytest.param(
            {"kty": "oct", "kid": "x", "k": base64.urlsafe_b64encode(b"s" * 32).decode()},
            WARNING,
            "symmetric",
            id="oct-secret",
        ),
        pytest.param(
            {"kty": "oct", "kid": "x", "alg": "RS256", "k": "c2VjcmV0"},
            WARNING,
            "symmetric",
            id="oct-claiming-rs256",
        ),
        pytest.param(public_jwk(RSA_1024, "x"), WARNING, UNUSABLE, id="rsa-1024"),
        pytest.param({"kty": "RSA", "kid": "x", "e": "AQAB"}, WARNING, UNUSABLE, id="no-n"),
        pytest.param(
            {"kty": "RSA", "kid": "x", "n": 12345, "e": "AQAB"}, WARNING, UNUSABLE, id="n-int"
        ),
        pytest.param({"kty": "XYZ", "kid": "x"}, WARNING, UNUSABLE, id="unknown-kty"),
        pytest.param({"kid": "x", "n": "AQAB", "e": "AQAB"}, WARNING, UNUSABLE, id="no-kty"),
        pytest.param(public_jwk(RSA_OTHER, 7), WARNING, "'kid'", id="kid-not-a-string"),
        pytest.param("not an object", WARNING, "not a JSON object", id="not-an-object"),
    ],
)
def test_unusable_jwks_are_ignored_and_the_rest_still_serve(
    endpoint: Endpoint,
    run: Run,
    caplog: pytest.LogCaptureFixture,
    member: Any,
    level: int,
    reason: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="jwt_middleware")
    endpoint.publish(member, public_jwk(RSA, "a"))
    token = signed(RSA_OTHER, kid="x")  # would verify if the ignored key were used

    async def scenario(keys: JWKSKeys) -> None:
        assert await resolve(keys, header("x")) == ()
        assert len(await resolve(keys, header("a"))) == 1
        with pytest.raises(InvalidTokenError):
            await TokenVerifier(settings_for("RS256"), keys=keys).verify_async(token)

    run(scenario, algorithms=["RS256", "ES256"])
    ignored = [r for r in caplog.records if "keys[0] ignored" in r.getMessage()]
    assert len(ignored) == 1
    assert ignored[0].levelno == level
    assert reason in ignored[0].getMessage()


def test_private_key_material_is_never_logged(
    endpoint: Endpoint, run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jwt_middleware")
    endpoint.publish(jwk_of(RSA_OTHER, "leaked"), public_jwk(RSA, "a"))

    async def scenario(keys: JWKSKeys) -> None:
        assert len(await resolve(keys, header("a"))) == 1

    run(scenario)
    messages = [r.getMessage() for r in caplog.records]
    assert any("private key material" in message for message in messages)
    private_exponent = RSAAlgorithm.to_jwk(RSA_OTHER, as_dict=True)["d"]
    assert not any(private_exponent in message for message in messages)


# --- when the endpoint fails ---------------------------------------------------------------


def go_down(endpoint: Endpoint) -> None:
    endpoint.stop()


def answer_slowly(endpoint: Endpoint) -> None:
    endpoint.delay = 1.5  # the scenarios use a 0.5 s timeout


def drip_slowly(endpoint: Endpoint) -> None:
    endpoint.drip = True  # 2 s in all, a byte every 0.1 s: only an overall timeout stops it


def answer(status: int) -> Callable[[Endpoint], None]:
    def breaker(endpoint: Endpoint) -> None:
        endpoint.status = status

    return breaker


def answer_body(body: bytes, *, chunked: bool = False) -> Callable[[Endpoint], None]:
    def breaker(endpoint: Endpoint) -> None:
        endpoint.body, endpoint.chunked = body, chunked

    return breaker


def answer_document(document: Any) -> Callable[[Endpoint], None]:
    def breaker(endpoint: Endpoint) -> None:
        endpoint.document = document

    return breaker


def redirect_elsewhere(endpoint: Endpoint) -> None:
    endpoint.redirect_to = "http://127.0.0.1:9/jwks.json"


OVERSIZED = json.dumps({"keys": [public_jwk(RSA, "a")], "pad": "x" * 70_000}).encode()

FAILURES = [
    pytest.param(go_down, id="down"),
    pytest.param(answer_slowly, id="slower-than-timeout"),
    pytest.param(drip_slowly, id="dripping-slower-than-timeout"),
    pytest.param(answer(500), id="http-500"),
    pytest.param(answer(404), id="http-404"),
    pytest.param(redirect_elsewhere, id="redirect"),
    pytest.param(answer_body(b"<html>not json</html>"), id="garbage"),
    pytest.param(answer_body(b"\xff\xfe\x00garbage"), id="binary-garbage"),
    pytest.param(answer_body(b"[" * 60_000), id="deeply-nested"),
    pytest.param(answer_body(OVERSIZED), id="oversized"),
    pytest.param(answer_body(OVERSIZED, chunked=True), id="oversized-chunked"),
    pytest.param(answer_document([public_jwk(RSA, "a")]), id="list-not-object"),
    pytest.param(answer_document({"keys": {"a": public_jwk(RSA, "a")}}), id="keys-not-list"),
    pytest.param(answer_document({"kys": [public_jwk(RSA, "a")]}), id="no-keys-member"),
    pytest.param(answer_document({"keys": []}), id="empty-set"),
    pytest.param(answer_document({"keys": [jwk_of(RSA, "a")]}), id="nothing-usable"),
]

FAILURE_OPTIONS = {"timeout_seconds": 0.5, "max_response_bytes": 65_536}


@pytest.mark.parametrize("breaker", FAILURES)
def test_failing_endpoint_with_nothing_cached_gives_no_key_and_does_not_raise(
    endpoint: Endpoint,
    run: Run,
    caplog: pytest.LogCaptureFixture,
    breaker: Callable[[Endpoint], None],
) -> None:
    breaker(endpoint)

    async def scenario(keys: JWKSKeys) -> None:
        started = time.monotonic()
        assert await resolve(keys, header("a")) == ()
        assert time.monotonic() - started < 1.2  # the whole fetch is bounded by the timeout
        with pytest.raises(InvalidTokenError):
            await TokenVerifier(settings_for("RS256"), keys=keys).verify_async(signed(RSA))
        await keys.prefetch()
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
            assert await resolve(keys, header("a")) == ()

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
        assert await resolve(keys, header("evil")) == ()

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


# --- caching, refreshing and rate limits ---------------------------------------------------


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

    run(scenario)


def test_failed_fetch_is_retried_only_after_the_interval(
    endpoint: Endpoint, run: Run, clock: FakeClock
) -> None:
    endpoint.status = 500

    async def scenario(keys: JWKSKeys) -> None:
        for _ in range(10):
            assert await resolve(keys, header("a")) == ()
        assert endpoint.requests == 1
        endpoint.status = 200
        clock.advance(29)
        assert await resolve(keys, header("a")) == ()
        clock.advance(1)
        assert len(await resolve(keys, header("a"))) == 1
        assert endpoint.requests == 2

    run(scenario)


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


def test_aclose_during_a_fetch_answers_waiters_with_no_key(endpoint: Endpoint, run: Run) -> None:
    endpoint.delay = 0.5

    async def scenario(keys: JWKSKeys) -> None:
        waiter = asyncio.create_task(resolve(keys, header("a")))
        await asyncio.sleep(0.1)
        await keys.aclose()
        assert await waiter == ()

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


# --- what a token's header cannot do -------------------------------------------------------


def test_hmac_token_naming_an_rsa_key_is_refused(endpoint: Endpoint, run: Run) -> None:
    public_pem = RSA.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Sign HS256 with the published public key as the secret (PyJWT refuses, so by hand).
    signing_input = (
        jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "a"}).encode())
        + b"."
        + jwt.utils.base64url_encode(json.dumps({"sub": "x", "exp": 2**40}).encode())
    )
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()

    async def scenario(keys: JWKSKeys) -> None:
        assert await resolve(keys, jwt.get_unverified_header(forged)) == ()
        for algorithm in ("RS256", "HS256"):
            verifier = TokenVerifier(settings_for(algorithm), keys=keys)
            with pytest.raises(InvalidTokenError):
                await verifier.verify_async(forged)

    run(scenario)


def test_jku_x5u_and_embedded_jwk_in_a_token_are_never_followed(
    endpoint: Endpoint, start_endpoint: Callable[[], Endpoint], run: Run
) -> None:
    attacker = start_endpoint()
    attacker.publish(public_jwk(RSA_ATTACKER, "evil"), public_jwk(RSA_ATTACKER, "a"))
    pointers = {"jku": attacker.url, "x5u": attacker.url, "jwk": public_jwk(RSA_ATTACKER, "evil")}

    async def scenario(keys: JWKSKeys) -> None:
        verifier = TokenVerifier(settings_for("RS256"), keys=keys)
        for kid in ("evil", "a"):
            token = signed(RSA_ATTACKER, kid=kid, **pointers)
            with pytest.raises(InvalidTokenError):
                await verifier.verify_async(token)
        token = signed(RSA, kid="a", **pointers)
        assert (await verifier.verify_async(token))["sub"] == "user-1"

    run(scenario)
    assert attacker.requests == 0
    assert endpoint.requests >= 1


# --- through the middleware, on real servers -----------------------------------------------


def protected_app(keys: JWKSKeys) -> Starlette:
    settings = settings_for("RS256")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await keys.prefetch()
        yield
        await keys.aclose()

    app = Starlette(routes=[Route("/private", whoami)], lifespan=lifespan)
    app.add_middleware(
        JWTAuthMiddleware, settings=settings, verifier=TokenVerifier(settings, keys=keys)
    )
    return app


def get(base_url: str, token: str) -> httpx.Response:
    return httpx.get(f"{base_url}/private", headers=bearer(token))


@pytest.fixture
def app_url(endpoint: Endpoint, clock: FakeClock) -> Iterator[str]:
    keys = JWKSKeys(endpoint.url, algorithms=["RS256"], timeout_seconds=0.5, clock=clock)
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
    clock.advance(30)
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
        assert get(app_url, token).status_code == 401
        app = Starlette(routes=[Route("/jwks.json", lambda _: Response(jwks_body()))])
        stack.enter_context(serve(app, port=port))
        assert get(app_url, token).status_code == 401  # retried only after the interval
        clock.advance(30)
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


# --- untrusted documents -------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
TEMPLATES = [
    public_jwk(RSA, "a"),
    public_jwk(EC_P256, "e"),
    public_jwk(ED25519, "d"),
    jwk_of(EC_P256, "p"),
    {"kty": "oct", "k": "c2VjcmV0"},
]


@st.composite
def jwk_like(draw: st.DrawFn) -> Any:
    """A real JWK with a few members replaced or added by arbitrary JSON."""
    member = dict(draw(st.sampled_from(TEMPLATES)))
    names = st.sampled_from(["kty", "kid", "alg", "use", "key_ops", "n", "e", "crv", "x", "y", "d"])
    for name in draw(st.lists(names, max_size=3)):
        member[name] = draw(JSON | st.sampled_from(["RSA", "EC", "OKP", "oct", "RS256", "ES256"]))
    return member


DOCUMENTS = (
    st.builds(lambda keys: {"keys": keys}, st.lists(jwk_like() | JSON, max_size=4))
    | JSON
    | st.binary(max_size=64)
)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=DOCUMENTS, kid=st.sampled_from(["a", "e", "d", "p", None]))
def test_any_response_yields_only_trusted_public_keys_and_never_raises(
    document: Any, kid: str | None
) -> None:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=body))

    async def main() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            keys = JWKSKeys(
                "https://idp.example/jwks.json",
                algorithms=["RS256", "ES256", "EdDSA"],
                client=client,
                clock=FakeClock(1000.0),
            )
            for alg in ("RS256", "ES256", "EdDSA"):
                for found in await resolve(keys, header(kid, alg)):
                    assert isinstance(found, BoundKey)
                    assert found.algorithm == alg
                    assert isinstance(
                        found.key,
                        rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
                    )
            await keys.aclose()

    asyncio.run(main())
