"""``RevocationView``: one instance's local copy of the revoked ids, with no I/O at all.

The Redis store (:mod:`.redis`) keeps one to answer requests without a round trip: it feeds
the view the messages it hears on its channel and the snapshots it reads, and tells it when
a heartbeat proved it current or the connection was lost. Everything the view decides (what
a message means, which deadline wins, whether an entry still refuses its token, whether the
view may answer at all) is here, where it is tested without Redis; the store keeps the
sockets, the timing and the logging.

Times come in as arguments, never from a clock read here: wall-clock unix seconds for
deadlines (``exp`` is measured against them), and ``time.monotonic()`` seconds for how long
the view is known to be current (a wall clock may jump).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from . import Clock

__all__ = ["RevocationView", "message_deadline"]

#: The pub/sub message types that carry a revocation: PUBLISH's, and SPUBLISH's in a cluster.
_REVOCATION_MESSAGES = frozenset({"message", "smessage"})


def message_deadline(text: str) -> tuple[float, str] | None:
    """The deadline and ``jti`` of a ``"<deadline> <jti>"`` message, or ``None`` if malformed.

    The deadline is an integer as :meth:`~.redis.RedisRevocationStore.revoke` publishes it;
    a finite decimal number (from other software, or an older version given a float
    ``expires_at``) is taken too, rounded up, so an entry never ends before its token does.
    Anything else (no number, ``nan``, ``inf``, a number no float holds) is malformed. An
    empty ``jti`` comes back as ``""``: well-formed, but naming no token.
    """
    deadline, _, jti = text.partition(" ")
    try:
        ends = float(math.ceil(float(deadline)))
    except (ValueError, OverflowError):  # not a number, or one no float holds
        return None
    if not math.isfinite(ends):
        return None
    return ends, jti


class RevocationView:
    """The revoked ids an instance knows of, each with the unix time its entry ends, and
    whether they are known to be all of them.

    An entry only ever moves later (:meth:`remember` keeps the later of two deadlines), and
    nothing but :meth:`forget_expired` removes one, once its token has expired: a snapshot
    or message adds to the view, never takes away, so a revocation heard by message while a
    snapshot is read (or deleted from Redis by hand) is not lost.

    The view is *current* until a moment its follower sets with :meth:`confirm` (a heartbeat
    came back, ``max_staleness_seconds`` after it was sent) and ends with :meth:`lose`;
    only a current view may answer for the store. Not thread-safe: one event loop owns it.
    """

    __slots__ = ("_confirmed_at", "_current_until", "_entries", "_max_staleness")

    def __init__(self, *, max_staleness_seconds: float = 1.0) -> None:
        if not (math.isfinite(max_staleness_seconds) and max_staleness_seconds > 0):
            raise ValueError("max_staleness_seconds must be a positive number")
        self._max_staleness = max_staleness_seconds
        # jti -> the unix time its entry ends (the token's exp + leeway); inf: never.
        self._entries: dict[str, float] = {}
        # time.monotonic() until which the view is known to be current; -inf: not current.
        self._current_until = -math.inf
        # time.monotonic() the last heartbeat that proved it current was sent; None: never.
        self._confirmed_at: float | None = None

    @property
    def entries(self) -> Mapping[str, float]:
        """Every entry held, expired or not (read-only use)."""
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def deadline(self, jti: str) -> float | None:
        """When the entry of ``jti`` ends, or ``None`` when there is none."""
        return self._entries.get(jti)

    def is_revoked(self, jti: str, now: float) -> bool:
        """Whether ``jti`` is revoked at unix time ``now`` (whatever :meth:`is_current` says)."""
        deadline = self._entries.get(jti)
        return deadline is not None and deadline > now

    def answer(self, jti: str, monotonic_now: float, clock: Clock) -> bool | None:
        """:meth:`is_revoked` at ``clock()`` if the view :meth:`is_current` at
        ``monotonic_now``, else ``None``: the store's per-request question in one call,
        reading the wall clock only for a ``jti`` it holds."""
        if monotonic_now >= self._current_until:
            return None
        deadline = self._entries.get(jti)
        return deadline is not None and deadline > clock()

    def remember(self, jti: str, deadline: float) -> None:
        """Hold ``jti`` until ``deadline`` at least (a later deadline known already wins)."""
        if self._entries.get(jti, -math.inf) < deadline:
            self._entries[jti] = deadline

    def apply(self, message: Mapping[str, Any]) -> bool:
        """Apply one pub/sub message; ``False`` only for a malformed revocation message.

        A revocation is a ``message`` (``PUBLISH``, one Redis) or an ``smessage``
        (``SPUBLISH``, a cluster's sharded channel). Messages of other types (subscribe
        confirmations, pongs) are no revocation and are left alone, as is a well-formed one
        with an empty ``jti``. The caller may log a malformed one, but never its text:
        anyone who can publish on the channel wrote it.
        """
        if message.get("type") not in _REVOCATION_MESSAGES:
            return True
        data = message.get("data")
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        parsed = message_deadline(text)
        if parsed is None:
            return False
        deadline, jti = parsed
        if jti:
            self.remember(jti, deadline)
        return True

    def apply_snapshot(self, remaining: Iterable[tuple[str, int]], *, now: float) -> None:
        """Add what a read of the store found: ``(jti, milliseconds left)`` pairs, as Redis'
        ``PTTL`` gives them, read at unix time ``now``.

        ``-1`` (a key without expiry, written by other software) is kept for good; ``-2``
        (the key went away between the scan and the read) and other negatives add nothing.
        """
        for jti, milliseconds in remaining:
            if milliseconds == -1:
                self.remember(jti, math.inf)
            elif milliseconds >= 0:
                self.remember(jti, now + milliseconds / 1000)

    def forget_expired(self, now: float) -> int:
        """Drop the entries whose tokens have expired at unix time ``now``; how many."""
        expired = [jti for jti, deadline in self._entries.items() if deadline <= now]
        for jti in expired:
            del self._entries[jti]
        return len(expired)

    # --- whether the view may answer -------------------------------------------------------

    def is_current(self, monotonic_now: float) -> bool:
        """Whether the view is known to hold every revocation, at ``time.monotonic()`` now."""
        return monotonic_now < self._current_until

    def confirm(self, sent_at: float) -> None:
        """A heartbeat sent at ``sent_at`` (``time.monotonic()``) came back after every
        message published before it: the view is current for ``max_staleness_seconds``
        from then."""
        self._current_until = sent_at + self._max_staleness
        self._confirmed_at = sent_at

    @property
    def confirmed_at(self) -> float | None:
        """When (``time.monotonic()``) the last heartbeat that proved the view current was
        sent, lost since or not; ``None`` before the first. How stale the view may be is
        the time since (a metric reads it)."""
        return self._confirmed_at

    def lose(self) -> None:
        """The view may have missed messages (lost connection, closed store): it stops
        answering until a snapshot and a heartbeat make it current again."""
        self._current_until = -math.inf

    def __repr__(self) -> str:
        return f"RevocationView(<{len(self._entries)} entries>)"
