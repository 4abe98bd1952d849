"""What loading the plugin costs, and that the library never loads it.

pytest imports :mod:`jwt_middleware.testing` in every session of every project where the
library is installed, so importing it must bring in nothing but the package's ``__init__``
(itself lazy): no PyJWT, cryptography, pydantic, Starlette or httpx. And nothing the library
runs imports the plugin. Each is checked in a fresh interpreter, whose ``sys.modules`` says
what was imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.processes import child_environment

HEAVY = ["jwt", "cryptography", "pydantic", "pydantic_settings", "starlette", "httpx"]

IMPORT_THE_PLUGIN = "import pytest, jwt_middleware.testing"
# Every module of the package by its file (pkgutil.walk_packages would import the
# subpackages it walks, the plugin's among them).
IMPORT_THE_LIBRARY = """
import importlib, pathlib, jwt_middleware
from jwt_middleware import *
root = pathlib.Path(jwt_middleware.__file__).parent
for path in sorted(root.rglob("*.py")):
    parts = path.relative_to(root).with_suffix("").parts
    if parts[0] not in {"testing", "__main__"}:
        names = parts[:-1] if parts[-1] == "__init__" else parts
        importlib.import_module(".".join(("jwt_middleware", *names)))
"""


def imported_by(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    code += "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    finished = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        env=child_environment(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(finished.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    ("code", "present", "absent"),
    [
        pytest.param(
            IMPORT_THE_PLUGIN,
            ["jwt_middleware.testing"],
            [*HEAVY, "jwt_middleware.settings", "jwt_middleware.testing.issuer"],
            id="the-plugin-imports-nothing-heavy",
        ),
        pytest.param(
            IMPORT_THE_LIBRARY,
            ["jwt_middleware.middleware", "jwt_middleware.revocation.redis", "jwt", "httpx"],
            ["jwt_middleware.testing", "jwt_middleware.testing.issuer", "pytest"],
            id="the-library-never-imports-the-plugin",
        ),
    ],
)
def test_what_an_import_brings_in(code: str, present: list[str], absent: list[str]) -> None:
    modules = imported_by(code)
    assert set(present) <= modules
    assert not set(absent) & modules
