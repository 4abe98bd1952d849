"""Demo fixtures: an app per test on its own SQLite file (or a fresh PostgreSQL database),
a client that runs its lifespan and accounts made through the API itself
(:mod:`tests.demo.accounts`). Tests that share state through the real Redis on loopback use
the root conftest's ``redis_prefix``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import Engine
from sqlmodel import SQLModel, create_engine

from demo_app.app import create_app
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.browser import chromium
from tests.helpers import SECRET
from tests.services import fresh_postgres_database

from .accounts import Account, cheap_passwords, make_account


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
def browser() -> Iterator[Browser]:
    """Headless Chromium for the browser tests (:mod:`tests.browser`)."""
    with chromium() as browser:
        yield browser


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
