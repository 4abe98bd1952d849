"""Which requests need no token: the one allowlist that the middleware enforces and the
OpenAPI schema documents (see :mod:`demo_app.openapi`), so the two cannot disagree.
"""

from __future__ import annotations

from typing import Final

from jwt_middleware.rules import PublicPaths

__all__ = ["PUBLIC_RULES", "public_paths"]

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


def public_paths() -> PublicPaths:
    """The parsed allowlist, for asking whether an operation is public."""
    return PublicPaths(PUBLIC_RULES)
