"""Stateless JWT bearer authentication for any ASGI app, as one pure ASGI middleware.

    app.add_middleware(JWTAuthMiddleware, public=["/health", "/auth/login"])

Handlers then read ``request.state.user_id``.
"""

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
from .jwks import JWKSKeys
from .keys import KeySource, StaticKeys, VerificationKey, public_jwks
from .middleware import (
    JWTAuthMiddleware,
    RevocationCheck,
    authentication_error_handler,
    challenge_response,
)
from .revocation import (
    InMemoryRevocationStore,
    RedisRevocationStore,
    RevocationStore,
    RevocationStoreFullError,
    RevocationStoreUnavailableError,
    SingleUseStore,
    revoke_token_claims,
)
from .rules import PublicPathRule, PublicPaths, RuleSpec, is_safe_path
from .settings import JWTSettings
from .tokens import (
    ACCESS_TOKEN_TYPE,
    REFRESH_TOKEN_TYPE,
    TokenVerifier,
    create_jwt_token,
    create_refresh_token,
    get_token_expiry_seconds,
    verify_jwt_token,
    verify_refresh_token,
)
from .types import Claims
from .user import JWTUser, current_claims, current_user_id

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "REFRESH_TOKEN_TYPE",
    "AuthenticationError",
    "AuthenticationUnavailableError",
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
    "PublicPathRule",
    "PublicPaths",
    "RedisRevocationStore",
    "RevocationCheck",
    "RevocationStore",
    "RevocationStoreFullError",
    "RevocationStoreUnavailableError",
    "RuleSpec",
    "SingleUseStore",
    "StaticKeys",
    "TokenExpiredError",
    "TokenRevokedError",
    "TokenVerifier",
    "VerificationKey",
    "authentication_error_handler",
    "challenge_response",
    "create_jwt_token",
    "create_refresh_token",
    "current_claims",
    "current_user_id",
    "get_token_expiry_seconds",
    "is_safe_path",
    "public_jwks",
    "revoke_token_claims",
    "verify_jwt_token",
    "verify_refresh_token",
]
__version__ = "0.1.0"
