"""What the parts kept in Redis share about their client: the revocation store
(:mod:`.revocation.redis`) and the DPoP replay cache
(:mod:`.verification.dpop_replay_redis`).

A URL becomes a client of the part's own, every connection bounded by its timeout; a
client passed in (a ``redis.asyncio.Redis``, one from Sentinel's ``master_for``, a
``RedisCluster``) stays its owner's. :data:`REDIS_ERRORS` are what it raises when Redis
does not answer, and :class:`RedisOutage` logs such an outage once as it starts and once
as it ends. Needs the ``redis`` extra.
"""

from __future__ import annotations

import logging
import math
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

__all__ = ["REDIS_ERRORS", "RedisOutage", "redis_client"]

logger = logging.getLogger("jwt_middleware")

#: Redis did not answer: asyncio.timeout raises the builtin TimeoutError; sockets raise
#: OSError.
REDIS_ERRORS: Final[tuple[type[Exception], ...]] = (RedisError, OSError, TimeoutError)


def redis_client(
    client: str | Redis | RedisCluster, *, timeout_seconds: float
) -> tuple[Redis | RedisCluster, bool]:
    """The client to talk through, and whether it was made here from a URL (then its user
    closes it); raises :class:`ValueError` for a timeout that is not a positive number."""
    if not (math.isfinite(timeout_seconds) and timeout_seconds > 0):
        raise ValueError("timeout_seconds must be a positive number")
    if isinstance(client, str):
        made = Redis.from_url(
            client, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        return made, True
    return client, False


class RedisOutage:
    """Whether a part's Redis stopped answering, logged once as the outage starts and once
    as it ends, not once per request; with the error's class only, never its text (which
    may hold the server's address and, with it, a password)."""

    __slots__ = ("_part", "ongoing")

    def __init__(self, part: str) -> None:
        self._part = part
        self.ongoing = False

    def began(self, error: Exception, consequence: str) -> None:
        """Redis failed to answer; ``consequence`` says what requests get meanwhile."""
        if not self.ongoing:
            self.ongoing = True
            logger.error(
                "%s (Redis) unreachable (%s); %s", self._part, type(error).__name__, consequence
            )

    def ended(self) -> None:
        """Redis answered."""
        if self.ongoing:
            self.ongoing = False
            logger.warning("%s (Redis) answers again", self._part)
