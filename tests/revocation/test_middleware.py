"""Revocation end to end: a revoked token is refused by the middleware, on every store, and
on every instance that shares a Redis.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from jwt_middleware import JWTSettings, create_jwt_token, verify_jwt_token
from jwt_middleware.revocation import revoke_token_claims
from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.helpers import bearer, build_app, mint_token
from tests.revocation.stores import REVOKED, StoreFactory, close, in_app
from tests.services import REDIS_URL

# --- end to end -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "minter",
    [
        pytest.param(lambda settings: mint_token("alice", jti="alice-1"), id="pyjwt"),
        pytest.param(lambda settings: create_jwt_token("alice", settings=settings), id="helper"),
    ],
)
def test_revoked_token_is_refused_by_the_middleware(
    settings: JWTSettings, make_store: StoreFactory, minter: Callable[[JWTSettings], str]
) -> None:
    store = make_store()
    token = minter(settings)
    other = create_jwt_token("alice", settings=settings)
    claims = verify_jwt_token(token, settings=settings)
    with TestClient(build_app(settings, is_revoked=store.is_revoked)) as client:
        assert client.get("/private", headers=bearer(token)).status_code == 200
        in_app(client, revoke_token_claims, store, claims)
        refused = client.get("/private", headers=bearer(token))
        still_fine = client.get("/private", headers=bearer(other))
        anonymous_public = client.get("/health")
        in_app(client, close, store)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == REVOKED
    assert refused.json() == {"detail": "The access token was revoked."}
    assert still_fine.status_code == 200
    assert anonymous_public.status_code == 200


def test_revocation_reaches_every_instance_sharing_redis(
    settings: JWTSettings, redis_prefix: str
) -> None:
    store_a = RedisRevocationStore.from_url(REDIS_URL, key_prefix=redis_prefix)
    store_b = RedisRevocationStore.from_url(REDIS_URL, key_prefix=redis_prefix)
    token = create_jwt_token("alice", settings=settings)
    other = mint_token("bob", jti="bob-1")
    claims = verify_jwt_token(token, settings=settings)
    app_a = build_app(settings, is_revoked=store_a.is_revoked)
    app_b = build_app(settings, is_revoked=store_b.is_revoked)
    with TestClient(app_a) as instance_a, TestClient(app_b) as instance_b:
        assert instance_a.get("/private", headers=bearer(token)).status_code == 200
        assert instance_b.get("/private", headers=bearer(token)).status_code == 200
        in_app(instance_a, revoke_token_claims, store_a, claims)
        on_b = instance_b.get("/private", headers=bearer(token))
        on_a = instance_a.get("/private", headers=bearer(token))
        bob_on_b = instance_b.get("/private", headers=bearer(other))
        in_app(instance_a, store_a.aclose)
        in_app(instance_b, store_b.aclose)
    assert on_b.status_code == 401
    assert on_b.headers["www-authenticate"] == REVOKED
    assert on_a.status_code == 401
    assert bob_on_b.status_code == 200
