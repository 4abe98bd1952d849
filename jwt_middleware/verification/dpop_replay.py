"""Replay of DPoP proofs: a proof's ``jti`` is accepted once within the time the proof is
accepted at all (RFC 9449 section 11.1).

:class:`ProofReplayCache` is what the DPoP authenticator asks; :class:`InMemoryProofReplayCache`
answers for one process. A proof replayed at *another* instance of the service is not
seen by it: across a fleet, :class:`~.dpop_replay_redis.RedisProofReplayCache` answers
for every instance behind one Redis, which is why this is a protocol. Entries are keyed
by the proof key's thumbprint and the ``jti`` (RFC 9449 asks a ``jti`` to be unique for
one key, not for every client), hashed to a fixed size.
"""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["InMemoryProofReplayCache", "ProofReplayCache", "replay_key"]


def replay_key(thumbprint: str, jti: str) -> bytes:
    """The entry of one proof: SHA-256 of the key's thumbprint and the ``jti``, cut to 16
    bytes (a chance collision needs some 2**64 proofs), so that every entry has one size
    whatever a ``jti`` is."""
    return hashlib.sha256(f"{thumbprint}\x00{jti}".encode()).digest()[:16]


@runtime_checkable
class ProofReplayCache(Protocol):
    """Whether a proof is used for the first time; records it if so."""

    def first_use_now(self, key: bytes, *, expires_at: float) -> bool | None:
        """``True`` the first time ``key`` is seen (and remember it until ``expires_at``,
        wall-clock seconds), ``False`` for a replay; ``None`` when only :meth:`first_use`
        can tell (a remote store), having recorded nothing."""
        ...

    async def first_use(self, key: bytes, *, expires_at: float) -> bool:
        """As :meth:`first_use_now`, waiting where it must. Raises
        :class:`~jwt_middleware.errors.ProofReplayUnavailableError` when it cannot tell
        (a store that does not answer): never a guess."""
        ...

    async def aclose(self) -> None:
        """Release what is held open (a connection it made), at shutdown. Safe to call
        twice."""
        ...


class InMemoryProofReplayCache:
    """The proofs seen by this process, each until it expires, at most ``max_entries``.

    Full of proofs that have not expired (a flood of valid proofs, each signed with a key
    the token is bound to), it forgets the one that expires first, and from then on refuses
    every proof that expires no later than that one did: such a proof may be a replay of a
    forgotten one, so it is refused rather than trusted (fail closed), while proofs made
    since, which expire later, are still accepted. Memory stays bounded, and a replay is
    never accepted.
    """

    __slots__ = ("_clock", "_expiries", "_floor", "_max_entries", "_seen")

    def __init__(
        self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.time
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._seen: dict[bytes, float] = {}
        #: (expires_at, key), the one that expires first on top.
        self._expiries: list[tuple[float, bytes]] = []
        #: Proofs expiring at or before this may have been forgotten: refused.
        self._floor = float("-inf")

    def first_use_now(self, key: bytes, *, expires_at: float) -> bool:
        now = self._clock()
        expiries, seen = self._expiries, self._seen
        while expiries and expiries[0][0] <= now:
            del seen[heapq.heappop(expiries)[1]]
        if key in seen or expires_at <= self._floor:
            return False
        if len(seen) >= self._max_entries:
            forgotten, old = heapq.heappop(expiries)
            del seen[old]
            self._floor = max(self._floor, forgotten)
            if expires_at <= self._floor:
                return False
        seen[key] = expires_at
        heapq.heappush(expiries, (expires_at, key))
        return True

    async def first_use(self, key: bytes, *, expires_at: float) -> bool:
        return self.first_use_now(key, expires_at=expires_at)

    async def aclose(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        return len(self._seen)
