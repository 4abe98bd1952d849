"""The base of every settings group: where values come from, and how a problem becomes a
:class:`~jwt_middleware.errors.ConfigurationError` that names the variable."""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from ..errors import ConfigurationError

__all__ = ["SettingsBase"]

_SETTINGS_ERROR_FIELD: Final = re.compile(r'field "([a-z_]+)"')


class SettingsBase(BaseSettings):
    """``JWT_*`` variables first, then a ``.env`` file in the working folder; frozen once
    read. Anything invalid raises :class:`~jwt_middleware.errors.ConfigurationError`, whose
    message names each environment variable to fix (``JWT_EXPIRY_DAYS``, not
    ``expiry_days``) and never includes the offending input, so a secret that is too short
    is not echoed into a log."""

    model_config = SettingsConfigDict(
        env_prefix="JWT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigurationError(
                _describe(exc, self.model_config.get("env_prefix", ""))
            ) from None
        except SettingsError as exc:
            # pydantic-settings could not parse a JSON value; its message names the field
            # (never the value), which we turn into the variable.
            field = _SETTINGS_ERROR_FIELD.search(str(exc))
            variable = "JWT_" + field.group(1).upper() if field else "a JWT_* variable"
            raise ConfigurationError(f"{variable}: not valid JSON") from None


def _describe(error: ValidationError, prefix: str) -> str:
    """One line per problem, each naming the environment variable, never the input."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False, include_context=False):
        message = problem["msg"].removeprefix("Value error, ")
        location = problem["loc"]
        if location:
            variable = prefix + str(location[0]).upper()
            if len(location) > 1:
                variable += "[" + "][".join(repr(part) for part in location[1:]) + "]"
            if not message.startswith(variable):
                message = f"{variable}: {message}"
        lines.append(message)
    if len(lines) == 1:
        return lines[0]
    return "JWT settings are invalid:\n" + "\n".join(f"- {line}" for line in lines)
