"""Rules are audited against the app's routes at start-up (a typo silently locks or opens a
route), and ``python -m jwt_middleware routes module:app`` prints what each route requires."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from jwt_middleware import JWTSettings
from jwt_middleware.access.policy import AccessPolicy
from jwt_middleware.access.routes import app_routes, audit, route_table
from tests.asgi import lifespan_startup
from tests.helpers import SECRET
from tests.processes import child_environment

from .apps import fastapi_app, starlette_app

TYPOS: dict[str, Any] = {
    "public": ["/healthz"],
    "optional": ["GET /fede"],
    "scopes": {"POST /todo": ["x"]},
}


def test_rules_that_match_no_route_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="jwt_middleware")
    with TestClient(starlette_app(**TYPOS)):
        pass
    warnings = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert warnings == [
        "optional rule 'GET /fede' matches no route of the app",
        "public rule '/healthz' matches no route of the app",
        "scopes rule 'POST /todo' matches no route of the app",
    ]


def test_rules_that_match_routes_are_not(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="jwt_middleware")
    rules: dict[str, Any] = {
        "public": ["/public/*", "GET /todos/{id}"],
        "optional": ["/feed"],
        "scopes": {"DELETE /todos/*": ["x"], "/admin/users": ["admin"]},
    }
    with TestClient(starlette_app(**rules)):
        pass
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_strict_rules_stop_the_server() -> None:
    settings = JWTSettings(secret=SECRET, strict_rules=True)
    reply = lifespan_startup(starlette_app(settings, public=["/healthz"]))
    assert reply["type"] == "lifespan.startup.failed"
    assert "public rule '/healthz' matches no route" in reply["message"]
    assert "JWT_STRICT_RULES" in reply["message"]


def test_strict_rules_without_lifespan_fail_closed() -> None:
    settings = JWTSettings(secret=SECRET, strict_rules=True)
    client = TestClient(starlette_app(settings, public=["/healthz"]))  # no lifespan
    reply = client.get("/feed")
    assert reply.status_code == 503


def test_the_route_table() -> None:
    app = starlette_app(public=["/public/*"], optional=["GET /feed"], scopes={"POST /todos": ["w"]})
    policy = AccessPolicy(
        public=["/public/*"], optional=["GET /feed"], scopes={"POST /todos": ["w"]}
    )
    for route in app_routes(app):
        if route.requirement is not None:
            policy.require_route(route.methods, route.path, route.requirement)
    rows = {
        (method, path): needs
        for methods, path, needs in route_table(policy, app_routes(app))
        for method in methods.split(",")
    }
    assert rows[("GET", "/feed")] == "optional"
    assert rows[("HEAD", "/feed")] == "optional"  # a GET rule admits HEAD too
    assert rows[("GET", "/public/{rest:path}")] == "public"
    assert rows[("POST", "/todos")] == "token (scopes: w)"
    assert rows[("GET", "/todos")] == "token"
    assert rows[("GET", "/reports")] == "token (scopes: reports:read)"
    assert rows[("WEBSOCKET", "/ws")] == "token"
    assert audit(policy, app_routes(app)) == []


def test_routes_command(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(
        textwrap.dedent(
            """
            from tests.access.apps import fastapi_app

            app = fastapi_app(public=["/openapi.json", "/docs"], scopes={"GET /notes": ["r"]})
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "jwt_middleware", "routes", "service:app"],
        cwd=tmp_path,
        env=child_environment(JWT_SECRET=SECRET),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["METHOD", "PATH", "REQUIRES"]
    table = {
        (method, path): needs
        for methods, path, needs in (line.split(None, 2) for line in lines[1:] if line)
        for method in methods.split(",")
    }
    assert table[("GET", "/notes")] == "token (scopes: r)"
    assert table[("POST", "/notes")] == "token (scopes: notes:write)"
    assert table[("DELETE", "/notes/{note_id}")] == "token (scopes: notes:admin)"
    assert table[("GET", "/openapi.json")] == "public"


@pytest.mark.parametrize(
    ("argument", "says"),
    [("nosuchmodule:app", "cannot import"), ("json:loads", "no JWTAuthMiddleware")],
)
def test_routes_command_errors(tmp_path: Path, argument: str, says: str) -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "jwt_middleware", "routes", argument],
        cwd=tmp_path,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert says in result.stderr


def test_fastapi_routes_are_read_with_their_dependencies() -> None:
    routes = {(r.path, r.methods): r.requirement for r in app_routes(fastapi_app())}
    requirement = routes[("/notes/{note_id}", ("DELETE",))]
    assert requirement is not None
    assert requirement.scopes == {"notes:admin"}
