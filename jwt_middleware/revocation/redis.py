"""``RedisRevocationStore``: revocations shared by every instance behind one Redis.

Needs the ``redis`` extra (``pip install "jwt-middleware-asgi[redis]"``).

Each instance keeps a *local view* of the revoked ids, so a request asks a dict, not Redis:
a pure :class:`~.view.RevocationView` (what a message or a snapshot means, which entries
still refuse their token, whether it may answer), kept current from a Redis pub/sub channel
by a :class:`~.follow.RevocationFollower` (why pub/sub: see :mod:`.follow`).

When the view is not known to be current (at start, after a lost connection, a silent
network partition), :meth:`~RedisRevocationStore.is_revoked` asks Redis (``EXISTS``)
instead, and when Redis cannot answer either, ``on_error`` decides, as before. This module
owns that side: ``SET``/``EXISTS``, the outage policy, and the follower's life.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from ..errors import RevocationStoreUnavailableError
from ..redis_client import REDIS_ERRORS, RedisOutage, redis_client
from ..telemetry import instruments
from . import Clock, bounded_expiry, check_jti, jti_of
from .cluster import check_cluster_support
from .follow import RevocationFollower
from .view import RevocationView

if TYPE_CHECKING:
    from ..settings import JWTSettings

__all__ = ["RedisRevocationStore"]

logger = logging.getLogger("jwt_middleware")


class RedisRevocationStore:
    """Revocations in Redis, shared by every instance that uses the same server and prefix.

    :meth:`revoke` sets ``<key_prefix><jti>`` with a TTL that ends when the token stops
    verifying (its ``exp`` plus ``leeway_seconds``, at least one second), so Redis drops
    the entry itself and never holds more than one token lifetime of revocations.
    :meth:`revoke_once` is the same ``SET`` with ``NX``, so Redis decides which of any
    number of concurrent callers, on any instance, is first. Both also publish
    ``"<deadline> <jti>"`` on the channel named ``key_prefix``, in the same transaction.

    With ``local_view=True`` (the default) :meth:`is_revoked` answers from the instance's
    local view of the revoked ids (see the module's documentation) while that view is known
    to be current, and with one ``EXISTS`` otherwise; with ``local_view=False``, always with
    one ``EXISTS``. The view starts on the first :meth:`is_revoked` (or :meth:`start`), in a
    task of its own, and :meth:`aclose` stops it. A revocation written to Redis by other
    software without the message reaches the view at its next full read
    (``resync_seconds``), so write revocations with :meth:`revoke`. A revocation cannot be
    taken back by deleting its key: instances that saw it keep refusing the token until it
    expires.

    Every call is bounded by ``timeout_seconds``. When Redis cannot answer in time:

    * :meth:`is_revoked` with ``on_error="deny"`` (the default) raises
      :class:`RevocationStoreUnavailableError`, which the middleware answers with 503;
      with ``on_error="allow"`` it logs a warning and reports the token as not revoked,
      trading revocation for availability during the outage.
    * :meth:`revoke` and :meth:`revoke_once` always raise
      :class:`RevocationStoreUnavailableError`: a logout that was not recorded must not look
      as if it succeeded, nor a single-use token be used without having been recorded.

    ``client`` is a ``redis://``, ``rediss://`` or ``unix://`` URL, or a client the caller
    owns: a ``redis.asyncio.Redis`` (a single server, or one managed by Sentinel,
    ``Sentinel(...).master_for(name)``, whose connections follow the primary through a
    failover) or a ``redis.asyncio.RedisCluster``. In a cluster the key and its message go
    to two primaries, so :meth:`revoke` writes the key, then announces it with
    ``SPUBLISH``, and raises if the announcement fails (the key may be written: calling it
    again is harmless); :meth:`revoke_once` answers as soon as the key is written, since
    ``SET NX`` alone decides the first use. The local view subscribes with ``SSUBSCRIBE``
    and reads every primary (:mod:`.cluster`). A client built from a URL is closed by
    :meth:`aclose`; one passed in is left to its owner, and its own timeouts apply inside
    ``timeout_seconds``. Like any ``redis.asyncio`` client, the store belongs to one event
    loop: the one that serves the application.

    With ``telemetry`` (and OpenTelemetry installed), the local view's staleness is the
    gauge ``jwt_middleware.revocation.view.staleness`` (:mod:`~jwt_middleware.telemetry`);
    :meth:`from_settings` takes it from ``JWT_TELEMETRY``.
    """

    __slots__ = (
        "__weakref__",
        "_client",
        "_clock",
        "_follower",
        "_key_prefix",
        "_leeway",
        "_on_error",
        "_outage",
        "_owns_client",
        "_timeout",
        "_view",
    )

    def __init__(
        self,
        client: str | Redis | RedisCluster,
        *,
        key_prefix: str = "jwt:revoked:",
        on_error: Literal["deny", "allow"] = "deny",
        timeout_seconds: float = 0.5,
        leeway_seconds: int = 0,
        clock: Clock = time.time,
        local_view: bool = True,
        max_staleness_seconds: float = 1.0,
        resync_seconds: float = 300.0,
        telemetry: bool = True,
    ) -> None:
        if not key_prefix:
            raise ValueError("key_prefix must not be empty")
        if on_error not in ("deny", "allow"):
            raise ValueError("on_error must be 'deny' or 'allow'")
        if leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")
        view = RevocationView(max_staleness_seconds=max_staleness_seconds)
        if not (math.isfinite(resync_seconds) and resync_seconds > 0):
            raise ValueError("resync_seconds must be a positive number")
        if isinstance(client, RedisCluster):
            check_cluster_support()
        self._client, self._owns_client = redis_client(client, timeout_seconds=timeout_seconds)
        self._key_prefix = key_prefix
        self._on_error = on_error
        self._timeout = timeout_seconds
        self._leeway = leeway_seconds
        self._clock = clock
        self._outage = RedisOutage("revocation store")
        self._view = view
        self._follower = (
            RevocationFollower(
                self._client,
                view,
                key_prefix=key_prefix,
                timeout_seconds=timeout_seconds,
                # A few times per staleness bound, so one late PONG does not end the view.
                heartbeat_seconds=max_staleness_seconds / 4,
                resync_seconds=resync_seconds,
                clock=clock,
            )
            if local_view
            else None
        )
        reported = instruments() if local_view and telemetry else None
        if reported is not None:  # the view's staleness, a gauge
            reported.views[self] = key_prefix

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        key_prefix: str = "jwt:revoked:",
        on_error: Literal["deny", "allow"] = "deny",
        timeout_seconds: float = 0.5,
        leeway_seconds: int = 0,
        local_view: bool = True,
        max_staleness_seconds: float = 1.0,
    ) -> RedisRevocationStore:
        """A store with its own client for ``url`` (e.g. from settings); no connection yet."""
        return cls(
            url,
            key_prefix=key_prefix,
            on_error=on_error,
            timeout_seconds=timeout_seconds,
            leeway_seconds=leeway_seconds,
            local_view=local_view,
            max_staleness_seconds=max_staleness_seconds,
        )

    @classmethod
    def from_settings(
        cls,
        settings: JWTSettings,
        *,
        client: str | Redis | RedisCluster,
        key_prefix: str = "jwt:revoked:",
        on_error: Literal["deny", "allow"] = "deny",
        timeout_seconds: float = 0.5,
        clock: Clock = time.time,
        local_view: bool = True,
        max_staleness_seconds: float = 1.0,
        resync_seconds: float = 300.0,
    ) -> RedisRevocationStore:
        """A store that keeps entries as long as ``settings``' verifier accepts a token
        (``JWT_LEEWAY_SECONDS`` past its ``exp``), talking to ``client`` (a URL, a
        ``redis.asyncio.Redis`` or a ``RedisCluster``, as for the constructor: the settings
        name no Redis)."""
        return cls(
            client,
            key_prefix=key_prefix,
            on_error=on_error,
            timeout_seconds=timeout_seconds,
            leeway_seconds=settings.leeway_seconds,
            clock=clock,
            local_view=local_view,
            max_staleness_seconds=max_staleness_seconds,
            resync_seconds=resync_seconds,
            telemetry=settings.telemetry,
        )

    @property
    def client(self) -> Redis | RedisCluster:
        """The Redis client the store talks through."""
        return self._client

    def key(self, jti: str) -> str:
        """The Redis key that marks ``jti`` as revoked."""
        return self._key_prefix + jti

    async def revoke(self, jti: str, *, expires_at: int) -> None:
        await self._record(jti, expires_at, only_if_new=False)

    async def revoke_once(self, jti: str, *, expires_at: int) -> bool:
        """See :meth:`SingleUseStore.revoke_once`; one ``SET NX EX``, atomic in Redis."""
        return await self._record(jti, expires_at, only_if_new=True)

    @property
    def view(self) -> RevocationView:
        """The local view (read it; only the store's follower writes to it)."""
        return self._view

    @property
    def _revoked(self) -> Mapping[str, float]:
        # The view's entries under the name the store's own tests knew before the split.
        return self._view.entries

    def staleness_seconds(self) -> float | None:
        """Seconds since the local view was last proved current (see
        :attr:`~.view.RevocationView.confirmed_at`), or ``None`` before that."""
        confirmed_at = self._view.confirmed_at
        return None if confirmed_at is None else time.monotonic() - confirmed_at

    @property
    def view_is_current(self) -> bool:
        """Whether :meth:`is_revoked` answers from the local view right now."""
        return self._view.is_current(time.monotonic())

    async def start(self) -> None:
        """Start following revocations into the local view (the first :meth:`is_revoked`
        does it too); a no-op without ``local_view`` or when it runs already."""
        if self._follower is not None:
            self._follower.start()

    async def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        jti = jti_of(claims)
        if jti is None:
            return False
        answer = self._view.answer(jti, time.monotonic(), self._clock)
        if answer is not None:
            return answer
        if self._follower is not None and not self._follower.started:
            await self.start()
        return await self._ask_redis(jti)

    async def _ask_redis(self, jti: str) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                found = await self._client.exists(self.key(jti))
        except REDIS_ERRORS as exc:
            self._outage.began(exc, self._outage_consequence)
            if self._on_error == "allow":
                return False
            raise RevocationStoreUnavailableError from None
        self._outage.ended()
        return bool(found)

    @property
    def _outage_consequence(self) -> str:
        """What requests get while Redis does not answer, for the outage's log line."""
        if self._on_error == "allow":
            return "tokens are treated as not revoked until it answers (on_error='allow')"
        return "requests with a token get 503 until it answers"

    async def _record(self, jti: str, expires_at: int, *, only_if_new: bool) -> bool:
        """Set the key of ``jti`` until its token stops verifying; whether this call set it.

        Without ``only_if_new`` a known key is set again, TTL and all.
        """
        check_jti(jti)
        expires_at = bounded_expiry(expires_at)
        remaining = expires_at + self._leeway - self._clock()
        if remaining <= 0:
            return True
        # Rounded up, so the key never disappears while the token still verifies.
        ttl = max(1, math.ceil(remaining))
        # A whole second, rounded up likewise: the message carries an integer, which every
        # instance reads (one made before floats were read would ignore "1700000000.5").
        deadline = math.ceil(expires_at + self._leeway)
        if isinstance(self._client, RedisCluster):
            return await self._record_in_cluster(
                self._client, jti, ttl, deadline, only_if_new=only_if_new
            )
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.pipeline(transaction=True) as pipe:
                    pipe.set(self.key(jti), "1", ex=ttl, nx=only_if_new)
                    pipe.publish(self._key_prefix, f"{deadline} {jti}")
                    stored, _listeners = await pipe.execute()
        except REDIS_ERRORS as exc:
            logger.warning(
                "revocation store (Redis) unreachable (%s); revocation not recorded",
                type(exc).__name__,
            )
            raise RevocationStoreUnavailableError from None
        # This instance refuses the token at once, without waiting for its own message.
        self._view.remember(jti, deadline)
        return bool(stored)

    async def _record_in_cluster(
        self, client: RedisCluster, jti: str, ttl: int, deadline: int, *, only_if_new: bool
    ) -> bool:
        """:meth:`_record` on a cluster: the key, then its announcement (see :mod:`.cluster`
        for why this order loses nothing)."""
        answered = False
        try:
            async with asyncio.timeout(self._timeout):
                stored = await client.set(self.key(jti), "1", ex=ttl, nx=only_if_new)
            answered = True
            async with asyncio.timeout(self._timeout):
                await client.spublish(self._key_prefix, f"{deadline} {jti}")
        except REDIS_ERRORS as exc:
            if not answered:
                logger.warning(
                    "revocation store (Redis) unreachable (%s); revocation not recorded",
                    type(exc).__name__,
                )
                raise RevocationStoreUnavailableError from None
            self._view.remember(jti, deadline)  # the key is there: this instance refuses it
            logger.warning(
                "revocation store (Redis): recorded, not announced (%s); other instances "
                "see it at their next full read",
                type(exc).__name__,
            )
            if not only_if_new:
                # A logout is reported done only once every instance will refuse the token
                # soon; calling revoke again writes and announces it again.
                raise RevocationStoreUnavailableError from None
            # A single use is decided by SET NX alone, announced or not.
            return bool(stored)
        self._view.remember(jti, deadline)
        return bool(stored)

    async def aclose(self) -> None:
        """Stop the local view, and close the client if the store created it from a URL."""
        self._view.lose()
        if self._follower is not None:
            await self._follower.aclose()
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        # Never the URL: it may carry a password.
        return (
            f"RedisRevocationStore(key_prefix={self._key_prefix!r}, on_error={self._on_error!r}, "
            f"local_view={self._follower is not None!r})"
        )
