"""Child processes of the test run (``python -m demo_app``, ``uvicorn``, ``granian``): the
checkout they run from and the environment they get.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
#: Configuration that neither the test run nor a child inherits from the developer.
CONFIGURATION_PREFIXES: Final = ("JWT_", "DEMO_")
CONFIGURATION_NAMES: Final = frozenset({"DATABASE_URL", "REDIS_URL", "PORT"})


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment without JWT_*, DEMO_*, DATABASE_URL, REDIS_URL and PORT,
    plus ``extra``; output unbuffered, and the checkout on PYTHONPATH (the demo and the
    tests' apps run from it, not installed, wherever the child's working folder is)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(CONFIGURATION_PREFIXES) and name not in CONFIGURATION_NAMES
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_python(
    code: str, *, cwd: Path = REPO_ROOT, environment: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in a fresh interpreter of this environment, from ``cwd``,
    with :func:`child_environment` plus ``environment``; its output, whatever it exits with."""
    return subprocess.run(  # noqa: S603 - this interpreter, on the tests' own code
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=child_environment(**(environment or {})),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def explain_command(*arguments: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m jwt_middleware explain ARGUMENTS`` from the checkout, its output kept."""
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "jwt_middleware", "explain", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=REPO_ROOT,
    )
