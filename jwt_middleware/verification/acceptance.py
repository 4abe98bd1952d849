"""After the signature: a verified token's payload parsed strictly, checked against the
policy of its issuer, made read-only, and made into the identity the middleware hands on.

Only ever asked after a key verified the token (:mod:`.verifier`), so a forged token's
payload is never parsed here. :class:`Acceptance` holds what the settings ask of a token's
claims, assembled once per issuer policy (the named checks of :mod:`.claims`), the scope
claims, and the verified-token cache the accepted token goes into. Freezing uses what the
payload's text says of its shape (:class:`~.cache.PayloadShape`, which the cache's size
estimate reads as well) to skip walking the claims where nothing nested needs it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .. import jws
from ..errors import invalid_token
from ..keys.issuers import IssuerPolicy
from ..refusals import Reason
from ..settings import ClaimPath, JWTSettings
from ..types import Claims, FrozenDict, FrozenList, VerifiedToken, freeze
from .cache import PayloadShape, VerifiedTokenCache, entry_size
from .claims import ClaimCheck, expires_at, payload_checks
from .scopes import scopes_from

__all__ = ["Acceptance", "frozen_claims", "issuer_checks", "payload_of"]


class Acceptance:
    """What a token whose signature checked out must satisfy, by the policy of its issuer,
    and the :class:`~jwt_middleware.types.VerifiedToken` it becomes: assembled once from
    ``settings`` for each of ``policies``. ``custom`` runs after the others (the verifier's
    ``check_claims``); an accepted token goes into ``cache``."""

    __slots__ = (
        "_leeway",
        "_max_age",
        "_rules",
        "_scope_claims",
        "_scope_names",
        "cache",
        "checks",
        "custom",
    )

    def __init__(
        self,
        settings: JWTSettings,
        policies: Iterable[IssuerPolicy],
        *,
        custom: ClaimCheck | None,
        cache: VerifiedTokenCache | None,
        dpop: bool = False,
        certificate_bound: bool = False,
    ) -> None:
        self._leeway = settings.leeway_seconds
        self._max_age = settings.max_token_age_seconds
        #: For each issuer policy, the claim checks its tokens go through, in order.
        self.checks = {
            policy: issuer_checks(settings, policy, dpop=dpop, certificate_bound=certificate_bound)
            for policy in policies
        }
        #: The same, as :meth:`accept` runs them: (the claim that triggers it or None, its rule).
        self._rules = {
            policy: tuple((check.claim, check.rule) for check in checks)
            for policy, checks in self.checks.items()
        }
        self.custom = custom
        self._scope_claims = settings.scope_claims
        self._scope_names = _top_level_names(self._scope_claims)
        self.cache = cache

    def add_check(self, policy: IssuerPolicy, check: ClaimCheck) -> None:
        """Run ``check`` on the tokens of ``policy`` after its others (a tenant's claim)."""
        self.checks[policy] += (check,)
        self._rules[policy] += ((check.claim, check.rule),)

    def accept(
        self, token: str, payload: dict[str, Any], policy: IssuerPolicy, payload_json: str
    ) -> VerifiedToken:
        """The identity ``token`` (whose ``payload`` and its JSON text are given) stands for,
        once its claims passed the checks of ``policy``; remembered in the cache."""
        shape = PayloadShape.of(payload_json)
        verified = self.identity(payload, policy, shape, time.time())
        if self.cache is not None:
            size = entry_size(token, shape, verified.scopes)
            self.cache.put(token, verified, expires_at=verified.expires_at, size=size)
        return verified

    def identity(
        self, payload: dict[str, Any], policy: IssuerPolicy, shape: PayloadShape, now: float
    ) -> VerifiedToken:
        """The identity claims stand for once they passed the checks of ``policy`` at
        ``now``: a JWT's payload (:meth:`accept`) or an introspection answer alike, so the
        two cannot drift apart. ``shape`` is that of the JSON text they were parsed from;
        ``payload`` is frozen in place, so it must be this verification's own."""
        for claim, rule in self._rules[policy]:
            if claim is None or claim in payload:
                rule(payload, now)
        try:
            claims = frozen_claims(payload, shape)
        except ValueError:  # nested deeper than freeze() follows
            raise invalid_token(Reason.MALFORMED_CLAIM) from None
        if self.custom is not None:
            self.custom.rule(claims, now)
        names = self._scope_names
        scopes: tuple[str, ...] = ()
        if names is None or not payload.keys().isdisjoint(names):
            scopes = tuple(scopes_from(claims, self._scope_claims))
        return VerifiedToken(
            claims=claims,
            subject=payload["sub"],  # the subject check saw a string
            scopes=scopes,
            issuer=policy.issuer,
            expires_at=expires_at(payload, self._leeway, self._max_age),
        )


def payload_of(parsed: jws.Token) -> tuple[str, dict[str, Any]]:
    """The payload of a token whose signature checked out: its JSON text and object."""
    try:
        text = parsed.payload_json()
        payload = jws.load_json(text)
    except jws.MalformedTokenError:
        raise invalid_token(Reason.MALFORMED) from None
    if not isinstance(payload, dict):
        raise invalid_token(Reason.MALFORMED)
    return text, payload


def frozen_claims(payload: dict[str, Any], shape: PayloadShape) -> Claims:
    """The claims, read-only (:func:`~jwt_middleware.types.freeze`), without walking every
    item of them where the JSON text shows there is nothing nested to freeze.

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


def _top_level_names(scope_claims: tuple[ClaimPath, ...]) -> tuple[str, ...] | None:
    """The scope claims when they are all top-level names (a token with none of them has
    no scopes, without looking further), else ``None``."""
    if all(isinstance(p, str) and "." not in p for p in scope_claims):
        return tuple(p for p in scope_claims if isinstance(p, str))
    return None


def issuer_checks(
    settings: JWTSettings,
    policy: IssuerPolicy,
    *,
    dpop: bool = False,
    certificate_bound: bool = False,
) -> tuple[ClaimCheck, ...]:
    """The claim checks of one issuer's tokens, from the settings: what a JWT's payload
    and an introspection answer alike go through, in order; ``dpop``: those of a token
    sent with a DPoP proof, which must be bound to a key (``cnf.jkt``);
    ``certificate_bound``: those of a token bound to a TLS client certificate
    (``cnf.x5t#S256``). With DPoP on, a DPoP-bound token refused on any other path is
    answered with the ``DPoP`` challenge as well."""
    return payload_checks(
        leeway_seconds=settings.leeway_seconds,
        max_age_seconds=settings.max_token_age_seconds,
        audiences=policy.audiences,
        required_claims=settings.required_claims,
        accept_bound_tokens=settings.accept_bound_tokens_as_bearer,
        allow_nonce=settings.allow_nonce_in_access_tokens,
        dpop_bound=dpop,
        certificate_bound=certificate_bound,
        dpop_algorithms=settings.dpop_accepted_algorithms if settings.dpop_enabled else None,
    )
