"""``DemoSettings``: the demo's own configuration, read from the environment (and ``.env``).

The JWT configuration is the library's :class:`~jwt_middleware.JWTSettings` (``JWT_*``);
this object holds only what the demo adds: where the data lives, where login sessions are
tracked (Redis, or the same database as the data), the password rule, the request size
limit and the port ``python -m demo_app`` listens on.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["PASSWORD_MAX_LENGTH", "DemoSettings"]

#: Longest password accepted, in characters: enough for any passphrase, short enough that
#: hashing it costs nothing extra.
PASSWORD_MAX_LENGTH: Final = 1024

_DRIVERLESS_POSTGRES: Final = ("postgres://", "postgresql://")
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")


class DemoSettings(BaseSettings):
    """``DATABASE_URL``, ``REDIS_URL``, ``PORT`` and ``DEMO_*`` variables, validated once."""

    model_config = SettingsConfigDict(
        env_prefix="DEMO_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    database_url: str = Field(
        default="sqlite:///./demo.db",
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL; a SQLite file in the working folder unless set.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias="REDIS_URL",
        description="Redis shared by every instance for logouts and refresh-token rotation; "
        "unset keeps them in the database (DATABASE_URL).",
    )
    redis_key_prefix: str = Field(
        default="jwt-demo:",
        min_length=1,
        max_length=100,
        description="Prefix of every Redis key the demo writes (DEMO_REDIS_KEY_PREFIX).",
    )
    revocation_on_error: Literal["deny", "allow"] = Field(
        default="deny",
        description="When Redis cannot answer whether a token was revoked: refuse the "
        "request with 503 (deny) or let the token through (allow) "
        "(DEMO_REVOCATION_ON_ERROR). Logouts and refreshes fail with 503 either way.",
    )
    password_min_length: int = Field(
        default=8,
        ge=1,
        le=PASSWORD_MAX_LENGTH,
        description="Shortest password a new account may have (DEMO_PASSWORD_MIN_LENGTH).",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=4096,
        le=16 * 1024 * 1024,
        description="Larger request bodies are refused with 413 (DEMO_MAX_BODY_BYTES).",
    )
    port: int = Field(
        default=8000,
        ge=1,
        le=65535,
        validation_alias="PORT",
        description="Port of `python -m demo_app` on 127.0.0.1 (PORT).",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url_is_usable(cls, value: str) -> str:
        # "postgresql://" alone would make SQLAlchemy look for psycopg2; the demo ships psycopg 3.
        for prefix in _DRIVERLESS_POSTGRES:
            if value.startswith(prefix):
                value = "postgresql+psycopg://" + value.removeprefix(prefix)
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("DATABASE_URL is not a database URL") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_is_usable(cls, value: str | None) -> str | None:
        if not value:
            return None  # REDIS_URL= (empty) means unset, as in many compose files
        if not value.startswith(_REDIS_SCHEMES):
            raise ValueError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
        return value
