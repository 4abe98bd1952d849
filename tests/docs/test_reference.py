"""The configuration page lists every setting with its variable, and the troubleshooting page
every reason a refusal is logged with, so neither can be added without saying what it is
for."""

from __future__ import annotations

import re
from pathlib import Path

from jwt_middleware import JWTSettings
from jwt_middleware.refusals import Reason

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGE = DOCS / "configuration.md"
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


_REASON_ROW = re.compile(r"^\| `(\w+)` \| ([^|]+) \| ([^|]+) \|$")


def test_every_refusal_reason_has_a_row() -> None:
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    rows = [found.group(1) for line in text.splitlines() if (found := _REASON_ROW.match(line))]
    assert rows == [reason.value for reason in Reason]  # in the order they are checked
