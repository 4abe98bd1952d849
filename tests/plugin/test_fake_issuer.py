"""The fake OpenID provider of :mod:`jwt_middleware.testing`, through the middleware: what it
serves, the tokens it mints, and its controls (rotation, outages, slowness, counters).

Every check goes through :func:`tests.helpers.build_app` and the middleware's own discovery
and key fetching over HTTP on loopback; tokens it refuses are also made with PyJWT directly,
so a bug in the provider's minting cannot pass for a bug-free verifier.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from jwt_middleware.testing import FakeIssuer, OutageKind, require_testing_extra
from jwt_middleware.testing.issuer import SigningAlgorithm
from tests.helpers import bearer, build_app

SCOPES = {"/posts/*": ["posts:write"]}


def get(issuer: FakeIssuer, token: str | None, path: str = "/private", **values: Any) -> int:
    """The status a fresh app, configured by ``issuer.settings(**values)``, answers."""
    with TestClient(build_app(issuer.settings(**values), scopes=SCOPES)) as client:
        return client.get(path, headers=bearer(token) if token else {}).status_code


def foreign_key_token(issuer: FakeIssuer) -> str:
    """A token naming the provider's current RS256 kid, signed by a key it never had."""
    kid = jwt.get_unverified_header(issuer.mint("u"))["kid"]
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(issuer.mint("u"), options={"verify_signature": False})
    return jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": kid})


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_each_algorithm_signs_tokens_the_middleware_accepts(
    jwt_issuer: FakeIssuer, algorithm: SigningAlgorithm
) -> None:
    token = jwt_issuer.mint("alice", algorithm=algorithm)
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    with TestClient(build_app(jwt_issuer.settings())) as client:
        reply = client.get("/private", headers=bearer(token))
    assert (reply.status_code, reply.json()["user_id"]) == (200, "alice")
    assert jwt_issuer.requests == (1, 1, 0)  # discovery and key set once, at start-up


@pytest.mark.parametrize(
    ("token", "path", "status"),
    [
        pytest.param(lambda i: None, "/private", 401, id="no-token"),
        pytest.param(lambda i: i.mint("u", scopes=["posts:write"]), "/posts/1", 200, id="scope"),
        pytest.param(lambda i: i.mint("u", scopes=["posts:read"]), "/posts/1", 403, id="no-scope"),
        pytest.param(lambda i: i.mint("u", expires_in=-120), "/private", 401, id="expired"),
        pytest.param(lambda i: i.mint("u", audience="other"), "/private", 401, id="audience"),
        pytest.param(lambda i: i.mint("u", audience=()), "/private", 401, id="no-audience"),
        pytest.param(lambda i: i.mint("u", iss="http://127.0.0.1:9"), "/private", 401, id="iss"),
        pytest.param(lambda i: i.mint("u", iss=None), "/private", 401, id="no-iss"),
        pytest.param(foreign_key_token, "/private", 401, id="foreign-key"),
    ],
)
def test_minted_tokens_are_held_to_the_settings(
    jwt_issuer: FakeIssuer, token: Callable[[FakeIssuer], str | None], path: str, status: int
) -> None:
    assert get(jwt_issuer, token(jwt_issuer), path) == status


@pytest.mark.parametrize(
    ("minted", "values", "status"),
    [
        pytest.param({"acr": "mfa"}, {"required_claims": ["acr"]}, 200, id="acr"),
        pytest.param({}, {"required_claims": ["acr"]}, 401, id="no-acr"),
        pytest.param({"tenant": "t1"}, {"required_claims": ["tenant"]}, 200, id="extra-claim"),
        pytest.param({"audience": "x"}, {"audience": "x"}, 200, id="own-audience"),
    ],
)
def test_claims_and_settings_given_to_it(
    jwt_issuer: FakeIssuer, minted: dict[str, Any], values: dict[str, Any], status: int
) -> None:
    assert get(jwt_issuer, jwt_issuer.mint("u", **minted), **values) == status


@pytest.mark.parametrize(
    ("keep_previous", "old_status", "fetches"),
    [
        # The old kid may be looked for once more (unless the set was fetched just now).
        pytest.param(False, 401, {2, 3}, id="old-keys-withdrawn"),
        pytest.param(True, 200, {2}, id="old-keys-kept"),
    ],
)
def test_a_rotation_is_followed_at_the_first_new_kid(
    jwt_issuer: FakeIssuer, keep_previous: bool, old_status: int, fetches: set[int]
) -> None:
    old = jwt_issuer.mint("u")
    with TestClient(build_app(jwt_issuer.settings())) as client:
        jwt_issuer.rotate_keys(keep_previous=keep_previous)
        new = jwt_issuer.mint("u")
        assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
        assert client.get("/private", headers=bearer(new)).status_code == 200
        assert client.get("/private", headers=bearer(old)).status_code == old_status
    assert jwt_issuer.requests.jwks in fetches
    assert len(jwt_issuer.jwks["keys"]) == (6 if keep_previous else 3)


