"""Create and verify tokens: the only module that signs or decodes tokens with PyJWT.

Verification is pinned: the keys come from a :class:`~jwt_middleware.keys.KeySource`, each
bound to one algorithm by configuration; the token's header selects among them by ``alg``
and ``kid`` and can choose nothing else. Every failure becomes one of our
:mod:`~jwt_middleware.errors`, with a fixed description.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Collection, Sequence
from typing import Any, Final

import jwt

from .cache import VerifiedTokenCache
from .errors import ConfigurationError, InvalidTokenError, TokenExpiredError
from .keys import KeySource, StaticKeys, signing_key
from .settings import JWTSettings
from .types import BoundKey, Claims, freeze

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "REFRESH_TOKEN_TYPE",
    "RESERVED_CLAIMS",
    "Claims",
    "TokenVerifier",
    "create_jwt_token",
    "create_refresh_token",
    "get_token_expiry_seconds",
    "verify_jwt_token",
    "verify_refresh_token",
]

logger = logging.getLogger("jwt_middleware")

#: Claims that :func:`create_jwt_token` sets itself and will not take from ``extra_claims``.
RESERVED_CLAIMS: Final = frozenset({"sub", "exp", "iat", "nbf", "jti", "iss", "aud", "fam"})

_REQUIRED_CLAIMS: Final = ["exp", "sub"]

#: The ``typ`` header of access tokens we create (RFC 9068) and of refresh tokens. Explicit
#: typing (RFC 8725 section 3.11) is what keeps a refresh token from passing as an access token.
ACCESS_TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 - a media type, not a secret
REFRESH_TOKEN_TYPE: Final = "refresh+jwt"  # noqa: S105
_ACCESS_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
_UNTYPED: Final = frozenset({"jwt", "application/jwt", None})


class TokenVerifier:
    """Verifies tokens for one configuration; build it once and reuse it.

    ``keys`` defaults to the keys configured in ``settings``. Any :class:`KeySource` may be
    given instead (use :meth:`verify_async` for one that waits, such as a JWKS endpoint).
    ``token_types`` are the accepted ``typ`` headers, compared case-insensitively; by
    default access tokens (``at+jwt``) and, unless ``require_explicit_type`` is set,
    untyped ones (``JWT`` or none). A refresh token is never an access token.

    Tokens that verify are remembered (``verified_cache_size`` entries, at most
    ``verified_cache_seconds`` and never past their ``exp``), so a client's repeated
    token is parsed once; see :mod:`jwt_middleware.cache`. ``cache_verified=False`` skips
    that for a verifier used once.
    """

    __slots__ = (
        "_algorithms",
        "_audience",
        "_cache",
        "_fixed_keys",
        "_issuer",
        "_jwt",
        "_keys",
        "_leeway",
        "_max_len",
        "_types",
    )

    def __init__(
        self,
        settings: JWTSettings,
        *,
        keys: KeySource | None = None,
        token_types: Collection[str | None] | None = None,
        cache_verified: bool = True,
    ) -> None:
        self._keys: KeySource = keys if keys is not None else _key_source(settings)
        # Keys that do not depend on the header spare parsing the token twice.
        self._fixed_keys = None if self._keys.depends_on_header else self._keys.keys_now(None, None)
        if token_types is None:
            token_types = _ACCESS_TYPES | (set() if settings.require_explicit_type else _UNTYPED)
        self._types = frozenset(t.lower() if t is not None else None for t in token_types)
        self._algorithms = list(settings.algorithms)
        self._audience = settings.audience
        self._issuer = settings.issuer
        self._leeway = settings.leeway_seconds
        self._max_len = settings.max_token_bytes
        self._cache = (
            VerifiedTokenCache(
                max_entries=settings.verified_cache_size,
                ttl_seconds=settings.verified_cache_seconds,
                leeway_seconds=settings.leeway_seconds,
            )
            if cache_verified and settings.verified_cache_size
            else None
        )
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
        if self._cache is not None and (claims := self._cache.get(token)) is not None:
            return claims
        self._check_size(token)
        keys = self._fixed_keys
        if keys is None:
            algorithm, kid = self._selectors(token)
            keys = self._keys.keys_now(algorithm, kid)
            if keys is None:
                raise TypeError("this key source has to wait; use verify_async()")
        return self._decode(token, keys)

    async def verify_async(self, token: str) -> Claims:
        """Verify ``token``, waiting on the key source if it needs to; return its claims."""
        if self._cache is not None and (claims := self._cache.get(token)) is not None:
            return claims
        self._check_size(token)
        keys = self._fixed_keys
        if keys is None:
            algorithm, kid = self._selectors(token)
            keys = self._keys.keys_now(algorithm, kid)
            if keys is None:
                keys = await self._keys.keys(algorithm, kid)
        return self._decode(token, keys)

    async def prefetch(self) -> None:
        """Load remote keys now (e.g. in the app's lifespan) instead of at the first request."""
        await self._keys.prefetch()

    async def aclose(self) -> None:
        """Release what the key source holds open (the JWKS HTTP client)."""
        await self._keys.aclose()

    def _check_size(self, token: str) -> None:
        if len(token) > self._max_len:
            logger.info("rejected token: longer than %d bytes", self._max_len)
            raise InvalidTokenError

    def _selectors(self, token: str) -> tuple[str, str | None]:
        """The unverified ``alg`` and ``kid``, read only when the keys depend on them."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            logger.info("rejected token: %s", type(exc).__name__)
            raise InvalidTokenError from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in self._algorithms:
            logger.info("rejected token: algorithm not allowed")
            raise InvalidTokenError
        if kid is not None and not isinstance(kid, str):
            logger.info("rejected token: malformed kid")
            raise InvalidTokenError
        return algorithm, kid

    def _decode(self, token: str, keys: Sequence[BoundKey]) -> Claims:
        if not keys:
            logger.info("rejected token: no key for its header")
            raise InvalidTokenError
        for index, key in enumerate(keys):
            try:
                decoded = self._jwt.decode_complete(
                    token,
                    key.key,
                    algorithms=[key.algorithm],
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
                # The class name only: PyJWT's messages quote the token (its `crit`, its
                # claims), and a log line must never carry text a client chose.
                logger.info("rejected token: %s", type(exc).__name__)
                raise InvalidTokenError from None
            break
        typ = decoded["header"].get("typ")
        if typ is not None and not isinstance(typ, str):
            logger.info("rejected token: malformed type")
            raise InvalidTokenError
        if (typ.lower() if typ is not None else None) not in self._types:
            logger.info("rejected token: type not accepted here")
            raise InvalidTokenError
        claims: Claims = freeze(decoded["payload"])
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            logger.info("rejected token: empty subject")
            raise InvalidTokenError
        if self._cache is not None:
            self._cache.put(token, claims)
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
    if not isinstance(claims.get("fam"), str):
        logger.info("rejected refresh token: no family")
        raise InvalidTokenError
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
    if settings.issuer is not None:
        payload["iss"] = settings.issuer
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


def _key_source(settings: JWTSettings) -> KeySource:
    if settings.jwks_url is None:
        return StaticKeys.from_settings(settings)
    try:
        from .jwks import JWKSKeys
    except ImportError:
        raise ConfigurationError(
            'JWT_JWKS_URL needs the jwks extra (httpx): pip install "jwt-middleware-asgi[jwks]"'
        ) from None
    return JWKSKeys(settings.jwks_url, algorithms=settings.algorithms)


def _sign(payload: dict[str, Any], typ: str, settings: JWTSettings) -> str:
    key, kid = signing_key(settings)
    headers = {"typ": typ} if kid is None else {"typ": typ, "kid": kid}
    return jwt.encode(payload, key, algorithm=settings.algorithm, headers=headers)
