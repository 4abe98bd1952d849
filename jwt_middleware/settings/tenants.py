"""Issuers accepted at request time (tenants): the issuer templates of ``JWT_ISSUER`` and the
bounds on the tenants held (``JWT_MAX_TENANTS``) and admitted (``JWT_NEW_TENANTS_PER_MINUTE``).

An issuer template is a ``JWT_ISSUER`` entry with one ``{claim}`` placeholder filling one
whole path segment after the host, e.g. ``https://login.microsoftonline.com/{tid}/v2.0``.
It stands for every issuer with that scheme, host, port and other segments, and a segment of
``[A-Za-z0-9._~-]``, 1 to 128 characters, not made of dots only. So a token's ``iss`` can
choose the segment and nothing else: never the host, a port, userinfo, another path or a
query, which is what makes it safe to fetch the metadata of an issuer built from it.
Pure: no environment, no keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Self

from pydantic import Field

from .base import SettingsBase

__all__ = ["IssuerTemplate", "TenantSettings", "is_template"]

_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
_SEGMENT: Final = re.compile(r"[A-Za-z0-9._~-]{1,128}")
# What the fixed part of a template may hold: the scheme and host, then path segments of the
# same characters a tenant segment may have (no query, fragment, userinfo or escapes).
_FIXED: Final = re.compile(
    r"(?:https://[A-Za-z0-9.-]+(?::\d{1,5})?|http://(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?)"
    r"(?:/[A-Za-z0-9._~-]+)*/"
)
_SUFFIX: Final = re.compile(r"(?:/[A-Za-z0-9._~-]+)*/?")


def is_template(issuer: str) -> bool:
    """Whether a ``JWT_ISSUER`` entry is a template (no issuer URL holds a ``{``)."""
    return "{" in issuer


@dataclass(frozen=True, slots=True)
class IssuerTemplate:
    """A parsed issuer template: the fixed text around its one placeholder, and the claim
    the placeholder names, which a token of a tenant must carry with the segment's value."""

    text: str
    claim: str
    prefix: str
    suffix: str

    @classmethod
    def parse(cls, text: str) -> Self:
        """The template ``text``, or ``ValueError`` naming ``JWT_ISSUER`` (never the text)."""
        found = list(_PLACEHOLDER.finditer(text))
        if len(found) != 1 or text.count("{") != 1 or text.count("}") != 1:
            raise ValueError("JWT_ISSUER: a template has exactly one {claim} placeholder")
        placeholder = found[0]
        prefix, suffix = text[: placeholder.start()], text[placeholder.end() :]
        if not _FIXED.fullmatch(prefix) or not _SUFFIX.fullmatch(suffix):
            raise ValueError(
                "JWT_ISSUER: a template is an https URL (http only on loopback) whose "
                "{claim} placeholder fills one whole path segment after the host"
            )
        return cls(text=text, claim=placeholder.group(1), prefix=prefix, suffix=suffix)

    def segment_of(self, issuer: str) -> str | None:
        """The tenant segment of ``issuer`` if the template matches it, else ``None``."""
        if not (issuer.startswith(self.prefix) and issuer.endswith(self.suffix)):
            return None
        segment = issuer[len(self.prefix) : len(issuer) - len(self.suffix)]
        if not _SEGMENT.fullmatch(segment) or not segment.strip("."):
            return None
        return segment


class TenantSettings(SettingsBase):
    """How many tenants (issuers accepted at request time, by a template of ``JWT_ISSUER``
    or a ``resolve_issuer`` callback) are held, and how fast new ones are admitted."""

    max_tenants: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="Tenants (issuers accepted at request time) whose keys are held; the "
        "least recently used one that has verified a token is forgotten past it.",
    )
    new_tenants_per_minute: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="New tenants admitted per minute (and in a burst); past it a token of a "
        "new tenant is answered 503 with Retry-After, so a flood of unknown issuers cannot "
        "make the service fetch more.",
    )
