"""Without OpenTelemetry the library works as before and pays nothing: each case runs in a
fresh interpreter, where a meta-path finder makes ``opentelemetry`` unimportable, as it is
without the ``otel`` extra. ``opentelemetry`` is imported only when a part that reports is
built, never by importing the package, and with ``JWT_TELEMETRY=false`` no instrument is
made (FastAPI, which the routes audit may import, imports the API itself)."""

from __future__ import annotations

import pytest

from tests.processes import run_python

#: Run first in the child: ``opentelemetry`` cannot be imported.
BLOCKER = """
import sys

class NoOpenTelemetry:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoOpenTelemetry())
"""

#: Requests through a middleware: accepted twice (the second from the cache), refused.
REQUESTS = """
import sys
from starlette.testclient import TestClient
from jwt_middleware import JWTSettings
from tests.helpers import OTHER_SECRET, SECRET, bearer, build_app, mint_token

app = build_app(JWTSettings(secret=SECRET))
with TestClient(app) as client:
    token = mint_token()
    assert client.get("/private", headers=bearer(token)).json()["user_id"] == "user-1"
    assert client.get("/private", headers=bearer(token)).status_code == 200
    refused = client.get("/private", headers=bearer(mint_token(secret=OTHER_SECRET)))
    assert refused.status_code == 401, refused.status_code
    assert client.get("/private").status_code == 401
"""

#: Making the instruments fails the child.
NO_INSTRUMENTS = """
from jwt_middleware import telemetry

def refuse(self):
    raise AssertionError("instruments made")

telemetry.Telemetry.__init__ = refuse
"""

NOTHING_IMPORTED = """
imported = sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry")
assert imported == [], imported
print("ok")
"""


def run_child(code: str, **environment: str) -> None:
    result = run_python(code, environment=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_the_blocker_makes_opentelemetry_unimportable() -> None:
    result = run_python(BLOCKER + "\nimport opentelemetry\n")
    assert result.returncode != 0
    assert "No module named 'opentelemetry'" in result.stderr


@pytest.mark.parametrize(
    ("code", "environment"),
    [
        pytest.param(
            BLOCKER
            + REQUESTS
            + "\nfrom jwt_middleware.telemetry import instruments\nassert instruments() is None\n"
            + NOTHING_IMPORTED,
            {},
            id="not-installed",
        ),
        pytest.param(
            NO_INSTRUMENTS + REQUESTS + "print('ok')", {"JWT_TELEMETRY": "false"}, id="turned-off"
        ),
        pytest.param(
            "import sys\nimport jwt_middleware, jwt_middleware.middleware, jwt_middleware.telemetry"
            "\nimport jwt_middleware.verification.verifier, jwt_middleware.keys.jwks\n"
            + NOTHING_IMPORTED,
            {},
            id="package-imported",
        ),
    ],
)
def test_the_library_works_and_imports_no_opentelemetry(
    code: str, environment: dict[str, str]
) -> None:
    run_child(code, **environment)


def test_a_middleware_built_with_telemetry_imports_it() -> None:
    """The other side of the cases above: they would pass if nothing ever imported it."""
    run_child(REQUESTS + "\nassert 'opentelemetry.metrics' in sys.modules\nprint('ok')\n")
