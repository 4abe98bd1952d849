"""Revocation stores: withdraw individual tokens before they expire (logout).

A store records the ``jti`` of a revoked token until the token would have expired anyway,
so it never holds more than the tokens revoked within one token lifetime. Its
:meth:`~RevocationStore.is_revoked` is the middleware's hook as it is::

    store = RedisRevocationStore.from_url("redis://localhost:6379/0")
    app.add_middleware(JWTAuthMiddleware, is_revoked=store.is_revoked)

    # in the logout handler, with the claims the middleware verified:
    await revoke_token_claims(store, current_claims(request))

Only tokens with a ``jti`` can be revoked one by one (:func:`create_jwt_token` always sets
one). A token without a ``jti`` is never reported revoked, and asking to revoke it raises
:class:`ValueError` instead of pretending the logout worked.

:class:`InMemoryRevocationStore` serves one process; :class:`RedisRevocationStore` is shared
by every instance behind the same Redis (needs the ``redis`` extra). Both are also a
:class:`SingleUseStore`: :meth:`~SingleUseStore.revoke_once` records a ``jti`` only if it is
new and says whether it was, which makes a token good for exactly one use (a refresh token).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from .errors import AuthenticationUnavailableError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "InMemoryRevocationStore",
    "RedisRevocationStore",
    "RevocationStore",
    "RevocationStoreFullError",
    "RevocationStoreUnavailableError",
    "SingleUseStore",
    "revoke_token_claims",
]

logger = logging.getLogger("jwt_middleware")

#: A wall clock in unix seconds, like ``time.time``; ``exp`` is measured against it.
Clock = Callable[[], float]


class RevocationStoreUnavailableError(AuthenticationUnavailableError):
    """The store could not answer or record a revocation (unreachable, timed out).

    A 503, so the middleware answers "try again" rather than "your token is bad", and a
    logout handler can answer the same way instead of reporting a logout that did not happen.
    """

    default_description = "Token revocation is temporarily unavailable."


class RevocationStoreFullError(RevocationStoreUnavailableError):
    """An :class:`InMemoryRevocationStore` reached ``max_entries`` of unexpired revocations.

    Raised by :meth:`~InMemoryRevocationStore.revoke` and
    :meth:`~InMemoryRevocationStore.revoke_once` only: forgetting an earlier revocation to
    make room would silently bring a logged-out token back to life, or let a single-use token
    be used again.
    """

    default_description = "Token revocation is temporarily unavailable."


@runtime_checkable
class RevocationStore(Protocol):
    """Where revoked token ids are kept until the tokens expire."""

    async def revoke(self, jti: str, *, expires_at: int) -> None:
        """Refuse the token ``jti`` from now on; ``expires_at`` is its ``exp`` (unix seconds).

        Recording a token that has already expired is a no-op: the verifier refuses it anyway.
        Raises if the revocation could not be recorded.
        """
        ...

    async def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """Whether the verified token with these claims was revoked (``False`` without ``jti``)."""
        ...


@runtime_checkable
class SingleUseStore(Protocol):
    """Where the ids of single-use tokens are kept, once used, until the tokens expire.

    Separate from :class:`RevocationStore`, so a third-party revocation store need not
    implement it; both stores shipped here do.
    """

    async def revoke_once(self, jti: str, *, expires_at: int) -> bool:
        """Record ``jti`` unless it is already recorded; ``True`` only for the first caller.

        Atomic: of any number of concurrent calls with one ``jti`` (on every instance sharing
        the store), exactly one gets ``True``. A token already past ``expires_at`` plus the
        store's leeway is not recorded and gets ``True``: the verifier refuses it anyway.
        Raises :class:`RevocationStoreUnavailableError` when it cannot tell.
        """
        ...


async def revoke_token_claims(store: RevocationStore, claims: Mapping[str, Any]) -> None:
    """Revoke the token whose verified claims these are, until its ``exp``.

    Raises :class:`ValueError` when the claims have no ``jti`` (the token cannot be revoked
    on its own) or no numeric ``exp``.
    """
    jti = _jti(claims)
    if jti is None:
        raise ValueError("the token has no jti, so it cannot be revoked individually")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        raise ValueError("the token has no numeric exp")
    await store.revoke(jti, expires_at=math.ceil(exp))


class InMemoryRevocationStore:
    """Revocations held in this process: for a single instance, tests and development.

    Entries are dropped once their token has expired (plus ``leeway_seconds``, which should
    equal the verifier's ``JWTSettings.leeway_seconds``, since the verifier still accepts a
    token that long after its ``exp``). Expired entries are purged on each :meth:`revoke`
    from a heap ordered by expiry, so the cost is amortised over the writes that created them.

    ``max_entries`` bounds the unexpired revocations held at once. When a new revocation
    would exceed it, :meth:`revoke` and :meth:`revoke_once` raise
    :class:`RevocationStoreFullError`; nothing that was revoked is ever forgotten early. Size
    it for logouts (and single-use tokens used) per token lifetime.

    Safe to share between threads and event loops; nothing here awaits.
    """

    __slots__ = ("_by_jti", "_clock", "_heap", "_leeway", "_lock", "_max_entries")

    def __init__(
        self,
        *,
        max_entries: int | None = None,
        leeway_seconds: int = 0,
        clock: Clock = time.time,
    ) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError("max_entries must be at least 1 or None")
        if leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")
        self._max_entries = max_entries
        self._leeway = leeway_seconds
        self._clock = clock
        # jti -> the moment its token stops verifying; the heap orders the same deadlines
        # for purging and may hold stale pairs for a jti revoked again with a later deadline.
        self._by_jti: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    async def revoke(self, jti: str, *, expires_at: int) -> None:
        self._record(jti, expires_at, only_if_new=False)

    async def revoke_once(self, jti: str, *, expires_at: int) -> bool:
        """See :meth:`SingleUseStore.revoke_once`; atomic under the store's lock."""
        return self._record(jti, expires_at, only_if_new=True)

    async def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        jti = _jti(claims)
        if jti is None:
            return False
        deadline = self._by_jti.get(jti)
        return deadline is not None and deadline > self._clock()

    def purge(self) -> int:
        """Drop every entry whose token has expired now; return how many were dropped.

        :meth:`revoke` does this itself; call it to release memory when revocations stop.
        """
        with self._lock:
            return self._purge(self._clock())

    def __len__(self) -> int:
        """Entries held, including expired ones not purged yet."""
        return len(self._by_jti)

    def __repr__(self) -> str:
        return f"InMemoryRevocationStore(<{len(self)} entries>, max_entries={self._max_entries})"

    def _record(self, jti: str, expires_at: int, *, only_if_new: bool) -> bool:
        """Record ``jti`` until its token stops verifying; whether it was not held before.

        A known ``jti`` keeps the later of its two deadlines, unless ``only_if_new``, which
        leaves it as it is.
        """
        _check_jti(jti)
        now = self._clock()
        deadline = float(expires_at + self._leeway)
        if deadline <= now:
            return True
        with self._lock:
            # After the purge every entry held is unexpired.
            self._purge(now)
            known = self._by_jti.get(jti)
            if known is not None and (only_if_new or known >= deadline):
                return False
            if (
                known is None
                and self._max_entries is not None
                and len(self._by_jti) >= self._max_entries
            ):
                logger.warning(
                    "revocation store full (%d entries); revocation refused", self._max_entries
                )
                raise RevocationStoreFullError
            self._by_jti[jti] = deadline
            heapq.heappush(self._heap, (deadline, jti))
            return known is None

    def _purge(self, now: float) -> int:
        dropped = 0
        while self._heap and self._heap[0][0] <= now:
            _, jti = heapq.heappop(self._heap)
            deadline = self._by_jti.get(jti)
            if deadline is not None and deadline <= now:
                del self._by_jti[jti]
                dropped += 1
        return dropped


