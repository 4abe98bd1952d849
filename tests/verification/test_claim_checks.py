"""The named claim checks of :mod:`jwt_middleware.verification.claims`, one by one: each
passes a token that keeps its rule and refuses one that breaks it with its reason; and a
verifier assembles only the checks its settings need, in the order that decides the reason
when a token breaks several rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from jwt_middleware import JWTSettings, TokenVerifier
from jwt_middleware.errors import (
    DPoPTokenAsBearerError,
    InsufficientUserAuthenticationError,
    InvalidTokenError,
    TokenExpiredError,
)
from jwt_middleware.refusals import Reason
from jwt_middleware.settings import IssuerSettings
from jwt_middleware.verification.claims import (
    BOUND_ACCEPTED,
    BOUND_REFUSED,
    CERTIFICATE_BOUND,
    FAMILY,
    JTI_FORM,
    JTI_PRESENT,
    SUBJECT,
    ClaimCheck,
    audience_check,
    bound_refused_check,
    certificate_bound_check,
    check_acr,
    check_auth_time,
    custom_check,
    expires_at,
    expiry_check,
    issued_at_check,
    max_age_check,
    not_before_check,
    required_check,
)
from tests.helpers import SECRET

NOW = 1_800_000_000
LEEWAY = 30


def _as_verifier_runs(check: ClaimCheck) -> Callable[[Mapping[str, Any]], None]:
    """Run ``check`` as the verifier does: a check about one claim only on tokens with it."""

    def run(claims: Mapping[str, Any]) -> None:
        if check.claim is None or check.claim in claims:
            check.rule(claims, NOW)

    return run


def _step_up_acr(claims: Mapping[str, Any]) -> None:
    check_acr(claims, ("mfa",), max_age=None)


def _step_up_auth_time(claims: Mapping[str, Any]) -> None:
    check_auth_time(claims, 300, NOW, acr_values=None)


EXPIRY = expiry_check(LEEWAY)
NOT_BEFORE = not_before_check(LEEWAY)
ISSUED_AT = issued_at_check(LEEWAY)
MAX_AGE = max_age_check(60, LEEWAY)
#: The checks of ``cnf`` on the bearer and certificate-bound paths with DPoP on.
BOUND_REFUSED_DPOP_ON = bound_refused_check(("ES256", "PS256"))
CERTIFICATE_BOUND_DPOP_ON = certificate_bound_check(("ES256", "PS256"))
NO_AUDIENCE = audience_check(None)
AUDIENCE = audience_check(("api", "api2"))
REQUIRED = required_check(("tid",))
CUSTOM = custom_check(lambda claims: claims.get("tid") == "tenant")

#: What a check may refuse with besides its own reason: the claim it reads is absent or
#: malformed (``audience_missing`` is the audience check's word for absent).
ABSENT_OR_MALFORMED = {Reason.MISSING_CLAIM, Reason.MALFORMED_CLAIM, Reason.AUDIENCE_MISSING}

#: (the check as the verifier runs it, claims it passes, claims it refuses, the reason)
#: A token bound to a certificate, as the certificate-bound verifier wants it.
X5T = {"cnf": {"x5t#S256": "thumbprint"}}

CASES = [
    pytest.param(EXPIRY, {"exp": NOW + 1}, {"exp": NOW - LEEWAY}, Reason.EXPIRED, id="exp"),
    pytest.param(EXPIRY, {"exp": NOW - LEEWAY + 1}, {}, Reason.MISSING_CLAIM, id="exp-absent"),
    pytest.param(EXPIRY, {"exp": NOW + 1.5}, {"exp": "2"}, Reason.MALFORMED_CLAIM, id="exp-text"),
    pytest.param(
        NOT_BEFORE, {}, {"nbf": NOW + LEEWAY + 1}, Reason.NOT_YET_VALID, id="nbf-in-the-future"
    ),
    pytest.param(
        NOT_BEFORE, {"nbf": NOW + LEEWAY}, {"nbf": None}, Reason.MALFORMED_CLAIM, id="nbf-null"
    ),
    pytest.param(
        ISSUED_AT, {}, {"iat": NOW + LEEWAY + 1}, Reason.ISSUED_IN_FUTURE, id="iat-in-the-future"
    ),
    pytest.param(
        ISSUED_AT, {"iat": NOW}, {"iat": math.nan}, Reason.MALFORMED_CLAIM, id="iat-not-a-number"
    ),
    pytest.param(
        MAX_AGE,
        {"iat": NOW - 60 - LEEWAY + 1},
        {"iat": NOW - 60 - LEEWAY},
        Reason.TOO_OLD,
        id="max-age",
    ),
    pytest.param(MAX_AGE, {"iat": NOW}, {}, Reason.MISSING_CLAIM, id="max-age-without-iat"),
    pytest.param(
        NO_AUDIENCE, {}, {"aud": "api"}, Reason.AUDIENCE_UNEXPECTED, id="aud-none-configured"
    ),
    pytest.param(
        AUDIENCE, {"aud": ["x", "api2"]}, {"aud": "x"}, Reason.AUDIENCE_MISMATCH, id="aud-other"
    ),
    pytest.param(AUDIENCE, {"aud": "api"}, {}, Reason.AUDIENCE_MISSING, id="aud-absent"),
    pytest.param(
        AUDIENCE, {"aud": "api"}, {"aud": ["api", 1]}, Reason.MALFORMED_CLAIM, id="aud-not-text"
    ),
    pytest.param(SUBJECT, {"sub": "u"}, {"sub": " "}, Reason.MISSING_CLAIM, id="sub-blank"),
    pytest.param(SUBJECT, {"sub": "u"}, {"sub": 7}, Reason.MISSING_CLAIM, id="sub-number"),
    pytest.param(JTI_FORM, {}, {"jti": None}, Reason.MALFORMED_CLAIM, id="jti-null"),
    pytest.param(JTI_FORM, {"jti": ""}, {"jti": 1}, Reason.MALFORMED_CLAIM, id="jti-number"),
    pytest.param(JTI_PRESENT, {"jti": "j"}, {"jti": ""}, Reason.NO_JTI, id="jti-required"),
    pytest.param(JTI_PRESENT, {"jti": "j"}, {}, Reason.NO_JTI, id="jti-required-absent"),
    pytest.param(REQUIRED, {"tid": "t"}, {"tid": None}, Reason.MISSING_CLAIM, id="required"),
    pytest.param(BOUND_REFUSED, {}, {"cnf": {}}, Reason.BOUND_TOKEN, id="cnf-refused"),
    pytest.param(BOUND_REFUSED, {}, {"cnf": "k"}, Reason.MALFORMED_CLAIM, id="cnf-not-object"),
    pytest.param(
        BOUND_ACCEPTED,
        {"cnf": {"jkt": "t"}},
        {"cnf": []},
        Reason.MALFORMED_CLAIM,
        id="cnf-accepted",
    ),
    pytest.param(
        CERTIFICATE_BOUND, X5T, {"cnf": {"jkt": "k"}}, Reason.BOUND_TOKEN, id="x5t-absent"
    ),
    pytest.param(
        CERTIFICATE_BOUND,
        X5T,
        {"cnf": {"x5t#S256": "t", "jkt": "k"}},
        Reason.BOUND_TOKEN,
        id="x5t-and-another-binding",
    ),
    pytest.param(
        CERTIFICATE_BOUND, X5T, {"cnf": {"x5t#S256": ""}}, Reason.MALFORMED_CLAIM, id="x5t-empty"
    ),
    pytest.param(CERTIFICATE_BOUND, X5T, {"cnf": []}, Reason.MALFORMED_CLAIM, id="x5t-cnf-list"),
    pytest.param(CERTIFICATE_BOUND, X5T, {}, Reason.MISSING_CLAIM, id="x5t-no-cnf"),
    pytest.param(
        BOUND_REFUSED_DPOP_ON,
        {},
        {"cnf": {"x5t#S256": "t"}},
        Reason.BOUND_TOKEN,
        id="cnf-refused-dpop-on",
    ),
    pytest.param(
        BOUND_REFUSED_DPOP_ON, {}, {"cnf": "k"}, Reason.MALFORMED_CLAIM, id="cnf-dpop-on-not-object"
    ),
    pytest.param(
        CERTIFICATE_BOUND_DPOP_ON,
        X5T,
        {"cnf": {"x5t#S256": "t", "jwk": {}}},
        Reason.BOUND_TOKEN,
        id="x5t-dpop-on-and-another-binding",
    ),
    pytest.param(CUSTOM, {"tid": "tenant"}, {"tid": "x"}, Reason.CHECK_CLAIMS, id="check-claims"),
    pytest.param(FAMILY, {"fam": "f"}, {"fam": 1}, Reason.NO_FAMILY, id="refresh-family"),
]


@pytest.mark.parametrize(("check", "passes", "refused", "reason"), CASES)
def test_a_check_passes_and_refuses_with_its_reason(
    check: ClaimCheck, passes: dict[str, Any], refused: dict[str, Any], reason: Reason
) -> None:
    run = _as_verifier_runs(check)
    run(passes)
    with pytest.raises(InvalidTokenError) as caught:
        run(refused)
    assert caught.value.reason is reason
    # A check refuses with its own reason, or says the claim it reads is absent or malformed.
    assert reason is check.reason or reason in ABSENT_OR_MALFORMED


@pytest.mark.parametrize(
    ("check", "claims", "error"),
    [
        pytest.param(EXPIRY, {"exp": NOW - LEEWAY}, TokenExpiredError, id="exp"),
        pytest.param(MAX_AGE, {"iat": NOW - 90}, TokenExpiredError, id="max-age"),
        pytest.param(NOT_BEFORE, {"nbf": NOW + 31}, InvalidTokenError, id="nbf"),
    ],
)
def test_time_checks_raise_the_errors_they_always_did(
    check: ClaimCheck, claims: dict[str, Any], error: type[InvalidTokenError]
) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        check(claims, NOW)
    assert type(caught.value) is error


#: (a check of ``cnf``, the ``cnf`` it refuses, whether the refusal offers the DPoP challenge).
DPOP_OFFERED_CASES = [
    pytest.param(BOUND_REFUSED_DPOP_ON, {"jkt": "k"}, True, id="bearer-jkt"),
    pytest.param(BOUND_REFUSED_DPOP_ON, {"jkt": "k", "x5t#S256": "t"}, True, id="bearer-both"),
    pytest.param(BOUND_REFUSED_DPOP_ON, {"x5t#S256": "t"}, False, id="bearer-x5t"),
    pytest.param(BOUND_REFUSED_DPOP_ON, {}, False, id="bearer-empty-cnf"),
    pytest.param(BOUND_REFUSED, {"jkt": "k"}, False, id="bearer-jkt-dpop-off"),
    pytest.param(CERTIFICATE_BOUND_DPOP_ON, {"jkt": "k", "x5t#S256": "t"}, True, id="x5t-both"),
    pytest.param(CERTIFICATE_BOUND_DPOP_ON, {"jkt": "k"}, True, id="x5t-path-jkt"),
    pytest.param(CERTIFICATE_BOUND, {"jkt": "k", "x5t#S256": "t"}, False, id="x5t-dpop-off"),
]


@pytest.mark.parametrize(("check", "confirmation", "offered"), DPOP_OFFERED_CASES)
def test_a_dpop_bound_token_refused_elsewhere_names_the_dpop_scheme(
    check: ClaimCheck, confirmation: dict[str, Any], offered: bool
) -> None:
    """RFC 9449 sections 7.1 and 7.2: with DPoP on, a token bound to a DPoP key is refused
    without its proof with the ``DPoP`` challenge (``invalid_token``, ``algs``) as well;
    the reason logged stays ``bound_token``."""
    with pytest.raises(InvalidTokenError) as caught:
        check({"sub": "u", "cnf": confirmation}, NOW)
    assert caught.value.reason is Reason.BOUND_TOKEN
    assert isinstance(caught.value, DPoPTokenAsBearerError) is offered
    if offered:
        description = "This access token is DPoP-bound: send it with a DPoP proof."
        assert caught.value.other_challenges() == (
            (
                "DPoP",
                (
                    ("error", "invalid_token"),
                    ("error_description", description),
                    ("algs", "ES256 PS256"),
                ),
            ),
        )


#: (a step-up check, claims it passes, claims it refuses); both refuse with RFC 9470's error.
STEP_UP_CASES = [
    pytest.param(_step_up_acr, {"acr": "mfa"}, {"acr": "pwd"}, id="acr"),
    pytest.param(_step_up_acr, {"acr": "mfa"}, {}, id="acr-absent"),
    pytest.param(_step_up_auth_time, {"auth_time": NOW - 300}, {"auth_time": NOW - 301}, id="old"),
    pytest.param(
        _step_up_auth_time, {"auth_time": NOW + 300}, {"auth_time": NOW + 301}, id="future"
    ),
    pytest.param(_step_up_auth_time, {"auth_time": float(NOW)}, {"auth_time": 10**400}, id="huge"),
    pytest.param(_step_up_auth_time, {"auth_time": NOW}, {"auth_time": True}, id="not-number"),
]


@pytest.mark.parametrize(("check", "passes", "refused"), STEP_UP_CASES)
def test_step_up_checks(
    check: Callable[[Mapping[str, Any]], None], passes: dict[str, Any], refused: dict[str, Any]
) -> None:
    check(passes)
    with pytest.raises(InsufficientUserAuthenticationError) as caught:
        check(refused)
    assert caught.value.reason is Reason.STEP_UP


@pytest.mark.parametrize(
    ("claims", "max_age", "expected"),
    [
        pytest.param({"exp": NOW + 100}, None, NOW + 100 + LEEWAY, id="exp"),
        pytest.param({"exp": NOW + 100.9}, None, NOW + 100 + LEEWAY, id="exp-float"),
        pytest.param({"exp": NOW + 100, "iat": NOW}, 60, NOW + 60 + LEEWAY, id="max-age-first"),
        pytest.param({"exp": NOW + 10, "iat": NOW}, 60, NOW + 10 + LEEWAY, id="exp-first"),
        pytest.param({"exp": 10**400}, None, math.inf, id="exp-past-a-float"),
    ],
)
def test_a_token_is_good_until_its_first_time_check_fails(
    claims: dict[str, Any], max_age: int | None, expected: float
) -> None:
    assert expires_at(claims, LEEWAY, max_age) == expected


def _names(checks: tuple[ClaimCheck, ...]) -> list[str]:
    """Each check's name, with the claim it is only about after a ``?``."""
    return [check.name + (f"?{check.claim}" if check.claim else "") for check in checks]


