"""Stateless JWT bearer authentication for any ASGI app, as one pure ASGI middleware.

    app.add_middleware(JWTAuthMiddleware, public=["/health", "/auth/login"])

Handlers then read ``request.state.user_id``. This module exports what applications write
in their code; everything else is imported from its own module, in one of the four wings
the package's folders show: the request edge (:mod:`.middleware`, :mod:`.edge`), verification
(:mod:`.verification`), key sources (:mod:`.keys`) and access policy (:mod:`.access`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    AuthenticationError,
    AuthenticationUnavailableError,
    ConfigurationError,
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    MissingTokenError,
    TokenExpiredError,
    TokenRevokedError,
)
from .keys.source import KeySource
from .keys.static import StaticKeys, public_jwks
from .middleware import JWTAuthMiddleware, authentication_error_handler
from .revocation import revoke_token_claims
from .revocation.memory import InMemoryRevocationStore
from .settings import JWTSettings
from .tokens import create_jwt_token, create_refresh_token, verify_jwt_token, verify_refresh_token
from .types import Claims
from .user import JWTUser, current_claims, current_user_id
from .verification.authenticator import Authenticator
from .verification.bearer import BearerAuthenticator
from .verification.chain import AuthenticatorChain
from .verification.verifier import TokenVerifier

if TYPE_CHECKING:
    from .keys.jwks import JWKSKeys
    from .revocation.redis import RedisRevocationStore

__all__ = [
    "AuthenticationError",
    "AuthenticationUnavailableError",
    "Authenticator",
    "AuthenticatorChain",
    "BearerAuthenticator",
    "Claims",
    "ConfigurationError",
    "InMemoryRevocationStore",
    "InsufficientScopeError",
    "InvalidRequestError",
    "InvalidTokenError",
    "JWKSKeys",
    "JWTAuthMiddleware",
    "JWTSettings",
    "JWTUser",
    "KeySource",
    "MissingTokenError",
    "RedisRevocationStore",
    "StaticKeys",
    "TokenExpiredError",
    "TokenRevokedError",
    "TokenVerifier",
    "__version__",
    "authentication_error_handler",
    "create_jwt_token",
    "create_refresh_token",
    "current_claims",
    "current_user_id",
    "public_jwks",
    "revoke_token_claims",
    "verify_jwt_token",
    "verify_refresh_token",
]

#: Exports whose optional dependency is imported only when they are first used.
_LAZY = {
    "JWKSKeys": (".keys.jwks", "jwks", "httpx"),
    "RedisRevocationStore": (".revocation.redis", "redis", "redis"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'jwt_middleware' has no attribute {name!r}")
    module, extra, package = _LAZY[name]
    from importlib import import_module

    try:
        value = getattr(import_module(module, __name__), name)
    except ImportError as exc:
        if exc.name != package:
            raise
        raise ImportError(
            f"{name} needs the {extra} extra: pip install 'jwt-middleware-asgi[{extra}]'"
        ) from exc
    globals()[name] = value
    return value
