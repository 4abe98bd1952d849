"""Real Redis deployments a test starts on free loopback ports and tears down afterwards: a
cluster of three primaries with one replica each, and a primary with one replica watched by
three sentinels.

Each is a :class:`Deployment`: a test asks it for a new client of the kind an application
would pass to the store and which primary holds a key, kills that primary with ``SIGKILL``
(:meth:`Server.kill`), and asks the deployment to wait (with a deadline, never a fixed
sleep) until the failover is over. Timeouts are small (a node or master is given up after
a second), so a failover takes a few seconds.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import redis
import redis.asyncio
import redis.cluster
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

from tests.services import require_service

__all__ = ["Deployment", "LocalCluster", "LocalSentinels", "local_cluster", "local_sentinels"]

#: How long a node (or a master, for the sentinels) may be silent before it counts as down.
NODE_TIMEOUT_MILLISECONDS = 1000
#: For deployments no test kills a server of (the suite's shared ones): long enough that a
#: node the loaded CI machine leaves unscheduled for a second is not voted down, which
#: would start a failover under tests that do not expect one.
STEADY_NODE_TIMEOUT_MILLISECONDS = 15000
#: A bound on starting a deployment or finishing a failover on a loaded machine.
SETUP_SECONDS = 30.0
FAILOVER_SECONDS = 20.0
SERVICE_NAME = "revocations"

AsyncClient = redis.asyncio.Redis | RedisCluster
#: A blocking client, for a test to look at keys from outside the event loop.
SyncClient = redis.Redis | redis.cluster.RedisCluster


class Deployment(Protocol):
    """What the tests need of a Redis deployment, whatever its kind."""

    #: How many primaries share the keys (a cluster's three; one behind Sentinel).
    primary_count: int

    def client(self) -> AsyncClient:
        """A new asyncio client, as an application would build it (the caller closes it)."""
        ...

    async def close_client(self, client: AsyncClient) -> None:
        """Close a client :meth:`client` made, with whatever it opened besides."""
        ...

    def inspector(self) -> SyncClient:
        """A blocking client on the current primaries, closed with the deployment."""
        ...

    def primary_for(self, key: str) -> Server:
        """The server that holds ``key`` now."""
        ...

    def wait_replicated(self) -> None:
        """Until every replica has everything its primary was sent."""
        ...

    def wait_failover(self, dead: Server, key: str) -> Server:
        """Until another server holds ``key`` and takes writes; that server."""
        ...


@dataclass
class Server:
    """One ``redis-server`` process of a deployment."""

    port: int
    process: subprocess.Popen[bytes]
    folder: Path

    def sync_client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2
        )

    def answers(self) -> bool:
        client = self.sync_client()
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def info(self, section: str) -> dict[str, Any]:
        client = self.sync_client()
        try:
            found: dict[str, Any] = client.info(section)
            return found
        finally:
            client.close()

    def command(self, *words: str) -> Any:
        """One command on a connection of its own, answered as redis-py parses it."""
        client = self.sync_client()
        try:
            return client.execute_command(*words)  # type: ignore[no-untyped-call]
        finally:
            client.close()

    def cluster_state(self) -> str:
        """``cluster_state`` of ``CLUSTER INFO``: ``ok`` once this node serves every slot."""
        text = self.command("CLUSTER", "INFO")
        text = text.decode() if isinstance(text, bytes) else str(text)
        fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
        return fields.get("cluster_state", "")

    def kill(self) -> None:
        """``SIGKILL``: no goodbye to its clients, replicas or peers."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(condition: Callable[[], bool], within: float, what: str) -> None:
    """Poll ``condition`` every 20 ms; fail the test naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not in {within} s: {what}"
        time.sleep(0.02)


def redis_binaries() -> tuple[str, str]:
    """``redis-server`` and ``redis-cli``, or the test is skipped (failed in CI)."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        require_service("redis-server and redis-cli are needed to start a cluster or sentinels")
    return server, cli


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (the kernel's choice, so parallel runs do not collide)."""
    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [listener.getsockname()[1] for listener in listeners]
    for listener in listeners:
        listener.close()
    return ports


def start_server(
    binary: str, folder: Path, port: int, *options: str, configuration: Path | None = None
) -> Server:
    """A ``redis-server`` on loopback ``port``, with no persistence, writing in ``folder``
    (a sentinel needs a ``configuration`` file of its own, which it rewrites)."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [binary] if configuration is None else [binary, str(configuration)]
    command += [*options, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    # A replica's first sync starts at once, not after the default 5 s of waiting for others.
    command += ["--repl-diskless-sync-delay", "0"]
    command += ["--dir", str(folder), "--logfile", str(folder / "redis.log")]
    process = subprocess.Popen(  # noqa: S603 - redis-server on PATH, our own arguments
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return Server(port=port, process=process, folder=folder)


def stop(servers: list[Server], inspectors: list[SyncClient]) -> None:
    """Close the inspecting clients, then stop every server."""
    for inspector in inspectors:
        inspector.close()
    for server in servers:
        server.stop()


# --- a cluster ------------------------------------------------------------------------------


@dataclass
class LocalCluster:
    """Three primaries and three replicas, made by ``redis-cli --cluster create``."""

    servers: list[Server]
    primary_count: int = 3
    inspectors: list[SyncClient] = field(default_factory=list)

    def inspector(self) -> SyncClient:
        if not self.inspectors:
            self.inspectors.append(
                redis.cluster.RedisCluster(
                    host="127.0.0.1", port=self.servers[0].port, socket_timeout=2
                )
            )
        return self.inspectors[0]

    def client(self) -> RedisCluster:
        nodes = [ClusterNode("127.0.0.1", server.port) for server in self.servers]
        return RedisCluster(startup_nodes=nodes, socket_timeout=1, socket_connect_timeout=1)

    async def close_client(self, client: AsyncClient) -> None:
        await client.aclose()

    def _live(self) -> list[Server]:
        return [server for server in self.servers if server.process.poll() is None]

    def _slots(self) -> list[Any]:
        """``CLUSTER SLOTS`` as one live node sees it."""
        for server in self._live():
            try:
                answer: list[Any] = server.command("CLUSTER", "SLOTS")
            except redis.RedisError:
                continue
            return answer
        raise AssertionError("no node of the cluster answers")

    def _owner_port(self, key: str) -> int:
        slot = int(self._live()[0].command("CLUSTER", "KEYSLOT", key))
        for low, high, primary, *_replicas in self._slots():
            if low <= slot <= high:
                return int(primary[1])
        raise AssertionError(f"slot {slot} is not served")

    def primaries(self) -> list[Server]:
        """The servers that own slots now."""
        ports = {int(primary[1]) for _low, _high, primary, *_replicas in self._slots()}
        return [server for server in self.servers if server.port in ports]

    def primary_for(self, key: str) -> Server:
        port = self._owner_port(key)
        return next(server for server in self.servers if server.port == port)

    def wait_replicated(self) -> None:
        def caught_up() -> bool:
            for server in self._live():
                replication = server.info("replication")
                if replication["role"] != "master":
                    continue
                offset = replication["master_repl_offset"]
                replicas = [v for k, v in replication.items() if k.startswith("slave")]
                if not replicas or any(replica["offset"] < offset for replica in replicas):
                    return False
            return True

        wait_until(caught_up, SETUP_SECONDS, "replicas caught up with their primaries")

    def wait_failover(self, dead: Server, key: str) -> Server:
        def promoted() -> bool:
            try:
                if self._owner_port(key) == dead.port:
                    return False
            except (AssertionError, redis.RedisError):
                return False
            return all(server.cluster_state() == "ok" for server in self._live())

        wait_until(promoted, FAILOVER_SECONDS, "a replica took over the dead primary's slots")
        return self.primary_for(key)


@contextlib.contextmanager
def local_cluster(
    folder: Path, *, node_timeout_ms: int = NODE_TIMEOUT_MILLISECONDS
) -> Iterator[LocalCluster]:
    """A cluster of three primaries with a replica each, on free ports, removed afterwards;
    a node silent for ``node_timeout_ms`` is failed over."""
    server_binary, cli = redis_binaries()
    ports = free_ports(12)
    servers: list[Server] = []
    cluster = LocalCluster(servers)
    try:
        for index, (port, bus) in enumerate(zip(ports[:6], ports[6:], strict=True)):
            options = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            options += ["--cluster-node-timeout", str(node_timeout_ms)]
            options += ["--cluster-port", str(bus), "--cluster-replica-validity-factor", "0"]
            servers.append(start_server(server_binary, folder / f"node-{index}", port, *options))
        for server in servers:
            wait_until(server.answers, SETUP_SECONDS, f"node on port {server.port} answers")
        addresses = [f"127.0.0.1:{server.port}" for server in servers]
        subprocess.run(  # noqa: S603 - redis-cli on PATH, our own arguments
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=SETUP_SECONDS,
        )

        def formed() -> bool:
            for server in servers:
                if server.cluster_state() != "ok":
                    return False
                replication = server.info("replication")
                if replication["role"] == "slave" and replication["master_link_status"] != "up":
                    return False
            return True

        wait_until(formed, SETUP_SECONDS, "the cluster is formed and replicated")
        yield cluster
    finally:
        stop(servers, cluster.inspectors)


# --- sentinels ------------------------------------------------------------------------------


@dataclass
class LocalSentinels:
    """One primary and one replica, watched by three sentinels that agree on a failover."""

    servers: list[Server]
    sentinels: list[Server]
    #: The ``Sentinel`` behind each client made, by the client's id, to close with it.
    managers: dict[int, Sentinel] = field(default_factory=dict)
    primary_count: int = 1
    inspectors: list[SyncClient] = field(default_factory=list)

    def inspector(self) -> SyncClient:
        if not self.inspectors:
            self.inspectors.append(self.primary_for("").sync_client())
        return self.inspectors[0]

    def _sentinel_addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", sentinel.port) for sentinel in self.sentinels]

    def client(self) -> redis.asyncio.Redis:
        manager = Sentinel(self._sentinel_addresses(), socket_timeout=1, socket_connect_timeout=1)
        client: redis.asyncio.Redis = manager.master_for(
            SERVICE_NAME, socket_timeout=1, socket_connect_timeout=1
        )
        self.managers[id(client)] = manager
        return client

    async def close_client(self, client: AsyncClient) -> None:
        await client.aclose()
        manager = self.managers.pop(id(client))
        for sentinel in manager.sentinels:
            await sentinel.aclose()

    def _master_port(self) -> int | None:
        for sentinel in self.sentinels:
            if sentinel.process.poll() is not None:
                continue
            try:
                address = sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE_NAME)
            except redis.RedisError:
                continue
            return int(address[1])
        return None

    def primary_for(self, key: str) -> Server:
        port = self._master_port()
        return next(server for server in self.servers if server.port == port)

    def wait_replicated(self) -> None:
        def caught_up() -> bool:
            replication = self.primary_for("").info("replication")
            replicas = [v for k, v in replication.items() if k.startswith("slave")]
            offset = replication["master_repl_offset"]
            return bool(replicas) and all(replica["offset"] >= offset for replica in replicas)

        wait_until(caught_up, SETUP_SECONDS, "the replica caught up with the primary")

    def wait_failover(self, dead: Server, key: str) -> Server:
        def promoted() -> bool:
            port = self._master_port()
            if port in (None, dead.port):
                return False
            server = next(server for server in self.servers if server.port == port)
            return bool(server.info("replication")["role"] == "master")

        wait_until(promoted, FAILOVER_SECONDS, "the sentinels promoted the replica")
        return self.primary_for(key)


@contextlib.contextmanager
def local_sentinels(
    folder: Path, *, node_timeout_ms: int = NODE_TIMEOUT_MILLISECONDS
) -> Iterator[LocalSentinels]:
    """A primary, its replica and three sentinels on free ports, removed afterwards; a
    primary silent for ``node_timeout_ms`` is failed over."""
    server_binary, _ = redis_binaries()
    primary_port, replica_port, *sentinel_ports = free_ports(5)
    servers: list[Server] = []
    sentinels: list[Server] = []
    deployment = LocalSentinels(servers, sentinels)
    try:
        servers.append(start_server(server_binary, folder / "primary", primary_port))
        servers.append(
            start_server(
                server_binary,
                folder / "replica",
                replica_port,
                "--replicaof",
                "127.0.0.1",
                str(primary_port),
            )
        )
        # Each sentinel is told the others and the replica up front, instead of learning
        # them from hello messages sent every two seconds.
        ids = {port: secrets.token_hex(20) for port in sentinel_ports}
        for index, port in enumerate(sentinel_ports):
            home = folder / f"sentinel-{index}"
            home.mkdir(parents=True)
            lines = [
                f"sentinel myid {ids[port]}",
                f"sentinel monitor {SERVICE_NAME} 127.0.0.1 {primary_port} 2",
                f"sentinel down-after-milliseconds {SERVICE_NAME} {node_timeout_ms}",
                f"sentinel failover-timeout {SERVICE_NAME} 2000",
                f"sentinel known-replica {SERVICE_NAME} 127.0.0.1 {replica_port}",
            ]
            lines += [
                f"sentinel known-sentinel {SERVICE_NAME} 127.0.0.1 {other} {ids[other]}"
                for other in sentinel_ports
                if other != port
            ]
            configuration = home / "sentinel.conf"
            configuration.write_text("\n".join(lines) + "\n")
            sentinels.append(
                start_server(server_binary, home, port, "--sentinel", configuration=configuration)
            )

        def watching() -> bool:
            if servers[1].info("replication").get("master_link_status") != "up":
                return False
            for sentinel in sentinels:
                try:
                    known = sentinel.command("SENTINEL", "SENTINELS", SERVICE_NAME)
                    replicas = sentinel.command("SENTINEL", "REPLICAS", SERVICE_NAME)
                except redis.RedisError:
                    return False
                if len(known) != 2 or len(replicas) != 1:
                    return False
            return True

        wait_until(watching, SETUP_SECONDS, "the sentinels know the replica and each other")
        yield deployment
    finally:
        stop([*sentinels, *servers], deployment.inspectors)
