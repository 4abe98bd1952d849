"""Opaque access tokens against a real provider: ``oidc-provider`` issues them (client
credentials, by resource indicator) and answers RFC 7662 introspection, which the
middleware finds by discovery or is told. Every client authentication method it accepts;
inactive tokens; the provider stopped; the cache's two bounds; one call for concurrent
first sights (counted on the provider's side); and a revocation on one instance refusing
the remembered answer on another.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.edge.credentials import is_jwt_shaped
from jwt_middleware.revocation.redis import RedisRevocationStore
from jwt_middleware.verification.introspection_answers import introspection_jti
from tests.helpers import bearer, whoami
from tests.oidc.provider import (
    SERVICE_CLIENT_ID,
    OpenIDProvider,
    ProviderConfig,
    ResourceServer,
    generate_jwk,
)
from tests.revocation.stores import in_app
from tests.services import REDIS_URL

pytestmark = pytest.mark.oidc

API = "https://opaque-api.test/"
OTHER_API = "https://other-opaque-api.test/"
SHORT_API = "https://short-lived-api.test/"
SHORT_TTL_SECONDS = 2
POST_CLIENT = ("introspector-post", secrets.token_urlsafe(32))
JWT_CLIENT_ID = "introspector-jwt"
JWT_CLIENT_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwt_client_pem() -> str:
    return JWT_CLIENT_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _provider_config() -> ProviderConfig:
    public = ECAlgorithm.to_jwk(JWT_CLIENT_KEY.public_key(), as_dict=True)
    return ProviderConfig(
        keys=[generate_jwk("RS256", "key-rs256")],
        resources={
            API: ResourceServer(alg="RS256", scope="read write", access_token_format="opaque"),
            OTHER_API: ResourceServer(alg="RS256", scope="read", access_token_format="opaque"),
            SHORT_API: ResourceServer(
                alg="RS256",
                scope="read",
                access_token_format="opaque",
                access_token_ttl_seconds=SHORT_TTL_SECONDS,
            ),
        },
        extra_clients=[
            {
                "client_id": POST_CLIENT[0],
                "client_secret": POST_CLIENT[1],
                "grant_types": [],
                "response_types": [],
                "redirect_uris": [],
                "token_endpoint_auth_method": "client_secret_post",
            },
            {
                "client_id": JWT_CLIENT_ID,
                "grant_types": [],
                "response_types": [],
                "redirect_uris": [],
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_signing_alg": "ES256",
                "jwks": {"keys": [{**public, "kid": "client-key", "alg": "ES256"}]},
            },
        ],
    )


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIDProvider]:
    with OpenIDProvider(_provider_config()) as op:
        yield op


def settings_for(provider: OpenIDProvider, **overrides: Any) -> JWTSettings:
    """The issuer, this API as the audience, and the service client's secret; the endpoint
    found by discovery."""
    client_id, secret = provider.service_client
    values: dict[str, Any] = {
        "issuer": provider.issuer,
        "audience": API,
        "introspection_client_id": client_id,
        "introspection_client_secret": secret,
    }
    return JWTSettings(**{**values, **overrides})


def app_for(settings: JWTSettings, **options: Any) -> Starlette:
    app = Starlette(routes=[Route("/private", whoami)])
    app.add_middleware(JWTAuthMiddleware, settings=settings, **options)
    return app


def introspections(provider: OpenIDProvider) -> int:
    path = httpx.URL(provider.introspection_endpoint).path
    return provider.stats().posts.get(path, 0)


def test_an_opaque_token_is_accepted_with_its_scopes(provider: OpenIDProvider) -> None:
    token = provider.client_credentials_token(API, "read")
    assert not is_jwt_shaped(token)
    with TestClient(app_for(settings_for(provider))) as client:
        response = client.get("/private", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["user_id"] == SERVICE_CLIENT_ID  # sub from client_id
    assert response.json()["scopes"] == ["authenticated", "read"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "private_key_jwt"])
def test_each_client_authentication_method_is_accepted(
    provider: OpenIDProvider, method: str
) -> None:
    by_method: dict[str, dict[str, Any]] = {
        "client_secret_basic": {},
        "client_secret_post": {
            "introspection_client_id": POST_CLIENT[0],
            "introspection_client_secret": POST_CLIENT[1],
        },
        "private_key_jwt": {
            "introspection_client_id": JWT_CLIENT_ID,
            "introspection_client_secret": None,
            "introspection_private_key": _jwt_client_pem(),
            "introspection_key_id": "client-key",
        },
    }
    options = by_method[method]
    settings = settings_for(
        provider,
        introspection_url=provider.introspection_endpoint,
        introspection_auth_method=method,
        **options,
    )
    token = provider.client_credentials_token(API, "read write")
    with TestClient(app_for(settings)) as client:
        response = client.get("/private", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["scopes"] == ["authenticated", "read", "write"]


@pytest.mark.parametrize(
    ("token_of", "status"),
    [
        (lambda op: secrets.token_urlsafe(32), 401),
        (lambda op: op.client_credentials_token(OTHER_API, "read"), 401),
    ],
    ids=["unknown-token", "token-for-another-api"],
)
def test_an_inactive_or_foreign_token_is_401(
    provider: OpenIDProvider, token_of: Any, status: int
) -> None:
    with TestClient(app_for(settings_for(provider))) as client:
        response = client.get("/private", headers=bearer(token_of(provider)))
    assert response.status_code == status
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_wrong_client_secret_is_503_never_401(provider: OpenIDProvider) -> None:
    token = provider.client_credentials_token(API, "read")
    settings = settings_for(provider, introspection_client_secret="not-the-secret-0123456789")
    with TestClient(app_for(settings)) as client:
        response = client.get("/private", headers=bearer(token))
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()


def test_an_answer_is_remembered_at_most_the_cache_seconds(provider: OpenIDProvider) -> None:
    token = provider.client_credentials_token(API, "read")
    settings = settings_for(provider, introspection_cache_seconds=1)
    with TestClient(app_for(settings)) as client:
        before = introspections(provider)
        statuses = [client.get("/private", headers=bearer(token)).status_code for _ in range(3)]
        within = introspections(provider) - before
        time.sleep(1.2)
        statuses.append(client.get("/private", headers=bearer(token)).status_code)
        after = introspections(provider) - before
    assert statuses == [200, 200, 200, 200]
    assert (within, after) == (1, 2)


def test_an_answer_is_never_remembered_past_the_tokens_exp(provider: OpenIDProvider) -> None:
    token = provider.client_credentials_token(SHORT_API, "read")
    settings = settings_for(provider, audience=SHORT_API, leeway_seconds=0)
    with TestClient(app_for(settings)) as client:
        before = introspections(provider)
        first = client.get("/private", headers=bearer(token))
        time.sleep(SHORT_TTL_SECONDS + 0.5)
        expired = client.get("/private", headers=bearer(token))
        calls = introspections(provider) - before
    assert first.status_code == 200
    assert expired.status_code == 401
    assert calls == 2  # asked again past exp, and the provider says inactive


def test_concurrent_first_sights_make_one_introspection_call(provider: OpenIDProvider) -> None:
    token = provider.client_credentials_token(API, "read")
    app = app_for(settings_for(provider))

    async def many() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            responses = await asyncio.gather(
                *(client.get("/private", headers=bearer(token)) for _ in range(20))
            )
        return [response.status_code for response in responses]

    before = introspections(provider)
    statuses = asyncio.run(many())
    assert statuses == [200] * 20
    assert introspections(provider) - before == 1


def test_a_revocation_refuses_the_remembered_answer_on_every_instance(
    provider: OpenIDProvider, redis_prefix: str
) -> None:
    token = provider.client_credentials_token(API, "read")
    store_a = RedisRevocationStore.from_url(REDIS_URL, key_prefix=redis_prefix)
    store_b = RedisRevocationStore.from_url(REDIS_URL, key_prefix=redis_prefix)
    settings = settings_for(provider)
    app_a = app_for(settings, is_revoked=store_a.is_revoked)
    app_b = app_for(settings, is_revoked=store_b.is_revoked)
    with TestClient(app_a) as instance_a, TestClient(app_b) as instance_b:
        assert instance_a.get("/private", headers=bearer(token)).status_code == 200
        assert instance_b.get("/private", headers=bearer(token)).status_code == 200
        before = introspections(provider)
        # What a logout handler does with the claims the middleware put in the request.
        expires_at = int(time.time()) + 300
        in_app(instance_a, partial(store_a.revoke, expires_at=expires_at), introspection_jti(token))
        on_b = instance_b.get("/private", headers=bearer(token))
        on_a = instance_a.get("/private", headers=bearer(token))
        calls = introspections(provider) - before
        in_app(instance_a, store_a.aclose)
        in_app(instance_b, store_b.aclose)
    assert (on_a.status_code, on_b.status_code) == (401, 401)
    assert on_b.json() == {"detail": "The access token was revoked."}
    assert calls == 0  # refused from the remembered answer, without asking the provider


def test_the_provider_stopped_is_503_with_retry_after() -> None:
    with OpenIDProvider(_provider_config()) as provider:
        token = provider.client_credentials_token(API, "read")
        settings = settings_for(provider, introspection_url=provider.introspection_endpoint)
        with TestClient(app_for(settings)) as client:
            provider.stop()
            response = client.get("/private", headers=bearer(token))
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert "www-authenticate" not in response.headers
