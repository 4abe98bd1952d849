"""A bounded cache of recently verified tokens, so a client's repeated token is parsed once.

Verifying an HS256 token costs about 30 µs, nearly all of it PyJWT parsing and checking the
three base64 segments; a client sends the same token on every request until it expires.
The cache keeps the claims of tokens that *passed* verification, keyed by the exact token
string, and re-checks expiry on every hit. Claims are read-only
(:class:`~jwt_middleware.types.FrozenDict`), so every hit hands out the same object and no
request can change what another one sees. It never holds a failed token, so an attacker
cannot fill it without valid tokens, and it is bounded in entries (least recently used
leave first) and in time (``ttl``), so a key withdrawn from a JWKS or a rotated secret stops
admitting cached tokens within ``ttl`` seconds. The revocation hook is not cached: the
middleware asks it on every request.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from .types import VerifiedToken

__all__ = ["VerifiedTokenCache"]


class VerifiedTokenCache:
    """Least-recently-used map of token to claims, each entry valid until a deadline."""

    __slots__ = ("_clock", "_entries", "_leeway", "_max_entries", "_ttl")

    def __init__(
        self,
        *,
        max_entries: int,
        ttl_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1 or ttl_seconds <= 0:
            raise ValueError("max_entries must be at least 1 and ttl_seconds positive")
        self._entries: OrderedDict[str, tuple[float, VerifiedToken]] = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._clock = clock

    def get(self, token: str) -> VerifiedToken | None:
        """The cached verification (read-only claims), or ``None`` when absent or past its
        deadline."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        deadline, verified = entry
        if self._clock() >= deadline:
            self._entries.pop(token, None)
            return None
        self._entries.move_to_end(token)
        return verified

    def put(self, token: str, verified: VerifiedToken, *, expires_at: float) -> None:
        """Remember ``verified`` until ``ttl`` passes or ``expires_at`` (wall-clock seconds,
        the moment the token stops verifying: its ``exp`` plus the leeway, or earlier)."""
        deadline = min(self._clock() + self._ttl, expires_at)
        self._entries[token] = (deadline, verified)
        self._entries.move_to_end(token)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything, e.g. after withdrawing a key."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
