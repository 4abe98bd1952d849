"""Server nonces (RFC 9449 section 9): stateless, so every instance with the same secret
accepts every other's; accepted in their own time step and the next; a proof with the
previous step's nonce passes and its answer offers the current one (``DPoP-Nonce``),
before the old one stops being accepted. A middleware whose authenticators cannot leave a
nonce in the request does not look for one."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from starlette.types import Scope

from jwt_middleware import JWTAuthMiddleware, JWTSettings, TokenVerifier
from jwt_middleware.edge.assembly import offers_dpop_nonces
from jwt_middleware.types import VerifiedToken, freeze
from jwt_middleware.verification.authenticator import Authenticator
from jwt_middleware.verification.bearer import BearerAuthenticator
from jwt_middleware.verification.certificate_bound import CertificateBoundAuthenticator
from jwt_middleware.verification.chain import AuthenticatorChain
from jwt_middleware.verification.cookie import CookieAuthenticator
from jwt_middleware.verification.dpop_authenticator import (
    FRESH_NONCE_SCOPE_KEY,
    DPoPAuthenticator,
)
from jwt_middleware.verification.dpop_nonce import DPoPNonces, NonceState
from tests.asgi import Answer, call, http_scope, scope_headers
from tests.dpop.proofs import DPOP_SETTINGS, PyJWTKey, bound_token, dpop_headers
from tests.helpers import FakeClock, bearer, build_app

SECRET = b"2f9c41d07be85a36c1e4f09d7a62b3c8e5f1d4a0"
STEP = 300


def _nonces(secret: bytes = SECRET) -> DPoPNonces:
    return DPoPNonces(secret=secret, step_seconds=STEP)


#: (seconds after the nonce was made, at the start of its step, what it is worth then).
AGES = [
    pytest.param(0, NonceState.CURRENT, id="same-step"),
    pytest.param(STEP - 1, NonceState.CURRENT, id="end-of-its-step"),
    pytest.param(STEP, NonceState.PREVIOUS, id="next-step"),
    pytest.param(2 * STEP - 1, NonceState.PREVIOUS, id="end-of-next-step"),
    pytest.param(2 * STEP, NonceState.INVALID, id="two-steps-later"),
    pytest.param(-STEP, NonceState.INVALID, id="from-the-future"),
]


@pytest.mark.parametrize(("age", "state"), AGES)
def test_a_nonce_is_accepted_in_its_step_and_the_next(age: int, state: NonceState) -> None:
    start = 5_666_666 * STEP  # the start of a step
    nonce = _nonces().current(start)
    assert _nonces().check(nonce, start + age) is state  # another instance, same secret


@pytest.mark.parametrize(
    "nonce",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("x" * 32, id="not-base64url-of-ours"),
        pytest.param(
            DPoPNonces(secret=b"o" * 16 + SECRET, step_seconds=STEP).current(0), id="other-secret"
        ),
        pytest.param(7, id="a-number"),
        pytest.param("é" * 32, id="not-ascii"),
    ],
)
def test_anything_else_is_not_a_nonce(nonce: object) -> None:
    assert _nonces().check(nonce, 0) is NonceState.INVALID


def test_a_previous_nonce_is_accepted_and_the_answer_offers_the_current_one() -> None:
    clock = FakeClock(5_666_666 * STEP + 10)
    settings = JWTSettings(
        **DPOP_SETTINGS, dpop_nonce=True, dpop_nonce_secret=SECRET.decode(), leeway_seconds=0
    )
    authenticator = DPoPAuthenticator.from_settings(settings, clock=clock)
    app = build_app(settings, authenticators=[authenticator])
    key = PyJWTKey()
    token = bound_token(key.jkt)
    old = _nonces().current(clock.now)

    def send(nonce: str) -> Answer:
        proof = key.proof(token=token, nonce=nonce, iat=int(clock.now))
        return call(
            app, http_scope("/private", headers=dpop_headers(token, proof), raw_path=b"/private")
        )

    current = send(old)
    assert current.status == 200
    assert "dpop-nonce" not in current.headers
    clock.advance(STEP)
    previous = send(old)
    assert previous.status == 200
    fresh = previous.headers["dpop-nonce"]
    assert previous.headers["access-control-expose-headers"] == "DPoP-Nonce"
    assert fresh != old
    assert _nonces().check(fresh, clock.now) is NonceState.CURRENT
    clock.advance(STEP)
    expired = send(old)
    assert (expired.status, expired.headers["dpop-nonce"]) == (401, _nonces().current(clock.now))
    assert 'error="use_dpop_nonce"' in expired.headers["www-authenticate"]
    assert send(expired.headers["dpop-nonce"]).status == 200


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        pytest.param({"dpop_nonce": True}, "JWT_DPOP_NONCE_SECRET", id="no-secret"),
        pytest.param(
            {"dpop_nonce": True, "dpop_nonce_secret": "short"}, "JWT_DPOP_NONCE_SECRET", id="short"
        ),
        pytest.param(
            {"dpop_nonce": True, "dpop_nonce_secret": "a" * 40}, "JWT_DPOP_NONCE_SECRET", id="weak"
        ),
        pytest.param({"dpop_base_url": None}, "JWT_DPOP_BASE_URL", id="no-base-url"),
        pytest.param({"dpop_base_url": "api.example.com"}, "JWT_DPOP_BASE_URL", id="not-a-url"),
        pytest.param(
            {"dpop_base_url": "https://api.example.com/?q=1"}, "JWT_DPOP_BASE_URL", id="query"
        ),
        pytest.param({"dpop_algorithms": ["HS256"]}, "JWT_DPOP_ALGORITHMS", id="hmac"),
        pytest.param({"dpop_algorithms": ["none"]}, "JWT_DPOP_ALGORITHMS", id="none"),
        pytest.param(
            {"dpop_enabled": False, "dpop_required": True}, "JWT_DPOP_ENABLED", id="required-off"
        ),
        pytest.param({"dpop_proof_seconds": 0}, "JWT_DPOP_PROOF_SECONDS", id="no-window"),
    ],
)
def test_a_dpop_configuration_that_cannot_work_names_its_variable(
    changes: dict[str, object], variable: str
) -> None:
    settings = {**DPOP_SETTINGS, **changes}
    with pytest.raises(ValueError, match=variable) as raised:
        JWTAuthMiddleware(build_app(JWTSettings(**settings)))
    assert "short" not in str(raised.value)
    assert "a" * 40 not in str(raised.value)


NONCES = JWTSettings(**DPOP_SETTINGS, dpop_nonce=True, dpop_nonce_secret=SECRET.decode())
NO_NONCES = JWTSettings(**DPOP_SETTINGS)
BEARER_ONLY = JWTSettings(**DPOP_SETTINGS | {"dpop_enabled": False}, mtls_enabled=True)


class _AppsOwn:
    """An authenticator of the app's own (wrapping a DPoP one, say) that leaves a nonce."""

    bearer_methods = ()

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        scope[FRESH_NONCE_SCOPE_KEY] = "nonce-of-the-app"
        return VerifiedToken(freeze({"sub": "app"}), "app", (), None, math.inf)

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        verified = self.authenticate_now(scope)
        assert verified is not None
        return verified

    async def prefetch(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def _bearer() -> BearerAuthenticator:
    return BearerAuthenticator(TokenVerifier(BEARER_ONLY))


@pytest.mark.parametrize(
    ("authenticators", "offers"),
    [
        pytest.param(lambda: [_bearer()], False, id="bearer"),
        pytest.param(
            lambda: [
                CertificateBoundAuthenticator.from_settings(BEARER_ONLY),
                CookieAuthenticator(TokenVerifier(BEARER_ONLY), cookie_name="access"),
            ],
            False,
            id="certificate-bound-and-cookie",
        ),
        pytest.param(
            lambda: [DPoPAuthenticator.from_settings(NO_NONCES), _bearer()], False, id="no-nonces"
        ),
        pytest.param(lambda: [DPoPAuthenticator.from_settings(NONCES)], True, id="nonces"),
        pytest.param(
            lambda: [_bearer(), AuthenticatorChain([DPoPAuthenticator.from_settings(NONCES)])],
            True,
            id="nonces-in-a-chain",
        ),
        pytest.param(lambda: [_bearer(), _AppsOwn()], True, id="the-apps-own"),
    ],
)
def test_which_authenticators_may_leave_a_nonce(
    authenticators: Callable[[], list[Authenticator]], offers: bool
) -> None:
    assert offers_dpop_nonces(authenticators()) is offers


@pytest.mark.parametrize(
    ("settings", "authenticators", "offered"),
    [
        pytest.param(BEARER_ONLY, None, None, id="dpop-off"),
        pytest.param(NO_NONCES, None, None, id="dpop-without-nonces"),
        pytest.param(BEARER_ONLY, [_AppsOwn()], "nonce-of-the-app", id="the-apps-own"),
    ],
)
def test_a_nonce_is_offered_only_where_an_authenticator_may_leave_one(
    settings: JWTSettings, authenticators: list[Authenticator] | None, offered: str | None
) -> None:
    """Fails if a middleware without nonces still reads the scope for one (what every
    request paid for, DPoP off), or if one of the app's own authenticators loses its."""
    app = build_app(settings, authenticators=authenticators)
    scope = http_scope("/private", headers=scope_headers(bearer(bound_token(None))))
    scope[FRESH_NONCE_SCOPE_KEY] = "put-there-before"
    answer = call(app, scope)
    assert answer.status == 200
    assert answer.headers.get("dpop-nonce") == offered
