"""Stateless JWT bearer authentication for any ASGI app, as one pure ASGI middleware.

    app.add_middleware(JWTAuthMiddleware, public=["/health", "/auth/login"])

Handlers then read ``request.state.user_id``. This module exports what applications write
in their code; everything else is imported from its own module, in one of the four wings
the package's folders show: the request edge (:mod:`.middleware`, :mod:`.edge`), verification
(:mod:`.verification`), key sources (:mod:`.keys`) and access policy (:mod:`.access`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
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
    from .keys.jwks import JWKSKeys
    from .keys.source import KeySource
    from .keys.static import StaticKeys, public_jwks
    from .middleware import JWTAuthMiddleware, authentication_error_handler
    from .revocation import revoke_token_claims
    from .revocation.memory import InMemoryRevocationStore
    from .revocation.redis import RedisRevocationStore
    from .settings import JWTSettings
    from .tokens import (
        create_jwt_token,
        create_refresh_token,
        verify_jwt_token,
        verify_refresh_token,
    )
    from .types import Claims
    from .user import JWTUser, current_claims, current_user_id
    from .verification.authenticator import Authenticator
    from .verification.bearer import BearerAuthenticator
    from .verification.certificate_bound import CertificateBoundAuthenticator
    from .verification.chain import AuthenticatorChain
    from .verification.dpop_authenticator import DPoPAuthenticator
    from .verification.dpop_replay_redis import RedisProofReplayCache
    from .verification.verifier import TokenVerifier

__all__ = [
    "AuthenticationError",
    "AuthenticationUnavailableError",
    "Authenticator",
    "AuthenticatorChain",
    "BearerAuthenticator",
    "CertificateBoundAuthenticator",
    "Claims",
    "ConfigurationError",
    "DPoPAuthenticator",
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
    "RedisProofReplayCache",
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

#: The module of each export. ``import jwt_middleware`` reads none of them: each is imported
#: when it is first used, so that what imports the package for one small part (the pytest
#: plugin of :mod:`.testing`, loaded in every pytest session) does not pay for the rest.
_MODULES = {
    **dict.fromkeys(
        [
            "AuthenticationError",
            "AuthenticationUnavailableError",
            "ConfigurationError",
            "InsufficientScopeError",
            "InvalidRequestError",
            "InvalidTokenError",
            "MissingTokenError",
            "TokenExpiredError",
            "TokenRevokedError",
        ],
        ".errors",
    ),
    "KeySource": ".keys.source",
    "StaticKeys": ".keys.static",
    "public_jwks": ".keys.static",
    "JWTAuthMiddleware": ".middleware",
    "authentication_error_handler": ".middleware",
    "revoke_token_claims": ".revocation",
    "InMemoryRevocationStore": ".revocation.memory",
    "JWTSettings": ".settings",
    **dict.fromkeys(
        ["create_jwt_token", "create_refresh_token", "verify_jwt_token", "verify_refresh_token"],
        ".tokens",
    ),
    "Claims": ".types",
    "JWTUser": ".user",
    "current_claims": ".user",
    "current_user_id": ".user",
    "Authenticator": ".verification.authenticator",
    "BearerAuthenticator": ".verification.bearer",
    "CertificateBoundAuthenticator": ".verification.certificate_bound",
    "AuthenticatorChain": ".verification.chain",
    "DPoPAuthenticator": ".verification.dpop_authenticator",
    "TokenVerifier": ".verification.verifier",
}

#: Exports whose optional dependency may be missing: (module, extra, package).
_OPTIONAL = {
    "JWKSKeys": (".keys.jwks", "jwks", "httpx"),
    "RedisRevocationStore": (".revocation.redis", "redis", "redis"),
    "RedisProofReplayCache": (".verification.dpop_replay_redis", "redis", "redis"),
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = getattr(import_module(_MODULES[name], __name__), name)
    elif name in _OPTIONAL:
        module, extra, package = _OPTIONAL[name]
        try:
            value = getattr(import_module(module, __name__), name)
        except ImportError as exc:
            if exc.name != package:
                raise
            raise ImportError(
                f"{name} needs the {extra} extra: pip install 'jwt-middleware-asgi[{extra}]'"
            ) from exc
    else:
        raise AttributeError(f"module 'jwt_middleware' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
