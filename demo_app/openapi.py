"""The OpenAPI schema, with its security derived from the middleware's allowlist.

The routes declare no auth dependencies (the middleware does the checking), so FastAPI
cannot know which operations need a token. This module asks the same
:class:`~jwt_middleware.PublicPaths` the middleware uses: every operation it does not
call public gets the bearer requirement and a documented 401, the public ones get none.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from jwt_middleware.rules import PublicPaths

__all__ = ["SECURITY_SCHEMES", "install_openapi"]

_OPERATIONS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch"})

#: Either scheme works: the password flow drives Swagger UI's *Authorize* form, and the
#: plain bearer one takes a token pasted from elsewhere (curl, another client).
SECURITY_SCHEMES: Final[dict[str, dict[str, Any]]] = {
    "OAuth2Password": {
        "type": "oauth2",
        "description": "Log in with your email as the username.",
        "flows": {"password": {"tokenUrl": "/auth/token", "scopes": {}}},
    },
    "BearerToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access_token from POST /auth/login.",
    },
}

_UNAUTHORIZED: Final = {
    "description": "Missing, invalid or expired bearer token.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"detail": {"type": "string"}},
                "required": ["detail"],
            }
        }
    },
}


def install_openapi(app: FastAPI, *, public: PublicPaths, password_min_length: int) -> None:
    """Replace ``app.openapi`` with one that documents who may call what."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _add_security(schema, public)
            _document_password_rule(schema, password_min_length)
            app.openapi_schema = schema
        return app.openapi_schema

    # FastAPI's documented way to customise the schema is to replace this method.
    app.openapi = openapi  # type: ignore[method-assign]


def _requirement() -> list[dict[str, list[str]]]:
    return [{name: []} for name in SECURITY_SCHEMES]


def _add_security(schema: dict[str, Any], public: PublicPaths) -> None:
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _OPERATIONS:
                continue
            if public.is_public(method.upper(), path):
                operation.pop("security", None)
                continue
            operation["security"] = _requirement()
            operation.setdefault("responses", {}).setdefault("401", _UNAUTHORIZED)


def _document_password_rule(schema: dict[str, Any], minimum: int) -> None:
    # The minimum is configuration, so the model cannot carry it; the schema should.
    register = schema.get("components", {}).get("schemas", {}).get("RegisterRequest")
    if register is not None:
        register["properties"]["password"]["minLength"] = minimum
