"""The errors: what the verifier raises as it refuses a token is the error its constructor
builds, and every error keeps what it carries through pickling and copying."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import pytest

from jwt_middleware.errors import (
    AuthenticationError,
    CertificateRequiredError,
    DPoPRequiredError,
    DPoPTokenAsBearerError,
    DPoPTokenError,
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    InvalidDPoPProofError,
    InvalidRequestError,
    InvalidTokenError,
    KeysUnavailableError,
    MissingCredentialsError,
    MissingDPoPTokenError,
    MissingTokenError,
    TokenExpiredError,
    UseDPoPNonceError,
    invalid_token,
)
from jwt_middleware.refusals import Reason


@pytest.mark.parametrize("reason", list(Reason), ids=[reason.value for reason in Reason])
def test_the_verifiers_refusal_is_the_constructors_error(reason: Reason) -> None:
    fast, built = invalid_token(reason), InvalidTokenError(reason=reason)
    assert type(fast) is InvalidTokenError
    assert (fast.args, fast.description, fast.reason) == (
        built.args,
        built.description,
        built.reason,
    )
    assert (str(fast), repr(fast)) == (str(built), repr(built))
    assert fast.challenge_parameters() == built.challenge_parameters() == []


#: Errors with what they carry beyond their class: the reason, a description, scopes...
ERRORS = [
    pytest.param(invalid_token(Reason.BAD_SIGNATURE), id="invalid-token"),
    pytest.param(invalid_token(Reason.EXPIRED, "https://idp.example/"), id="with-issuer"),
    pytest.param(InvalidTokenError("Other text.", reason=Reason.EXPIRED), id="described"),
    pytest.param(TokenExpiredError(), id="expired"),
    pytest.param(MissingTokenError(), id="missing"),
    pytest.param(InvalidRequestError("Bearer scheme without a token."), id="request"),
    pytest.param(KeysUnavailableError(), id="keys-unavailable"),
    pytest.param(InsufficientScopeError(scopes=["a", "b"]), id="scope"),
    pytest.param(InsufficientUserAuthenticationError(acr_values=["mfa"], max_age=60), id="step-up"),
    pytest.param(DPoPTokenAsBearerError(algorithms="ES256"), id="dpop-token-as-bearer"),
    pytest.param(CertificateRequiredError(), id="certificate-required"),
    pytest.param(MissingDPoPTokenError(algorithms="ES256 EdDSA"), id="missing-dpop"),
    pytest.param(
        InvalidDPoPProofError(reason=Reason.DPOP_TIME, algorithms="ES256", bearer_accepted=True),
        id="dpop-proof",
    ),
    pytest.param(DPoPTokenError(reason=Reason.DPOP_BINDING, algorithms="ES256"), id="dpop-token"),
    pytest.param(DPoPRequiredError(algorithms="ES256", bearer_accepted=True), id="dpop-required"),
    pytest.param(UseDPoPNonceError(nonce="n-1", algorithms="ES256"), id="use-dpop-nonce"),
    pytest.param(
        MissingCredentialsError([MissingDPoPTokenError(algorithms="ES256"), MissingTokenError()]),
        id="several-schemes",
    ),
]

COPIES = [
    pytest.param(lambda e: pickle.loads(pickle.dumps(e)), id="pickle"),  # noqa: S301
    pytest.param(copy.copy, id="copy"),
    pytest.param(copy.deepcopy, id="deepcopy"),
]


@pytest.mark.parametrize("copied", COPIES)
@pytest.mark.parametrize("error", ERRORS)
def test_an_error_keeps_what_it_carries_when_copied(
    error: AuthenticationError, copied: Callable[[AuthenticationError], AuthenticationError]
) -> None:
    again = copied(error)
    assert again is not error
    assert type(again) is type(error)
    assert (again.args, again.description, again.reason, again.issuer) == (
        error.args,
        error.description,
        error.reason,
        error.issuer,
    )
    assert again.challenge_parameters() == error.challenge_parameters()
    assert again.other_challenges() == error.other_challenges()
    assert again.response_headers() == error.response_headers()
