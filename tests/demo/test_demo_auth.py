"""Registration, login (JSON and OAuth2 form), /auth/me, and how passwords are kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine
from sqlmodel import Session, select

from demo_app.app import create_app
from demo_app.models import User
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.helpers import bearer, mint_token

from .accounts import (
    PASSWORD,
    TOKEN_PAIR_FIELDS,
    Account,
    cheap_passwords,
    login,
    register,
)


def _stored_hash(db: Engine, email: str) -> str:
    with Session(db) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        return user.password_hash


# Registration ----------------------------------------------------------------------------


def test_register_answers_the_new_user_without_any_password(client: TestClient) -> None:
    reply = client.post("/auth/register", json={"email": "carol@example.com", "password": PASSWORD})

    assert reply.status_code == 201
    body = reply.json()
    assert set(body) == {"id", "email", "created_at"}
    assert body["email"] == "carol@example.com"
    assert isinstance(body["id"], int)
    assert body["created_at"].endswith("Z")
    assert PASSWORD not in reply.text
    assert "argon2" not in reply.text


def test_register_stores_an_argon2id_hash_not_the_password(client: TestClient, db: Engine) -> None:
    register(client, "carol@example.com")

    stored = _stored_hash(db, "carol@example.com")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_emails_are_stored_lower_case(client: TestClient) -> None:
    body = register(client, "Carol.Smith@Example.COM")

    assert body["email"] == "carol.smith@example.com"


@pytest.mark.parametrize(
    "second",
    ["carol@example.com", "CAROL@EXAMPLE.COM", "Carol@example.com"],
    ids=["same", "upper", "mixed"],
)
def test_register_taken_email_is_409_whatever_its_case(client: TestClient, second: str) -> None:
    register(client, "carol@example.com")

    reply = client.post("/auth/register", json={"email": second, "password": "another-password"})

    assert reply.status_code == 409
    assert reply.json() == {"detail": "Email already registered."}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@b@example.com", "password": PASSWORD}, "email"),
        ({"email": "", "password": PASSWORD}, "email"),
        ({"email": "x" * 400 + "@example.com", "password": PASSWORD}, "email"),
        ({"email": "carol@example.com", "password": "seven77"}, "password"),
        ({"email": "carol@example.com", "password": ""}, "password"),
        ({"email": "carol@example.com", "password": "p" * 1025}, "password"),
        ({"email": "carol@example.com", "password": 12345678}, "password"),
        ({"email": "carol@example.com"}, "password"),
        ({"password": PASSWORD}, "email"),
    ],
    ids=[
        "no-at",
        "two-ats",
        "empty-email",
        "email-too-long",
        "password-7-chars",
        "password-empty",
        "password-1025-chars",
        "password-a-number",
        "password-missing",
        "email-missing",
    ],
)
def test_register_rejects_bad_input_with_422(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    reply = client.post("/auth/register", json=body)

    assert reply.status_code == 422
    problems = reply.json()["detail"]
    assert [problem["loc"] for problem in problems] == [["body", field]]
    assert all(problem["msg"] for problem in problems)


def test_password_of_exactly_the_bounds_is_accepted(client: TestClient) -> None:
    register(client, "short@example.com", password="8charsok")
    register(client, "long@example.com", password="p" * 1024)

    assert login(client, "long@example.com", password="p" * 1024)


def test_rejected_passwords_are_never_echoed(client: TestClient) -> None:
    for password in ("tiny", "q" * 1025):
        reply = client.post(
            "/auth/register", json={"email": "carol@example.com", "password": password}
        )
        assert reply.status_code == 422
        assert password not in reply.text


def test_minimum_password_length_is_configurable(tmp_path: Any, jwt_settings: JWTSettings) -> None:
    settings = DemoSettings(database_url=f"sqlite:///{tmp_path}/x.db", password_min_length=12)
    with TestClient(create_app(settings, jwt_settings, passwords=cheap_passwords())) as client:
        short = client.post(
            "/auth/register", json={"email": "c@example.com", "password": "elevenchars"}
        )
        assert short.status_code == 422
        assert short.json()["detail"][0]["msg"] == "String should have at least 12 characters"
        register(client, "c@example.com", password="twelve chars")


def _json_login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/auth/login", json={"email": email, "password": password})


def _form_login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/auth/token", data={"username": email, "password": password})


LOGINS = [
    pytest.param(_json_login, id="json-login"),
    pytest.param(_form_login, id="oauth2-form"),
]


@pytest.mark.parametrize("log_in", LOGINS)
def test_login_answers_a_bearer_token_for_the_user(
    client: TestClient, alice: Account, log_in: Callable[..., Any]
) -> None:
    reply = log_in(client, "ALICE@example.com", PASSWORD)

    assert reply.status_code == 200
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert set(body) == TOKEN_PAIR_FIELDS
    assert body["scope"] == "todos:read todos:write"
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 7 * 86400
    assert body["refresh_token"] != body["access_token"]
    assert body["user"]["email"] == "alice@example.com"
    assert PASSWORD not in reply.text
    me = client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.json()["id"] == alice.id


@pytest.mark.parametrize("log_in", LOGINS)
@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("alice@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("nobody@example.com", "wrong password"),
        ("not an email", PASSWORD),
        ("alice@example.com", PASSWORD + "x"),
        ("alice@example.com", PASSWORD.upper()),
        ("alice@example.com", "x" * 2000),
        ("x" * 2000 + "@example.com", PASSWORD),
    ],
    ids=[
        "wrong-password",
        "unknown-email",
        "both-wrong",
        "malformed-email",
        "password-plus-one",
        "password-case",
        "password-too-long",
        "email-too-long",
    ],
)
def test_every_failed_login_gets_the_same_401(
    client: TestClient,
    alice: Account,
    log_in: Callable[..., Any],
    email: str,
    password: str,
) -> None:
    reply = log_in(client, email, password)

    assert reply.status_code == 401
    assert reply.json() == {"detail": "Incorrect email or password."}
    assert reply.headers["www-authenticate"] == 'Bearer realm="api"'


def test_empty_password_is_just_a_wrong_one(client: TestClient, alice: Account) -> None:
    reply = client.post("/auth/login", json={"email": alice.email, "password": ""})

    assert reply.status_code == 401
    assert reply.json() == {"detail": "Incorrect email or password."}


@pytest.mark.parametrize("log_in", LOGINS)
def test_unknown_email_costs_one_password_verification_like_a_wrong_password(
    client: TestClient,
    alice: Account,
    log_in: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both misses run argon2 once, so timing cannot tell which emails exist."""
    calls: list[str] = []
    original = Argon2Hasher.verify

    def counting_verify(self: Argon2Hasher, password: str | bytes, hash: str | bytes) -> bool:
        calls.append("verify")
        return original(self, password, hash)

    monkeypatch.setattr(Argon2Hasher, "verify", counting_verify)

    wrong_password = log_in(client, "alice@example.com", "wrong password")
    assert calls == ["verify"]
    unknown_email = log_in(client, "nobody@example.com", "wrong password")
    assert calls == ["verify", "verify"]

    assert (wrong_password.status_code, wrong_password.json()) == (
        unknown_email.status_code,
        unknown_email.json(),
    )


