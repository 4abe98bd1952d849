"""The authenticated identity, in the shapes Starlette and handlers read it.

The middleware stores the verified claims in ``scope["state"]`` (``user_id`` and
``claims``), and a :class:`JWTUser` with :class:`~starlette.authentication.AuthCredentials`
in ``scope["user"]`` / ``scope["auth"]``, so ``request.user``, ``request.auth`` and
Starlette's ``@requires`` work as with ``AuthenticationMiddleware``.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.authentication import AuthCredentials, BaseUser, UnauthenticatedUser
from starlette.requests import HTTPConnection
from starlette.types import Scope

from .errors import MissingTokenError
from .types import Claims, VerifiedToken
from .verification.scopes import ClaimPath, scopes_from

__all__ = [
    "JWTUser",
    "current_claims",
    "current_user_id",
    "scopes_of",
    "set_anonymous",
    "set_identity",
]


class JWTUser(BaseUser):
    """The user a verified token speaks for."""

    __slots__ = ("claims",)

    def __init__(self, claims: Claims) -> None:
        self.claims = claims

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def identity(self) -> str:
        return str(self.claims["sub"])

    @property
    def display_name(self) -> str:
        email = self.claims.get("email")
        return email if isinstance(email, str) else self.identity

    def __repr__(self) -> str:
        return f"JWTUser(sub={self.identity!r})"


def scopes_of(claims: Claims, claim_paths: Sequence[ClaimPath] = ("scope", "scp")) -> list[str]:
    """Starlette's scopes for a verified token: ``"authenticated"`` (Starlette's convention,
    so ``@requires("authenticated")`` works), then :func:`scopes_from` the claims."""
    return ["authenticated", *scopes_from(claims, claim_paths)]


def current_user_id(connection: HTTPConnection) -> str:
    """The verified ``sub`` of the current request, as the middleware stored it.

    Works as a FastAPI dependency as it is (FastAPI passes the connection), and as a plain
    function in Starlette handlers. On a public path without a valid token it raises
    :class:`~jwt_middleware.errors.MissingTokenError`, which the middleware answers exactly
    like its own 401 (realm, challenge, ``Cache-Control`` and body), so a handler that needs
    a user never sees ``None``.
    """
    user_id = connection.scope.get("state", {}).get("user_id")
    if not isinstance(user_id, str):
        raise MissingTokenError
    return user_id


def current_claims(connection: HTTPConnection) -> Claims:
    """All verified claims of the current request; 401 like :func:`current_user_id`."""
    current_user_id(connection)
    claims: Claims = connection.scope["state"]["claims"]
    return claims


def set_identity(scope: Scope, verified: VerifiedToken) -> None:
    """Put a verified identity where handlers and Starlette read it (see above)."""
    state = scope.setdefault("state", {})
    state["user_id"] = verified.subject
    state["claims"] = verified.claims
    scope["user"] = JWTUser(verified.claims)
    scope["auth"] = AuthCredentials(["authenticated", *verified.scopes])


def set_anonymous(scope: Scope) -> None:
    """Say that a request served without credentials has no identity."""
    state = scope.setdefault("state", {})
    state["user_id"] = None
    state["claims"] = None
    scope["user"] = UnauthenticatedUser()
    scope["auth"] = AuthCredentials()
