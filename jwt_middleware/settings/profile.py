"""Which tokens count as access tokens (RFC 9068): the ``typ`` header a token must carry,
and how an OpenID Connect ID token is told apart from an access token."""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import SettingsBase

__all__ = ["ProfileSettings"]


class ProfileSettings(SettingsBase):
    """The RFC 9068 profile settings: what makes a token an access token."""

    require_access_token_type: bool = Field(
        default=False,
        description="Accept only access tokens typed `at+jwt` or `application/at+jwt` "
        "(RFC 9068); untyped (`JWT`) tokens are refused.",
    )
    allow_nonce_in_access_tokens: bool = Field(
        default=False,
        description="Do not take a `nonce` claim as the mark of an ID token, for a provider "
        "that copies it into access tokens; `at_hash` and `c_hash` still are.",
    )
    require_explicit_type: bool | None = Field(
        default=None,
        description="Renamed JWT_REQUIRE_ACCESS_TOKEN_TYPE in 0.2.0; setting it stops start-up.",
    )

    @field_validator("require_explicit_type")
    @classmethod
    def _renamed(cls, value: bool | None) -> bool | None:
        # Refused rather than ignored: a strict setting that silently stopped applying
        # would let untyped tokens in without anyone noticing.
        if value is not None:
            raise ValueError(
                "JWT_REQUIRE_EXPLICIT_TYPE was renamed JWT_REQUIRE_ACCESS_TOKEN_TYPE; set "
                "that instead"
            )
        return value
