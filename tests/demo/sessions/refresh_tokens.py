"""Refresh tokens made with PyJWT directly, a look inside a token, and the demo's answers.

Refresh tokens are minted here as well as taken from /auth/login, so a bug in the library's
helper cannot hide one in the demo's checks.
"""

from __future__ import annotations

import secrets
from typing import Any

import jwt

from tests.helpers import mint_token

REVOKED = {"detail": "The access token was revoked."}
REFRESH_INVALID = {"detail": "The refresh token is invalid."}
REFRESH_EXPIRED = {"detail": "The refresh token expired."}
REFRESH_REVOKED = {"detail": "The refresh token was revoked."}
UNAVAILABLE = {"detail": "Authentication is temporarily unavailable."}
STORE_UNAVAILABLE = {"detail": "Token revocation is temporarily unavailable."}


def mint_refresh(
    sub: str, *, typ: str | None = "refresh+jwt", drop: tuple[str, ...] = (), **claims: Any
) -> str:
    """A refresh token made with PyJWT directly: a ``typ`` header, ``fam`` and ``jti``."""
    claims.setdefault("fam", secrets.token_urlsafe(16))
    claims.setdefault("jti", secrets.token_urlsafe(16))
    headers = {"typ": typ} if typ is not None else None
    return mint_token(sub, headers=headers, drop=drop, **claims)


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return header, claims
