"""What an introspection endpoint answered, read strictly (RFC 7662 section 2.2), the
``jti`` an opaque token is known by, and the short memory of refused tokens."""

from __future__ import annotations

import copy
import hashlib
import logging
from collections import OrderedDict
from typing import Any, Final, NoReturn

from .. import jws
from ..errors import IntrospectionUnavailableError, InvalidTokenError
from ..refusals import Reason, log_refusal

__all__ = ["REFUSAL_CACHE_SECONDS", "RefusalMemory", "active_answer", "introspection_jti"]

logger = logging.getLogger("jwt_middleware")

#: How long a refused token (inactive, or refused by the checks) is remembered: long enough
#: that a client retrying it in a loop costs one call per this many seconds, short enough
#: that a token the provider did not know yet a moment ago is soon asked about again.
REFUSAL_CACHE_SECONDS: Final = 5.0


def introspection_jti(token: str) -> str:
    """The ``jti`` an introspected token gets when its answer has none: the hex SHA-256 of
    the token, which is also its key in the cache. Revoking it (say from a logout
    handler, with the claims the middleware put in the request) refuses the token on
    every instance that shares the revocation store."""
    return hashlib.sha256(token.encode()).hexdigest()


def active_answer(body: bytes) -> dict[str, Any] | None:
    """The members of an RFC 7662 answer that says the token is active, ``None`` for one
    that says it is not.

    Raises :class:`IntrospectionUnavailableError` for anything else: not UTF-8, not JSON,
    not an object, or an ``active`` that is not a JSON boolean (``"true"`` is not true). A
    member of the wrong type in an active answer is for the claim checks to refuse.
    """
    try:
        answer = jws.load_json(body.decode("utf-8"))
    except (UnicodeDecodeError, jws.MalformedTokenError):
        _unavailable("the answer is not JSON")
    if not isinstance(answer, dict):
        _unavailable("the answer is not a JSON object")
    active = answer.get("active")
    if active is True:
        return answer
    if active is False:
        return None
    _unavailable("the answer has no boolean 'active'")


def _unavailable(why: str) -> NoReturn:
    logger.warning("token introspection failed: %s", why)
    log_refusal(Reason.INTROSPECTION_UNAVAILABLE, level=logging.WARNING)
    raise IntrospectionUnavailableError


class RefusalMemory:
    """Tokens refused lately, by hash: the refusal itself until a deadline, at
    most ``max_entries`` of them (least recently refused leave first)."""

    __slots__ = ("_entries", "_max_entries")

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[str, tuple[float, InvalidTokenError]] = OrderedDict()
        self._max_entries = max_entries

    def check(self, key: str, now: float) -> None:
        """Raise the refusal remembered for ``key``, if any."""
        entry = self._entries.get(key)
        if entry is None:
            return
        if now >= entry[0]:
            del self._entries[key]
            return
        refusal = entry[1]
        log_refusal(refusal.reason)
        # A copy of the refusal itself: its kind's keyword-only parameters (a DPoP
        # challenge's algorithms) go with it, which its class and reason alone would lose.
        raise copy.copy(refusal)

    def remember(self, key: str, error: InvalidTokenError, now: float) -> None:
        self._entries[key] = (now + REFUSAL_CACHE_SECONDS, error)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
