"""Login sessions: logout, refresh-token rotation and reuse detection, across instances.

Each login starts a *family*: a random id carried as ``fam`` in its refresh tokens and as
``sid`` in its access tokens (the library keeps ``fam`` for refresh tokens). Three kinds of
state are kept, each only until the tokens it concerns could no longer verify anyway:

* revoked access tokens, by ``jti`` (logout),
* revoked families, by id (logout, or a refresh token presented twice): every token of the
  family, access or refresh, is refused from then on,
* used refresh tokens, by ``jti``: each refresh token is good for exactly one refresh.

With ``REDIS_URL`` all of it lives in Redis, shared by every instance, and marking a
refresh token used is a single ``SET NX``: of two concurrent refreshes with the same token,
on the same instance or on two, exactly one wins. Without Redis it lives in this process,
which is right for one instance and wrong behind a load balancer (a logout on one instance
would not reach the others).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from jwt_middleware import (
    InMemoryRevocationStore,
    RedisRevocationStore,
    RevocationStore,
    RevocationStoreFullError,
    RevocationStoreUnavailableError,
    revoke_token_claims,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from jwt_middleware import JWTSettings

    from .settings import DemoSettings

__all__ = [
    "SESSION_CLAIM",
    "InMemoryUsedRefreshTokens",
    "RedisUsedRefreshTokens",
    "Sessions",
    "UsedRefreshTokens",
]

logger = logging.getLogger("demo_app")

#: The access-token claim that names the token's family (OpenID Connect's session id).
SESSION_CLAIM: Final = "sid"

#: Most unexpired entries of each kind one process keeps without Redis; a logout or refresh
#: that would need more is refused with 503 rather than forgetting an earlier one.
_IN_MEMORY_MAX_ENTRIES: Final = 100_000

#: A family is revoked for the longest lifetime any of its tokens can have, plus this much:
#: a refresh that passed its checks just before the revocation may still be signing.
_ISSUE_MARGIN_SECONDS: Final = 60


class UsedRefreshTokens(Protocol):
    """Remembers which refresh tokens were already exchanged."""

    async def mark_used(self, jti: str, *, expires_at: int) -> bool:
        """Record ``jti`` as used until ``expires_at``; ``True`` only for the first caller.

        Atomic: of any number of concurrent calls with one ``jti``, exactly one gets ``True``.
        Raises :class:`~jwt_middleware.RevocationStoreUnavailableError` when it cannot tell.
        """
        ...


class Sessions:
    """What logout and refresh change, and what the middleware asks on every request.

    Build it with :meth:`from_settings`; :meth:`is_revoked` is the middleware's hook.
    """

    __slots__ = ("_close", "_families", "_family_lifetime", "_tokens", "_used")

    def __init__(
        self,
        *,
        tokens: RevocationStore,
        families: RevocationStore,
        used_refresh_tokens: UsedRefreshTokens,
        family_lifetime_seconds: int,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._tokens = tokens
        self._families = families
        self._used = used_refresh_tokens
        self._family_lifetime = family_lifetime_seconds
        self._close = close

    @classmethod
    def from_settings(cls, settings: DemoSettings, jwt_settings: JWTSettings) -> Sessions:
        """Redis when ``REDIS_URL`` is set, this process otherwise. Connects on first use."""
        leeway = jwt_settings.leeway_seconds
        lifetime = (
            max(jwt_settings.expiry_seconds, jwt_settings.refresh_expiry_seconds)
            + _ISSUE_MARGIN_SECONDS
        )
        if settings.redis_url is None:
            return cls(
                tokens=InMemoryRevocationStore(
                    max_entries=_IN_MEMORY_MAX_ENTRIES, leeway_seconds=leeway
                ),
                families=InMemoryRevocationStore(
                    max_entries=_IN_MEMORY_MAX_ENTRIES, leeway_seconds=leeway
                ),
                used_refresh_tokens=InMemoryUsedRefreshTokens(
                    max_entries=_IN_MEMORY_MAX_ENTRIES, leeway_seconds=leeway
                ),
                family_lifetime_seconds=lifetime,
            )
        prefix = settings.redis_key_prefix
        tokens = RedisRevocationStore.from_url(
            settings.redis_url,
            key_prefix=prefix + "revoked:",
            on_error=settings.revocation_on_error,
            leeway_seconds=leeway,
        )
        # One client, one connection pool: the other two share the first store's.
        families = RedisRevocationStore(
            tokens.client,
            key_prefix=prefix + "family:",
            on_error=settings.revocation_on_error,
            leeway_seconds=leeway,
        )
        used = RedisUsedRefreshTokens(
            tokens.client, key_prefix=prefix + "refresh-used:", leeway_seconds=leeway
        )
        return cls(
            tokens=tokens,
            families=families,
            used_refresh_tokens=used,
            family_lifetime_seconds=lifetime,
            close=tokens.aclose,
        )

    async def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """Whether this verified access token, or its family, was revoked.

        The two lookups run side by side, so a Redis that hangs costs one timeout, not two.
        """
        family = claims.get(SESSION_CLAIM)
        if not isinstance(family, str) or not family:
            return await self._tokens.is_revoked(claims)
        token_revoked, family_revoked = await asyncio.gather(
            self._tokens.is_revoked(claims), self.family_revoked(family)
        )
        return token_revoked or family_revoked

    async def family_revoked(self, family: str) -> bool:
        """Whether the family ``family`` was revoked (logout or reuse)."""
        return await self._families.is_revoked({"jti": family})

    async def revoke_access_token(self, claims: Mapping[str, Any]) -> None:
        """Refuse this access token from now on. :class:`ValueError` if it has no ``jti``."""
        await revoke_token_claims(self._tokens, claims)

    async def revoke_family(self, family: str) -> None:
        """Refuse every token of ``family``, access and refresh, from now on."""
        await self._families.revoke(family, expires_at=int(time.time()) + self._family_lifetime)

    async def mark_refresh_token_used(self, claims: Mapping[str, Any]) -> bool:
        """Mark a verified refresh token used; ``False`` if it had been used before (reuse)."""
        return await self._used.mark_used(claims["jti"], expires_at=math.ceil(claims["exp"]))

    async def aclose(self) -> None:
        """Close the Redis connections, if any (at shutdown)."""
        if self._close is not None:
            await self._close()


class RedisUsedRefreshTokens:
    """Used refresh tokens as Redis keys ``<key_prefix><jti>``, set with ``NX`` and a TTL.

    The TTL ends when the token stops verifying (its ``exp`` plus ``leeway_seconds``), so
    the key outlives every chance to present the token again. Errors and timeouts raise
    :class:`~jwt_middleware.RevocationStoreUnavailableError` (a 503): a refresh must never
    succeed without its token having been marked.
    """

    __slots__ = ("_client", "_clock", "_errors", "_key_prefix", "_leeway", "_timeout")

    def __init__(
        self,
        client: Redis,
        *,
        key_prefix: str,
        leeway_seconds: int = 0,
        timeout_seconds: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from redis.exceptions import RedisError

        self._client = client
        self._key_prefix = key_prefix
        self._leeway = leeway_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._errors: tuple[type[Exception], ...] = (RedisError, OSError, TimeoutError)

    async def mark_used(self, jti: str, *, expires_at: int) -> bool:
        ttl = max(1, math.ceil(expires_at + self._leeway - self._clock()))
        try:
            async with asyncio.timeout(self._timeout):
                first = await self._client.set(self._key_prefix + jti, "1", nx=True, ex=ttl)
        except self._errors as exc:
            logger.warning("Redis unreachable; refresh token not marked used: %r", exc)
            raise RevocationStoreUnavailableError from exc
        return bool(first)


class InMemoryUsedRefreshTokens:
    """Used refresh tokens held in this process (one instance only).

    Entries leave once their token has expired; at ``max_entries`` unexpired ones,
    :meth:`mark_used` raises :class:`~jwt_middleware.RevocationStoreFullError` (503) rather
    than forget one, which would let that token be exchanged a second time.
    """

    __slots__ = ("_by_jti", "_clock", "_heap", "_leeway", "_lock", "_max_entries")

    def __init__(
        self,
        *,
        max_entries: int,
        leeway_seconds: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max_entries = max_entries
        self._leeway = leeway_seconds
        self._clock = clock
        self._by_jti: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    async def mark_used(self, jti: str, *, expires_at: int) -> bool:
        now = self._clock()
        deadline = float(expires_at + self._leeway)
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                _, old = heapq.heappop(self._heap)
                self._by_jti.pop(old, None)
            if jti in self._by_jti:
                return False
            if len(self._by_jti) >= self._max_entries:
                logger.warning("used refresh tokens full (%d); refresh refused", len(self._by_jti))
                raise RevocationStoreFullError
            self._by_jti[jti] = deadline
            heapq.heappush(self._heap, (deadline, jti))
            return True

    def __len__(self) -> int:
        return len(self._by_jti)
