"""``BodySizeLimit``: a pure ASGI guard that answers 413 to an oversized request body.

A declared ``Content-Length`` over the limit is refused before the app runs. A body that
streams in without one (chunked) is counted as the app reads it; the read that crosses
the limit raises :class:`BodyTooLarge`.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodySizeLimit", "BodyTooLarge"]

_DETAIL = "Request body too large."


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body grows past the limit.

    It is an ``HTTPException`` so that a framework reading the body (FastAPI turns other
    errors raised while reading into a 400) passes it on to its handler as a 413.
    """

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=_DETAIL)


class BodySizeLimit:
    """Refuse HTTP request bodies larger than ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _too_large()(scope, receive, send)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if response_started:
                raise
            await _too_large()(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The server has already refused a malformed length; be safe anyway.
            return int(value) if value.isdigit() and len(value) <= 18 else None
    return None


def _too_large() -> JSONResponse:
    return JSONResponse({"detail": _DETAIL}, status_code=413, headers={"Connection": "close"})
