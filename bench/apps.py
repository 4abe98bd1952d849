"""The apps every benchmark runs: one ``GET /items`` route answering a small dict, with no
authentication, with the usual alternatives, and with this library in each of its forms.

Handlers and dependencies are ``async`` so that none of them goes through the thread pool.
Tokens are HS256 with :data:`SECRET`, minted with PyJWT. :func:`build` makes an app by name,
for the servers of ``bench/wire.py`` (``BENCH_APP=name uvicorn bench.apps:from_environment
--factory``).
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations at
# runtime, and these handlers refer to names local to the functions that build the apps.

import os
import socket
from collections.abc import Callable
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    SimpleUser,
)
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.fastapi import CurrentUserId

SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
ALGORITHMS = ["HS256"]
ITEM = {"id": 1, "name": "widget", "price": 9.5}


def settings(**changes: Any) -> JWTSettings:
    """The library's settings for the benchmarks: HS256 with :data:`SECRET`, no ``.env``."""
    return JWTSettings(secret=SECRET, _env_file=None, **changes)


def no_auth() -> ASGIApp:
    app = FastAPI()

    @app.get("/items")
    async def items() -> dict[str, Any]:
        return {**ITEM, "owner": "nobody"}  # the same shape as the other variants answer

    return app


def _floor_app(subject: Callable[[Any], str]) -> ASGIApp:
    """The no-auth app behind a floor middleware: ``subject(scope)`` is the verified
    subject, put in ``scope["state"]``, or raises (:class:`~bench.floors.Refused`, a
    ``ValueError`` for a header that is not ASCII or a token not of three segments, a
    ``KeyError`` for a missing header or claim), answered with an empty 401."""
    from bench.floors import Refused

    inner = no_auth()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            try:
                user_id = subject(scope)
            except (Refused, KeyError, ValueError):
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            scope.setdefault("state", {})["user_id"] = user_id
        await inner(scope, receive, send)

    return app


def floor_middleware() -> ASGIApp:
    """The no-auth app behind the smallest middleware that verifies every token: the stdlib
    floor of :mod:`bench.floors` on the ``Authorization`` header, no cache, the subject put
    in ``scope["state"]``, an empty 401 for a request without a token or with a bad one.
    Whatever it costs over the wire is the physical floor of a first-sight token on that
    server."""
    from bench.floors import Refused, hs256_floor

    verify = hs256_floor(SECRET.encode())

    def subject(scope: Any) -> str:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is None:
            raise Refused
        sub: str = verify(header.decode("ascii").removeprefix("Bearer "))["sub"]
        return sub

    return _floor_app(subject)


def floor_dpop_middleware(
    base_url: str, *, window_seconds: int, redis_port: int | None = None
) -> ASGIApp:
    """The no-auth app behind the smallest middleware that checks a DPoP request: the
    stdlib floor of :mod:`bench.floors` on the token of ``Authorization: DPoP`` (no cache)
    and :func:`~bench.floors.dpop_floor` on the ``DPoP`` proof, for the URL ``base_url``
    and the request's path; the subject in ``scope["state"]``, an empty 401 otherwise.

    With ``redis_port``, plus the least a fleet-wide replay check can cost: one
    ``SET <proof's signature> 1 NX PX 60000`` sent to the Redis on that loopback port (no
    password, database 0) and its reply read, on a blocking socket, the request refused
    unless it is ``+OK``. Blocking stalls the event loop for the round trip, which no server
    could afford; no pool, no timeout, no reconnection: a floor, not a design."""
    from bench.floors import Refused, dpop_floor, hs256_floor

    verify, check = hs256_floor(SECRET.encode()), dpop_floor(window_seconds=window_seconds)
    connection = None
    if redis_port is not None:
        connection = socket.create_connection(("127.0.0.1", redis_port))
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def subject(scope: Any) -> str:
        headers = dict(scope["headers"])
        token = headers[b"authorization"].decode("ascii").removeprefix("DPoP ")
        claims = verify(token)
        proof = headers[b"dpop"].decode("ascii")
        check(proof, scope["method"], base_url + scope["path"], token, claims["cnf"]["jkt"])
        if connection is not None:
            key = b"jwt-bench-floor:" + proof[-43:].encode("ascii")
            connection.sendall(
                b"*6\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$1\r\n1\r\n$2\r\nNX\r\n"
                b"$2\r\nPX\r\n$5\r\n60000\r\n" % (len(key), key)
            )
            if connection.recv(64) != b"+OK\r\n":
                raise Refused
        sub: str = claims["sub"]
        return sub

    return _floor_app(subject)


def empty_dependency() -> ASGIApp:
    """The no-auth app whose handler takes one async dependency that does nothing: what
    FastAPI itself charges for a dependency, the floor of any ``Depends`` form."""
    app = FastAPI()

    async def nothing() -> str:
        return "nobody"

    @app.get("/items")
    async def items(owner: Annotated[str, Depends(nothing)]) -> dict[str, Any]:
        return {**ITEM, "owner": owner}

    return app


