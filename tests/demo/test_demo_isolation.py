"""One user can neither see, change, delete nor detect another user's to-dos.

Another user's item answers exactly like an id that never existed: same status, same body.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .accounts import Account

NOT_FOUND = {"detail": "To-do not found."}


@pytest.fixture
def alices_todo(client: TestClient, alice: Account) -> Any:
    reply = client.post("/todos", json={"title": "alice's diary"}, headers=alice.headers)
    assert reply.status_code == 201
    return reply.json()


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"title": "pwned", "done": True}), ("DELETE", None)],
    ids=["read", "update", "delete"],
)
def test_other_users_todo_answers_like_a_missing_one(
    client: TestClient,
    alice: Account,
    bob: Account,
    alices_todo: Any,
    method: str,
    body: dict[str, Any] | None,
) -> None:
    theirs = client.request(method, f"/todos/{alices_todo['id']}", headers=bob.headers, json=body)
    missing = client.request(method, "/todos/987654", headers=bob.headers, json=body)

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json() == NOT_FOUND
    assert theirs.headers.get("content-length") == missing.headers.get("content-length")
    assert client.get(f"/todos/{alices_todo['id']}", headers=alice.headers).json() == alices_todo


def test_lists_hold_only_ones_own_items(
    client: TestClient, alice: Account, bob: Account, alices_todo: Any
) -> None:
    client.post("/todos", json={"title": "bob's list"}, headers=bob.headers)

    bobs = client.get("/todos", headers=bob.headers).json()
    alices = client.get("/todos", headers=alice.headers).json()

    assert [t["title"] for t in bobs["items"]] == ["bob's list"]
    assert bobs["total"] == 1
    assert [t["title"] for t in alices["items"]] == ["alice's diary"]
    assert alices["total"] == 1


def test_list_total_does_not_count_other_users_items(
    client: TestClient, alice: Account, bob: Account
) -> None:
    for n in range(5):
        client.post("/todos", json={"title": f"a{n}"}, headers=alice.headers)

    page = client.get("/todos", params={"offset": 3}, headers=bob.headers).json()

    assert page == {"items": [], "total": 0, "limit": 20, "offset": 3}


def test_new_user_cannot_reach_items_by_walking_ids(
    client: TestClient, alice: Account, bob: Account
) -> None:
    ids = [
        client.post("/todos", json={"title": f"t{n}"}, headers=alice.headers).json()["id"]
        for n in range(3)
    ]

    for todo_id in range(1, max(ids) + 3):
        assert client.get(f"/todos/{todo_id}", headers=bob.headers).json() == NOT_FOUND
    assert client.get("/todos", headers=alice.headers).json()["total"] == 3
