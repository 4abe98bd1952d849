"""``TokenVerifier``: verify a bearer JWT, pinned to configured keys and algorithms.

The keys come from a :class:`~jwt_middleware.keys.source.KeySource`, each bound to one
algorithm by configuration; the token's header selects among them by ``alg`` and ``kid``
and can choose nothing else. It does not go through PyJWT's generic ``decode``:
:mod:`~jwt_middleware.jws` parses, each key checks its signature with ``hmac`` or
``cryptography``, and the claims are checked by the named checks of :mod:`.claims`,
assembled here once per issuer, by PyJWT's rules or stricter ones (a differential
property test holds them to that). Every failure becomes one of our
:mod:`~jwt_middleware.errors`, with a fixed description and a fixed
:class:`~jwt_middleware.refusals.Reason`, and is logged once with that reason
(:func:`~jwt_middleware.refusals.log_refusal`): before a key verified the token, where it is
refused; after, by :meth:`TokenVerifier._finish`, which adds the key's ``kid`` and issuer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any, Final, NoReturn

from .. import jws
from ..errors import InvalidTokenError, KeysUnavailableError
from ..keys.issuers import IssuerPolicy, Issuers, SourceFactory
from ..keys.source import KeySource
from ..refusals import Reason, log_refusal, refusals_logged
from ..settings import ClaimPath, JWTSettings
from ..types import BoundKey, Claims, FrozenDict, FrozenList, VerifiedToken, freeze
from .cache import PayloadShape, VerifiedTokenCache, entry_size
from .claims import ClaimCheck, custom_check, expires_at, payload_checks
from .scopes import scopes_from
from .tenants import ResolveIssuer, Tenant, Tenants, unverified_issuer

__all__ = ["ACCESS_TOKEN_TYPE", "REFRESH_TOKEN_TYPE", "TokenVerifier"]

#: The ``typ`` header of access tokens we create (RFC 9068) and of refresh tokens. Explicit
#: typing (RFC 8725 section 3.11) is what keeps a refresh token from passing as an access token.
ACCESS_TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 - a media type, not a secret
REFRESH_TOKEN_TYPE: Final = "refresh+jwt"  # noqa: S105
_ACCESS_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
_UNTYPED: Final = frozenset({"jwt", "application/jwt", None})


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
    (:mod:`.jws`); the header's ``alg`` among the allowed ones and its ``typ``; the keys its
    ``alg`` and ``kid`` select (:mod:`~jwt_middleware.keys.issuers`); the signature over the
    raw bytes; only then the payload, and its claims against the policy of the issuer whose
    key verified it, by the checks of :mod:`.claims` assembled for it once, here.
    (One exception: when keys of several issuers answer the same header, say tokens without
    a ``kid``, the payload's unverified ``iss`` is read to choose whose keys to try, so that
    a forged token costs one signature check rather than one per issuer.)

    Tokens that verify are remembered (``verified_cache_size`` entries, at most
    ``verified_cache_seconds`` and never past their ``exp``), so a client's repeated
    token is parsed once; see :mod:`jwt_middleware.verification.cache`.
    ``cache_verified=False`` skips that for a verifier used once.
    """

    __slots__ = (
        "_algorithms",
        "_cache",
        "_checks",
        "_custom",
        "_fixed",
        "_issuers",
        "_leeway",
        "_max_age",
        "_max_len",
        "_rules",
        "_scope_claims",
        "_scope_names",
        "_sources",
        "_tenants",
        "_types",
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
    ) -> None:
        if issuers is not None and keys is not None:
            raise ValueError("give keys or issuers, not both")
        #: What it was built from; a middleware given this verifier and no settings uses
        #: these rather than reading the environment again.
        self.settings = settings
        self._issuers = (
            issuers
            if issuers is not None
            else Issuers.from_settings(settings, keys=keys, open_ended=resolve_issuer is not None)
        )
        policies = self._issuers.policies
        self._algorithms = frozenset().union(*(p.algorithms for p in policies))
        self._tenants = self._tenants_of(resolve_issuer)
        if self._tenants is not None:
            self._algorithms |= self._tenants.algorithms
        #: For each key source, the policies it serves.
        self._sources: tuple[tuple[KeySource, tuple[IssuerPolicy, ...]], ...] = tuple(
            (source, tuple(p for p in policies if p.keys is source))
            for source in self._issuers.sources
        )
        self._fixed = _fixed_candidates(self._sources, self._algorithms)
        self._types = _accepted_types(token_types, explicit=settings.require_access_token_type)
        self._leeway = settings.leeway_seconds
        self._max_len = settings.max_token_bytes
        self._max_age = settings.max_token_age_seconds
        #: For each issuer policy, the claim checks its tokens go through, in order.
        self._checks = {
            policy: payload_checks(
                leeway_seconds=settings.leeway_seconds,
                max_age_seconds=settings.max_token_age_seconds,
                audiences=policy.audiences,
                required_claims=settings.required_claims,
                accept_bound_tokens=settings.accept_bound_tokens_as_bearer,
                allow_nonce=settings.allow_nonce_in_access_tokens,
            )
            for policy in policies
        }
        #: The same, as _accept runs them: (the claim that triggers it or None, its rule).
        self._rules = {
            policy: tuple((check.claim, check.rule) for check in checks)
            for policy, checks in self._checks.items()
        }
        self._custom = custom_check(check_claims) if check_claims is not None else None
        self._scope_claims = settings.scope_claims
        self._scope_names = _top_level_names(self._scope_claims)
        self._cache = (
            VerifiedTokenCache(
                max_entries=settings.verified_cache_size,
                max_bytes=settings.verified_cache_bytes,
                ttl_seconds=settings.verified_cache_seconds,
            )
            if cache_verified and settings.verified_cache_size
            else None
        )

    @property
    def policies(self) -> tuple[IssuerPolicy, ...]:
        """The issuers this verifier accepts, with their audiences, algorithms and keys."""
        return self._issuers.policies

    def _tenants_of(self, resolve_issuer: ResolveIssuer | None) -> Tenants | None:
        """The tenants (issuers accepted at request time), if the settings have issuer
        templates or ``resolve_issuer`` is given."""
        templates = self.settings.issuer_templates
        if not templates and resolve_issuer is None:
            return None
        factory = self._issuers.factory
        if factory is None:  # policies given directly: tenants' keys by the settings
            factory = SourceFactory(self.settings)
        return Tenants(
            templates=templates,
            resolve_issuer=resolve_issuer,
            listed=self._issuers.policies,
            factory=factory,
            build=self._tenant_verifier,
            max_tenants=self.settings.max_tenants,
            new_per_minute=self.settings.new_tenants_per_minute,
            default_algorithms=frozenset(self.settings.algorithms),
        )

    def _tenant_verifier(self, policy: IssuerPolicy, check: ClaimCheck | None) -> TokenVerifier:
        """The verifier of one tenant's tokens: this one's settings, token types, claim
        checks and verified-token cache, and ``check`` (a template's claim) after the
        others."""
        tenant = TokenVerifier(
            self.settings, issuers=Issuers([policy]), token_types=self._types, cache_verified=False
        )
        tenant._cache = self._cache
        tenant._custom = self._custom
        if check is not None:
            tenant._checks[policy] += (check,)
            tenant._rules[policy] += ((check.claim, check.rule),)
        return tenant

    def claim_checks(self, policy: IssuerPolicy | None = None) -> tuple[ClaimCheck, ...]:
        """The claim checks a token of ``policy`` (the first issuer's by default) goes
        through once its signature checked out, in order: only those the settings need."""
        checks = self._checks[policy if policy is not None else self.policies[0]]
        return checks if self._custom is None else (*checks, self._custom)

    def verify(self, token: str) -> Claims:
        """Verify ``token`` against keys available without waiting; return its claims."""
        cached = self.cached(token)
        if cached is not None:
            return cached.claims
        verified = self._now(token, self._parse(token))
        if verified is None:
            raise TypeError("this key source has to wait; use verify_async()")
        return verified.claims

    async def verify_async(self, token: str) -> Claims:
        """Verify ``token``, waiting on the key source if it needs to; return its claims."""
        return (await self.authenticate(token)).claims

    def cached(self, token: str) -> VerifiedToken | None:
        """The verification of ``token`` if it is in the verified-token cache, else ``None``:
        the middleware's fast path, without a coroutine."""
        return self._cache.get(token) if self._cache is not None else None

    def authenticate_now(self, token: str) -> VerifiedToken | None:
        """Verify ``token`` without looking in the cache, with keys available without
        waiting; ``None`` when its keys have to be awaited (:meth:`authenticate` then).
        The middleware's path for a token :meth:`cached` did not know: no coroutine and
        no second look in the cache for a token that is refused, as a forged one is."""
        return self._now(token, self._parse(token))

    async def authenticate(self, token: str) -> VerifiedToken:
        """Verify ``token``; its claims, subject, scopes and issuer (what the middleware
        puts in the request)."""
        cached = self.cached(token)
        if cached is not None:
            return cached
        parsed = self._parse(token)
        if self._tenants is not None and (tenant := self._tenants.route(parsed)) is not None:
            return await self._tenant_authenticate(tenant, token, parsed)
        candidates = self._candidates_now(parsed)
        if candidates is None:
            candidates = await self._candidates_waiting(parsed)
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

    # --- tenants -------------------------------------------------------------------------------

    def _now(self, token: str, parsed: jws.Token) -> VerifiedToken | None:
        """Verify a parsed token with the keys at hand, or ``None`` if they are awaited."""
        if self._tenants is not None and (tenant := self._tenants.route(parsed)) is not None:
            verified = tenant.verifier._now(token, parsed)
            return None if verified is None else self._tenants.proved(tenant, verified)
        candidates = self._candidates_now(parsed)
        return None if candidates is None else self._finish(token, parsed, candidates)

    async def _tenant_authenticate(
        self, tenant: Tenant, token: str, parsed: jws.Token
    ) -> VerifiedToken:
        verifier = tenant.verifier
        candidates = verifier._candidates_now(parsed)
        if candidates is None:
            candidates = await verifier._candidates_waiting(parsed)
        verified = verifier._finish(token, parsed, candidates)
        assert self._tenants is not None
        return self._tenants.proved(tenant, verified)

    # --- the steps ---------------------------------------------------------------------------

    def _parse(self, token: str) -> jws.Token:
        if not isinstance(token, str) or len(token) > self._max_len:
            _refuse(Reason.TOO_LARGE if isinstance(token, str) else Reason.MALFORMED)
        try:
            parsed = jws.parse(token)
        except jws.MalformedTokenError:
            _refuse(Reason.MALFORMED)
        if parsed.algorithm not in self._algorithms:
            _refuse(Reason.ALGORITHM)
        typ = parsed.typ.lower() if parsed.typ is not None else None
        if typ not in self._types:
            _refuse(Reason.TOKEN_TYPE)
        return parsed

    def _candidates_now(self, parsed: jws.Token) -> list[_Candidate] | None:
        """The keys that may have signed the token, by the sources that answer at once;
        ``None`` when a source has to be awaited."""
        if self._fixed is not None:
            return self._fixed[parsed.algorithm]  # _parse allowed only these algorithms
        if len(self._sources) == 1:  # one issuer, keys named by kid: no bookkeeping
            source, policies = self._sources[0]
            keys = source.keys_now(parsed.algorithm, parsed.kid)
            if keys is None:
                return None
            return [(key, policies) for key in keys]
        candidates: list[_Candidate] = []
        waiting = False
        for source, policies in self._sources:
            keys = source.keys_now(parsed.algorithm, parsed.kid)
            if keys is None:
                waiting = True
                continue
            candidates.extend((key, policies) for key in keys)
        if waiting and not self._verifies_any(parsed, candidates):
            return None
        return candidates

    async def _candidates_waiting(self, parsed: jws.Token) -> list[_Candidate]:
        """The candidates after the sources that have to be awaited answered.

        With several issuers, only the sources of the issuer the token names are awaited
        (its unverified ``iss`` only picks whom to ask; the signature decides), so a
        flood of unknown ``kid`` values does not make every issuer refetch.
        """
        named = self._unverified_issuer(parsed) if len(self._sources) > 1 else None
        candidates: list[_Candidate] = []
        unavailable: tuple[IssuerPolicy, ...] = ()
        for source, policies in self._sources:
            keys = source.keys_now(parsed.algorithm, parsed.kid)
            if keys is None:
                if named is not None and all(p.issuer != named for p in policies):
                    continue
                try:
                    keys = await source.keys(parsed.algorithm, parsed.kid)
                except KeysUnavailableError:
                    unavailable += policies
                    continue
            candidates.extend((key, policies) for key in keys)
        if unavailable and not self._verifies_any(parsed, candidates):
            log_refusal(
                Reason.KEYS_UNAVAILABLE, issuer=_only_issuer(unavailable), level=logging.WARNING
            )
            raise KeysUnavailableError
        return candidates

    def _verifies_any(self, parsed: jws.Token, candidates: list[_Candidate]) -> bool:
        return any(key.check(parsed.signing_input, parsed.signature) for key, _ in candidates)

    def _unverified_issuer(self, parsed: jws.Token) -> str | None:
        return unverified_issuer(parsed)

    def _finish(self, token: str, parsed: jws.Token, candidates: list[_Candidate]) -> VerifiedToken:
        """Try the keys in turn; accept the token by the first whose signature and issuer
        fit, or refuse it."""
        if len(self._sources) > 1:
            candidates = self._narrowed(parsed, candidates)
        elif not candidates:
            self._refuse_keyless(parsed, None, filtered=False)
        payload: Any = None
        signer: _Candidate | None = None
        # A key offered for several issuers is checked once; one candidate needs no record.
        checked: dict[int, bool] | None = {} if len(candidates) > 1 else None
        for key, policies in candidates:
            if checked is None:
                verified = key.check(parsed.signing_input, parsed.signature)
            else:
                known = checked.get(id(key))
                verified = checked[id(key)] = (
                    key.check(parsed.signing_input, parsed.signature) if known is None else known
                )
            if not verified:
                continue
            signer = key, policies
            try:
                if payload is None:
                    text, payload = _payload_of(parsed)
                policy = _policy_for(policies, payload.get("iss"))
                if policy is None or parsed.algorithm not in policy.algorithms:
                    continue  # signed by a key that issuer does not own
                verified_token = self._accept(token, payload, policy, text)
            except InvalidTokenError as exc:
                log_refusal(exc.reason, issuer=_only_issuer(policies), kid=key.kid)
                raise
            jws.remember_header(parsed)
            return verified_token
        if signer is not None:
            _refuse(Reason.ISSUER, issuer=_only_issuer(signer[1]), kid=signer[0].kid)
        _refuse_signature(candidates)

    def _narrowed(self, parsed: jws.Token, candidates: list[_Candidate]) -> list[_Candidate]:
        """With several issuers, the candidates of the issuer the token names, if several
        issuers offer keys for its header: only those can ever be accepted (its ``iss`` is
        checked against the key's issuers), so the others are not even tried. The
        unverified ``iss`` only narrows the search. Refuses when none is left."""
        named: str | None = None
        filtered = len({id(policies) for _, policies in candidates}) > 1
        if filtered:
            named = self._unverified_issuer(parsed)
            candidates = _named_by(candidates, named)
        if not candidates:
            self._refuse_keyless(parsed, named, filtered=filtered)
        return candidates

    def _refuse_keyless(self, parsed: jws.Token, named: str | None, *, filtered: bool) -> NoReturn:
        """Refuse a token for which no key we hold answers its header: a ``kid`` unknown to
        the issuer it names, if that is one we accept; an issuer we do not accept, if the
        keys were ``filtered`` by it; else a ``kid`` unknown to all. With several issuers,
        the unverified ``iss`` is read (if not ``named`` already, and only for the log) to say
        whose."""
        if not filtered and len(self._sources) > 1 and refusals_logged():
            named = self._unverified_issuer(parsed)
        if named is not None and any(p.issuer == named for p in self.policies):
            _refuse(Reason.UNKNOWN_KID, issuer=named)  # equal to a configured issuer
        if filtered:
            _refuse(Reason.ISSUER)
        _refuse(Reason.UNKNOWN_KID, issuer=_only_issuer(self.policies))

    def _accept(
        self, token: str, payload: dict[str, Any], policy: IssuerPolicy, payload_json: str
    ) -> VerifiedToken:
        now = time.time()
        for claim, rule in self._rules[policy]:
            if claim is None or claim in payload:
                rule(payload, now)
        shape = PayloadShape.of(payload_json)
        try:
            claims = _frozen(payload, shape)
        except ValueError:  # nested deeper than freeze() follows
            raise InvalidTokenError(reason=Reason.MALFORMED_CLAIM) from None
        if self._custom is not None:
            self._custom.rule(claims, now)
        names = self._scope_names
        scopes: tuple[str, ...] = ()
        if names is None or not payload.keys().isdisjoint(names):
            scopes = tuple(scopes_from(claims, self._scope_claims))
        expires = expires_at(payload, self._leeway, self._max_age)
        verified = VerifiedToken(
            claims=claims,
            subject=payload["sub"],  # the subject check saw a string
            scopes=scopes,
            issuer=policy.issuer,
            expires_at=expires,
        )
        if self._cache is not None:
            size = entry_size(token, shape, scopes)
            self._cache.put(token, verified, expires_at=expires, size=size)
        return verified


