"""The value types of the settings and their parsers: durations, one-or-list values,
per-issuer settings, claim paths. Pure: no environment, no keys."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Annotated, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_settings import NoDecode

from ..algorithms import Algorithm

__all__ = [
    "Audiences",
    "ClaimPath",
    "IssuerSettings",
    "Issuers",
    "Lifetime",
    "as_tuple",
    "parse_duration",
    "whole_seconds",
]

_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT_SECONDS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> object:
    """``"900"``, ``"900s"``, ``"15m"``, ``"12h"``, ``"7d"`` as a ``timedelta``; anything else
    (a number of seconds, a ``timedelta``, ISO 8601 such as ``"PT15M"``) goes on to
    pydantic unchanged."""
    if isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        number, unit = match.groups()
        return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])
    return value


#: A positive lifetime, written as seconds or with a unit (``15m``).
Lifetime = Annotated[timedelta, BeforeValidator(parse_duration)]


def one_or_list(value: object) -> object:
    """``JWT_ISSUER`` and ``JWT_AUDIENCE`` are one value, or a JSON list of them."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError("not valid JSON") from None
    return value


class IssuerSettings(BaseModel):
    """One accepted issuer, with what is particular to it.

    ``audience`` and ``algorithms`` replace the global ``JWT_AUDIENCE`` and
    ``JWT_ALGORITHMS`` for tokens of this issuer; ``jwks_url`` replaces discovery. Written
    in ``JWT_ISSUER`` as a JSON object in the list, e.g.
    ``[{"issuer": "https://login.microsoftonline.com/<tenant>/v2.0", "audience": "api://x"}]``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(min_length=1)
    audience: str | list[str] | None = None
    algorithms: list[Algorithm] | None = Field(default=None, min_length=1)
    jwks_url: str | None = None

    @property
    def audiences(self) -> tuple[str, ...] | None:
        return as_tuple(self.audience)


def as_tuple(value: str | list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


Issuers = Annotated[str | list[str | IssuerSettings] | None, NoDecode, BeforeValidator(one_or_list)]
Audiences = Annotated[str | list[str] | None, NoDecode, BeforeValidator(one_or_list)]
#: A claim named by a dotted path (``realm_access.roles``) or a list of keys for names that
#: contain dots themselves (``["resource_access", "my.client", "roles"]``).
ClaimPath = str | tuple[str, ...]


def whole_seconds(lifetime: timedelta | None, days: float | None, default: timedelta) -> int:
    """A lifetime given either way (a duration, or the older number of days), in seconds."""
    if lifetime is not None:
        return int(lifetime.total_seconds())
    if days is not None:
        return int(days * 86400)
    return int(default.total_seconds())
