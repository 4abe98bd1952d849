"""Fixtures for the whole suite: a clean environment for every test, one settings object,
the real Redis on loopback with a key prefix of each test's own, and the Redis Cluster and
Sentinel setups (shared by the run, or a test's own to kill a primary in). Helpers are in
:mod:`tests.helpers`, :mod:`tests.services` and the other helper modules.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from jwt_middleware import JWTSettings
from jwt_middleware.tokens import reset_default_settings

from .helpers import SECRET
from .processes import CONFIGURATION_NAMES, CONFIGURATION_PREFIXES
from .revocation.deployments import (
    STEADY_NODE_TIMEOUT_MILLISECONDS,
    Deployment,
    local_cluster,
    local_sentinels,
)
from .services import REDIS_URL, redis_key_prefix, require_service


def _is_configuration(name: str) -> bool:
    """A variable the library or the demo reads (the one that makes services mandatory in
    CI is the suite's own)."""
    if name == "JWT_MIDDLEWARE_REQUIRE_SERVICES":
        return False
    return name.startswith(CONFIGURATION_PREFIXES) or name in CONFIGURATION_NAMES


@pytest.fixture(scope="session", autouse=True)
def _isolated_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Before any fixture of wider scope builds settings: none of the developer's JWT_* or
    demo variables, and a working folder of the run's own, so a ``.env`` that ``make demo``
    wrote at the checkout's root is never read."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if _is_configuration(name)]:
            patch.delenv(name)
        patch.chdir(tmp_path_factory.mktemp("session-cwd"))
        yield


@pytest.fixture(autouse=True)
def _clean_jwt_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees variables or a .env file that another test set, or settings that the
    helpers read from another test's environment."""
    for name in [name for name in os.environ if _is_configuration(name)]:
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


@pytest.fixture(scope="session")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One cluster for the run (revocation stores, DPoP replay caches), each test under a
    key prefix of its own."""
    folder = tmp_path_factory.mktemp("shared-cluster")
    with local_cluster(folder, node_timeout_ms=STEADY_NODE_TIMEOUT_MILLISECONDS) as started:
        yield started


@pytest.fixture(scope="session")
def shared_sentinels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One Sentinel setup for the run, each test under a key prefix of its own."""
    folder = tmp_path_factory.mktemp("shared-sentinels")
    with local_sentinels(folder, node_timeout_ms=STEADY_NODE_TIMEOUT_MILLISECONDS) as started:
        yield started


@pytest.fixture(
    params=[pytest.param(local_cluster, id="cluster"), pytest.param(local_sentinels, id="sentinel")]
)
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """A new cluster (three primaries, three replicas) or Sentinel setup (a primary, a
    replica, three sentinels) on free loopback ports, stopped after the test."""
    with request.param(tmp_path / "redis") as started:
        yield started
