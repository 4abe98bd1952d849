"""/todos: create, list with pagination, read, update and delete one's own items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .accounts import Account


def _create(client: TestClient, account: Account, title: str, **fields: Any) -> Any:
    reply = client.post("/todos", json={"title": title, **fields}, headers=account.headers)
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_create_answers_201_with_the_item_and_its_location(
    client: TestClient, alice: Account
) -> None:
    reply = client.post("/todos", json={"title": "  buy milk  "}, headers=alice.headers)

    assert reply.status_code == 201
    body = reply.json()
    assert set(body) == {"id", "title", "done", "created_at", "updated_at"}
    assert body["title"] == "buy milk"
    assert body["done"] is False
    assert datetime.fromisoformat(body["created_at"]).utcoffset() is not None
    assert reply.headers["location"] == f"/todos/{body['id']}"
    assert client.get(reply.headers["location"], headers=alice.headers).json() == body


def test_create_can_start_done(client: TestClient, alice: Account) -> None:
    assert _create(client, alice, "already", done=True)["done"] is True


def test_crud_round_trip(client: TestClient, alice: Account) -> None:
    todo = _create(client, alice, "write tests")
    path = f"/todos/{todo['id']}"

    done = client.patch(path, json={"done": True}, headers=alice.headers)
    assert done.status_code == 200
    assert done.json()["done"] is True
    assert done.json()["title"] == "write tests"
    assert done.json()["updated_at"] >= todo["updated_at"]

    renamed = client.patch(path, json={"title": "write more tests"}, headers=alice.headers)
    assert renamed.json() == {
        **done.json(),
        "title": "write more tests",
        "updated_at": renamed.json()["updated_at"],
    }

    unchanged = client.patch(path, json={}, headers=alice.headers)
    assert unchanged.json() == renamed.json()

    deleted = client.delete(path, headers=alice.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get(path, headers=alice.headers).status_code == 404
    assert client.delete(path, headers=alice.headers).status_code == 404
    assert client.get("/todos", headers=alice.headers).json()["total"] == 0


def test_list_pages_through_items_oldest_first(client: TestClient, alice: Account) -> None:
    titles = [f"item {n}" for n in range(7)]
    for title in titles:
        _create(client, alice, title)

    first = client.get("/todos", params={"limit": 3}, headers=alice.headers).json()
    middle = client.get("/todos", params={"limit": 3, "offset": 3}, headers=alice.headers).json()
    last = client.get("/todos", params={"limit": 3, "offset": 6}, headers=alice.headers).json()
    beyond = client.get("/todos", params={"offset": 50}, headers=alice.headers).json()

    assert [t["title"] for t in first["items"] + middle["items"] + last["items"]] == titles
    assert (first["total"], first["limit"], first["offset"]) == (7, 3, 0)
    assert (middle["total"], middle["offset"]) == (7, 3)
    assert len(last["items"]) == 1
    assert beyond == {"items": [], "total": 7, "limit": 20, "offset": 50}


def test_list_defaults_to_20(client: TestClient, alice: Account) -> None:
    for n in range(22):
        _create(client, alice, f"n{n}")

    page = client.get("/todos", headers=alice.headers).json()

    assert (len(page["items"]), page["total"], page["limit"]) == (20, 22, 20)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": -1},
        {"offset": -1},
        {"offset": 2**31},
        {"limit": "ten"},
        {"offset": "1.5"},
        {"limit": "9" * 5000},
    ],
    ids=[
        "limit-0",
        "limit-101",
        "limit-negative",
        "offset-negative",
        "offset-huge",
        "limit-word",
        "offset-float",
        "limit-5000-digits",
    ],
)
def test_list_rejects_out_of_bounds_paging_with_422(
    client: TestClient, alice: Account, params: dict[str, Any]
) -> None:
    reply = client.get("/todos", params=params, headers=alice.headers)

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"][0] == "query"


@pytest.mark.parametrize("limit", [1, 100], ids=["min", "max"])
def test_list_accepts_the_limit_bounds(client: TestClient, alice: Account, limit: int) -> None:
    reply = client.get("/todos", params={"limit": limit}, headers=alice.headers)

    assert reply.status_code == 200
    assert reply.json()["limit"] == limit


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "title"]),
        ({"title": ""}, ["body", "title"]),
        ({"title": "   "}, ["body", "title"]),
        ({"title": "x" * 201}, ["body", "title"]),
        ({"title": 42}, ["body", "title"]),
        ({"title": None}, ["body", "title"]),
        ({"title": "a\nb"}, ["body", "title"]),
        ({"title": "nul\u0000byte"}, ["body", "title"]),
        ({"title": "ok", "done": "yes"}, ["body", "done"]),
        ({"title": "ok", "done": 1}, ["body", "done"]),
        ({"title": "ok", "owner_id": 2}, ["body", "owner_id"]),
        ({"title": "ok", "id": 5}, ["body", "id"]),
    ],
    ids=[
        "no-title",
        "empty-title",
        "blank-title",
        "title-201-chars",
        "title-a-number",
        "title-null",
        "title-newline",
        "title-nul",
        "done-a-string",
        "done-a-number",
        "owner-id-sent",
        "id-sent",
    ],
)
def test_create_rejects_bad_bodies_with_422(
    client: TestClient, alice: Account, body: dict[str, Any], loc: list[str]
) -> None:
    reply = client.post("/todos", json=body, headers=alice.headers)

    assert reply.status_code == 422
    assert [problem["loc"] for problem in reply.json()["detail"]] == [loc]


def test_title_of_200_characters_and_any_script_is_fine(client: TestClient, alice: Account) -> None:
    for title in ("x" * 200, "Kaffee ☕ kaufen", "买牛奶", "emoji 🧪🧪"):
        assert _create(client, alice, title)["title"] == title


@pytest.mark.parametrize(
    "body",
    [{"title": None}, {"done": None}, {"done": "true"}, {"title": ""}, {"colour": "red"}],
    ids=["title-null", "done-null", "done-a-string", "title-empty", "unknown-field"],
)
def test_update_rejects_bad_bodies_with_422(
    client: TestClient, alice: Account, body: dict[str, Any]
) -> None:
    todo = _create(client, alice, "keep me")

    reply = client.patch(f"/todos/{todo['id']}", json=body, headers=alice.headers)

    assert reply.status_code == 422
    assert client.get(f"/todos/{todo['id']}", headers=alice.headers).json() == todo


@pytest.mark.parametrize(
    "todo_id",
    ["0", "-1", "2147483648", "99999999999999999999"],
    ids=["zero", "negative", "past-int32", "past-int64"],
)
def test_ids_that_cannot_exist_are_404(client: TestClient, alice: Account, todo_id: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        reply = client.request(method, f"/todos/{todo_id}", headers=alice.headers, json={})
        assert reply.status_code == 404, (method, reply.text)
        assert reply.json() == {"detail": "To-do not found."}


@pytest.mark.parametrize("todo_id", ["abc", "1.5", "1e3", "%20", "9" * 5000])
def test_non_integer_ids_are_422(client: TestClient, alice: Account, todo_id: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        reply = client.request(method, f"/todos/{todo_id}", headers=alice.headers, json={})
        assert reply.status_code == 422, (method, reply.text)
        assert reply.json()["detail"][0]["loc"] == ["path", "todo_id"]


def test_every_todos_route_needs_a_token(client: TestClient, alice: Account) -> None:
    todo = _create(client, alice, "secret plans")

    for method, path in [
        ("GET", "/todos"),
        ("POST", "/todos"),
        ("GET", f"/todos/{todo['id']}"),
        ("PATCH", f"/todos/{todo['id']}"),
        ("DELETE", f"/todos/{todo['id']}"),
    ]:
        reply = client.request(method, path, json={"title": "x"})
        assert reply.status_code == 401, (method, path)
        assert reply.json() == {"detail": "Authentication required."}
    assert client.get(f"/todos/{todo['id']}", headers=alice.headers).json() == todo
