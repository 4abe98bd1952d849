"""The same end-to-end flow on SQLite and on PostgreSQL (a fresh database on loopback).

PostgreSQL is stricter than SQLite in ways that turn into 500s when an app forgets them
(NUL characters, 32-bit ids, enforced foreign keys); these tests run the flow on both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, create_engine, select

from demo_app.app import create_app
from demo_app.db import create_db_engine, create_tables
from demo_app.models import User
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.helpers import bearer
from tests.servers import serve

from .accounts import PASSWORD, cheap_passwords, make_account

NOT_FOUND = {"detail": "To-do not found."}


@pytest.fixture
def backend_app(backend_url: str, jwt_settings: JWTSettings) -> FastAPI:
    return create_app(
        DemoSettings(database_url=backend_url), jwt_settings, passwords=cheap_passwords()
    )


@pytest.fixture
def backend_client(backend_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(backend_app) as client:
        yield client


def test_register_login_crud_and_isolation(backend_client: TestClient) -> None:
    client = backend_client
    assert client.get("/health").json() == {
        "status": "ok",
        "database": "ok",
        "redis": "not configured",
    }
    alice = make_account(client, "Alice@Example.com")
    bob = make_account(client, "bob@example.com")
    assert (
        client.post(
            "/auth/register", json={"email": "ALICE@example.com", "password": PASSWORD}
        ).status_code
        == 409
    )

    created = [
        client.post("/todos", json={"title": f"task {n}"}, headers=alice.headers).json()
        for n in range(3)
    ]
    first = created[0]
    path = f"/todos/{first['id']}"
    assert client.get(path, headers=alice.headers).json() == first
    patched = client.patch(path, json={"done": True, "title": "task zero"}, headers=alice.headers)
    assert patched.json()["done"] is True
    assert patched.json()["title"] == "task zero"
    page = client.get("/todos", params={"limit": 2, "offset": 1}, headers=alice.headers).json()
    assert [t["title"] for t in page["items"]] == ["task 1", "task 2"]
    assert page["total"] == 3

    for method, body in (("GET", None), ("PATCH", {"done": False}), ("DELETE", None)):
        theirs = client.request(method, path, headers=bob.headers, json=body)
        missing = client.request(method, "/todos/2147483647", headers=bob.headers, json=body)
        assert (theirs.status_code, theirs.json()) == (404, NOT_FOUND)
        assert (missing.status_code, missing.json()) == (404, NOT_FOUND)
    assert client.get("/todos", headers=bob.headers).json()["total"] == 0
    assert client.get(path, headers=alice.headers).json()["done"] is True

    assert client.delete(path, headers=alice.headers).status_code == 204
    assert client.get(path, headers=alice.headers).status_code == 404
    assert client.get("/todos", headers=alice.headers).json()["total"] == 2
    assert client.get("/auth/me", headers=alice.headers).json()["email"] == "alice@example.com"


@pytest.mark.parametrize(
    "todo_id",
    ["2147483647", "2147483648", "9223372036854775808"],
    ids=["int32-max", "past-int32", "past-int64"],
)
def test_large_ids_are_404(backend_client: TestClient, todo_id: str) -> None:
    alice = make_account(backend_client, "alice@example.com")

    reply = backend_client.get(f"/todos/{todo_id}", headers=alice.headers)

    assert (reply.status_code, reply.json()) == (404, NOT_FOUND)


def test_nul_characters_are_refused_before_the_database(backend_client: TestClient) -> None:
    alice = make_account(backend_client, "alice@example.com")

    reply = backend_client.post("/todos", json={"title": "a\u0000b"}, headers=alice.headers)

    assert reply.status_code == 422
    register = backend_client.post(
        "/auth/register", json={"email": "nul\u0000@example.com", "password": PASSWORD}
    )
    assert register.status_code == 422


def test_instances_starting_together_create_the_tables_once(backend_url: str) -> None:
    """Several instances start against a new database at once; none may fail on the race."""
    engines = [create_db_engine(backend_url) for _ in range(4)]
    start = threading.Barrier(len(engines), timeout=20)
    errors: list[Exception] = []

    def start_up(engine: Engine) -> None:
        start.wait()
        try:
            create_tables(engine)
        except Exception as exc:  # reported below, with the backend
            errors.append(exc)

    threads = [threading.Thread(target=start_up, args=(engine,), daemon=True) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for engine in engines:
        engine.dispose()

    assert errors == []


def test_concurrent_registrations_make_one_account(backend_app: FastAPI, backend_url: str) -> None:
    """The unique index settles the race: one 201, the rest 409, never a 500."""
    statuses: list[int] = []
    start = threading.Barrier(5)

    def attempt(base_url: str) -> None:
        start.wait()
        reply = httpx.post(
            f"{base_url}/auth/register",
            json={"email": "race@example.com", "password": PASSWORD},
            timeout=30,
        )
        statuses.append(reply.status_code)

    with serve(backend_app) as base_url:
        threads = [threading.Thread(target=attempt, args=(base_url,)) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(statuses) == [201, 409, 409, 409, 409]
    engine = create_engine(backend_url)
    with Session(engine) as session:
        assert len(session.exec(select(User)).all()) == 1
    engine.dispose()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=st.text(min_size=1, max_size=200))
def test_any_title_is_stored_exactly_or_refused_with_422(
    backend_client: TestClient, title: str
) -> None:
    token = backend_client.post(
        "/auth/login", json={"email": "fuzz@example.com", "password": PASSWORD}
    )
    if token.status_code == 401:
        make_account(backend_client, "fuzz@example.com")
        token = backend_client.post(
            "/auth/login", json={"email": "fuzz@example.com", "password": PASSWORD}
        )
    headers = bearer(token.json()["access_token"])

    reply = backend_client.post("/todos", json={"title": title}, headers=headers)

    assert reply.status_code in (201, 422), reply.text
    if reply.status_code == 201:
        stored = backend_client.get(f"/todos/{reply.json()['id']}", headers=headers).json()
        assert stored["title"] == title.strip()
