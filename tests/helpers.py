"""What the tests use to talk to the middleware: the secrets, a token minter that uses PyJWT
directly, the ``Authorization`` header for a token, a small app behind the middleware, and a
clock that only moves when told to.

Imported by name (``from tests.helpers import mint_token``); ``conftest.py`` holds fixtures
only.
"""

from __future__ import annotations

import base64
import gc
import json
import time
import tracemalloc
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from jwt_middleware import JWTAuthMiddleware, JWTSettings, StaticKeys, TokenVerifier
from jwt_middleware.access.rules import RuleSpec
from jwt_middleware.keys.issuers import IssuerPolicy, Issuers
from jwt_middleware.types import BoundKey

SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256-987654"


def mint_token(
    sub: Any = "user-1",
    *,
    secret: Any = SECRET,
    algorithm: str = "HS256",
    lifetime: int = 3600,
    headers: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A token made with PyJWT directly, independent of our own create_jwt_token.

    ``secret`` is whatever PyJWT signs with for ``algorithm``: a shared secret, or a private
    key object for the asymmetric algorithms.
    """
    now = int(time.time())
    payload: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + lifetime}
    payload.update(claims)
    for name in drop:
        payload.pop(name, None)
    return jwt.encode(payload, secret, algorithm=algorithm, headers=headers)


def mint_padded_token(
    claims: dict[str, Any], key: Any, *, algorithm: str, headers: dict[str, Any] | None = None
) -> str:
    """A token as AWS ALB writes its ``x-amzn-oidc-data``: every segment base64url *with*
    its ``=`` padding, and the signature over the padded header and payload. Made with
    PyJWT's algorithm objects directly, independent of our own code."""

    def padded(raw: bytes) -> bytes:
        return base64.urlsafe_b64encode(raw)

    header = {"typ": "JWT", "alg": algorithm, **(headers or {})}
    signing_input = padded(json.dumps(header).encode()) + b"." + padded(json.dumps(claims).encode())
    signer = jwt.algorithms.get_default_algorithms()[algorithm]
    signature = signer.sign(signing_input, signer.prepare_key(key))
    return (signing_input + b"." + padded(signature)).decode("ascii")


def padded_everywhere(key: Any, *, algorithm: str, **claims: Any) -> str:
    """A :func:`mint_padded_token` whose three segments all end in ``=`` (its ``kid`` is
    lengthened until they do), valid for an hour."""
    payload = {"exp": int(time.time()) + 3600, **claims}
    for kid in ("k", "kk", "kkk", "kkkk"):
        for extra in ("", "x", "xx", "xxx"):
            token = mint_padded_token(
                {**payload, "pad": extra}, key, algorithm=algorithm, headers={"kid": kid}
            )
            if all(part.endswith("=") for part in token.split(".")):
                return token
    raise AssertionError("no padding found")


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header that carries ``token``, as a client sends it."""
    return {"Authorization": f"Bearer {token}"}


def b64url_json(value: Any) -> str:
    """``value`` as JSON in unpadded base64url: one segment of a token written by hand."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def hs256_key(secret: str, kid: str | None = None) -> BoundKey:
    """An HMAC secret bound to HS256, as a key source hands it to the verifier."""
    return BoundKey("HS256", secret.encode(), kid)


def issuers_with_named_keys(
    names: Iterable[str], audience: str, *, fallback: bool = False
) -> Issuers:
    """One HS256 policy per issuer in ``names``, each with a key of its own (``k1``,
    ``k2``...) and one they share (``shared``), all with :data:`SECRET`; with ``fallback``,
    also a key without kid, tried for any other kid."""
    return Issuers(
        [
            IssuerPolicy(
                issuer=name,
                audiences=(audience,),
                algorithms=frozenset({"HS256"}),
                keys=StaticKeys(
                    *([hs256_key(SECRET)] if fallback else []),
                    named=[hs256_key(SECRET, f"k{index}"), hs256_key(SECRET, "shared")],
                ),
            )
            for index, name in enumerate(names, start=1)
        ]
    )


def whoami(request: Request) -> JSONResponse:
    """What the handler sees of the request: the user, the scopes, the path."""
    state = request.scope.get("state", {})
    return JSONResponse(
        {
            "user_id": state.get("user_id"),
            "authenticated": request.user.is_authenticated,
            "scopes": list(request.auth.scopes),
            "path": request.url.path,
        }
    )


async def ws_echo(websocket: WebSocket) -> None:
    """Accept, say who the user is, close."""
    await websocket.accept()
    await websocket.send_json({"user_id": websocket.state.user_id})
    await websocket.close()


def build_app(
    settings: JWTSettings,
    *,
    public: Iterable[RuleSpec] = ("/health", "/static/*"),
    **options: Any,
) -> Starlette:
    """A plain Starlette app with a few routes, wrapped by the middleware."""
    routes = [
        Route("/health", whoami),
        Route("/private", whoami, methods=["GET", "POST", "OPTIONS"]),
        Route("/static/{rest:path}", whoami),
        Route("/staticfoo", whoami),
        Route("/posts", whoami, methods=["GET", "POST", "HEAD"]),
        Route("/posts/{rest:path}", whoami, methods=["GET", "POST", "DELETE"]),
        WebSocketRoute("/ws", ws_echo),
        WebSocketRoute("/health-ws", ws_echo),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(JWTAuthMiddleware, public=public, settings=settings, **options)
    return app


#: Files served under ``/files``: ``public/notes.txt``, and ``secret/x.txt``, which holds
#: :data:`SECRET_FILE` and needs the ``files:secret`` scope.
FILES = Path(__file__).parent / "files"
SECRET_FILE = b"TOP SECRET"
#: The rules of :func:`build_files_app`.
FILES_SCOPES = {"/files/secret/*": ["files:secret"], "GET /legacy/report": ["reports:read"]}


async def case_blind_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A mounted app that reads the method in any case (as WSGI bridges and some
    frameworks do): ``get`` is served like ``GET``."""
    ok = scope["method"].upper() in ("GET", "HEAD")
    await JSONResponse({"report": "q3"} if ok else {}, status_code=200 if ok else 405)(
        scope, receive, send
    )


def build_files_app(settings: JWTSettings) -> Starlette:
    """StaticFiles under ``/files`` with a scope rule on ``/files/secret/*``, and a
    case-blind app under ``/legacy`` with one on ``GET /legacy/report``: both normalise
    what a rule matched as written (dot segments, a lower-case method)."""
    app = Starlette(
        routes=[
            Mount("/files", StaticFiles(directory=FILES)),
            Mount("/legacy", app=case_blind_app),
        ]
    )
    app.add_middleware(JWTAuthMiddleware, settings=settings, scopes=FILES_SCOPES)
    return app


class FakeClock:
    """A clock in seconds that only moves when told to (wall or monotonic, as the caller
    uses it); it may be shared with server threads."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def held_and_estimated(tokens: list[str]) -> tuple[int, int]:
    """The bytes a verifier's cache holds once it has verified ``tokens`` (``tracemalloc``
    counting the token strings it keeps, as a middleware decodes each from its header),
    and what the cache estimates it holds. Without telemetry: what an SDK set by the
    telemetry tests keeps for a first sight is not the cache's."""
    raw = [token.encode("ascii") for token in tokens]
    verifier = TokenVerifier(
        JWTSettings(
            secret=SECRET, max_token_bytes=65536, verified_cache_bytes=1024**3, telemetry=False
        )
    )
    cache = verifier._cache
    assert cache is not None
    verifier.verify(tokens[0])  # whatever a first verification sets up, outside the count
    cache.clear()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for token in raw:
            verifier.verify(token.decode("ascii"))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) == len(tokens)
    return held, cache.size_bytes


#: The token's cookie, and the double-submit pair, in the cookie tests.
TOKEN_COOKIE = "__Host-access"
CSRF_COOKIE = "__Host-csrf"
CSRF_HEADER = "X-CSRF-Token"
APP_ORIGIN = "https://app.example.com"


def cookie_settings(**changes: Any) -> JWTSettings:
    """Settings that read the token from :data:`TOKEN_COOKIE`, trust :data:`APP_ORIGIN`
    and check the double-submit pair."""
    values: dict[str, Any] = {
        "secret": SECRET,
        "cookie_name": TOKEN_COOKIE,
        "csrf_trusted_origins": (APP_ORIGIN,),
        "csrf_header": CSRF_HEADER,
        "csrf_cookie_name": CSRF_COOKIE,
    }
    values.update(changes)
    return JWTSettings(**values)
