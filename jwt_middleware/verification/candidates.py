"""Which keys may have signed a token: the candidates its header selects, and the refusals
decided before any of them verified it.

A token's header chooses among the keys of the verifier's key sources by ``alg`` and
``kid`` and can choose nothing else (:class:`~jwt_middleware.keys.source.KeySource`). Each
candidate comes with the issuer policies its source serves, since a key verifies a token
only for those (:mod:`~jwt_middleware.keys.issuers`). :class:`CandidateKeys` asks the
sources, once per token and without waiting where it can; with several issuers it reads the
token's unverified ``iss`` to ask (and try) only the keys of the issuer it names, so that a
forged token costs one signature check rather than one per issuer, and a flood of unknown
``kid`` values does not make every issuer refetch. The unverified ``iss`` only narrows the
search: the signature decides.

Every refusal here is logged once with its :class:`~jwt_middleware.refusals.Reason`
(:func:`refuse`), with the issuer as configured and the ``kid`` of a key we hold, never
text from the token.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from .. import jws
from ..errors import KeysUnavailableError, invalid_token
from ..keys.issuers import IssuerPolicy, Issuers
from ..keys.source import KeySource
from ..refusals import Reason, log_refusal, refusals_logged
from ..types import BoundKey

__all__ = [
    "Candidate",
    "CandidateKeys",
    "only_issuer",
    "policy_for",
    "refuse",
    "unverified_issuer",
]

#: A key that may have signed a token, and the issuer policies its source serves.
Candidate = tuple[BoundKey, tuple[IssuerPolicy, ...]]


class CandidateKeys:
    """The candidate keys of one verifier's issuers, for the tokens it is given.

    ``fixed`` holds, for a single source whose keys do not depend on the header (static
    keys), its candidates for each of ``algorithms``, asked once, here; ``None`` otherwise.
    """

    __slots__ = ("_sources", "fixed", "policies")

    def __init__(self, issuers: Issuers, algorithms: frozenset[str]) -> None:
        self.policies = issuers.policies
        #: For each key source, the policies it serves.
        self._sources: tuple[tuple[KeySource, tuple[IssuerPolicy, ...]], ...] = tuple(
            (source, tuple(p for p in self.policies if p.keys is source))
            for source in issuers.sources
        )
        self.fixed = _fixed_candidates(self._sources, algorithms)

    def now(self, parsed: jws.Token) -> list[Candidate] | None:
        """The keys that may have signed the token, by the sources that answer at once;
        ``None`` when a source has to be awaited (:meth:`waiting` then)."""
        if self.fixed is not None:
            return self.fixed[parsed.algorithm]  # the verifier allowed only these algorithms
        if len(self._sources) == 1:  # one issuer, keys named by kid: no bookkeeping
            source, policies = self._sources[0]
            keys = source.keys_now(parsed.algorithm, parsed.kid)
            if keys is None:
                return None
            return [(key, policies) for key in keys]
        candidates: list[Candidate] = []
        waiting = False
        for source, policies in self._sources:
            keys = source.keys_now(parsed.algorithm, parsed.kid)
            if keys is None:
                waiting = True
                continue
            candidates.extend((key, policies) for key in keys)
        if waiting and not _verifies_any(parsed, candidates):
            return None
        return candidates

    async def waiting(self, parsed: jws.Token) -> list[Candidate]:
        """The candidates after the sources that have to be awaited answered.

        With several issuers, only the sources of the issuer the token names are awaited.
        Refuses with :class:`~jwt_middleware.errors.KeysUnavailableError` (a 503) when a
        source could not answer and no key at hand verifies the token.
        """
        named = unverified_issuer(parsed) if len(self._sources) > 1 else None
        candidates: list[Candidate] = []
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
        if unavailable and not _verifies_any(parsed, candidates):
            issuer = only_issuer(unavailable)
            log_refusal(Reason.KEYS_UNAVAILABLE, issuer=issuer, level=logging.WARNING)
            error = KeysUnavailableError()
            error.issuer = issuer
            raise error
        return candidates

    def narrowed(self, parsed: jws.Token, candidates: list[Candidate]) -> list[Candidate]:
        """The candidates worth trying: if keys of several issuers answer the token's
        header, only those of the issuer it names (only those can ever be accepted: its
        ``iss`` is checked against the key's issuers). Refuses when none is left."""
        named: str | None = None
        filtered = len({id(policies) for _, policies in candidates}) > 1
        if filtered:
            named = unverified_issuer(parsed)
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
            named = unverified_issuer(parsed)
        if named is not None and any(p.issuer == named for p in self.policies):
            refuse(Reason.UNKNOWN_KID, issuer=named)  # equal to a configured issuer
        if filtered:
            refuse(Reason.ISSUER)
        refuse(Reason.UNKNOWN_KID, issuer=only_issuer(self.policies))


def refuse(reason: Reason, *, issuer: str | None = None, kid: str | None = None) -> NoReturn:
    """Log ``reason`` (never text from the token; the issuer as configured and the kid of a
    key we hold, if known) and refuse with 401, the error naming the same issuer."""
    log_refusal(reason, issuer=issuer, kid=kid)
    raise invalid_token(reason, issuer)


def refuse_signature(candidates: list[Candidate]) -> NoReturn:
    """Refuse a token no candidate key verified; the issuer and kid in the log only when
    they are one, and the kid only worked out when the line is written."""
    issuer = only_issuer(tuple(p for _, policies in candidates for p in policies))
    if refusals_logged():
        kids = {key.kid for key, _ in candidates}
        log_refusal(Reason.BAD_SIGNATURE, issuer=issuer, kid=kids.pop() if len(kids) == 1 else None)
    raise invalid_token(Reason.BAD_SIGNATURE, issuer)


def only_issuer(policies: tuple[IssuerPolicy, ...]) -> str | None:
    """The one configured issuer of ``policies`` (as the log shows it: a tenant by its
    template), or ``None`` if there are several or none."""
    if len(policies) == 1:  # the usual case, on every forged token: no set to build
        policy = policies[0]
        return policy.shown_as or policy.issuer
    issuers = {policy.shown_as or policy.issuer for policy in policies}
    return issuers.pop() if len(issuers) == 1 else None


def policy_for(policies: tuple[IssuerPolicy, ...], iss: object) -> IssuerPolicy | None:
    """The policy among ``policies`` of the issuer ``iss`` (or of any issuer), if any."""
    for policy in policies:
        if policy.issuer is None or policy.issuer == iss:
            return policy
    return None


def unverified_issuer(parsed: jws.Token) -> str | None:
    """The token's ``iss`` before its signature is checked: only ever to choose whose keys
    to try (a listed issuer's, or a tenant's: :mod:`.tenants`), or whom to name in the log."""
    try:
        payload = parsed.payload()
    except jws.MalformedTokenError:
        return None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else None


def _verifies_any(parsed: jws.Token, candidates: list[Candidate]) -> bool:
    return any(key.check(parsed.signing_input, parsed.signature) for key, _ in candidates)


def _named_by(candidates: list[Candidate], named: str | None) -> list[Candidate]:
    """The candidates whose issuers include the one the token names (or any issuer)."""
    return [
        (key, policies)
        for key, policies in candidates
        if any(p.issuer is None or p.issuer == named for p in policies)
    ]


def _fixed_candidates(
    sources: tuple[tuple[KeySource, tuple[IssuerPolicy, ...]], ...], algorithms: frozenset[str]
) -> dict[str, list[Candidate]] | None:
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
