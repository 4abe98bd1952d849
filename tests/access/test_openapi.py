"""document_security writes the policy into FastAPI's OpenAPI document: what each operation
needs, as the middleware answers it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from jwt_middleware import JWTAuthMiddleware
from jwt_middleware.fastapi import document_security

from .apps import SETTINGS, fastapi_app


@pytest.fixture(scope="module")
def document() -> Any:
    app = fastapi_app(
        public=["/openapi.json"], optional=["GET /notes"], scopes={"DELETE /notes/*": ["extra"]}
    )
    document_security(app, oauth2_flows={"clientCredentials": {"tokenUrl": "https://idp/token"}})
    with TestClient(app) as client:
        return client.get("/openapi.json").json()


@pytest.mark.parametrize(
    ("method", "path", "security", "responses"),
    [
        pytest.param(
            "get", "/notes", [{}, {"BearerToken": []}, {"OAuth2": []}], {"401"}, id="optional"
        ),
        pytest.param(
            "post",
            "/notes",
            [{"BearerToken": ["notes:write"]}, {"OAuth2": ["notes:write"]}],
            {"401", "403"},
            id="route-declared",
        ),
        pytest.param(
            "delete",
            "/notes/{note_id}",
            [{"BearerToken": ["extra", "notes:admin"]}, {"OAuth2": ["extra", "notes:admin"]}],
            {"401", "403"},
            id="rule-and-route-add-up",
        ),
    ],
)
def test_operations(
    document: Any, method: str, path: str, security: list[Any], responses: set[str]
) -> None:
    operation = document["paths"][path][method]
    assert operation["security"] == security
    assert responses <= set(operation["responses"])


def test_schemes(document: Any) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["OAuth2"]["flows"]["clientCredentials"] == {
        "tokenUrl": "https://idp/token",
        "scopes": {"extra": "", "notes:admin": "", "notes:write": ""},
    }


def test_an_app_without_the_middleware_is_refused() -> None:
    app = FastAPI()
    document_security(app)
    with pytest.raises(LookupError, match="JWTAuthMiddleware"):
        app.openapi()


def test_public_operations_need_nothing() -> None:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {}

    app.add_middleware(JWTAuthMiddleware, settings=SETTINGS, public=["/health"])
    document_security(app)
    assert "security" not in app.openapi()["paths"]["/health"]["get"]
