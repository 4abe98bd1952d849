"""Create and verify tokens. The only module that calls PyJWT.

Verification is pinned: the algorithm comes from configuration, the keys from a
:class:`~jwt_middleware.keys.KeySource`; the token's header can choose neither. Every
failure becomes one of our :mod:`~jwt_middleware.errors`, with a fixed description.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any, Final

import jwt

from .errors import InvalidTokenError, TokenExpiredError
from .keys import KeySource, StaticKeys, VerificationKey
from .settings import JWTSettings

__all__ = [
    "RESERVED_CLAIMS",
    "Claims",
    "TokenVerifier",
    "create_jwt_token",
    "get_token_expiry_seconds",
    "verify_jwt_token",
]

logger = logging.getLogger("jwt_middleware")

#: The verified payload of a token: JSON, so values are any JSON type.
Claims = dict[str, Any]

#: Claims that :func:`create_jwt_token` sets itself and will not take from ``extra_claims``.
RESERVED_CLAIMS: Final = frozenset({"sub", "exp", "iat", "nbf", "jti", "iss", "aud"})

_REQUIRED_CLAIMS: Final = ["exp", "sub"]


class TokenVerifier:
    """Verifies tokens for one configuration; build it once and reuse it.

    ``keys`` defaults to the settings' secret. Any :class:`KeySource` may be given instead
    (use :meth:`verify_async` for a source that has to wait, such as a JWKS endpoint).
    """

    __slots__ = ("_algorithms", "_audience", "_issuer", "_jwt", "_keys", "_leeway", "_max_len")

    def __init__(self, settings: JWTSettings, *, keys: KeySource | None = None) -> None:
        self._keys: KeySource = keys if keys is not None else StaticKeys(_secret(settings))
        self._algorithms = [settings.algorithm]
        self._audience = settings.audience
        self._issuer = settings.issuer
        self._leeway = settings.leeway_seconds
        self._max_len = settings.max_token_bytes
        self._jwt = jwt.PyJWT(
            options={
                "require": _REQUIRED_CLAIMS,
                "verify_signature": True,
                "verify_exp": True,
                "verify_nbf": True,
                "verify_iat": True,
                "verify_aud": True,
                "verify_iss": True,
                "verify_sub": True,
                "verify_jti": True,
                "strict_aud": False,
                "enforce_minimum_key_length": True,
            }
        )

    def verify(self, token: str) -> Claims:
        """Verify ``token`` against keys available without waiting; return its claims."""
        header = self._header(token)
        if not isinstance(self._keys, StaticKeys):
            raise TypeError("this key source has to wait; use verify_async()")
        return self._decode(token, self._keys.resolve_now(header))

    async def verify_async(self, token: str) -> Claims:
        """Verify ``token``, waiting on the key source if it needs to; return its claims."""
        header = self._header(token)
        return self._decode(token, await self._keys.resolve(header))

    def _header(self, token: str) -> dict[str, Any]:
        if len(token) > self._max_len:
            logger.info("rejected token: longer than %d bytes", self._max_len)
            raise InvalidTokenError
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            logger.info("rejected token: %s", type(exc).__name__)
            raise InvalidTokenError from None
        if header.get("alg") not in self._algorithms:
            logger.info("rejected token: algorithm not allowed")
            raise InvalidTokenError
        return header

    def _decode(self, token: str, keys: Sequence[VerificationKey]) -> Claims:
        if not keys:
            logger.info("rejected token: no key for its header")
            raise InvalidTokenError
        for index, key in enumerate(keys):
            try:
                claims: Claims = self._jwt.decode(
                    token,
                    key,
                    algorithms=self._algorithms,
                    audience=self._audience,
                    issuer=self._issuer,
                    leeway=self._leeway,
                )
            except jwt.InvalidSignatureError:
                if index + 1 < len(keys):
                    continue
                logger.info("rejected token: InvalidSignatureError")
                raise InvalidTokenError from None
            except jwt.ExpiredSignatureError:
                logger.info("rejected token: expired")
                raise TokenExpiredError from None
            except jwt.PyJWTError as exc:
                logger.info("rejected token: %s: %s", type(exc).__name__, exc)
                raise InvalidTokenError from None
            break
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            logger.info("rejected token: empty subject")
            raise InvalidTokenError
        return claims


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
    (which may not override any of those).
    """
    settings = settings if settings is not None else JWTSettings()
    subject = str(user_id)
    if not subject.strip():
        raise ValueError("user_id must not be empty")
    clash = RESERVED_CLAIMS.intersection(extra_claims)
    if clash:
        raise ValueError(f"extra_claims may not set reserved claims: {sorted(clash)}")
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "exp": now + settings.expiry_seconds,
        "jti": secrets.token_urlsafe(16),
    }
    if settings.issuer is not None:
        payload["iss"] = settings.issuer
    if settings.audience is not None:
        payload["aud"] = settings.audience
    if email is not None:
        payload["email"] = email
    payload.update(extra_claims)
    return jwt.encode(payload, _secret(settings), algorithm=settings.algorithm)


def verify_jwt_token(token: str, *, settings: JWTSettings | None = None) -> Claims:
    """Verify ``token`` and return its claims.

    Raises :class:`~jwt_middleware.TokenExpiredError` for an expired token and
    :class:`~jwt_middleware.InvalidTokenError` for any other failure.
    """
    return TokenVerifier(settings if settings is not None else JWTSettings()).verify(token)


def get_token_expiry_seconds(settings: JWTSettings | None = None) -> int:
    """Lifetime of the tokens :func:`create_jwt_token` makes, in seconds."""
    return (settings if settings is not None else JWTSettings()).expiry_seconds


def _secret(settings: JWTSettings) -> str:
    # JWTSettings refuses to exist without a secret; this only narrows the type.
    assert settings.secret is not None
    return settings.secret.get_secret_value()
