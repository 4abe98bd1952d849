"""``RevocationFollower``: keeps a :class:`~.view.RevocationView` current from Redis.

Needs the ``redis`` extra. The view is filled from a snapshot of the keys and kept current
by a Redis pub/sub channel on which every
:meth:`~.redis.RedisRevocationStore.revoke` announces itself, with a heartbeat on that
channel's connection that proves the view current. Why pub/sub, and not Redis' other two
ways of hearing about changes:

* **Keyspace notifications** need ``notify-keyspace-events`` set on the server, which
  managed services often do not let an application change, and fire for every write under
  every prefix; a notification names the key but not its TTL, so each one costs a read-back.
* **Client-side caching** (``CLIENT TRACKING``) invalidates keys a connection has read; it
  tells an instance to forget, not what to refuse, so every token would still cost one
  lookup before it is cached, and broadcast mode also needs a read-back per key.
* **Pub/sub** works on any Redis (managed ones included) with no configuration, and the
  message carries the id and the deadline, so applying it costs nothing. Its one weakness,
  at-most-once delivery, is covered by reading the whole snapshot again after every
  reconnect, before the view counts as current, and by the heartbeat: the view answers
  only while a ``PING`` sent on the subscribed connection less than ``max_staleness_seconds``
  ago has come back (Redis delivers every message published before it first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from . import Clock
from .cluster import channel_subscriber, keys_on_every_primary
from .view import RevocationView

__all__ = ["RevocationFollower"]

logger = logging.getLogger("jwt_middleware")

#: How often the local view drops the ids of tokens that have expired since (a full pass).
_FORGET_EVERY_SECONDS = 30.0
#: asyncio.timeout raises the builtin TimeoutError; sockets raise OSError.
_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError, TimeoutError)
#: A subscription confirmed (again): what redis-py sends when it reconnected on its own.
_SUBSCRIBED = frozenset({"subscribe", "ssubscribe"})
#: How many keys the snapshot of a cluster asks the TTL of in one pipeline.
_SNAPSHOT_BATCH = 1000


class SubscriptionRenewedError(Exception):
    """The client reconnected and subscribed again by itself: messages published while it
    was away are lost, so the session ends and the view is read again."""


class RevocationFollower:
    """One task that keeps ``view`` current for as long as it runs: subscribe to the
    channel named ``key_prefix``, read the snapshot, then apply messages and heartbeats;
    after any failure, mark the view lost and start over. The store starts it (on the
    first lookup) and stops it (:meth:`aclose`); every Redis call is bounded by
    ``timeout_seconds``, and the whole key set is read again every ``resync_seconds``.

    ``client`` is a ``Redis`` (a single server, or a Sentinel-managed one from
    ``Sentinel.master_for``: its connections follow the primary) or a ``RedisCluster``, for
    which the follower subscribes with ``SSUBSCRIBE`` on the channel's primary and reads
    the snapshot from every primary (:mod:`.cluster`). A subscription confirmed again in
    the middle of a session (redis-py reconnected on its own, after a failover for one)
    ends the session like any failure: what was published meanwhile is read again.
    """

    __slots__ = (
        "_client",
        "_clock",
        "_closed",
        "_failures",
        "_heartbeat",
        "_key_prefix",
        "_resync",
        "_task",
        "_timeout",
        "_view",
        "_view_lost",
    )

    def __init__(
        self,
        client: Redis | RedisCluster,
        view: RevocationView,
        *,
        key_prefix: str,
        timeout_seconds: float,
        heartbeat_seconds: float,
        resync_seconds: float,
        clock: Clock,
    ) -> None:
        self._client = client
        self._view = view
        self._key_prefix = key_prefix
        self._timeout = timeout_seconds
        self._heartbeat = heartbeat_seconds
        self._resync = resync_seconds
        self._clock = clock
        self._view_lost = False
        self._failures = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran (the task may have ended since, with :meth:`aclose`)."""
        return self._task is not None or self._closed

    def start(self) -> None:
        """Start the task on the running loop; a no-op when it runs already or was closed."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(
                self._follow(), name="jwt_middleware revocation view"
            )

    async def aclose(self) -> None:
        """Stop following; the view stops answering."""
        self._closed = True
        self._view.lose()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self) -> None:
        """Keep the view current until closed: subscribe, read the snapshot, then apply
        messages and heartbeats; after any failure, start over."""
        while not self._closed:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure means: reconnect and read it all again
                self._view.lose()
                if not self._view_lost:
                    self._view_lost = True
                    logger.warning(
                        "revocation view (Redis) lost (%s); requests ask Redis until it "
                        "is current again",
                        type(exc).__name__,
                    )
            self._failures += 1
            await asyncio.sleep(min(2.0, 0.05 * 2 ** min(self._failures, 6)))

    async def _session(self) -> None:
        subscriber: Redis | None = None
        pubsub: Any = None
        try:
            async with asyncio.timeout(self._timeout):
                if isinstance(self._client, RedisCluster):
                    subscriber = await channel_subscriber(self._client, self._key_prefix)
                    pubsub = subscriber.pubsub()
                    await pubsub.ssubscribe(self._key_prefix)
                else:
                    pubsub = self._client.pubsub()
                    await pubsub.subscribe(self._key_prefix)
                while True:  # Redis confirms the subscription before any message
                    message = await pubsub.get_message(timeout=self._timeout)
                    if message is not None and message["type"] in _SUBSCRIBED:
                        break
            # Subscribed first, so a revocation made during the snapshot is in one or both.
            await self._snapshot()
            resync_at = time.monotonic() + self._resync
            forget_at = time.monotonic() + _FORGET_EVERY_SECONDS
            while not self._closed:
                await self._beat(pubsub)
                self._failures = 0  # reconnect quickly after the next failure too
                if self._view_lost:
                    self._view_lost = False
                    logger.warning("revocation view (Redis) is current again")
                if time.monotonic() >= forget_at:
                    self._view.forget_expired(self._clock())
                    forget_at = time.monotonic() + _FORGET_EVERY_SECONDS
                if time.monotonic() >= resync_at:
                    await self._snapshot()
                    resync_at = time.monotonic() + self._resync
                await self._listen(pubsub, until=time.monotonic() + self._heartbeat)
        finally:
            self._view.lose()
            with contextlib.suppress(*_ERRORS):
                if pubsub is not None:
                    await pubsub.aclose()
                if subscriber is not None:
                    await subscriber.aclose()

    async def _beat(self, pubsub: Any) -> None:
        """PING on the subscribed connection; its PONG comes after every message Redis
        published before it, so the view is current as of the moment the PING left."""
        sent = time.monotonic()
        async with asyncio.timeout(self._timeout):
            await pubsub.ping()
            while True:
                message = await pubsub.get_message(timeout=self._timeout)
                if message is None:
                    continue
                if message["type"] == "pong":
                    break
                self._apply(message)
        self._view.confirm(sent)

    async def _listen(self, pubsub: Any, *, until: float) -> None:
        while (remaining := until - time.monotonic()) > 0:
            message = await pubsub.get_message(timeout=remaining)
            if message is not None:
                self._apply(message)

    def _apply(self, message: Mapping[str, Any]) -> None:
        """Hand a message to the view; a malformed one is logged, never with its text."""
        if message["type"] in _SUBSCRIBED:
            raise SubscriptionRenewedError
        if not self._view.apply(message):
            logger.warning("revocation view (Redis): a malformed message was ignored")

    async def _snapshot(self) -> None:
        """Every revoked id under the prefix, with the time its key ends."""
        pattern = self._key_prefix.replace("\\", "\\\\")
        for special in "*?[]":
            pattern = pattern.replace(special, "\\" + special)
        if isinstance(self._client, RedisCluster):
            await self._snapshot_cluster(self._client, pattern + "*")
            return
        cursor: int = 0
        while True:
            async with asyncio.timeout(self._timeout):
                cursor, keys = await self._client.scan(cursor, match=pattern + "*", count=1000)
                if keys:
                    now = self._clock()
                    async with self._client.pipeline(transaction=False) as pipe:
                        for key in keys:
                            pipe.pttl(key)
                        remaining = await pipe.execute()
                    self._view.apply_snapshot(self._jtis(keys, remaining), now=now)
            if cursor == 0:
                return

    async def _snapshot_cluster(self, client: RedisCluster, pattern: str) -> None:
        """The snapshot of a cluster: the keys of every primary, their TTLs read in batches
        (a pipeline sends each key's ``PTTL`` to the primary that holds it)."""
        async with contextlib.aclosing(keys_on_every_primary(client, pattern)) as keys:
            await self._read_ttls(client, keys)

    async def _read_ttls(self, client: RedisCluster, keys: AsyncIterator[Any]) -> None:
        """Each key's remaining time into the view, each step bounded by the timeout."""
        batch: list[Any] = []
        done = False
        while not done:
            async with asyncio.timeout(self._timeout):
                try:
                    batch.append(await anext(keys))
                except StopAsyncIteration:
                    done = True
                if batch and (done or len(batch) >= _SNAPSHOT_BATCH):
                    now = self._clock()
                    async with client.pipeline(transaction=False) as pipe:
                        for key in batch:
                            pipe.pttl(key)
                        remaining = await pipe.execute()
                    self._view.apply_snapshot(self._jtis(batch, remaining), now=now)
                    batch = []

    def _jtis(self, keys: list[Any], remaining: list[int]) -> Iterator[tuple[str, int]]:
        """``(jti, PTTL)`` for each key read: the key's name without the prefix."""
        start = len(self._key_prefix)
        for key, pttl in zip(keys, remaining, strict=True):
            name = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
            yield name[start:], pttl
