"""An MCP client in a browser, on another origin (the MCP Inspector is one), discovering a
protected server: real headless Chromium, a page served from one loopback origin, the API
from another. It must read the RFC 9728 metadata (fetched with ``MCP-Protocol-Version``,
as the SDKs do, so through a CORS preflight the middleware answers itself) and the
``WWW-Authenticate`` challenge of a 401, which browsers hide unless it is exposed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import pytest
from playwright.sync_api import Browser, Page
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from tests.browser import chromium
from tests.helpers import SECRET
from tests.servers import free_port, serve

pytestmark = pytest.mark.browser

_METADATA: Final = "/.well-known/oauth-protected-resource/mcp"
_FETCH: Final = """async ([url, headers]) => {
    try {
        const reply = await fetch(url, {headers});
        return {
            status: reply.status,
            challenge: reply.headers.get("WWW-Authenticate"),
            body: await reply.text(),
        };
    } catch (error) {
        return {error: String(error)};
    }
}"""


def _api(port: int, *, page_origin: str | None) -> Starlette:
    """A protected ``/mcp``; with ``page_origin``, the app's own CORS layer in front for
    that origin, as getting-started.md recommends (it decides who may read its answers)."""

    async def mcp(request: Any) -> PlainTextResponse:
        return PlainTextResponse("tools")

    app = Starlette(routes=[Route("/mcp", mcp)])
    settings = JWTSettings(secret=SECRET, resource=f"http://127.0.0.1:{port}/mcp")
    app.add_middleware(JWTAuthMiddleware, settings=settings)
    if page_origin is not None:
        app.add_middleware(CORSMiddleware, allow_origins=[page_origin])
    return app


def _client_site() -> Starlette:
    async def index(request: Any) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>MCP client</title>")

    return Starlette(routes=[Route("/", index)])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def client_page(browser: Browser) -> Iterator[tuple[Page, str]]:
    """A page on its own loopback origin, and that origin."""
    with serve(_client_site()) as origin:
        page = browser.new_page()
        page.goto(origin + "/")
        try:
            yield page, origin
        finally:
            page.close()


def test_a_page_on_another_origin_reads_the_metadata(client_page: tuple[Page, str]) -> None:
    page, _ = client_page
    port = free_port()
    with serve(_api(port, page_origin=None), port=port) as api:
        reply = page.evaluate(_FETCH, [api + _METADATA, {"MCP-Protocol-Version": "2025-06-18"}])
    assert "error" not in reply, reply
    assert reply["status"] == 200
    assert f'"resource": "{api}/mcp"' in reply["body"]


def test_a_page_on_another_origin_reads_the_challenge(client_page: tuple[Page, str]) -> None:
    page, origin = client_page
    port = free_port()
    with serve(_api(port, page_origin=origin), port=port) as api:
        reply = page.evaluate(_FETCH, [api + "/mcp", {}])
    assert "error" not in reply, reply
    assert reply["status"] == 401
    assert reply["challenge"] == (f'Bearer realm="api", resource_metadata="{api}{_METADATA}"')
