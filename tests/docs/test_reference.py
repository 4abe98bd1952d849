"""The configuration page lists every setting with its variable, so a new setting cannot be
added without saying what it is for."""

from __future__ import annotations

import re
from pathlib import Path

from jwt_middleware import JWTSettings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
_ROW = re.compile(r"^\| `(\w+)` \| `(JWT_\w+)` \| ([^|]+) \| ([^|]+) \|$")


def test_every_setting_has_a_row_with_its_variable() -> None:
    rows = {
        found.group(1): found.group(2)
        for line in PAGE.read_text(encoding="utf-8").splitlines()
        if (found := _ROW.match(line))
    }
    fields = set(JWTSettings.model_fields)
    assert set(rows) == fields
    for name, variable in rows.items():
        assert variable == "JWT_" + name.upper()
