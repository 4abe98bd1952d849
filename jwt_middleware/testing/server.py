"""The fake provider's HTTP side: a stdlib ``ThreadingHTTPServer`` on loopback that hands
each request to the provider and sends its :class:`Answer` back, late or not at all when
the provider is told to be slow or down.

Kept apart from :mod:`.issuer` so that what the provider *says* (metadata, keys,
introspection answers) is plain data in and out, testable without a socket, and this module
is the only one that knows about connections.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, NamedTuple, Protocol

__all__ = ["MAX_FORM_BYTES", "Answer", "Provider", "QuietServer", "error", "handler_for"]

#: The largest request body read: a token and a client's credentials.
MAX_FORM_BYTES: Final = 64 * 1024


class Answer(NamedTuple):
    """A JSON answer: its status, document and extra headers."""

    status: int
    document: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


def error(status: int, code: str, *headers: tuple[str, str]) -> Answer:
    """An OAuth-style error answer (``{"error": code}``)."""
    return Answer(status, {"error": code}, headers)


class Provider(Protocol):
    """What the server asks of the provider it serves."""

    def answer_get(self, path: str) -> Answer: ...

    def answer_post(self, path: str, authorization: str | None, form: bytes | None) -> Answer: ...

    def conditions(self) -> tuple[str | None, float]:
        """The outage kind (``"503"``, ``"no-answer"``, ``"closed"`` or ``None``) and the
        delay of every answer, in seconds."""
        ...

    def wait_for_outage_end(self) -> None: ...


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that stopped waiting (a timeout in a slow or silent outage)
        breaks the connection on purpose, and the test's output is not the place for it."""


def handler_for(provider: Provider) -> type[BaseHTTPRequestHandler]:
    """The request handler class of a server that answers for ``provider``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._send(provider.answer_get(self.path.partition("?")[0]))

        def do_POST(self) -> None:
            form = self._read_body()
            path = self.path.partition("?")[0]
            self._send(provider.answer_post(path, self.headers.get("Authorization"), form))

        def _read_body(self) -> bytes | None:
            """The request's body; ``None`` when it is larger than a form should be, left
            unread (the connection is closed after the answer)."""
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = MAX_FORM_BYTES + 1
            if not 0 <= length <= MAX_FORM_BYTES:
                self.close_connection = True
                return None
            return self.rfile.read(length)

        def _send(self, answer: Answer) -> None:
            """Send ``answer``, late or not at all as the provider's conditions say."""
            outage, delay_seconds = provider.conditions()
            if delay_seconds:
                time.sleep(delay_seconds)
            if outage == "no-answer":
                provider.wait_for_outage_end()
                self.close_connection = True
                return
            if outage == "closed":
                self.close_connection = True
                return
            if outage == "503":
                answer = error(503, "temporarily_unavailable")
            body = json.dumps(answer.document).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a test's output is not the place for the provider's access log."""

    return Handler
