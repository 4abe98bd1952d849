"""The plugin as a user meets it: pytest in an empty folder finds it through the installed
package's entry point, and a test file that uses only its fixtures protects a FastAPI app.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.processes import child_environment

USER_TESTS = Path(__file__).with_name("user_tests.py")


def test_the_entry_point_names_the_plugin_module() -> None:
    plugins = {entry.name: entry.value for entry in entry_points(group="pytest11")}
    assert plugins.get("jwt_middleware") == "jwt_middleware.testing"


@pytest.mark.parametrize(
    ("options", "outcome"),
    [
        pytest.param([], "1 passed", id="loaded-through-the-entry-point"),
        pytest.param(["-p", "no:jwt_middleware"], "fixture 'jwt_issuer' not found", id="disabled"),
    ],
)
def test_a_users_test_file_runs_with_the_plugin_alone(
    tmp_path: Path, options: list[str], outcome: str
) -> None:
    (tmp_path / "test_app.py").write_text(USER_TESTS.read_text())
    finished = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "--durations=0",
            "--durations-min=0",
            *options,
            "test_app.py",
        ],
        cwd=tmp_path,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome in finished.stdout, finished.stdout + finished.stderr
    if not options:
        assert re.search(r"^plugins: .*jwt-middleware-asgi", finished.stdout, re.MULTILINE)
        # Speed is measured, not asserted (the house rule): printed for `pytest -s`.
        call = re.search(r"^([\d.]+)s call\s+test_app\.py::", finished.stdout, re.MULTILINE)
        assert call is not None, finished.stdout
        print(f"the user's test took {call.group(1)} s")
