"""Opaque tokens by RFC 7662 introspection, against an endpoint in memory: what an answer
must be to count (hostile ones included), the checks an active answer goes through as a
JWT's claims would, which tokens go to the endpoint, how the client authenticates, what is
remembered and for how long, one call for concurrent first sights, and the settings.
The same against a real provider: ``tests/oidc/test_introspection_provider.py``."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from jwt_middleware import ConfigurationError, InvalidTokenError, JWTAuthMiddleware, JWTSettings
from jwt_middleware.errors import IntrospectionUnavailableError
from jwt_middleware.refusals import Reason
from jwt_middleware.revocation.memory import InMemoryRevocationStore
from jwt_middleware.verification.introspection_answers import (
    REFUSAL_CACHE_SECONDS,
    active_answer,
    introspection_jti,
)
from tests.helpers import SECRET, FakeClock, bearer, mint_token
from tests.introspection import (
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    OPAQUE,
    FakeEndpoint,
    active,
    introspected_app,
    introspection_settings,
    introspector,
)

# --- what an answer must be ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"active": true, "sub": "a"}', {"active": True, "sub": "a"}),
        (b'{"active": false}', None),
        (b'{"active": false, "sub": "a"}', None),
    ],
    ids=["active", "inactive", "inactive-with-members"],
)
def test_an_answer_with_a_boolean_active_counts(body: bytes, expected: Any) -> None:
    assert active_answer(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>login</html>",
        b'{"active": true',
        b"\xff\xfe",
        b"[true]",
        b'"active"',
        b"{}",
        b'{"active": "true"}',
        b'{"active": 1}',
        b'{"active": null}',
        b'{"active": "false"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=[
        "empty",
        "html",
        "cut-short",
        "not-utf8",
        "array",
        "string",
        "no-active",
        "active-string-true",
        "active-one",
        "active-null",
        "active-string-false",
        "nested-too-deep",
    ],
)
def test_anything_else_is_no_answer(body: bytes) -> None:
    with pytest.raises(IntrospectionUnavailableError):
        active_answer(body)


@given(st.binary(max_size=200))
def test_no_bytes_make_an_active_answer_without_a_true_active(body: bytes) -> None:
    try:
        answer = active_answer(body)
    except IntrospectionUnavailableError:
        return
    assert answer is None or answer["active"] is True


# --- an active answer, checked as a JWT's claims ------------------------------------------


@pytest.mark.parametrize(
    ("answer", "status", "user"),
    [
        (active(), 200, "user-1"),
        (active(sub=None) | {"client_id": "service"}, 401, None),
        ({k: v for k, v in active(client_id="service").items() if k != "sub"}, 200, "service"),
        (active(aud=[API, "https://other.test"]), 200, "user-1"),
        (active(aud="https://other.test"), 401, None),
        ({k: v for k, v in active().items() if k != "aud"}, 401, None),
        (active(iss="https://evil.test"), 401, None),
        ({k: v for k, v in active().items() if k != "iss"}, 401, None),
        (active(exp=int(time.time()) - 3600), 401, None),
        ({k: v for k, v in active().items() if k != "exp"}, 401, None),
        (active(exp="soon"), 401, None),
        (active(nbf=int(time.time()) + 3600), 401, None),
        (active(cnf={"jkt": "thumbprint"}), 401, None),
        (active(token_type="refresh_token"), 401, None),
        (active(token_type="DPoP"), 401, None),
        (active(token_use="refresh_token"), 401, None),
        (active(token_type="bearer"), 200, "user-1"),
        (active(scope=["read"]), 200, "user-1"),
    ],
    ids=[
        "active",
        "sub-null",
        "client-credentials-sub-from-client-id",
        "aud-list",
        "aud-other",
        "aud-missing",
        "iss-other",
        "iss-missing",
        "expired",
        "exp-missing",
        "exp-string",
        "not-yet-valid",
        "bound-cnf",
        "refresh-token",
        "dpop-token",
        "hydra-refresh-token",
        "token-type-lower-case",
        "scope-as-list",
    ],
)
def test_an_active_answer_goes_through_the_checks_of_a_jwt(
    answer: dict[str, Any], status: int, user: str | None
) -> None:
    app, _ = introspected_app(FakeEndpoint({OPAQUE: answer}))
    with TestClient(app) as client:
        response = client.get("/private", headers=bearer(OPAQUE))
    assert response.status_code == status
    if user is not None:
        assert response.json()["user_id"] == user
    else:
        assert response.headers["www-authenticate"].startswith('Bearer realm="api", error=')


def test_scopes_and_claims_reach_the_request_and_the_policy() -> None:
    app, _ = introspected_app(
        FakeEndpoint({OPAQUE: active(scope="read write")}),
        scopes={"/private": ["admin"]},
    )
    with TestClient(app) as client:
        refused = client.get("/private", headers=bearer(OPAQUE))
    assert refused.status_code == 403
    app, _ = introspected_app(
        FakeEndpoint({OPAQUE: active(scope="read write")}), scopes={"/private": ["write"]}
    )
    with TestClient(app) as client:
        allowed = client.get("/private", headers=bearer(OPAQUE))
    assert allowed.status_code == 200
    assert allowed.json()["scopes"] == ["authenticated", "read", "write"]


def test_a_bound_answer_passes_with_accept_bound_tokens_as_bearer() -> None:
    settings = introspection_settings(accept_bound_tokens_as_bearer=True)
    app, _ = introspected_app(FakeEndpoint({OPAQUE: active(cnf={"jkt": "x"})}), settings)
    with TestClient(app) as client:
        assert client.get("/private", headers=bearer(OPAQUE)).status_code == 200


@pytest.mark.parametrize(
    ("allow_nonce", "status"),
    [pytest.param(False, 401, id="nonce-refused"), pytest.param(True, 200, id="nonce-allowed")],
)
def test_an_answer_with_a_nonce_follows_the_setting_a_jwt_follows(
    allow_nonce: bool, status: int
) -> None:
    """One set of claim checks for both kinds: JWT_ALLOW_NONCE_IN_ACCESS_TOKENS applies to
    an introspection answer as to a JWT's payload."""
    settings = introspection_settings(allow_nonce_in_access_tokens=allow_nonce)
    app, _ = introspected_app(FakeEndpoint({OPAQUE: active(nonce="n-1")}), settings)
    with TestClient(app) as client:
        assert client.get("/private", headers=bearer(OPAQUE)).status_code == status


