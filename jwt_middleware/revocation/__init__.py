"""Revocation stores: withdraw individual tokens before they expire (logout).

A store records the ``jti`` of a revoked token until the token would have expired anyway,
so it never holds more than the tokens revoked within one token lifetime. Its
:meth:`~RevocationStore.is_revoked` is the middleware's hook as it is::

    from jwt_middleware.revocation.redis import RedisRevocationStore

    store = RedisRevocationStore.from_url("redis://localhost:6379/0")
    app.add_middleware(JWTAuthMiddleware, is_revoked=store.is_revoked)

    # in the logout handler, with the claims the middleware verified:
    await revoke_token_claims(store, current_claims(request))

Only tokens with a ``jti`` can be revoked one by one (:func:`create_jwt_token` always sets
one). A token without a ``jti`` is never reported revoked, and asking to revoke it raises
:class:`ValueError` instead of pretending the logout worked.

:class:`InMemoryRevocationStore` serves one process; :class:`RedisRevocationStore` is shared
by every instance behind the same Redis (needs the ``redis`` extra). Both are also a
:class:`SingleUseStore`: :meth:`~SingleUseStore.revoke_once` records a ``jti`` only if it is
new and says whether it was, which makes a token good for exactly one use (a refresh token).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, runtime_checkable

__all__ = [
    "LATEST_EXPIRY",
    "Clock",
    "RevocationStore",
    "SingleUseStore",
    "bounded_expiry",
    "check_jti",
    "jti_of",
    "revoke_token_claims",
]

#: The latest unix time a revocation is kept until (2**40 seconds: in the year 36812).
LATEST_EXPIRY: Final = 2**40

#: A wall clock in unix seconds, like ``time.time``; ``exp`` is measured against it.
Clock = Callable[[], float]


@runtime_checkable
class RevocationStore(Protocol):
    """Where revoked token ids are kept until the tokens expire."""

    async def revoke(self, jti: str, *, expires_at: int) -> None:
        """Refuse the token ``jti`` from now on; ``expires_at`` is its ``exp`` (unix seconds).

        Recording a token that has already expired is a no-op: the verifier refuses it anyway.
        Raises if the revocation could not be recorded.
        """
        ...

    async def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """Whether the verified token with these claims was revoked (``False`` without ``jti``)."""
        ...


@runtime_checkable
class SingleUseStore(Protocol):
    """Where the ids of single-use tokens are kept, once used, until the tokens expire.

    Separate from :class:`RevocationStore`, so a third-party revocation store need not
    implement it; both stores shipped here do.
    """

    async def revoke_once(self, jti: str, *, expires_at: int) -> bool:
        """Record ``jti`` unless it is already recorded; ``True`` only for the first caller.

        Atomic: of any number of concurrent calls with one ``jti`` (on every instance sharing
        the store), exactly one gets ``True``. A token already past ``expires_at`` plus the
        store's leeway is not recorded and gets ``True``: the verifier refuses it anyway.
        Raises :class:`RevocationStoreUnavailableError` when it cannot tell.
        """
        ...


async def revoke_token_claims(store: RevocationStore, claims: Mapping[str, Any]) -> None:
    """Revoke the token whose verified claims these are, until its ``exp``.

    Raises :class:`ValueError` when the claims have no ``jti`` (the token cannot be revoked
    on its own) or no numeric ``exp``.
    """
    jti = jti_of(claims)
    if jti is None:
        raise ValueError("the token has no jti, so it cannot be revoked individually")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise ValueError("the token has no numeric exp")
    if isinstance(exp, float) and not math.isfinite(exp):
        raise ValueError("the token has no numeric exp")
    await store.revoke(jti, expires_at=bounded_expiry(math.ceil(exp)))


def bounded_expiry(expires_at: int) -> int:
    """``expires_at``, or :data:`LATEST_EXPIRY` for a token that claims to live longer.

    A verified token's ``exp`` is whatever its issuer wrote, 400 digits included; no store
    can hold such a time (a float overflows, and Redis refuses a TTL past 2**63
    milliseconds), so the revocation ends at :data:`LATEST_EXPIRY` instead, tens of
    thousands of years on.
    """
    return min(expires_at, LATEST_EXPIRY)


def jti_of(claims: Mapping[str, Any]) -> str | None:
    jti = claims.get("jti")
    return jti if isinstance(jti, str) and jti else None


def check_jti(jti: str) -> None:
    if not isinstance(jti, str) or not jti:
        raise ValueError("jti must be a non-empty string")