def http_bearer_dependency() -> ASGIApp:
    """FastAPI's ``HTTPBearer`` plus a dependency verifying with ``jwt.decode``: the pattern
    of the FastAPI tutorial."""
    app = FastAPI()
    bearer = HTTPBearer()

    async def current_user(
        credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
    ) -> str:
        try:
            claims = jwt.decode(credentials.credentials, SECRET, algorithms=ALGORITHMS)
        except jwt.PyJWTError:
            raise HTTPException(
                status_code=401,
                detail="Invalid token",
                headers={"WWW-Authenticate": "Bearer"},
            ) from None
        subject: str = claims["sub"]
        return subject

    @app.get("/items")
    async def items(user_id: Annotated[str, Depends(current_user)]) -> dict[str, Any]:
        return {**ITEM, "owner": user_id}

    return app


class PyJWTBackend(AuthenticationBackend):
    """The backend people write for Starlette's AuthenticationMiddleware."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        header = conn.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            claims = jwt.decode(token, SECRET, algorithms=ALGORITHMS)
        except jwt.PyJWTError:
            raise AuthenticationError("Invalid token") from None
        return AuthCredentials(["authenticated"]), SimpleUser(claims["sub"])


def starlette_authentication_middleware() -> ASGIApp:
    """Starlette's AuthenticationMiddleware with :class:`PyJWTBackend`; the handler refuses
    anonymous users."""
    app = FastAPI()
    app.add_middleware(AuthenticationMiddleware, backend=PyJWTBackend())

    @app.get("/items")
    async def items(request: Request) -> dict[str, Any]:
        if not request.user.is_authenticated:
            raise HTTPException(
                status_code=401, detail="Not authenticated", headers={"WWW-Authenticate": "Bearer"}
            )
        return {**ITEM, "owner": request.user.username}

    return app


def jwt_auth_middleware(config: JWTSettings | None = None, **options: Any) -> ASGIApp:
    """This library; the handler reads ``request.state.user_id``."""
    app = FastAPI()
    app.add_middleware(JWTAuthMiddleware, settings=config or settings(), **options)

    @app.get("/items")
    async def items(request: Request) -> dict[str, Any]:
        return {**ITEM, "owner": request.state.user_id}

    return app


def bare_jwt_auth_middleware(config: JWTSettings | None = None, **options: Any) -> ASGIApp:
    """This library (with ``config``, else :func:`settings`) in front of the least ASGI
    app: it answers 200 with the user id and nothing else, so what a case costs is the
    middleware's own work (no router, no dependency solving, no JSON), measured to a tenth
    of a microsecond where a FastAPI request's own noise is several."""

    async def user(scope: Any, receive: Any, send: Any) -> None:
        body = scope["state"]["user_id"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return JWTAuthMiddleware(user, settings=config or settings(), **options)


def jwt_auth_middleware_annotated(config: JWTSettings | None = None) -> ASGIApp:
    """This library; the handler takes ``user_id: CurrentUserId`` (the README's form)."""
    app = FastAPI()
    app.add_middleware(JWTAuthMiddleware, settings=config or settings())

    @app.get("/items")
    async def items(user_id: CurrentUserId) -> dict[str, Any]:
        return {**ITEM, "owner": user_id}

    return app


async def starlette_items(request: Request) -> JSONResponse:
    user_id = request.scope.get("state", {}).get("user_id")
    return JSONResponse(ITEM if user_id is None else {**ITEM, "owner": user_id})


def plain_starlette() -> ASGIApp:
    return Starlette(routes=[Route("/items", starlette_items)])


def starlette_with_jwt_auth_middleware(config: JWTSettings | None = None) -> ASGIApp:
    app = Starlette(routes=[Route("/items", starlette_items)])
    app.add_middleware(JWTAuthMiddleware, settings=config or settings())
    return app


#: The apps by name, for servers started by ``bench/wire.py``.
APPS: dict[str, Callable[[], ASGIApp]] = {
    "no-auth": no_auth,
    "http-bearer": http_bearer_dependency,
    "authentication-middleware": starlette_authentication_middleware,
    "jwt-middleware": jwt_auth_middleware,
    "jwt-middleware-cache-off": lambda: jwt_auth_middleware(settings(verified_cache_size=0)),
    "jwt-middleware-annotated": jwt_auth_middleware_annotated,
    "floor-middleware": floor_middleware,
}


def build(name: str) -> ASGIApp:
    """The app called ``name`` in :data:`APPS`."""
    return APPS[name]()


def from_environment() -> ASGIApp:
    """The app named by ``BENCH_APP``: a factory for ``uvicorn --factory`` and granian."""
    return build(os.environ["BENCH_APP"])