# --- the endpoint down ------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        (500, b"oops"),
        (502, b""),
        (401, b'{"error": "invalid_client"}'),
        (302, b""),
        b'{"active": "true", "sub": "user-1"}',
        b"not json",
        b'{"active": true, "x": "' + b"a" * 70_000 + b'"}',
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
    ids=[
        "500",
        "502",
        "401-bad-client",
        "redirect",
        "active-string",
        "not-json",
        "huge",
        "connection-refused",
        "timeout",
    ],
)
def test_no_answer_is_503_with_retry_after_never_401(reply: Any) -> None:
    app, _ = introspected_app(FakeEndpoint({OPAQUE: reply}))
    with TestClient(app) as client:
        response = client.get("/private", headers=bearer(OPAQUE))
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert "www-authenticate" not in response.headers


def test_a_slow_endpoint_is_503_after_the_timeout() -> None:
    settings = introspection_settings(introspection_timeout_seconds=0.05)
    app, _ = introspected_app(FakeEndpoint({OPAQUE: active()}, delay_seconds=1.0), settings)
    started = time.monotonic()
    with TestClient(app) as client:
        response = client.get("/private", headers=bearer(OPAQUE))
    assert response.status_code == 503
    assert time.monotonic() - started < 0.9


def test_a_failed_call_is_not_remembered() -> None:
    endpoint = FakeEndpoint({OPAQUE: (503, b"")})
    app, checker = introspected_app(endpoint)
    with TestClient(app) as client:
        assert client.get("/private", headers=bearer(OPAQUE)).status_code == 503
        endpoint.replies[OPAQUE] = active()
        assert client.get("/private", headers=bearer(OPAQUE)).status_code == 200
    assert checker.calls == 2


