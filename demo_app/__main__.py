"""``python -m demo_app``: take the port, make sure there is a secret, then serve on 127.0.0.1.

The port is tried first, before anything is written or printed: when it is taken, the one
line said is which port and that ``PORT`` chooses another, not a secret written to
``.env`` and a "Serving the demo" that never happens. (Should another process take the port
in the moment between that check and uvicorn binding it, uvicorn says so itself.)

On the first run, with no ``JWT_SECRET`` in the environment or in ``./.env``, a random
one is appended to ``./.env`` (readable by the owner only), so tokens survive restarts.
Nothing is written when keys are configured instead (``JWT_PRIVATE_KEY`` and the like).

Logs go to stderr in one format with time, level and logger name
(:mod:`demo_app.log_config`).
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Final

import uvicorn

from jwt_middleware import JWTSettings

from .log_config import log_config
from .settings import DemoSettings

__all__ = ["check_port", "ensure_jwt_secret", "main"]

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


def check_port(host: str, port: int) -> None:
    """Raise :class:`OSError` unless uvicorn can bind ``host:port`` now.

    Binds with ``SO_REUSEADDR``, as uvicorn does: a port left in TIME_WAIT by the previous
    run is free, one that another process listens on is not. Released at once.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def main() -> int:
    try:
        settings = DemoSettings()
    except ValueError as exc:  # pydantic's ValidationError
        print(f"Configuration error:\n{exc}", file=sys.stderr)
        return 2
    try:
        check_port(_HOST, settings.port)
    except OSError as exc:
        print(_port_error(settings.port, exc), file=sys.stderr)
        return 1
    env_file = Path(".env")
    if ensure_jwt_secret(env_file):
        print(f"Wrote a new random JWT_SECRET to {env_file.resolve()} (mode 0600).")
    try:
        JWTSettings()
    except ValueError as exc:  # ConfigurationError, or pydantic's ValidationError
        print(f"Configuration error:\n{exc}", file=sys.stderr)
        return 2
    print(f"Serving the demo: open http://{_HOST}:{settings.port}/docs", flush=True)
    uvicorn.run(
        "demo_app.main:app",
        host=_HOST,
        port=settings.port,
        log_config=log_config(),
        access_log=False,
    )
    return 0


def _port_error(port: int, exc: OSError) -> str:
    """One line: which port, why, and that PORT picks another."""
    if exc.errno == errno.EADDRINUSE:
        reason = "is already in use"
    else:
        reason = f"cannot be used ({exc.strerror or type(exc).__name__})"
    other = port + 1 if port < 65535 else port - 1
    return (
        f"Port {port} on {_HOST} {reason}: stop what is using it, or choose another port "
        f"with the PORT variable (for example PORT={other} python -m demo_app)."
    )


if __name__ == "__main__":
    sys.exit(main())
