"""``JWTSettings``: configuration from the environment, validated once at start-up.

The settings come in groups, one module each: :mod:`.keys` (where verification keys come
from), :mod:`.local_keys` (key sets read rather than fetched), :mod:`.alb` (keys fetched
one per ``kid``, and the load balancers whose tokens are accepted), :mod:`.profile` (what
makes a token an access token), :mod:`.header` (a proxy's token header),
:mod:`.introspection` (opaque tokens, by RFC 7662), :mod:`.tenants` (issuers accepted at
request time), :mod:`.cookies` (the token in a cookie, and its CSRF guard), :mod:`.dpop`
(DPoP proofs, their replay memory and nonces), :mod:`.mtls` (certificate-bound tokens and
the proxies trusted with the client certificate), and here the
claims, lifetimes, cache and edge settings; :mod:`.values` holds the value types and
:mod:`.base` where values are read from and how a problem is reported.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Final, Self

from pydantic import Field, field_validator, model_validator

from .alb import ALBSettings
from .cookies import CookieSettings
from .dpop import DPoPSettings
from .header import HeaderSettings
from .introspection import IntrospectionSettings
from .local_keys import LocalKeySettings
from .mtls import MTLSSettings
from .profile import ProfileSettings
from .tenants import TenantSettings
from .values import (
    Audiences,
    ClaimPath,
    IssuerSettings,
    Lifetime,
    as_tuple,
    parse_duration,
    whole_seconds,
)

__all__ = ["ClaimPath", "IssuerSettings", "JWTSettings", "parse_duration"]

# RFC 7230 quoted-string content we are willing to emit in WWW-Authenticate.
_REALM: Final = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")
# RFC 9728 section 1.2: an https URL with no fragment (and, for us, no query or quotes, as it
# goes into a quoted-string of WWW-Authenticate). Plain http only on loopback, for development.
_RESOURCE: Final = re.compile(
    r"(?:https://[^\s\"\\#?]+|http://(?:localhost|127\.0\.0\.1|\[::1\])(?::\d+)?(?:/[^\s\"\\#?]*)?)"
)
_DEFAULT_ACCESS_LIFETIME: Final = timedelta(days=7)
_DEFAULT_REFRESH_LIFETIME: Final = timedelta(days=30)


class JWTSettings(
    LocalKeySettings,
    ALBSettings,
    ProfileSettings,
    HeaderSettings,
    IntrospectionSettings,
    TenantSettings,
    CookieSettings,
    DPoPSettings,
    MTLSSettings,
):
    """Everything the middleware and the token helpers need, read from ``JWT_*`` variables.

    Values come from the environment first, then from a ``.env`` file in the working folder.
    Anything invalid raises :class:`~jwt_middleware.errors.ConfigurationError`, whose message
    names each environment variable to fix (``JWT_EXPIRY_DAYS``, not ``expiry_days``) and
    never includes the offending input, so a secret that is too short is not echoed into a
    log.

    Where the verification keys come from follows from what is set (see
    :class:`~jwt_middleware.settings.keys.KeySettings`): ``JWT_SECRET`` (HMAC);
    ``JWT_PUBLIC_KEY``/``JWT_PUBLIC_KEYS``/``JWT_PRIVATE_KEY`` (static key pairs);
    ``JWT_JWKS_URL``; ``JWT_JWKS_FILE`` or ``JWT_JWKS`` (:mod:`.local_keys`);
    ``JWT_ALB_REGION`` or ``JWT_KEY_URL_TEMPLATE`` (:mod:`.alb`); or, with none
    of those, ``JWT_ISSUER`` alone: each issuer's keys are discovered from its metadata
    (OpenID Connect discovery, else RFC 8414).
    """

    access_token_lifetime: Lifetime | None = Field(
        default=None,
        description="Lifetime of created access tokens: 900, 900s, 15m, 12h, 7d or PT15M.",
    )
    refresh_token_lifetime: Lifetime | None = Field(
        default=None, description="Lifetime of created refresh tokens, written the same way."
    )
    expiry_days: float | None = Field(
        default=None, gt=0, description="Lifetime of access tokens in days (older form)."
    )
    refresh_expiry_days: float | None = Field(
        default=None, gt=0, description="Lifetime of refresh tokens in days (older form)."
    )
    verified_cache_size: int = Field(
        default=4096, ge=0, le=1_000_000, description="Verified tokens remembered; 0 turns off."
    )
    verified_cache_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=64 * 1024,
        le=16 * 1024**3,
        description="Estimated memory the verified-token cache may hold, in bytes.",
    )
    verified_cache_seconds: float = Field(
        default=60, gt=0, le=3600, description="Longest a verified token is remembered."
    )
    require_jti: bool | None = Field(
        default=None,
        description="Refuse tokens without `jti`; unset means: when a revocation check is on.",
    )
    required_claims: tuple[str, ...] = Field(
        default=(), description="Claims every token must carry (besides exp and sub)."
    )
    accept_bound_tokens_as_bearer: bool = Field(
        default=False,
        description="Accept sender-constrained tokens (a `cnf` claim: DPoP, mTLS) as plain "
        "bearer tokens, for a migration; refused by default.",
    )
    max_token_age_seconds: int | None = Field(
        default=None, gt=0, description="Refuse tokens issued (iat) longer ago than this."
    )
    scope_claims: tuple[ClaimPath, ...] = Field(
        default=("scope", "scp"),
        description="Claims whose values become request.auth.scopes (dotted paths allowed).",
    )
    audience: Audiences = Field(
        default=None, description="Required `aud`: one value, or a JSON list (any matches)."
    )
    resource: str | None = Field(
        default=None,
        description="This API's resource identifier (RFC 9728): serves its metadata, and is "
        "the audience when JWT_AUDIENCE is unset.",
    )
    resource_name: str | None = Field(
        default=None, max_length=200, description="A human-readable name in the metadata."
    )
    strict_rules: bool = Field(
        default=False, description="A rule that matches no route stops start-up (else a warning)."
    )
    log_refusals: bool = Field(
        default=False,
        description="Log why each token is refused, to stderr if the app configures no logging.",
    )
    telemetry: bool = Field(
        default=True,
        description="Report metrics and spans through the OpenTelemetry API, when installed.",
    )
    websocket_recheck_seconds: float = Field(
        default=30, gt=0, le=3600, description="How soon an open WebSocket sees a revocation."
    )
    leeway_seconds: int = Field(default=30, ge=0, le=300, description="Allowed clock skew.")
    realm: str = Field(default="api", description="Realm named in WWW-Authenticate.")
    max_token_bytes: int = Field(
        default=8192, ge=256, le=65536, description="Longer tokens are refused unparsed."
    )

    def __init__(self, **values: Any) -> None:
        """Keyword arguments (``secret=...``) take the place of the environment's values.

        Declared here so that type checkers see one ``**values`` signature, not the
        settings-source options of ``BaseSettings``."""
        super().__init__(**values)

    @field_validator("realm")
    @classmethod
    def _realm_is_header_safe(cls, value: str) -> str:
        if not _REALM.fullmatch(value):
            raise ValueError("JWT_REALM must be printable ASCII without '\"' or '\\'")
        return value

    @field_validator("resource")
    @classmethod
    def _resource_is_an_https_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _RESOURCE.fullmatch(value):
            raise ValueError(
                "JWT_RESOURCE must be an https URL without fragment, query or quotes "
                "(http only on localhost), e.g. https://api.example.com/mcp"
            )
        return value

    @field_validator("audience")
    @classmethod
    def _audiences_are_not_empty(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is not None and (not value or any(not item for item in value)):
            raise ValueError("JWT_AUDIENCE must not be empty")
        return value

    @model_validator(mode="after")
    def _lifetimes_are_one_setting(self) -> Self:
        for new, old in [
            ("access_token_lifetime", "expiry_days"),
            ("refresh_token_lifetime", "refresh_expiry_days"),
        ]:
            lifetime = getattr(self, new)
            if lifetime is not None and getattr(self, old) is not None:
                raise ValueError(
                    f"set JWT_{new.upper()} or JWT_{old.upper()}, not both: they are one setting"
                )
            if lifetime is not None and lifetime.total_seconds() < 1:
                raise ValueError(f"JWT_{new.upper()} must be at least one second")
        return self

    @property
    def audiences(self) -> tuple[str, ...] | None:
        """The accepted audiences (any one matches), or ``None``: no ``aud`` accepted.

        Without ``JWT_AUDIENCE``, a configured ``JWT_RESOURCE`` is the audience: tokens for
        a protected resource name it (RFC 8707), which is what keeps a token meant for
        another resource out.
        """
        if self.audience is None and self.resource is not None:
            return (self.resource,)
        return as_tuple(self.audience)

    @property
    def expiry_seconds(self) -> int:
        """Lifetime of created access tokens in whole seconds."""
        return whole_seconds(self.access_token_lifetime, self.expiry_days, _DEFAULT_ACCESS_LIFETIME)

    @property
    def refresh_expiry_seconds(self) -> int:
        """Lifetime of created refresh tokens in whole seconds."""
        return whole_seconds(
            self.refresh_token_lifetime, self.refresh_expiry_days, _DEFAULT_REFRESH_LIFETIME
        )
