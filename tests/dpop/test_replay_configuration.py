"""How an app chooses where proofs are remembered: ``dpop_replay=`` on the middleware (as
``is_revoked=`` passes a revocation store), ``JWT_DPOP_REPLAY_ON_ERROR`` for an outage, and
the mistakes refused at start-up with the option or variable to fix."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from jwt_middleware import (
    ConfigurationError,
    DPoPAuthenticator,
    JWTAuthMiddleware,
    JWTSettings,
    RedisProofReplayCache,
    TokenVerifier,
)
from jwt_middleware.verification.dpop import ProofChecker
from jwt_middleware.verification.dpop_replay import InMemoryProofReplayCache
from tests.dpop.proofs import BASE_URL, DPOP_SETTINGS, PyJWTKey, bound_token
from tests.helpers import SECRET, build_app
from tests.services import REDIS_URL

#: (middleware options, settings, what the start-up message names)
MISTAKES = [
    pytest.param(
        {"dpop_replay": InMemoryProofReplayCache()},
        {"secret": SECRET},
        "JWT_DPOP_ENABLED",
        id="replay-without-dpop",
    ),
    pytest.param(
        {"dpop_replay": InMemoryProofReplayCache(), "authenticators": "dpop"},
        DPOP_SETTINGS,
        "dpop_replay=",
        id="replay-beside-authenticators",
    ),
]


@pytest.mark.parametrize(("options", "settings", "named"), MISTAKES)
def test_a_replay_cache_that_cannot_be_used_stops_start_up(
    options: dict[str, Any], settings: dict[str, Any], named: str
) -> None:
    configured = JWTSettings(**settings)
    if options.get("authenticators") == "dpop":
        options = {**options, "authenticators": [DPoPAuthenticator.from_settings(configured)]}
    middleware = JWTAuthMiddleware(Starlette(), settings=configured, **options)
    assert isinstance(middleware.configuration_error, ConfigurationError)
    assert named in str(middleware.configuration_error)


def test_an_unknown_outage_answer_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_DPOP_REPLAY_ON_ERROR", "allow")  # never offered: fail open
    with pytest.raises(ValueError, match="JWT_DPOP_REPLAY_ON_ERROR"):
        JWTSettings(**DPOP_SETTINGS)
    monkeypatch.delenv("JWT_DPOP_REPLAY_ON_ERROR")
    checker = ProofChecker(
        algorithms=("ES256",), base_url=BASE_URL, proof_seconds=60, leeway_seconds=0
    )
    verifier = TokenVerifier(JWTSettings(**DPOP_SETTINGS), dpop=True)
    with pytest.raises(ConfigurationError, match="replay_on_error"):
        DPoPAuthenticator(
            verifier,
            checker=checker,
            algorithms=("ES256",),
            replay_on_error="allow",  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(("value", "expected"), [("deny", "deny"), ("refuse", "refuse")])
def test_the_outage_answer_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("JWT_DPOP_REPLAY_ON_ERROR", value)
    authenticator = DPoPAuthenticator.from_settings(JWTSettings(**DPOP_SETTINGS))
    assert authenticator.replay_on_error == expected
    assert isinstance(authenticator.replay, InMemoryProofReplayCache)  # the default


def test_the_middleware_uses_the_cache_it_is_given_and_closes_it_at_shutdown(
    redis_prefix: str, sync_redis: Any
) -> None:
    cache = RedisProofReplayCache(REDIS_URL, key_prefix=redis_prefix)
    app = build_app(JWTSettings(**DPOP_SETTINGS), dpop_replay=cache)
    key = PyJWTKey()
    token = bound_token(key.jkt, sub="user-1")
    headers = {"Authorization": f"DPoP {token}", "DPoP": key.proof(token=token)}
    with TestClient(app, base_url=BASE_URL) as client:
        assert client.get("/private", headers=headers).status_code == 200
        assert client.get("/private", headers=headers).status_code == 401
        assert len(list(sync_redis.scan_iter(match=f"{redis_prefix}*"))) == 1
        # A cache made from a URL sends its command on a connection of its own.
        set_once = cache._set_once
        assert set_once is not None
        assert set_once.connected
    # The lifespan's shutdown closed the connection the cache made from its URL.
    assert not set_once.connected
    asyncio.run(cache.aclose())  # twice is harmless
