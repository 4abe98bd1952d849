"""``TokenVerifier``: verify a bearer JWT, pinned to configured keys and algorithms.

The keys come from a :class:`~jwt_middleware.keys.source.KeySource`, each bound to one
algorithm by configuration; the token's header selects among them by ``alg`` and ``kid``
and can choose nothing else. It does not go through PyJWT's generic ``decode``:
:mod:`~jwt_middleware.jws` parses, each key checks its signature with ``hmac`` or
``cryptography``, and the claims are checked by the named checks of :mod:`.claims`,
assembled once per issuer (:mod:`.acceptance`), by PyJWT's rules or stricter ones (a
differential property test holds them to that). Which keys may have signed a token is
:mod:`.candidates`' business. Every failure becomes one of our
:mod:`~jwt_middleware.errors`, with a fixed description and a fixed
:class:`~jwt_middleware.refusals.Reason`, and is logged once with that reason
(:func:`~jwt_middleware.refusals.log_refusal`): before a key verified the token, where it is
refused; after, by :meth:`TokenVerifier._signed`, which adds the key's ``kid`` and issuer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from time import perf_counter_ns
from typing import Final

from .. import jws
from ..errors import AuthenticationError, InvalidTokenError, invalid_token
from ..keys.issuers import IssuerPolicy, Issuers
from ..keys.source import KeySource
from ..refusals import Reason, log_refusal, refusals_logged
from ..settings import JWTSettings
from ..telemetry import FirstSight, IssuerLabels, instruments
from ..types import BoundKey, Claims, VerifiedToken
from .acceptance import Acceptance, payload_of
from .cache import VerifiedTokenCache
from .candidates import (
    Candidate,
    CandidateKeys,
    only_issuer,
    policy_for,
    refuse,
    refuse_signature,
)
from .claims import ClaimCheck, custom_check
from .tenants import ResolveIssuer, Tenant, Tenants

__all__ = ["ACCESS_TOKEN_TYPE", "REFRESH_TOKEN_TYPE", "TokenVerifier"]

#: The ``typ`` header of access tokens we create (RFC 9068) and of refresh tokens. Explicit
#: typing (RFC 8725 section 3.11) is what keeps a refresh token from passing as an access token.
ACCESS_TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 - a media type, not a secret
REFRESH_TOKEN_TYPE: Final = "refresh+jwt"  # noqa: S105
_ACCESS_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
_UNTYPED: Final = frozenset({"jwt", "application/jwt", None})
#: The reason of every forged token's refusal, looked up once: on Python 3.11 a member
#: read from its enum class goes through ``EnumType.__getattr__`` (about 70 ns).
_BAD_SIGNATURE: Final = Reason.BAD_SIGNATURE


class TokenVerifier:
    """Verifies tokens for one configuration; build it once and reuse it.

    The keys, issuers, audiences and algorithms come from ``settings``; ``keys`` replaces
    the static key source with one of your own (use :meth:`verify_async` for a source that
    waits, such as a JWKS endpoint). ``token_types`` are the accepted ``typ`` headers,
    compared case-insensitively; by default access tokens (``at+jwt``) and, unless
    ``require_access_token_type`` is set, untyped ones (``JWT`` or none). A refresh token is
    never an access token. ``check_claims`` is asked about every token that passed all
    other checks; ``False`` refuses it (Cognito's ``token_use``, Entra's ``tid``...).
    ``issuers`` replaces the issuers, audiences and key sources of the settings with
    policies of your own (:class:`~jwt_middleware.keys.issuers.Issuers`).
    ``resolve_issuer(iss)`` accepts issuers that are not listed, at request time, as the
    issuer templates of ``JWT_ISSUER`` do (:mod:`.tenants`).

    How a token is verified, in this order, so that a forged token costs no more than its
    signature check and is never parsed as JSON: its size; its three segments and header
    (:mod:`.jws`); the header's ``alg`` among the allowed ones and its ``typ`` (and, with
    ``JWT_ALB_SIGNER``, its ``signer`` among those load balancers); the keys its
    ``alg`` and ``kid`` select (:mod:`.candidates`); the signature over the raw bytes; only
    then the payload, and its claims against the policy of the issuer whose key verified
    it, by the checks of :mod:`.claims` assembled for it once (:mod:`.acceptance`).
    (One exception: when keys of several issuers answer the same header, say tokens without
    a ``kid``, the payload's unverified ``iss`` is read to choose whose keys to try, so that
    a forged token costs one signature check rather than one per issuer.)

    Tokens that verify are remembered (``verified_cache_size`` entries, at most
    ``verified_cache_seconds`` and never past their ``exp``), so a client's repeated
    token is parsed once; see :mod:`jwt_middleware.verification.cache`.
    ``cache_verified=False`` skips that for a verifier used once.

    ``dpop=True`` makes the verifier of tokens sent with a DPoP proof
    (:class:`~jwt_middleware.verification.dpop_authenticator.DPoPAuthenticator`): it
    accepts only tokens bound to a key (``cnf.jkt``), and its cache is its own, so a
    DPoP-bound token it accepted is never found by the bearer path, whose verifier refuses
    any ``cnf``. A :class:`~jwt_middleware.verification.bearer.BearerAuthenticator` refuses
    such a verifier. ``certificate_bound=True`` makes, the same way, the verifier of
    tokens bound to a TLS client certificate (``cnf.x5t#S256``, RFC 8705), for
    :class:`~jwt_middleware.verification.certificate_bound.CertificateBoundAuthenticator`,
    which compares the certificate on every request, cached token or not. Either verifier
    alone proves nothing about the sender: only its authenticator does.
    """

    __slots__ = (
        "_acceptance",
        "_algorithms",
        "_cache",
        "_first_sight",
        "_issuers",
        "_keys",
        "_max_len",
        "_signers",
        "_static",
        "_tenants",
        "_types",
        "cached",
        "certificate_bound",
        "dpop",
        "settings",
    )

    def __init__(
        self,
        settings: JWTSettings,
        *,
        keys: KeySource | None = None,
        token_types: Collection[str | None] | None = None,
        cache_verified: bool = True,
        check_claims: Callable[[Claims], bool] | None = None,
        issuers: Issuers | None = None,
        resolve_issuer: ResolveIssuer | None = None,
        dpop: bool = False,
        certificate_bound: bool = False,
    ) -> None:
        if issuers is not None and keys is not None:
            raise ValueError("give keys or issuers, not both")
        if dpop and certificate_bound:
            raise ValueError("give dpop or certificate_bound, not both: each path has its own")
        #: What it was built from; a middleware given this verifier and no settings uses
        #: these rather than reading the environment again.
        self.settings = settings
        #: Whether this verifies DPoP-bound tokens only (see the class).
        self.dpop = dpop
        #: Whether this verifies certificate-bound tokens only (see the class).
        self.certificate_bound = certificate_bound
        self._issuers = (
            issuers
            if issuers is not None
            else Issuers.from_settings(settings, keys=keys, open_ended=resolve_issuer is not None)
        )
        policies = self._issuers.policies
        self._algorithms = frozenset().union(*(p.algorithms for p in policies))
        self._tenants = Tenants.from_settings(
            settings, self._issuers, resolve_issuer=resolve_issuer, build=self._tenant_verifier
        )
        if self._tenants is not None:
            self._algorithms |= self._tenants.algorithms
        self._keys = CandidateKeys(self._issuers, self._algorithms)
        #: The candidates of static keys by algorithm, when no tenant may be routed to:
        #: what _now() would find, looked up without a call (a forged token's usual path).
        self._static = self._keys.fixed if self._tenants is None else None
        self._types = _accepted_types(token_types, explicit=settings.require_access_token_type)
        self._max_len = settings.max_token_bytes
        #: The accepted ``signer`` header values (ALB's), or ``None``: the header is not read.
        self._signers = frozenset(settings.alb_signers) or None
        self._cache = (
            VerifiedTokenCache(
                max_entries=settings.verified_cache_size,
                max_bytes=settings.verified_cache_bytes,
                ttl_seconds=settings.verified_cache_seconds,
            )
            if cache_verified and settings.verified_cache_size
            else None
        )
        custom = custom_check(check_claims) if check_claims is not None else None
        self._acceptance = Acceptance(
            settings,
            policies,
            custom=custom,
            cache=self._cache,
            dpop=dpop,
            certificate_bound=certificate_bound,
        )
        #: ``cached(token)``: the verification of ``token`` if it is in the verified-token
        #: cache, else ``None``: the middleware's fast path, without a coroutine. The cache's
        #: own lookup, bound here, so that a reused token costs one call.
        self.cached: Callable[[str], VerifiedToken | None] = (
            self._cache.get if self._cache is not None else _not_cached
        )
        self._first_sight = self._observed(settings, policies)

    def _observed(
        self, settings: JWTSettings, policies: tuple[IssuerPolicy, ...]
    ) -> FirstSight | None:
        """What reports first sights and the cache's lookups
        (:mod:`~jwt_middleware.telemetry`), unless ``JWT_TELEMETRY`` is off or
        OpenTelemetry is not installed."""
        telemetry = instruments() if settings.telemetry else None
        if telemetry is None:
            return None
        if self._cache is not None:
            telemetry.add_cache(self._cache)
        labels = IssuerLabels.from_settings(settings, (p.issuer for p in policies))
        return FirstSight(telemetry, labels)

    @property
    def policies(self) -> tuple[IssuerPolicy, ...]:
        """The issuers this verifier accepts, with their audiences, algorithms and keys."""
        return self._issuers.policies

    def _tenant_verifier(self, policy: IssuerPolicy, check: ClaimCheck | None) -> TokenVerifier:
        """The verifier of one tenant's tokens: this one's settings, token types, claim
        checks and verified-token cache, and ``check`` (a template's claim) after the
        others."""
        tenant = TokenVerifier(
            self.settings,
            issuers=Issuers([policy]),
            token_types=self._types,
            cache_verified=False,
            dpop=self.dpop,
            certificate_bound=self.certificate_bound,
        )
        tenant._cache, tenant.cached = self._cache, self.cached
        acceptance = tenant._acceptance
        acceptance.cache, acceptance.custom = self._cache, self._acceptance.custom
        if check is not None:
            acceptance.add_check(policy, check)
        return tenant

    def claim_checks(self, policy: IssuerPolicy | None = None) -> tuple[ClaimCheck, ...]:
        """The claim checks a token of ``policy`` (the first issuer's by default) goes
        through once its signature checked out, in order: only those the settings need."""
        checks = self._acceptance.checks[policy if policy is not None else self.policies[0]]
        custom = self._acceptance.custom
        return checks if custom is None else (*checks, custom)

    def verify(self, token: str) -> Claims:
        """Verify ``token`` against keys available without waiting; return its claims."""
        if self._cache is not None:
            cached = self._cache.get(token)
            if cached is not None:
                return cached.claims
        verified = self.authenticate_now(token)
        if verified is None:
            raise TypeError("this key source has to wait; use verify_async()")
        return verified.claims

    async def verify_async(self, token: str) -> Claims:
        """Verify ``token``, waiting on the key source if it needs to; return its claims."""
        return (await self.authenticate(token)).claims

    def authenticate_now(self, token: str) -> VerifiedToken | None:
        """Verify ``token`` without looking in the cache, with keys available without
        waiting; ``None`` when its keys have to be awaited (:meth:`authenticate` then).
        The middleware's path for a token :attr:`cached` did not know: no coroutine and
        no second look in the cache for a token that is refused, as a forged one is.
        Reported as a first sight (:mod:`~jwt_middleware.telemetry`) unless it returns ``None``."""
        first_sight = self._first_sight
        if first_sight is not None:
            started = perf_counter_ns()
            if started >= first_sight.due_ns and first_sight.reporting(started):
                return self._reported_now(token, first_sight, started)
        # _verified_now's body, not a call to it: a frame less for every refused token to
        # unwind (about 0.1 us of a forged token's refusal).
        parsed = self._parse(token)
        static = self._static
        if static is not None:
            return self._finish(token, parsed, static[parsed.algorithm])
        return self._now(token, parsed)

    def _reported_now(
        self, token: str, first_sight: FirstSight, started: int
    ) -> VerifiedToken | None:
        """:meth:`authenticate_now` once an SDK's provider is set: timed, and reported
        unless it returns ``None``."""
        try:
            verified = self._verified_now(token)
        except AuthenticationError as exc:
            first_sight.refused(started, exc)
            raise
        if verified is not None:
            first_sight.accepted(started, verified.issuer)
        return verified

    async def authenticate(self, token: str) -> VerifiedToken:
        """Verify ``token``; its claims, subject, scopes and issuer (what the middleware
        puts in the request). A token not in the cache is reported as a first sight."""
        cached = self.cached(token)
        if cached is not None:
            return cached
        first_sight = self._first_sight
        if first_sight is None:
            return await self._verified(token)
        started = perf_counter_ns()
        if started < first_sight.due_ns or not first_sight.reporting(started):
            return await self._verified(token)
        try:
            verified = await self._verified(token)
        except AuthenticationError as exc:
            first_sight.refused(started, exc)
            raise
        first_sight.accepted(started, verified.issuer)
        return verified

    def _verified_now(self, token: str) -> VerifiedToken | None:
        """:meth:`authenticate_now`, unreported."""
        parsed = self._parse(token)
        static = self._static
        if static is not None:
            return self._finish(token, parsed, static[parsed.algorithm])
        return self._now(token, parsed)

    async def _verified(self, token: str) -> VerifiedToken:
        """:meth:`authenticate` after the cache, unreported: waits for keys if it must."""
        parsed = self._parse(token)
        if self._tenants is not None and (tenant := self._tenants.route(parsed)) is not None:
            return await self._tenant_authenticate(tenant, token, parsed)
        candidates = self._keys.now(parsed)
        if candidates is None:
            candidates = await self._keys.waiting(parsed)
        return self._finish(token, parsed, candidates)

    @property
    def ready(self) -> bool:
        """Whether every key source holds usable keys: tokens verify without waiting."""
        return self._issuers.available

    async def prefetch(self) -> None:
        """Load remote keys now (e.g. in the app's lifespan) instead of at the first request."""
        await self._issuers.prefetch()

    async def aclose(self) -> None:
        """Release what the key sources hold open (the JWKS HTTP client)."""
        if self._tenants is not None:
            await self._tenants.aclose()
        await self._issuers.aclose()

    @property
    def tenants(self) -> Tenants | None:
        """The issuers accepted at request time (:mod:`.tenants`), if any may be."""
        return self._tenants

    # --- the steps ---------------------------------------------------------------------------

    def _parse(self, token: str) -> jws.Token:
        """The token split and its header checked: size, form, ``alg``, ``typ`` and, when
        configured, ``signer``."""
        if not isinstance(token, str) or len(token) > self._max_len:
            refuse(Reason.TOO_LARGE if isinstance(token, str) else Reason.MALFORMED)
        try:
            parsed = jws.parse(token)
        except jws.MalformedTokenError:
            refuse(Reason.MALFORMED)
        if parsed.algorithm not in self._algorithms:
            refuse(Reason.ALGORITHM)
        typ = parsed.typ  # as sent ("JWT", say) first: no lower() for the usual spellings
        if typ not in self._types and (typ is None or typ.lower() not in self._types):
            refuse(Reason.TOKEN_TYPE)
        signers = self._signers
        if signers is not None and not _signed_by(parsed, signers):
            refuse(Reason.SIGNER)
        return parsed

    def _now(self, token: str, parsed: jws.Token) -> VerifiedToken | None:
        """Verify a parsed token with the keys at hand (a tenant's, if it names one), or
        ``None`` if they are awaited."""
        if self._tenants is not None and (tenant := self._tenants.route(parsed)) is not None:
            verified = tenant.verifier._now(token, parsed)
            return None if verified is None else self._tenants.proved(tenant, verified)
        candidates = self._keys.now(parsed)
        return None if candidates is None else self._finish(token, parsed, candidates)

    async def _tenant_authenticate(
        self, tenant: Tenant, token: str, parsed: jws.Token
    ) -> VerifiedToken:
        verifier = tenant.verifier
        candidates = verifier._keys.now(parsed)
        if candidates is None:
            candidates = await verifier._keys.waiting(parsed)
        verified = verifier._finish(token, parsed, candidates)
        assert self._tenants is not None
        return self._tenants.proved(tenant, verified)

    def _finish(self, token: str, parsed: jws.Token, candidates: list[Candidate]) -> VerifiedToken:
        """Accept the token by the first candidate key whose signature and issuer fit, or
        refuse it.

        One candidate (one key for the token's header, the usual case) is checked without
        the bookkeeping of several, and a forged token is refused at once: a signature
        check, one look at whether refusals are logged, and the error."""
        if len(candidates) == 1:
            key, policies = candidates[0]
            if key.check(parsed.signing_input, parsed.signature):
                verified = self._signed(token, parsed, key, policies)
                if verified is None:
                    refuse(Reason.ISSUER, issuer=only_issuer(policies), kid=key.kid)
                return verified
            issuer = only_issuer(policies)
            if refusals_logged():
                log_refusal(_BAD_SIGNATURE, issuer=issuer, kid=key.kid)
            raise invalid_token(_BAD_SIGNATURE, issuer)
        candidates = self._keys.narrowed(parsed, candidates)
        signer: Candidate | None = None
        # A key offered for several issuers is checked once.
        checked: dict[int, bool] = {}
        for key, policies in candidates:
            known = checked.get(id(key))
            verified_by_key = checked[id(key)] = (
                key.check(parsed.signing_input, parsed.signature) if known is None else known
            )
            if not verified_by_key:
                continue
            signer = key, policies
            verified = self._signed(token, parsed, key, policies)
            if verified is not None:
                return verified
        if signer is not None:
            refuse(Reason.ISSUER, issuer=only_issuer(signer[1]), kid=signer[0].kid)
        refuse_signature(candidates)

    def _signed(
        self, token: str, parsed: jws.Token, key: BoundKey, policies: tuple[IssuerPolicy, ...]
    ) -> VerifiedToken | None:
        """The token ``key`` verified, accepted by the policy of its ``iss`` among those
        ``key`` serves; ``None`` when none of them owns it. A refusal of its payload is
        logged with the key's ``kid`` and issuer."""
        try:
            text, payload = payload_of(parsed)
            policy = policy_for(policies, payload.get("iss"))
            if policy is None or parsed.algorithm not in policy.algorithms:
                return None  # signed by a key that issuer does not own
            verified = self._acceptance.accept(token, payload, policy, text)
        except InvalidTokenError as exc:
            exc.issuer = only_issuer(policies)
            log_refusal(exc.reason, issuer=exc.issuer, kid=key.kid)
            raise
        if self._signers is None:  # ALB's headers hold their exp: each one is new
            jws.remember_header(parsed)
        return verified


def _accepted_types(
    token_types: Collection[str | None] | None, *, explicit: bool
) -> frozenset[str | None]:
    """The accepted ``typ`` headers (by default access tokens and, unless ``explicit``
    typing is required, untyped ones), lower-cased and upper-cased: compared
    case-insensitively, so a value is accepted if it or its lower case is in the set."""
    if token_types is None:
        token_types = _ACCESS_TYPES | (set() if explicit else _UNTYPED)
    lower = {t.lower() if t is not None else None for t in token_types}
    upper = {t.upper() for t in lower if t is not None}
    return frozenset(lower | {t for t in upper if t.lower() in lower})  # not "SS" for "ß"


def _signed_by(parsed: jws.Token, signers: frozenset[str]) -> bool:
    """Whether the token's header names one of ``signers`` as its ``signer``: checked
    before any key is looked up, so that a token of another load balancer never makes the
    key source fetch (ALB's keys are shared by a region: its signature alone proves
    nothing); the signature, checked next, covers the header."""
    signer = jws.header_member(parsed, "signer")
    return isinstance(signer, str) and signer in signers


def _not_cached(token: str) -> None:
    """:attr:`TokenVerifier.cached` of a verifier without a cache."""
