"""Refresh-token rotation, reuse detection and logout, with sessions in the database and in
Redis.

Every test of the first part runs twice: with the sessions kept in the demo's database (the
default) and in the real Redis on loopback (a key prefix of its own). Refresh tokens are
minted with PyJWT directly as well as taken from /auth/login, so a bug in the library's
helper cannot hide one in the demo's checks.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from demo_app import routes_auth
from demo_app.app import create_app
from demo_app.models import User
from demo_app.sessions import Sessions
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.helpers import OTHER_SECRET, SECRET, bearer, mint_token
from tests.servers import serve
from tests.services import REDIS_URL

from .accounts import Account, cheap_passwords, login_pair, refresh, register
from .databases import engine_with_tables

REVOKED = {"detail": "The access token was revoked."}
REFRESH_INVALID = {"detail": "The refresh token is invalid."}
REFRESH_EXPIRED = {"detail": "The refresh token expired."}
REFRESH_REVOKED = {"detail": "The refresh token was revoked."}
UNAVAILABLE = {"detail": "Authentication is temporarily unavailable."}
STORE_UNAVAILABLE = {"detail": "Token revocation is temporarily unavailable."}


@pytest.fixture(params=["database", "redis"])
def demo_settings(request: pytest.FixtureRequest, database_url: str) -> DemoSettings:
    """The conftest's settings, once without Redis and once with its own Redis prefix."""
    if request.param == "database":
        return DemoSettings(database_url=database_url)
    prefix: str = request.getfixturevalue("redis_prefix")
    return DemoSettings(database_url=database_url, redis_url=REDIS_URL, redis_key_prefix=prefix)


def mint_refresh(
    sub: str, *, typ: str | None = "refresh+jwt", drop: tuple[str, ...] = (), **claims: Any
) -> str:
    """A refresh token made with PyJWT directly: a ``typ`` header, ``fam`` and ``jti``."""
    claims.setdefault("fam", secrets.token_urlsafe(16))
    claims.setdefault("jti", secrets.token_urlsafe(16))
    headers = {"typ": typ} if typ is not None else None
    return mint_token(sub, headers=headers, drop=drop, **claims)


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return header, claims


# Login and refresh -----------------------------------------------------------------------


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
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
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


# Logout ----------------------------------------------------------------------------------


