"""How the middleware fits real apps: Starlette's @requires, mounts, FastAPI, CORS, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from jwt_middleware import JWTAuthMiddleware, JWTSettings, current_user_id
from jwt_middleware.fastapi import CurrentClaims, CurrentUserId
from tests.helpers import bearer, build_app, mint_token


@requires("orders:read")
async def read_orders(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.display_name})


@requires("authenticated", status_code=401)
async def authenticated_only(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.user.identity)


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        pytest.param({"scope": "orders:read orders:write"}, 200, id="scope-string"),
        pytest.param({"scp": ["orders:read"]}, 200, id="scp-list"),
        pytest.param({"scp": "orders:read"}, 200, id="scp-string"),
        pytest.param({"scope": "orders:write"}, 403, id="missing-scope"),
        pytest.param({"scope": 42}, 403, id="malformed-scope"),
        pytest.param({}, 403, id="no-scope"),
    ],
)
def test_starlette_requires_reads_token_scopes(
    settings: JWTSettings, claims: dict[str, Any], status: int
) -> None:
    app = Starlette(routes=[Route("/orders", read_orders)])
    app.add_middleware(JWTAuthMiddleware, settings=settings)
    response = TestClient(app).get(
        "/orders", headers=bearer(mint_token("u", email="u@example.com", **claims))
    )
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"user": "u@example.com"}


def test_requires_authenticated_on_a_public_route(settings: JWTSettings) -> None:
    app = Starlette(routes=[Route("/me", authenticated_only)])
    app.add_middleware(JWTAuthMiddleware, settings=settings, public=["/me"])
    client = TestClient(app)
    assert client.get("/me").status_code == 401
    assert client.get("/me", headers=bearer(mint_token("dora"))).text == "dora"


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        pytest.param("/api/health", {}, 200, id="public-relative-to-subapp"),
        pytest.param("/api/private", {}, 401, id="protected-in-subapp"),
        pytest.param("/api/private", "bearer", 200, id="token-in-subapp"),
        pytest.param("/health", {}, 200, id="outer-app-untouched"),
    ],
)
def test_mounted_sub_app_matches_relative_paths(
    settings: JWTSettings, path: str, headers: Any, status: int
) -> None:
    inner = build_app(settings, public=["/health"])
    outer = Starlette(
        routes=[Route("/health", lambda r: PlainTextResponse("outer")), Mount("/api", app=inner)]
    )
    client = TestClient(outer)
    response = client.get(path, headers=bearer(mint_token()) if headers == "bearer" else headers)
    assert response.status_code == status


def test_outer_allowlist_entries_do_not_leak_into_a_sub_app(settings: JWTSettings) -> None:
    inner = build_app(settings, public=["/health"])
    client = TestClient(Starlette(routes=[Mount("/api", app=inner)]))
    # "/api/health" written as a rule of the inner app would never match: paths are relative.
    assert client.get("/api/api/health").status_code == 401


def test_root_path_from_the_server_is_removed(settings: JWTSettings) -> None:
    client = TestClient(build_app(settings, public=["/health"]), root_path="/prefix")
    assert client.get("/prefix/health").status_code == 200
    assert client.get("/prefix/private").status_code == 401


def _fastapi_app(settings: JWTSettings) -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    def me(user_id: CurrentUserId, claims: CurrentClaims) -> dict[str, Any]:
        return {"user_id": user_id, "email": claims.get("email")}

    @app.get("/open")
    def open_route(request: Request) -> dict[str, Any]:
        return {"user_id": request.state.user_id}

    app.add_middleware(JWTAuthMiddleware, settings=settings, public=["/open", "/me-public"])

    @app.get("/me-public")
    def me_public(user_id: CurrentUserId) -> dict[str, str]:
        return {"user_id": user_id}

    return app


@pytest.mark.parametrize(
    ("path", "headers", "status", "body"),
    [
        pytest.param("/me", "bearer", 200, {"user_id": "fa", "email": "fa@x.io"}, id="typed-user"),
        pytest.param("/me", {}, 401, {"detail": "Authentication required."}, id="protected"),
        pytest.param("/open", {}, 200, {"user_id": None}, id="public-anonymous"),
        pytest.param("/open", "bearer", 200, {"user_id": "fa"}, id="public-with-token"),
        pytest.param(
            "/me-public", {}, 401, {"detail": "Authentication required."}, id="dependency-on-public"
        ),
    ],
)
def test_fastapi_handlers_read_the_verified_user(
    settings: JWTSettings, path: str, headers: Any, status: int, body: dict[str, Any]
) -> None:
    client = TestClient(_fastapi_app(settings))
    sent = bearer(mint_token("fa", email="fa@x.io")) if headers == "bearer" else headers
    response = client.get(path, headers=sent)
    assert response.status_code == status
    assert response.json() == body


def test_current_user_id_never_verifies_again(settings: JWTSettings) -> None:
    class FakeConnection:
        def __init__(self) -> None:
            self.scope = {"state": {"user_id": "already-verified", "claims": {}}}

    # Not an HTTPConnection on purpose: all it has is the state the middleware wrote.
    assert current_user_id(FakeConnection()) == "already-verified"  # type: ignore[arg-type]


def test_cors_outside_the_middleware_answers_preflights_and_decorates_401s(
    settings: JWTSettings,
) -> None:
    app = build_app(settings)
    # add_middleware puts the newest outermost: CORS sees every request first.
    app.add_middleware(CORSMiddleware, allow_origins=["https://web.example"], allow_headers=["*"])
    client = TestClient(app)
    preflight = client.options(
        "/private",
        headers={
            "Origin": "https://web.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://web.example"
    denied = client.get("/private", headers={"Origin": "https://web.example"})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == "https://web.example"


def test_lifespan_state_reaches_handlers_next_to_the_user(settings: JWTSettings) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"db": "connected"}
        events.append("shutdown")

    async def handler(request: Request) -> JSONResponse:
        return JSONResponse({"db": request.state.db, "user_id": request.state.user_id})

    app = Starlette(routes=[Route("/x", handler)], lifespan=lifespan)
    app.add_middleware(JWTAuthMiddleware, settings=settings)
    with TestClient(app) as client:
        assert client.get("/x", headers=bearer(mint_token("lu"))).json() == {
            "db": "connected",
            "user_id": "lu",
        }
    assert events == ["startup", "shutdown"]
