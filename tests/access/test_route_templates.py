"""Route templates the rule syntax cannot say (``/items/{id}.json``, a ``{p:path}`` before
the end) are read as Starlette routes them, never crash start-up or a request; and a scope
rule that covers one segment of a whole-path parameter is warned about at start-up."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.access.policy import AccessPolicy, require_scopes
from jwt_middleware.access.routes import app_routes, route_table
from tests.asgi import lifespan_startup
from tests.helpers import SECRET, bearer, mint_token

from .apps import SETTINGS, starlette_app


@require_scopes("items:read")
async def item(request: Request) -> JSONResponse:
    return JSONResponse({"params": dict(request.path_params)})


async def open_item(request: Request) -> JSONResponse:
    return JSONResponse({"open": True})


def templated_app() -> Starlette:
    app = Starlette(
        routes=[
            Route("/items/{id}.json", item),
            Route("/trees/{p:path}/leaf", item),
            Route("/items/{id}", open_item),
            Route("/trees/{p:path}", open_item),
        ]
    )
    app.add_middleware(JWTAuthMiddleware, settings=SETTINGS)
    return app


def test_the_app_starts() -> None:
    assert lifespan_startup(templated_app())["type"] == "lifespan.startup.complete"


@pytest.mark.parametrize(
    ("path", "scope", "status"),
    [
        pytest.param("/items/7.json", "", 403, id="dotted-without-scope"),
        pytest.param("/items/7.json", "items:read", 200, id="dotted-with-scope"),
        pytest.param("/items/7", "", 200, id="dotted-sibling"),
        pytest.param("/trees/a/b/leaf", "", 403, id="mid-path-without-scope"),
        pytest.param("/trees/a/leaf", "items:read", 200, id="mid-path-with-scope"),
        pytest.param("/trees/a/b", "", 200, id="mid-path-sibling"),
    ],
)
def test_declarations_on_such_templates_hold(path: str, scope: str, status: int) -> None:
    with TestClient(templated_app()) as client:
        reply = client.get(path, headers=bearer(mint_token("user-1", scope=scope)))
    assert reply.status_code == status


def test_without_lifespan_the_first_request_does_not_crash() -> None:
    client = TestClient(templated_app())  # no lifespan: routes are read at the first request
    assert client.get("/items/7.json", headers=bearer(mint_token("u"))).status_code == 403


PARTIAL = "/admin/{name}"
PARTIAL_WARNING = (
    "scopes rule '/admin/{name}' covers one segment of route '/admin/{rest:path}', whose "
    "parameter takes a whole path: end the rule with '/*' to cover all of it"
)


@pytest.mark.parametrize(
    ("rule", "warned"),
    [
        pytest.param(PARTIAL, True, id="one-segment"),
        pytest.param("GET /admin/{name}", True, id="one-segment-for-a-method"),
        pytest.param("DELETE /admin/{name}", False, id="a-method-the-route-lacks"),
        pytest.param("/admin/*", False, id="whole-path"),
        pytest.param("/admin/{rest:path}", False, id="same-template"),
        pytest.param("/todos/{id}", False, id="one-segment-route"),
    ],
)
def test_a_rule_covering_one_segment_of_a_path_parameter_is_warned_about(
    caplog: pytest.LogCaptureFixture, rule: str, warned: bool
) -> None:
    caplog.set_level(logging.WARNING, logger="jwt_middleware")
    with TestClient(starlette_app(scopes={rule: ["admin"]})):
        pass
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("covers one segment" in w for w in warnings) == warned
    if rule == PARTIAL:
        assert warnings == [PARTIAL_WARNING]


def test_under_strict_rules_it_stops_the_server() -> None:
    settings = JWTSettings(secret=SECRET, strict_rules=True)
    reply = lifespan_startup(starlette_app(settings, scopes={PARTIAL: ["admin"]}))
    assert reply["type"] == "lifespan.startup.failed"
    assert PARTIAL_WARNING in reply["message"]


def test_the_route_table_reads_such_templates() -> None:
    app = templated_app()
    policy = AccessPolicy()
    for route in app_routes(app):
        if route.requirement is not None:
            policy.require_route(route.methods, route.path, route.requirement)
    rows = {(path, need) for _, path, need in route_table(policy, app_routes(app))}
    assert ("/items/{id}.json", "token (scopes: items:read)") in rows
    assert ("/trees/{p:path}/leaf", "token (scopes: items:read)") in rows
    assert ("/items/{id}", "token") in rows