def test_login_upgrades_a_hash_made_with_weaker_parameters(
    demo_settings: DemoSettings, jwt_settings: JWTSettings, db: Engine
) -> None:
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1),))
    # The app's own hasher: argon2id with the library defaults.
    with TestClient(create_app(demo_settings, jwt_settings)) as client:
        with Session(db) as session:
            session.add(User(email="old@example.com", password_hash=weak.hash(PASSWORD)))
            session.commit()
        old_hash = _stored_hash(db, "old@example.com")
        assert old_hash.startswith("$argon2id$v=19$m=8192,t=1,p=1$")

        login(client, "old@example.com")

        new_hash = _stored_hash(db, "old@example.com")
        assert new_hash != old_hash
        assert new_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        login(client, "old@example.com")
        assert _stored_hash(db, "old@example.com") == new_hash  # current: left alone


def test_wrong_password_does_not_upgrade_the_hash(
    demo_settings: DemoSettings, jwt_settings: JWTSettings, db: Engine
) -> None:
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1),))
    with TestClient(create_app(demo_settings, jwt_settings, passwords=cheap_passwords())) as client:
        with Session(db) as session:
            session.add(User(email="old@example.com", password_hash=weak.hash(PASSWORD)))
            session.commit()
        old_hash = _stored_hash(db, "old@example.com")

        reply = client.post(
            "/auth/login", json={"email": "old@example.com", "password": "not it at all"}
        )

        assert reply.status_code == 401
        assert _stored_hash(db, "old@example.com") == old_hash


