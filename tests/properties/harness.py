"""The harness for property-based tests: the middleware called as a plain ASGI app with a
hand-made scope, and PyJWT as the oracle for which tokens are valid.

A case can hold header bytes and raw paths that a test client would refuse or normalise, and
a few hundred cases run in well under a second each. Whether a token is valid is decided by
PyJWT directly, never by our own code.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import json
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from hypothesis import HealthCheck, settings
from starlette.types import Message, Receive, Scope, Send

import jwt_middleware
from jwt_middleware import JWTAuthMiddleware, JWTSettings
from tests.asgi import http_scope
from tests.helpers import SECRET
from tests.public_paths import PUBLIC

PROTECTED = "/private"
NOW = int(time.time())
B64URL = string.ascii_letters + string.digits + "-_"

CASES = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass
class Downstream:
    """The protected app: remembers every scope that reached it, and answers 200."""

    scopes: list[Scope] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@dataclass
class Outcome:
    """What one request did: the messages sent, and the scope downstream saw (if any)."""

    messages: list[Message]
    reached: Scope | None

    @property
    def status(self) -> int:
        start = self.messages[0]
        assert start["type"] in ("http.response.start", "websocket.http.response.start")
        status: int = start["status"]
        return status

    @property
    def headers(self) -> dict[bytes, bytes]:
        pairs: list[tuple[bytes, bytes]] = self.messages[0]["headers"]
        names = [name for name, _ in pairs]
        assert len(names) == len(set(names)), "a header sent twice"
        return dict(pairs)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


@functools.cache
def harness(**options: Any) -> tuple[JWTAuthMiddleware, Downstream]:
    """One middleware per option set, built on first use (inside a test, with a clean env)."""
    downstream = Downstream()
    middleware = JWTAuthMiddleware(downstream, public=PUBLIC, settings=shared_settings(), **options)
    return middleware, downstream


def served(path: str = PROTECTED, **fields: Any) -> Scope:
    """A scope as a server fills it in: :func:`tests.asgi.http_scope` with ``raw_path`` the
    bytes of ``path``."""
    return http_scope(path, raw_path=path.encode("utf-8"), **fields)


def call(scope: Scope, **options: Any) -> Outcome:
    """Run one request through the middleware; any exception escapes to the test."""
    middleware, downstream = harness(**options)
    downstream.scopes.clear()
    messages: list[Message] = []

    async def receive() -> Message:
        if scope["type"] == "websocket":
            return {"type": "websocket.connect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    asyncio.run(middleware(scope, receive, send))
    assert len(downstream.scopes) <= 1
    return Outcome(messages, downstream.scopes[0] if downstream.scopes else None)


def oracle(token: str) -> dict[str, Any] | None:
    """The claims of a token that PyJWT alone accepts under our settings, else None."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, SECRET, algorithms=["HS256"], options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    return claims if isinstance(subject, str) and subject.strip() else None


def credentials_of(header: bytes) -> str:
    """The part after the scheme, as text, for checking it never comes back to the client."""
    return header.partition(b" ")[2].strip(b" ").decode("latin-1")


def assert_challenge(outcome: Outcome, sent: list[bytes]) -> None:
    """A denial is a 400/401 with an RFC 6750 challenge and a short JSON detail, no token."""
    assert outcome.reached is None
    assert outcome.status in (400, 401)
    headers = outcome.headers
    challenge = headers[b"www-authenticate"].decode("latin-1")
    assert challenge.startswith('Bearer realm="api"')
    assert headers[b"cache-control"] == b"no-store"
    payload = json.loads(outcome.body)
    assert list(payload) == ["detail"]
    detail = payload["detail"]
    assert isinstance(detail, str)
    assert 0 < len(detail) <= 80
    if outcome.status == 400:
        assert 'error="invalid_request"' in challenge
    for header in sent:
        secret_part = credentials_of(header)
        # A credential made of the library's own fixed text ("error_de", which Hypothesis
        # draws from the string constants of the code under test) is found in any answer;
        # that is no echo of the request.
        if len(secret_part) >= 8 and secret_part not in library_strings():
            assert secret_part not in detail
            assert secret_part not in challenge


@functools.cache
def library_strings() -> str:
    """Every string constant in the library's source, one per line: the fixed text an
    answer is made of (Hypothesis also draws credentials from them)."""
    root = Path(jwt_middleware.__file__).parent
    found: list[str] = []
    for source in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
    return "\n".join(found)


@functools.cache
def shared_settings() -> JWTSettings:
    """Built on first use, inside a test, so no JWT_* variable or .env file can leak in."""
    return JWTSettings(secret=SECRET)
