"""Long-lived WebSockets: closed when their token expires, or soon after it is revoked.

A WebSocket is authenticated once, at the handshake, and may then stay open for hours. So
the middleware watches it: when the token stops verifying (its ``exp``, or
``JWT_MAX_TOKEN_AGE_SECONDS`` after its ``iat``, whichever comes first, plus the leeway:
the moment HTTP requests with it start getting 401) it closes the socket with 1008 (policy
violation), and, when a revocation check is configured, it asks it again
every ``recheck_seconds`` and closes the socket as soon as the token is revoked (a logout on
any instance). A revocation check that fails closes the socket too: fail closed, as for
requests.

The app sees the close as a ``websocket.disconnect`` with code 1008 from ``receive``, and
whatever it sends after the close is dropped (the server would refuse it). Runs on asyncio.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["watch_websocket"]

logger = logging.getLogger("jwt_middleware")

_POLICY_VIOLATION: Final = 1008
#: The longest single sleep of the watch: a token that expires in centuries (or never, its
#: ``exp`` past what a float holds) is watched in steps, never by one absurd timer.
_LONGEST_WAIT_SECONDS: Final = 3600.0


async def watch_websocket(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    expires_at: float,
    recheck_seconds: float | None,
    is_revoked: Callable[[], Awaitable[bool]] | None,
) -> None:
    """Run the app on the socket, closing it at ``expires_at`` (wall-clock seconds, may be
    ``math.inf``) or on revocation."""
    closed = asyncio.Event()
    finished = False  # the app closed the socket itself, or the client went away

    async def watched_receive() -> Message:
        if closed.is_set():
            return {"type": "websocket.disconnect", "code": _POLICY_VIOLATION}
        incoming = asyncio.ensure_future(receive())
        closing = asyncio.ensure_future(closed.wait())
        await asyncio.wait({incoming, closing}, return_when=asyncio.FIRST_COMPLETED)
        if incoming.done():
            closing.cancel()
            message = incoming.result()
            if message["type"] == "websocket.disconnect":
                stop()
            return message
        incoming.cancel()
        return {"type": "websocket.disconnect", "code": _POLICY_VIOLATION}

    async def watched_send(message: Message) -> None:
        if closed.is_set():
            return  # closed by the watch: the server would refuse anything more
        if message["type"] in ("websocket.close", "websocket.http.response.body"):
            stop()
        await send(message)

    def stop() -> None:
        nonlocal finished
        finished = True
        watch.cancel()

    async def watchdog() -> None:
        while True:
            left = expires_at - time.time()
            wait = min(left, _LONGEST_WAIT_SECONDS)
            if recheck_seconds is not None:
                wait = min(wait, recheck_seconds)
            if wait > 0:
                await asyncio.sleep(wait)
            if time.time() >= expires_at:
                logger.info("closing a WebSocket: its token expired")
                break
            if is_revoked is not None and await _revoked(is_revoked):
                break
        if not finished:
            closed.set()
            await send({"type": "websocket.close", "code": _POLICY_VIOLATION})

    watch = asyncio.ensure_future(watchdog())
    try:
        await app(scope, watched_receive, watched_send)
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)


async def _revoked(is_revoked: Callable[[], Awaitable[bool]]) -> bool:
    try:
        revoked = await is_revoked()
    except Exception as exc:  # fail closed, like a request would
        logger.warning("closing a WebSocket: its revocation check failed (%s)", type(exc).__name__)
        return True
    if revoked:
        logger.info("closing a WebSocket: its token was revoked")
    return revoked
