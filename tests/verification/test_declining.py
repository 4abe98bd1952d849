"""Authenticators that decline a request by its ``Authorization`` header, and the chain
that then does not ask them (``DecliningAuthenticator``).

A declined request must be one the authenticator would have answered with
``MissingTokenError`` (anything else would let a request past a refusal, or refuse one the
next authenticator takes); the chain must answer every request as it would asking each
authenticator in turn, challenges of a request without credentials included; and it must
not ask one that declines, unless no other finds a credential.
"""

from __future__ import annotations

import asyncio
import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.types import Scope

from jwt_middleware import (
    AuthenticationError,
    JWTAuthMiddleware,
    JWTSettings,
    MissingTokenError,
    TokenVerifier,
)
from jwt_middleware.types import VerifiedToken, freeze
from jwt_middleware.verification.authenticator import Authenticator, DecliningAuthenticator
from jwt_middleware.verification.bearer import BearerAuthenticator
from jwt_middleware.verification.certificate_bound import CertificateBoundAuthenticator
from jwt_middleware.verification.chain import AuthenticatorChain
from jwt_middleware.verification.dpop_authenticator import DPoPAuthenticator
from tests.asgi import call, http_scope
from tests.dpop.proofs import DPOP_SETTINGS, PyJWTKey, bound_token
from tests.helpers import OTHER_SECRET, SECRET, build_app, case_blind_app, mint_token
from tests.mtls.certificates import PKI
from tests.mtls.requests import tls

KEY = PyJWTKey()
BOTH = JWTSettings(**DPOP_SETTINGS, mtls_enabled=True)
PLAIN = bound_token(None)
CERTIFICATE_BOUND = bound_token(None, cnf={"x5t#S256": PKI.alice.x5t})
DPOP_BOUND = bound_token(KEY.jkt)


def _dpop(refuse_bearer: bool) -> Callable[[], Authenticator]:
    def build() -> Authenticator:
        settings = JWTSettings(**DPOP_SETTINGS, dpop_required=refuse_bearer)
        return DPoPAuthenticator.from_settings(settings)

    return build


def _certificate_bound() -> Authenticator:
    return CertificateBoundAuthenticator.from_settings(BOTH)


BUILDERS = [_dpop(False), _dpop(True), _certificate_bound]
DECLINING = [
    pytest.param(build, id=name)
    for build, name in zip(BUILDERS, ["dpop", "dpop-required", "certificate-bound"], strict=True)
]


def _request(
    authorization: list[bytes], *, proof: bool = True, path: str = "/private"
) -> dict[str, Any]:
    """A request for ``path`` with these ``Authorization`` headers, a fresh proof of
    :data:`KEY` for :data:`DPOP_BOUND` (unless not ``proof``), and alice's certificate."""
    headers = [(b"host", b"api.example.com")]
    headers += [(b"authorization", value) for value in authorization]
    if proof:
        headers.append((b"dpop", KEY.proof(token=DPOP_BOUND).encode()))
    return http_scope(path, headers=headers, raw_path=path.encode(), extensions=tls(PKI.alice.pem))


_SCHEMES = st.sampled_from(["Bearer", "bearer", "BEARER", "DPoP", "dpop", "Basic", "", "Bearer,"])
_CREDENTIALS = st.sampled_from(
    [PLAIN, CERTIFICATE_BOUND, DPOP_BOUND, "", " ", "  " + PLAIN, "dXNlcjpwYXNz", "a b"]
) | st.text(max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(BUILDERS),
    _SCHEMES,
    st.sampled_from([" ", "  ", "\t", ""]),
    _CREDENTIALS,
)
def test_what_an_authenticator_declines_it_would_answer_with_missing_token(
    build: Callable[[], Authenticator], scheme: str, separator: str, credentials: str
) -> None:
    """Fails if ``declines`` says yes to a request the authenticator takes or refuses."""
    authenticator = build()
    assert isinstance(authenticator, DecliningAuthenticator)
    header = f"{scheme}{separator}{credentials}".encode()
    if not authenticator.declines(header):
        return
    scope = _request([header])
    before = copy.deepcopy(scope)
    with pytest.raises(MissingTokenError):
        authenticator.authenticate_now(scope)
    assert scope == before


