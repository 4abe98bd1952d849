"""Each check of a DPoP request, refused on its own: a proof good in every way but one,
made with PyJWT by the tests, answered 401 with the DPoP challenge RFC 9449 section 7.1
describes, and logged once with its reason."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from jwt_middleware import JWTSettings
from jwt_middleware.refusals import Reason
from tests.asgi import call, http_scope
from tests.dpop.proofs import (
    BASE_URL,
    DPOP_SETTINGS,
    PRIVATE_URL,
    PyJWTKey,
    bound_token,
    dpop_headers,
)
from tests.helpers import OTHER_SECRET, b64url_json, build_app

KEY = PyJWTKey()
OTHER_KEY = PyJWTKey()
TOKEN = bound_token(KEY.jkt)

#: A request: (its headers, the method and path it is sent with).
Request = tuple[list[tuple[bytes, bytes]], str, str]


def _request(proof: Callable[[], str], *, token: str = TOKEN, method: str = "GET") -> Request:
    return dpop_headers(token, proof()), method, "/private"


def _two_proofs() -> Request:
    return dpop_headers(TOKEN, KEY.proof(token=TOKEN), KEY.proof(token=TOKEN)), "GET", "/private"


def _no_proof() -> Request:
    return dpop_headers(TOKEN), "GET", "/private"


def _none_alg() -> str:
    header = {"typ": "dpop+jwt", "jwk": KEY.jwk}
    payload = {"jti": "n", "htm": "GET", "htu": PRIVATE_URL, "iat": int(time.time())}
    signing_input = f"{b64url_json({'alg': 'none', **header})}.{b64url_json(payload)}"
    return signing_input + "."


def _hs256() -> str:
    return KEY.proof(token=TOKEN, key=OTHER_SECRET, algorithm="HS256")


#: (the request, the reason, the error code in the DPoP challenge).
CASES: list[Any] = [
    pytest.param(_no_proof, Reason.DPOP_PROOF, "invalid_dpop_proof", id="no-proof"),
    pytest.param(_two_proofs, Reason.DPOP_PROOF, "invalid_dpop_proof", id="two-dpop-headers"),
    pytest.param(
        lambda: _request(lambda: "not-a-jws"), Reason.DPOP_PROOF, "invalid_dpop_proof", id="form"
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=TOKEN, header={"typ": "JWT"})),
        Reason.DPOP_PROOF,
        "invalid_dpop_proof",
        id="typ",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=TOKEN, header={"jwk": KEY.private_jwk})),
        Reason.DPOP_PROOF,
        "invalid_dpop_proof",
        id="private-key-in-jwk",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=TOKEN, header={"jwk": {"kty": "oct", "k": "a"}})),
        Reason.DPOP_PROOF,
        "invalid_dpop_proof",
        id="symmetric-jwk",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=TOKEN, header={"jwk": None})),
        Reason.DPOP_PROOF,
        "invalid_dpop_proof",
        id="no-jwk",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=TOKEN, drop=("jti",))),
        Reason.DPOP_PROOF,
        "invalid_dpop_proof",
        id="no-jti",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=TOKEN, jti="j" * 257)),
        Reason.DPOP_PROOF,
        "invalid_dpop_proof",
        id="jti-too-long",
    ),
    pytest.param(
        lambda: _request(_none_alg), Reason.DPOP_ALGORITHM, "invalid_dpop_proof", id="alg-none"
    ),
    pytest.param(
        lambda: _request(_hs256), Reason.DPOP_ALGORITHM, "invalid_dpop_proof", id="alg-hs256"
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=TOKEN, key=OTHER_KEY.private)),
        Reason.DPOP_SIGNATURE,
        "invalid_dpop_proof",
        id="signed-by-another-key",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof("POST", token=TOKEN)),
        Reason.DPOP_REQUEST,
        "invalid_dpop_proof",
        id="wrong-htm",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(htu=BASE_URL + "/other", token=TOKEN)),
        Reason.DPOP_REQUEST,
        "invalid_dpop_proof",
        id="wrong-htu-path",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(htu="https://evil.example/private", token=TOKEN)),
        Reason.DPOP_REQUEST,
        "invalid_dpop_proof",
        id="wrong-htu-host",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(htu="http://api.example.com/private", token=TOKEN)),
        Reason.DPOP_REQUEST,
        "invalid_dpop_proof",
        id="wrong-htu-scheme",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=TOKEN, iat=int(time.time()) - 3600)),
        Reason.DPOP_TIME,
        "invalid_dpop_proof",
        id="iat-too-old",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=TOKEN, iat=int(time.time()) + 3600)),
        Reason.DPOP_TIME,
        "invalid_dpop_proof",
        id="iat-in-the-future",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=TOKEN, iat="now")),
        Reason.DPOP_TIME,
        "invalid_dpop_proof",
        id="iat-not-a-number",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=bound_token(KEY.jkt, jti="other"))),
        Reason.DPOP_TOKEN_HASH,
        "invalid_dpop_proof",
        id="ath-of-another-token",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof()),
        Reason.DPOP_TOKEN_HASH,
        "invalid_dpop_proof",
        id="no-ath",
    ),
    pytest.param(
        lambda: _request(
            lambda: KEY.proof(token=bound_token(OTHER_KEY.jkt)), token=bound_token(OTHER_KEY.jkt)
        ),
        Reason.DPOP_BINDING,
        "invalid_token",
        id="jkt-of-another-key",
    ),
    pytest.param(
        lambda: _request(lambda: KEY.proof(token=bound_token(None)), token=bound_token(None)),
        Reason.DPOP_BINDING,
        "invalid_token",
        id="token-not-bound",
    ),
    pytest.param(
        lambda: _request(
            lambda: KEY.proof(token=bound_token(KEY.jkt, exp=1_000_000_000)),
            token=bound_token(KEY.jkt, exp=1_000_000_000),
        ),
        Reason.EXPIRED,
        "invalid_token",
        id="token-expired",
    ),
]


@pytest.mark.parametrize(("request_of", "reason", "error"), CASES)
def test_a_request_failing_one_check_is_refused_with_its_reason(
    caplog: pytest.LogCaptureFixture,
    request_of: Callable[[], Request],
    reason: Reason,
    error: str,
) -> None:
    app = build_app(JWTSettings(**DPOP_SETTINGS))
    headers, method, path = request_of()
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    answer = call(app, http_scope(path, method=method, headers=headers, raw_path=path.encode()))
    assert answer.status == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith(f'DPoP realm="api", error="{error}", error_description="')
    assert 'algs="ES256 EdDSA Ed25519 PS256 RS256"' in challenge
    assert challenge.endswith(', Bearer realm="api"')  # bearer tokens are accepted too
    lines = [r.getMessage() for r in caplog.records if r.name == "jwt_middleware.refusals"]
    assert [line.split(" issuer=")[0] for line in lines] == [f"refused: reason={reason.value}"]


def test_a_replayed_proof_is_refused() -> None:
    app = build_app(JWTSettings(**DPOP_SETTINGS))
    headers = dpop_headers(TOKEN, KEY.proof(token=TOKEN))
    first = call(app, http_scope("/private", headers=headers, raw_path=b"/private"))
    again = call(app, http_scope("/private", headers=headers, raw_path=b"/private"))
    assert (first.status, first.json()["user_id"]) == (200, "user-1")
    assert again.status == 401
    assert 'error="invalid_dpop_proof"' in again.headers["www-authenticate"]


def test_a_proof_is_refused_at_another_path_even_with_the_token_cached() -> None:
    """The token is in the DPoP verifier's cache after the first request; the proof is
    never cached, so one made for another URL is still refused."""
    app = build_app(JWTSettings(**DPOP_SETTINGS))
    good = dpop_headers(TOKEN, KEY.proof(token=TOKEN))
    assert call(app, http_scope("/private", headers=good, raw_path=b"/private")).status == 200
    for proof in (
        KEY.proof(htu=BASE_URL + "/posts", token=TOKEN),
        KEY.proof("POST", token=TOKEN),
    ):
        answer = call(
            app, http_scope("/private", headers=dpop_headers(TOKEN, proof), raw_path=b"/private")
        )
        assert answer.status == 401


def _replayed(app: Any) -> list[tuple[bytes, bytes]]:
    headers = dpop_headers(TOKEN, KEY.proof(token=TOKEN))
    assert call(app, http_scope("/private", headers=headers, raw_path=b"/private")).status == 200
    return headers


def _without_nonce(app: Any) -> list[tuple[bytes, bytes]]:
    return dpop_headers(TOKEN, KEY.proof(token=TOKEN))


def _bearer_when_required(app: Any) -> list[tuple[bytes, bytes]]:
    return dpop_headers(bound_token(None), scheme="Bearer")


#: Refusals that need more than one bad proof: (settings beyond DPOP_SETTINGS, the
#: request's headers made against the app, the reason logged).
STATEFUL_CASES: list[Any] = [
    pytest.param({}, _replayed, Reason.DPOP_REPLAY, id="replay"),
    pytest.param(
        {"dpop_nonce": True, "dpop_nonce_secret": "9f1e27c4b05a8d36e2c17b49a0d5f3e8c6b2a417"},
        _without_nonce,
        Reason.DPOP_NONCE,
        id="nonce",
    ),
    pytest.param(
        {"dpop_required": True}, _bearer_when_required, Reason.DPOP_REQUIRED, id="required"
    ),
]


@pytest.mark.parametrize(("changes", "headers_of", "reason"), STATEFUL_CASES)
def test_the_stateful_refusals_are_logged_with_their_reason(
    caplog: pytest.LogCaptureFixture,
    changes: dict[str, Any],
    headers_of: Callable[[Any], list[tuple[bytes, bytes]]],
    reason: Reason,
) -> None:
    app = build_app(JWTSettings(**{**DPOP_SETTINGS, **changes}))
    headers = headers_of(app)
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    answer = call(app, http_scope("/private", headers=headers, raw_path=b"/private"))
    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith("DPoP ")
    lines = [r.getMessage() for r in caplog.records if r.name == "jwt_middleware.refusals"]
    assert lines == [f"refused: reason={reason.value}"]
