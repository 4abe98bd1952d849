"""DPoP (RFC 9449): sender-constrained tokens proved by a key the client keeps. What turns
it on, the URL proofs are made for, the accepted proof algorithms and window, the replay
memory, and the server nonces. Every value is checked here, so a DPoP configuration that
cannot work stops start-up with the variable to set. See ``docs/dpop.md``."""

from __future__ import annotations

from typing import Final, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from ..algorithms import secret_weakness
from .base import SettingsBase

__all__ = ["DPOP_ALGORITHMS", "DPoPAlgorithm", "DPoPSettings"]

#: What a proof may be signed with: the asymmetric algorithms (a proof is verified with the
#: key it carries, so a shared secret could prove nothing), and RFC 9864's ``Ed25519``.
DPoPAlgorithm = Literal[
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
    "RS256",
    "RS384",
    "RS512",
    "EdDSA",
    "Ed25519",
]
#: The defaults: what DPoP clients sign with (panva's dpop signs ES256, Ed25519, PS256, RS256).
DPOP_ALGORITHMS: Final[tuple[DPoPAlgorithm, ...]] = ("ES256", "EdDSA", "PS256", "RS256")
_MIN_NONCE_SECRET_CHARACTERS: Final = 32


class DPoPSettings(SettingsBase):
    """DPoP is off unless ``JWT_DPOP_ENABLED=true``; then ``Authorization: DPoP`` is read
    beside ``Bearer`` (or instead of it, with ``JWT_DPOP_REQUIRED=true``)."""

    dpop_enabled: bool = Field(
        default=False, description="Accept DPoP-bound tokens with their proofs (RFC 9449)."
    )
    dpop_required: bool = Field(
        default=False, description="Refuse bearer tokens: every request must prove its key."
    )
    dpop_base_url: str | None = Field(
        default=None,
        description="Scheme and host clients call (https://api.example.com), for a proof's htu.",
    )
    dpop_algorithms: tuple[DPoPAlgorithm, ...] = Field(
        default=DPOP_ALGORITHMS, min_length=1, description="Algorithms a proof may be signed with."
    )
    dpop_proof_seconds: int = Field(
        default=60, ge=1, le=600, description="How old a proof (its iat) may be, besides leeway."
    )
    dpop_max_proofs: int = Field(
        default=100_000,
        ge=1000,
        le=10_000_000,
        description="Proofs remembered against replay in this process.",
    )
    dpop_replay_on_error: Literal["deny", "refuse"] = Field(
        default="deny",
        description="When the shared replay store cannot answer: 503 (deny) or 401 (refuse).",
    )
    dpop_nonce: bool = Field(
        default=False, description="Require a server nonce in every proof (RFC 9449 section 9)."
    )
    dpop_nonce_secret: SecretStr | None = Field(
        default=None, description="Key of the nonces' HMAC; the same on every instance."
    )
    dpop_nonce_seconds: int = Field(
        default=300, ge=10, le=86400, description="How often the nonce changes."
    )

    @field_validator("dpop_base_url")
    @classmethod
    def _base_url_is_an_origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if (
            parts.scheme not in ("https", "http")
            or not parts.hostname
            or parts.username is not None
            or parts.query
            or parts.fragment
            or "?" in value
            or "#" in value
        ):
            raise ValueError(
                "JWT_DPOP_BASE_URL must be the scheme and host clients call, e.g. "
                "https://api.example.com (a path prefix if a proxy strips one)"
            )
        try:
            parts.port  # noqa: B018 - a port that is not a number raises here
        except ValueError:
            raise ValueError("JWT_DPOP_BASE_URL has a port that is not a number") from None
        return value.rstrip("/")

    @field_validator("dpop_algorithms", mode="after")
    @classmethod
    def _algorithms_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _dpop_can_work(self) -> Self:
        if not self.dpop_enabled:
            for name in ("dpop_required", "dpop_nonce"):
                if getattr(self, name):
                    raise ValueError(f"JWT_{name.upper()} needs JWT_DPOP_ENABLED=true")
            return self
        if self.dpop_base_url is None:
            raise ValueError(
                "JWT_DPOP_ENABLED needs JWT_DPOP_BASE_URL: the scheme and host clients call "
                "(https://api.example.com), which every proof's htu must name; never taken "
                "from the request's Host header"
            )
        if self.dpop_nonce:
            secret = self.dpop_nonce_secret.get_secret_value() if self.dpop_nonce_secret else ""
            if len(secret) < _MIN_NONCE_SECRET_CHARACTERS:
                raise ValueError(
                    f"JWT_DPOP_NONCE needs JWT_DPOP_NONCE_SECRET of at least "
                    f"{_MIN_NONCE_SECRET_CHARACTERS} characters, the same on every instance"
                )
            weakness = secret_weakness(secret)
            if weakness is not None:
                raise ValueError(f"JWT_DPOP_NONCE_SECRET looks like {weakness}")
        return self

    @property
    def dpop_accepted_algorithms(self) -> tuple[str, ...]:
        """The proof algorithms accepted: the configured ones, and ``Ed25519`` wherever
        ``EdDSA`` is (RFC 9864 names the same signatures on Ed25519 keys)."""
        names = list(self.dpop_algorithms)
        if "EdDSA" in names and "Ed25519" not in names:
            names.insert(names.index("EdDSA") + 1, "Ed25519")
        return tuple(names)
