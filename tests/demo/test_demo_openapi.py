"""The OpenAPI schema: security comes from the middleware's policy, and says the truth.

Each documented operation is also called without a token and with tokens lacking each scope,
to check that the ones marked as needing a token, and which scopes, are exactly the ones the
middleware refuses, with 401 and 403.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from demo_app.access import PUBLIC_RULES, SCOPES
from demo_app.app import create_app
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from jwt_middleware.access.rules import PublicPaths
from tests.helpers import bearer

from .accounts import cheap_passwords, login, register

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
SCHEMES = ("BearerToken", "OAuth2")


@pytest.fixture
def schema(client: TestClient) -> Any:
    reply = client.get("/openapi.json")
    assert reply.status_code == 200
    return reply.json()


def _operations(schema: Any) -> list[tuple[str, str, Any]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _scopes(operation: Any) -> list[str] | None:
    """The scopes an operation is documented to need, ``None`` for a public one."""
    if "security" not in operation:
        return None
    requirements = operation["security"]
    assert [list(r) for r in requirements] == [[name] for name in SCHEMES]
    scopes: list[str] = requirements[0]["BearerToken"]
    assert all(r[name] == scopes for r, name in zip(requirements, SCHEMES, strict=True))
    return scopes


def test_schema_declares_the_oauth2_password_and_bearer_schemes(schema: Any) -> None:
    schemes = schema["components"]["securitySchemes"]

    assert schemes["OAuth2"]["type"] == "oauth2"
    assert schemes["OAuth2"]["flows"] == {"password": {"tokenUrl": "/auth/token", "scopes": SCOPES}}
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


@pytest.mark.parametrize(
    ("method", "path", "scopes"),
    [
        ("GET", "/auth/me", []),
        ("GET", "/todos", ["todos:read"]),
        ("POST", "/todos", ["todos:write"]),
        ("GET", "/todos/{todo_id}", ["todos:read"]),
        ("POST", "/auth/logout", []),
        ("PATCH", "/todos/{todo_id}", ["todos:write"]),
        ("DELETE", "/todos/{todo_id}", ["todos:write"]),
        ("POST", "/auth/login", None),
        ("POST", "/auth/register", None),
        ("POST", "/auth/token", None),
        ("POST", "/auth/refresh", None),
        ("GET", "/.well-known/jwks.json", None),
        ("GET", "/health", None),
        ("HEAD", "/health", None),
    ],
)
def test_operation_security(schema: Any, method: str, path: str, scopes: list[str] | None) -> None:
    operation = schema["paths"][path][method.lower()]

    assert _scopes(operation) == scopes
    if scopes is not None:
        assert "401" in operation["responses"]
        assert ("403" in operation["responses"]) is bool(scopes)


def test_every_operation_is_covered_and_matches_the_allowlist(schema: Any) -> None:
    public = PublicPaths(PUBLIC_RULES)
    operations = _operations(schema)

    assert len(operations) == 16  # with the two discovery documents
    for method, path, operation in operations:
        assert ("security" in operation) is not public.is_public(method, path), (method, path)


def test_schema_security_matches_what_the_middleware_does(client: TestClient, schema: Any) -> None:
    """Every operation, called without a token, and with a token lacking each scope it
    needs: refused exactly as the document says, and let through with the scopes."""
    register(client, "reader@example.com")
    tokens = {
        frozenset(granted): login(client, "reader@example.com", scope=" ".join(granted))
        for granted in (["todos:read"], ["todos:write"], list(SCOPES))
    }
    for method, path, operation in _operations(schema):
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        if method == "POST" and path == "/auth/logout":
            continue  # it would end the sessions the rest uses; covered in tests/demo/sessions
        anonymous = client.request(method, concrete)
        needed = _scopes(operation)
        refused = anonymous.status_code == 401 and anonymous.json() == {
            "detail": "Authentication required."
        }
        assert refused is (needed is not None), (method, path, anonymous.status_code)
        if not needed:
            continue
        for granted, token in tokens.items():
            reply = client.request(method, concrete, headers=bearer(token))
            if set(needed) <= granted:
                assert reply.status_code != 403, (method, path, sorted(granted))
            else:
                assert reply.status_code == 403, (method, path, sorted(granted))
                assert reply.headers["www-authenticate"].endswith(f', scope="{" ".join(needed)}"')


@pytest.mark.parametrize(
    "path",
    [
        "/docs",
        "/docs/oauth2-redirect",
        "/openapi.json",
        "/docs/static/swagger-ui-bundle.js",
        "/docs/static/swagger-ui.css",
    ],
)
def test_documentation_is_public(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_swagger_ui_loads_its_assets_from_this_server(client: TestClient) -> None:
    page = client.get("/docs").text

    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/docs/static/swagger-ui-bundle.js" in sources
    assert "/docs/static/swagger-ui.css" in sources
    assert not [source for source in sources if "://" in source]
    assert "/openapi.json" in page
    assert "/docs/oauth2-redirect" in page


def test_schema_documents_the_configured_password_minimum(
    tmp_path: Any, jwt_settings: JWTSettings
) -> None:
    settings = DemoSettings(database_url=f"sqlite:///{tmp_path}/x.db", password_min_length=14)
    with TestClient(create_app(settings, jwt_settings, passwords=cheap_passwords())) as client:
        schema = client.get("/openapi.json").json()

    password = schema["components"]["schemas"]["RegisterRequest"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (14, 1024)


def test_no_response_schema_exposes_a_password(schema: Any) -> None:
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Out") or name == "TodoPage":
            assert not {"password", "password_hash"} & set(component.get("properties", {}))
