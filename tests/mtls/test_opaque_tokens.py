"""Opaque tokens bound to a TLS client certificate (RFC 8705 section 3.2): the
introspection answer carries ``cnf.x5t#S256``, and with mTLS on the token passes only with
that certificate, compared on every request, remembered answer or not; without mTLS, or
bound to anything else, it is refused as a bound JWT is on the bearer path. Answers come
from an endpoint in memory (:mod:`tests.introspection`) and from the fake provider over
HTTP (its ``mint_opaque(certificate=...)``); the certificates are the tests' own."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from starlette.types import ASGIApp, Message

from jwt_middleware.explain import run
from jwt_middleware.refusals import Reason
from jwt_middleware.testing import FakeIssuer
from tests.asgi import Answer, call, receive_body
from tests.helpers import build_app
from tests.introspection import (
    OPAQUE,
    FakeEndpoint,
    active,
    assert_answered,
    introspected_app,
    introspection_settings,
)
from tests.mtls.certificates import PKI
from tests.mtls.requests import request, tls

_ALICE = {"x5t#S256": PKI.alice.x5t}
_INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'

#: (JWT_MTLS_ENABLED, the answer's cnf, the certificate the request comes with, the reason
#: it is refused with; None: accepted).
CASES = [
    pytest.param(True, _ALICE, PKI.alice.pem, None, id="its-certificate"),
    pytest.param(True, _ALICE, PKI.mallory.pem, Reason.CERTIFICATE_MISMATCH, id="another"),
    pytest.param(True, _ALICE, None, Reason.CERTIFICATE_MISSING, id="no-certificate"),
    pytest.param(
        True, _ALICE | {"jkt": "k"}, PKI.alice.pem, Reason.BOUND_TOKEN, id="also-a-dpop-key"
    ),
    pytest.param(True, {"x5t#S256": 7}, PKI.alice.pem, Reason.MALFORMED_CLAIM, id="not-a-string"),
    pytest.param(True, {"jkt": "k"}, PKI.alice.pem, Reason.BOUND_TOKEN, id="dpop-key-only"),
    pytest.param(False, _ALICE, PKI.alice.pem, Reason.BOUND_TOKEN, id="mtls-off"),
]


@pytest.mark.parametrize(("mtls", "cnf", "certificate", "reason"), CASES)
def test_a_bound_opaque_token_passes_only_with_its_certificate(
    caplog: pytest.LogCaptureFixture,
    mtls: bool,
    cnf: dict[str, Any],
    certificate: str | None,
    reason: Reason | None,
) -> None:
    endpoint = FakeEndpoint({OPAQUE: active(cnf=cnf)})
    app, _ = introspected_app(endpoint, introspection_settings(mtls_enabled=mtls))
    caplog.set_level(logging.INFO, logger="jwt_middleware.refusals")
    extensions = tls(certificate) if certificate is not None else None
    answer = call(app, request(OPAQUE, extensions=extensions))
    assert_answered(answer, caplog.messages, reason, _INVALID_TOKEN)
    # explain, given the same token and certificate, reports the same reason.
    again, _ = introspected_app(endpoint, introspection_settings(mtls_enabled=mtls))
    explained = run(again, token=OPAQUE, path="/private", client_certificate=certificate)
    assert explained.reason == (reason.value if reason is not None else None)
    assert explained.status == answer.status


def test_a_remembered_answer_still_needs_the_certificate() -> None:
    """The cache holds the answer, never the certificate: one call, compared each time."""
    endpoint = FakeEndpoint({OPAQUE: active(cnf=_ALICE)})
    app, introspector = introspected_app(endpoint, introspection_settings(mtls_enabled=True))
    assert call(app, request(OPAQUE, extensions=tls(PKI.alice.pem))).status == 200
    assert call(app, request(OPAQUE, extensions=tls(PKI.mallory.pem))).status == 401
    assert call(app, request(OPAQUE)).status == 401
    assert call(app, request(OPAQUE, extensions=tls(PKI.alice.pem))).status == 200
    assert introspector.calls == 1


def _answers(app: ASGIApp, scopes: list[dict[str, Any]]) -> list[Answer]:
    """The answers to ``scopes``, sent one after the other in one event loop (the
    middleware's HTTP client to the provider lives in one)."""

    async def run() -> list[Answer]:
        answers = []
        for scope in scopes:
            answer = Answer(status=0)

            async def send(message: Message, answer: Answer = answer) -> None:
                if message["type"] == "http.response.start":
                    answer.status = message["status"]
                else:
                    answer.body += message.get("body", b"")

            await app(scope, receive_body(b""), send)
            answers.append(answer)
        return answers

    return asyncio.run(run())


def test_the_fake_provider_mints_a_bound_opaque_token() -> None:
    """``mint_opaque(certificate=...)``: its answer names the certificate; the middleware
    as assembled from settings (the certificate-bound path in front) takes it to the
    endpoint over HTTP, found by discovery, and accepts it with that certificate alone."""
    with FakeIssuer() as issuer:
        token = issuer.mint_opaque("alice", certificate=PKI.alice.certificate)
        plain = issuer.mint_opaque("bob")
        app = build_app(issuer.settings(introspection=True, mtls_enabled=True))
        alice, mallory, bob = _answers(
            app,
            [
                request(token, extensions=tls(PKI.alice.pem)),
                request(token, extensions=tls(PKI.mallory.pem)),
                request(plain),
            ],
        )
        assert issuer.requests.introspection == 2
    assert (alice.status, alice.json()["user_id"]) == (200, "alice")
    assert mallory.status == 401
    assert (bob.status, bob.json()["user_id"]) == (200, "bob")


def test_the_fake_provider_binds_a_jwt_to_a_certificate_too() -> None:
    with FakeIssuer() as issuer:
        token = issuer.mint("alice", certificate=PKI.alice.certificate)
        app = build_app(issuer.settings(mtls_enabled=True))
        alice, mallory = _answers(
            app,
            [
                request(token, extensions=tls(PKI.alice.pem)),
                request(token, extensions=tls(PKI.mallory.pem)),
            ],
        )
    assert (alice.status, mallory.status) == (200, 401)


def test_certificate_bound_opaque_tokens_pass_where_a_certificate_is_required() -> None:
    """With ``JWT_MTLS_REQUIRED``, introspection stays on (an answer can bind an opaque
    token to a certificate): the bound token passes with its certificate, and a plain
    opaque token is refused as any unbound token is there."""
    with FakeIssuer() as issuer:
        token = issuer.mint_opaque("alice", certificate=PKI.alice.certificate)
        plain = issuer.mint_opaque("bob")
        settings = issuer.settings(introspection=True, mtls_enabled=True, mtls_required=True)
        alice, mallory, bob = _answers(
            build_app(settings),
            [
                request(token, extensions=tls(PKI.alice.pem)),
                request(token, extensions=tls(PKI.mallory.pem)),
                request(plain, extensions=tls(PKI.alice.pem)),
            ],
        )
    assert (alice.status, alice.json()["user_id"]) == (200, "alice")
    assert mallory.status == 401
    assert bob.status == 401
    assert "certificate-bound access tokens only" in bob.json()["detail"]
