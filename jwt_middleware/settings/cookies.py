"""The token in a cookie, for browser apps, and what guards it against cross-site request
forgery: the origins trusted to send unsafe requests with it, and the double-submit header
and cookie. See ``docs/cookies.md``."""

from __future__ import annotations

import re
from typing import Annotated, Final, Self

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import NoDecode

from .base import SettingsBase
from .values import one_or_list

__all__ = ["CookieSettings", "is_cookie_name", "is_origin"]

# RFC 6265 section 4.1.1: cookie-name is an RFC 2616 token.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# An origin as a browser serialises it (RFC 6454 section 6.2): scheme, host, port if not the
# default; no path, no trailing slash. Lower case, as browsers send it.
_ORIGIN: Final = re.compile(r"https?://(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def is_cookie_name(name: str) -> bool:
    """Whether ``name`` is a cookie name RFC 6265 allows (an HTTP token)."""
    return _TOKEN.fullmatch(name) is not None


def is_origin(origin: str) -> bool:
    """Whether ``origin`` is serialised as a browser sends it in ``Origin``."""
    return _ORIGIN.fullmatch(origin) is not None


def _origin_list(value: object) -> object:
    """A JSON list of origins, or origins separated by commas (one is the simplest case)."""
    if isinstance(value, str) and not value.lstrip().startswith("["):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return one_or_list(value)


#: One origin, origins separated by commas, or a JSON list of them.
Origins = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_origin_list)]


class CookieSettings(SettingsBase):
    """Where a browser's token comes from when no ``Authorization`` header is sent, and
    which unsafe requests may use it."""

    cookie_name: str | None = Field(
        default=None,
        description="Read the token from this cookie when no Authorization header is sent.",
    )
    csrf_trusted_origins: Origins = Field(
        default=(),
        description="Origins whose unsafe requests (POST...) may be authenticated by the cookie.",
    )
    csrf_header: str | None = Field(
        default=None,
        description="Header of the double-submit CSRF check: equal to JWT_CSRF_COOKIE_NAME's.",
    )
    csrf_cookie_name: str | None = Field(
        default=None, description="Cookie of the double-submit CSRF check."
    )

    @field_validator("cookie_name", "csrf_cookie_name")
    @classmethod
    def _cookie_names_are_tokens(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not is_cookie_name(value):
            variable = "JWT_" + str(info.field_name).upper()
            raise ValueError(f"{variable} must be a cookie name (letters, digits, -_.!#$%&'*+^`|~)")
        return value

    @field_validator("csrf_header")
    @classmethod
    def _header_is_a_token(cls, value: str | None) -> str | None:
        if value is not None and not is_cookie_name(value):
            raise ValueError("JWT_CSRF_HEADER must be a header name, e.g. X-CSRF-Token")
        return value

    @field_validator("csrf_trusted_origins")
    @classmethod
    def _origins_are_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not all(is_origin(origin) for origin in value):
            raise ValueError(
                "JWT_CSRF_TRUSTED_ORIGINS must be origins as browsers send them: "
                "scheme and host in lower case, a port if not the default, no path "
                "(e.g. https://app.example.com)"
            )
        return value

    @model_validator(mode="after")
    def _double_submit_is_two_settings(self) -> Self:
        if (self.csrf_header is None) != (self.csrf_cookie_name is None):
            raise ValueError(
                "set JWT_CSRF_HEADER and JWT_CSRF_COOKIE_NAME together: "
                "the header must equal the cookie"
            )
        if self.csrf_cookie_name is not None and self.csrf_cookie_name == self.cookie_name:
            raise ValueError("JWT_CSRF_COOKIE_NAME must not be JWT_COOKIE_NAME")
        return self
