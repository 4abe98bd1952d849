"""A bounded cache of recently verified tokens, so a client's repeated token is parsed once.

A client sends the same token on every request until it expires; verifying it again costs
the signature and the parsing each time. The cache keeps what a token that *passed*
verification says, keyed by the exact token string, and re-checks its deadline on every
hit. Claims are read-only (:class:`~jwt_middleware.types.FrozenDict`), so every hit hands
out the same object and no request can change what another one sees.

It never holds a failed token, so an attacker cannot fill it without valid tokens. It is
bounded three ways: in entries, in (estimated) bytes, since one entry of a 9 KB token with
hundreds of claims holds far more than one of a 700-byte token, and in time (``ttl``), so
a key withdrawn from a JWKS or a rotated secret stops admitting cached tokens within
``ttl`` seconds. Least recently used entries leave first. The revocation hook is not
cached: the middleware asks it on every request.

A miss costs one dictionary lookup, and a first-sight token one insertion (and an
eviction when full), a few hundred nanoseconds against the tens of microseconds a hit
saves, so a working set larger than the cache costs next to nothing over no cache.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, NamedTuple

from ..types import VerifiedToken

__all__ = ["PayloadShape", "VerifiedTokenCache", "entry_size"]

#: What an entry holds besides the characters of its token and key and its claims: the
#: headers of those two strings, the entry tuple, the deadline, the :class:`VerifiedToken`
#: (with its own ``expires_at``), the scopes tuple and the ordered dict's bookkeeping
#: (measured with ``tracemalloc``, CPython 3.11).
_ENTRY_OVERHEAD_BYTES: Final = 342
#: What one JSON element (a key or a value) becomes besides its characters: a str, int or
#: float object and its slot in a dict or list.
_ELEMENT_BYTES: Final = 60
#: What one JSON object becomes besides its elements: the dict itself.
_OBJECT_BYTES: Final = 130
#: What one JSON array becomes besides its elements: the list itself.
_ARRAY_BYTES: Final = 72
#: The bytes of a str object that is not ASCII besides its characters (and terminator):
#: with it, a str's size says how many bytes each of its characters takes.
_WIDE_STR_BYTES: Final = sys.getsizeof("\xe9") - 2


#: Every byte but the few that say a JSON text's shape: ``,`` ``:`` ``{`` ``[`` and the backslash.
_NOT_MARKS: Final = bytes(byte for byte in range(256) if byte not in b",:{[\\")


class PayloadShape(NamedTuple):
    """What a payload's JSON text says about the Python objects it parses into, read in
    one pass over it (a ``bytes.translate`` that keeps only the marks counted here), so
    that a 9 KB payload is not scanned once per count. A ``{``, ``[``, ``,`` or ``:``
    inside a string counts too: the counts err high, never low."""

    #: Characters of the text.
    characters: int
    #: Bytes per character of the strings parsed from it, at most.
    width: int
    #: Keys and values (``,`` and ``:`` separate them).
    elements: int
    #: Objects (``{``) and arrays (``[``).
    objects: int
    arrays: int

    @classmethod
    def of(cls, payload_json: str) -> PayloadShape:
        marks = payload_json.encode().translate(None, _NOT_MARKS)
        if b"\\" in marks and "\\u" in payload_json:
            # An escape may stand for a character that makes its whole string four
            # bytes per character.
            width = 4
        elif payload_json.isascii():
            width = 1
        else:  # the str's own size says how wide its characters are
            width = (sys.getsizeof(payload_json) - _WIDE_STR_BYTES) // (len(payload_json) + 1)
        return cls(  # by position: a third cheaper than by keyword, on every first sight
            len(payload_json),
            width,
            marks.count(b",") + marks.count(b":") + 1,
            marks.count(b"{"),
            marks.count(b"["),
        )


def entry_size(token: str, payload: PayloadShape, scopes: tuple[str, ...] = ()) -> int:
    """An estimate of the memory an entry for ``token`` holds, within a few percent of what
    ``tracemalloc`` measures for most claims and otherwise above it.

    The token string is held as it is, and its signature segment as the key. The claims are
    Python objects parsed from a JSON text of the ``payload`` shape: each character of it
    is counted once, at the width of the widest character of the strings parsed from it;
    each element costs :data:`_ELEMENT_BYTES` more, each object :data:`_OBJECT_BYTES` and
    each array :data:`_ARRAY_BYTES`. Only counts: no walk over the claims, so no depth of
    nesting makes it recurse. Scopes split from a string are new strings.
    """
    return (
        _ENTRY_OVERHEAD_BYTES
        + len(token)
        + len(token)
        - token.rfind(".")
        + payload.width * payload.characters
        + _ELEMENT_BYTES * payload.elements
        + _OBJECT_BYTES * payload.objects
        + _ARRAY_BYTES * payload.arrays
        + sum(map(len, scopes))
        + _ELEMENT_BYTES * len(scopes)
    )


class VerifiedTokenCache:
    """Least-recently-used map of token to verification, each entry valid until a deadline,
    holding at most ``max_entries`` entries and ``max_bytes`` estimated bytes.

    Entries are found by the token's signature segment, and a hit is the whole token
    string, compared as a ``dict`` compares keys (a hash of the whole token, then the
    characters only if the hashes match): so a token never seen, a forged one say, costs a
    hash of its few dozen signature characters rather than of all its kilobytes, and a
    token that shares a cached token's signature but not its text is a miss.
    """

    __slots__ = (
        "__weakref__",
        "_bytes",
        "_clock",
        "_entries",
        "_max_bytes",
        "_max_entries",
        "_ttl",
        "hits",
        "misses",
    )

    def __init__(
        self,
        *,
        max_entries: int,
        ttl_seconds: float,
        max_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1 or ttl_seconds <= 0:
            raise ValueError("max_entries must be at least 1 and ttl_seconds positive")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be positive, or None")
        #: signature segment -> (deadline, verification, estimated size, token)
        self._entries: OrderedDict[str, tuple[float, VerifiedToken, int, str]] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes if max_bytes is not None else float("inf")
        self._bytes = 0
        self._ttl = ttl_seconds
        self._clock = clock
        #: Lookups that found the token, and that did not: plain counts, read by the
        #: ``jwt_middleware.verified_cache.lookups`` metric when it is collected, so that a
        #: hit costs an addition rather than a call.
        self.hits = 0
        self.misses = 0

    def get(self, token: str) -> VerifiedToken | None:
        """The cached verification (read-only claims), or ``None`` when absent or past its
        deadline."""
        key = token[token.rfind(".") + 1 :]
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        held = entry[3]
        if held is not token and (hash(held) != hash(token) or held != token):
            self.misses += 1
            return None  # another token with the same signature segment: not this one
        if self._clock() >= entry[0]:
            self._drop(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, token: str, verified: VerifiedToken, *, expires_at: float, size: int = 0) -> None:
        """Remember ``verified`` until ``ttl`` passes or ``expires_at`` (wall-clock seconds,
        the moment the token stops verifying: its ``exp`` plus the leeway, or earlier).

        ``size`` is the entry's estimated bytes (:func:`entry_size`); an entry larger than
        the whole byte bound is not kept.
        """
        if size > self._max_bytes:
            return
        entries = self._entries
        key = token[token.rfind(".") + 1 :]
        if key in entries:  # verified twice at once, by two requests (or a rare twin)
            self._drop(key)
        deadline = self._clock() + self._ttl
        entries[key] = (deadline if deadline < expires_at else expires_at, verified, size, token)
        self._bytes += size
        while len(entries) > self._max_entries or self._bytes > self._max_bytes:
            self._bytes -= entries.popitem(last=False)[1][2]

    def clear(self) -> None:
        """Forget everything, e.g. after withdrawing a key."""
        self._entries.clear()
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        """The estimated bytes held (see :func:`entry_size`)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]
