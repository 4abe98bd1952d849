"""The test kit's DPoP client: tokens the fake provider binds to a key, and the proofs
``DPoPAuth`` makes for each request, through the middleware's DPoP path.

The middleware's checks of proofs are tested against panva's ``dpop`` client and hostile
proofs in ``tests/dpop/``; here, that the kit's client is one the middleware accepts, for
``TestClient`` and ``httpx.AsyncClient`` alike, nonces included, and that what it binds
stays bound (the token alone, as a bearer token, is refused).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any

import httpx
import jwt
import pytest
from starlette.testclient import TestClient

from jwt_middleware.testing import DPoPAuth, DPoPKey, FakeIssuer
from tests.helpers import bearer, build_app

BASE_URL = "https://api.example"
SCOPES = {"/posts/*": ["posts:write"]}


def dpop_app(issuer: FakeIssuer, *, introspection: bool = False, **values: Any) -> Any:
    settings = issuer.settings(
        introspection=introspection, dpop_enabled=True, dpop_base_url=BASE_URL, **values
    )
    return build_app(settings, scopes=SCOPES)


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
@pytest.mark.parametrize(
    ("path", "scopes", "status"),
    [
        pytest.param("/private", (), 200, id="protected"),
        pytest.param("/posts/1", ("posts:write",), 200, id="scope"),
        pytest.param("/posts/1", ("posts:read",), 403, id="missing-scope"),
    ],
)
def test_a_dpop_user_gets_what_a_bearer_user_would(
    jwt_issuer: FakeIssuer, algorithm: Any, path: str, scopes: tuple[str, ...], status: int
) -> None:
    with TestClient(dpop_app(jwt_issuer), base_url=BASE_URL) as client:
        jwt_issuer.as_dpop_user(client, "alice", key=DPoPKey(algorithm), scopes=scopes)
        answers = [client.get(path) for _ in range(3)]  # a new proof each time: no replay
    assert [answer.status_code for answer in answers] == [status] * 3
    if status == 200:
        assert answers[0].json()["user_id"] == "alice"


def test_the_bound_token_is_refused_as_a_bearer_token(jwt_issuer: FakeIssuer) -> None:
    key = DPoPKey()
    token = jwt_issuer.mint("alice", dpop_key=key)
    with TestClient(dpop_app(jwt_issuer), base_url=BASE_URL) as client:
        assert client.get("/private", headers=bearer(token)).status_code == 401
        client.auth = DPoPAuth.for_client(client, token, key)
        assert client.get("/private").status_code == 200


def test_a_proof_by_another_key_is_refused(jwt_issuer: FakeIssuer) -> None:
    token = jwt_issuer.mint("alice", dpop_key=DPoPKey())
    with TestClient(dpop_app(jwt_issuer), base_url=BASE_URL) as client:
        client.auth = DPoPAuth.for_client(client, token, DPoPKey())
        answer = client.get("/private")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("DPoP ")


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="bearer-accepted-too"),
        pytest.param({"dpop_required": True}, id="dpop-required"),
    ],
)
def test_the_provider_binds_an_opaque_token_to_a_key(
    jwt_issuer: FakeIssuer, values: dict[str, Any]
) -> None:
    """``mint_opaque(dpop_key=...)``: its introspection answer says ``token_type: DPoP``
    and names the key (RFC 9449 section 6.2); the middleware as assembled from settings
    asks the endpoint over HTTP, found by discovery, and accepts the token with proofs by
    that key alone: not by another, not as a bearer token."""
    app = dpop_app(jwt_issuer, introspection=True, **values)
    key = DPoPKey()
    with TestClient(app, base_url=BASE_URL) as client:
        jwt_issuer.as_dpop_user(client, "alice", key=key, opaque=True)
        auth: Any = client.auth  # DPoPAuth, for TestClient's own auth flow
        token: str = auth.token
        answers = [client.get("/private") for _ in range(2)]
        client.auth = DPoPAuth.for_client(client, token, DPoPKey())
        other_key = client.get("/private")
        client.auth = None  # type: ignore[assignment]
        as_bearer = client.get("/private", headers=bearer(token))
    assert token.count(".") == 0  # opaque, not a JWT
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].json()["user_id"] == "alice"
    assert other_key.status_code == 401
    assert other_key.headers["WWW-Authenticate"].startswith("DPoP ")
    assert as_bearer.status_code == 401
    # The DPoP path asked once (then remembered); the bearer path, if any, once more.
    assert jwt_issuer.requests.introspection == (1 if values else 2)


def test_the_client_follows_the_servers_nonce(jwt_issuer: FakeIssuer) -> None:
    secret = "a-nonce-secret-for-this-test-only-4c1e9b"
    app = dpop_app(jwt_issuer, dpop_nonce=True, dpop_nonce_secret=secret)
    key = DPoPKey()
    with TestClient(app, base_url=BASE_URL) as client:
        auth = DPoPAuth.for_client(client, jwt_issuer.mint("alice", dpop_key=key), key)
        client.auth = auth
        first = client.get("/private")
        nonce = auth.nonce
        second = client.get("/private")
    assert (first.status_code, second.status_code) == (200, 200)
    assert nonce is not None  # learnt from the 401 use_dpop_nonce the first request got


def test_an_async_client_is_a_dpop_user_too(jwt_issuer: FakeIssuer) -> None:
    app = dpop_app(jwt_issuer)

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            jwt_issuer.as_dpop_user(client, "alice")
            return [(await client.get("/private")).status_code for _ in range(2)]

    assert asyncio.run(run()) == [200, 200]


def test_the_proof_and_the_thumbprint_are_what_rfc_9449_and_7638_say() -> None:
    """Checked here with PyJWT and the RFC's recipe, not with the library under test."""
    key = DPoPKey()
    proof = key.proof("POST", "https://api.example/posts", access_token="tok", nonce="n1")
    header = jwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == "ES256"
    assert set(header["jwk"]) == {"kty", "crv", "x", "y"}  # public members only
    public = jwt.PyJWK(header["jwk"]).key
    claims = jwt.decode(proof, public, algorithms=["ES256"])
    assert claims["htm"] == "POST"
    assert claims["htu"] == "https://api.example/posts"
    assert claims["nonce"] == "n1"
    digest = hashlib.sha256(b"tok").digest()
    assert claims["ath"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    required = {name: header["jwk"][name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
    assert key.thumbprint == expected.decode()
