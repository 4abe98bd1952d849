"""What the API accepts and answers: request bodies are strict, answers never hold a hash.

Text fields refuse what a database cannot store or a client should not send: NUL and
other control characters, and lone surrogates (valid in JSON escapes, not in UTF-8).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from .models import TITLE_MAX_LENGTH
from .settings import PASSWORD_MAX_LENGTH

__all__ = [
    "Health",
    "LoginRequest",
    "LogoutRequest",
    "RefreshRequest",
    "RegisterRequest",
    "TodoCreate",
    "TodoOut",
    "TodoPage",
    "TodoUpdate",
    "TokenOut",
    "UserOut",
    "is_encodable",
    "normalise_email",
]

#: Longest email address accepted (RFC 5321 allows 254 in a path; 320 covers any header form).
EMAIL_MAX_LENGTH = 320


def is_encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogates), so it can be stored and hashed."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _encodable(text: str) -> str:
    if not is_encodable(text):
        raise ValueError("must be valid Unicode text")
    return text


def _single_line(text: str) -> str:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise ValueError("must not contain control characters")
    return _encodable(text)


def normalise_email(text: str) -> str:
    """The stored form of an email address: validated, normalised, lower-cased.

    Raises ``ValueError`` for anything that is not one address. Registration and login
    both use this, so an address matches however its letters were cased.
    """
    if len(text) > EMAIL_MAX_LENGTH or not is_encodable(text):
        raise ValueError("value is not a valid email address")
    try:
        address = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None
    return address.normalized.lower()


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


Password = Annotated[str, Field(max_length=PASSWORD_MAX_LENGTH), AfterValidator(_encodable)]
Email = Annotated[
    str,
    Field(max_length=EMAIL_MAX_LENGTH, json_schema_extra={"format": "email"}),
    AfterValidator(normalise_email),
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_LENGTH),
    AfterValidator(_single_line),
]
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class _Body(BaseModel):
    # Strict: "done": "yes" is a mistake to report, not a truthy string to guess at.
    model_config = ConfigDict(strict=True, extra="forbid")


class RegisterRequest(_Body):
    email: Email
    password: Password = Field(
        description="At least DEMO_PASSWORD_MIN_LENGTH (default 8) characters, "
        f"at most {PASSWORD_MAX_LENGTH}."
    )


class LoginRequest(_Body):
    """Unconstrained on purpose: any email and password that do not match get one 401."""

    email: str = Field(json_schema_extra={"format": "email"})
    password: str
    scope: str | None = Field(
        default=None,
        max_length=200,
        description="The scopes to grant, space-separated (default: all of them).",
    )


#: Longer than any token the demo signs, far shorter than anything worth parsing.
_TOKEN_MAX_LENGTH = 8192
RefreshToken = Annotated[str, Field(min_length=1, max_length=_TOKEN_MAX_LENGTH)]


class RefreshRequest(_Body):
    refresh_token: RefreshToken = Field(
        description="The refresh_token of the last login or refresh."
    )


class LogoutRequest(_Body):
    """Optional: the access token's own session ends anyway."""

    refresh_token: RefreshToken | None = Field(
        default=None, description="Also end the session this refresh token belongs to."
    )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    created_at: UtcDatetime


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_in: int = Field(description="Lifetime of the access token in seconds.")
    scope: str = Field(description="The scopes granted, space-separated (RFC 6749 5.1).")
    refresh_token: str = Field(
        description="Exchange it once at POST /auth/refresh for a new pair; never a bearer token."
    )
    user: UserOut


class TodoCreate(_Body):
    title: Title
    done: bool = False


class TodoUpdate(_Body):
    """Only the fields sent change; ``null`` is not a value either field can take."""

    title: Title | None = None
    done: bool | None = None

    @field_validator("title", "done", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields that were sent: an omitted field keeps its default.
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class TodoOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    done: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime


class TodoPage(BaseModel):
    items: list[TodoOut]
    total: int
    limit: int
    offset: int


HealthStatus = Literal["ok", "degraded", "unavailable"]
DatabaseState = Literal["ok", "down"]
RedisState = Literal["ok", "down", "not configured"]


class Health(BaseModel):
    """``/health``: overall status, then each dependency (see :mod:`demo_app.health`)."""

    status: HealthStatus = Field(
        description="ok; degraded when Redis is down (still 200); unavailable (503) when "
        "the database is down."
    )
    database: DatabaseState
    redis: RedisState = Field(description="'not configured' without REDIS_URL.")