def test_logout_revokes_the_access_token(client: TestClient, alice: Account, bob: Account) -> None:
    reply = client.post("/auth/logout", headers=alice.headers)

    assert reply.status_code == 204
    assert reply.content == b""
    for method, path in [("GET", "/auth/me"), ("GET", "/todos"), ("POST", "/auth/logout")]:
        refused = client.request(method, path, headers=alice.headers)
        assert (refused.status_code, refused.json()) == (401, REVOKED), (method, path)
        assert refused.headers["www-authenticate"] == (
            'Bearer realm="api", error="invalid_token", '
            'error_description="The access token was revoked."'
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


# Redis unreachable -----------------------------------------------------------------------


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


# Several instances in one process ---------------------------------------------------------


def _instances(
    count: int, tmp_path: Path, jwt_settings: JWTSettings, **options: Any
) -> list[TestClient]:
    """``count`` apps on one SQLite file, each with its own sessions object and event loop."""
    settings = DemoSettings(database_url=f"sqlite:///{tmp_path / 'shared.db'}", **options)
    return [
        TestClient(create_app(settings, jwt_settings, passwords=cheap_passwords()))
        for _ in range(count)
    ]


@pytest.mark.parametrize("store", ["database", "redis"])
def test_instances_share_logouts_and_refreshes(
    tmp_path: Path, jwt_settings: JWTSettings, store: str, request: pytest.FixtureRequest
) -> None:
    """Two instances on one database: without Redis the revocations are rows in it, so they
    are shared as well as they are with Redis."""
    options: dict[str, Any] = {}
    if store == "redis":
        options = {
            "redis_url": REDIS_URL,
            "redis_key_prefix": request.getfixturevalue("redis_prefix"),
        }
    one, two = _instances(2, tmp_path, jwt_settings, **options)
    with one, two:
        one.post("/auth/register", json={"email": "a@example.com", "password": "long enough"})
        access, refresh_token = login_pair(one, "a@example.com", "long enough")
        assert refresh(two, refresh_token).status_code == 200
        assert refresh(one, refresh_token).json() == REFRESH_REVOKED  # reuse seen by the other

        access, _ = login_pair(two, "a@example.com", "long enough")
        assert one.get("/auth/me", headers=bearer(access)).status_code == 200
        assert two.post("/auth/logout", headers=bearer(access)).status_code == 204
        assert one.get("/auth/me", headers=bearer(access)).json() == REVOKED


def test_redis_keys_expire_with_the_tokens(
    tmp_path: Path, jwt_settings: JWTSettings, redis_prefix: str, sync_redis: Any
) -> None:
    """Nothing is kept forever: each key's TTL ends after the token it concerns."""
    (app,) = _instances(
        1, tmp_path, jwt_settings, redis_url=REDIS_URL, redis_key_prefix=redis_prefix
    )
    with app:
        app.post("/auth/register", json={"email": "a@example.com", "password": "long enough"})
        access, refresh_token = login_pair(app, "a@example.com", "long enough")
        refresh(app, refresh_token)
        app.post("/auth/logout", headers=bearer(access))

    keys = sorted(key.decode() for key in sync_redis.scan_iter(match=f"{redis_prefix}*"))
    kinds = sorted(key.removeprefix(redis_prefix).split(":")[0] for key in keys)
    assert kinds == ["family", "refresh-used", "revoked"]
    longest = max(jwt_settings.expiry_seconds, jwt_settings.refresh_expiry_seconds) + 60
    for key in keys:
        assert 0 < sync_redis.ttl(key) <= longest, key
    assert SECRET not in "".join(keys)


# Marking refresh tokens used -------------------------------------------------------------


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The demo's engine on the test's database, its tables created as at start-up."""
    with engine_with_tables(database_url) as demo_engine:
        yield demo_engine


def _mark_used(sessions: Sessions, claims_list: list[dict[str, Any]]) -> list[bool]:
    """Mark each refresh token used, all at once, on one event loop; then close the sessions."""

    async def scenario() -> list[bool]:
        try:
            return await asyncio.gather(
                *(sessions.mark_refresh_token_used(claims) for claims in claims_list)
            )
        finally:
            await sessions.aclose()

    return asyncio.run(scenario())


def test_marking_used_is_atomic(
    demo_settings: DemoSettings, jwt_settings: JWTSettings, engine: Engine
) -> None:
    sessions = Sessions.from_settings(demo_settings, jwt_settings, engine=engine)
    claims = {"jti": "same-jti", "exp": int(time.time()) + 60}

    results = _mark_used(sessions, [claims] * 20)

    assert sorted(results) == [False] * 19 + [True]


@pytest.mark.parametrize(
    ("lifetime", "second_use"),
    [
        pytest.param(600, False, id="unexpired"),
        pytest.param(-5, False, id="expired-but-within-leeway"),
        # Past the leeway the token no longer verifies, so nothing needs remembering.
        pytest.param(-31, True, id="expired-beyond-leeway"),
    ],
)
def test_a_used_mark_lasts_while_the_token_verifies(
    demo_settings: DemoSettings, engine: Engine, lifetime: int, second_use: bool
) -> None:
    """The verifier's leeway reaches the store: a token it still accepts stays used."""
    sessions = Sessions.from_settings(
        demo_settings, JWTSettings(secret=SECRET, leeway_seconds=30), engine=engine
    )
    claims = {"jti": "late-jti", "exp": int(time.time()) + lifetime}

    async def use_twice() -> tuple[bool, bool]:
        try:
            first = await sessions.mark_refresh_token_used(claims)
            return first, await sessions.mark_refresh_token_used(claims)
        finally:
            await sessions.aclose()

    assert asyncio.run(use_twice()) == (True, second_use)


def test_redis_used_token_key_lives_until_the_token_expires(
    redis_prefix: str, sync_redis: Any, database_url: str, engine: Engine
) -> None:
    settings = DemoSettings(
        database_url=database_url, redis_url=REDIS_URL, redis_key_prefix=redis_prefix
    )
    sessions = Sessions.from_settings(
        settings, JWTSettings(secret=SECRET, leeway_seconds=30), engine=engine
    )

    assert _mark_used(sessions, [{"jti": "jti-1", "exp": int(time.time()) + 600}]) == [True]

    assert 600 <= sync_redis.ttl(f"{redis_prefix}refresh-used:jti-1") <= 631