#: A key that may have signed a token, and the issuer policies its source serves.
_Candidate = tuple[BoundKey, tuple[IssuerPolicy, ...]]


def _refuse(reason: Reason, *, issuer: str | None = None, kid: str | None = None) -> NoReturn:
    """Log ``reason`` (never text from the token; the issuer as configured and the kid of a
    key we hold, if known) and refuse with 401."""
    log_refusal(reason, issuer=issuer, kid=kid)
    raise InvalidTokenError(reason=reason)


def _only_issuer(policies: tuple[IssuerPolicy, ...]) -> str | None:
    """The one configured issuer of ``policies``, or ``None`` if there are several or none."""
    issuers = {policy.shown_as or policy.issuer for policy in policies}
    return issuers.pop() if len(issuers) == 1 else None


def _payload_of(parsed: jws.Token) -> tuple[str, dict[str, Any]]:
    """The payload of a token whose signature checked out: its JSON text and object."""
    try:
        text = parsed.payload_json()
        payload = jws.load_json(text)
    except jws.MalformedTokenError:
        raise InvalidTokenError(reason=Reason.MALFORMED) from None
    if not isinstance(payload, dict):
        raise InvalidTokenError(reason=Reason.MALFORMED)
    return text, payload


def _frozen(payload: dict[str, Any], shape: PayloadShape) -> Claims:
    """The claims, read-only (:func:`~.types.freeze`), without walking every item of them
    where the JSON text shows there is nothing nested to freeze.

    One object in the text: none inside the payload. As many arrays as the payload has
    lists at the top: no list inside a list. Then each top-level list is copied whole in C,
    not item by item: for a token with hundreds of groups that is most of the work of
    freezing it. (A ``[`` or ``{`` inside a string only takes the longer way.)
    """
    arrays = shape.arrays
    names = [name for name, value in payload.items() if type(value) is list] if arrays else []
    if shape.objects != 1 or len(names) != arrays:
        frozen: Claims = freeze(payload)
        return frozen
    for name in names:  # the payload is this verification's own, parsed just now
        payload[name] = FrozenList(payload[name])
    return FrozenDict(payload)


