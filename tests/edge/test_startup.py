"""A misconfigured app does not start: under plain ``uvicorn module:app`` (lifespan "auto",
where a middleware that raises while Starlette builds its stack is reported as "lifespan
unsupported" and every request then gets a 500), the server must exit non-zero and print
what to set. Run as real uvicorn processes, for FastAPI and plain Starlette apps, with and
without a lifespan of the app's own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import SECRET
from tests.processes import child_environment
from tests.servers import free_port

FASTAPI_APP = """
from fastapi import FastAPI
from jwt_middleware import JWTAuthMiddleware
{lifespan}
app = FastAPI({lifespan_arg})
app.add_middleware(JWTAuthMiddleware, public=["/health"])

@app.get("/health")
def health() -> dict[str, str]:
    return {{"status": "ok"}}
"""

STARLETTE_APP = """
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route
from jwt_middleware import JWTAuthMiddleware
{lifespan}
async def health(request):
    return JSONResponse({{"status": "ok"}})

app = Starlette(
    routes=[Route("/health", health)],
    middleware=[Middleware(JWTAuthMiddleware, public=["/health"])],
    {lifespan_arg}
)
"""

OWN_LIFESPAN = """
from contextlib import asynccontextmanager

@asynccontextmanager
async def lifespan(app):
    print("APP LIFESPAN STARTED", flush=True)
    yield
"""

SHAPES = [
    pytest.param(FASTAPI_APP, False, id="fastapi"),
    pytest.param(FASTAPI_APP, True, id="fastapi-own-lifespan"),
    pytest.param(STARLETTE_APP, False, id="starlette"),
    pytest.param(STARLETTE_APP, True, id="starlette-own-lifespan"),
]

MISCONFIGURED = [
    pytest.param({}, "JWT_SECRET is not set", id="missing-secret"),
    pytest.param({"JWT_SECRET": "short"}, "JWT_SECRET must be at least 32", id="short-secret"),
    pytest.param(
        {"JWT_ALGORITHM": "RS256", "JWT_PUBLIC_KEY": "MIIBIjANBgkqhkiG9w0BAQEFAAOC"},
        "JWT_PUBLIC_KEY is neither inline PEM",
        id="bad-key",
    ),
    pytest.param(
        {"JWT_SECRET": SECRET, "JWT_LEEWAY_SECONDS": "ten"}, "JWT_LEEWAY_SECONDS", id="bad-number"
    ),
    pytest.param(
        {"JWT_SECRET": SECRET, "JWT_ALGORITHM": "HS999"}, "JWT_ALGORITHM", id="unknown-algorithm"
    ),
]


def _write_app(folder: Path, template: str, own_lifespan: bool) -> None:
    source = template.format(
        lifespan=OWN_LIFESPAN if own_lifespan else "",
        lifespan_arg="lifespan=lifespan," if own_lifespan else "",
    )
    (folder / "service.py").write_text(textwrap.dedent(source))


def _uvicorn(*options: str) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "service:app", "--port", str(free_port()), *options]


def _hypercorn() -> list[str]:
    return [sys.executable, "-m", "hypercorn", "service:app", "--bind", f"127.0.0.1:{free_port()}"]


def _granian() -> list[str]:
    port = str(free_port())
    return [sys.executable, "-m", "granian", "--interface", "asgi", "--port", port, "service:app"]


#: Each server's command, and whether it exits non-zero on a refused start-up: hypercorn
#: stops and prints the message but exits 0 whatever the app says (its own behaviour).
SERVERS = [
    pytest.param(_uvicorn, True, id="uvicorn"),
    pytest.param(_hypercorn, False, id="hypercorn"),
    pytest.param(_granian, True, id="granian"),
]


def _run_to_exit(
    folder: Path, env: dict[str, str], command: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        command or _uvicorn(),
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("template", "own_lifespan"), SHAPES)
def test_a_missing_secret_stops_the_server(
    tmp_path: Path, template: str, own_lifespan: bool
) -> None:
    _write_app(tmp_path, template, own_lifespan)
    result = _run_to_exit(tmp_path, child_environment())
    assert result.returncode != 0
    assert "JWTAuthMiddleware cannot start: JWT_SECRET is not set" in result.stderr
    assert "Application startup failed" in result.stderr
    assert "APP LIFESPAN STARTED" not in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("server", "exits_non_zero"), SERVERS)
@pytest.mark.parametrize(("template", "own_lifespan"), [SHAPES[0], SHAPES[3]])
def test_every_server_stops_on_a_refused_start_up(
    tmp_path: Path,
    template: str,
    own_lifespan: bool,
    server: Callable[[], list[str]],
    exits_non_zero: bool,
) -> None:
    _write_app(tmp_path, template, own_lifespan)
    result = _run_to_exit(tmp_path, child_environment(), server())
    if exits_non_zero:
        assert result.returncode != 0
    # granian logs to stdout, the others to stderr.
    assert "JWTAuthMiddleware cannot start: JWT_SECRET is not set" in result.stderr + result.stdout
    assert "APP LIFESPAN STARTED" not in result.stdout


@pytest.mark.parametrize(("variables", "says"), MISCONFIGURED)
def test_every_configuration_error_stops_the_server_and_says_what_to_set(
    tmp_path: Path, variables: dict[str, str], says: str
) -> None:
    _write_app(tmp_path, FASTAPI_APP, own_lifespan=False)
    result = _run_to_exit(tmp_path, child_environment(**variables))
    assert result.returncode != 0
    assert says in result.stderr
    for value in variables.values():
        if len(value) > 8:
            assert value not in result.stderr + result.stdout


def test_a_server_without_lifespan_fails_closed_with_503(tmp_path: Path) -> None:
    _write_app(tmp_path, STARLETTE_APP, own_lifespan=False)
    env = child_environment()
    command = _uvicorn("--lifespan", "off")
    port = command[command.index("--port") + 1]
    process = subprocess.Popen(  # noqa: S603
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        replies = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                replies = [httpx.get(f"http://127.0.0.1:{port}/health") for _ in range(3)]
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert [r.status_code for r in replies] == [503, 503, 503]
        assert replies[0].json() == {"detail": "Authentication is not configured."}
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert output.count("JWTAuthMiddleware cannot serve: JWT_SECRET is not set") == 1
    assert "Traceback" not in output
