"""Shared fixtures: one settings object, a token minter that uses PyJWT directly, apps, and
the real Redis on loopback with a key prefix of each test's own.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import psycopg
import pytest
import redis
from psycopg import sql
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.tokens import reset_default_settings

SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256-987654"
REDIS_URL = "redis://127.0.0.1:6379/0"

Mint = Callable[..., str]


def require_service(reason: str) -> None:
    """Skip a test whose service is missing, except where CI says it must be there."""
    if os.environ.get("JWT_MIDDLEWARE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _clean_jwt_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """No test sees the developer's JWT_* variables or .env file, or settings that the
    helpers read from another test's environment."""
    for name in list(os.environ):
        if name.startswith("JWT_") and name != "JWT_MIDDLEWARE_REQUIRE_SERVICES":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    reset_default_settings()
    yield
    reset_default_settings()


@pytest.fixture(scope="session")
def sync_redis() -> Iterator[redis.Redis]:
    """A plain client on the real Redis, to look at and delete keys outside any event loop."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        client.close()
        require_service("Redis not reachable on 127.0.0.1:6379")
    yield client
    client.close()


@contextmanager
def redis_key_prefix(client: redis.Redis, label: str) -> Iterator[str]:
    """A key prefix no other test uses, ``<label>:<uuid>:``; its keys are deleted after."""
    prefix = f"{label}:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def redis_prefix_label() -> str:
    """What a suite's Redis keys start with, so a leftover key says where it came from."""
    return "jwt-middleware-test"


@pytest.fixture
def redis_prefix(sync_redis: redis.Redis, redis_prefix_label: str) -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    with redis_key_prefix(sync_redis, redis_prefix_label) as prefix:
        yield prefix


@pytest.fixture
def settings() -> JWTSettings:
    return JWTSettings(secret=SECRET)


def mint_token(
    sub: Any = "user-1",
    *,
    secret: str | bytes = SECRET,
    algorithm: str = "HS256",
    lifetime: int = 3600,
    headers: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A token made with PyJWT directly, independent of our own create_jwt_token."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + lifetime}
    payload.update(claims)
    for name in drop:
        payload.pop(name, None)
    return jwt.encode(payload, secret, algorithm=algorithm, headers=headers)


def whoami(request: Request) -> JSONResponse:
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
    await websocket.accept()
    await websocket.send_json({"user_id": websocket.state.user_id})
    await websocket.close()


def connection_user(conn: HTTPConnection) -> str | None:
    value = conn.scope.get("state", {}).get("user_id")
    return value if isinstance(value, str) else None


def build_app(
    settings: JWTSettings, *, public: Any = ("/health", "/static/*"), **options: Any
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


POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@contextmanager
def fresh_postgres_database(label: str) -> Iterator[str]:
    """A new, uniquely named PostgreSQL database; its SQLAlchemy URL; dropped (connections
    and all) on exit. A PostgreSQL that does not answer goes through :func:`require_service`.
    """
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
    except psycopg.OperationalError:
        require_service("PostgreSQL not reachable on 127.0.0.1:5432")
    name = f"{label}_{secrets.token_hex(6)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def silent_redis_url() -> Iterator[str]:
    """A loopback port that accepts connections and never answers: a hung Redis."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


@pytest.fixture(params=["closed-port", "silent-server"])
def unreachable_redis_url(request: pytest.FixtureRequest) -> str:
    """A Redis that cannot be reached: nothing listening, or a server that never answers."""
    if request.param == "closed-port":
        return "redis://127.0.0.1:1/0"
    url: str = request.getfixturevalue("silent_redis_url")
    return url
