"""The middleware against a real, independently written OpenID provider on loopback.

Every token here is issued by ``oidc-provider`` (certified by the OpenID Foundation): RFC
9068 access tokens by resource indicator, id_tokens from a real authorization code flow.
The middleware is configured from the issuer URL alone (and the audience), as a user would,
and finds everything else by discovery. The measurements the project reports (rotation
pick-up time, fetches under a ``kid`` flood) are printed as ``MEASURED ...`` lines; run with
``-s`` to see them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from tests.oidc.provider import (
    WEB_CLIENT_ID,
    OpenIDProvider,
    ProviderConfig,
    ResourceServer,
    generate_jwk,
)

pytestmark = pytest.mark.oidc

API = "https://api.test/"
OTHER_API = "https://other-api.test/"
FAMILIES = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]
RESOURCES = {
    f"https://{alg.lower()}.test/": ResourceServer(alg=alg, scope="read write") for alg in FAMILIES
}
KEYS = [generate_jwk(alg, f"key-{alg.lower()}") for alg in FAMILIES]


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "sub": request.state.user_id,
            "iss": request.state.claims["iss"],
            "scopes": list(request.auth.scopes),
        }
    )


def app_for(**settings: Any) -> Starlette:
    """An app protected by the middleware, configured as a user would configure it."""
    app = Starlette(routes=[Route("/whoami", whoami)])
    app.add_middleware(JWTAuthMiddleware, settings=JWTSettings(**settings))
    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIDProvider]:
    config = ProviderConfig(
        keys=KEYS,
        resources={
            **RESOURCES,
            API: ResourceServer(alg="RS256", scope="read write"),
            OTHER_API: ResourceServer(alg="RS256"),
        },
    )
    with OpenIDProvider(config, issuer_path="/realms/test") as op:
        yield op


# --- discovery ---------------------------------------------------------------------------------


def test_the_issuer_url_alone_is_enough(provider: OpenIDProvider) -> None:
    token = provider.client_credentials_token(API, "read")
    with TestClient(app_for(issuer=provider.issuer, audience=API)) as client:
        reply = client.get("/whoami", headers=bearer(token))
    assert reply.status_code == 200
    assert reply.json()["iss"] == provider.issuer
    assert reply.json()["scopes"] == ["authenticated", "read"]


def test_discovery_falls_back_to_rfc_8414_for_an_issuer_with_a_path() -> None:
    config = ProviderConfig(
        keys=[generate_jwk("RS256", "k1")],
        resources={API: ResourceServer(alg="RS256")},
        openid_discovery=False,
    )
    with OpenIDProvider(config, issuer_path="/realms/rfc8414") as op:
        token = op.client_credentials_token(API)
        with TestClient(app_for(issuer=op.issuer, audience=API)) as client:
            assert client.get("/whoami", headers=bearer(token)).status_code == 200
        paths = op.stats().paths
    # The well-known part goes between the host and the path (RFC 8414 section 3.1).
    assert paths.get("/.well-known/oauth-authorization-server/realms/rfc8414") == 1
    assert paths.get("/realms/rfc8414/.well-known/oauth-authorization-server", 0) == 0


def test_metadata_naming_another_issuer_is_never_used() -> None:
    config = ProviderConfig(
        keys=[generate_jwk("RS256", "k1")],
        resources={API: ResourceServer(alg="RS256")},
        metadata_issuer="http://127.0.0.1:1/someone-else",
    )
    with OpenIDProvider(config, issuer_path="/realms/liar") as op:
        token = op.client_credentials_token(API)
        with TestClient(app_for(issuer=op.issuer, audience=API)) as client:
            reply = client.get("/whoami", headers=bearer(token))
        assert op.stats().jwks == 0  # its keys were never even fetched
    assert reply.status_code == 503
    assert reply.headers["retry-after"]


# --- audiences and algorithms ------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", FAMILIES)
def test_each_algorithm_family(provider: OpenIDProvider, algorithm: str) -> None:
    resource = f"https://{algorithm.lower()}.test/"
    token = provider.client_credentials_token(resource, "read")
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    with TestClient(
        app_for(issuer=provider.issuer, audience=resource, algorithms=FAMILIES)
    ) as client:
        assert client.get("/whoami", headers=bearer(token)).status_code == 200


def test_an_algorithm_not_configured_is_refused(provider: OpenIDProvider) -> None:
    token = provider.client_credentials_token("https://es256.test/")
    with TestClient(app_for(issuer=provider.issuer, audience="https://es256.test/")) as client:
        assert client.get("/whoami", headers=bearer(token)).status_code == 401  # RS256 only


@pytest.mark.parametrize(
    ("resource", "status"),
    [
        pytest.param(API, 200, id="first"),
        pytest.param(OTHER_API, 200, id="second"),
        pytest.param("https://rs256.test/", 401, id="neither"),
    ],
)
def test_several_audiences(provider: OpenIDProvider, resource: str, status: int) -> None:
    token = provider.client_credentials_token(resource)
    with TestClient(app_for(issuer=provider.issuer, audience=[API, OTHER_API])) as client:
        assert client.get("/whoami", headers=bearer(token)).status_code == status


@pytest.mark.parametrize(
    ("settings", "id_token_status"),
    [
        pytest.param({}, 401, id="default"),
        pytest.param({"require_access_token_type": True}, 401, id="typed"),
        # The token endpoint's ID token has no at_hash: without nonce, only its type or its
        # audience tells it apart (docs/keys.md says so).
        pytest.param({"allow_nonce_in_access_tokens": True}, 200, id="nonce-allowed"),
        pytest.param(
            {"allow_nonce_in_access_tokens": True, "require_access_token_type": True},
            401,
            id="nonce-allowed-typed",
        ),
    ],
)
def test_an_id_token_is_no_access_token(
    provider: OpenIDProvider, settings: dict[str, Any], id_token_status: int
) -> None:
    """The provider's real ID token, whose audience (the web client) is accepted, is refused
    by default; the access token from the same login passes in every setting."""
    tokens = provider.authorization_code_tokens(login="alice", resource=API)
    claims = jwt.decode(tokens.id_token, options={"verify_signature": False})
    assert jwt.get_unverified_header(tokens.id_token).get("typ") != "at+jwt"
    assert "nonce" in claims
    assert jwt.get_unverified_header(tokens.access_token)["typ"] == "at+jwt"
    audience = [API, WEB_CLIENT_ID]
    with TestClient(app_for(issuer=provider.issuer, audience=audience, **settings)) as client:
        reply = client.get("/whoami", headers=bearer(tokens.id_token))
        assert reply.status_code == id_token_status
        assert client.get("/whoami", headers=bearer(tokens.access_token)).status_code == 200


# --- several issuers -----------------------------------------------------------------------------


def test_two_providers_with_colliding_kids() -> None:
    key_a, key_b = generate_jwk("RS256", "same-kid"), generate_jwk("RS256", "same-kid")
    resources = {API: ResourceServer(alg="RS256")}
    with (
        OpenIDProvider(ProviderConfig(keys=[key_a], resources=resources), issuer_path="/a") as a,
        OpenIDProvider(ProviderConfig(keys=[key_b], resources=resources), issuer_path="/b") as b,
    ):
        app = app_for(issuer=[a.issuer, b.issuer], audience=API)
        token_a, token_b = a.client_credentials_token(API), b.client_credentials_token(API)
        # A token that names A, signed with B's private key under the kid A also uses.
        claims = jwt.decode(token_a, options={"verify_signature": False})
        private_b = jwt.algorithms.RSAAlgorithm.from_jwk(key_b)
        assert isinstance(private_b, rsa.RSAPrivateKey)
        forged = jwt.encode(
            claims,
            private_b,
            algorithm="RS256",
            headers={"kid": "same-kid", "typ": "at+jwt"},
        )
        with TestClient(app) as client:
            assert client.get("/whoami", headers=bearer(token_a)).json()["iss"] == a.issuer
            assert client.get("/whoami", headers=bearer(token_b)).json()["iss"] == b.issuer
            assert client.get("/whoami", headers=bearer(forged)).status_code == 401


# --- rotation, outages and floods ----------------------------------------------------------------


def test_a_key_published_after_the_last_fetch_is_picked_up_within_seconds() -> None:
    old = generate_jwk("RS256", "old")
    config = ProviderConfig(keys=[old], resources={API: ResourceServer(alg="RS256")})
    with (
        OpenIDProvider(config, issuer_path="/rotating") as op,
        TestClient(app_for(issuer=op.issuer, audience=API)) as client,
    ):
        assert (
            client.get("/whoami", headers=bearer(op.client_credentials_token(API))).status_code
            == 200
        )
        op.restart(replace(config, keys=[generate_jwk("RS256", "new"), old]))  # "new" signs now
        published = time.monotonic()
        token = op.client_credentials_token(API)
        assert jwt.get_unverified_header(token)["kid"] == "new"
        status = 0
        while time.monotonic() - published < 15:
            status = client.get("/whoami", headers=bearer(token)).status_code
            if status == 200:
                break
            time.sleep(0.1)
        picked_up = time.monotonic() - published
        print(f"MEASURED rotation pick-up: {picked_up:.2f} s (JWT_JWKS_MIN_REFETCH_SECONDS=5)")
        assert status == 200
        assert picked_up < 10


def test_a_kid_flood_costs_at_most_one_fetch_per_interval(provider: OpenIDProvider) -> None:
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with TestClient(app_for(issuer=provider.issuer, audience=API)) as client:
        provider.reset_stats()
        started = time.monotonic()
        statuses = set()
        sent = 0
        while time.monotonic() - started < 11:  # a little over two refetch intervals
            claims = {"sub": "x", "iss": provider.issuer, "aud": API, "exp": int(time.time()) + 60}
            forged = jwt.encode(
                claims, attacker, algorithm="RS256", headers={"kid": secrets.token_hex(8)}
            )
            statuses.add(client.get("/whoami", headers=bearer(forged)).status_code)
            sent += 1
        elapsed = time.monotonic() - started
        fetches = provider.stats().jwks
    allowed = 1 + int(elapsed // 5)
    print(
        f"MEASURED kid flood: {sent} random kids in {elapsed:.1f} s -> "
        f"{fetches} JWKS fetches (at most {allowed} allowed)"
    )
    assert statuses == {401}
    assert fetches <= allowed


def test_provider_down_since_start_up_is_503_then_recovers() -> None:
    config = ProviderConfig(
        keys=[generate_jwk("RS256", "k1")], resources={API: ResourceServer(alg="RS256")}
    )
    with OpenIDProvider(config, issuer_path="/down") as op:
        token = op.client_credentials_token(API)
        op.stop()
        app = app_for(
            issuer=op.issuer, audience=API, jwks_min_refetch_seconds=1, jwks_timeout_seconds=1
        )
        with TestClient(app) as client:
            reply = client.get("/whoami", headers=bearer(token))
            assert reply.status_code == 503
            assert reply.headers["retry-after"]
            assert "www-authenticate" not in reply.headers  # the token was not found wanting
            op.start()
            time.sleep(1.1)  # the refetch interval
            assert client.get("/whoami", headers=bearer(token)).status_code == 200


def test_known_keys_keep_working_while_the_provider_is_down() -> None:
    config = ProviderConfig(
        keys=[generate_jwk("RS256", "k1")], resources={API: ResourceServer(alg="RS256")}
    )
    with OpenIDProvider(config, issuer_path="/later") as op:
        first, second = op.client_credentials_token(API), op.client_credentials_token(API)
        app = app_for(issuer=op.issuer, audience=API, jwks_cache_seconds=1, verified_cache_size=0)
        with TestClient(app) as client:
            assert client.get("/whoami", headers=bearer(first)).status_code == 200
            op.stop()
            time.sleep(1.1)  # the cached set has expired: a refresh is attempted and fails
            for token in (first, second):
                assert client.get("/whoami", headers=bearer(token)).status_code == 200


def test_a_key_set_older_than_the_maximum_staleness_is_503() -> None:
    config = ProviderConfig(
        keys=[generate_jwk("RS256", "k1")], resources={API: ResourceServer(alg="RS256")}
    )
    with OpenIDProvider(config, issuer_path="/stale") as op:
        token = op.client_credentials_token(API)
        app = app_for(
            issuer=op.issuer,
            audience=API,
            jwks_max_stale_seconds=1,
            jwks_min_refetch_seconds=0.5,
            verified_cache_size=0,
        )
        with TestClient(app) as client:
            assert client.get("/whoami", headers=bearer(token)).status_code == 200
            op.stop()
            time.sleep(1.2)
            assert client.get("/whoami", headers=bearer(token)).status_code == 503
