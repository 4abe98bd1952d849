"""``python -m demo_app``: make sure there is a secret, then serve on 127.0.0.1.

On the first run, with no ``JWT_SECRET`` in the environment or in ``./.env``, a random
one is appended to ``./.env`` (readable by the owner only), so tokens survive restarts.
Nothing is written when keys are configured instead (``JWT_PRIVATE_KEY`` and the like).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Final

import uvicorn

from jwt_middleware import JWTSettings

from .settings import DemoSettings

__all__ = ["ensure_jwt_secret", "main"]

_HOST = "127.0.0.1"

#: Variables that configure signing or verification keys; any of them set means a random
#: secret is not wanted (with a key pair it would even be refused as a conflict).
_KEY_VARIABLES: Final = (
    "JWT_SECRET",
    "JWT_PRIVATE_KEY",
    "JWT_PUBLIC_KEY",
    "JWT_PUBLIC_KEYS",
    "JWT_JWKS_URL",
)


def ensure_jwt_secret(env_file: Path, environ: Mapping[str, str] = os.environ) -> bool:
    """Write a new ``JWT_SECRET`` into ``env_file`` unless keys are configured already.

    Keys count as configured when ``environ`` has a non-empty ``JWT_SECRET`` (or
    ``JWT_PRIVATE_KEY``, ``JWT_PUBLIC_KEY(S)``, ``JWT_JWKS_URL``) or ``env_file`` assigns
    one. Otherwise a line ``JWT_SECRET=...`` is appended (the file is created if missing)
    and the file's mode set to 0600, as it now holds a secret. Returns whether it wrote one.
    """
    if any(environ.get(name) for name in _KEY_VARIABLES):
        return False
    existing = env_file.read_text(encoding="utf-8") if env_file.exists() else ""
    if _assigns(existing, _KEY_VARIABLES):
        return False
    separator = "\n" if existing and not existing.endswith("\n") else ""
    line = f"{separator}JWT_SECRET={secrets.token_urlsafe(48)}\n"
    descriptor = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        os.fchmod(descriptor, 0o600)
        handle.write(line)
    return True


def _assigns(dotenv_text: str, names: Collection[str]) -> bool:
    """Whether the dotenv text gives one of ``names`` a non-empty value."""
    for raw in dotenv_text.splitlines():
        line = raw.strip().removeprefix("export ").lstrip()
        name, equals, value = line.partition("=")
        if equals and name.strip() in names and value.strip().strip("\"'"):
            return True
    return False


def main() -> int:
    env_file = Path(".env")
    if ensure_jwt_secret(env_file):
        print(f"Wrote a new random JWT_SECRET to {env_file.resolve()} (mode 0600).")
    try:
        settings = DemoSettings()
        JWTSettings()
    except ValueError as exc:  # ConfigurationError, or pydantic's ValidationError
        print(f"Configuration error:\n{exc}", file=sys.stderr)
        return 2
    print(f"Serving the demo: open http://{_HOST}:{settings.port}/docs", flush=True)
    uvicorn.run("demo_app.main:app", host=_HOST, port=settings.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
