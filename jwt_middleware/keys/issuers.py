"""Who may issue the tokens a verifier accepts, and where each issuer's keys come from.

A verifier holds one :class:`IssuerPolicy` per accepted issuer (or one with ``issuer=None``
when ``iss`` is not checked): the issuer, the audiences and algorithms its tokens may have,
and its :class:`~.source.KeySource`. A key verifies a token only for the policies whose source
supplied it, and the token's ``iss`` must then name one of those policies: a token naming
issuer A but signed with issuer B's key (even under a ``kid`` A also uses) is refused.

Key sources follow from the settings: static keys (a secret, or PEM keys), or a JWK Set
read from a file or given inline (:mod:`.local`), shared by every policy; a per-issuer
JWKS URL; one JWKS URL for all; or, for issuers with none of those, discovery from each
issuer's metadata (:mod:`.discovery`). Sources that fetch share one HTTP client and one
fetch per key set URL, and need the ``jwks`` extra (httpx).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from ..settings import JWTSettings
from .source import KeySource
from .static import StaticKeys

if TYPE_CHECKING:
    from .pool import JWKSPool

__all__ = ["IssuerPolicy", "Issuers"]


@dataclass(frozen=True, slots=True, eq=False)
class IssuerPolicy:
    """What a token of one issuer must satisfy, and where its keys are."""

    issuer: str | None
    audiences: tuple[str, ...] | None
    algorithms: frozenset[str]
    keys: KeySource


class Issuers:
    """The policies of one verifier and the key sources behind them, opened and closed
    together (:meth:`prefetch` at start-up, :meth:`aclose` at shutdown)."""

    __slots__ = ("_pool", "policies", "sources")

    def __init__(self, policies: Sequence[IssuerPolicy], *, pool: JWKSPool | None = None) -> None:
        if not policies:
            raise ValueError("a verifier needs at least one issuer policy")
        self.policies = tuple(policies)
        #: Each key source once, in the order of the first policy that uses it.
        self.sources: tuple[KeySource, ...] = tuple(
            {id(policy.keys): policy.keys for policy in self.policies}.values()
        )
        self._pool = pool

    @classmethod
    def from_settings(cls, settings: JWTSettings, *, keys: KeySource | None = None) -> Issuers:
        """The policies ``settings`` describe; ``keys`` replaces their static key source."""
        static = keys
        if static is None and (
            settings.is_hmac or settings.public_key or settings.public_keys or settings.private_key
        ):
            static = StaticKeys.from_settings(settings)
        if static is None:
            static = _local_keys(settings)
        pool: JWKSPool | None = None

        def fetching() -> JWKSPool:
            nonlocal pool
            if pool is None:
                pool = _new_pool(settings)
            return pool

        def source(jwks_url: str | None, issuer: str | None, wanted: list[str]) -> KeySource:
            if jwks_url is not None:
                return fetching().key_set(jwks_url, wanted)
            if static is not None:
                return static
            if settings.jwks_url is not None:
                return fetching().key_set(settings.jwks_url, wanted)
            if issuer is None:
                raise ConfigurationError(
                    "no verification keys: set JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL or "
                    "JWT_ISSUER"
                )
            from .discovery import DiscoveredKeys

            return DiscoveredKeys(issuer, algorithms=wanted, pool=fetching())

        algorithms = frozenset(settings.algorithms)
        policies = []
        for issuer in settings.issuer_settings or (None,):
            if issuer is None:
                policies.append(
                    IssuerPolicy(
                        None, settings.audiences, algorithms, source(None, None, sorted(algorithms))
                    )
                )
                continue
            wanted = frozenset(issuer.algorithms) if issuer.algorithms else algorithms
            audiences = issuer.audiences if issuer.audience is not None else settings.audiences
            keys_of_issuer = source(issuer.jwks_url, issuer.issuer, sorted(wanted))
            policies.append(IssuerPolicy(issuer.issuer, audiences, wanted, keys_of_issuer))
        return cls(policies, pool=pool)

    @property
    def available(self) -> bool:
        """Whether every source holds usable keys (what readiness asks)."""
        return all(source.available for source in self.sources)

    async def prefetch(self) -> None:
        """Load every source's keys now, side by side; failures are logged, not raised."""
        await asyncio.gather(*(source.prefetch() for source in self.sources))

    async def aclose(self) -> None:
        """Close every source, and the HTTP client they share."""
        for source in self.sources:
            await source.aclose()
        if self._pool is not None:
            await self._pool.aclose()


def _local_keys(settings: JWTSettings) -> KeySource | None:
    """The key set read from ``JWT_JWKS_FILE`` or ``JWT_JWKS``, if one is set (the settings
    checked it already; it is read again here, for the source to hold)."""
    from .local import JWKSFileKeys, LocalKeysError, inline_jwks

    algorithms = list(settings.algorithms)
    try:
        if settings.jwks_file is not None:
            return JWKSFileKeys(
                settings.jwks_file,
                algorithms=algorithms,
                check_seconds=settings.jwks_file_check_seconds,
                min_recheck_seconds=settings.jwks_min_refetch_seconds,
            )
        if settings.jwks is not None:
            return inline_jwks(settings.jwks, algorithms=algorithms)
    except LocalKeysError as exc:
        variable = "JWT_JWKS_FILE" if settings.jwks_file is not None else "JWT_JWKS"
        raise ConfigurationError(f"{variable}: {exc}") from None
    return None


def _new_pool(settings: JWTSettings) -> JWKSPool:
    try:
        from .jwks import JWKSOptions
        from .pool import JWKSPool
    except ImportError:
        raise ConfigurationError(
            "JWT_JWKS_URL and JWT_ISSUER discovery need the jwks extra (httpx): "
            'pip install "jwt-middleware-asgi[jwks]"'
        ) from None
    return JWKSPool(options=JWKSOptions.from_settings(settings))