DEFAULT = ["exp", "nbf?nbf", "iat?iat", "aud?aud", "sub", "jti?jti", "cnf?cnf", "id_token"]


def _tenant(claims: Mapping[str, Any]) -> bool:
    return True


#: (settings beyond the secret, check_claims, the checks assembled)
ASSEMBLIES = [
    pytest.param({}, None, DEFAULT, id="default"),
    pytest.param(
        {"max_token_age_seconds": 60},
        None,
        [
            "exp",
            "nbf?nbf",
            "iat?iat",
            "max_age",
            "aud?aud",
            "sub",
            "jti?jti",
            "cnf?cnf",
            "id_token",
        ],
        id="max-age",
    ),
    pytest.param(
        {"audience": "api"},
        None,
        ["exp", "nbf?nbf", "iat?iat", "aud", "sub", "jti?jti", "cnf?cnf", "id_token"],
        id="audience",
    ),
    pytest.param(
        {"required_claims": ["tid"]},
        None,
        [
            "exp",
            "nbf?nbf",
            "iat?iat",
            "aud?aud",
            "sub",
            "jti?jti",
            "required",
            "cnf?cnf",
            "id_token",
        ],
        id="required-claims",
    ),
    pytest.param({"accept_bound_tokens_as_bearer": True}, None, DEFAULT, id="bound-accepted"),
    pytest.param({"allow_nonce_in_access_tokens": True}, None, DEFAULT, id="nonce-allowed"),
    pytest.param({}, _tenant, [*DEFAULT, "check_claims"], id="check-claims"),
]