@pytest.mark.parametrize("build", DECLINING)
def test_a_request_without_an_authorization_header_is_declined(
    build: Callable[[], Authenticator],
) -> None:
    authenticator = build()
    assert isinstance(authenticator, DecliningAuthenticator)
    assert authenticator.declines(None)
    with pytest.raises(MissingTokenError):
        authenticator.authenticate_now(_request([]))


#: (the authenticator, the header, whether it declines it).
OWN_AND_OTHERS = [
    pytest.param(_dpop(False), f"Bearer {PLAIN}", True, id="dpop-leaves-bearer"),
    pytest.param(_dpop(False), "Basic dXNlcjpwYXNz", True, id="dpop-leaves-basic"),
    pytest.param(_dpop(False), f"DPoP {DPOP_BOUND}", False, id="dpop-takes-dpop"),
    pytest.param(_dpop(False), f"dpop {DPOP_BOUND}", False, id="dpop-takes-any-case"),
    pytest.param(_dpop(False), "DPoP", False, id="dpop-refuses-no-token"),
    pytest.param(_dpop(True), f"Bearer {PLAIN}", False, id="required-refuses-bearer"),
    pytest.param(_dpop(True), "Basic dXNlcjpwYXNz", True, id="required-leaves-basic"),
    pytest.param(_certificate_bound, f"Bearer {PLAIN}", True, id="mtls-leaves-plain"),
    pytest.param(_certificate_bound, f"DPoP {CERTIFICATE_BOUND}", True, id="mtls-leaves-dpop"),
    pytest.param(_certificate_bound, f"Bearer {CERTIFICATE_BOUND}", False, id="mtls-takes-bound"),
    pytest.param(_certificate_bound, "Bearer   ", False, id="mtls-refuses-no-token"),
    pytest.param(_certificate_bound, "Bearer tök", False, id="mtls-refuses-not-ascii"),
    pytest.param(_certificate_bound, "Basic tök", False, id="mtls-refuses-any-not-ascii"),
]


@pytest.mark.parametrize(("build", "header", "declined"), OWN_AND_OTHERS)
def test_which_requests_an_authenticator_declines(
    build: Callable[[], Authenticator], header: str, declined: bool
) -> None:
    authenticator = build()
    assert isinstance(authenticator, DecliningAuthenticator)
    assert authenticator.declines(header.encode()) is declined


class _AskedEachTime:
    """An authenticator as it is, without ``declines``: a chain of these asks each."""

    def __init__(self, inner: Authenticator) -> None:
        self.inner = inner
        self.bearer_methods = inner.bearer_methods

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        return self.inner.authenticate_now(scope)

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        return await self.inner.authenticate(scope)

    async def prefetch(self) -> None:
        await self.inner.prefetch()

    async def aclose(self) -> None:
        await self.inner.aclose()


#: Requests as the DPoP, certificate-bound and bearer authenticators see them together.
REQUESTS = [
    pytest.param([], id="none"),
    pytest.param([b"Basic dXNlcjpwYXNz"], id="basic"),
    pytest.param([f"Bearer {PLAIN}".encode()], id="plain-bearer"),
    pytest.param([f"Bearer {mint_token('x', secret=OTHER_SECRET)}".encode()], id="bad-bearer"),
    pytest.param([f"Bearer {CERTIFICATE_BOUND}".encode()], id="certificate-bound"),
    pytest.param([f"Bearer {DPOP_BOUND}".encode()], id="dpop-token-as-bearer"),
    pytest.param([f"DPoP {DPOP_BOUND}".encode()], id="dpop"),
    pytest.param([f"DPoP {PLAIN}".encode()], id="plain-token-as-dpop"),
    pytest.param([f"Bearer {PLAIN}".encode()] * 2, id="two-headers"),
    pytest.param([b"Bearer", b"DPoP x"], id="two-schemes"),
    pytest.param(["Bearer tök".encode()], id="not-ascii"),
    pytest.param([b"Bearer "], id="bearer-without-token"),
    pytest.param([b"DPoP"], id="dpop-without-token"),
]