def _policy_for(policies: tuple[IssuerPolicy, ...], iss: object) -> IssuerPolicy | None:
    for policy in policies:
        if policy.issuer is None or policy.issuer == iss:
            return policy
    return None


def _fixed_candidates(
    sources: tuple[tuple[KeySource, tuple[IssuerPolicy, ...]], ...], algorithms: frozenset[str]
) -> dict[str, list[_Candidate]] | None:
    """With one source whose keys do not depend on the header: its candidates for each
    algorithm, asked once, now; else ``None``."""
    if len(sources) != 1 or sources[0][0].depends_on_header:
        return None
    source, served = sources[0]
    fixed = source.keys_now(None, None)
    if fixed is None:
        return None
    return {
        algorithm: [(key, served) for key in fixed if key.algorithm == algorithm]
        for algorithm in algorithms
    }


def _accepted_types(
    token_types: Collection[str | None] | None, *, explicit: bool
) -> frozenset[str | None]:
    """The accepted ``typ`` headers, lower-cased: by default access tokens and, unless
    ``explicit`` typing is required, untyped ones."""
    if token_types is None:
        token_types = _ACCESS_TYPES | (set() if explicit else _UNTYPED)
    return frozenset(t.lower() if t is not None else None for t in token_types)


def _top_level_names(scope_claims: tuple[ClaimPath, ...]) -> tuple[str, ...] | None:
    """The scope claims when they are all top-level names (a token with none of them has
    no scopes, without looking further), else ``None``."""
    if all(isinstance(p, str) and "." not in p for p in scope_claims):
        return tuple(p for p in scope_claims if isinstance(p, str))
    return None


def _named_by(candidates: list[_Candidate], named: str | None) -> list[_Candidate]:
    """The candidates whose issuers include the one the token names (or any issuer)."""
    return [
        (key, policies)
        for key, policies in candidates
        if any(p.issuer is None or p.issuer == named for p in policies)
    ]


def _refuse_signature(candidates: list[_Candidate]) -> NoReturn:
    """Refuse a token no candidate key verified; the issuer and kid in the log only when
    they are one, and only worked out when the line is written (a forged token pays for
    the signature check only)."""
    issuer = kid = None
    if refusals_logged():
        issuer = _only_issuer(tuple(p for _, policies in candidates for p in policies))
        kids = {key.kid for key, _ in candidates}
        kid = kids.pop() if len(kids) == 1 else None
    _refuse(Reason.BAD_SIGNATURE, issuer=issuer, kid=kid)
