"""Where the token is read besides ``Authorization: Bearer``: a header a proxy in front
sets (``JWT_TOKEN_HEADER``), for AWS ALB, Google IAP and Cloudflare Access."""

from __future__ import annotations

import re
from typing import Final

from pydantic import Field, field_validator

from ..errors import ConfigurationError
from .base import SettingsBase

__all__ = ["HeaderSettings", "token_header_name"]

# RFC 9110 section 5.1: a field name is a token.
_FIELD_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
#: Headers that carry something else, which a token must never be taken from.
_NOT_TOKEN_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "host", "content-length", "content-type"}
)


class HeaderSettings(SettingsBase):
    """The header a proxy puts the token in, read as well as ``Authorization: Bearer``."""

    token_header: str | None = Field(
        default=None,
        description="Also take the raw token from this header, set by a proxy in front "
        "(x-amzn-oidc-data, x-goog-iap-jwt-assertion, cf-access-jwt-assertion).",
    )

    @field_validator("token_header")
    @classmethod
    def _token_header_is_a_header_name(cls, value: str | None) -> str | None:
        # ConfigurationError is a ValueError: pydantic reports its message as it is.
        return None if value is None else token_header_name(value)


def token_header_name(name: str) -> str:
    """``name`` as ASGI gives header names (lower case), checked: an HTTP field name, and
    not one that carries something else. Raises
    :class:`~jwt_middleware.errors.ConfigurationError` naming ``JWT_TOKEN_HEADER``."""
    lowered = name.strip().lower() if isinstance(name, str) else ""
    if not _FIELD_NAME.fullmatch(lowered):
        raise ConfigurationError("JWT_TOKEN_HEADER must be an HTTP header name")
    if lowered in _NOT_TOKEN_HEADERS:
        raise ConfigurationError(
            "JWT_TOKEN_HEADER names a header with a meaning of its own; name the header "
            "the proxy sets (Authorization is always read)"
        )
    return lowered
