"""``AccessPolicy.decide`` remembers its decisions: the same answer as without the memo,
bounded however many paths clients invent, and forgotten when a rule is added.
"""

from __future__ import annotations

import pytest

from jwt_middleware.access.policy import Access, AccessPolicy, Requirement


def policy() -> AccessPolicy:
    return AccessPolicy(
        public=["GET /static/*"], optional=["/feed"], scopes={"POST /todos": ["todos:write"]}
    )


@pytest.mark.parametrize(
    ("method", "path", "raw_path", "access"),
    [
        pytest.param("GET", "/static/app.js", b"/static/app.js", Access.PUBLIC, id="public"),
        pytest.param("POST", "/static/app.js", None, Access.TOKEN, id="public-other-method"),
        pytest.param(
            "GET",
            "/static/../private",
            b"/static/%2e%2e/private",
            Access.REFUSED,
            id="encoded-dots",
        ),
        pytest.param("GET", "/feed", None, Access.OPTIONAL, id="optional"),
        pytest.param("POST", "/todos", None, Access.TOKEN, id="scopes"),
        pytest.param(None, "/static/app.js", None, Access.TOKEN, id="websocket"),
    ],
)
def test_a_remembered_decision_is_the_decision(
    method: str | None, path: str, raw_path: bytes | None, access: Access
) -> None:
    remembered = policy()
    first = remembered.decide(method, path, raw_path)
    again = remembered.decide(method, path, raw_path)
    fresh = policy()._decide(method, path, raw_path)
    assert first == again == fresh
    assert first.access is access


def test_the_raw_path_is_part_of_what_is_remembered() -> None:
    """The same decoded path, once sent plainly and once with an encoded dot segment."""
    remembered = policy()
    assert remembered.decide("GET", "/static/x", b"/static/x").access is Access.PUBLIC
    assert remembered.decide("GET", "/static/x", b"/static/%2e%2e/x").access is Access.REFUSED


def test_adding_a_rule_forgets_what_was_decided() -> None:
    remembered = policy()
    assert remembered.decide("GET", "/reports", None).requirement.scopes == frozenset()
    remembered.require_route(["GET"], "/reports", Requirement(frozenset({"reports:read"})))
    assert remembered.decide("GET", "/reports", None).requirement.scopes == {"reports:read"}


def test_invented_paths_cannot_grow_the_memo_without_bound() -> None:
    remembered = policy()
    for number in range(10_000):
        remembered.decide("GET", f"/static/{number}", None)
    remembered.decide("GET", "/static/" + "x" * 10_000, None)
    held = remembered._decisions
    assert 0 < len(held) <= 4096
    assert all(len(path) <= 256 for _, path, _ in held)


def test_invented_methods_cannot_grow_the_memo() -> None:
    """300 requests with 100 KB methods once held about 30 MB; only the standard methods
    are remembered now, so the memo stays within its documented bound (about 2.5 MB)."""
    remembered = policy()
    for number in range(300):
        method = f"{number:03d}" + "X" * 100_000
        assert remembered.decide(method, "/todos", b"/todos").access is Access.TOKEN
    for number in range(5_000):
        remembered.decide("GET", f"/static/{number:0>250}", f"/static/{number:0>250}".encode())
    held = remembered._decisions
    size = sum(
        len(method or "") + len(path) + len(raw_path or b"") for method, path, raw_path in held
    )
    assert all(method is None or len(method) <= 7 for method, _, _ in held)
    assert size <= 4096 * 2 * 256 + 4096 * 7


@pytest.mark.parametrize(
    "method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
)
def test_the_standard_methods_are_remembered(method: str) -> None:
    remembered = policy()
    remembered.decide(method, "/todos", b"/todos")
    assert (method, "/todos", b"/todos") in remembered._decisions


def test_other_methods_are_decided_but_not_remembered() -> None:
    remembered = policy()
    assert remembered.decide("post", "/todos", b"/todos").requirement.scopes == {"todos:write"}
    assert remembered._decisions == {}
