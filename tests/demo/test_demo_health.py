"""``/health`` and the start-up check of Redis.

/health answers 200 ``ok``, 200 ``degraded`` when Redis (REDIS_URL) does not answer, and 503
``unavailable`` only when the database does not (see :mod:`demo_app.health` for why), to
GET with the body and to HEAD without one. At start-up an unreachable Redis is one warning
line naming host and port, never the password; the demo itself logs no traceback and no
error text for it, at start-up or while serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from demo_app.app import create_app
from demo_app.health import REDIS_PING_TIMEOUT_SECONDS, redis_address
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.helpers import bearer
from tests.servers import serve
from tests.services import REDIS_URL

from .accounts import cheap_passwords, login_pair, register

OK = {"status": "ok", "database": "ok", "redis": "not configured"}
REDIS_OK = {"status": "ok", "database": "ok", "redis": "ok"}
DEGRADED = {"status": "degraded", "database": "ok", "redis": "down"}
UNAVAILABLE = {"status": "unavailable", "database": "down", "redis": "not configured"}
#: A folder that does not exist: SQLite cannot open a file in it, so the database is down.
DATABASE_DOWN = "sqlite:////nonexistent-folder/demo.db"
REDIS_PASSWORD = "redis-password-1234"


def with_password(url: str) -> str:
    """``url`` with a password, which must never reach a log line."""
    return url.replace("redis://", f"redis://:{REDIS_PASSWORD}@", 1)


def build(database_url: str, jwt_settings: JWTSettings, **options: Any) -> FastAPI:
    settings = DemoSettings(database_url=database_url, **options)
    return create_app(settings, jwt_settings, passwords=cheap_passwords())


def demo_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name.startswith("demo_app")]


@pytest.fixture
def unreachable_redis_app(
    database_url: str, jwt_settings: JWTSettings, unreachable_redis_url: str
) -> FastAPI:
    return build(database_url, jwt_settings, redis_url=with_password(unreachable_redis_url))


@pytest.fixture
def started(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


# The answer ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("redis", "database", "expected"),
    [
        pytest.param(None, "file", (200, OK), id="no-redis"),
        pytest.param("real", "file", (200, REDIS_OK), id="redis-answers"),
        pytest.param("unreachable", "file", (200, DEGRADED), id="redis-down-is-degraded"),
        pytest.param(None, "down", (503, UNAVAILABLE), id="database-down-is-503"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_health(
    request: pytest.FixtureRequest,
    database_url: str,
    jwt_settings: JWTSettings,
    redis: str | None,
    database: str,
    expected: tuple[int, dict[str, str]],
    method: str,
) -> None:
    options: dict[str, Any] = {}
    if redis == "real":
        options = {
            "redis_url": REDIS_URL,
            "redis_key_prefix": request.getfixturevalue("redis_prefix"),
        }
    elif redis == "unreachable":
        options = {"redis_url": with_password(request.getfixturevalue("silent_redis_url"))}
    app = build(DATABASE_DOWN if database == "down" else database_url, jwt_settings, **options)

    client = TestClient(app)
    # Not started when the database is down: start-up creates the tables, and would fail.
    with client if database != "down" else nullcontext(client):
        reply = client.request(method, "/health")

    assert reply.status_code == expected[0]
    if method == "GET":
        assert reply.json() == expected[1]
    else:
        assert reply.content == b""


def test_health_is_public(started: TestClient) -> None:
    """A token that no longer verifies does not turn the probe into a 401."""
    reply = started.get("/health", headers=bearer("not-a-token"))

    assert (reply.status_code, reply.json()) == (200, OK)


def test_head_over_a_real_server_has_no_body(app: FastAPI) -> None:
    with serve(app) as base_url:
        head = httpx.head(base_url + "/health")
        get = httpx.get(base_url + "/health")

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == "application/json"
    assert get.json() == OK


def test_a_redis_that_hangs_delays_health_by_one_timeout_at_most(
    unreachable_redis_app: FastAPI,
) -> None:
    with TestClient(unreachable_redis_app) as client:
        started = time.monotonic()
        reply = client.get("/health")
        elapsed = time.monotonic() - started

    assert reply.json() == DEGRADED
    assert elapsed < REDIS_PING_TIMEOUT_SECONDS + 1


# The start-up warning --------------------------------------------------------------------


def test_unreachable_redis_is_one_warning_at_start_up(
    unreachable_redis_app: FastAPI, unreachable_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="demo_app"), TestClient(unreachable_redis_app):
        pass

    (record,) = demo_records(caplog)
    message = record.getMessage()
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "\n" not in message
    assert f"Redis at {redis_address(unreachable_redis_url)} (REDIS_URL)" in message
    assert message.endswith("see /health")
    assert "(ConnectionError)" in message or "(TimeoutError)" in message
    assert REDIS_PASSWORD not in caplog.text


@pytest.mark.parametrize("redis", [None, "real"], ids=["no-redis", "redis-answers"])
def test_no_warning_when_there_is_nothing_to_warn_about(
    request: pytest.FixtureRequest,
    database_url: str,
    jwt_settings: JWTSettings,
    redis: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    options: dict[str, Any] = {}
    if redis == "real":
        options = {
            "redis_url": REDIS_URL,
            "redis_key_prefix": request.getfixturevalue("redis_prefix"),
        }
    app = build(database_url, jwt_settings, **options)

    with caplog.at_level(logging.DEBUG, logger="demo_app"), TestClient(app) as client:
        assert client.get("/health").status_code == 200

    assert demo_records(caplog) == []


def test_during_a_redis_outage_the_demo_logs_no_traceback_and_no_error_text(
    unreachable_redis_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """Start-up, a request with a token, logout, refresh, /health: the demo's own log is
    the start-up line and nothing else (the middleware's report is the library's)."""
    with (
        caplog.at_level(logging.DEBUG, logger="demo_app"),
        TestClient(unreachable_redis_app) as client,
    ):
        register(client, "outage@example.com")
        access, refresh_token = login_pair(client, "outage@example.com")
        statuses = [
            client.get("/auth/me", headers=bearer(access)).status_code,
            client.post("/auth/logout", headers=bearer(access)).status_code,
            client.post("/auth/refresh", json={"refresh_token": refresh_token}).status_code,
            client.get("/health").status_code,
        ]

    assert statuses == [503, 503, 503, 200]
    records = demo_records(caplog)
    assert [record.name for record in records] == ["demo_app.health"]
    for record in records:
        assert record.exc_info is None
        assert record.exc_text is None
        for text in ("Error ", "Errno", "Timeout reading", "Connection refused", REDIS_PASSWORD):
            assert text not in record.getMessage()


# Where Redis is, for the warning ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("redis://127.0.0.1:6379/0", "127.0.0.1:6379"),
        ("redis://:secret@cache.example:6380/2", "cache.example:6380"),
        ("rediss://user:secret@cache.example/0", "cache.example:6379"),
        ("redis://[::1]:7000", "[::1]:7000"),
        ("unix://:secret@/run/redis/redis.sock?db=1", "/run/redis/redis.sock"),
        ("redis://cache.example:notaport/0", "cache.example (bad port)"),
    ],
    ids=["plain", "password", "default-port", "ipv6", "unix-socket", "bad-port"],
)
def test_redis_address_names_host_and_port_only(url: str, address: str) -> None:
    assert redis_address(url) == address
    assert "secret" not in redis_address(url)
