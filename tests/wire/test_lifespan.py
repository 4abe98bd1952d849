"""The lifespan passes through the middleware to the app on a real server, and each request
gets its own copy of the lifespan state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from tests.servers import serve
from tests.wire.exchange import AUTH, exchange


def lifespan_app(settings: JWTSettings, *, outside: bool) -> tuple[ASGIApp, list[str]]:
    """A Starlette app whose lifespan yields state; the middleware outside it or added to it."""
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"db": "connected"}
        events.append("shutdown")

    async def handler(request: Request) -> JSONResponse:
        return JSONResponse({"db": request.state.db, "user_id": request.state.user_id})

    app = Starlette(
        routes=[Route("/private", handler), Route("/health", handler)], lifespan=lifespan
    )
    if outside:
        return JWTAuthMiddleware(app, public=["/health"], settings=settings), events
    app.add_middleware(JWTAuthMiddleware, public=["/health"], settings=settings)
    return app, events


@pytest.mark.parametrize("outside", [True, False], ids=["wrapping-the-app", "add-middleware"])
def test_lifespan_passes_through(settings: JWTSettings, outside: bool) -> None:
    app, events = lifespan_app(settings, outside=outside)

    with serve(app, lifespan="on") as base:
        assert events == ["startup"]
        private = exchange(base, "GET /private HTTP/1.1", AUTH)
        public = exchange(base, "GET /health HTTP/1.1")
        denied = exchange(base, "GET /private HTTP/1.1")

    assert events == ["startup", "shutdown"]
    assert private.json() == {"db": "connected", "user_id": "user-1"}
    # Each request gets its own copy of the lifespan state: no user leaks into the next one.
    assert public.json() == {"db": "connected", "user_id": None}
    assert denied.status == 401
