"""The replay cache's own connection to Redis (:mod:`jwt_middleware.redis_set_once`),
against real ``redis-server`` processes (a password, an ACL user, a database number, a
unix socket, TLS) and against loopback servers that answer what Redis never would: every
command is answered exactly once, a reply it cannot read fails the command and the next
one connects afresh, and any number of commands share one connection."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import uvloop

from jwt_middleware.errors import ProofReplayUnavailableError
from jwt_middleware.redis_set_once import Target, target
from jwt_middleware.verification.dpop_replay_redis import RedisProofReplayCache
from tests.mtls.certificates import PKI
from tests.revocation.deployments import (
    Server,
    free_ports,
    redis_binaries,
    start_server,
    wait_until,
)

PASSWORD = "a-password-for-the-test-server"
ACL_USER, ACL_PASSWORD = "replay", "the-replay-user-password"
#: Long enough for a first connection on a loaded machine; the silent server's case sets
#: its own.
TIMEOUT_SECONDS = 2.0

URLS = [
    pytest.param(
        "redis://127.0.0.1:6379/0",
        Target("127.0.0.1", 6379, None, False, None, None, 0),
        id="host-port-db",
    ),
    pytest.param(
        "redis://:pw@cache.internal:7000/2",
        Target("cache.internal", 7000, None, False, None, "pw", 2),
        id="password-and-db",
    ),
    pytest.param(
        "redis://user:p%40ss@cache.internal",
        Target("cache.internal", 6379, None, False, "user", "p@ss", 0),
        id="acl-user-percent-encoded",
    ),
    pytest.param(
        "rediss://cache.internal:6380",
        Target("cache.internal", 6380, None, True, None, None, 0),
        id="tls",
    ),
    pytest.param(
        "unix:///run/redis.sock?db=3",
        Target("localhost", 6379, "/run/redis.sock", False, None, None, 3),
        id="unix-socket",
    ),
    # Options only redis-py's client knows: that client sends the command instead.
    pytest.param("redis://cache.internal?socket_keepalive=true", None, id="redis-py-option"),
    pytest.param("rediss://cache.internal?ssl_ca_certs=/etc/ca.pem", None, id="tls-option"),
]


@pytest.mark.parametrize(("url", "expected"), URLS)
def test_a_url_means_what_it_means_to_redis_py(url: str, expected: Target | None) -> None:
    assert target(url) == expected
    cache = RedisProofReplayCache(url)
    assert (cache._set_once is not None) is (expected is not None)


def first_use(cache: RedisProofReplayCache, key: bytes) -> Awaitable[bool]:
    return cache.first_use(key, expires_at=time.time() + 60)


#: Runs a coroutine to its end in a new event loop: asyncio's own, and uvloop's (uvicorn's
#: default where installed), whose transports are not asyncio's classes.
Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def runner(request: pytest.FixtureRequest) -> Runner:
    if request.param == "uvloop":
        return cast(Runner, uvloop.run)
    return asyncio.run


def run(
    runner: Runner, make: Callable[[], RedisProofReplayCache], scenario: Callable[..., Any]
) -> Any:
    """``scenario(cache)`` in a loop of its own, the cache closed afterwards."""

    async def main() -> Any:
        cache = make()
        try:
            return await scenario(cache)
        finally:
            await cache.aclose()

    return runner(main())


# --- real servers --------------------------------------------------------------------------


@dataclass
class LocalRedis:
    """A ``redis-server`` with a password, an ACL user, a unix socket and TLS."""

    server: Server
    tls_port: int
    socket: Path
    ca_file: Path

    def inspector(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.server.port, password=PASSWORD, db=db, socket_timeout=2)


@pytest.fixture(scope="module")
def local_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    binary, _ = redis_binaries()
    folder = tmp_path_factory.mktemp("set-once")
    cert, key = PKI.server.write(folder)
    ca_file, _ = PKI.ca.write(folder)
    port, tls_port = free_ports(2)
    socket_path = folder / "redis.sock"
    server = start_server(
        binary,
        folder,
        port,
        *("--requirepass", PASSWORD, "--unixsocket", str(socket_path)),
        *("--tls-port", str(tls_port), "--tls-cert-file", str(cert)),
        *("--tls-key-file", str(key), "--tls-ca-cert-file", str(ca_file)),
        *("--tls-auth-clients", "no"),
    )
    local = LocalRedis(server, tls_port, socket_path, ca_file)
    try:
        wait_until(lambda: _answers(local), 10, "the test's redis-server to start")
        local.inspector().acl_setuser(
            ACL_USER, enabled=True, passwords=[f"+{ACL_PASSWORD}"], keys=["*"], commands=["+set"]
        )
        yield local
    finally:
        server.stop()


def _answers(local: LocalRedis) -> bool:
    try:
        return bool(local.inspector().ping())
    except redis.RedisError:
        return False


#: (URL of the local server, the database the key lands in, or None for a refusal).
LOGINS: list[Any] = [
    pytest.param(lambda r: f"redis://:{PASSWORD}@127.0.0.1:{r.server.port}/0", 0, id="password"),
    pytest.param(
        lambda r: f"redis://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:{r.server.port}/0",
        0,
        id="acl-user",
    ),
    pytest.param(lambda r: f"redis://:{PASSWORD}@127.0.0.1:{r.server.port}/5", 5, id="db-5"),
    pytest.param(lambda r: f"unix://:{PASSWORD}@{r.socket}?db=2", 2, id="unix-socket"),
    pytest.param(lambda r: f"redis://:wrong@127.0.0.1:{r.server.port}/0", None, id="bad-password"),
    pytest.param(lambda r: f"redis://127.0.0.1:{r.server.port}/0", None, id="no-password"),
    pytest.param(
        lambda r: f"redis://{ACL_USER}:wrong@127.0.0.1:{r.server.port}/0", None, id="bad-acl"
    ),
]


@pytest.mark.parametrize(("url_of", "db"), LOGINS)
def test_it_logs_in_and_selects_the_database_or_refuses(
    local_redis: LocalRedis, url_of: Callable[[LocalRedis], str], db: int | None, runner: Runner
) -> None:
    prefix = f"set-once:{os.urandom(4).hex()}:"
    make = lambda: RedisProofReplayCache(  # noqa: E731
        url_of(local_redis), key_prefix=prefix, timeout_seconds=TIMEOUT_SECONDS
    )

    async def scenario(cache: RedisProofReplayCache) -> list[bool]:
        assert cache._set_once is not None
        return [await first_use(cache, b"proof") for _ in range(2)]

    if db is None:
        with pytest.raises(ProofReplayUnavailableError):
            run(runner, make, scenario)
        return
    assert run(runner, make, scenario) == [True, False]
    stored = local_redis.inspector(db).pttl(prefix + b"proof".hex())
    assert 55_000 < stored <= 60_000


def test_tls_verifies_the_server(
    local_redis: LocalRedis, monkeypatch: pytest.MonkeyPatch, runner: Runner
) -> None:
    url = f"rediss://:{PASSWORD}@127.0.0.1:{local_redis.tls_port}/0"
    make = lambda: RedisProofReplayCache(url, timeout_seconds=TIMEOUT_SECONDS)  # noqa: E731

    async def scenario(cache: RedisProofReplayCache) -> bool:
        return await first_use(cache, os.urandom(8))

    # Signed by an authority nobody here trusts: refused, not spoken to.
    with pytest.raises(ProofReplayUnavailableError):
        run(runner, make, scenario)
    # The same server once its authority is trusted (OpenSSL reads SSL_CERT_FILE).
    monkeypatch.setenv("SSL_CERT_FILE", str(local_redis.ca_file))
    assert run(runner, make, scenario) is True


def test_commands_in_flight_share_one_connection(local_redis: LocalRedis, runner: Runner) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{local_redis.server.port}/0"
    keys = [os.urandom(8) for _ in range(150)]

    async def scenario(cache: RedisProofReplayCache) -> tuple[list[bool], int]:
        answers = await asyncio.gather(*(first_use(cache, key) for key in keys + keys))
        clients = local_redis.inspector().client_list()
        return answers, sum(1 for client in clients if client["cmd"] == "set")

    answers, connections = run(
        runner, lambda: RedisProofReplayCache(url, timeout_seconds=TIMEOUT_SECONDS), scenario
    )
    # Every key set once: the first 150 commands, in the order they were sent.
    assert answers == [True] * 150 + [False] * 150
    assert connections == 1


# --- servers that answer what Redis never would ----------------------------------------------


@dataclass
class FakeRedis:
    """A loopback server whose first connection answers each command with ``first`` and
    whose later connections answer ``+OK``; it counts its connections."""

    first: bytes | None
    connections: int = 0
    port: int = 0
    server: asyncio.Server | None = field(default=None, repr=False)

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{self.port}/0"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        reply = self.first if self.connections == 1 else b"+OK\r\n"
        try:
            while (line := await reader.readline()).startswith(b"*"):
                for _ in range(2 * int(line[1:])):  # each argument: its length, its bytes
                    await reader.readline()
                if reply is not None:  # None: never answers
                    writer.write(reply)
            await reader.read()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


ODD_REPLIES = [
    pytest.param(b"-ERR something went wrong\r\n", id="error-reply"),
    pytest.param(b"-READONLY You can't write against a read only replica.\r\n", id="readonly"),
    pytest.param(b":1\r\n", id="integer"),
    pytest.param(b"$1\r\nx\r\n", id="bulk-string"),
    pytest.param(b"+OK\r\n+OK\r\n", id="two-replies-for-one-command"),
    pytest.param(b"+" + b"x" * 5000, id="endless-line"),
    pytest.param(None, id="no-reply"),
]


@pytest.mark.parametrize("first", ODD_REPLIES)
def test_an_odd_reply_fails_the_command_and_the_next_one_reconnects(
    first: bytes | None, runner: Runner
) -> None:
    fake = FakeRedis(first)

    async def main() -> tuple[list[str], float, int]:
        url = await fake.start()
        cache = RedisProofReplayCache(url, timeout_seconds=0.3)
        outcomes = []
        started = time.monotonic()
        try:
            for _ in range(3):
                try:
                    outcomes.append("set" if await first_use(cache, os.urandom(8)) else "seen")
                except ProofReplayUnavailableError:
                    outcomes.append("unavailable")
        finally:
            await cache.aclose()
            await fake.stop()
        return outcomes, time.monotonic() - started, fake.connections

    outcomes, elapsed, connections = runner(main())
    if first == b"+OK\r\n+OK\r\n":
        # The first command is answered; the stray second reply closes the connection, and
        # the next command finds it closed and connects again.
        assert outcomes == ["set", "set", "set"]
    else:
        assert outcomes == ["unavailable", "set", "set"]
    assert connections == 2
    assert elapsed < 2.0  # the silent server's one timeout, not one per command
