"""Tenants: issuers a verifier accepts at request time, without listing them up front.

An issuer template of ``JWT_ISSUER`` (``https://login.microsoftonline.com/{tid}/v2.0``,
see :mod:`jwt_middleware.settings.tenants`) or the app's ``resolve_issuer(iss)`` callback
accepts a token's issuer that is not listed. Each accepted issuer is a tenant: a verifier of
its own, with one :class:`~jwt_middleware.keys.issuers.IssuerPolicy` whose keys come from
where a listed issuer's would (its metadata, by default), sharing the outer verifier's
verified-token cache and its :class:`~jwt_middleware.keys.pool.JWKSPool`. So a tenant's
metadata and keys are fetched once and then cached like a listed issuer's.

The token's unverified ``iss`` only chooses whose keys to try: the signature decides, and
then the token must name that issuer. A template's tenant also must carry the claim the
placeholder names with the segment's value (``tid``), or it is refused as
``tenant_mismatch``.

What bounds it, as anyone can send a token naming any issuer:

* at most ``JWT_NEW_TENANTS_PER_MINUTE`` new tenants are admitted a minute (a token bucket of
  that size, refilled over the minute); past it, a token of a new tenant is answered 503
  with ``Retry-After`` (:class:`~jwt_middleware.errors.TenantLimitError`), not 401, as it
  may be valid. So a flood of unknown issuers makes the service fetch that much at most;
* tenants that have verified a token (proven) are held up to ``JWT_MAX_TENANTS``, the least
  recently used forgotten past it; tenants that have not yet are held apart, as many as are
  admitted a minute, the oldest forgotten first. A flood fills only that second room: it
  can delay new tenants, never make the service forget a proven one;
* a forgotten tenant's key set is released from the pool when no other issuer uses it.

The refusal log names a template's tenant by its template, never by the token's ``iss``
(request text); a resolved issuer by the issuer the app returned.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .. import jws
from ..errors import InvalidTokenError, TenantLimitError
from ..keys.issuers import IssuerPolicy, Issuers, SourceFactory
from ..keys.refetch import TokenBucket
from ..keys.source import KeySource
from ..refusals import Reason, log_refusal
from ..settings import IssuerSettings, JWTSettings
from ..settings.tenants import IssuerTemplate
from ..types import VerifiedToken
from .candidates import refuse, unverified_issuer
from .claims import ClaimCheck

if TYPE_CHECKING:
    from .verifier import TokenVerifier

__all__ = ["ResolveIssuer", "TenantBuilder", "Tenants", "TokenBucket"]

#: The app's callback: the settings of an issuer it accepts (``issuer`` equal to the
#: ``iss`` it was asked about), or ``None`` to refuse it. Called for a token whose ``iss`` is
#: neither listed nor held already; it should answer from memory, quickly.
ResolveIssuer = Callable[[str], IssuerSettings | None]


@dataclass(slots=True, eq=False)
class Tenant:
    """One accepted issuer: its policy and the verifier of its tokens."""

    policy: IssuerPolicy
    verifier: TokenVerifier
    proven: bool = False


#: Makes the verifier of one tenant's policy, with an extra claim check (a template's) or
#: none: :meth:`~jwt_middleware.verification.verifier.TokenVerifier` supplies it.
TenantBuilder = Callable[[IssuerPolicy, ClaimCheck | None], "TokenVerifier"]


class Tenants:
    """The tenants of one verifier: which token goes to which, admitted and held within
    bounds (see the module's documentation)."""

    __slots__ = (
        "_bucket",
        "_build",
        "_closing",
        "_factory",
        "_listed",
        "_listed_sources",
        "_max_proven",
        "_max_unproven",
        "_proven",
        "_resolve",
        "_templates",
        "_unproven",
        "algorithms",
    )

    def __init__(
        self,
        *,
        templates: Sequence[tuple[IssuerTemplate, IssuerSettings]],
        resolve_issuer: ResolveIssuer | None,
        listed: Sequence[IssuerPolicy],
        factory: SourceFactory,
        build: TenantBuilder,
        max_tenants: int,
        new_per_minute: int,
        default_algorithms: frozenset[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._templates = tuple(templates)
        self._resolve = resolve_issuer
        self._listed = frozenset(p.issuer for p in listed if p.issuer is not None)
        self._listed_sources: tuple[KeySource, ...] = tuple(p.keys for p in listed)
        self._factory = factory
        self._build = build
        self._max_proven = max_tenants
        self._max_unproven = new_per_minute
        self._bucket = TokenBucket(per_minute=new_per_minute, clock=clock)
        self._proven: OrderedDict[str, Tenant] = OrderedDict()
        self._unproven: OrderedDict[str, Tenant] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        #: Every algorithm a tenant's token may have: the outer verifier lets these through.
        self.algorithms = frozenset(default_algorithms).union(
            *(frozenset(s.algorithms) for _, s in self._templates if s.algorithms)
        )

    @classmethod
    def from_settings(
        cls,
        settings: JWTSettings,
        issuers: Issuers,
        *,
        resolve_issuer: ResolveIssuer | None,
        build: TenantBuilder,
    ) -> Tenants | None:
        """The tenants of a verifier of ``issuers`` (the listed ones), if ``settings`` have
        issuer templates or ``resolve_issuer`` is given; their verifiers made by ``build``."""
        templates = settings.issuer_templates
        if not templates and resolve_issuer is None:
            return None
        factory = issuers.factory
        if factory is None:  # policies given directly: tenants' keys by the settings
            factory = SourceFactory(settings)
        return cls(
            templates=templates,
            resolve_issuer=resolve_issuer,
            listed=issuers.policies,
            factory=factory,
            build=build,
            max_tenants=settings.max_tenants,
            new_per_minute=settings.new_tenants_per_minute,
            default_algorithms=frozenset(settings.algorithms),
        )

    def __len__(self) -> int:
        """The tenants held, proven or not."""
        return len(self._proven) + len(self._unproven)

    @property
    def proven(self) -> tuple[str, ...]:
        """The issuers of the proven tenants, least recently used first."""
        return tuple(self._proven)

    @property
    def unproven(self) -> tuple[str, ...]:
        """The issuers of the tenants admitted that have not verified a token, oldest first."""
        return tuple(self._unproven)

    def route(self, parsed: jws.Token) -> Tenant | None:
        """The tenant whose keys ``parsed`` is to be tried with, or ``None`` for a listed
        issuer's token (the outer verifier's own). Admits a new tenant within the bounds;
        refuses a token that names no issuer accepted."""
        issuer = unverified_issuer(parsed)
        if issuer is None or issuer in self._listed:
            if self._listed:
                return None
            refuse(Reason.ISSUER)
        tenant = self._proven.get(issuer)
        if tenant is not None:
            self._proven.move_to_end(issuer)
        else:
            tenant = self._unproven.get(issuer) or self._admit(issuer)
        if parsed.algorithm not in tenant.policy.algorithms:
            refuse(Reason.ALGORITHM, issuer=tenant.policy.shown_as)
        return tenant

    def proved(self, tenant: Tenant, verified: VerifiedToken) -> VerifiedToken:
        """Note that ``tenant`` verified a token (it moves among the proven); ``verified``."""
        if not tenant.proven:
            issuer = tenant.policy.issuer
            assert issuer is not None  # a tenant's policy names its issuer
            if self._unproven.get(issuer) is tenant:
                del self._unproven[issuer]
                tenant.proven = True
                self._proven[issuer] = tenant
                while len(self._proven) > self._max_proven:
                    self._forget(self._proven.popitem(last=False)[1])
        return verified

    async def aclose(self) -> None:
        """Close every tenant's key source (the pool is the outer verifier's to close)."""
        held = [*self._proven.values(), *self._unproven.values()]
        self._proven.clear()
        self._unproven.clear()
        for tenant in held:
            await tenant.policy.keys.aclose()
        if self._closing:
            await asyncio.gather(*self._closing)

    # --- admitting and forgetting ---------------------------------------------------------------

    def _admit(self, issuer: str) -> Tenant:
        accepted = self._accepted(issuer)
        if accepted is None:
            refuse(Reason.ISSUER)
        settings, check, shown_as = accepted
        if not self._bucket.take():
            log_refusal(Reason.TENANT_LIMIT, issuer=shown_as)
            error = TenantLimitError()
            error.issuer = shown_as
            raise error
        policy = replace(self._factory.policy(settings, issuer), shown_as=shown_as)
        tenant = Tenant(policy=policy, verifier=self._build(policy, check))
        self._unproven[issuer] = tenant
        while len(self._unproven) > self._max_unproven:
            self._forget(self._unproven.popitem(last=False)[1])
        return tenant

    def _accepted(self, issuer: str) -> tuple[IssuerSettings, ClaimCheck | None, str] | None:
        """The settings of ``issuer`` if a template or the resolver accepts it, the check
        its tokens go through besides, and how the log names it."""
        for template, settings in self._templates:
            segment = template.segment_of(issuer)
            if segment is not None:
                return settings, tenant_check(template.claim, segment), template.text
        if self._resolve is not None:
            resolved = self._resolve(issuer)
            if resolved is not None and resolved.issuer == issuer:
                return resolved, None, issuer
        return None

    def _forget(self, tenant: Tenant) -> None:
        """Drop ``tenant``; close its key source and release its key set, in the background
        (this runs within a request)."""
        try:
            task = asyncio.get_running_loop().create_task(self._close(tenant))
        except RuntimeError:  # no loop: nothing of it can be fetching
            return
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, tenant: Tenant) -> None:
        source = tenant.policy.keys
        if source in self._listed_sources or any(
            t.policy.keys is source for t in (*self._proven.values(), *self._unproven.values())
        ):
            return  # shared (static keys, a template's jwks_url): not the tenant's own
        await source.aclose()
        key_set = getattr(source, "key_set", None)  # a DiscoveredKeys' current key set
        pool = self._factory.pool
        if key_set is not None and pool is not None and not self._in_use(key_set):
            await pool.release(key_set)

    def _in_use(self, key_set: object) -> bool:
        sources = [
            *self._listed_sources,
            *(t.policy.keys for t in (*self._proven.values(), *self._unproven.values())),
        ]
        return any(s is key_set or getattr(s, "key_set", None) is key_set for s in sources)


def tenant_check(claim: str, segment: str) -> ClaimCheck:
    """A template tenant's check: its token's ``claim`` equals the issuer's segment."""

    def same_tenant(claims: Mapping[str, Any], now: float) -> None:
        if claims.get(claim) != segment:
            raise InvalidTokenError(reason=Reason.TENANT_MISMATCH)

    return ClaimCheck("tenant", Reason.TENANT_MISMATCH, same_tenant)
