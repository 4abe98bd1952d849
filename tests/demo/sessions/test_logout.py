"""``POST /auth/logout``: the access token revoked, its session's refresh token with it, and
a refresh token in the body ended too when it is the caller's own.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from demo_app.app import create_app
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.demo.accounts import Account, cheap_passwords, login_pair, refresh, register
from tests.demo.sessions.refresh_tokens import REFRESH_REVOKED, REVOKED, mint_refresh
from tests.helpers import SECRET, bearer, mint_token


def test_logout_revokes_the_access_token(client: TestClient, alice: Account, bob: Account) -> None:
    reply = client.post("/auth/logout", headers=alice.headers)

    assert reply.status_code == 204
    assert reply.content == b""
    # A 401 on a route that needs scopes names them, so the client asks for them again.
    for method, path, needs in [
        ("GET", "/auth/me", ""),
        ("GET", "/todos", ', scope="todos:read"'),
        ("POST", "/auth/logout", ""),
    ]:
        refused = client.request(method, path, headers=alice.headers)
        assert (refused.status_code, refused.json()) == (401, REVOKED), (method, path)
        assert refused.headers["www-authenticate"] == (
            'Bearer realm="api", error="invalid_token", '
            f'error_description="The access token was revoked."{needs}'
        )
    assert client.get("/auth/me", headers=bob.headers).status_code == 200


def test_logout_ends_the_session_refresh_token_included(client: TestClient, alice: Account) -> None:
    access, refresh_token = login_pair(client, alice.email)
    rotated = refresh(client, refresh_token).json()
    other_access, other_refresh = login_pair(client, alice.email)

    assert client.post("/auth/logout", headers=bearer(rotated["access_token"])).status_code == 204

    assert client.get("/auth/me", headers=bearer(access)).json() == REVOKED
    reply = refresh(client, rotated["refresh_token"])
    assert (reply.status_code, reply.json()) == (401, REFRESH_REVOKED)
    assert client.get("/auth/me", headers=bearer(other_access)).status_code == 200
    assert refresh(client, other_refresh).status_code == 200


def test_logout_with_a_refresh_token_in_the_body_ends_that_session_too(
    client: TestClient, alice: Account
) -> None:
    first_access, _ = login_pair(client, alice.email)
    second_access, second_refresh = login_pair(client, alice.email)

    reply = client.post(
        "/auth/logout", headers=bearer(first_access), json={"refresh_token": second_refresh}
    )

    assert reply.status_code == 204
    assert client.get("/auth/me", headers=bearer(second_access)).json() == REVOKED
    assert refresh(client, second_refresh).json() == REFRESH_REVOKED


@pytest.mark.parametrize(
    "other",
    ["bob", "garbage", "expired", "access-token"],
    ids=["another-users", "garbage", "expired", "an-access-token"],
)
def test_logout_ignores_a_refresh_token_it_cannot_revoke(
    client: TestClient, alice: Account, bob: Account, other: str
) -> None:
    bob_access, bob_refresh = login_pair(client, bob.email)
    body_token = {
        "bob": bob_refresh,
        "garbage": "abc.def.ghi",
        "expired": mint_refresh(str(alice.id), lifetime=-60),
        "access-token": bob_access,
    }[other]

    reply = client.post("/auth/logout", headers=alice.headers, json={"refresh_token": body_token})

    assert reply.status_code == 204
    assert client.get("/auth/me", headers=alice.headers).json() == REVOKED
    assert client.get("/auth/me", headers=bob.headers).status_code == 200
    assert refresh(client, bob_refresh).status_code == 200


def test_logout_of_a_token_with_only_a_jti_revokes_it(client: TestClient, alice: Account) -> None:
    token = mint_token(str(alice.id), jti="minted-jti")

    assert client.post("/auth/logout", headers=bearer(token)).status_code == 204

    assert client.get("/auth/me", headers=bearer(token)).json() == REVOKED


def test_a_token_that_could_never_be_revoked_is_refused(client: TestClient, alice: Account) -> None:
    # With a revocation check on, JWT_REQUIRE_JTI defaults to true: a token without jti
    # could not be logged out, so the middleware refuses it before any handler runs.
    token = mint_token(str(alice.id))  # neither jti nor sid

    reply = client.post("/auth/logout", headers=bearer(token))

    assert reply.status_code == 401
    assert client.get("/auth/me", headers=bearer(token)).status_code == 401


def test_logout_of_a_token_that_cannot_be_revoked_is_400_when_jti_is_optional(
    demo_settings: DemoSettings,
) -> None:
    settings = JWTSettings(secret=SECRET, require_jti=False)
    with TestClient(create_app(demo_settings, settings, passwords=cheap_passwords())) as client:
        user = register(client, "carol@example.com")
        token = mint_token(str(user["id"]))  # neither jti nor sid

        reply = client.post("/auth/logout", headers=bearer(token))

        assert (reply.status_code, reply.json()) == (
            400,
            {"detail": "This access token cannot be revoked."},
        )
        assert client.get("/auth/me", headers=bearer(token)).status_code == 200


def test_logout_needs_a_token(client: TestClient) -> None:
    reply = client.post("/auth/logout")

    assert (reply.status_code, reply.json()) == (401, {"detail": "Authentication required."})


def test_logout_body_is_strict(client: TestClient, alice: Account) -> None:
    reply = client.post("/auth/logout", headers=alice.headers, json={"token": "x"})

    assert reply.status_code == 422
    assert client.get("/auth/me", headers=alice.headers).status_code == 200
