"""What the introspection tests share: an RFC 7662 endpoint in memory (an httpx mock
transport that answers from a table and records what it was sent), and an app whose
middleware introspects through it.

Imported by name (``from tests.introspection import FakeEndpoint``); the tests against a
real provider use ``tests/oidc`` instead.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from jwt_middleware import JWTAuthMiddleware, JWTSettings, TokenVerifier
from jwt_middleware.refusals import Reason
from jwt_middleware.verification.bearer import BearerAuthenticator
from jwt_middleware.verification.introspection import TokenIntrospector
from tests.asgi import Answer
from tests.helpers import SECRET, whoami

ISSUER = "https://idp.test"
API = "https://api.test"
ENDPOINT = "https://idp.test/introspect"
CLIENT_ID = "api-client"
CLIENT_SECRET = "client-secret-of-the-api-0123456789"
OPAQUE = "opaque-token-0123456789abcdefghijklmnop"


def introspection_settings(**overrides: Any) -> JWTSettings:
    """HS256 JWTs of :data:`ISSUER` for :data:`API`, opaque tokens at :data:`ENDPOINT`."""
    values: dict[str, Any] = {
        "secret": SECRET,
        "algorithm": "HS256",
        "issuer": ISSUER,
        "audience": API,
        "introspection_url": ENDPOINT,
        "introspection_client_id": CLIENT_ID,
        "introspection_client_secret": CLIENT_SECRET,
    }
    return JWTSettings(**{**values, **overrides})


def active(**members: Any) -> dict[str, Any]:
    """An active answer for :data:`API` from :data:`ISSUER`, valid for an hour (made when a
    suite is collected, it must outlast the whole run)."""
    return {
        "active": True,
        "iss": ISSUER,
        "aud": API,
        "sub": "user-1",
        "client_id": "web",
        "scope": "read write",
        "exp": int(time.time()) + 3600,
        "token_type": "Bearer",
        **members,
    }


#: What the endpoint does for a token: a JSON answer, raw bytes, a status and body, or an
#: exception to raise (a transport error).
Reply = dict[str, Any] | bytes | tuple[int, bytes] | Exception


class FakeEndpoint:
    """An introspection endpoint in memory: ``replies`` maps a token to what it answers
    (unknown tokens are inactive); every request's form and headers are kept in
    ``requests``. ``delay_seconds`` holds each answer back, for concurrent first sights."""

    def __init__(self, replies: dict[str, Reply] | None = None, *, delay_seconds: float = 0.0):
        self.replies: dict[str, Reply] = dict(replies or {})
        self.delay_seconds = delay_seconds
        self.requests: list[tuple[dict[str, str], httpx.Headers]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {name: values[0] for name, values in parse_qs(request.content.decode()).items()}
        self.requests.append((form, request.headers))
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        reply = self.replies.get(form.get("token", ""), {"active": False})
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, tuple):
            return httpx.Response(reply[0], content=reply[1])
        body = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def introspector(
    endpoint: FakeEndpoint,
    settings: JWTSettings | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> TokenIntrospector:
    settings = settings or introspection_settings()
    return TokenIntrospector(
        settings,
        policies=TokenVerifier(settings).policies,
        client=endpoint.client(),
        clock=clock,
    )


def introspected_app(
    endpoint: FakeEndpoint, settings: JWTSettings | None = None, **options: Any
) -> tuple[Starlette, TokenIntrospector]:
    """``/private`` behind a middleware whose bearer tokens that are not JWTs go to
    ``endpoint``; and the introspector, to count its calls."""
    settings = settings or introspection_settings()
    verifier = TokenVerifier(settings)
    checker = TokenIntrospector(settings, policies=verifier.policies, client=endpoint.client())
    app = Starlette(routes=[Route("/private", whoami)])
    app.add_middleware(
        JWTAuthMiddleware,
        settings=settings,
        authenticators=[BearerAuthenticator(verifier, introspector=checker)],
        **options,
    )
    return app, checker


def assert_answered(
    answer: Answer, logged: list[str], reason: Reason | None, challenge: str | None
) -> None:
    """``answer`` let ``user-1`` through with nothing logged (``reason`` ``None``), or
    refused with 401, a challenge starting with ``challenge`` and ``reason`` logged once."""
    if reason is None:
        assert answer.status == 200
        assert answer.json()["user_id"] == "user-1"
        assert logged == []
    else:
        assert answer.status == 401
        assert challenge is not None
        assert answer.headers["www-authenticate"].startswith(challenge)
        assert logged == [f"refused: reason={reason.value}"]
