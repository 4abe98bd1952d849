"""``InMemoryRevocationStore``: revocations held in this process (one instance, tests)."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import RevocationStoreFullError
from . import Clock, bounded_expiry, check_jti, jti_of

if TYPE_CHECKING:
    from ..settings import JWTSettings

__all__ = ["InMemoryRevocationStore"]

logger = logging.getLogger("jwt_middleware")


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

    @classmethod
    def from_settings(
        cls, settings: JWTSettings, *, max_entries: int | None = None, clock: Clock = time.time
    ) -> InMemoryRevocationStore:
        """A store that keeps entries as long as ``settings``' verifier accepts a token
        (``JWT_LEEWAY_SECONDS`` past its ``exp``)."""
        return cls(max_entries=max_entries, leeway_seconds=settings.leeway_seconds, clock=clock)

    async def revoke(self, jti: str, *, expires_at: int) -> None:
        self._record(jti, expires_at, only_if_new=False)

    async def revoke_once(self, jti: str, *, expires_at: int) -> bool:
        """See :meth:`SingleUseStore.revoke_once`; atomic under the store's lock."""
        return self._record(jti, expires_at, only_if_new=True)

    async def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        jti = jti_of(claims)
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
        check_jti(jti)
        expires_at = bounded_expiry(expires_at)
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
