"""Every request row of the behaviour table: who passes, who gets which RFC 6750 answer."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from jwt_middleware import JWTAuthMiddleware, JWTSettings, create_jwt_token
from tests.helpers import OTHER_SECRET, SECRET, b64url_json, bearer, build_app, mint_token
from tests.keypairs import RSA

REALM = 'Bearer realm="api"'


def _invalid(description: str = "The access token is invalid.") -> str:
    return f'{REALM}, error="invalid_token", error_description="{description}"'


def _unsigned(alg: str = "none") -> str:
    header = b64url_json({"alg": alg, "typ": "JWT"})
    return f"{header}.{b64url_json({'sub': 'mallory', 'exp': 2**40})}."


@pytest.fixture
def client(settings: JWTSettings) -> TestClient:
    return TestClient(build_app(settings))


def test_valid_token_fills_state_user_and_auth(client: TestClient) -> None:
    token = mint_token("alice", scope="read write")
    response = client.get("/private", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "user_id": "alice",
        "authenticated": True,
        "scopes": ["authenticated", "read", "write"],
        "path": "/private",
    }


def test_token_from_our_own_helper_is_accepted(client: TestClient, settings: JWTSettings) -> None:
    token = create_jwt_token("42", "a@example.com", settings=settings)
    response = client.get("/private", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["user_id"] == "42"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic-scheme"),
        pytest.param({"Authorization": "Token abc"}, id="other-scheme"),
        pytest.param({"Authorization": ""}, id="empty-header"),
        pytest.param({"Authorization": "Bearertoken"}, id="scheme-glued-to-token"),
    ],
)
def test_no_bearer_credentials_get_a_bare_challenge(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/private", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == REALM
    assert response.json() == {"detail": "Authentication required."}
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive(client: TestClient, scheme: str) -> None:
    response = client.get("/private", headers={"Authorization": f"{scheme} {mint_token()}"})
    assert response.status_code == 200


def _now() -> int:
    return int(time.time())


INVALID_TOKENS = [
    pytest.param(lambda: mint_token(secret=OTHER_SECRET), id="bad-signature"),
    pytest.param(lambda: "not-a-jwt", id="not-a-jwt"),
    pytest.param(lambda: "a.b.c", id="garbage-segments"),
    pytest.param(lambda: mint_token()[:-4], id="truncated-signature"),
    pytest.param(lambda: mint_token().rsplit(".", 1)[0] + ".", id="stripped-signature"),
    pytest.param(_unsigned, id="alg-none"),
    pytest.param(lambda: _unsigned("None"), id="alg-None-mixed-case"),
    pytest.param(lambda: _unsigned("NONE"), id="alg-NONE"),
    pytest.param(lambda: mint_token(algorithm="HS512", secret=SECRET * 2), id="other-hmac-alg"),
    pytest.param(lambda: mint_token(nbf=_now() + 600), id="nbf-in-future"),
    pytest.param(lambda: mint_token(iat=_now() + 600), id="iat-in-future"),
    pytest.param(lambda: mint_token(drop=("exp",)), id="missing-exp"),
    pytest.param(lambda: mint_token(drop=("sub",)), id="missing-sub"),
    pytest.param(lambda: mint_token(""), id="empty-sub"),
    pytest.param(lambda: mint_token("   "), id="blank-sub"),
    pytest.param(lambda: mint_token(12345), id="integer-sub"),
    pytest.param(lambda: mint_token(["a"]), id="list-sub"),
    pytest.param(lambda: mint_token(exp="tomorrow"), id="non-numeric-exp"),
    pytest.param(lambda: mint_token(aud="someone-else"), id="unexpected-audience"),
    pytest.param(
        lambda: mint_token(headers={"crit": ["exp-ext"]}), id="unsupported-critical-header"
    ),
    pytest.param(lambda: "x" * 9000, id="longer-than-bound"),
    pytest.param(lambda: mint_token(pad="x" * 9000), id="valid-but-oversized"),
]


@pytest.mark.parametrize("make_token", INVALID_TOKENS)
def test_tokens_that_fail_verification_get_invalid_token(
    client: TestClient, make_token: Callable[[], str]
) -> None:
    token = make_token()
    response = client.get("/private", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == _invalid()
    assert response.json() == {"detail": "The access token is invalid."}
    assert token not in response.text


def test_expired_token_says_it_expired(client: TestClient) -> None:
    token = mint_token(lifetime=-60)
    response = client.get("/private", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == _invalid("The access token expired.")
    assert response.json() == {"detail": "The access token expired."}


@pytest.mark.parametrize(
    ("configured", "claims", "status"),
    [
        pytest.param(
            {"issuer": "https://id.example"}, {"iss": "https://id.example"}, 200, id="iss-ok"
        ),
        pytest.param(
            {"issuer": "https://id.example"}, {"iss": "https://evil.example"}, 401, id="iss-wrong"
        ),
        pytest.param({"issuer": "https://id.example"}, {}, 401, id="iss-missing"),
        pytest.param({"audience": "api://orders"}, {"aud": "api://orders"}, 200, id="aud-ok"),
        pytest.param(
            {"audience": "api://orders"}, {"aud": ["x", "api://orders"]}, 200, id="aud-in-list"
        ),
        pytest.param({"audience": "api://orders"}, {"aud": "api://billing"}, 401, id="aud-wrong"),
        pytest.param({"audience": "api://orders"}, {}, 401, id="aud-missing"),
    ],
)
def test_issuer_and_audience_are_enforced_when_configured(
    configured: dict[str, str], claims: dict[str, Any], status: int
) -> None:
    client = TestClient(build_app(JWTSettings(secret=SECRET, algorithm="HS256", **configured)))
    token = mint_token(**claims)
    response = client.get("/private", headers=bearer(token))
    assert response.status_code == status


def test_leeway_admits_small_clock_skew() -> None:
    token = mint_token(lifetime=-5)
    strict = TestClient(build_app(JWTSettings(secret=SECRET, leeway_seconds=0)))
    lenient = TestClient(build_app(JWTSettings(secret=SECRET)))  # 30 s by default
    headers = bearer(token)
    assert strict.get("/private", headers=headers).status_code == 401
    assert lenient.get("/private", headers=headers).status_code == 200


MALFORMED = [
    pytest.param(
        [("authorization", "Bearer")], "Bearer scheme without a token.", id="bearer-alone"
    ),
    pytest.param(
        [("authorization", "Bearer    ")], "Bearer scheme without a token.", id="bearer-spaces"
    ),
    pytest.param(
        [("authorization", "Bearer a b")], "Malformed Authorization header.", id="two-tokens"
    ),
    pytest.param([("authorization", "Bearer a,b")], "Malformed Authorization header.", id="comma"),
    pytest.param(
        [("authorization", 'Bearer "abc"')], "Malformed Authorization header.", id="quoted"
    ),
    pytest.param(
        [("authorization", "Bearer abc=def")], "Malformed Authorization header.", id="inner-equals"
    ),
    pytest.param(
        [("authorization", "Bearer tok\x7f")], "Malformed Authorization header.", id="del-char"
    ),
    pytest.param(
        [("authorization", "Bearer a"), ("authorization", "Bearer b")],
        "More than one Authorization header.",
        id="two-headers",
    ),
]


@pytest.mark.parametrize(("headers", "description"), MALFORMED)
def test_malformed_headers_get_invalid_request(
    client: TestClient, headers: list[tuple[str, str]], description: str
) -> None:
    response = client.get("/private", headers=headers)
    assert response.status_code == 400
    assert response.headers["www-authenticate"] == (
        f'{REALM}, error="invalid_request", error_description="{description}"'
    )
    assert response.json() == {"detail": description}


def test_non_ascii_header_bytes_get_invalid_request(client: TestClient) -> None:
    response = client.get(
        "/private", headers=[(b"authorization", "Bearer caf\u00e9".encode("latin-1"))]
    )
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_two_headers_are_refused_even_when_one_is_valid(client: TestClient) -> None:
    headers = [("authorization", f"Bearer {mint_token()}"), ("authorization", "Basic x")]
    assert client.get("/private", headers=headers).status_code == 400


def test_realm_is_configurable() -> None:
    client = TestClient(build_app(JWTSettings(secret=SECRET, realm="orders")))
    assert client.get("/private").headers["www-authenticate"] == 'Bearer realm="orders"'


@pytest.mark.parametrize(
    ("path", "headers", "expected_user"),
    [
        pytest.param("/health", {}, None, id="public-anonymous"),
        pytest.param(
            "/health", {"Authorization": "Bearer garbage"}, None, id="public-invalid-ignored"
        ),
        pytest.param("/health", {"Authorization": "Bearer"}, None, id="public-malformed-ignored"),
        pytest.param("/health", {"Authorization": "Basic abc"}, None, id="public-other-scheme"),
        pytest.param("/static/app.css", {}, None, id="public-prefix"),
    ],
)
def test_public_paths_pass_without_a_valid_token(
    client: TestClient, path: str, headers: dict[str, str], expected_user: str | None
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    assert response.json()["user_id"] == expected_user
    assert response.json()["authenticated"] is False


def test_public_path_with_valid_token_still_fills_state(client: TestClient) -> None:
    response = client.get("/health", headers=bearer(mint_token("bob")))
    assert response.json()["user_id"] == "bob"
    assert response.json()["authenticated"] is True


def test_query_token_is_ignored_unless_enabled(client: TestClient) -> None:
    assert client.get(f"/private?access_token={mint_token()}").status_code == 401


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        pytest.param("access_token={valid}", {}, 200, id="query-token"),
        pytest.param("access_token=garbage", {}, 401, id="query-invalid"),
        pytest.param("access_token={valid}&access_token={valid}", {}, 400, id="query-twice"),
        pytest.param("access_token=a%20b", {}, 400, id="query-not-b64token"),
        pytest.param(
            "access_token={valid}", {"Authorization": "Bearer {valid}"}, 400, id="both-places"
        ),
        pytest.param("other=1", {"Authorization": "Bearer {valid}"}, 200, id="header-still-works"),
    ],
)
def test_query_token_when_enabled(
    settings: JWTSettings, query: str, headers: dict[str, str], status: int
) -> None:
    client = TestClient(build_app(settings, token_query_param="access_token"))
    valid = mint_token()
    filled = {name: value.format(valid=valid) for name, value in headers.items()}
    response = client.get(f"/private?{query.format(valid=valid)}", headers=filled)
    assert response.status_code == status


def test_embedded_keys_and_key_urls_in_the_header_are_not_trusted(client: TestClient) -> None:
    attacker_secret = "attacker-controlled-secret-of-sufficient-length!!"
    jwk = {"kty": "oct", "k": base64.urlsafe_b64encode(attacker_secret.encode()).decode()}
    token = jwt.encode(
        {"sub": "mallory", "exp": _now() + 60},
        attacker_secret,
        algorithm="HS256",
        headers={"jwk": jwk, "jku": "http://127.0.0.1:1/jwks", "x5u": "http://127.0.0.1:1/x"},
    )
    response = client.get("/private", headers=bearer(token))
    assert response.status_code == 401


def test_rs256_token_cannot_pass_an_hmac_deployment(client: TestClient) -> None:
    token = jwt.encode({"sub": "mallory", "exp": _now() + 60}, RSA, algorithm="RS256")
    assert client.get("/private", headers=bearer(token)).status_code == 401


def test_lifespan_and_unknown_scope_types_pass_through(settings: JWTSettings) -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    middleware = JWTAuthMiddleware(inner, settings=settings)

    async def nothing() -> Message:
        return {}

    async def ignore(message: Message) -> None:
        return None

    for kind in ("lifespan", "custom-protocol"):
        asyncio.run(middleware({"type": kind}, nothing, ignore))
    assert seen == ["lifespan", "custom-protocol"]


@pytest.mark.parametrize(
    ("answer", "status", "challenge"),
    [
        pytest.param(False, 200, None, id="not-revoked"),
        pytest.param(True, 401, _invalid("The access token was revoked."), id="revoked"),
        pytest.param(RuntimeError("store down"), 503, None, id="check-fails-closed"),
    ],
)
def test_revocation_hook(
    settings: JWTSettings, answer: object, status: int, challenge: str | None
) -> None:
    seen: list[str] = []

    async def is_revoked(claims: dict[str, object]) -> bool:
        seen.append(str(claims["jti"]))
        if isinstance(answer, Exception):
            raise answer
        return bool(answer)

    client = TestClient(build_app(settings, is_revoked=is_revoked))
    token = mint_token(jti="token-1")
    response = client.get("/private", headers=bearer(token))
    assert response.status_code == status
    assert seen == ["token-1"]
    if challenge is not None:
        assert response.headers["www-authenticate"] == challenge
    if status == 503:
        assert response.json() == {"detail": "Authentication is temporarily unavailable."}
        assert response.headers["retry-after"] == "5"
        assert "www-authenticate" not in response.headers
    # Public paths never consult the store for anonymous requests, nor fail because of it.
    assert client.get("/health").status_code == 200
