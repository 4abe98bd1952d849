"""Optional authentication (anonymous passes, a bad token does not) and step-up
authentication (RFC 9470: acr and auth_time), each answered before the handler runs."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from jwt_middleware.access.policy import Requirement
from tests.helpers import OTHER_SECRET, bearer, mint_token

from . import apps
from .apps import starlette_app

INVALID = (
    'Bearer realm="api", error="invalid_token", error_description="The access token is invalid."'
)


@pytest.mark.parametrize(
    ("headers", "status", "user_id"),
    [
        pytest.param({}, 200, None, id="no-token-anonymous"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, 200, None, id="other-scheme"),
        pytest.param(bearer(mint_token("ann")), 200, "ann", id="valid-token-known"),
        pytest.param(bearer(mint_token(secret=OTHER_SECRET)), 401, None, id="forged-token"),
        pytest.param(bearer(mint_token(lifetime=-120)), 401, None, id="expired-token"),
        pytest.param({"Authorization": "Bearer a b"}, 400, None, id="malformed-header"),
    ],
)
def test_optional_routes(headers: dict[str, str], status: int, user_id: str | None) -> None:
    apps.ran.clear()
    client = TestClient(starlette_app(optional=["GET /feed"], public=["/public/*"]))
    reply = client.get("/feed", headers=headers)
    assert reply.status_code == status
    if status == 200:
        assert reply.json()["user_id"] == user_id
        assert apps.ran == ["/feed"]
    else:
        assert apps.ran == []


def test_a_public_route_still_ignores_a_bad_token() -> None:
    client = TestClient(starlette_app(optional=["GET /feed"], public=["/public/*"]))
    reply = client.get("/public/x", headers=bearer(mint_token(secret=OTHER_SECRET)))
    assert (reply.status_code, reply.json()["user_id"]) == (200, None)


def test_optional_rules_never_cover_unsafe_paths() -> None:
    client = TestClient(starlette_app(optional=["/public/*"]))
    assert client.get("/public/%252e%252e/x").status_code == 400


STEP_UP = Requirement(scopes=frozenset({"pay"}), acr_values=("mfa", "hwk"), max_age=300)


@pytest.mark.parametrize(
    ("claims", "status", "challenge"),
    [
        pytest.param({"acr": "mfa", "auth_time": 0}, 200, None, id="strong-and-recent"),
        # Well inside max_age: a loaded machine must not age it past the limit mid-test.
        pytest.param({"acr": "hwk", "auth_time": -250}, 200, None, id="other-acr-value"),
        pytest.param(
            {"acr": "pwd", "auth_time": 0}, 401, 'acr_values="mfa hwk", max_age="300"', id="weak"
        ),
        pytest.param({"auth_time": 0}, 401, 'acr_values="mfa hwk", max_age="300"', id="no-acr"),
        pytest.param(
            {"acr": "mfa", "auth_time": -301},
            401,
            'acr_values="mfa hwk", max_age="300"',
            id="too-long-ago",
        ),
        pytest.param({"acr": "mfa"}, 401, 'acr_values="mfa hwk", max_age="300"', id="no-auth-time"),
        pytest.param(
            {"acr": "mfa", "auth_time": "now"},
            401,
            'acr_values="mfa hwk", max_age="300"',
            id="auth-time-not-a-number",
        ),
    ],
)
def test_step_up_authentication(claims: dict[str, Any], status: int, challenge: str | None) -> None:
    apps.ran.clear()
    if "auth_time" in claims and isinstance(claims["auth_time"], int):
        claims = {**claims, "auth_time": int(time.time()) + claims["auth_time"]}
    client = TestClient(starlette_app(scopes={"POST /payments": STEP_UP}))
    reply = client.post("/payments", headers=bearer(mint_token(scope="pay", **claims)))
    assert reply.status_code == status
    if challenge is None:
        assert apps.ran == ["/payments"]
        return
    assert apps.ran == []
    assert reply.headers["www-authenticate"] == (
        'Bearer realm="api", error="insufficient_user_authentication", '
        'error_description="A stronger or more recent authentication is required.", ' + challenge
    )


def test_scopes_are_checked_before_step_up() -> None:
    client = TestClient(starlette_app(scopes={"POST /payments": STEP_UP}))
    token = mint_token(acr="mfa", auth_time=int(time.time()))  # no "pay"
    reply = client.post("/payments", headers=bearer(token))
    assert reply.status_code == 403
    assert reply.headers["www-authenticate"].endswith('scope="pay"')
