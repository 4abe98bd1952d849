"""Tokens for apps that log their users in: create access and refresh tokens, and verify
one outside a request (a refresh endpoint, a script).

Creating is PyJWT's ``encode``, signed with what the settings name
(:func:`~jwt_middleware.keys.static.signing_key`); verifying goes through the same
:class:`~jwt_middleware.verification.verifier.TokenVerifier` as the middleware. Without
``settings=``, the helpers read :class:`~jwt_middleware.settings.JWTSettings` from the
environment once (:func:`default_settings`).
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Final

import jwt

from .errors import InvalidTokenError
from .keys.static import signing_key
from .refusals import log_refusal
from .settings import JWTSettings
from .types import Claims
from .verification.claims import FAMILY
from .verification.verifier import ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE, TokenVerifier

__all__ = [
    "RESERVED_CLAIMS",
    "create_jwt_token",
    "create_refresh_token",
    "default_settings",
    "get_token_expiry_seconds",
    "reset_default_settings",
    "verify_jwt_token",
    "verify_refresh_token",
]

#: Claims that :func:`create_jwt_token` sets itself and will not take from ``extra_claims``.
RESERVED_CLAIMS: Final = frozenset({"sub", "exp", "iat", "nbf", "jti", "iss", "aud", "fam"})


def create_jwt_token(
    user_id: str | int,
    email: str | None = None,
    *,
    settings: JWTSettings | None = None,
    **extra_claims: Any,
) -> str:
    """Sign an access token for ``user_id`` with the standard claims.

    The token carries ``sub``, ``iat``, ``exp`` (now plus the configured expiry), a unique
    ``jti``, ``iss``/``aud`` when configured, ``email`` when given, and ``extra_claims``
    (which may not override any of those). Its header says ``typ: at+jwt`` and names the
    signing key's ``kid`` when there is one.
    """
    settings = settings if settings is not None else default_settings()
    payload = _claims(user_id, settings.expiry_seconds, settings, extra_claims)
    if email is not None:
        payload["email"] = email
    return _sign(payload, ACCESS_TOKEN_TYPE, settings)


def create_refresh_token(
    user_id: str | int,
    *,
    family: str | None = None,
    settings: JWTSettings | None = None,
    **extra_claims: Any,
) -> str:
    """Sign a refresh token: ``typ: refresh+jwt``, ``refresh_expiry_days`` of life.

    ``family`` (claim ``fam``) ties the tokens of one login together, so that reuse of a
    retired refresh token can revoke all of them; a new family is started when omitted.
    The middleware never accepts a refresh token as an access token.
    """
    settings = settings if settings is not None else default_settings()
    payload = _claims(user_id, settings.refresh_expiry_seconds, settings, extra_claims)
    payload["fam"] = family or secrets.token_urlsafe(16)
    return _sign(payload, REFRESH_TOKEN_TYPE, settings)


def verify_jwt_token(token: str, *, settings: JWTSettings | None = None) -> Claims:
    """Verify an access token and return its claims.

    Raises :class:`~jwt_middleware.TokenExpiredError` for an expired token and
    :class:`~jwt_middleware.InvalidTokenError` for any other failure.
    """
    settings = settings if settings is not None else default_settings()
    return _one_shot_verifier(settings, ACCESS_TOKEN_TYPE).verify(token)


def verify_refresh_token(token: str, *, settings: JWTSettings | None = None) -> Claims:
    """Verify a refresh token (and only a refresh token); raises like :func:`verify_jwt_token`."""
    settings = settings if settings is not None else default_settings()
    claims = _one_shot_verifier(settings, REFRESH_TOKEN_TYPE).verify(token)
    try:
        FAMILY(claims)
    except InvalidTokenError as exc:
        log_refusal(exc.reason)
        raise
    return claims


def get_token_expiry_seconds(settings: JWTSettings | None = None) -> int:
    """Lifetime of the tokens :func:`create_jwt_token` makes, in seconds."""
    return (settings if settings is not None else default_settings()).expiry_seconds


def _claims(
    user_id: str | int, lifetime: int, settings: JWTSettings, extra: dict[str, Any]
) -> dict[str, Any]:
    subject = str(user_id)
    if not subject.strip():
        raise ValueError("user_id must not be empty")
    clash = RESERVED_CLAIMS.intersection(extra)
    if clash:
        raise ValueError(f"extra_claims may not set reserved claims: {sorted(clash)}")
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16),
    }
    if settings.token_issuer is not None:
        payload["iss"] = settings.token_issuer
    if settings.audience is not None:
        payload["aud"] = settings.audience
    payload.update(extra)
    return payload


def default_settings() -> JWTSettings:
    """The settings the helpers use when given none: read from the environment (and
    ``.env``) on first use, then kept, like the middleware's, for the process's life."""
    global _default_settings
    if _default_settings is None:
        _default_settings = JWTSettings()
    return _default_settings


def reset_default_settings() -> None:
    """Forget the settings read by :func:`default_settings` (for tests that change the
    environment)."""
    global _default_settings
    _default_settings = None
    _one_shot_verifiers.clear()


_default_settings: JWTSettings | None = None
#: Verifiers for verify_jwt_token / verify_refresh_token, by settings object and type.
_one_shot_verifiers: dict[tuple[int, str], tuple[JWTSettings, TokenVerifier]] = {}
_MAX_ONE_SHOT_VERIFIERS: Final = 16


def _one_shot_verifier(settings: JWTSettings, token_type: str) -> TokenVerifier:
    """The verifier for helper calls with ``settings``, built once per settings object."""
    key = (id(settings), token_type)
    known = _one_shot_verifiers.get(key)
    if known is not None and known[0] is settings:
        return known[1]
    types = {REFRESH_TOKEN_TYPE} if token_type == REFRESH_TOKEN_TYPE else None
    verifier = TokenVerifier(settings, token_types=types, cache_verified=False)
    if len(_one_shot_verifiers) >= _MAX_ONE_SHOT_VERIFIERS:
        _one_shot_verifiers.pop(next(iter(_one_shot_verifiers)))
    _one_shot_verifiers[key] = (settings, verifier)
    return verifier


def _sign(payload: dict[str, Any], typ: str, settings: JWTSettings) -> str:
    key, kid = signing_key(settings)
    headers = {"typ": typ} if kid is None else {"typ": typ, "kid": kid}
    return jwt.encode(payload, key, algorithm=settings.algorithm, headers=headers)
