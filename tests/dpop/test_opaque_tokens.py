"""Opaque tokens bound to a DPoP key (RFC 9449 section 6.2): the introspection answer
carries ``cnf.jkt`` (and may say ``token_type: "DPoP"``), and the token passes only as
``Authorization: DPoP`` with a proof by that key, checked before the endpoint is asked (a
bad proof costs no call), and compared on every request, remembered answer or not. An
answer without ``cnf.jkt`` is refused on the DPoP path as an unbound JWT is
(``dpop_binding``), and a DPoP-bound answer on the bearer path as a DPoP-bound JWT is
(``bound_token``, with the ``DPoP`` challenge). Answers come from an endpoint in memory
(:mod:`tests.introspection`); the proofs are the tests' own (PyJWT).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from jwt_middleware import JWTAuthMiddleware, JWTSettings, TokenVerifier
from jwt_middleware.errors import ConfigurationError
from jwt_middleware.explain import run
from jwt_middleware.refusals import Reason
from jwt_middleware.verification.bearer import BearerAuthenticator
from jwt_middleware.verification.dpop import Proof, ProofChecker
from jwt_middleware.verification.dpop_authenticator import DPoPAuthenticator
from jwt_middleware.verification.introspection import TokenIntrospector
from tests.asgi import Answer, call, http_scope
from tests.dpop.proofs import BASE_URL, PyJWTKey, dpop_headers
from tests.helpers import whoami
from tests.introspection import (
    OPAQUE,
    FakeEndpoint,
    active,
    assert_answered,
    introspection_settings,
)
from tests.mtls.certificates import PKI
from tests.mtls.requests import tls

KEY: Final = PyJWTKey()
OTHER_KEY: Final = PyJWTKey()
_BOUND: Final = {"jkt": KEY.jkt}
_DPOP_CHALLENGE: Final = 'DPoP realm="api", error="invalid_token"'
_PROOF_CHALLENGE: Final = 'DPoP realm="api", error="invalid_dpop_proof"'
_BEARER_CHALLENGE: Final = 'Bearer realm="api", error="invalid_token"'


def dpop_settings(**overrides: Any) -> JWTSettings:
    """The introspection tests' settings, with DPoP on for the proofs' base URL."""
    return introspection_settings(dpop_enabled=True, dpop_base_url=BASE_URL, **overrides)


def dpop_introspected_app(endpoint: FakeEndpoint, settings: JWTSettings) -> Starlette:
    """``/private`` behind the DPoP path and the bearer path, each with its own
    introspector at ``endpoint`` (as the middleware assembles them from settings)."""
    verifier = TokenVerifier(settings)
    dpop_verifier = TokenVerifier(settings, dpop=True)
    dpop = DPoPAuthenticator.from_settings(
        settings,
        dpop_verifier,
        introspector=TokenIntrospector(
            settings, policies=dpop_verifier.policies, client=endpoint.client(), dpop=True
        ),
    )
    bearer = BearerAuthenticator(
        verifier,
        introspector=TokenIntrospector(
            settings, policies=verifier.policies, client=endpoint.client()
        ),
    )
    app = Starlette(routes=[Route("/private", whoami)])
    app.add_middleware(JWTAuthMiddleware, settings=settings, authenticators=[dpop, bearer])
    return app


@dataclass(frozen=True)
class Sent:
    """One request: the opaque token in ``scheme``, its proofs, its client certificate."""

    proofs: tuple[str, ...] = ()
    scheme: str = "DPoP"
    certificate: str | None = None

    def scope(self) -> dict[str, Any]:
        extensions = tls(self.certificate) if self.certificate is not None else None
        headers = dpop_headers(OPAQUE, *self.proofs, scheme=self.scheme)
        return http_scope("/private", headers=headers, raw_path=b"/private", extensions=extensions)


def proof(by: PyJWTKey = KEY, **changes: Any) -> str:
    """``by``'s proof for ``GET /private`` with the opaque token, with ``changes``."""
    values: dict[str, Any] = {"token": OPAQUE} | changes
    return by.proof(**values)


