"""The revocation check as the middleware asks it: fail closed, and log an outage once.

An app's ``is_revoked(claims)`` may raise (its store is unreachable): the request then gets
503 (:class:`~jwt_middleware.errors.AuthenticationUnavailableError`), and the server's log
one line when the outage starts and one when it ends, not a traceback per request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ..errors import AuthenticationUnavailableError, TokenRevokedError
from ..types import Claims

__all__ = ["GuardedRevocationCheck"]

logger = logging.getLogger("jwt_middleware")


class GuardedRevocationCheck:
    """``await check(claims)``: raises :class:`TokenRevokedError` for a revoked token and
    :class:`AuthenticationUnavailableError` when ``is_revoked`` raises."""

    __slots__ = ("failing", "is_revoked")

    def __init__(self, is_revoked: Callable[[Claims], Awaitable[bool]]) -> None:
        self.is_revoked = is_revoked
        self.failing = False

    async def __call__(self, claims: Claims) -> None:
        try:
            revoked = await self.is_revoked(claims)
        except Exception as exc:
            # The class name only, as an exception's message may quote what the client sent.
            if not self.failing:
                self.failing = True
                logger.error(
                    "revocation check failed (%s); answering 503 until it works again",
                    type(exc).__name__,
                )
            raise AuthenticationUnavailableError from None
        if self.failing:
            self.failing = False
            logger.warning("revocation check works again")
        if revoked:
            raise TokenRevokedError
