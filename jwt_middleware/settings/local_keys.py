"""Verification keys that need no network: a JWK Set in a file (``JWT_JWKS_FILE``) or given
inline (``JWT_JWKS``). One place for keys: either excludes every other key setting, as
:mod:`.keys` makes the others exclude each other. Each is read and checked here, at
start-up, so a broken one stops the app with its variable's name."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from .keys import KeySettings

__all__ = ["LocalKeySettings"]


class LocalKeySettings(KeySettings):
    """The key settings, with the two key sets that are read rather than fetched."""

    jwks_file: Path | None = Field(
        default=None,
        description="Take verification keys from this JWK Set file, read again when it changes.",
    )
    jwks: str | None = Field(
        default=None, description="Take verification keys from this JWK Set, given as JSON."
    )
    jwks_file_check_seconds: float = Field(
        default=30,
        gt=0,
        le=86400,
        description="How often a request looks whether JWT_JWKS_FILE changed.",
    )

    @model_validator(mode="after")
    def _local_keys_are_the_only_keys(self) -> Self:
        variable = self._local_keys_variable()
        if variable is None:
            return self
        self._check_sole_key_source(
            variable, also=[("JWT_JWKS_FILE", self.jwks_file), ("JWT_JWKS", self.jwks)]
        )
        self._check_local_keys(variable)
        return self

    def _check_local_keys(self, variable: str) -> None:
        """Read the set now, as the key source will, so that a broken one stops start-up."""
        from ..keys.local import JWKSFileKeys, LocalKeysError, inline_jwks

        try:
            if self.jwks_file is not None:
                JWKSFileKeys(self.jwks_file, algorithms=self.algorithms)
            elif self.jwks is not None:
                inline_jwks(self.jwks, algorithms=self.algorithms)
        except LocalKeysError as exc:
            raise ValueError(f"{variable}: {exc}") from None

    def _local_keys_variable(self) -> str | None:
        if self.jwks_file is not None:
            return "JWT_JWKS_FILE"
        if self.jwks is not None:
            return "JWT_JWKS"
        return None
