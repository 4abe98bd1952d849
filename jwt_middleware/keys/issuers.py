"""Who may issue the tokens a verifier accepts, and where each issuer's keys come from.

A verifier holds one :class:`IssuerPolicy` per accepted issuer (or one with ``issuer=None``
when ``iss`` is not checked): the issuer, the audiences and algorithms its tokens may have,
and its :class:`~.source.KeySource`. A key verifies a token only for the policies whose source
supplied it, and the token's ``iss`` must then name one of those policies: a token naming
issuer A but signed with issuer B's key (even under a ``kid`` A also uses) is refused.

Key sources follow from the settings: static keys (a secret, or PEM keys), a JWK Set
read from a file or given inline (:mod:`.local`), or keys fetched one per ``kid``
(:mod:`.kid_urls`, AWS ALB's), shared by every policy; a per-issuer
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
from ..settings import IssuerSettings, JWTSettings
from .source import KeySource
from .static import StaticKeys

if TYPE_CHECKING:
    from .pool import JWKSPool

__all__ = ["IssuerPolicy", "Issuers", "SourceFactory"]


@dataclass(frozen=True, slots=True, eq=False)
class IssuerPolicy:
    """What a token of one issuer must satisfy, and where its keys are. ``shown_as`` is
    how refusal logs name the issuer when not by ``issuer`` itself: a tenant's template,
    as a tenant's issuer is partly text of the token."""

    issuer: str | None
    audiences: tuple[str, ...] | None
    algorithms: frozenset[str]
    keys: KeySource
    shown_as: str | None = None


class Issuers:
    """The policies of one verifier and the key sources behind them, opened and closed
    together (:meth:`prefetch` at start-up, :meth:`aclose` at shutdown)."""

    __slots__ = ("_pool", "factory", "policies", "sources")

    def __init__(
        self,
        policies: Sequence[IssuerPolicy],
        *,
        pool: JWKSPool | None = None,
        factory: SourceFactory | None = None,
    ) -> None:
        if not policies and factory is None:
            raise ValueError("a verifier needs at least one issuer policy")
        self.policies = tuple(policies)
        #: Each key source once, in the order of the first policy that uses it.
        self.sources: tuple[KeySource, ...] = tuple(
            {id(policy.keys): policy.keys for policy in self.policies}.values()
        )
        self._pool = pool
        #: How the settings' key sources were made, for issuers accepted later (tenants);
        #: ``None`` for policies given directly. It may hold no policy yet.
        self.factory = factory

    @classmethod
    def from_settings(
        cls, settings: JWTSettings, *, keys: KeySource | None = None, open_ended: bool = False
    ) -> Issuers:
        """The policies ``settings`` describe; ``keys`` replaces their static key source.

        With no issuer listed, ``iss`` is not checked, unless the verifier is
        ``open_ended`` (it accepts issuers at request time: ``resolve_issuer``) or the
        settings have issuer templates: then no issuer is accepted but those.
        """
        factory = SourceFactory(settings, keys=keys)
        algorithms = frozenset(settings.algorithms)
        policies = []
        listed: tuple[IssuerSettings | None, ...] = settings.issuer_settings
        if not listed and not (open_ended or settings.issuer_templates):
            listed = (None,)
        for issuer in listed:
            if issuer is None:
                policies.append(
                    IssuerPolicy(
                        None,
                        settings.audiences,
                        algorithms,
                        factory.source(None, None, sorted(algorithms)),
                    )
                )
                continue
            policies.append(factory.policy(issuer, issuer.issuer))
        return cls(policies, pool=factory.pool, factory=factory)

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
        pool = self._pool if self.factory is None else self.factory.pool
        if pool is not None:
            await pool.aclose()


class SourceFactory:
    """Where an issuer's keys come from, by the settings: its own ``jwks_url``; else the
    keys shared by every issuer (a secret, PEM keys, a local JWK Set, keys fetched one per
    ``kid``); else ``JWT_JWKS_URL``; else discovery from the issuer's metadata. Sources
    that fetch share one :class:`JWKSPool`, made at the first that needs it (:attr:`pool`)."""

    __slots__ = ("_algorithms", "_settings", "_static", "pool")

    def __init__(self, settings: JWTSettings, *, keys: KeySource | None = None) -> None:
        self._settings = settings
        self._algorithms = frozenset(settings.algorithms)
        self._static = keys
        if keys is None and (
            settings.is_hmac or settings.public_key or settings.public_keys or settings.private_key
        ):
            self._static = StaticKeys.from_settings(settings)
        self.pool: JWKSPool | None = None
        if self._static is None:
            self._static = _local_keys(settings)
        if self._static is None and settings.key_url is not None:
            self._static = self._keys_by_kid(settings)

    def _keys_by_kid(self, settings: JWTSettings) -> KeySource:
        """The keys fetched one per ``kid`` (``JWT_ALB_REGION``, ``JWT_KEY_URL_TEMPLATE``),
        with the ``JWT_JWKS_*`` fetch options and an HTTP client of their own: they are
        the only keys (the settings allow no other source beside them)."""
        assert settings.key_url is not None
        try:
            from .jwks import JWKSOptions
            from .kid_urls import KidURLKeys
        except ImportError:
            raise ConfigurationError(_JWKS_EXTRA) from None
        return KidURLKeys(
            settings.key_url,
            options=JWKSOptions.from_settings(settings),
            telemetry=settings.telemetry,
        )

    def fetching(self) -> JWKSPool:
        """The pool of the sources that fetch (made now if none needed it yet)."""
        if self.pool is None:
            self.pool = _new_pool(self._settings)
        return self.pool

    def policy(self, issuer: IssuerSettings, name: str) -> IssuerPolicy:
        """The policy of ``issuer``'s settings, for the issuer ``name`` (a tenant's
        concrete issuer when ``issuer`` is a template's settings)."""
        wanted = frozenset(issuer.algorithms) if issuer.algorithms else self._algorithms
        audiences = issuer.audiences if issuer.audience is not None else self._settings.audiences
        keys = self.source(issuer.jwks_url, name, sorted(wanted))
        return IssuerPolicy(name, audiences, wanted, keys)

    def source(self, jwks_url: str | None, issuer: str | None, wanted: list[str]) -> KeySource:
        """The key source of one issuer (``None``: any issuer)."""
        if jwks_url is not None:
            return self.fetching().key_set(jwks_url, wanted)
        if self._static is not None:
            return self._static
        if self._settings.jwks_url is not None:
            return self.fetching().key_set(self._settings.jwks_url, wanted)
        if issuer is None:
            raise ConfigurationError(
                "no verification keys: set JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL or JWT_ISSUER"
            )
        from .discovery import DiscoveredKeys

        return DiscoveredKeys(issuer, algorithms=wanted, pool=self.fetching())


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


_JWKS_EXTRA = (
    "JWT_JWKS_URL, JWT_ALB_REGION, JWT_KEY_URL_TEMPLATE and JWT_ISSUER discovery need the "
    'jwks extra (httpx): pip install "jwt-middleware-asgi[jwks]"'
)


def _new_pool(settings: JWTSettings) -> JWKSPool:
    try:
        from .jwks import JWKSOptions
        from .pool import JWKSPool
    except ImportError:
        raise ConfigurationError(_JWKS_EXTRA) from None
    return JWKSPool(options=JWKSOptions.from_settings(settings), telemetry=settings.telemetry)
