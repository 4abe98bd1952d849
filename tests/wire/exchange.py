"""One request sent byte for byte over a socket, its reply parsed, and the answers the
middleware gives, spelled out.

A test client normalises paths and refuses odd header bytes before the app sees them; this
sends exactly what a test writes, repeated headers and non-ASCII bytes included.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from typing import Any, NamedTuple

from tests.helpers import bearer, mint_token

CHALLENGE = 'Bearer realm="api"'
NO_CREDENTIALS = {"detail": "Authentication required."}
EXPIRED = "The access token expired."


class Reply(NamedTuple):
    """A raw HTTP reply, split into its parts."""

    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower(), [])
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(base_url: str, request_line: str, headers: Sequence[tuple[str, str]] = ()) -> Reply:
    """Send one request exactly as written, repeated header names included; parse the reply.

    Header values are sent as latin-1, so a test can put non-ASCII bytes on the wire.
    """
    host, port = base_url.removeprefix("http://").split(":")
    lines = [request_line, f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed: dict[str, list[str]] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed.setdefault(name.strip().lower(), []).append(value.strip())
    return Reply(int(status_line.split(" ", 2)[1]), parsed, body)


def authority(base_url: str) -> str:
    return base_url.removeprefix("http://")


VALID = mint_token("user-1")
EXPIRED_TOKEN = mint_token("user-1", lifetime=-60)
LONG = "a" * 10 * 1024
MALFORMED = "Malformed Authorization header."
INVALID = "The access token is invalid."
TWO_HEADERS = "More than one Authorization header."
NO_TOKEN = "Bearer scheme without a token."


AUTH = [*bearer(VALID).items()]


def expected_challenge(error: str | None, description: str | None) -> str:
    if error is None:
        return CHALLENGE
    return f'{CHALLENGE}, error="{error}", error_description="{description}"'
