"""``RedisRevocationStore``: revocations shared by every instance behind one Redis.

Needs the ``redis`` extra (``pip install "jwt-middleware-asgi[redis]"``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from typing import Any, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..errors import RevocationStoreUnavailableError
from . import Clock, check_jti, jti_of

__all__ = ["RedisRevocationStore"]

logger = logging.getLogger("jwt_middleware")


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
        jti = jti_of(claims)
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
        check_jti(jti)
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
