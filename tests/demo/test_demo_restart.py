"""A restart forgets no logout and no used refresh token (the default, without Redis).

"Restart" is a new app built on the same database, as ``python -m demo_app`` started again
would be: nothing survives from the first one but what it wrote to the database. Each case
does something before the restart and asks about it after; an untouched login is the
control that shows the new instance accepts what it should.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from demo_app.app import create_app
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.helpers import bearer

from .accounts import cheap_passwords, login_pair, refresh, register

EMAIL = "restart@example.com"
REVOKED = (401, {"detail": "The access token was revoked."})
REFRESH_REVOKED = (401, {"detail": "The refresh token was revoked."})


def instance(database_url: str, jwt_settings: JWTSettings) -> TestClient:
    """A new app on ``database_url``; entering the client runs its start-up."""
    app = create_app(
        DemoSettings(database_url=database_url), jwt_settings, passwords=cheap_passwords()
    )
    return TestClient(app)


def logged_out_access_token(client: TestClient) -> str:
    access, _ = login_pair(client, EMAIL)
    assert client.post("/auth/logout", headers=bearer(access)).status_code == 204
    return access


def used_refresh_token(client: TestClient) -> str:
    _, refresh_token = login_pair(client, EMAIL)
    assert refresh(client, refresh_token).status_code == 200
    return refresh_token


def access_token_of_a_session_ended_by_reuse(client: TestClient) -> str:
    _, refresh_token = login_pair(client, EMAIL)
    rotated = refresh(client, refresh_token).json()
    assert refresh(client, refresh_token).status_code == 401  # the reuse, caught
    access: str = rotated["access_token"]
    return access


def untouched_access_token(client: TestClient) -> str:
    access, _ = login_pair(client, EMAIL)
    return access


def ask_me(client: TestClient, token: str) -> Any:
    return client.get("/auth/me", headers=bearer(token))


CASES: list[Any] = [
    pytest.param(logged_out_access_token, ask_me, REVOKED, id="logged-out-token"),
    pytest.param(used_refresh_token, refresh, REFRESH_REVOKED, id="reused-refresh-token"),
    pytest.param(
        access_token_of_a_session_ended_by_reuse, ask_me, REVOKED, id="session-ended-by-reuse"
    ),
    pytest.param(untouched_access_token, ask_me, (200, None), id="untouched-login"),
]


@pytest.mark.parametrize(("before_restart", "after_restart", "expected"), CASES)
def test_a_restart_keeps_what_the_sessions_recorded(
    backend_url: str,
    jwt_settings: JWTSettings,
    before_restart: Callable[[TestClient], str],
    after_restart: Callable[[TestClient, str], Any],
    expected: tuple[int, Any],
) -> None:
    with instance(backend_url, jwt_settings) as first:
        register(first, EMAIL)
        token = before_restart(first)

    with instance(backend_url, jwt_settings) as restarted:
        reply = after_restart(restarted, token)

    assert reply.status_code == expected[0], reply.text
    if expected[1] is not None:
        assert reply.json() == expected[1]
    else:
        assert reply.json()["email"] == EMAIL
