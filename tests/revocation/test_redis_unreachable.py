"""A Redis that cannot be reached (a closed port, a server that never answers): writes always
raise, lookups follow ``on_error``, within a bounded time, and nothing secret is logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from jwt_middleware import JWTSettings
from jwt_middleware.errors import RevocationStoreUnavailableError
from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.helpers import bearer, build_app, mint_token
from tests.revocation.stores import MAX_WAIT_SECONDS, RECORDING_METHODS, UNAVAILABLE, in_app, run

# --- Redis unreachable ----------------------------------------------------------------------


@pytest.mark.parametrize("method", RECORDING_METHODS)
@pytest.mark.parametrize("on_error", ["deny", "allow"])
def test_unreachable_redis_revoke_always_raises(
    unreachable_redis_url: str, on_error: Any, method: str
) -> None:
    store = RedisRevocationStore(unreachable_redis_url, on_error=on_error, timeout_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(RevocationStoreUnavailableError) as raised:
        run(store, lambda store: getattr(store, method)("x", expires_at=int(time.time()) + 60))
    assert time.monotonic() - started < MAX_WAIT_SECONDS
    assert raised.value.status_code == 503


@pytest.mark.parametrize(
    ("on_error", "outcome"),
    [
        pytest.param("deny", RevocationStoreUnavailableError, id="deny-raises"),
        pytest.param("allow", False, id="allow-says-not-revoked"),
    ],
)
def test_unreachable_redis_is_revoked(
    unreachable_redis_url: str, on_error: Any, outcome: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisRevocationStore(unreachable_redis_url, on_error=on_error, timeout_seconds=0.3)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="jwt_middleware"):
        if outcome is False:
            assert run(store, lambda store: store.is_revoked({"jti": "secret-jti"})) is False
            assert "treated as not revoked" in caplog.text
        else:
            with pytest.raises(outcome):
                run(store, lambda store: store.is_revoked({"jti": "secret-jti"}))
    assert time.monotonic() - started < MAX_WAIT_SECONDS
    assert "secret-jti" not in caplog.text


@pytest.mark.parametrize(
    ("on_error", "status"),
    [pytest.param("deny", 503, id="deny-fails-closed"), pytest.param("allow", 200, id="allow")],
)
def test_unreachable_redis_through_the_middleware(
    settings: JWTSettings,
    unreachable_redis_url: str,
    on_error: Any,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RedisRevocationStore(unreachable_redis_url, on_error=on_error, timeout_seconds=0.3)
    token = mint_token("alice", jti="alice-jti")
    with (
        caplog.at_level(logging.WARNING, logger="jwt_middleware"),
        TestClient(build_app(settings, is_revoked=store.is_revoked)) as client,
    ):
        started = time.monotonic()
        response = client.get("/private", headers=bearer(token))
        elapsed = time.monotonic() - started
        in_app(client, store.aclose)
    assert elapsed < MAX_WAIT_SECONDS
    assert response.status_code == status
    if status == 503:
        assert response.json() == UNAVAILABLE
        assert response.headers["retry-after"] == "5"
    else:
        assert response.json()["user_id"] == "alice"
        assert "treated as not revoked" in caplog.text
    assert caplog.records
    assert token not in caplog.text
    assert "alice-jti" not in caplog.text
