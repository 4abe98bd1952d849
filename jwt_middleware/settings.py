"""``JWTSettings``: configuration from the environment, validated once at start-up."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Final, Self

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from .algorithms import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    MIN_SECRET_LENGTH,
    Algorithm,
    load_private_key,
    load_public_key,
    secret_hint,
)
from .errors import ConfigurationError

__all__ = ["JWTSettings", "parse_duration"]

_SETTINGS_ERROR_FIELD: Final = re.compile(r'field "([a-z_]+)"')
# RFC 7230 quoted-string content we are willing to emit in WWW-Authenticate.
_REALM: Final = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")
_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT_SECONDS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DEFAULT_ACCESS_LIFETIME: Final = timedelta(days=7)
_DEFAULT_REFRESH_LIFETIME: Final = timedelta(days=30)


def parse_duration(value: object) -> object:
    """``"900"``, ``"900s"``, ``"15m"``, ``"12h"``, ``"7d"`` as a ``timedelta``; anything else
    (a number of seconds, a ``timedelta``, ISO 8601 such as ``"PT15M"``) goes on to
    pydantic unchanged."""
    if isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        number, unit = match.groups()
        return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])
    return value


#: A positive lifetime, written as seconds or with a unit (``15m``).
Lifetime = Annotated[timedelta, BeforeValidator(parse_duration)]


class JWTSettings(BaseSettings):
    """Everything the middleware and the token helpers need, read from ``JWT_*`` variables.

    Values come from the environment first, then from a ``.env`` file in the working folder.
    Anything invalid raises :class:`~jwt_middleware.errors.ConfigurationError`, whose message
    names each environment variable to fix (``JWT_EXPIRY_DAYS``, not ``expiry_days``) and
    never includes the offending input, so a secret that is too short is not echoed into a
    log.
    """

    model_config = SettingsConfigDict(
        env_prefix="JWT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    secret: SecretStr | None = Field(
        default=None, description="HMAC signing and verification secret (JWT_SECRET)."
    )
    previous_secrets: tuple[SecretStr, ...] = Field(
        default=(), description="Retired HMAC secrets that still verify during a rotation."
    )
    algorithm: Algorithm = Field(
        default="HS256", description="The one algorithm tokens are signed and verified with."
    )
    private_key: SecretStr | None = Field(
        default=None, description="PEM signing key, inline or a file path (asymmetric)."
    )
    public_key: str | None = Field(
        default=None, description="PEM verification key, inline or a file path (asymmetric)."
    )
    public_keys: dict[str, str] = Field(
        default_factory=dict, description="More verification keys by kid (rotation)."
    )
    key_id: str | None = Field(
        default=None, min_length=1, description="kid stamped on created tokens."
    )
    jwks_url: str | None = Field(
        default=None, description="Take verification keys from this JWKS URL instead."
    )
    access_token_lifetime: Lifetime | None = Field(
        default=None,
        description="Lifetime of created access tokens: 900, 900s, 15m, 12h, 7d or PT15M.",
    )
    refresh_token_lifetime: Lifetime | None = Field(
        default=None, description="Lifetime of created refresh tokens, written the same way."
    )
    refresh_expiry_days: float | None = Field(
        default=None, gt=0, description="Lifetime of refresh tokens in days (older form)."
    )
    verified_cache_size: int = Field(
        default=4096, ge=0, le=1_000_000, description="Verified tokens remembered; 0 turns off."
    )
    verified_cache_seconds: float = Field(
        default=60, gt=0, le=3600, description="Longest a verified token is remembered."
    )
    require_explicit_type: bool = Field(
        default=False, description="Accept only access tokens typed `at+jwt` (RFC 9068)."
    )
    require_jti: bool | None = Field(
        default=None,
        description="Refuse tokens without `jti`; unset means: when a revocation check is on.",
    )
    expiry_days: float | None = Field(
        default=None, gt=0, description="Lifetime of access tokens in days (older form)."
    )
    issuer: str | None = Field(default=None, min_length=1, description="Required `iss`.")
    audience: str | None = Field(default=None, min_length=1, description="Required `aud`.")
    leeway_seconds: int = Field(default=0, ge=0, le=300, description="Allowed clock skew.")
    realm: str = Field(default="api", description="Realm named in WWW-Authenticate.")
    max_token_bytes: int = Field(
        default=8192, ge=256, le=65536, description="Longer tokens are refused unparsed."
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigurationError(
                _describe(exc, self.model_config.get("env_prefix", ""))
            ) from None
        except SettingsError as exc:
            # pydantic-settings could not parse a JSON value; its message names the field
            # (never the value), which we turn into the variable.
            field = _SETTINGS_ERROR_FIELD.search(str(exc))
            variable = "JWT_" + field.group(1).upper() if field else "a JWT_* variable"
            raise ConfigurationError(f"{variable}: not valid JSON") from None

    @field_validator("realm")
    @classmethod
    def _realm_is_header_safe(cls, value: str) -> str:
        if not _REALM.fullmatch(value):
            raise ValueError("JWT_REALM must be printable ASCII without '\"' or '\\'")
        return value

    @model_validator(mode="after")
    def _keys_fit_the_algorithm(self) -> Self:
        if self.algorithm in HMAC_ALGORITHMS:
            self._check_hmac()
        else:
            self._check_asymmetric()
        self._check_lifetimes()
        return self

    def _check_lifetimes(self) -> None:
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

    def _check_hmac(self) -> None:
        if self.private_key or self.public_key or self.public_keys or self.jwks_url:
            raise ValueError(
                f"JWT_PRIVATE_KEY, JWT_PUBLIC_KEY(S) and JWT_JWKS_URL need an asymmetric "
                f"JWT_ALGORITHM ({', '.join(ASYMMETRIC_ALGORITHMS)}), not {self.algorithm}"
            )
        if self.secret is None or not self.secret.get_secret_value():
            raise ValueError(
                "JWT_SECRET is not set. Set it in the environment or in .env; generate one "
                f"with: {secret_hint(self.algorithm)}"
            )
        minimum = MIN_SECRET_LENGTH[self.algorithm]
        for name, secret in [("JWT_SECRET", self.secret)] + [
            ("JWT_PREVIOUS_SECRETS", old) for old in self.previous_secrets
        ]:
            value = secret.get_secret_value()
            if len(value) < minimum:
                raise ValueError(
                    f"{name} must be at least {minimum} characters for {self.algorithm}; "
                    f"generate one with: {secret_hint(self.algorithm)}"
                )
            if "-----BEGIN" in value:
                raise ValueError(f"{name} looks like a PEM key; an HMAC secret must not be one")

    def _check_asymmetric(self) -> None:
        if self.secret is not None or self.previous_secrets:
            raise ValueError(
                f"JWT_SECRET is for HS256/HS384/HS512; {self.algorithm} uses JWT_PRIVATE_KEY "
                "to sign and JWT_PUBLIC_KEY, JWT_PUBLIC_KEYS or JWT_JWKS_URL to verify"
            )
        if not (self.private_key or self.public_key or self.public_keys or self.jwks_url):
            raise ValueError(
                f"{self.algorithm} needs keys: JWT_PRIVATE_KEY (PEM, inline or a file path) to "
                "sign, and/or JWT_PUBLIC_KEY, JWT_PUBLIC_KEYS or JWT_JWKS_URL to verify"
            )
        if self.jwks_url is not None:
            if not self.jwks_url.startswith(("https://", "http://")):
                raise ValueError("JWT_JWKS_URL must be an http(s) URL")
            if self.public_key or self.public_keys:
                raise ValueError(
                    "JWT_JWKS_URL replaces JWT_PUBLIC_KEY(S): verification keys come from one place"
                )
        # Load every key now, so a bad one stops the app at start-up with its variable's name.
        if self.private_key is not None:
            load_private_key(self.private_key.get_secret_value(), self.algorithm, "JWT_PRIVATE_KEY")
        if self.public_key is not None:
            load_public_key(self.public_key, self.algorithm, "JWT_PUBLIC_KEY")
        for kid, pem in self.public_keys.items():
            load_public_key(pem, self.algorithm, f"JWT_PUBLIC_KEYS[{kid!r}]")

    @property
    def is_hmac(self) -> bool:
        """Whether tokens are signed with a shared secret rather than a key pair."""
        return self.algorithm in HMAC_ALGORITHMS

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The algorithms tokens may be verified with."""
        return (self.algorithm,)

    @property
    def expiry_seconds(self) -> int:
        """Lifetime of created access tokens in whole seconds."""
        return _seconds(self.access_token_lifetime, self.expiry_days, _DEFAULT_ACCESS_LIFETIME)

    @property
    def refresh_expiry_seconds(self) -> int:
        """Lifetime of created refresh tokens in whole seconds."""
        return _seconds(
            self.refresh_token_lifetime, self.refresh_expiry_days, _DEFAULT_REFRESH_LIFETIME
        )


def _describe(error: ValidationError, prefix: str) -> str:
    """One line per problem, each naming the environment variable, never the input."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False, include_context=False):
        message = problem["msg"].removeprefix("Value error, ")
        location = problem["loc"]
        if location:
            variable = prefix + str(location[0]).upper()
            if len(location) > 1:
                variable += "[" + "][".join(repr(part) for part in location[1:]) + "]"
            message = f"{variable}: {message}"
        lines.append(message)
    if len(lines) == 1:
        return lines[0]
    return "JWT settings are invalid:\n" + "\n".join(f"- {line}" for line in lines)


def _seconds(lifetime: timedelta | None, days: float | None, default: timedelta) -> int:
    if lifetime is not None:
        return int(lifetime.total_seconds())
    if days is not None:
        return int(days * 86400)
    return int(default.total_seconds())