#: (the answer's members besides :func:`active`'s, the request (made when the test runs,
#: its proof fresh then), the reason the server logs (None: accepted), the challenge the
#: refusal starts with, the calls made to the endpoint, JWT_MTLS_ENABLED).
CASES: Final = [
    pytest.param(
        {"cnf": _BOUND, "token_type": "DPoP"},
        lambda: Sent((proof(),)),
        None,
        None,
        1,
        False,
        id="accepted",
    ),
    pytest.param(
        {"cnf": _BOUND},
        lambda: Sent((proof(),)),
        None,
        None,
        1,
        False,
        id="accepted-typed-bearer",
    ),
    pytest.param(
        {"cnf": _BOUND},
        lambda: Sent((proof(OTHER_KEY),)),
        Reason.DPOP_BINDING,
        _DPOP_CHALLENGE,
        1,
        False,
        id="other-key",
    ),
    pytest.param(
        {},
        lambda: Sent((proof(),)),
        Reason.DPOP_BINDING,
        _DPOP_CHALLENGE,
        1,
        False,
        id="no-cnf",
    ),
    pytest.param(
        {"cnf": {"x5t#S256": PKI.alice.x5t}},
        lambda: Sent((proof(),), certificate=PKI.alice.pem),
        Reason.DPOP_BINDING,
        _DPOP_CHALLENGE,
        1,
        True,
        id="certificate-only",
    ),
    pytest.param(
        {"cnf": _BOUND, "aud": "https://elsewhere.test"},
        lambda: Sent((proof(),)),
        Reason.AUDIENCE_MISMATCH,
        _DPOP_CHALLENGE,
        1,
        False,
        id="policy-checks",
    ),
    pytest.param(
        {"cnf": _BOUND, "active": False},
        lambda: Sent((proof(),)),
        Reason.INACTIVE,
        _DPOP_CHALLENGE,
        1,
        False,
        id="inactive",
    ),
    pytest.param(
        {"cnf": _BOUND, "token_type": "refresh_token"},
        lambda: Sent((proof(),)),
        Reason.INACTIVE,
        _DPOP_CHALLENGE,
        1,
        False,
        id="not-an-access-token",
    ),
    pytest.param(
        {"cnf": _BOUND},
        lambda: Sent((proof(token="another-token"),)),
        Reason.DPOP_TOKEN_HASH,
        _PROOF_CHALLENGE,
        0,
        False,
        id="proof-for-another-token",
    ),
    pytest.param(
        {"cnf": _BOUND},
        lambda: Sent((proof(key=OTHER_KEY.private),)),
        Reason.DPOP_SIGNATURE,
        _PROOF_CHALLENGE,
        0,
        False,
        id="proof-badly-signed",
    ),
    pytest.param(
        {"cnf": _BOUND},
        lambda: Sent((proof(htu=BASE_URL + "/other"),)),
        Reason.DPOP_REQUEST,
        _PROOF_CHALLENGE,
        0,
        False,
        id="proof-for-another-url",
    ),
    pytest.param(
        {"cnf": _BOUND},
        lambda: Sent(),
        Reason.DPOP_PROOF,
        _PROOF_CHALLENGE,
        0,
        False,
        id="no-proof",
    ),
    pytest.param(
        {"cnf": _BOUND, "token_type": "DPoP"},
        lambda: Sent(scheme="Bearer"),
        Reason.BOUND_TOKEN,
        _BEARER_CHALLENGE,
        1,
        False,
        id="sent-as-bearer",
    ),
    pytest.param(
        {"token_type": "DPoP"},
        lambda: Sent(scheme="Bearer"),
        Reason.BOUND_TOKEN,
        _BEARER_CHALLENGE,
        1,
        False,
        id="dpop-typed-sent-as-bearer",
    ),
    pytest.param(
        {"cnf": _BOUND | {"x5t#S256": PKI.alice.x5t}},
        lambda: Sent((proof(),), certificate=PKI.alice.pem),
        None,
        None,
        1,
        True,
        id="key-and-certificate",
    ),
    pytest.param(
        {"cnf": _BOUND | {"x5t#S256": PKI.alice.x5t}},
        lambda: Sent((proof(),), certificate=PKI.mallory.pem),
        Reason.CERTIFICATE_MISMATCH,
        _DPOP_CHALLENGE,
        1,
        True,
        id="key-and-another-certificate",
    ),
    pytest.param(
        {"cnf": _BOUND | {"x5t#S256": PKI.alice.x5t}},
        lambda: Sent((proof(),), certificate=PKI.alice.pem),
        Reason.BOUND_TOKEN,
        _DPOP_CHALLENGE,
        1,
        False,
        id="key-and-certificate-mtls-off",
    ),
]


