"""Requirements declared on the routes themselves (FastAPI's RequireScopes, Starlette's
require_scopes) feed the same policy: enforced by the middleware before the handler, checked
again by the route, counted in scopes_supported."""

from __future__ import annotations

import asyncio

import pytest
from starlette.authentication import AuthCredentials
from starlette.requests import Request
from starlette.testclient import TestClient

from jwt_middleware.access.policy import require_scopes
from jwt_middleware.errors import InsufficientScopeError, MissingTokenError
from tests.helpers import bearer, mint_token

from . import apps
from .apps import fastapi_app, starlette_app


@pytest.mark.parametrize(
    ("method", "path", "granted", "status", "ran"),
    [
        pytest.param("GET", "/notes", "", 200, ["/notes"], id="undeclared"),
        pytest.param("POST", "/notes", "notes:write", 200, ["/notes POST"], id="declared-held"),
        pytest.param("POST", "/notes", "notes:read", 403, [], id="declared-missing"),
        pytest.param("DELETE", "/notes/3", "notes:write", 403, [], id="template-route"),
        pytest.param("DELETE", "/notes/3", "notes:admin", 200, ["/notes DELETE"], id="template-ok"),
    ],
)
def test_fastapi_dependencies(
    method: str, path: str, granted: str, status: int, ran: list[str]
) -> None:
    apps.ran.clear()
    with TestClient(fastapi_app()) as client:  # the lifespan reads the routes
        reply = client.request(method, path, headers=bearer(mint_token(scope=granted)))
    assert reply.status_code == status
    assert apps.ran == ran


@pytest.mark.parametrize(
    "lifespan", [True, False], ids=["read-at-start-up", "read-at-first-request"]
)
def test_starlette_decorator(lifespan: bool) -> None:
    apps.ran.clear()
    app = starlette_app()
    with TestClient(app) if lifespan else _no_lifespan(app) as client:
        refused = client.get("/reports", headers=bearer(mint_token(scope="other")))
        allowed = client.get("/reports", headers=bearer(mint_token(scope="reports:read")))
    assert refused.status_code == 403
    assert refused.headers["www-authenticate"].endswith('scope="reports:read"')
    assert allowed.status_code == 200
    assert apps.ran == ["/reports"]


def _no_lifespan(app: object) -> TestClient:
    return TestClient(app)  # type: ignore[arg-type]  # used without "with": no lifespan


def test_the_route_checks_again_when_reached_another_way() -> None:
    @require_scopes("x")
    async def endpoint(request: Request) -> str:
        return "ran"

    anonymous = Request({"type": "http", "state": {}, "headers": []})
    with pytest.raises(MissingTokenError):
        asyncio.run(endpoint(anonymous))
    scope = {"type": "http", "state": {"claims": {"sub": "u"}}, "headers": []}
    with pytest.raises(InsufficientScopeError):
        asyncio.run(endpoint(Request(scope)))
    allowed = {**scope, "auth": AuthCredentials(["x"])}
    assert asyncio.run(endpoint(Request(allowed))) == "ran"


def test_declared_scopes_are_supported_scopes() -> None:
    app = fastapi_app(
        settings=apps.SETTINGS.model_copy(update={"resource": "http://localhost/api"})
    )
    with TestClient(app) as client:
        document = client.get("/.well-known/oauth-protected-resource/api").json()
    assert document["scopes_supported"] == ["notes:admin", "notes:write"]
