"""The real services some tests need on loopback: Redis and PostgreSQL.

A missing service skips the test, except in CI (``JWT_MIDDLEWARE_REQUIRE_SERVICES=1``),
where it fails it: see :func:`require_service`.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import psycopg
import pytest
import redis
from psycopg import sql

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


def require_service(reason: str) -> NoReturn:
    """Skip a test whose service is missing, except where CI says it must be there."""
    if os.environ.get("JWT_MIDDLEWARE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


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