@pytest.mark.parametrize("authorization", REQUESTS)
@pytest.mark.parametrize("path", ["/private", "/health"], ids=["protected", "public"])
def test_the_chain_answers_as_it_would_asking_each(authorization: list[bytes], path: str) -> None:
    """Fails if not asking an authenticator that declines changes an answer: status,
    challenges, body."""
    reading = build_app(BOTH)
    each = JWTAuthMiddleware(case_blind_app, settings=BOTH).authenticators
    asking = build_app(BOTH, authenticators=[_AskedEachTime(a) for a in each])
    answers = []
    for app in (reading, asking):
        answer = call(app, _request(authorization, path=path))
        answers.append((answer.status, answer.headers.get("www-authenticate"), answer.body))
    assert answers[0] == answers[1]


class _Declining:
    """Declines every request, and counts how often it is asked all the same; it has no
    credential of its own (``MissingTokenError`` naming the ``Stub`` scheme)."""

    bearer_methods = ()

    def __init__(self) -> None:
        self.asked = 0

    def declines(self, authorization: bytes | None) -> bool:
        return True

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        self.asked += 1
        raise _MissingStubError

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        self.asked += 1
        raise _MissingStubError

    async def prefetch(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class _MissingStubError(MissingTokenError):
    scheme = "Stub"


class _Accepting(_Declining):
    """Declines every request, yet accepts it when asked: a ``declines`` that is wrong."""

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        self.asked += 1
        return VerifiedToken(freeze({"sub": "stub"}), "stub", (), None, math.inf)

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        result = self.authenticate_now(scope)
        assert result is not None
        return result


def _outcome(chain: AuthenticatorChain, scope: Scope, *, waiting: bool) -> str:
    """The subject the chain accepts, the schemes it challenges a request without
    credentials with, or the kind of its refusal."""
    try:
        verified = (
            asyncio.run(chain.authenticate(scope)) if waiting else chain.authenticate_now(scope)
        )
    except MissingTokenError as missing:
        return ", ".join([missing.scheme, *(scheme for scheme, _ in missing.other_challenges())])
    except AuthenticationError as refused:
        return type(refused).__name__
    assert verified is not None
    return verified.subject


@pytest.mark.parametrize("waiting", [False, True], ids=["now", "awaited"])
@pytest.mark.parametrize(
    ("authorization", "asked", "answer"),
    [
        pytest.param([f"Bearer {mint_token('alice')}".encode()], 0, "alice", id="other-finds-one"),
        pytest.param([], 1, "Stub, Bearer", id="none-found-asked-for-its-challenge"),
        pytest.param([b"Basic dXNlcjpwYXNz"], 1, "Stub, Bearer", id="other-scheme"),
        pytest.param([b"Bearer a", b"Bearer b"], 1, "InvalidRequestError", id="two-headers"),
    ],
)
def test_a_declining_authenticator_is_asked_only_when_none_finds_a_credential(
    authorization: list[bytes], asked: int, answer: str, waiting: bool
) -> None:
    """Fails if the chain asks an authenticator that declined while another found a
    credential: what DPoP and mTLS would cost every bearer request."""
    declining = _Declining()
    chain = AuthenticatorChain(
        [declining, BearerAuthenticator(TokenVerifier(JWTSettings(secret=SECRET)))]
    )
    scope = _request(authorization, proof=False)
    assert _outcome(chain, scope, waiting=waiting) == answer
    assert declining.asked == asked


@pytest.mark.parametrize("waiting", [False, True], ids=["now", "awaited"])
def test_one_that_declined_but_finds_a_credential_when_asked_decides_in_its_turn(
    waiting: bool,
) -> None:
    """The chain's answer after all declined is what asking each in turn gives."""
    wrong = _Accepting()
    chain = AuthenticatorChain(
        [_Declining(), wrong, BearerAuthenticator(TokenVerifier(JWTSettings(secret=SECRET)))]
    )
    scope = _request([], proof=False)
    verified = asyncio.run(chain.authenticate(scope)) if waiting else chain.authenticate_now(scope)
    assert verified is not None
    assert (verified.subject, wrong.asked) == ("stub", 1)
