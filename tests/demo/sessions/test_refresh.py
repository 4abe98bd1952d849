"""``POST /auth/refresh``: rotation to a new pair of the same family, each refresh token good
once, reuse ending the whole family, and every bad refresh token a 401.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from demo_app import routes_auth
from demo_app.models import User
from jwt_middleware import JWTSettings
from tests.demo.accounts import TOKEN_PAIR_FIELDS, Account, login_pair, refresh, register
from tests.demo.sessions.refresh_tokens import (
    REFRESH_EXPIRED,
    REFRESH_INVALID,
    REFRESH_REVOKED,
    REVOKED,
    mint_refresh,
    unverified,
)
from tests.helpers import OTHER_SECRET, bearer, mint_token
from tests.servers import serve


def test_login_pair_is_one_access_and_one_refresh_token_of_a_new_family(
    client: TestClient, alice: Account, jwt_settings: JWTSettings
) -> None:
    access, refresh_token = login_pair(client, alice.email)

    access_header, access_claims = unverified(access)
    refresh_header, refresh_claims = unverified(refresh_token)
    assert access_header["typ"] == "at+jwt"
    assert refresh_header["typ"] == "refresh+jwt"
    assert access_claims["sid"] == refresh_claims["fam"]
    assert refresh_claims["sub"] == access_claims["sub"] == str(alice.id)
    assert refresh_claims["exp"] - refresh_claims["iat"] == jwt_settings.refresh_expiry_seconds
    assert access_claims["jti"] != refresh_claims["jti"]
    _, other_refresh = login_pair(client, alice.email)
    assert unverified(other_refresh)[1]["fam"] != refresh_claims["fam"]


def test_refresh_rotates_to_a_new_pair_of_the_same_family(
    client: TestClient, alice: Account
) -> None:
    access, refresh_token = login_pair(client, alice.email)

    reply = refresh(client, refresh_token)

    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert set(body) == TOKEN_PAIR_FIELDS
    assert body["scope"] == "todos:read todos:write"
    assert body["user"]["email"] == alice.email
    assert body["refresh_token"] != refresh_token
    assert body["access_token"] != access
    family = unverified(refresh_token)[1]["fam"]
    assert unverified(body["refresh_token"])[1]["fam"] == family
    assert unverified(body["access_token"])[1]["sid"] == family
    me = client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.json()["id"] == alice.id
    # Rotation retires the refresh token, not the access tokens issued before it.
    assert client.get("/auth/me", headers=bearer(access)).status_code == 200


def test_each_new_refresh_token_works_once_in_turn(client: TestClient, alice: Account) -> None:
    _, refresh_token = login_pair(client, alice.email)

    for _ in range(4):
        reply = refresh(client, refresh_token)
        assert reply.status_code == 200, reply.text
        refresh_token = reply.json()["refresh_token"]


def test_a_refresh_token_minted_with_pyjwt_is_accepted(client: TestClient, alice: Account) -> None:
    reply = refresh(client, mint_refresh(str(alice.id)))

    assert reply.status_code == 200, reply.text
    assert reply.json()["user"]["id"] == alice.id


def test_reusing_a_refresh_token_revokes_its_whole_family(
    client: TestClient, alice: Account
) -> None:
    first_access, first_refresh = login_pair(client, alice.email)
    rotated = refresh(client, first_refresh).json()
    other_access, other_refresh = login_pair(client, alice.email)  # another login

    reuse = refresh(client, first_refresh)

    assert (reuse.status_code, reuse.json()) == (401, REFRESH_REVOKED)
    assert 'error="invalid_token"' in reuse.headers["www-authenticate"]
    for access in (first_access, rotated["access_token"]):
        reply = client.get("/auth/me", headers=bearer(access))
        assert (reply.status_code, reply.json()) == (401, REVOKED)
    again = refresh(client, rotated["refresh_token"])
    assert (again.status_code, again.json()) == (401, REFRESH_REVOKED)
    # The other login of the same user is another family, untouched.
    assert client.get("/auth/me", headers=bearer(other_access)).status_code == 200
    assert refresh(client, other_refresh).status_code == 200


def test_refresh_token_is_not_an_access_token(client: TestClient, alice: Account) -> None:
    _, refresh_token = login_pair(client, alice.email)

    for method, path in [("GET", "/auth/me"), ("GET", "/todos"), ("POST", "/auth/logout")]:
        reply = client.request(method, path, headers=bearer(refresh_token))
        assert reply.status_code == 401, (method, path)
        assert reply.json() == {"detail": "The access token is invalid."}
        assert 'error="invalid_token"' in reply.headers["www-authenticate"]
    assert refresh(client, refresh_token).status_code == 200  # and it was not used up


def test_expired_refresh_token_is_401_expired(client: TestClient, alice: Account) -> None:
    reply = refresh(client, mint_refresh(str(alice.id), lifetime=-60))

    assert (reply.status_code, reply.json()) == (401, REFRESH_EXPIRED)
    assert 'error="invalid_token"' in reply.headers["www-authenticate"]


BAD_REFRESH_TOKENS: list[tuple[str, Callable[[Account], str]]] = [
    ("access-token-from-login", lambda a: a.token),
    ("access-typed", lambda a: mint_refresh(str(a.id), typ="at+jwt")),
    ("untyped", lambda a: mint_refresh(str(a.id), typ=None)),
    ("wrong-secret", lambda a: mint_token(str(a.id), secret=OTHER_SECRET, fam="f", jti="j")),
    ("no-family", lambda a: mint_refresh(str(a.id), drop=("fam",))),
    ("no-jti", lambda a: mint_refresh(str(a.id), drop=("jti",))),
    ("no-sub", lambda a: mint_refresh(str(a.id), drop=("sub",))),
    ("alg-none", lambda a: jwt.encode({"sub": str(a.id), "exp": 2**40}, "", algorithm="none")),
    ("garbage", lambda a: "abc.def.ghi"),
    ("no-such-user", lambda a: mint_refresh("999999")),
]


@pytest.mark.parametrize(
    "make_token",
    [case for _, case in BAD_REFRESH_TOKENS],
    ids=[name for name, _ in BAD_REFRESH_TOKENS],
)
def test_bad_refresh_tokens_are_401(
    client: TestClient, alice: Account, make_token: Callable[[Account], str]
) -> None:
    reply = refresh(client, make_token(alice))

    assert (reply.status_code, reply.json()) == (401, REFRESH_INVALID)
    assert "error_description" in reply.headers["www-authenticate"]


def test_refresh_for_a_deleted_user_is_401(client: TestClient, alice: Account, db: Engine) -> None:
    _, refresh_token = login_pair(client, alice.email)
    with Session(db) as session:
        session.delete(session.get(User, alice.id))
        session.commit()

    reply = refresh(client, refresh_token)

    assert (reply.status_code, reply.json()) == (401, REFRESH_INVALID)


def test_a_refresh_that_failed_before_answering_can_be_retried(
    client: TestClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is marked used only once nothing else can fail, so a retry is no reuse."""
    _, refresh_token = login_pair(client, alice.email)

    def database_down(*_args: object) -> None:
        raise OperationalError("SELECT", {}, ConnectionError("database down"))

    with monkeypatch.context() as patch:
        patch.setattr(routes_auth, "_load_user", database_down)
        with pytest.raises(OperationalError):
            refresh(client, refresh_token)

    assert refresh(client, refresh_token).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{}, {"refresh_token": ""}, {"refresh_token": 1}, {"refresh_token": "a" * 8193}, {"x": 1}],
    ids=["missing", "empty", "number", "too-long", "unknown-field"],
)
def test_malformed_refresh_body_is_422(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/auth/refresh", json=body).status_code == 422


def test_concurrent_refreshes_with_one_token_let_exactly_one_through(app: Any) -> None:
    """Over a real server: the mark is atomic, so no two requests both get a new pair."""
    statuses: list[int] = []
    start = threading.Barrier(8, timeout=20)

    def attempt(base_url: str, token: str) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            start.wait()
            statuses.append(refresh(http, token).status_code)

    with serve(app) as base_url:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            register(http, "race@example.com")
            _, refresh_token = login_pair(http, "race@example.com")
        threads = [
            threading.Thread(target=attempt, args=(base_url, refresh_token), daemon=True)
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(statuses) == [200] + [401] * 7
