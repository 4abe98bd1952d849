"""Opaque access tokens checked by the issuer's RFC 7662 introspection endpoint: where it
is, how this service authenticates to it, and how long its answers are remembered. Every
value is checked here, at start-up, so a bad one stops the app with its variable's name."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from ..algorithms import algorithm_for_key, read_key
from .base import SettingsBase

__all__ = ["IntrospectionAuthMethod", "IntrospectionSettings"]

#: How this service authenticates to the introspection endpoint (RFC 7591 names).
IntrospectionAuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]


class IntrospectionSettings(SettingsBase):
    """Introspection is on when ``JWT_INTROSPECTION_URL`` is set, or when
    ``JWT_INTROSPECTION_CLIENT_ID`` is and the issuer's metadata names an
    ``introspection_endpoint`` (discovery). The client authenticates with its secret
    (``client_secret_basic`` by default, or ``client_secret_post``) or with a JWT signed by
    ``JWT_INTROSPECTION_PRIVATE_KEY`` (``private_key_jwt``)."""

    introspection_url: str | None = Field(
        default=None, description="RFC 7662 endpoint that checks opaque tokens."
    )
    introspection_client_id: str | None = Field(
        default=None, min_length=1, description="This service's client id at the endpoint."
    )
    introspection_client_secret: SecretStr | None = Field(
        default=None, description="Its client secret (client_secret_basic or _post)."
    )
    introspection_auth_method: IntrospectionAuthMethod = Field(
        default="client_secret_basic", description="How the client authenticates."
    )
    introspection_private_key: SecretStr | None = Field(
        default=None, description="PEM key, inline or a file path, for private_key_jwt."
    )
    introspection_key_id: str | None = Field(
        default=None, min_length=1, description="kid in the header of the client assertion."
    )
    introspect_all_tokens: bool = Field(
        default=False, description="Introspect JWTs too, instead of verifying them locally."
    )
    introspection_cache_seconds: float = Field(
        default=60, gt=0, le=3600, description="Longest an active answer is remembered."
    )
    introspection_timeout_seconds: float = Field(
        default=5, gt=0, le=60, description="A whole introspection call must fit in this."
    )

    @field_validator("introspection_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("JWT_INTROSPECTION_URL must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _client_can_authenticate(self) -> Self:
        if self.introspection_client_id is None:
            if self.introspection_url is not None:
                raise ValueError(
                    "JWT_INTROSPECTION_URL needs JWT_INTROSPECTION_CLIENT_ID: the endpoint "
                    "answers authenticated clients only (RFC 7662 section 2.1)"
                )
            return self
        if self.introspection_auth_method == "private_key_jwt":
            if self.introspection_private_key is None:
                raise ValueError(
                    "JWT_INTROSPECTION_AUTH_METHOD=private_key_jwt needs "
                    "JWT_INTROSPECTION_PRIVATE_KEY"
                )
            self.introspection_signing_algorithm()  # a bad key stops start-up
        elif not self.introspection_client_secret:
            raise ValueError(
                f"JWT_INTROSPECTION_AUTH_METHOD={self.introspection_auth_method} needs "
                "JWT_INTROSPECTION_CLIENT_SECRET"
            )
        return self

    def introspection_signing_algorithm(self) -> str:
        """The algorithm of the client assertion: the one ``JWT_INTROSPECTION_PRIVATE_KEY``
        fits: RS256, ES256/384/512 or EdDSA."""
        assert self.introspection_private_key is not None
        key = read_key(
            self.introspection_private_key.get_secret_value(),
            "JWT_INTROSPECTION_PRIVATE_KEY",
            private=True,
        )
        return algorithm_for_key(key)

    @property
    def introspection_enabled(self) -> bool:
        """Whether opaque tokens are introspected (a client id is what says so)."""
        return self.introspection_client_id is not None
