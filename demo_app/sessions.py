"""Login sessions: logout, refresh-token rotation and reuse detection, across instances.

Each login starts a *family*: a random id carried as ``fam`` in its refresh tokens and as
``sid`` in its access tokens (the library keeps ``fam`` for refresh tokens). Three kinds of
state are kept, each only until the tokens it concerns could no longer verify anyway:

* revoked access tokens, by ``jti`` (logout),
* revoked families, by id (logout, or a refresh token presented twice): every token of the
  family, access or refresh, is refused from then on,
* used refresh tokens, by ``jti``: each refresh token is good for exactly one refresh.

Each kind is a revocation store with the library's protocols, and each store's
``revoke_once`` marks a refresh token used atomically: of two concurrent refreshes with the
same token, on the same instance or on two, exactly one wins. Where the stores live:

* by default in the demo's own database (:class:`~demo_app.revocation_sql.SQLRevocationStore`,
  the ``revocations`` table beside users and to-dos), so a restart forgets no logout and no
  used refresh token, and instances that share the database share them too;
* with ``REDIS_URL``, in Redis (one ``SET NX`` per mark), which takes the lookup that every
  request with a token makes off the database: the choice for many instances. Each instance
  then answers that lookup from its local view of the revocations, which Redis keeps
  current (see :class:`~jwt_middleware.RedisRevocationStore`).

With Redis, the DPoP proofs seen (``JWT_DPOP_ENABLED``) are kept there too
(:attr:`Sessions.proof_replay`), so a proof is accepted once by all the instances; without
it, each instance remembers its own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from jwt_middleware import RedisProofReplayCache, RedisRevocationStore, revoke_token_claims
from jwt_middleware.revocation import RevocationStore, SingleUseStore
from jwt_middleware.verification.dpop_replay import ProofReplayCache

from .revocation_sql import SQLRevocationStore

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster
    from sqlalchemy import Engine

    from jwt_middleware import JWTSettings

    from .settings import DemoSettings

__all__ = ["SESSION_CLAIM", "Sessions"]

#: The access-token claim that names the token's family (OpenID Connect's session id).
SESSION_CLAIM: Final = "sid"

#: The three kinds of state: Redis key infixes (after DEMO_REDIS_KEY_PREFIX) and the
#: ``kind`` column of the ``revocations`` table alike.
_REVOKED_TOKENS: Final = "revoked"
_REVOKED_FAMILIES: Final = "family"
_USED_REFRESH_TOKENS: Final = "refresh-used"
#: The Redis key infix of the DPoP proofs seen (not a kind of revocation: Redis only).
_DPOP_PROOFS: Final = "dpop"

#: A family is revoked for the longest lifetime any of its tokens can have, plus this much:
#: a refresh that passed its checks just before the revocation may still be signing.
_ISSUE_MARGIN_SECONDS: Final = 60


class Sessions:
    """What logout and refresh change, and what the middleware asks on every request.

    Build it with :meth:`from_settings`; :meth:`is_revoked` is the middleware's hook.
    """

    __slots__ = (
        "_close",
        "_families",
        "_family_lifetime",
        "_redis",
        "_tokens",
        "_used",
        "proof_replay",
    )

    def __init__(
        self,
        *,
        tokens: RevocationStore,
        families: RevocationStore,
        used_refresh_tokens: SingleUseStore,
        family_lifetime_seconds: int,
        redis: Redis | RedisCluster | None = None,
        close: Callable[[], Awaitable[None]] | None = None,
        proof_replay: ProofReplayCache | None = None,
    ) -> None:
        self._tokens = tokens
        self._families = families
        self._used = used_refresh_tokens
        self._family_lifetime = family_lifetime_seconds
        self._redis = redis
        self._close = close
        #: Where DPoP proofs are remembered across instances (``None``: in each process).
        self.proof_replay = proof_replay

    @classmethod
    def from_settings(
        cls, settings: DemoSettings, jwt_settings: JWTSettings, *, engine: Engine
    ) -> Sessions:
        """Redis when ``REDIS_URL`` is set, the ``revocations`` table of ``engine`` otherwise.

        Connects on first use; the table is created with the others at start-up.
        """
        leeway = jwt_settings.leeway_seconds
        lifetime = (
            max(jwt_settings.expiry_seconds, jwt_settings.refresh_expiry_seconds)
            + _ISSUE_MARGIN_SECONDS
        )
        if settings.redis_url is None:

            def in_database(kind: str) -> SQLRevocationStore:
                return SQLRevocationStore(engine, kind=kind, leeway_seconds=leeway)

            return cls(
                tokens=in_database(_REVOKED_TOKENS),
                families=in_database(_REVOKED_FAMILIES),
                used_refresh_tokens=in_database(_USED_REFRESH_TOKENS),
                family_lifetime_seconds=lifetime,
            )
        prefix = settings.redis_key_prefix
        tokens = RedisRevocationStore.from_url(
            settings.redis_url,
            key_prefix=f"{prefix}{_REVOKED_TOKENS}:",
            on_error=settings.revocation_on_error,
            leeway_seconds=leeway,
        )

        def sharing_the_client(kind: str) -> RedisRevocationStore:
            # One client, one connection pool: the other two share the first store's.
            return RedisRevocationStore(
                tokens.client,
                key_prefix=f"{prefix}{kind}:",
                on_error=settings.revocation_on_error,
                leeway_seconds=leeway,
            )

        families = sharing_the_client(_REVOKED_FAMILIES)
        used = sharing_the_client(_USED_REFRESH_TOKENS)

        async def close() -> None:
            # The views of the two sharing stores first; the owner closes the client last.
            await families.aclose()
            await used.aclose()
            await tokens.aclose()

        return cls(
            tokens=tokens,
            families=families,
            used_refresh_tokens=used,
            family_lifetime_seconds=lifetime,
            redis=tokens.client,
            close=close,
            # From the URL, not the stores' client: the cache then sends its one command on
            # a connection of its own, several times cheaper than through the client's pool
            # (closed at shutdown with the DPoP authenticator, not with the stores).
            proof_replay=RedisProofReplayCache(
                settings.redis_url, key_prefix=f"{prefix}{_DPOP_PROOFS}:"
            ),
        )

    @property
    def redis(self) -> Redis | RedisCluster | None:
        """The Redis client the sessions live in, or ``None`` when they are in the database."""
        return self._redis

    async def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """Whether this verified access token, or its family, was revoked.

        When both stores answer from a current local view, one after the other (no round
        trip, nothing to overlap); otherwise side by side, so a store that hangs costs one
        timeout, not two.
        """
        family = claims.get(SESSION_CLAIM)
        if not isinstance(family, str) or not family:
            return await self._tokens.is_revoked(claims)
        if _answers_locally(self._tokens) and _answers_locally(self._families):
            return await self._tokens.is_revoked(claims) or await self.family_revoked(family)
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
        """Mark a verified refresh token used; ``False`` if it had been used before (reuse).

        Atomic across instances (Redis or the database decides); raises
        :class:`~jwt_middleware.RevocationStoreUnavailableError` (503) when the mark cannot be
        recorded, rather than let a refresh through unrecorded.
        """
        return await self._used.revoke_once(claims["jti"], expires_at=math.ceil(claims["exp"]))

    async def aclose(self) -> None:
        """Stop the local views and close the Redis connections, if any (at shutdown)."""
        if self._close is not None:
            await self._close()


def _answers_locally(store: RevocationStore) -> bool:
    return isinstance(store, RedisRevocationStore) and store.view_is_current
