"""A refused start-up raises out of the clients users test with, promptly, with the
configuration message: Starlette's ``TestClient`` and asgi-lifespan's ``LifespanManager``
(with ``httpx.ASGITransport``). Both wait for the lifespan task to end after
``lifespan.startup.failed`` and raise what it raised, so a middleware that returned
normally instead would leave a test run waiting forever (hence the timeout on each case).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from jwt_middleware import ConfigurationError, JWTAuthMiddleware, JWTSettings
from tests.helpers import SECRET

#: How long a refusal may take to come out of a client (the issue: "within a second").
PROMPT_SECONDS = 1.0

AppFactory = Callable[[list[str]], ASGIApp]


async def _ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def _own_lifespan(events: list[str]) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        events.append("app started")
        yield
        events.append("app stopped")

    return lifespan


def starlette_without_secret(events: list[str]) -> ASGIApp:
    app = Starlette(routes=[Route("/health", _ok)], lifespan=_own_lifespan(events))
    app.add_middleware(JWTAuthMiddleware, public=["/health"])  # no JWT_SECRET anywhere
    return app


def fastapi_without_secret(events: list[str]) -> ASGIApp:
    app = FastAPI(lifespan=_own_lifespan(events))
    app.add_middleware(JWTAuthMiddleware, public=["/health"])
    return app


def wrapped_without_secret(events: list[str]) -> ASGIApp:
    app = Starlette(routes=[Route("/health", _ok)], lifespan=_own_lifespan(events))
    return JWTAuthMiddleware(app, public=["/health"])


def strict_audit(events: list[str]) -> ASGIApp:
    settings = JWTSettings(secret=SECRET, strict_rules=True)
    app = Starlette(routes=[Route("/health", _ok)], lifespan=_own_lifespan(events))
    app.add_middleware(JWTAuthMiddleware, public=["/healthz"], settings=settings)
    return app


def fastapi_strict_audit(events: list[str]) -> ASGIApp:
    settings = JWTSettings(secret=SECRET, strict_rules=True)
    app = FastAPI(lifespan=_own_lifespan(events))
    app.add_middleware(JWTAuthMiddleware, public=["/healthz"], settings=settings)
    return app


REFUSALS = [
    pytest.param(starlette_without_secret, "JWT_SECRET is not set", id="starlette-no-secret"),
    pytest.param(fastapi_without_secret, "JWT_SECRET is not set", id="fastapi-no-secret"),
    pytest.param(wrapped_without_secret, "JWT_SECRET is not set", id="wrapped-no-secret"),
    pytest.param(strict_audit, "JWT_STRICT_RULES", id="starlette-strict-audit"),
    pytest.param(fastapi_strict_audit, "JWT_STRICT_RULES", id="fastapi-strict-audit"),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("make_app", "says"), REFUSALS)
def test_testclient_raises_the_refusal(make_app: AppFactory, says: str) -> None:
    events: list[str] = []
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match=says) as info, TestClient(make_app(events)):
        pytest.fail("the block must not be entered")
    assert time.monotonic() - started < PROMPT_SECONDS
    assert str(info.value).startswith("JWTAuthMiddleware cannot start: ")
    assert "app started" not in events  # the app's own start-up never ran


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("make_app", "says"), REFUSALS)
def test_lifespan_manager_raises_the_refusal(make_app: AppFactory, says: str) -> None:
    events: list[str] = []

    async def run() -> None:
        async with LifespanManager(make_app(events)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                await client.get("/health")
        pytest.fail("the block must not be entered")

    started = time.monotonic()
    with pytest.raises(ConfigurationError, match=says):
        asyncio.run(run())
    assert time.monotonic() - started < PROMPT_SECONDS
    assert "app started" not in events


@pytest.mark.timeout(10)
def test_a_configured_app_still_starts_and_stops_under_both() -> None:
    events: list[str] = []
    settings = JWTSettings(secret=SECRET)
    app = Starlette(routes=[Route("/health", _ok)], lifespan=_own_lifespan(events))
    app.add_middleware(JWTAuthMiddleware, public=["/health"], settings=settings)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
    assert events == ["app started", "app stopped"]

    async def run() -> int:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return (await client.get("/health")).status_code

    assert asyncio.run(run()) == 200
    assert events == ["app started", "app stopped"] * 2
