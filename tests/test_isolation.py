"""The suite never reads the developer's configuration: ``make demo`` writes a ``.env``
with a ``JWT_SECRET`` at the checkout's root, and a shell may export ``JWT_*`` or ``DEMO_*``
variables; tests (fixtures of every scope included) see neither unless they set it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import SECRET
from tests.processes import REPO_ROOT, child_environment


def test_no_fixture_sees_the_developers_env_file_or_variables(tmp_path: Path) -> None:
    # The child pytest runs from a folder that looks like a checkout after `make demo`.
    (tmp_path / ".env").write_text(f"JWT_SECRET={SECRET}\nJWT_ISSUER=https://idp.example/\n")
    env = child_environment(
        JWT_SECRET=SECRET, DEMO_REDIS_KEY_PREFIX="x:", JWT_MIDDLEWARE_REQUIRE_SERVICES="0"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(REPO_ROOT),
            "-c",
            str(REPO_ROOT / "pyproject.toml"),
            str(REPO_ROOT / "tests" / "isolation_probe.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 passed" in result.stdout
