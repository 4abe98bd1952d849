"""Drive an ASGI app with a scope written by hand, as a server or an adapter would send it.

Test clients fill in what real servers may leave out (``raw_path``, for one: ASGI makes it
optional and Mangum sends ``None``), so tests that depend on the exact scope use this.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message

OMITTED: Any = object()


@dataclass
class Answer:
    """What the app sent back for one HTTP request."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


def scope_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """``headers`` as a scope carries them: lower-case names, latin-1 bytes."""
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]


def http_scope(
    path: str,
    *,
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    raw_path: bytes | None = OMITTED,
    query_string: bytes = b"",
    root_path: str = "",
    scope_type: str = "http",
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An HTTP scope, or a WebSocket one (``scope_type="websocket"``, which has no method);
    ``raw_path`` is left out unless given (``None`` is sent as ``None``)."""
    scope: dict[str, Any] = {
        "type": scope_type,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "http" if scope_type == "http" else "ws",
        "path": path,
        "query_string": query_string,
        "root_path": root_path,
        "headers": headers if headers is not None else [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    if scope_type == "http":
        scope["method"] = method
    if raw_path is not OMITTED:
        scope["raw_path"] = raw_path
    if extensions is not None:
        scope["extensions"] = extensions
    return scope


def receive_body(body: bytes) -> Callable[[], Awaitable[Message]]:
    """An ASGI ``receive`` that gives ``body`` once, then waits, as a client that stays
    connected does."""
    sent_body = False

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    return receive


def call(app: ASGIApp, scope: dict[str, Any], body: bytes = b"") -> Answer:
    """Run one HTTP request through ``app`` and collect the answer."""

    async def run() -> Answer:
        answer = Answer(status=0)
        receive = receive_body(body)

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                answer.headers = {
                    name.decode("latin-1"): value.decode("latin-1")
                    for name, value in message.get("headers", [])
                }
            elif message["type"] == "http.response.body":
                answer.body += message.get("body", b"")

        await app(scope, receive, send)
        return answer

    return asyncio.run(run())


def lifespan_startup(app: ASGIApp) -> Message:
    """Send ``lifespan.startup`` to ``app``; the message it answers with.

    After ``lifespan.startup.failed`` the app must end its lifespan by raising (as
    Starlette's router does), or test clients would wait for it forever: that is checked
    here too.
    """

    async def run() -> Message:
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        outbox: asyncio.Queue[Message] = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})

        async def send(message: Message) -> None:
            await outbox.put(message)

        async def serve_lifespan() -> None:
            await app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)

        task = asyncio.create_task(serve_lifespan())
        reply = await asyncio.wait_for(outbox.get(), timeout=10)
        if reply["type"] == "lifespan.startup.failed":
            await asyncio.wait({task}, timeout=10)
            assert task.done(), "the lifespan went on after lifespan.startup.failed"
            assert isinstance(task.exception(), Exception), "no exception after the refusal"
            return reply
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, timeout=10)
        return reply

    return asyncio.run(run())
