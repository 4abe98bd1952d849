"""Scopes per route: which rule applies, how several add up, and the exact 403 answer, which
comes from the middleware before any handler runs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from jwt_middleware import ConfigurationError, JWTAuthMiddleware
from jwt_middleware.access.policy import Access, AccessPolicy, Requirement
from tests.helpers import bearer, mint_token

from . import apps
from .apps import starlette_app

SCOPES: dict[Any, Any] = {
    "GET /todos": ["todos:read"],
    "POST /todos": ["todos:write"],
    "GET /todos/{todo_id}": ["todos:read"],
    "/todos/{todo_id}": ["todos:own"],
    "/admin/*": ["admin"],
    "POST /admin/*": ["admin:write"],
    re.compile(r"/admin/audit/\d+"): ["auditor"],
    "/public/secret": ["secret"],
}
PUBLIC = ["/public/*"]
INSUFFICIENT = (
    'Bearer realm="api", error="insufficient_scope", '
    'error_description="The access token lacks the required scope."'
)


@pytest.fixture
def client() -> TestClient:
    apps.ran.clear()
    return TestClient(starlette_app(scopes=SCOPES, public=PUBLIC))


@pytest.mark.parametrize(
    ("method", "path", "granted", "status", "needed"),
    [
        pytest.param("GET", "/todos", "todos:read", 200, None, id="exact-with-scope"),
        pytest.param("GET", "/todos", "", 403, "todos:read", id="exact-without"),
        pytest.param("POST", "/todos", "todos:read", 403, "todos:write", id="per-method"),
        pytest.param("GET", "/todos/7", "todos:read todos:own", 200, None, id="template-both"),
        pytest.param(
            "GET", "/todos/7", "todos:read", 403, "todos:own todos:read", id="rules-add-up"
        ),
        pytest.param("DELETE", "/todos/7", "todos:own", 200, None, id="template-any-method"),
        pytest.param("GET", "/admin/x", "admin", 200, None, id="prefix"),
        pytest.param("POST", "/admin/x", "admin", 403, "admin admin:write", id="prefix-and-method"),
        pytest.param("GET", "/admin/audit/12", "admin", 403, "admin auditor", id="regex-adds"),
        pytest.param("GET", "/admin/audit/12", "admin auditor", 200, None, id="regex-satisfied"),
        pytest.param("GET", "/public/page", "", 200, None, id="public-needs-nothing"),
        pytest.param("GET", "/public/secret", "", 403, "secret", id="requirement-beats-public"),
    ],
)
def test_which_rules_apply(
    client: TestClient, method: str, path: str, granted: str, status: int, needed: str | None
) -> None:
    reply = client.request(method, path, headers=bearer(mint_token(scope=granted)))
    assert reply.status_code == status
    if needed is None:
        assert apps.ran == [path]
        return
    assert apps.ran == []  # refused before the handler ran
    assert reply.headers["www-authenticate"] == f'{INSUFFICIENT}, scope="{needed}"'
    assert reply.headers["cache-control"] == "no-store"
    assert reply.json() == {"detail": "The access token lacks the required scope."}


def test_a_requirement_path_without_a_token_is_401_not_403(client: TestClient) -> None:
    reply = client.get("/public/secret")
    assert reply.status_code == 401
    # RFC 6750 section 3: the challenge names the scope the resource needs, so the client
    # asks for that one.
    assert reply.headers["www-authenticate"] == 'Bearer realm="api", scope="secret"'


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        pytest.param(
            Requirement(frozenset({"a"})),
            Requirement(frozenset({"b"})),
            Requirement(frozenset({"a", "b"})),
            id="scopes-union",
        ),
        pytest.param(
            Requirement(acr_values=("mfa", "hwk")),
            Requirement(acr_values=("hwk", "pwd")),
            Requirement(acr_values=("hwk",)),
            id="acr-both-accept",
        ),
        pytest.param(
            Requirement(max_age=600),
            Requirement(max_age=60),
            Requirement(max_age=60),
            id="shortest-age",
        ),
        pytest.param(
            Requirement(acr_values=("mfa",)),
            Requirement(acr_values=("pwd",)),
            Requirement(acr_values=()),
            id="acr-nothing-satisfies-both",
        ),
    ],
)
def test_requirements_add_up_whatever_their_order(
    first: Requirement, second: Requirement, merged: Requirement
) -> None:
    assert first.merged(second) == merged
    assert second.merged(first).scopes == merged.scopes


@pytest.mark.parametrize(
    ("scopes", "error"),
    [
        pytest.param({"todos": ["x"]}, "scopes rule", id="no-leading-slash"),
        pytest.param({"/a/*/b": ["x"]}, "scopes rule", id="star-inside"),
        pytest.param({"/a/{rest:path}/b": ["x"]}, "scopes rule", id="path-parameter-inside"),
        pytest.param({"/a": "x"}, "list of strings", id="a-string-not-a-list"),
    ],
)
def test_malformed_scope_rules_stop_the_server(scopes: Any, error: str) -> None:
    middleware = JWTAuthMiddleware(starlette_app(), settings=apps.SETTINGS, scopes=scopes)
    assert isinstance(middleware.configuration_error, ConfigurationError)
    assert error in str(middleware.configuration_error)


def test_policy_and_rules_are_one_or_the_other() -> None:
    middleware = JWTAuthMiddleware(
        starlette_app(), settings=apps.SETTINGS, policy=AccessPolicy(), public=["/x"]
    )
    assert middleware.configuration_error is not None


@pytest.mark.parametrize(
    ("method", "path", "access", "scopes"),
    [
        ("GET", "/todos", Access.TOKEN, {"todos:read"}),
        ("GET", "/public/page", Access.PUBLIC, set()),
        ("GET", "/public/%2e%2e/todos", Access.REFUSED, set()),
        ("GET", "/elsewhere", Access.TOKEN, set()),
    ],
)
def test_the_policy_decides_alone(method: str, path: str, access: Access, scopes: set[str]) -> None:
    policy = AccessPolicy(public=PUBLIC, scopes=SCOPES)
    decision = policy.decide(method, path, path.encode())
    assert decision.access is access
    assert decision.requirement.scopes == scopes
    assert policy.scopes_supported == (
        "admin",
        "admin:write",
        "auditor",
        "secret",
        "todos:own",
        "todos:read",
        "todos:write",
    )