@pytest.mark.parametrize(("extra", "check_claims", "expected"), ASSEMBLIES)
def test_a_verifier_assembles_only_the_checks_its_settings_need(
    extra: dict[str, Any],
    check_claims: Callable[[Mapping[str, Any]], bool] | None,
    expected: list[str],
) -> None:
    settings = JWTSettings(secret=SECRET, algorithm="HS256", **extra)
    verifier = TokenVerifier(settings, check_claims=check_claims)
    checks = verifier.claim_checks()
    assert _names(checks) == expected
    bound = next(check for check in checks if check.name == "cnf")
    accepted = extra.get("accept_bound_tokens_as_bearer", False)
    assert bound is (BOUND_ACCEPTED if accepted else BOUND_REFUSED)


def test_each_issuer_gets_its_own_audience_check() -> None:
    settings = JWTSettings(
        secret=SECRET,
        algorithm="HS256",
        issuer=[
            IssuerSettings(issuer="https://a.example", audience="api-a"),
            IssuerSettings(issuer="https://b.example"),
        ],
    )
    verifier = TokenVerifier(settings)
    first, second = verifier.policies
    assert "aud" in _names(verifier.claim_checks(first))
    assert "aud?aud" in _names(verifier.claim_checks(second))
    audience = next(check for check in verifier.claim_checks(first) if check.name == "aud")
    audience({"aud": "api-a"})
    with pytest.raises(InvalidTokenError) as caught:
        audience({"aud": "api-b"})
    assert caught.value.reason is Reason.AUDIENCE_MISMATCH