@pytest.mark.parametrize(
    ("reply", "line"),
    [
        ({"active": False}, "refused: reason=inactive"),
        (active(token_type="refresh_token"), "refused: reason=inactive"),
        ((500, b""), "refused: reason=introspection_unavailable"),
        (b'{"active": "true"}', "refused: reason=introspection_unavailable"),
    ],
    ids=["inactive", "refresh-token", "http-error", "malformed-answer"],
)
def test_a_refusal_is_logged_with_its_reason_never_the_token(
    reply: Any, line: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = introspected_app(FakeEndpoint({OPAQUE: reply}))
    with caplog.at_level(logging.INFO, logger="jwt_middleware"), TestClient(app) as client:
        client.get("/private", headers=bearer(OPAQUE))
    lines = [r.getMessage() for r in caplog.records if r.name == "jwt_middleware.refusals"]
    assert lines == [line]
    assert all(OPAQUE not in r.getMessage() for r in caplog.records)


# --- which tokens go to the endpoint ------------------------------------------------------


@pytest.mark.parametrize(
    ("all_tokens", "calls"),
    [(False, 0), (True, 1)],
    ids=["jwt-verified-locally", "jwt-introspected-with-introspect-all-tokens"],
)
def test_a_jwt_is_verified_locally_unless_every_token_is_introspected(
    all_tokens: bool, calls: int
) -> None:
    token = mint_token(iss=ISSUER, aud=API)
    endpoint = FakeEndpoint({token: active(sub="from-the-endpoint")})
    settings = introspection_settings(introspect_all_tokens=all_tokens)
    app, checker = introspected_app(endpoint, settings)
    with TestClient(app) as client:
        response = client.get("/private", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["user_id"] == ("from-the-endpoint" if all_tokens else "user-1")
    assert checker.calls == calls


@pytest.mark.parametrize(
    ("token", "status"),
    [("abc.def", 200), ("a..b", 200), ("a.b.c.d", 200), ("bad token!", 400)],
    ids=["one-dot", "empty-part", "four-parts", "not-b64token"],
)
def test_what_is_not_a_jwt_goes_to_the_endpoint(token: str, status: int) -> None:
    app, _ = introspected_app(FakeEndpoint({token: active()}))
    with TestClient(app) as client:
        response = client.get("/private", headers=bearer(token))
    assert response.status_code == status


def test_a_token_longer_than_the_limit_is_refused_unsent() -> None:
    token = "a" * 9000
    app, checker = introspected_app(FakeEndpoint({token: active()}))
    with TestClient(app) as client:
        assert client.get("/private", headers=bearer(token)).status_code == 401
    assert checker.calls == 0


# --- how the client authenticates ---------------------------------------------------------


def test_client_secret_basic_is_the_default() -> None:
    endpoint = FakeEndpoint({OPAQUE: active()})
    asyncio.run(introspector(endpoint).authenticate(OPAQUE))
    form, headers = endpoint.requests[0]
    assert form == {"token": OPAQUE, "token_type_hint": "access_token"}
    pair = base64.b64decode(headers["authorization"].removeprefix("Basic ")).decode()
    assert pair == f"{CLIENT_ID}:{CLIENT_SECRET}"


def test_client_secret_basic_form_encodes_the_pair() -> None:
    endpoint = FakeEndpoint({OPAQUE: active()})
    settings = introspection_settings(
        introspection_client_id="a:b c", introspection_client_secret="s&t"
    )
    asyncio.run(introspector(endpoint, settings).authenticate(OPAQUE))
    pair = base64.b64decode(endpoint.requests[0][1]["authorization"].removeprefix("Basic "))
    assert pair == b"a%3Ab+c:s%26t"


def test_client_secret_post_sends_the_secret_in_the_form() -> None:
    endpoint = FakeEndpoint({OPAQUE: active()})
    settings = introspection_settings(introspection_auth_method="client_secret_post")
    asyncio.run(introspector(endpoint, settings).authenticate(OPAQUE))
    form, headers = endpoint.requests[0]
    assert form["client_id"] == CLIENT_ID
    assert form["client_secret"] == CLIENT_SECRET
    assert "authorization" not in headers


def test_private_key_jwt_signs_a_fresh_assertion_per_call() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings = introspection_settings(
        introspection_auth_method="private_key_jwt",
        introspection_client_secret=None,
        introspection_private_key=pem,
        introspection_key_id="client-key-1",
    )
    endpoint = FakeEndpoint({OPAQUE: active(), "other-token": active()})
    checker = introspector(endpoint, settings)

    async def twice() -> None:
        await checker.authenticate(OPAQUE)
        await checker.authenticate("other-token")

    asyncio.run(twice())
    assertions = [form["client_assertion"] for form, _ in endpoint.requests]
    assert len(set(assertions)) == 2
    for form, headers in endpoint.requests:
        assert "authorization" not in headers
        assert form["client_id"] == CLIENT_ID
        assert form["client_assertion_type"].endswith(":client-assertion-type:jwt-bearer")
        assert jwt.get_unverified_header(form["client_assertion"])["kid"] == "client-key-1"
        claims = jwt.decode(
            form["client_assertion"], key.public_key(), algorithms=["ES256"], audience=ISSUER
        )
        assert claims["iss"] == claims["sub"] == CLIENT_ID
        assert claims["exp"] - claims["iat"] == 60


# --- what is remembered, and for how long ---------------------------------------------------


def test_an_active_answer_is_remembered_at_most_the_cache_seconds() -> None:
    clock = FakeClock(time.time())
    endpoint = FakeEndpoint({OPAQUE: active(exp=int(clock.now) + 3600)})
    settings = introspection_settings(introspection_cache_seconds=30)
    checker = introspector(endpoint, settings, clock=clock)
    first = asyncio.run(checker.authenticate(OPAQUE))
    clock.advance(29)
    assert checker.authenticate_now(OPAQUE) is first
    clock.advance(1)
    assert checker.authenticate_now(OPAQUE) is None
    assert checker.calls == 1


def test_an_active_answer_is_never_remembered_past_its_exp() -> None:
    clock = FakeClock(time.time())
    endpoint = FakeEndpoint({OPAQUE: active(exp=int(clock.now) + 10)})
    checker = introspector(endpoint, introspection_settings(), clock=clock)
    asyncio.run(checker.authenticate(OPAQUE))
    clock.advance(9)
    assert checker.authenticate_now(OPAQUE) is not None
    clock.advance(1)
    assert checker.authenticate_now(OPAQUE) is None


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"active": False}, Reason.INACTIVE),
        (active(aud="https://other.test"), Reason.AUDIENCE_MISMATCH),
    ],
    ids=["inactive", "refused-by-the-checks"],
)
def test_a_refusal_is_remembered_for_a_few_seconds(answer: dict[str, Any], reason: Reason) -> None:
    clock = FakeClock(time.time())
    checker = introspector(FakeEndpoint({OPAQUE: answer}), clock=clock)
    with pytest.raises(InvalidTokenError) as first:
        asyncio.run(checker.authenticate(OPAQUE))
    assert first.value.reason is reason
    clock.advance(REFUSAL_CACHE_SECONDS - 1)
    with pytest.raises(InvalidTokenError) as again:
        checker.authenticate_now(OPAQUE)
    assert again.value.reason is reason
    clock.advance(1)
    assert checker.authenticate_now(OPAQUE) is None
    assert checker.calls == 1


