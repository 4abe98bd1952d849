"""``JWTSettings``: configuration from the environment, validated once at start-up."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["HMAC_ALGORITHMS", "JWTSettings", "generate_secret_hint"]

HMAC_ALGORITHMS: tuple[str, ...] = ("HS256", "HS384", "HS512")

#: Shortest secret accepted for each algorithm, in characters: never below 32, and never
#: below the hash's output size (RFC 7518 section 3.2).
_MIN_SECRET_LENGTH = {"HS256": 32, "HS384": 48, "HS512": 64}


def generate_secret_hint(algorithm: str = "HS256") -> str:
    """The command that prints a strong enough secret for ``algorithm``."""
    nbytes = _MIN_SECRET_LENGTH.get(algorithm, 32)
    return f'python -c "import secrets; print(secrets.token_urlsafe({nbytes}))"'


# RFC 7230 quoted-string content we are willing to emit in WWW-Authenticate.
_REALM = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")


class JWTSettings(BaseSettings):
    """Everything the middleware and the token helpers need, read from ``JWT_*`` variables.

    Values come from the environment first, then from a ``.env`` file in the working folder.
    Validation errors never include the offending input, so a secret that is too short is
    not echoed into a log.
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
    algorithm: Literal["HS256", "HS384", "HS512"] = Field(
        default="HS256", description="The one algorithm tokens are signed and verified with."
    )
    expiry_days: float = Field(default=7, gt=0, description="Lifetime of created tokens.")
    issuer: str | None = Field(default=None, min_length=1, description="Required `iss`.")
    audience: str | None = Field(default=None, min_length=1, description="Required `aud`.")
    leeway_seconds: int = Field(default=0, ge=0, le=300, description="Allowed clock skew.")
    realm: str = Field(default="api", description="Realm named in WWW-Authenticate.")
    max_token_bytes: int = Field(
        default=8192, ge=256, le=65536, description="Longer tokens are refused unparsed."
    )

    @field_validator("realm")
    @classmethod
    def _realm_is_header_safe(cls, value: str) -> str:
        if not _REALM.fullmatch(value):
            raise ValueError("JWT_REALM must be printable ASCII without '\"' or '\\'")
        return value

    @model_validator(mode="after")
    def _secret_is_strong_enough(self) -> Self:
        if self.secret is None or not self.secret.get_secret_value():
            raise ValueError(
                "JWT_SECRET is not set. Set it in the environment or in .env; generate one "
                f"with: {generate_secret_hint(self.algorithm)}"
            )
        minimum = _MIN_SECRET_LENGTH[self.algorithm]
        if len(self.secret.get_secret_value()) < minimum:
            raise ValueError(
                f"JWT_SECRET must be at least {minimum} characters for {self.algorithm}; "
                f"generate one with: {generate_secret_hint(self.algorithm)}"
            )
        return self

    @property
    def expiry_seconds(self) -> int:
        """Lifetime of created tokens in whole seconds."""
        return int(self.expiry_days * 86400)
