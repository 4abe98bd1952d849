"""The real servers the wire tests run against, and how a table gives a value per server.

uvicorn with each of its HTTP parsers (``httptools``, ``h11``), hypercorn (``h11`` under its
own protocol code) and granian (a Rust HTTP stack). They do not deliver the same ``path`` and
``raw_path`` for the same request line, nor refuse the same request lines and header bytes,
so a table row says what each one does where they differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from starlette.types import ASGIApp

from tests.servers import serve, serve_granian, serve_hypercorn

T = TypeVar("T")

SERVERS = ["uvicorn-httptools", "uvicorn-h11", "hypercorn", "granian"]


def by_server(*, httptools: T, h11: T, hypercorn: T, granian: T) -> dict[str, T]:
    """One value for each server in :data:`SERVERS` (uvicorn's by its parser)."""
    return {
        "uvicorn-httptools": httptools,
        "uvicorn-h11": h11,
        "hypercorn": hypercorn,
        "granian": granian,
    }


def on_every_server(value: T) -> dict[str, T]:
    """The same value for every server in :data:`SERVERS`."""
    return dict.fromkeys(SERVERS, value)


#: The body of the 400 a server sends itself for a request it refuses to parse.
REFUSAL_BODY = by_server(
    httptools=b"Invalid HTTP request received.",
    h11=b"Invalid HTTP request received.",
    hypercorn=b"",
    granian=b"",
)


@contextmanager
def serve_on(server: str, app: ASGIApp, *, factory: str, workdir: Path) -> Iterator[str]:
    """``app`` served by ``server`` on loopback; its base URL.

    uvicorn and hypercorn run ``app`` itself in a thread; granian runs in a child process,
    where ``factory`` (an import string) builds the same app.
    """
    if server.startswith("uvicorn-"):
        with serve(app, http=server.removeprefix("uvicorn-")) as base_url:
            yield base_url
    elif server == "hypercorn":
        with serve_hypercorn(app) as base_url:
            yield base_url
    elif server == "granian":
        with serve_granian(factory, workdir=workdir) as base_url:
            yield base_url
    else:
        raise ValueError(f"no such server: {server}")