@pytest.mark.parametrize(("members", "sent", "reason", "challenge", "calls", "mtls"), CASES)
def test_a_dpop_bound_opaque_token_passes_only_with_a_proof_by_its_key(
    caplog: pytest.LogCaptureFixture,
    members: dict[str, Any],
    sent: Callable[[], Sent],
    reason: Reason | None,
    challenge: str | None,
    calls: int,
    mtls: bool,
) -> None:
    request = sent()
    endpoint = FakeEndpoint({OPAQUE: active(**members)})
    settings = dpop_settings(mtls_enabled=mtls)
    caplog.set_level(logging.INFO, logger="jwt_middleware.refusals")
    answer = call(dpop_introspected_app(endpoint, settings), request.scope())
    assert len(endpoint.requests) == calls
    assert_answered(answer, caplog.messages, reason, challenge)
    # explain, given the same request, reports the same reason.
    again = dpop_introspected_app(endpoint, settings)
    proof_text, *more = request.proofs or (None,)
    explained = run(
        again,
        token=OPAQUE,
        path="/private",
        scheme=request.scheme,
        dpop_proof=proof_text,
        headers=[("DPoP", each) for each in more if each is not None],
        client_certificate=request.certificate,
    )
    assert explained.reason == (reason.value if reason is not None else None)
    assert explained.status == answer.status


def test_a_dpop_bound_answer_sent_as_bearer_offers_the_dpop_challenge() -> None:
    """RFC 9449 section 7.2, as for a DPoP-bound JWT: the client learns the scheme its
    token needs, from the first refusal and from a remembered one alike."""
    endpoint = FakeEndpoint({OPAQUE: active(cnf=_BOUND)})
    app = dpop_introspected_app(endpoint, dpop_settings())
    first, remembered = (call(app, Sent(scheme="Bearer").scope()) for _ in range(2))
    for answer in (first, remembered):
        assert answer.status == 401
        challenges = answer.headers["www-authenticate"]
        assert challenges.startswith(_BEARER_CHALLENGE)
        assert ', DPoP realm="api", error="invalid_token"' in challenges
        assert 'algs="' in challenges
    assert len(endpoint.requests) == 1


def test_a_remembered_answer_still_needs_a_fresh_proof_by_its_key() -> None:
    """The cache holds the answer, never the proof: one call to the endpoint by the DPoP
    path, the key compared and the proof's replay checked each time; the bearer path asks
    on its own, and never finds the answer the DPoP path accepted."""
    endpoint = FakeEndpoint({OPAQUE: active(cnf=_BOUND)})
    app = dpop_introspected_app(endpoint, dpop_settings())
    used = proof()
    sent = [
        Sent((used,)),
        Sent((used,)),
        Sent((proof(OTHER_KEY),)),
        Sent(scheme="Bearer"),
        Sent((proof(),)),
    ]
    answers: list[Answer] = [call(app, each.scope()) for each in sent]
    assert [answer.status for answer in answers] == [200, 401, 401, 401, 200]
    assert 'error="invalid_dpop_proof"' in answers[1].headers["www-authenticate"]  # replay
    assert len(endpoint.requests) == 2  # the DPoP path's one, the bearer path's one


def test_the_dpop_path_refuses_the_bearer_paths_introspector() -> None:
    """Its answers are not required to be bound, and its memory is the bearer path's."""
    settings = dpop_settings()
    verifier = TokenVerifier(settings, dpop=True)
    bearer_side = TokenIntrospector(settings, policies=verifier.policies)
    with pytest.raises(ConfigurationError, match="its own introspector"):
        DPoPAuthenticator.from_settings(settings, verifier, introspector=bearer_side)


class _CountedChecker(ProofChecker):
    """The proof checks, counted."""

    def __init__(self, settings: JWTSettings) -> None:
        super().__init__(
            algorithms=settings.dpop_accepted_algorithms,
            base_url=BASE_URL,
            proof_seconds=settings.dpop_proof_seconds,
            leeway_seconds=settings.leeway_seconds,
        )
        self.checks = 0

    def check(
        self, proof: str, *, method: str, raw_path: str, access_token: str, now: float
    ) -> Proof:
        self.checks += 1
        return super().check(
            proof, method=method, raw_path=raw_path, access_token=access_token, now=now
        )


def test_a_first_sight_checks_its_proof_once() -> None:
    """The proof checked before the endpoint is asked goes with the request to the call,
    rather than being checked (its signature verified) again after it."""
    endpoint = FakeEndpoint({OPAQUE: active(cnf=_BOUND)})
    settings = dpop_settings()
    verifier = TokenVerifier(settings, dpop=True)
    dpop = DPoPAuthenticator.from_settings(
        settings,
        verifier,
        introspector=TokenIntrospector(
            settings, policies=verifier.policies, client=endpoint.client(), dpop=True
        ),
    )
    counted = _CountedChecker(settings)
    dpop.checker = counted
    app = Starlette(routes=[Route("/private", whoami)])
    app.add_middleware(JWTAuthMiddleware, settings=settings, authenticators=[dpop])
    assert call(app, Sent((proof(),)).scope()).status == 200
    assert (counted.checks, len(endpoint.requests)) == (1, 1)
