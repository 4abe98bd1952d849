"""Node.js and the pinned ``oidc-provider`` for :mod:`tests.oidc.provider`.

:func:`ensure_node` installs the npm packages of ``tests/oidc`` from its lockfile when they are
missing or stale, so a fresh checkout needs nothing but ``make test``. Without Node.js (or
with one too old, or when ``npm ci`` fails) it goes through :func:`require_service`: the tests
skip on a developer machine and fail in CI (``JWT_MIDDLEWARE_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

# The one import of the skip-or-fail rule; repoint it here if it moves.
from tests.services import require_service

OIDC_DIR: Final = Path(__file__).resolve().parent
MINIMUM_NODE: Final = (20, 19)  # oidc-provider 9's (it recommends 22 and warns on 20)
NPM_CI_TIMEOUT_SECONDS: Final = 300.0


def _lock_versions(lockfile: Path) -> dict[str, str] | None:
    try:
        packages = json.loads(lockfile.read_text())["packages"]
    except (OSError, ValueError, KeyError):
        return None
    return {name: info.get("version", "") for name, info in packages.items() if name}


def _node_modules_current(folder: Path) -> bool:
    """Whether node_modules holds what the lockfile says (npm's own record of it)."""
    wanted = _lock_versions(folder / "package-lock.json")
    return wanted is not None and wanted == _lock_versions(
        folder / "node_modules" / ".package-lock.json"
    )


@contextmanager
def _install_lock(folder: Path) -> Iterator[None]:
    """One ``npm ci`` at a time for this folder, whichever process gets there first."""
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"jwt-middleware-oidc-npm-{digest}.lock"
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_node(folder: Path = OIDC_DIR) -> str:
    """The path of ``node``, with the lockfile's packages installed in ``folder``
    (``tests/oidc``; ``tests/dpop`` for the DPoP client).

    Runs ``npm ci`` when ``node_modules`` is missing or differs from the lockfile. Without
    Node.js (or npm, or a recent enough Node.js), or when ``npm ci`` fails, it goes through
    :func:`require_service`.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        require_service("Node.js (node and npm) not installed; the OpenID provider needs it")
        raise AssertionError("unreachable")  # require_service skips or fails
    version = subprocess.run(  # noqa: S603 - the node on PATH, no input of ours
        [node, "--version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout.strip()
    try:
        major, minor = (int(part) for part in version.lstrip("v").split(".")[:2])
    except ValueError:
        major, minor = 0, 0
    if (major, minor) < MINIMUM_NODE:
        wanted = ".".join(map(str, MINIMUM_NODE))
        require_service(f"Node.js {version or '?'} is older than {wanted}, oidc-provider's minimum")
    if _node_modules_current(folder):
        return node
    with _install_lock(folder):
        if not _node_modules_current(folder):
            result = subprocess.run(  # noqa: S603 - npm on PATH, fixed arguments
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=folder,
                capture_output=True,
                text=True,
                check=False,
                timeout=NPM_CI_TIMEOUT_SECONDS,
            )
            if result.returncode != 0:
                tail = (result.stderr or result.stdout)[-2000:]
                require_service(f"npm ci in {folder.name} failed:\n{tail}")
    return node