class RedisRevocationStore:
    """Revocations in Redis, shared by every instance that uses the same server and prefix.

    :meth:`revoke` sets ``<key_prefix><jti>`` with a TTL that ends when the token stops
    verifying (its ``exp`` plus ``leeway_seconds``, at least one second), so Redis drops
    the entry itself and never holds more than one token lifetime of revocations.
    :meth:`revoke_once` is the same ``SET`` with ``NX``, so Redis decides which of any
    number of concurrent callers, on any instance, is first. :meth:`is_revoked` is one
    ``EXISTS``.

    Every call is bounded by ``timeout_seconds``. When Redis cannot answer in time:

    * :meth:`is_revoked` with ``on_error="deny"`` (the default) raises
      :class:`RevocationStoreUnavailableError`, which the middleware answers with 503;
      with ``on_error="allow"`` it logs a warning and reports the token as not revoked,
      trading revocation for availability during the outage.
    * :meth:`revoke` and :meth:`revoke_once` always raise
      :class:`RevocationStoreUnavailableError`: a logout that was not recorded must not look
      as if it succeeded, nor a single-use token be used without having been recorded.

    ``client`` is a ``redis://``, ``rediss://`` or ``unix://`` URL, or a
    ``redis.asyncio.Redis`` the caller owns. A client built from a URL is closed by
    :meth:`aclose`; one passed in is left to its owner, and its own timeouts apply inside
    ``timeout_seconds``. Like any ``redis.asyncio`` client, the store belongs to one event
    loop: the one that serves the application.
    """

    __slots__ = (
        "_client",
        "_clock",
        "_errors",
        "_key_prefix",
        "_leeway",
        "_on_error",
        "_owns_client",
        "_timeout",
        "_unreachable",
    )

    def __init__(
        self,
        client: str | Redis,
        *,
        key_prefix: str = "jwt:revoked:",
        on_error: Literal["deny", "allow"] = "deny",
        timeout_seconds: float = 0.5,
        leeway_seconds: int = 0,
        clock: Clock = time.time,
    ) -> None:
        try:
            from redis.asyncio import Redis
            from redis.exceptions import RedisError
        except ImportError as exc:
            raise ImportError(
                "RedisRevocationStore needs the redis extra: pip install 'jwt-middleware[redis]'"
            ) from exc

        if not key_prefix:
            raise ValueError("key_prefix must not be empty")
        if on_error not in ("deny", "allow"):
            raise ValueError("on_error must be 'deny' or 'allow'")
        if not (math.isfinite(timeout_seconds) and timeout_seconds > 0):
            raise ValueError("timeout_seconds must be a positive number")
        if leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")
        if isinstance(client, str):
            self._client: Redis = Redis.from_url(
                client, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
            )
            self._owns_client = True
        else:
            self._client = client
            self._owns_client = False
        self._key_prefix = key_prefix
        self._on_error = on_error
        self._timeout = timeout_seconds
        self._leeway = leeway_seconds
        self._clock = clock
        self._unreachable = False
        # asyncio.timeout raises the builtin TimeoutError; sockets raise OSError.
        self._errors: tuple[type[Exception], ...] = (RedisError, OSError, TimeoutError)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        key_prefix: str = "jwt:revoked:",
        on_error: Literal["deny", "allow"] = "deny",
        timeout_seconds: float = 0.5,
        leeway_seconds: int = 0,
    ) -> RedisRevocationStore:
        """A store with its own client for ``url`` (e.g. from settings); no connection yet."""
        return cls(
            url,
            key_prefix=key_prefix,
            on_error=on_error,
            timeout_seconds=timeout_seconds,
            leeway_seconds=leeway_seconds,
        )

    @property
    def client(self) -> Redis:
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

    async def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        jti = _jti(claims)
        if jti is None:
            return False
        try:
            async with asyncio.timeout(self._timeout):
                found = await self._client.exists(self.key(jti))
        except self._errors as exc:
            self._outage(exc)
            if self._on_error == "allow":
                return False
            raise RevocationStoreUnavailableError from None
        if self._unreachable:
            self._unreachable = False
            logger.warning("revocation store (Redis) answers again")
        return bool(found)

    def _outage(self, exc: Exception) -> None:
        """Log the start of an outage once, with the error's class only (never its text,
        which may hold the server's address and, with it, a password)."""
        if self._unreachable:
            return
        self._unreachable = True
        consequence = (
            "tokens are treated as not revoked until it answers (on_error='allow')"
            if self._on_error == "allow"
            else "requests with a token get 503 until it answers"
        )
        logger.error(
            "revocation store (Redis) unreachable (%s); %s", type(exc).__name__, consequence
        )

    async def _record(self, jti: str, expires_at: int, *, only_if_new: bool) -> bool:
        """Set the key of ``jti`` until its token stops verifying; whether this call set it.

        Without ``only_if_new`` a known key is set again, TTL and all.
        """
        _check_jti(jti)
        remaining = expires_at + self._leeway - self._clock()
        if remaining <= 0:
            return True
        # Rounded up, so the key never disappears while the token still verifies.
        ttl = max(1, math.ceil(remaining))
        try:
            async with asyncio.timeout(self._timeout):
                stored = await self._client.set(self.key(jti), "1", ex=ttl, nx=only_if_new)
        except self._errors as exc:
            logger.warning(
                "revocation store (Redis) unreachable (%s); revocation not recorded",
                type(exc).__name__,
            )
            raise RevocationStoreUnavailableError from None
        return bool(stored)

    async def aclose(self) -> None:
        """Close the client if the store created it from a URL."""
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        # Never the URL: it may carry a password.
        return f"RedisRevocationStore(key_prefix={self._key_prefix!r}, on_error={self._on_error!r})"


def _jti(claims: Mapping[str, Any]) -> str | None:
    jti = claims.get("jti")
    return jti if isinstance(jti, str) and jti else None


def _check_jti(jti: str) -> None:
    if not isinstance(jti, str) or not jti:
        raise ValueError("jti must be a non-empty string")
