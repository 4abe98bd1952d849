"""``/health`` and the start-up check: does the database answer, does Redis?

The answer is for a load balancer as much as for a person, so it follows what taking an
instance out of rotation would achieve:

* the database down: ``503``, ``"status": "unavailable"``. Nothing works without it, and
  the database may be unreachable from this instance only;
* Redis (``REDIS_URL``) down: ``200``, ``"status": "degraded"``, ``"redis": "down"``. Logout,
  refresh and (with ``DEMO_REVOCATION_ON_ERROR=deny``) requests with a token answer 503, but
  a Redis outage affects every instance alike, so a 503 here would take them all out of
  rotation and turn a partial outage into a total one (login, register and the docs still
  work).

``HEAD /health`` answers the same status with no body. At start-up an unreachable Redis
is reported by one warning line that names its host and port, never the URL (which may
carry a password), and never the error's text (only its class).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from .dependencies import ContextDep
from .schemas import DatabaseState, Health, HealthStatus, RedisState

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

    from .context import DemoContext

__all__ = [
    "REDIS_PING_TIMEOUT_SECONDS",
    "install_health",
    "redis_address",
    "redis_problem",
    "warn_if_redis_unreachable",
]

logger = logging.getLogger(__name__)

#: Longest /health (and start-up) waits for Redis; the sessions' own calls wait 0.5 s.
REDIS_PING_TIMEOUT_SECONDS: Final = 1.0

_DEFAULT_REDIS_PORT: Final = 6379

_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"description": "Up; `status` is `degraded` when Redis does not answer."},
    503: {"model": Health, "description": "The database does not answer."},
}
_HEAD_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"description": "Up (ok or degraded); no body."},
    503: {"description": "The database does not answer; no body."},
}


def install_health(app: FastAPI) -> None:
    """Add ``GET /health`` and ``HEAD /health`` (the same check, no body)."""
    app.add_api_route(
        "/health",
        health,
        methods=["GET"],
        tags=["meta"],
        response_model=Health,
        responses=_RESPONSES,
    )
    # A route of its own: one route with two methods would give both one operation id.
    app.add_api_route(
        "/health",
        health,
        methods=["HEAD"],
        tags=["meta"],
        response_model=None,
        responses=_HEAD_RESPONSES,
        operation_id="health_head",
        summary="Health (status only, no body)",
    )


async def health(context: ContextDep) -> JSONResponse:
    """Whether the database and Redis answer: 200 ok or degraded, 503 without the database."""
    database_ok, redis = await asyncio.gather(
        run_in_threadpool(_database_answers, context.engine), _redis_state(context)
    )
    database: DatabaseState = "ok" if database_ok else "down"
    status: HealthStatus = "ok"
    if not database_ok:
        status = "unavailable"
    elif redis == "down":
        status = "degraded"
    body = Health(status=status, database=database, redis=redis)
    return JSONResponse(body.model_dump(), status_code=503 if status == "unavailable" else 200)


async def warn_if_redis_unreachable(context: DemoContext) -> None:
    """Log one warning when ``REDIS_URL`` is set and Redis does not answer (at start-up)."""
    client = context.sessions.redis
    url = context.settings.redis_url
    if client is None or url is None:
        return
    problem = await redis_problem(client)
    if problem is not None:
        logger.warning(
            "Redis at %s (REDIS_URL) does not answer (%s): logout and refresh answer 503 "
            "until it does; see /health",
            redis_address(url),
            problem,
        )


async def redis_problem(
    client: Redis | RedisCluster, *, timeout_seconds: float = REDIS_PING_TIMEOUT_SECONDS
) -> str | None:
    """``None`` if Redis answers a PING in time, else the class name of what went wrong.

    Only the class: the error's text may repeat the address, and callers log it.
    """
    try:
        async with asyncio.timeout(timeout_seconds):
            await client.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        return type(exc).__name__
    return None


def redis_address(url: str) -> str:
    """Where ``url`` points, for a log line: ``host:port``, or a socket's path; no password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path or "(no socket path)"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"  # IPv6
    try:
        port = parts.port or _DEFAULT_REDIS_PORT
    except ValueError:
        return f"{host} (bad port)"
    return f"{host}:{port}"


async def _redis_state(context: DemoContext) -> RedisState:
    client = context.sessions.redis
    if client is None:
        return "not configured"
    return "ok" if await redis_problem(client) is None else "down"


def _database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True
