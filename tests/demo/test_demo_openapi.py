"""The OpenAPI schema: security comes from the middleware's allowlist, and says the truth.

Each documented operation is also called without a token, to check that the ones marked
as needing one are exactly the ones the middleware refuses.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from demo_app.access import PUBLIC_RULES
from demo_app.app import create_app
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from jwt_middleware.rules import PublicPaths

from .accounts import cheap_passwords

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
REQUIREMENT: list[dict[str, list[str]]] = [{"OAuth2Password": []}, {"BearerToken": []}]


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


def test_schema_declares_the_oauth2_password_and_bearer_schemes(schema: Any) -> None:
    schemes = schema["components"]["securitySchemes"]

    assert schemes["OAuth2Password"]["type"] == "oauth2"
    assert schemes["OAuth2Password"]["flows"] == {
        "password": {"tokenUrl": "/auth/token", "scopes": {}}
    }
    assert schemes["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access_token from POST /auth/login.",
    }


@pytest.mark.parametrize(
    ("method", "path", "protected"),
    [
        ("GET", "/auth/me", True),
        ("GET", "/todos", True),
        ("POST", "/todos", True),
        ("GET", "/todos/{todo_id}", True),
        ("POST", "/auth/logout", True),
        ("PATCH", "/todos/{todo_id}", True),
        ("DELETE", "/todos/{todo_id}", True),
        ("POST", "/auth/login", False),
        ("POST", "/auth/register", False),
        ("POST", "/auth/token", False),
        ("POST", "/auth/refresh", False),
        ("GET", "/.well-known/jwks.json", False),
        ("GET", "/health", False),
        ("HEAD", "/health", False),
    ],
)
def test_operation_security(schema: Any, method: str, path: str, protected: bool) -> None:
    operation = schema["paths"][path][method.lower()]

    if protected:
        assert operation["security"] == REQUIREMENT
        assert "401" in operation["responses"]
    else:
        assert "security" not in operation


def test_every_operation_is_covered_and_matches_the_allowlist(schema: Any) -> None:
    public = PublicPaths(PUBLIC_RULES)
    operations = _operations(schema)

    assert len(operations) == 16  # with the two discovery documents
    for method, path, operation in operations:
        assert ("security" in operation) is not public.is_public(method, path), (method, path)


def test_schema_security_matches_what_the_middleware_does(client: TestClient, schema: Any) -> None:
    for method, path, operation in _operations(schema):
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        reply = client.request(method, concrete)
        refused = reply.status_code == 401 and reply.json() == {
            "detail": "Authentication required."
        }
        assert refused is ("security" in operation), (method, path, reply.status_code)


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
