"""The OpenAPI document: security from the middleware's policy, and the password rule.

Which operations need a token, and which scopes, is written in by the library
(:func:`jwt_middleware.fastapi.document_security`) from the same rules the middleware
enforces. The password flow of ``/auth/token`` drives Swagger UI's *Authorize* form; the
demo only adds what its configuration says about passwords.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from jwt_middleware.fastapi import document_security

from .access import SCOPES

__all__ = ["install_openapi"]


def install_openapi(app: FastAPI, *, password_min_length: int) -> None:
    """Replace ``app.openapi`` with one that documents who may call what."""
    document_security(
        app, oauth2_flows={"password": {"tokenUrl": "/auth/token"}}, descriptions=SCOPES
    )
    documented = app.openapi

    def openapi() -> dict[str, Any]:
        schema = documented()
        _document_password_rule(schema, password_min_length)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_password_rule(schema: dict[str, Any], minimum: int) -> None:
    # The minimum is configuration, so the model cannot carry it; the schema should.
    register = schema.get("components", {}).get("schemas", {}).get("RegisterRequest")
    if register is not None:
        register["properties"]["password"]["minLength"] = minimum
