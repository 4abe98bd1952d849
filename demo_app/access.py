"""Who may call what: the one policy that the middleware enforces and the OpenAPI document
shows (through :func:`jwt_middleware.fastapi.document_security`), so the two cannot disagree.

Requests without a token reach only the public routes. The to-do routes need a token with
the scope for what they do: ``todos:read`` to look, ``todos:write`` to change. A login asks
for scopes (both by default), so a client that only reads can hold a token that cannot
write.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PUBLIC_RULES", "SCOPES", "SCOPE_RULES"]

PUBLIC_RULES: Final[tuple[str, ...]] = (
    "GET /health",
    "GET /openapi.json",
    "GET /docs",
    "GET /docs/*",  # the Swagger UI assets and its OAuth2 redirect page
    "POST /auth/register",
    "POST /auth/login",
    "POST /auth/token",
    "POST /auth/refresh",  # the refresh token in the body is the credential
    "GET /.well-known/jwks.json",
    "GET /.well-known/openid-configuration",
    "GET /.well-known/oauth-authorization-server",
)

#: Every scope a token of the demo may carry, and what it allows.
SCOPES: Final[dict[str, str]] = {
    "todos:read": "Read your to-dos.",
    "todos:write": "Create, change and delete your to-dos.",
}

SCOPE_RULES: Final[dict[str, list[str]]] = {
    "GET /todos": ["todos:read"],
    "GET /todos/{todo_id}": ["todos:read"],
    "POST /todos": ["todos:write"],
    "PATCH /todos/{todo_id}": ["todos:write"],
    "DELETE /todos/{todo_id}": ["todos:write"],
}
