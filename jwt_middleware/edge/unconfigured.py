"""What a middleware that cannot work serves instead: nothing.

A configuration error (a missing or weak secret, a bad key, a malformed rule, a strict audit
that failed) does not raise where the middleware is built: Starlette builds its middleware
lazily, inside the server's ``lifespan`` call, where servers in their default mode swallow
exceptions as "lifespan unsupported" and then serve 500s. :class:`UnconfiguredApp` takes the
middleware's place instead. It refuses the ``lifespan.startup`` event with the error's
message and then raises it, which stops uvicorn, hypercorn and granian with that message and
a non-zero exit (and makes a test client's ``with`` raise instead of waiting forever); a
server run without lifespan gets 503 on every request and a closed WebSocket (fail closed),
and the error logged once.
"""

from __future__ import annotations

import logging
from typing import Final

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ConfigurationError

__all__ = ["UnconfiguredApp", "cannot_start"]

logger = logging.getLogger("jwt_middleware")

_WEBSOCKET_INTERNAL_ERROR: Final = 1011


def cannot_start(error: ConfigurationError) -> str:
    """The message a server prints when start-up is refused."""
    return f"JWTAuthMiddleware cannot start: {error}"


class UnconfiguredApp:
    """Fail closed: refuse start-up, answer 503, close WebSockets; pass other scope types
    (none that ASGI defines today) to ``app``."""

    __slots__ = ("app", "error", "logged")

    def __init__(self, app: ASGIApp, error: ConfigurationError) -> None:
        self.app = app
        self.error = error
        self.logged = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.refuse_startup(receive, send)
        elif kind == "http" or kind == "websocket":
            await self.refuse(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def refuse_startup(self, receive: Receive, send: Send) -> None:
        """Answer the lifespan protocol with the configuration error, then raise it."""
        message = await receive()
        if message["type"] != "lifespan.startup":
            await send({"type": "lifespan.shutdown.complete"})
            return
        refusal = cannot_start(self.error)
        await send({"type": "lifespan.startup.failed", "message": refusal})
        raise ConfigurationError(refusal)

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Fail closed when the server skipped the lifespan that would have stopped it."""
        if not self.logged:
            self.logged = True
            logger.error("JWTAuthMiddleware cannot serve: %s", self.error)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": _WEBSOCKET_INTERNAL_ERROR})
            return
        response = JSONResponse(
            {"detail": "Authentication is not configured."},
            status_code=503,
            headers={"Cache-Control": "no-store"},
        )
        await response(scope, receive, send)
