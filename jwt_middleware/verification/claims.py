"""What verified claims must satisfy and what they grant: one place for both.

The checks are small named rules (:class:`ClaimCheck`), each with the
:class:`~jwt_middleware.refusals.Reason` it refuses with, assembled once from the settings
(:func:`payload_checks`): only those the settings need, so a token goes through fewer
rules, not more, where less is configured. The verifier runs them in this order, which
decides the reason when a token breaks several: ``exp``, ``nbf``, ``iat``, the maximum
age, ``aud``, ``sub``, ``jti``, the required claims, ``cnf``, the ID-token marks; then, on
the frozen claims, the app's own ``check_claims``. The policy asks the step-up checks
(:func:`check_acr`, :func:`check_auth_time`), the middleware :data:`JTI_PRESENT`, the
refresh-token helper :data:`FAMILY`.

A check that reads a claim refuses a malformed one with ``malformed_claim`` (and an absent
one it needs with ``missing_claim``) before its own reason: present means present, so
``"iat": null`` is refused as PyJWT refuses it.

What claims grant (scopes and roles) is read in :mod:`.scopes`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..errors import (
    DPoPTokenAsBearerError,
    InsufficientUserAuthenticationError,
    InvalidTokenError,
    TokenExpiredError,
)
from ..refusals import Reason
from ..types import Claims

__all__ = [
    "BOUND_ACCEPTED",
    "BOUND_REFUSED",
    "CERTIFICATE_BOUND",
    "DPOP_BOUND",
    "FAMILY",
    "ID_TOKEN",
    "ID_TOKEN_OR_NONCE",
    "JTI_FORM",
    "JTI_PRESENT",
    "SUBJECT",
    "CheckRule",
    "ClaimCheck",
    "audience_check",
    "bound_refused_check",
    "certificate_bound_check",
    "check_acr",
    "check_auth_time",
    "custom_check",
    "expires_at",
    "expiry_check",
    "issued_at_check",
    "max_age_check",
    "not_before_check",
    "numeric_date",
    "payload_checks",
    "required_check",
]

#: A check's rule: the token's payload (or its frozen claims) and the time now; it returns
#: nothing, or raises the refusal.
CheckRule = Callable[[Mapping[str, Any], float], None]


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    """One named rule over a verified token's claims.

    ``reason`` is what it refuses with (besides ``malformed_claim``/``missing_claim`` for
    the claim it reads, which the audience check calls ``audience_missing``). ``claim``,
    when set, says the rule concerns only tokens that carry that claim: it is run only for
    those, so an absent ``nbf`` costs no call.
    """

    name: str
    reason: Reason
    rule: CheckRule
    claim: str | None = None

    def __call__(self, claims: Mapping[str, Any], now: float = 0.0) -> None:
        """Run the rule on ``claims`` whatever ``claim`` says; ``now`` (wall-clock
        seconds) matters to the time checks only. The verifier calls :attr:`rule` itself,
        without this extra call."""
        self.rule(claims, now)


def payload_checks(
    *,
    leeway_seconds: int,
    max_age_seconds: int | None,
    audiences: tuple[str, ...] | None,
    required_claims: Sequence[str],
    accept_bound_tokens: bool,
    allow_nonce: bool = False,
    dpop_bound: bool = False,
    certificate_bound: bool = False,
    dpop_algorithms: Sequence[str] | None = None,
) -> tuple[ClaimCheck, ...]:
    """The checks a token's payload goes through, in order, for these settings (one
    issuer's ``audiences``): only those the settings need. ``allow_nonce`` is
    ``JWT_ALLOW_NONCE_IN_ACCESS_TOKENS``; ``dpop_bound`` asks for a DPoP-bound token (the
    DPoP verifier's, :data:`DPOP_BOUND`) and ``certificate_bound`` for a certificate-bound
    one (the mTLS verifier's, :data:`CERTIFICATE_BOUND`) instead of refusing or passing
    any ``cnf``. ``dpop_algorithms``, when DPoP is on, are the accepted proof algorithms:
    a DPoP-bound token refused on the other paths is then answered with the ``DPoP``
    challenge as well (:func:`bound_refused_check`)."""
    if dpop_bound and certificate_bound:
        raise ValueError("a verifier is for DPoP-bound or for certificate-bound tokens")
    checks = [
        expiry_check(leeway_seconds),
        not_before_check(leeway_seconds),
        issued_at_check(leeway_seconds),
    ]
    if max_age_seconds is not None:
        checks.append(max_age_check(max_age_seconds, leeway_seconds))
    checks += [audience_check(audiences), SUBJECT, JTI_FORM]
    if required_claims:
        checks.append(required_check(required_claims))
    if dpop_bound:
        checks.append(DPOP_BOUND)
    elif certificate_bound:
        checks.append(certificate_bound_check(dpop_algorithms))
    elif accept_bound_tokens:
        checks.append(BOUND_ACCEPTED)
    else:
        checks.append(bound_refused_check(dpop_algorithms))
    checks.append(ID_TOKEN if allow_nonce else ID_TOKEN_OR_NONCE)
    return tuple(checks)


# --- times -----------------------------------------------------------------------------


def numeric_date(claims: Mapping[str, Any], name: str, *, required: bool = False) -> Any:
    """A NumericDate claim as PyJWT reads it (``int()`` of it), or ``None`` when absent.

    Present means present: ``"iat": null`` is refused, as PyJWT refuses it. Stricter than
    PyJWT: only JSON numbers count (PyJWT also takes ``true`` and numeric strings), never
    NaN or infinity.
    """
    if name not in claims:
        if required:
            raise InvalidTokenError(reason=Reason.MISSING_CLAIM)
        return None
    value = claims[name]
    if type(value) not in (int, float) or not math.isfinite(value):
        raise InvalidTokenError(reason=Reason.MALFORMED_CLAIM)
    return int(value)


def expiry_check(leeway: int) -> ClaimCheck:
    """``exp`` is required, and past it (give or take ``leeway``) the token expired."""

    def expiry(claims: Mapping[str, Any], now: float) -> None:
        exp = claims.get("exp")
        if type(exp) is not int:  # the usual JSON integer is read here, anything else there
            exp = numeric_date(claims, "exp", required=True)
        if exp <= now - leeway:
            raise TokenExpiredError

    return ClaimCheck("exp", Reason.EXPIRED, expiry)


def not_before_check(leeway: int) -> ClaimCheck:
    """Before ``nbf`` (give or take ``leeway``) the token is not valid yet."""

    def not_before(claims: Mapping[str, Any], now: float) -> None:
        nbf = claims["nbf"]
        if type(nbf) is not int:
            nbf = numeric_date(claims, "nbf")
        if nbf > now + leeway:
            raise InvalidTokenError(reason=Reason.NOT_YET_VALID)

    return ClaimCheck("nbf", Reason.NOT_YET_VALID, not_before, claim="nbf")


def issued_at_check(leeway: int) -> ClaimCheck:
    """A token issued in the future (beyond ``leeway``) comes from a wrong clock."""

    def issued_at(claims: Mapping[str, Any], now: float) -> None:
        iat = claims["iat"]
        if type(iat) is not int:
            iat = numeric_date(claims, "iat")
        if iat > now + leeway:
            raise InvalidTokenError(reason=Reason.ISSUED_IN_FUTURE)

    return ClaimCheck("iat", Reason.ISSUED_IN_FUTURE, issued_at, claim="iat")


def max_age_check(max_age: int, leeway: int) -> ClaimCheck:
    """``JWT_MAX_TOKEN_AGE_SECONDS``: ``iat`` is required, and a token issued longer ago
    than ``max_age`` (plus ``leeway``) is too old, whatever its ``exp`` says."""

    def max_age_rule(claims: Mapping[str, Any], now: float) -> None:
        iat = claims.get("iat")
        if type(iat) is not int:
            iat = numeric_date(claims, "iat", required=True)
        if iat + max_age + leeway <= now:
            raise TokenExpiredError(reason=Reason.TOO_OLD)

    return ClaimCheck("max_age", Reason.TOO_OLD, max_age_rule)


def expires_at(claims: Mapping[str, Any], leeway: int, max_age: int | None) -> float:
    """The moment a token that passed the time checks stops passing them, in wall-clock
    seconds (``math.inf`` for an ``exp`` past what a float holds): how long it may be
    remembered."""
    exp = claims["exp"]
    deadline = (exp if type(exp) is int else int(exp)) + leeway
    if max_age is not None:
        deadline = min(deadline, int(claims["iat"]) + max_age + leeway)
    try:
        return float(deadline)
    except OverflowError:  # an exp of 400 digits is a token that never expires, not an error
        return math.inf if deadline > 0 else -math.inf


# --- who the token is for and about ----------------------------------------------------


def audience_check(audiences: tuple[str, ...] | None) -> ClaimCheck:
    """PyJWT's audience rule: with none configured, a token that names one was meant for
    someone else (so only a token with ``aud`` is looked at); with some configured, the
    token must name one of them."""
    if audiences is None:

        def no_audience(claims: Mapping[str, Any], now: float) -> None:
            if claims["aud"]:
                raise InvalidTokenError(reason=Reason.AUDIENCE_UNEXPECTED)

        return ClaimCheck("aud", Reason.AUDIENCE_UNEXPECTED, no_audience, claim="aud")

    def audience(claims: Mapping[str, Any], now: float) -> None:
        claimed = claims.get("aud")
        if not claimed:
            raise InvalidTokenError(reason=Reason.AUDIENCE_MISSING)
        if isinstance(claimed, str):
            claimed = [claimed]
        if not isinstance(claimed, list) or any(not isinstance(item, str) for item in claimed):
            raise InvalidTokenError(reason=Reason.MALFORMED_CLAIM)
        if not any(name in claimed for name in audiences):
            raise InvalidTokenError(reason=Reason.AUDIENCE_MISMATCH)

    return ClaimCheck("aud", Reason.AUDIENCE_MISMATCH, audience)


def _subject(claims: Mapping[str, Any], now: float) -> None:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise InvalidTokenError(reason=Reason.MISSING_CLAIM)


#: Every token names its subject: a string with something in it.
SUBJECT: Final = ClaimCheck("sub", Reason.MISSING_CLAIM, _subject)


def _jti_form(claims: Mapping[str, Any], now: float) -> None:
    # Present means present: "jti": null is refused, as PyJWT (2.10 and later) refuses it.
    if type(claims["jti"]) is not str:
        raise InvalidTokenError(reason=Reason.MALFORMED_CLAIM)


#: A ``jti`` is a string, when there is one.
JTI_FORM: Final = ClaimCheck("jti", Reason.MALFORMED_CLAIM, _jti_form, claim="jti")


def _jti_present(claims: Mapping[str, Any], now: float) -> None:
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise InvalidTokenError(reason=Reason.NO_JTI)  # it could never be revoked


#: ``JWT_REQUIRE_JTI`` (on by default with a revocation check): a token without a ``jti``
#: could never be revoked. The middleware's rule, not the verifier's: a verifier may be
#: shared by middlewares that check revocation and ones that do not.
JTI_PRESENT: Final = ClaimCheck("jti_present", Reason.NO_JTI, _jti_present)


def required_check(names: Sequence[str]) -> ClaimCheck:
    """``JWT_REQUIRED_CLAIMS``: each present and not null."""
    required = tuple(names)

    def required_claims(claims: Mapping[str, Any], now: float) -> None:
        for name in required:
            if claims.get(name) is None:
                raise InvalidTokenError(reason=Reason.MISSING_CLAIM)

    return ClaimCheck("required", Reason.MISSING_CLAIM, required_claims)


def _bound_refused(claims: Mapping[str, Any], now: float) -> None:
    if type(claims["cnf"]) is not dict:
        raise InvalidTokenError(reason=Reason.MALFORMED_CLAIM)
    raise InvalidTokenError(reason=Reason.BOUND_TOKEN)


def _bound_accepted(claims: Mapping[str, Any], now: float) -> None:
    if type(claims["cnf"]) is not dict:
        raise InvalidTokenError(reason=Reason.MALFORMED_CLAIM)


#: Refuse a sender-constrained token, which is all a bearer verifier sees.
#:
#: A ``cnf`` claim (RFC 7800) binds the token to a key its holder must prove it has: a
#: DPoP key (RFC 9449, ``jkt``), a TLS client certificate (RFC 8705, ``x5t#S256``), or
#: another confirmation method (``jwk``, ``jku``, ``kid``...). A bearer request proves none
#: of them, so a stolen bound token must not pass as a bearer token. Fail closed: any
#: ``cnf`` counts, whatever its members (an empty object too: what binding the issuer meant
#: is not ours to guess).
BOUND_REFUSED: Final = ClaimCheck("cnf", Reason.BOUND_TOKEN, _bound_refused, claim="cnf")


def _dpop_bound_elsewhere(algorithms: str) -> Callable[[Mapping[str, Any]], None]:
    """Raise :class:`~jwt_middleware.errors.DPoPTokenAsBearerError` for a ``cnf`` (a dict)
    with ``jkt``: a DPoP-bound token on a path without a proof."""

    def refuse(confirmation: Mapping[str, Any]) -> None:
        if "jkt" in confirmation:
            raise DPoPTokenAsBearerError(algorithms=algorithms)

    return refuse


def bound_refused_check(dpop_algorithms: Sequence[str] | None) -> ClaimCheck:
    """:data:`BOUND_REFUSED`, or, when DPoP is on (its accepted proof algorithms given),
    the same refusal for a DPoP-bound token as a
    :class:`~jwt_middleware.errors.DPoPTokenAsBearerError`, whose answer offers the
    ``DPoP`` challenge (RFC 9449 sections 7.1 and 7.2); same reason, ``bound_token``."""
    if dpop_algorithms is None:
        return BOUND_REFUSED
    dpop_bound = _dpop_bound_elsewhere(" ".join(dpop_algorithms))

    def bound_refused(claims: Mapping[str, Any], now: float) -> None:
        confirmation = claims["cnf"]
        if type(confirmation) is not dict:
            raise InvalidTokenError(reason=Reason.MALFORMED_CLAIM)
        dpop_bound(confirmation)
        raise InvalidTokenError(reason=Reason.BOUND_TOKEN)

    return ClaimCheck("cnf", Reason.BOUND_TOKEN, bound_refused, claim="cnf")


#: ``JWT_ACCEPT_BOUND_TOKENS_AS_BEARER``, for a migration: a ``cnf`` passes, but one that is
#: not an object is malformed (RFC 7800 section 3.1) and refused even then.
BOUND_ACCEPTED: Final = ClaimCheck("cnf", Reason.MALFORMED_CLAIM, _bound_accepted, claim="cnf")


def _dpop_bound(claims: Mapping[str, Any], now: float) -> None:
    confirmation = claims.get("cnf")
    if confirmation is None:
        raise InvalidTokenError(reason=Reason.DPOP_BINDING)
    if type(confirmation) is not dict:
        raise InvalidTokenError(reason=Reason.MALFORMED_CLAIM)
    jkt = confirmation.get("jkt")
    if type(jkt) is not str or not jkt:
        raise InvalidTokenError(reason=Reason.DPOP_BINDING)


#: A token accepted with a DPoP proof must be bound to a key: ``cnf.jkt`` (RFC 9449
#: section 6.1), a string, which the proof's key thumbprint is then compared with. Without
#: it the token is a bearer token, which the DPoP path never accepts (nor would a proof
#: make it any safer): the bearer path and its cache are where those go.
DPOP_BOUND: Final = ClaimCheck("cnf_jkt", Reason.DPOP_BINDING, _dpop_bound)


def _certificate_bound(claims: Mapping[str, Any], now: float) -> None:
    confirmation = claims.get("cnf")
    if confirmation is None:
        raise InvalidTokenError(reason=Reason.MISSING_CLAIM)
    if type(confirmation) is not dict:
        raise InvalidTokenError(reason=Reason.MALFORMED_CLAIM)
    if "x5t#S256" not in confirmation or len(confirmation) != 1:
        raise InvalidTokenError(reason=Reason.BOUND_TOKEN)
    thumbprint = confirmation["x5t#S256"]
    if type(thumbprint) is not str or not thumbprint:
        raise InvalidTokenError(reason=Reason.MALFORMED_CLAIM)


#: A token accepted with a TLS client certificate must be bound to one: ``cnf`` holds
#: ``x5t#S256`` (RFC 8705 section 3.1), a string, which the certificate's thumbprint is
#: then compared with on every request. Nothing else in ``cnf``: a ``jkt`` as well asks for
#: a DPoP proof, which the DPoP path checks (with the certificate), and another member is a
#: key this path cannot prove (``bound_token``). Fail closed on what the issuer meant.
CERTIFICATE_BOUND: Final = ClaimCheck("cnf_x5t", Reason.BOUND_TOKEN, _certificate_bound)


def certificate_bound_check(dpop_algorithms: Sequence[str] | None) -> ClaimCheck:
    """:data:`CERTIFICATE_BOUND`, or, when DPoP is on (its accepted proof algorithms
    given), the same with a token also bound to a DPoP key refused as a
    :class:`~jwt_middleware.errors.DPoPTokenAsBearerError` (see
    :func:`bound_refused_check`): it came without its proof."""
    if dpop_algorithms is None:
        return CERTIFICATE_BOUND
    dpop_bound = _dpop_bound_elsewhere(" ".join(dpop_algorithms))

    def certificate_bound(claims: Mapping[str, Any], now: float) -> None:
        confirmation = claims.get("cnf")
        if type(confirmation) is dict:
            dpop_bound(confirmation)
        _certificate_bound(claims, now)

    return ClaimCheck("cnf_x5t", Reason.BOUND_TOKEN, certificate_bound)


def _id_token_marks(names: frozenset[str]) -> CheckRule:
    def id_token(claims: Mapping[str, Any], now: float) -> None:
        if not claims.keys().isdisjoint(names):  # looks up the 3 names, not every claim
            raise InvalidTokenError(reason=Reason.ID_TOKEN)

    return id_token


#: Refuse an OpenID Connect ID token presented as an access token.
#:
#: An ID token tells its client who logged in; it is not a grant to call an API, and its
#: audience is the client's id, which an API that accepts tokens of its own clients may well
#: list. What marks one, whatever its ``typ`` (ID tokens say ``JWT``): ``at_hash`` and
#: ``c_hash`` (OpenID Connect Core 3.1.3.6, 3.3.2.11), which bind it to the access token or
#: code issued beside it, and ``nonce`` (3.1.2.1), the client's replay guard; RFC 9068
#: access tokens carry none of them. Present means present: ``"nonce": null`` counts.
ID_TOKEN_OR_NONCE: Final = ClaimCheck(
    "id_token", Reason.ID_TOKEN, _id_token_marks(frozenset({"at_hash", "c_hash", "nonce"}))
)
#: ``JWT_ALLOW_NONCE_IN_ACCESS_TOKENS``: the same, with ``nonce`` left out, for a provider
#: that copies the login's ``nonce`` into access tokens (Keycloak before 24 did).
ID_TOKEN: Final = ClaimCheck(
    "id_token", Reason.ID_TOKEN, _id_token_marks(frozenset({"at_hash", "c_hash"}))
)


def custom_check(check_claims: Callable[[Claims], bool]) -> ClaimCheck:
    """The app's own rule (``check_claims=``), asked about the frozen claims of a token that
    passed every other check; ``False`` refuses it."""

    def custom(claims: Mapping[str, Any], now: float) -> None:
        if not check_claims(claims):
            raise InvalidTokenError(reason=Reason.CHECK_CLAIMS)

    return ClaimCheck("check_claims", Reason.CHECK_CLAIMS, custom)


def _family(claims: Mapping[str, Any], now: float) -> None:
    if not isinstance(claims.get("fam"), str):
        raise InvalidTokenError(reason=Reason.NO_FAMILY)


#: A refresh token names its family (``fam``), so that reuse of a retired one can revoke
#: the whole login.
FAMILY: Final = ClaimCheck("fam", Reason.NO_FAMILY, _family)


# --- step-up (RFC 9470) ----------------------------------------------------------------

#: How far in the future an ``auth_time`` may be and still count as a recent login: the
#: largest clock skew ``JWT_LEEWAY_SECONDS`` allows.
AUTH_TIME_SKEW_SECONDS: Final = 300


def check_acr(claims: Claims, acr_values: tuple[str, ...], *, max_age: int | None) -> None:
    """Refuse (``step_up``) a token whose ``acr`` is none of ``acr_values``; the challenge
    names them and ``max_age``."""
    if claims.get("acr") not in acr_values:
        raise InsufficientUserAuthenticationError(acr_values=acr_values, max_age=max_age)


def check_auth_time(
    claims: Claims, max_age: int, now: float, *, acr_values: tuple[str, ...] | None
) -> None:
    """Refuse (``step_up``) a token whose login (``auth_time``) is older than ``max_age``
    seconds at ``now``.

    Compared, never subtracted: a signed ``auth_time`` of 400 digits is a number no float
    holds. Not fresh: anything but a finite JSON number, or a time further in the future
    than any clock skew explains.
    """
    auth_time: Any = claims.get("auth_time")
    kind = type(auth_time)
    fresh = (
        (kind is int or (kind is float and math.isfinite(auth_time)))
        and now - max_age <= auth_time
        and auth_time <= now + AUTH_TIME_SKEW_SECONDS
    )
    if not fresh:
        raise InsufficientUserAuthenticationError(acr_values=acr_values or (), max_age=max_age)
