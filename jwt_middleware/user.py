"""The authenticated identity, in the shapes Starlette and handlers read it.

The middleware stores the verified claims in ``scope["state"]`` (``user_id`` and
``claims``), and a :class:`JWTUser` with :class:`~starlette.authentication.AuthCredentials`
in ``scope["user"]`` / ``scope["auth"]``, so ``request.user``, ``request.auth`` and
Starlette's ``@requires`` work as with ``AuthenticationMiddleware``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from starlette.authentication import BaseUser
from starlette.requests import HTTPConnection

from .errors import MissingTokenError
from .types import Claims

__all__ = ["ClaimPath", "JWTUser", "current_claims", "current_user_id", "scopes_from", "scopes_of"]

#: A claim named by a dotted path (``realm_access.roles``) or by its keys (for names with
#: dots in them).
ClaimPath = str | Sequence[str]

#: RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


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


def scopes_from(claims: Claims, claim_paths: Sequence[ClaimPath]) -> list[str]:
    """The scopes (and roles) a token grants, from the claims ``claim_paths`` name.

    A path is a claim name, a dotted path into nested objects (``realm_access.roles``), or
    a sequence of keys for names with dots in them (``["resource_access", "my.app",
    "roles"]``). A value is a string of scope tokens separated by spaces (RFC 6749 section
    3.3, RFC 8693) or a list of strings. Only U+0020 separates: a signed
    ``"read\u00a0admin"`` is one (invalid) token, never ``admin``. Anything that is not a
    valid scope token (other whitespace, control or non-ASCII characters, quotes,
    backslashes) is dropped rather than guessed at. Duplicates are dropped, order kept.
    """
    found: dict[str, None] = {}
    for path in claim_paths:
        raw = _lookup(claims, path)
        if isinstance(raw, str):
            candidates: list[Any] = raw.split(" ")
        elif isinstance(raw, list):
            candidates = raw
        else:
            continue
        for item in candidates:
            if isinstance(item, str) and _SCOPE_TOKEN.fullmatch(item):
                found[item] = None
    return list(found)


def _lookup(claims: Claims, path: ClaimPath) -> Any:
    if isinstance(path, str):
        if "." not in path:
            return claims.get(path)  # the usual case: a top-level claim
        keys: Sequence[str] = path.split(".")
    else:
        keys = path
    value: Any = claims
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


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
