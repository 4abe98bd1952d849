"""Accounts made through the demo's own API: register, log in, refresh, and the password
hasher the demo is built with in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from demo_app.security import Passwords
from tests.helpers import bearer

PASSWORD = "correct horse battery staple"
#: The fields of a login's or a refresh's answer (an OAuth 2.0 token response, and the user).
TOKEN_PAIR_FIELDS = {"access_token", "token_type", "expires_in", "scope", "refresh_token", "user"}

#: Both talk to the demo: the test client in-process, httpx to a real server.
Client = httpx.Client | TestClient


@dataclass(frozen=True)
class Account:
    """A registered user and a token for it, made through the API."""

    id: int
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


def cheap_passwords() -> Passwords:
    """Real argon2id, with parameters cheap enough for many accounts per test run."""
    return Passwords(PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)))


def register(client: Client, email: str, password: str = PASSWORD) -> Any:
    """``POST /auth/register``, which must answer 201; the new user."""
    reply = client.post("/auth/register", json={"email": email, "password": password})
    assert reply.status_code == 201, reply.text
    return reply.json()


def login(client: Client, email: str, password: str = PASSWORD, *, scope: str | None = None) -> str:
    """The access token of a new login (all scopes, unless ``scope`` says which)."""
    return login_pair(client, email, password, scope=scope)[0]


def login_pair(
    client: Client, email: str, password: str = PASSWORD, *, scope: str | None = None
) -> tuple[str, str]:
    """The access and refresh token of a new login."""
    body: dict[str, str] = {"email": email, "password": password}
    if scope is not None:
        body["scope"] = scope
    reply = client.post("/auth/login", json=body)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    return body["access_token"], body["refresh_token"]


def make_account(client: Client, email: str) -> Account:
    """A user registered and logged in through the API."""
    user = register(client, email)
    return Account(id=user["id"], email=email, password=PASSWORD, token=login(client, email))


def refresh(client: Client, token: str) -> Any:
    """``POST /auth/refresh`` with ``token``, whatever the answer."""
    return client.post("/auth/refresh", json={"refresh_token": token})
