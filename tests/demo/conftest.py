"""Demo fixtures: an app per test on its own SQLite file (or a fresh PostgreSQL database),
a client that runs its lifespan and accounts made through the API itself. Tests that share
state through the real Redis on loopback use the root conftest's ``redis_prefix``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine
from sqlmodel import SQLModel, create_engine

from demo_app.app import create_app
from demo_app.security import Passwords
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.conftest import SECRET, fresh_postgres_database

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Account:
    """A registered user and a token for it, made through the API."""

    id: int
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def cheap_passwords() -> Passwords:
    """Real argon2id, with parameters cheap enough for many accounts per test run."""
    return Passwords(PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)))


def register(client: httpx.Client | TestClient, email: str, password: str = PASSWORD) -> Any:
    reply = client.post("/auth/register", json={"email": email, "password": password})
    assert reply.status_code == 201, reply.text
    return reply.json()


def login(client: httpx.Client | TestClient, email: str, password: str = PASSWORD) -> str:
    return login_pair(client, email, password)[0]


def login_pair(
    client: httpx.Client | TestClient, email: str, password: str = PASSWORD
) -> tuple[str, str]:
    """The access and refresh token of a new login."""
    reply = client.post("/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    return body["access_token"], body["refresh_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_account(client: httpx.Client | TestClient, email: str) -> Account:
    user = register(client, email)
    return Account(id=user["id"], email=email, password=PASSWORD, token=login(client, email))


@pytest.fixture(autouse=True)
def _clean_demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's demo configuration either."""
    for name in list(os.environ):
        if name.startswith("DEMO_") or name in ("DATABASE_URL", "PORT"):
            monkeypatch.delenv(name)


@pytest.fixture
def redis_prefix_label() -> str:
    """Demo keys (DEMO_REDIS_KEY_PREFIX) apart from the library tests' own."""
    return "jwt-demo-test"


@pytest.fixture
def jwt_settings() -> JWTSettings:
    return JWTSettings(secret=SECRET)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'demo.db'}"


@pytest.fixture
def demo_settings(database_url: str) -> DemoSettings:
    return DemoSettings(database_url=database_url)


@pytest.fixture
def app(demo_settings: DemoSettings, jwt_settings: JWTSettings) -> FastAPI:
    return create_app(demo_settings, jwt_settings, passwords=cheap_passwords())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def alice(client: TestClient) -> Account:
    return make_account(client, "alice@example.com")


@pytest.fixture
def bob(client: TestClient) -> Account:
    return make_account(client, "bob@example.com")


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """A second engine on the app's database, for looking behind the API's back."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database for this test session, dropped after it."""
    with fresh_postgres_database("jwt_demo") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new database, once SQLite (a file) and once PostgreSQL (emptied after the test)."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path}/demo.db"


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    """The session's PostgreSQL database, emptied again after each test."""
    yield postgres_database
    engine = create_engine(postgres_database)
    SQLModel.metadata.drop_all(engine)
    engine.dispose()
