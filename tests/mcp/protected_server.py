"""An MCP server built with the official SDK, protected by the middleware as a user would
protect it, served by a real uvicorn on loopback.

The server is the SDK's ``MCPServer`` with two tools, on its streamable HTTP transport (a
Starlette app, ``/mcp``); ``JWTAuthMiddleware`` is added to that app with ``resource`` = the
endpoint's URL and ``issuer`` = the OpenID provider, and nothing else: the audience is the
resource, the keys come from the provider's discovery, and the RFC 9728 metadata is the
middleware's own. The port (:class:`MCPEndpoint`) is chosen before the app is built, since
the resource URL (and so the metadata and the audience) contains it.

:class:`RequestLog` wraps the whole app, outside the middleware, and records what reached the
server: the proof that a client fetched the metadata is that the server served it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from mcp.server.mcpserver import Context, MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from tests.servers import free_port, serve

MCP_PATH: Final = "/mcp"
REQUIRED_SCOPE: Final = "mcp:tools"
"""What the middleware requires of every request to the MCP endpoint."""
METADATA_PATH: Final = "/.well-known/oauth-protected-resource/mcp"
"""Where RFC 9728 section 3.1 puts the metadata of ``<origin>/mcp``."""


def mcp_server() -> MCPServer:
    """``add(a, b)``, and ``whoami()``: the subject the middleware verified for the request
    that carried the call, so a test sees that the tool ran on the caller's identity."""
    server = MCPServer("jwt-middleware-test")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def whoami(ctx: Context) -> str:
        """The ``sub`` of the caller's access token."""
        request = ctx.request_context.request
        if not isinstance(request, Request):
            raise TypeError("whoami is served over HTTP only")
        return str(request.state.user_id)

    return server


def protected_mcp_app(*, resource: str, issuer: str) -> Starlette:
    """The SDK's streamable HTTP app with the middleware added, every request to ``/mcp``
    needing :data:`REQUIRED_SCOPE`."""
    app = mcp_server().streamable_http_app(streamable_http_path=MCP_PATH)
    app.add_middleware(
        JWTAuthMiddleware,
        settings=JWTSettings(resource=resource, issuer=issuer),
        scopes={MCP_PATH: [REQUIRED_SCOPE]},
    )
    return app


@dataclass(frozen=True)
class ServedRequest:
    """One HTTP request the server answered (the status of its response's start)."""

    method: str
    path: str
    status: int


class RequestLog:
    """An ASGI wrapper that records each HTTP request's method, path and status, in the order
    the responses started. Lifespan and anything else pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._served: list[ServedRequest] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                served = ServedRequest(scope["method"], scope["path"], int(message["status"]))
                with self._lock:
                    self._served.append(served)
            await send(message)

        await self.app(scope, receive, recording_send)

    def served(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._served)

    def clear(self) -> None:
        with self._lock:
            self._served.clear()


@dataclass(frozen=True)
class MCPEndpoint:
    """Where the protected MCP server listens: known before anything starts, since the
    provider's resource server and the middleware's resource both name it."""

    port: int

    @classmethod
    def on_a_free_port(cls) -> MCPEndpoint:
        return cls(free_port())

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def resource(self) -> str:
        """The MCP endpoint's URL: the resource identifier, and the audience of its tokens."""
        return f"{self.origin}{MCP_PATH}"

    @property
    def metadata_url(self) -> str:
        return f"{self.origin}{METADATA_PATH}"


@contextmanager
def serve_protected_mcp(endpoint: MCPEndpoint, *, issuer: str) -> Iterator[RequestLog]:
    """:func:`protected_mcp_app` for tokens from ``issuer``, run by uvicorn at ``endpoint``;
    the log of what it served. Its lifespan runs, so the middleware has fetched the
    provider's keys before the first request."""
    log = RequestLog(protected_mcp_app(resource=endpoint.resource, issuer=issuer))
    with serve(log, port=endpoint.port):
        yield log
