"""Run by :mod:`tests.test_isolation` in a child pytest, never collected on its own: what
a fixture of module scope sees of the environment and the working folder, before any
function-scoped fixture has run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jwt_middleware import ConfigurationError, JWTSettings


@pytest.fixture(scope="module")
def seen_by_a_module_fixture() -> dict[str, object]:
    try:
        JWTSettings()
        settings_built = True
    except ConfigurationError:  # no secret and no keys: nothing was read
        settings_built = False
    return {
        "variables": sorted(n for n in os.environ if n.startswith(("JWT_", "DEMO_"))),
        "dotenv": Path(".env").exists(),
        "settings_built": settings_built,
    }


def test_probe(seen_by_a_module_fixture: dict[str, object]) -> None:
    assert seen_by_a_module_fixture == {
        "variables": ["JWT_MIDDLEWARE_REQUIRE_SERVICES"],
        "dotenv": False,
        "settings_built": False,
    }