def test_the_cache_holds_a_hash_of_the_token_never_the_token() -> None:
    checker = introspector(FakeEndpoint({OPAQUE: active()}))
    verified = asyncio.run(checker.authenticate(OPAQUE))
    assert checker._active is not None
    assert checker._active.get(introspection_jti(OPAQUE)) is verified
    assert checker._active.get(OPAQUE) is None


def test_concurrent_first_sights_share_one_call() -> None:
    endpoint = FakeEndpoint({OPAQUE: active()}, delay_seconds=0.05)
    checker = introspector(endpoint)

    async def many() -> list[Any]:
        return await asyncio.gather(*(checker.authenticate(OPAQUE) for _ in range(50)))

    answers = asyncio.run(many())
    assert checker.calls == 1
    assert len(endpoint.requests) == 1
    assert all(answer is answers[0] for answer in answers)


# --- revocation ---------------------------------------------------------------------------


def test_an_answer_without_jti_gets_the_hash_of_the_token_and_can_be_revoked() -> None:
    store = InMemoryRevocationStore()
    endpoint = FakeEndpoint({OPAQUE: active()})
    app, checker = introspected_app(endpoint, is_revoked=store.is_revoked)
    verified = asyncio.run(introspector(FakeEndpoint({OPAQUE: active()})).authenticate(OPAQUE))
    assert verified.claims["jti"] == introspection_jti(OPAQUE)
    with TestClient(app) as client:
        assert client.get("/private", headers=bearer(OPAQUE)).status_code == 200
        asyncio.run(store.revoke(introspection_jti(OPAQUE), expires_at=int(time.time()) + 300))
        refused = client.get("/private", headers=bearer(OPAQUE))
    assert refused.status_code == 401
    assert checker.calls == 1  # the remembered answer is refused without a call


