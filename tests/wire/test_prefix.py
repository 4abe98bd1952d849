"""Rules stay relative to the app, under a Mount and behind uvicorn's ``root_path``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from jwt_middleware import JWTSettings
from tests.helpers import build_app
from tests.public_paths import NOT_CANONICAL
from tests.servers import serve
from tests.wire.exchange import AUTH, CHALLENGE, exchange


@pytest.fixture(scope="module")
def mounted(module_settings: JWTSettings) -> Iterator[str]:
    inner = build_app(module_settings, public=["/health"])
    outer = Starlette(routes=[Mount("/api", app=inner)])
    with serve(outer) as base:
        yield base


@pytest.fixture(scope="module")
def behind_root_path(module_settings: JWTSettings) -> Iterator[str]:
    with serve(build_app(module_settings, public=["/health"]), root_path="/prefix") as base:
        yield base


PREFIX_CASES = [
    pytest.param("/api/health", [], 200, None, "/api/health", id="public"),
    pytest.param("/api/health?x=1", [], 200, None, "/api/health", id="public-with-query"),
    pytest.param("/api/private", [], 401, None, None, id="protected"),
    pytest.param("/api/private", AUTH, 200, "user-1", "/api/private", id="protected-with-token"),
    pytest.param("/api/health", AUTH, 200, "user-1", "/api/health", id="public-with-token"),
    pytest.param("/api//health", [], 400, None, None, id="empty-segment"),
    pytest.param("/api/%2e%2e/api/health", [], 400, None, None, id="encoded-dot-dot"),
    pytest.param("/api%2fhealth", [], 400, None, None, id="encoded-slash-after-mount"),
    pytest.param("/api/api/health", [], 401, None, None, id="prefix-twice"),
    pytest.param("/health", [], 404, None, None, id="outside-the-mount"),
]

ROOT_PATH_CASES = [
    pytest.param("/health", [], 200, None, "/prefix/health", id="public"),
    pytest.param("/private", [], 401, None, None, id="protected"),
    pytest.param("/private", AUTH, 200, "user-1", "/prefix/private", id="protected-with-token"),
    # uvicorn adds root_path itself, so the prefix sent again is part of the app's path.
    pytest.param("/prefix/health", [], 401, None, None, id="prefix-sent-again"),
    pytest.param("//health", [], 400, None, None, id="empty-segment"),
    pytest.param("/%2e%2e/prefix/health", [], 400, None, None, id="encoded-dot-dot"),
]


def served_by(server: str, cases: Sequence[pytest.ParameterSet]) -> list[pytest.ParameterSet]:
    """``cases`` sent to the server fixture named ``server``, their ids prefixed with it."""
    return [
        pytest.param(server, *case.values, marks=case.marks, id=f"{server}-{case.id}")
        for case in cases
    ]


@pytest.mark.parametrize(
    ("server", "target", "headers", "status", "user_id", "path"),
    served_by("mounted", PREFIX_CASES) + served_by("behind_root_path", ROOT_PATH_CASES),
)
def test_rules_stay_app_relative_under_a_prefix(
    request: pytest.FixtureRequest,
    server: str,
    target: str,
    headers: list[tuple[str, str]],
    status: int,
    user_id: str | None,
    path: str | None,
) -> None:
    """Rules are relative to the app, whether a Mount puts "/api" into root_path (a
    sub-app) or uvicorn's root_path does (an app behind a path-stripping proxy)."""
    base_url: str = request.getfixturevalue(server)
    reply = exchange(base_url, f"GET {target} HTTP/1.1", headers)

    assert reply.status == status
    if status == 200:
        assert reply.json()["user_id"] == user_id
        assert reply.json()["path"] == path
    if status == 401:
        assert reply.header("WWW-Authenticate") == CHALLENGE
    if status == 400:  # refused before any token: the path relative to the app is not canonical
        assert reply.json() == {"detail": NOT_CANONICAL}
