"""``SetOnce``: the one command the fleet-wide DPoP replay check sends to Redis,
``SET <key> 1 NX PX <milliseconds>``, over a connection of its own that carries nothing else.

Why not the ``redis.asyncio`` client the rest of the library talks through: the check
sends one command per DPoP request, and through that client's pool, retry and
notification machinery a ``SET`` costs a request about 130 us on loopback, where the
round trip itself (asyncio streams, the same command) costs about 35 us. This module
speaks just enough RESP2 for that command and for ``AUTH`` and ``SELECT``, and nothing of
Redis that it does not need: commands are written as they come, any number in flight on
the one connection (Redis answers in order), and a reply is one of three lines:
``+OK`` (the key was set), ``$-1`` (it was there already) or anything else, which closes
the connection, since a reply this module cannot read is never a guess.

A connection that fails, that a caller gave up waiting on (:meth:`SetOnce.reset`, after a
timeout) or that answers what was not asked is closed; every command in flight on it
fails with :class:`ConnectionError`, and the next command connects afresh (a primary that
moved after a failover is found by its name again). The URL is read by redis-py's own
parser, so that a URL means here what it means to the revocation store: host, port,
``db``, user name and password, a ``unix://`` socket, and TLS for ``rediss://`` (the
server's certificate verified against the system's authorities, its name checked). A URL
with any other option (``?ssl_ca_certs=...``, say) is for redis-py's client: :func:`target`
returns ``None`` and :class:`~.verification.dpop_replay_redis.RedisProofReplayCache` uses
that client instead. So do Redis Cluster and Sentinel, passed in as clients.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Final, NamedTuple, cast

from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

__all__ = ["SetOnce", "Target", "target"]

#: What redis-py's ``parse_url`` may find in a URL for :class:`SetOnce` to take it.
_UNDERSTOOD: Final = frozenset({"host", "port", "db", "username", "password", "path"})
#: A reply line longer than this, without its end, is not one of the three this reads.
_MAX_PENDING_BYTES: Final = 1024


class Target(NamedTuple):
    """Where a :class:`SetOnce` connects, and how it logs in."""

    host: str
    port: int
    path: str | None
    tls: bool
    username: str | None
    password: str | None
    db: int


def target(url: str) -> Target | None:
    """The :class:`Target` of a ``redis://``, ``rediss://`` or ``unix://`` URL, or ``None``
    for a URL with options only redis-py's client understands. Raises :class:`ValueError`
    for a URL redis-py refuses too."""
    options = parse_url(url)
    connection_class = options.pop("connection_class", None)
    if not options.keys() <= _UNDERSTOOD or connection_class not in (
        None,
        SSLConnection,
        UnixDomainSocketConnection,
    ):
        return None
    return Target(
        host=str(options.get("host", "localhost")),
        port=int(options.get("port", 6379)),
        path=options.get("path"),
        tls=connection_class is SSLConnection,
        username=options.get("username"),
        password=options.get("password"),
        db=int(options.get("db", 0)),
    )


def _command(*arguments: bytes) -> bytes:
    """One RESP2 command (an array of bulk strings): for ``AUTH`` and ``SELECT``."""
    parts = [b"*%d\r\n" % len(arguments)]
    for argument in arguments:
        parts.append(b"$%d\r\n%b\r\n" % (len(argument), argument))
    return b"".join(parts)


#: ``SET <key> 1 NX PX <milliseconds>`` with the key and the milliseconds to fill in: one
#: format per command, a quarter of what :func:`_command` costs.
_SET: Final = b"*6\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$1\r\n1\r\n$2\r\nNX\r\n$2\r\nPX\r\n$%d\r\n%b\r\n"


class _Replies(asyncio.Protocol):
    """One connection: commands written, their replies matched to them in order.

    A command not answered within ``timeout`` seconds closes the connection (failing it
    and every later one): one timer watches the oldest command in flight, rather than a
    timer per command (``asyncio.timeout`` costs a request some 3 us)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._waiting: deque[asyncio.Future[bool]] = deque()
        #: When each command of ``_waiting`` was sent (the loop's clock), in order.
        self._sent: deque[float] = deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._partial = b""
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports are not asyncio.Transport's subclasses.
        self._transport = cast(asyncio.Transport, transport)

    def send(self, command: bytes) -> asyncio.Future[bool]:
        """Write ``command``; its reply: ``True`` for ``+OK``, ``False`` for a null."""
        if self.closed or self._transport is None:
            raise ConnectionError("the connection to Redis is closed")
        loop = self._loop
        reply: asyncio.Future[bool] = loop.create_future()
        self._waiting.append(reply)
        self._sent.append(loop.time())
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._timeout, self._watch)
        self._transport.write(command)
        return reply

    def _watch(self) -> None:
        """Close the connection if its oldest command has waited ``timeout``; else look
        again when it will have."""
        self._watchdog = None
        if not self._sent:
            return
        due = self._sent[0] + self._timeout
        if due <= self._loop.time():
            self.close()
        else:
            self._watchdog = self._loop.call_at(due, self._watch)

    def data_received(self, data: bytes) -> None:
        received = self._partial + data if self._partial else data
        start = 0
        while (end := received.find(b"\r\n", start)) >= 0:
            line = received[start:end]
            start = end + 2
            if line == b"+OK":
                value = True
            elif line == b"$-1":
                value = False
            else:  # an error (-ERR, -READONLY, -NOAUTH...) or a reply never asked for
                self.close()
                return
            if not self._waiting:
                self.close()
                return
            reply = self._waiting.popleft()
            self._sent.popleft()
            if not reply.done():  # its caller may have stopped waiting (cancelled)
                reply.set_result(value)
        self._partial = received[start:]
        if len(self._partial) > _MAX_PENDING_BYTES:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_waiting()

    def close(self) -> None:
        """Close the connection; every command in flight fails."""
        self.closed = True
        if self._transport is not None:
            self._transport.abort()
        self._fail_waiting()

    def _fail_waiting(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._sent.clear()
        while self._waiting:
            reply = self._waiting.popleft()
            if not reply.done():
                reply.set_exception(ConnectionError("the connection to Redis closed"))


class SetOnce:
    """``SET key 1 NX PX ms`` on one pipelined connection to ``where`` (see the module's
    documentation), connected at the first command and again after a failure.

    Every command fails with :class:`OSError` within about ``timeout_seconds``: connecting
    (with logging in) is bounded by ``asyncio.timeout``; a command in flight by the
    connection's own watchdog, which closes a connection whose oldest command has waited
    that long, so a server that went silent is not waited on again. Belongs to the event
    loop it is first used in.
    """

    __slots__ = ("_connecting", "_connection", "_target", "_timeout")

    def __init__(self, where: Target, *, timeout_seconds: float) -> None:
        self._target = where
        self._timeout = timeout_seconds
        self._connection: _Replies | None = None
        self._connecting = asyncio.Lock()

    async def set(self, key: bytes, milliseconds: int) -> bool:
        """Set ``key`` unless it exists, to expire in ``milliseconds``: whether it was set.
        Raises :class:`OSError` (:class:`ConnectionError`) when Redis does not answer it."""
        connection = self._connection
        if connection is None or connection.closed:
            async with asyncio.timeout(self._timeout):
                connection = await self._connect()
        duration = b"%d" % milliseconds
        return await connection.send(_SET % (len(key), key, len(duration), duration))

    @property
    def connected(self) -> bool:
        """Whether a connection is open."""
        return self._connection is not None and not self._connection.closed

    def reset(self) -> None:
        """Close the connection; the next command reconnects."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def _connect(self) -> _Replies:
        async with self._connecting:  # one connection, however many requests wait for it
            connection = self._connection
            if connection is not None and not connection.closed:
                return connection
            loop = asyncio.get_running_loop()
            where = self._target
            replies = _Replies(loop, self._timeout)
            if where.path is not None:
                await loop.create_unix_connection(lambda: replies, where.path)
            else:
                context = ssl.create_default_context() if where.tls else None
                await loop.create_connection(lambda: replies, where.host, where.port, ssl=context)
            try:
                if where.password is not None:
                    login = [where.password.encode()]
                    if where.username is not None:
                        login.insert(0, where.username.encode())
                    await self._expect_ok(replies, _command(b"AUTH", *login))
                if where.db:
                    await self._expect_ok(replies, _command(b"SELECT", b"%d" % where.db))
            except BaseException:
                replies.close()
                raise
            self._connection = replies
            return replies

    @staticmethod
    async def _expect_ok(replies: _Replies, command: bytes) -> None:
        if not await replies.send(command):
            raise ConnectionError("Redis refused the connection's set-up")

    async def aclose(self) -> None:
        """Close the connection. Safe to call twice."""
        self.reset()