def test_an_answer_with_its_own_jti_keeps_it() -> None:
    checker = introspector(FakeEndpoint({OPAQUE: active(jti="the-providers-id")}))
    assert asyncio.run(checker.authenticate(OPAQUE)).claims["jti"] == "the-providers-id"


# --- the settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"introspection_url": "ftp://idp.test/introspect"}, "JWT_INTROSPECTION_URL"),
        ({"introspection_client_id": None}, "JWT_INTROSPECTION_CLIENT_ID"),
        ({"introspection_client_secret": None}, "JWT_INTROSPECTION_CLIENT_SECRET"),
        ({"introspection_auth_method": "none"}, "JWT_INTROSPECTION_AUTH_METHOD"),
        ({"introspection_auth_method": "private_key_jwt"}, "JWT_INTROSPECTION_PRIVATE_KEY"),
        (
            {"introspection_auth_method": "private_key_jwt", "introspection_private_key": "nope"},
            "JWT_INTROSPECTION_PRIVATE_KEY",
        ),
        ({"introspection_cache_seconds": 0}, "JWT_INTROSPECTION_CACHE_SECONDS"),
        ({"introspection_timeout_seconds": 61}, "JWT_INTROSPECTION_TIMEOUT_SECONDS"),
    ],
    ids=[
        "url-not-http",
        "url-without-client",
        "basic-without-secret",
        "unknown-method",
        "jwt-without-key",
        "jwt-with-bad-key",
        "cache-zero",
        "timeout-too-long",
    ],
)
def test_a_misconfiguration_names_its_variable(overrides: dict[str, Any], variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable) as caught:
        introspection_settings(**overrides)
    assert CLIENT_SECRET not in str(caught.value)


def test_without_a_url_the_endpoint_needs_one_discovered_issuer() -> None:
    settings = JWTSettings(
        secret=SECRET,
        algorithm="HS256",
        issuer=ISSUER,
        introspection_client_id=CLIENT_ID,
        introspection_client_secret=CLIENT_SECRET,
    )
    middleware = JWTAuthMiddleware(Starlette(), settings=settings)
    assert middleware.configuration_error is not None
    assert "JWT_INTROSPECTION_URL" in str(middleware.configuration_error)