@pytest.mark.parametrize(
    "body",
    [
        {"email": "alice@example.com"},
        {"password": PASSWORD},
        {"email": ["alice@example.com"], "password": PASSWORD},
        {"email": "alice@example.com", "password": None},
    ],
    ids=["no-password", "no-email", "email-a-list", "password-null"],
)
def test_malformed_login_body_is_422(client: TestClient, body: dict[str, Any]) -> None:
    reply = client.post("/auth/login", json=body)

    assert reply.status_code == 422


def test_token_endpoint_needs_the_form_fields(client: TestClient) -> None:
    reply = client.post("/auth/token", data={"username": "alice@example.com"})

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "password"]


# /auth/me --------------------------------------------------------------------------------


def test_me_answers_the_token_owner(client: TestClient, alice: Account, bob: Account) -> None:
    assert client.get("/auth/me", headers=alice.headers).json()["email"] == "alice@example.com"
    assert client.get("/auth/me", headers=bob.headers).json()["email"] == "bob@example.com"


def test_me_without_a_token_is_401(client: TestClient) -> None:
    reply = client.get("/auth/me")

    assert reply.status_code == 401
    assert reply.json() == {"detail": "Authentication required."}
    assert reply.headers["www-authenticate"] == 'Bearer realm="api"'


def test_token_of_a_deleted_user_stops_working(
    client: TestClient, alice: Account, db: Engine
) -> None:
    assert client.post("/todos", json={"title": "x"}, headers=alice.headers).status_code == 201
    with Session(db) as session:
        session.delete(session.get(User, alice.id))
        session.commit()

    for method, path in [("GET", "/auth/me"), ("GET", "/todos"), ("POST", "/todos")]:
        reply = client.request(method, path, headers=alice.headers, json={"title": "y"})
        assert reply.status_code == 401, (method, path)
        assert reply.json() == {"detail": "The access token is invalid."}
        assert 'error="invalid_token"' in reply.headers["www-authenticate"]


@pytest.mark.parametrize(
    "sub",
    ["999999", "0", "-1", "abc", "1.0", "99999999999999999999", "\u0661"],
    ids=["no-such-id", "zero", "negative", "letters", "float", "huge", "arabic-digit"],
)
def test_validly_signed_token_for_no_user_is_401(
    client: TestClient, alice: Account, sub: str
) -> None:
    headers = bearer(mint_token(sub))

    reply = client.get("/auth/me", headers=headers)

    assert reply.status_code == 401
    assert reply.json() == {"detail": "The access token is invalid."}


@pytest.mark.parametrize(
    ("requested", "granted", "status"),
    [
        pytest.param(None, "todos:read todos:write", 200, id="default-all"),
        pytest.param("todos:read", "todos:read", 200, id="read-only"),
        pytest.param("todos:write todos:read", "todos:write todos:read", 200, id="both"),
        pytest.param("todos:read todos:read", "todos:read", 200, id="repeated"),
        pytest.param("admin", None, 400, id="unknown-scope"),
        pytest.param("todos:read admin", None, 400, id="one-unknown"),
    ],
)
def test_a_login_grants_the_scopes_asked_for(
    client: TestClient, alice: Account, requested: str | None, granted: str | None, status: int
) -> None:
    body = {"email": alice.email, "password": alice.password}
    if requested is not None:
        body["scope"] = requested
    reply = client.post("/auth/login", json=body)
    assert reply.status_code == status
    if granted is not None:
        assert reply.json()["scope"] == granted
        claims = jwt.decode(reply.json()["access_token"], options={"verify_signature": False})
        assert claims["scope"] == granted


def test_a_read_only_token_cannot_write(client: TestClient, alice: Account) -> None:
    token = login(client, alice.email, scope="todos:read")
    assert client.get("/todos", headers=bearer(token)).status_code == 200
    reply = client.post("/todos", headers=bearer(token), json={"title": "Buy milk"})
    assert reply.status_code == 403
    assert reply.headers["www-authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token lacks the required scope.", scope="todos:write"'
    )
    assert reply.json() == {"detail": "The access token lacks the required scope."}


def test_the_oauth2_form_grants_the_scopes_ticked(client: TestClient, alice: Account) -> None:
    form = {"username": alice.email, "password": alice.password, "scope": "todos:read"}
    reply = client.post("/auth/token", data=form)
    assert reply.json()["scope"] == "todos:read"


def test_a_refresh_keeps_the_scopes(client: TestClient, alice: Account) -> None:
    reply = client.post(
        "/auth/login",
        json={"email": alice.email, "password": alice.password, "scope": "todos:read"},
    )
    refreshed = client.post("/auth/refresh", json={"refresh_token": reply.json()["refresh_token"]})
    assert refreshed.json()["scope"] == "todos:read"
