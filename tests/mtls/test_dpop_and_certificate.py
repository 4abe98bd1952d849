"""A token bound to a DPoP key and to a TLS client certificate at once (``cnf`` with
``jkt`` and ``x5t#S256``) must prove both: the DPoP path compares the certificate too, and
refuses the token while certificate-bound tokens are off, rather than skip the binding it
cannot check."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from jwt_middleware import JWTSettings
from jwt_middleware.refusals import Reason
from tests.asgi import call, http_scope
from tests.dpop.proofs import DPOP_SETTINGS, PyJWTKey, bound_token, dpop_headers
from tests.helpers import build_app
from tests.mtls.certificates import PKI
from tests.mtls.requests import tls

KEY = PyJWTKey()


@pytest.mark.parametrize(
    ("mtls_enabled", "presented", "status", "reason"),
    [
        pytest.param(True, PKI.alice.pem, 200, None, id="both-proved"),
        pytest.param(True, PKI.mallory.pem, 401, Reason.CERTIFICATE_MISMATCH, id="other-cert"),
        pytest.param(True, None, 401, Reason.CERTIFICATE_MISSING, id="no-certificate"),
        pytest.param(False, PKI.alice.pem, 401, Reason.BOUND_TOKEN, id="mtls-off"),
    ],
)
def test_a_token_bound_twice_proves_both(
    caplog: pytest.LogCaptureFixture,
    mtls_enabled: bool,
    presented: str | None,
    status: int,
    reason: Reason | None,
) -> None:
    app = build_app(JWTSettings(**DPOP_SETTINGS, mtls_enabled=mtls_enabled))
    token = bound_token(None, cnf={"jkt": KEY.jkt, "x5t#S256": PKI.alice.x5t})
    extensions: dict[str, Any] | None = tls(presented) if presented else None
    scope = http_scope(
        "/private",
        headers=dpop_headers(token, KEY.proof(token=token)),
        raw_path=b"/private",
        extensions=extensions,
    )
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    answer = call(app, scope)
    assert answer.status == status
    if reason is None:
        assert answer.json()["user_id"] == "user-1"
    else:
        assert answer.headers["www-authenticate"].startswith(
            'DPoP realm="api", error="invalid_token", '
            'error_description="The access token is invalid."'
        )
        assert [r.getMessage() for r in caplog.records] == [f"refused: reason={reason.value}"]
