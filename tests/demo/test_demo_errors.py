"""Bad input of every kind gets a clear 4xx, never a 500: broken JSON, wrong types,
oversized bodies (declared or streamed), and whatever hypothesis comes up with.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers import serve

from .accounts import Account

MAX_BODY = 64 * 1024  # DemoSettings' default


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"title": "x"',
        b"",
        b"\xff\xfe\x00",
        b'{"title": "x"} trailing',
        b"[]",
        b'{"title": "x", "done": NaN}',
        b'{"title": Infinity}',
        b'{"title": "\\ud800"}',
        b'{"title": "x", "title": 5}',
    ],
    ids=[
        "not-json",
        "unterminated",
        "empty",
        "not-utf8",
        "trailing-garbage",
        "an-array",
        "nan-literal",
        "infinity-literal",
        "lone-surrogate",
        "duplicate-key",
    ],
)
def test_malformed_json_is_a_4xx_with_a_message(
    client: TestClient, alice: Account, raw: bytes
) -> None:
    reply = client.post(
        "/todos", content=raw, headers={**alice.headers, "Content-Type": "application/json"}
    )

    assert reply.status_code in (400, 422)
    assert reply.json()["detail"]


def test_broken_json_is_reported_as_such(client: TestClient) -> None:
    reply = client.post(
        "/auth/register", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["type"] == "json_invalid"
    assert reply.json()["detail"][0]["msg"] == "JSON decode error"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded"],
    ids=["none", "text", "form"],
)
def test_json_routes_want_json(
    client: TestClient, alice: Account, content_type: str | None
) -> None:
    headers = dict(alice.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type

    reply = client.post("/todos", content=b'{"title": "x"}', headers=headers)

    assert reply.status_code == 422


@pytest.mark.parametrize(
    ("path", "authenticated"),
    [("/auth/register", False), ("/auth/login", False), ("/auth/token", False), ("/todos", True)],
)
def test_declared_oversized_body_is_413(
    client: TestClient, alice: Account, path: str, authenticated: bool
) -> None:
    headers = {"Content-Type": "application/json", **(alice.headers if authenticated else {})}
    body = json.dumps({"email": "a@example.com", "password": "p" * MAX_BODY}).encode()

    reply = client.post(path, content=body, headers=headers)

    assert reply.status_code == 413
    assert reply.json() == {"detail": "Request body too large."}


def test_body_at_the_limit_is_read(client: TestClient, alice: Account) -> None:
    body = b'{"title": "x"}'.ljust(MAX_BODY, b" ")

    reply = client.post(
        "/todos", content=body, headers={**alice.headers, "Content-Type": "application/json"}
    )

    assert reply.status_code == 201


def _chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    yield b'{"title": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/auth/register", "application/json"), ("/auth/token", "application/x-www-form-urlencoded")],
    ids=["json", "form"],
)
def test_streamed_oversized_body_is_413(app: FastAPI, path: str, content_type: str) -> None:
    """Without Content-Length (chunked), the body is counted as it is read."""
    with serve(app) as base_url:
        reply = httpx.post(
            base_url + path,
            content=_chunks(4 * MAX_BODY),
            headers={"Content-Type": content_type},
            timeout=30,
        )
        assert reply.request.headers.get("transfer-encoding") == "chunked"
        assert reply.status_code == 413
        assert reply.json() == {"detail": "Request body too large."}
        assert httpx.get(base_url + "/health", timeout=10).status_code == 200


def test_streamed_small_body_is_fine(app: FastAPI) -> None:
    with serve(app) as base_url:
        reply = httpx.post(
            base_url + "/auth/register",
            content=iter([b'{"email": "c@example.com", ', b'"password": "long enough"}']),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    assert reply.status_code == 201


def test_unknown_route_is_401_without_and_404_with_a_token(
    client: TestClient, alice: Account
) -> None:
    assert client.get("/nope").status_code == 401
    assert client.get("/nope", headers=alice.headers).status_code == 404


def test_wrong_method_is_405(client: TestClient, alice: Account) -> None:
    assert client.put("/todos", headers=alice.headers, json={}).status_code == 405


# Property: nothing a client sends makes the server fail. ---------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
todo_like = st.fixed_dictionaries(
    {},
    optional={
        "title": st.text(max_size=300) | json_values,
        "done": st.booleans() | json_values,
    },
)
account_like = st.fixed_dictionaries(
    {},
    optional={
        "email": st.emails() | st.text(max_size=40) | json_values,
        "password": st.text(max_size=40) | json_values,
    },
)
FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _assert_handled(reply: Any) -> None:
    assert reply.status_code < 500, reply.text
    if reply.status_code >= 400 and reply.content:
        assert reply.json()["detail"]


@FUZZ
@given(body=todo_like | json_values)
def test_any_todo_body_gets_an_answer_not_a_crash(
    client: TestClient, alice: Account, body: Any
) -> None:
    created = client.post("/todos", json=body, headers=alice.headers)
    _assert_handled(created)
    if created.status_code == 201:
        assert created.json()["title"] == body["title"].strip()
    updated = client.patch("/todos/1", json=body, headers=alice.headers)
    _assert_handled(updated)


@FUZZ
@given(body=account_like | json_values)
def test_any_register_or_login_body_gets_an_answer_not_a_crash(
    client: TestClient, body: Any
) -> None:
    _assert_handled(client.post("/auth/register", json=body))
    _assert_handled(client.post("/auth/login", json=body))


@FUZZ
@given(raw=st.binary(max_size=200))
def test_any_bytes_get_an_answer_not_a_crash(
    client: TestClient, alice: Account, raw: bytes
) -> None:
    for path in ("/todos", "/auth/register"):
        reply = client.post(
            path, content=raw, headers={**alice.headers, "Content-Type": "application/json"}
        )
        _assert_handled(reply)
    form = client.post(
        "/auth/token",
        content=raw,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _assert_handled(form)
