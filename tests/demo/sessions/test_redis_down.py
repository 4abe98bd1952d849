"""Sessions in a Redis that cannot be reached: login still works, the revocation check follows
DEMO_REVOCATION_ON_ERROR, and a logout or a refresh that cannot be recorded is a 503.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from demo_app.app import create_app
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.demo.accounts import cheap_passwords, login_pair, refresh
from tests.demo.sessions.refresh_tokens import STORE_UNAVAILABLE, UNAVAILABLE
from tests.helpers import bearer


def _app_without_redis(
    tmp_path: Path, jwt_settings: JWTSettings, redis_url: str, on_error: str
) -> Any:
    settings = DemoSettings(
        database_url=f"sqlite:///{tmp_path / 'down.db'}",
        redis_url=redis_url,
        revocation_on_error=on_error,
    )
    return create_app(settings, jwt_settings, passwords=cheap_passwords())


@pytest.mark.parametrize(
    ("on_error", "protected"),
    [("deny", (503, UNAVAILABLE)), ("allow", (200, None))],
    ids=["deny", "allow"],
)
def test_redis_down(
    tmp_path: Path,
    jwt_settings: JWTSettings,
    unreachable_redis_url: str,
    on_error: str,
    protected: tuple[int, Any],
) -> None:
    """Login still works; the revocation check follows DEMO_REVOCATION_ON_ERROR; a logout
    or a refresh that cannot be recorded is a 503, never a silent success."""
    app = _app_without_redis(tmp_path, jwt_settings, unreachable_redis_url, on_error)
    with TestClient(app) as client:
        client.post("/auth/register", json={"email": "a@example.com", "password": "long enough"})
        access, refresh_token = login_pair(client, "a@example.com", "long enough")

        me = client.get("/auth/me", headers=bearer(access))
        assert me.status_code == protected[0]
        if protected[1] is not None:
            assert me.json() == protected[1]
            assert me.headers["retry-after"] == "5"

        logout = client.post("/auth/logout", headers=bearer(access))
        assert logout.status_code == 503
        assert logout.json() in (UNAVAILABLE, STORE_UNAVAILABLE)

        reply = refresh(client, refresh_token)
        assert (reply.status_code, reply.json()) == (503, STORE_UNAVAILABLE)
        assert reply.headers["retry-after"] == "5"