@pytest.mark.parametrize("kind", ["503", "no-answer", "closed"])
def test_an_outage_at_start_up_answers_503_until_it_ends(
    jwt_issuer: FakeIssuer, kind: OutageKind
) -> None:
    token = jwt_issuer.mint("u")
    with (
        jwt_issuer.outage(kind),
        TestClient(build_app(jwt_issuer.settings(jwks_timeout_seconds=0.3))) as client,
    ):
        reply = client.get("/private", headers=bearer(token))
        assert (reply.status_code, "retry-after" in reply.headers) == (503, True)
        during = jwt_issuer.requests.discovery
    with TestClient(build_app(jwt_issuer.settings())) as client:
        assert client.get("/private", headers=bearer(token)).status_code == 200
    assert during >= 1
    assert jwt_issuer.requests.discovery > during


@pytest.mark.parametrize(
    ("delay_seconds", "timeout_seconds", "status"),
    [
        pytest.param(0.05, 5, 200, id="slow-within-the-timeout"),
        pytest.param(1.0, 0.2, 503, id="slower-than-the-timeout"),
    ],
)
def test_a_slow_provider_is_waited_for_up_to_the_timeout(
    jwt_issuer: FakeIssuer, delay_seconds: float, timeout_seconds: float, status: int
) -> None:
    token = jwt_issuer.mint("u")
    with jwt_issuer.slow(delay_seconds):
        assert get(jwt_issuer, token, jwks_timeout_seconds=timeout_seconds) == status
    started = time.monotonic()
    assert httpx.get(jwt_issuer.jwks_url).status_code == 200
    assert time.monotonic() - started < delay_seconds or delay_seconds < 0.1  # slow no more


@pytest.mark.parametrize(
    ("path", "status", "document"),
    [
        pytest.param("/.well-known/openid-configuration", 200, "metadata", id="openid"),
        pytest.param("/.well-known/oauth-authorization-server", 200, "metadata", id="rfc8414"),
        pytest.param("/jwks", 200, "jwks", id="jwks"),
        pytest.param("/token", 404, None, id="anything-else"),
    ],
)
def test_what_it_serves(
    jwt_issuer: FakeIssuer, path: str, status: int, document: str | None
) -> None:
    reply = httpx.get(jwt_issuer.url + path)
    assert reply.status_code == status
    if document is not None:
        assert reply.json() == getattr(jwt_issuer, document)


def test_its_key_set_is_public_keys_with_a_kid_each(jwt_issuer: FakeIssuer) -> None:
    keys = httpx.get(jwt_issuer.jwks_url).json()["keys"]
    assert [key["alg"] for key in keys] == ["RS256", "ES256", "EdDSA"]
    assert len({key["kid"] for key in keys}) == 3
    assert not any({"d", "p", "q"} & set(key) for key in keys)
    assert jwt_issuer.metadata["issuer"] == jwt_issuer.url
    assert jwt_issuer.requests == (0, 1, 0)


@pytest.mark.parametrize("client_kind", ["starlette-testclient", "httpx-asyncclient"])
def test_as_user_sets_the_header_for_either_client(
    jwt_issuer: FakeIssuer, client_kind: str
) -> None:
    app = build_app(jwt_issuer.settings(), scopes=SCOPES)
    if client_kind == "starlette-testclient":
        with TestClient(app) as client:
            assert jwt_issuer.as_user(client, "alice", scopes=["posts:write"]) is client
            answers = [client.get(p).json() for p in ("/private", "/posts/1")]
    else:

        async def run() -> list[Any]:
            async with (
                LifespanManager(app) as manager,
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver"
                ) as client,
            ):
                assert jwt_issuer.as_user(client, "alice", scopes=["posts:write"]) is client
                return [(await client.get(p)).json() for p in ("/private", "/posts/1")]

        answers = asyncio.run(run())
    assert [(a["user_id"], a["scopes"]) for a in answers] == [
        ("alice", ["authenticated", "posts:write"])
    ] * 2


@pytest.mark.parametrize(
    ("variables", "dotenv"),
    [
        pytest.param({"JWT_SECRET": "x" * 40, "JWT_AUDIENCE": "other"}, "", id="variables"),
        pytest.param({}, "JWT_AUDIENCE=other\nJWT_ISSUER=https://elsewhere\n", id="dotenv"),
    ],
)
def test_its_settings_read_no_environment(
    jwt_issuer: FakeIssuer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variables: dict[str, str],
    dotenv: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    (tmp_path / ".env").write_text(dotenv)  # the working folder is tmp_path (tests/conftest.py)
    settings = jwt_issuer.settings()
    assert (settings.issuer, settings.audience, settings.secret) == (jwt_issuer.url, "api", None)


def test_each_test_gets_it_answering_and_counting_from_zero(jwt_issuer: FakeIssuer) -> None:
    with jwt_issuer.outage(), jwt_issuer.slow(5):
        jwt_issuer.reset()
        assert httpx.get(jwt_issuer.jwks_url, timeout=2).status_code == 200
    assert jwt_issuer.requests == (0, 1, 0)


def test_without_the_testing_extra_the_fixture_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(ImportError, match=r"jwt-middleware-asgi\[testing\]"):
        require_testing_extra()
