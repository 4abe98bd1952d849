"""A tiny ASGI server over TLS that does what the ASGI TLS extension describes and no
server we run does (uvicorn, hypercorn and granian leave it out): it verifies the client's
certificate in the handshake and hands it to the app as
``scope["extensions"]["tls"]["client_cert_chain"]`` (PEM strings, the client's first).

HTTP/1.1 through ``h11``, on asyncio, in a thread of the test process; keep-alive
connections, one request at a time; no lifespan (the middleware reads the routes on the
first request). Enough for a test client, not for anything else.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import h11
from starlette.types import ASGIApp, Message

from tests.asgi import receive_body
from tests.mtls.certificates import PKI, Issued
from tests.servers import free_port, serve_in_thread

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
_READ_BYTES = 65536


def server_context(folder: Path, *, require: bool) -> ssl.SSLContext:
    """A server context with the tests' server certificate (written into ``folder``) that
    asks for a client certificate signed by their CA: required, or optional (a client
    without one still connects; one with a bad one does not)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*PKI.server.write(folder))
    context.load_verify_locations(cadata=PKI.ca.pem)
    context.verify_mode = ssl.CERT_REQUIRED if require else ssl.CERT_OPTIONAL
    return context


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ``tls`` extension of a connection (ASGI TLS extension, version 0.2)."""
    der = ssl_object.getpeercert(binary_form=True)
    version = ssl_object.version()
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,  # the handshake verified it, or there was none
        "tls_version": _TLS_VERSIONS.get(version or ""),
        "cipher_suite": None,
    }


class _Connection:
    def __init__(
        self, app: ASGIApp, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.app = app
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER)

    async def _next_event(self) -> Any:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.reader.read(_READ_BYTES))
                continue
            return event

    async def serve(self) -> None:
        ssl_object = self.writer.get_extra_info("ssl_object")
        extension = tls_extension(ssl_object)
        try:
            while True:
                event = await self._next_event()
                if not isinstance(event, h11.Request):
                    return
                body = b""
                while not isinstance(part := await self._next_event(), h11.EndOfMessage):
                    if isinstance(part, h11.Data):
                        body += part.data
                await self._request(event, body, extension)
                if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
                    return
                self.h11.start_next_cycle()
        except (h11.RemoteProtocolError, ConnectionError):
            return
        finally:
            self.writer.close()

    async def _request(self, request: h11.Request, body: bytes, extension: dict[str, Any]) -> None:
        target = bytes(request.target)
        path, _, query = target.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method.decode("ascii"),
            "scheme": "https",
            "path": unquote(path.decode("latin-1")),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": [(bytes(name).lower(), bytes(value)) for name, value in request.headers],
            "client": self.writer.get_extra_info("peername")[:2],
            "server": self.writer.get_extra_info("sockname")[:2],
            "extensions": {"tls": extension},
        }

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                self.writer.write(
                    self.h11.send(h11.Response(status_code=message["status"], headers=headers))
                    or b""
                )
            elif message["type"] == "http.response.body":
                self.writer.write(self.h11.send(h11.Data(data=message.get("body", b""))) or b"")
                if not message.get("more_body", False):
                    self.writer.write(self.h11.send(h11.EndOfMessage()) or b"")
                await self.writer.drain()

        await self.app(scope, receive_body(body), send)


def client_context(folder: Path, presenting: Issued | None) -> ssl.SSLContext:
    """A client context that trusts the tests' CA and presents ``presenting``'s
    certificate (written into ``folder``; none: no certificate at all)."""
    context = ssl.create_default_context(cadata=PKI.ca.pem)
    if presenting is not None:
        context.load_cert_chain(*presenting.write(folder))
    return context


@contextmanager
def serve_mtls(app: ASGIApp, context: ssl.SSLContext) -> Iterator[str]:
    """Run ``app`` over TLS with ``context`` on 127.0.0.1 in a thread; yield its base URL.
    Stopped, and its thread joined, on exit."""
    port = free_port()

    async def serving(stop: asyncio.Event) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _Connection(app, reader, writer).serve()

        server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=context)
        async with server:
            await stop.wait()

    with serve_in_thread(serving, port, "the mTLS test server"):
        yield f"https://127.0.0.1:{port}"
