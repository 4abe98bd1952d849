"""``RedisProofReplayCache``: DPoP proofs remembered by every instance behind one Redis, so
that a proof accepted at one instance is refused at all the others (RFC 9449 section 11.1).

Needs the ``redis`` extra (``pip install "jwt-middleware-asgi[redis]"``).

First use is decided by Redis alone, with one command per proof::

    SET <key_prefix><32 hex digits> 1 NX PX <milliseconds until the proof stops being accepted>

Of any number of instances that see the same proof at once, exactly one sets the key and
accepts it; the key expires by itself when no instance would accept the proof anyway, so
Redis never holds more than one proof window of proofs. There is no local view (as the
revocation store has): a local view can say that a proof was seen, never that it was
not, so every DPoP request costs one round trip to Redis.

It lives here, beside the in-memory cache, rather than in :mod:`jwt_middleware.revocation`:
it implements :class:`~.dpop_replay.ProofReplayCache` and shares no state or message with
the revocation store (no pub/sub, no snapshot); of that store's plumbing it needs only the
client and its bounded timeouts, which both take from :mod:`jwt_middleware.redis_client`.

When Redis cannot answer in time, :meth:`~RedisProofReplayCache.first_use` raises
:class:`~jwt_middleware.errors.ProofReplayUnavailableError`: never a guess, since a proof
whose first use cannot be established may be a replay. The DPoP authenticator answers it
with 503 or 401 (``JWT_DPOP_REPLAY_ON_ERROR``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from ..errors import ProofReplayUnavailableError
from ..redis_client import REDIS_ERRORS, RedisOutage, redis_client
from ..redis_set_once import SetOnce, target

__all__ = ["RedisProofReplayCache"]


class RedisProofReplayCache:
    """The proofs seen by every instance that uses the same Redis and ``key_prefix``.

    ``client`` is a ``redis://``, ``rediss://`` or ``unix://`` URL, or a client the caller
    owns: a ``redis.asyncio.Redis`` (a single server, or one managed by Sentinel,
    ``Sentinel(...).master_for(name)``, whose connections follow the primary through a
    failover) or a ``redis.asyncio.RedisCluster`` (each proof's key lives on one primary:
    ``SET NX`` needs nothing more). A client built from a URL is closed by :meth:`aclose`;
    one passed in is left to its owner, and its own timeouts apply inside
    ``timeout_seconds``. Like any ``redis.asyncio`` client, the cache belongs to one event
    loop: the one that serves the application.

    Every call is bounded by ``timeout_seconds``. The start and the end of an outage are
    logged once each, with the error's class only: never a proof, a ``jti`` or a key, nor
    the error's text (which may hold the server's address and, with it, a password).

    Redis replicates asynchronously: a primary that dies before its replica received a
    proof's key takes it along, and the proof could be accepted once more at the new
    primary within its window. Short proof windows (``JWT_DPOP_PROOF_SECONDS``) keep that
    instant small.
    """

    __slots__ = (
        "_client",
        "_clock",
        "_key_prefix",
        "_outage",
        "_owns_client",
        "_set_once",
        "_timeout",
    )

    def __init__(
        self,
        client: str | Redis | RedisCluster,
        *,
        key_prefix: str = "jwt:dpop:",
        timeout_seconds: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not key_prefix:
            raise ValueError("key_prefix must not be empty")
        self._client, self._owns_client = redis_client(client, timeout_seconds=timeout_seconds)
        where = target(client) if isinstance(client, str) else None
        #: The command's own connection, for a URL it understands; else ``_client``.
        self._set_once = (
            SetOnce(where, timeout_seconds=timeout_seconds) if where is not None else None
        )
        self._key_prefix = key_prefix
        self._timeout = timeout_seconds
        self._clock = clock
        self._outage = RedisOutage("DPoP replay store")

    @property
    def client(self) -> Redis | RedisCluster:
        """The redis-py client of the cache's Redis: the one its command goes through when
        it was given a client (or a URL with options only redis-py knows); for another URL,
        a client of the same server that the cache itself never uses (its command has a
        connection of its own), there to look at the keys."""
        return self._client

    def key(self, key: bytes) -> str:
        """The Redis key of a proof's replay key (:func:`~.dpop_replay.replay_key`)."""
        return self._key_prefix + key.hex()

    def first_use_now(self, key: bytes, *, expires_at: float) -> bool | None:
        """Never known without Redis: ``None``, having recorded nothing."""
        return None

    async def first_use(self, key: bytes, *, expires_at: float) -> bool:
        """``SET NX PX`` the proof's key until ``expires_at`` (wall-clock seconds): whether
        this call set it. Raises :class:`ProofReplayUnavailableError` when Redis cannot
        answer within ``timeout_seconds``."""
        # Rounded up, so the key never disappears while the proof is still accepted.
        milliseconds = max(1, math.ceil((expires_at - self._clock()) * 1000))
        set_once = self._set_once
        try:
            if set_once is not None:  # which bounds its own time, more cheaply
                stored = await set_once.set(self.key(key).encode(), milliseconds)
            else:
                async with asyncio.timeout(self._timeout):
                    stored = bool(
                        await self._client.set(self.key(key), b"1", nx=True, px=milliseconds)
                    )
        except REDIS_ERRORS as exc:
            if set_once is not None:
                set_once.reset()  # whatever went wrong on it, the next command reconnects
            self._outage.began(exc, "DPoP requests are refused until it answers")
            raise ProofReplayUnavailableError from None
        self._outage.ended()
        return stored

    async def aclose(self) -> None:
        """Close the client if the cache created it from a URL. Safe to call twice."""
        if self._set_once is not None:
            await self._set_once.aclose()
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        # Never the URL: it may carry a password.
        return f"RedisProofReplayCache(key_prefix={self._key_prefix!r})"
