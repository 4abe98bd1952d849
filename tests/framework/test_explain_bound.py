"""``explain`` for sender-constrained tokens: DPoP (RFC 9449) and certificate-bound (RFC
8705). Each request of the table goes to a server's app as a server hands it (headers,
the ``tls`` extension), and through ``explain`` on another app of the same configuration;
the reason explain reports must be the one the server logged, with the same status and
challenge. The proofs and tokens are the tests' own (PyJWT), the certificates too.
A proof's replay is not knowable to explain: it says so, and leaves the server's replay
memory as it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import pytest
from starlette.applications import Starlette

from jwt_middleware import JWTSettings
from jwt_middleware.explain import REPLAY_NOT_KNOWABLE, Explanation, run
from jwt_middleware.refusals import Reason
from tests.asgi import Answer, call, http_scope
from tests.dpop.proofs import BASE_URL, DPOP_SETTINGS, PyJWTKey, bound_token
from tests.helpers import OTHER_SECRET, build_app
from tests.mtls.certificates import PKI
from tests.processes import explain_command

KEY = PyJWTKey()
OTHER_KEY = PyJWTKey()
#: Bound to KEY; bound to OTHER_KEY; bound to nothing; bound to alice's certificate; bound
#: to KEY and alice's certificate both.
TOKEN: Final = bound_token(KEY.jkt)
OTHER_KEYS_TOKEN: Final = bound_token(OTHER_KEY.jkt)
UNBOUND: Final = bound_token(None)
ALICE: Final = bound_token(None, cnf={"x5t#S256": PKI.alice.x5t})
BOTH: Final = bound_token(None, cnf={"jkt": KEY.jkt, "x5t#S256": PKI.alice.x5t})
GARBLED_PEM: Final = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


def settings() -> JWTSettings:
    """DPoP and certificate-bound tokens both on."""
    return JWTSettings(**DPOP_SETTINGS, mtls_enabled=True)


#: The app the command imports (``tests.framework.test_explain_bound:app``).
app = build_app(settings())


@dataclass(frozen=True)
class Sent:
    """One request: its token and scheme, its DPoP proofs, its client certificate."""

    token: str
    proofs: tuple[str, ...] = ()
    scheme: str = "DPoP"
    certificate: str | None = None
    method: str = "GET"
    path: str = "/private"
    extra: dict[str, Any] = field(default_factory=dict)

    def scope(self) -> dict[str, Any]:
        """As a server that ended TLS itself hands it to the app."""
        headers = [(b"host", b"api.example.com")]
        headers.append((b"authorization", f"{self.scheme} {self.token}".encode()))
        headers += [(b"dpop", proof.encode()) for proof in self.proofs]
        extensions = None
        if self.certificate is not None:
            chain = {"client_cert_chain": [self.certificate], "client_cert_error": None}
            extensions = {"tls": chain}
        scope = http_scope(self.path, method=self.method, headers=headers, extensions=extensions)
        scope["raw_path"] = self.path.encode()
        return scope

    def explained(self, target: Starlette) -> Explanation:
        proof, *more = self.proofs or (None,)
        return run(
            target,
            token=self.token,
            method=self.method,
            path=self.path,
            scheme=self.scheme,
            dpop_proof=proof,
            headers=[("DPoP", each) for each in more if each is not None],
            client_certificate=self.certificate,
        )


def proof(**changes: Any) -> str:
    """KEY's proof for ``GET /private`` with :data:`TOKEN`, with ``changes``."""
    values: dict[str, Any] = {"token": TOKEN} | changes
    return KEY.proof(**values)


#: (the request, made when the test runs: its proofs' ``iat`` must be fresh then, not when
#: the suite was collected; the reason the server logs (None: let through); the proof check
#: that explain says failed).
CASES: Final = [
    pytest.param(lambda: Sent(TOKEN, (proof(),)), None, None, id="dpop-accepted"),
    pytest.param(lambda: Sent(TOKEN), Reason.DPOP_PROOF, None, id="no-proof"),
    pytest.param(lambda: Sent(TOKEN, (proof(), proof())), Reason.DPOP_PROOF, None, id="two-proofs"),
    pytest.param(lambda: Sent(TOKEN, ("not-a-jws",)), Reason.DPOP_PROOF, "form", id="proof-form"),
    pytest.param(
        lambda: Sent(TOKEN, (proof(header={"typ": "JWT"}),)),
        Reason.DPOP_PROOF,
        "typ",
        id="proof-typ",
    ),
    pytest.param(
        lambda: Sent(TOKEN, (proof(key=OTHER_SECRET, algorithm="HS256"),)),
        Reason.DPOP_ALGORITHM,
        "alg",
        id="proof-hmac",
    ),
    pytest.param(
        lambda: Sent(TOKEN, (proof(key=OTHER_KEY.private),)),
        Reason.DPOP_SIGNATURE,
        "signature",
        id="bad-proof-signature",
    ),
    pytest.param(lambda: Sent(TOKEN, (proof(htm="POST"),)), Reason.DPOP_REQUEST, "htm", id="htm"),
    pytest.param(
        lambda: Sent(TOKEN, (proof(htu=BASE_URL + "/other"),)), Reason.DPOP_REQUEST, "htu", id="htu"
    ),
    pytest.param(
        lambda: Sent(TOKEN, (proof(htu="https://elsewhere.example/private"),)),
        Reason.DPOP_REQUEST,
        "htu",
        id="htu-other-host",
    ),
    pytest.param(
        lambda: Sent(TOKEN, (proof(iat=int(time.time()) - 3600),)),
        Reason.DPOP_TIME,
        "iat",
        id="iat-too-old",
    ),
    pytest.param(
        lambda: Sent(TOKEN, (proof(iat=int(time.time()) + 3600),)),
        Reason.DPOP_TIME,
        "iat",
        id="iat-in-the-future",
    ),
    pytest.param(
        lambda: Sent(TOKEN, (proof(token=UNBOUND),)),
        Reason.DPOP_TOKEN_HASH,
        "ath",
        id="ath-other-token",
    ),
    pytest.param(
        lambda: Sent(TOKEN, (proof(drop=("ath",)),)),
        Reason.DPOP_TOKEN_HASH,
        "ath",
        id="ath-missing",
    ),
    pytest.param(
        lambda: Sent(OTHER_KEYS_TOKEN, (proof(token=OTHER_KEYS_TOKEN),)),
        Reason.DPOP_BINDING,
        None,
        id="cnf-jkt-mismatch",
    ),
    pytest.param(
        lambda: Sent(UNBOUND, (proof(token=UNBOUND),)), Reason.DPOP_BINDING, None, id="no-cnf-jkt"
    ),
    pytest.param(
        lambda: Sent(TOKEN, scheme="Bearer"),
        Reason.BOUND_TOKEN,
        None,
        id="dpop-token-sent-as-bearer",
    ),
    pytest.param(
        lambda: Sent(BOTH, (proof(token=BOTH),), certificate=PKI.alice.pem),
        None,
        None,
        id="dpop-and-certificate-accepted",
    ),
    pytest.param(
        lambda: Sent(BOTH, (proof(token=BOTH),), certificate=PKI.mallory.pem),
        Reason.CERTIFICATE_MISMATCH,
        None,
        id="dpop-and-another-certificate",
    ),
    pytest.param(
        lambda: Sent(ALICE, scheme="Bearer", certificate=PKI.alice.pem),
        None,
        None,
        id="certificate-accepted",
    ),
    pytest.param(
        lambda: Sent(ALICE, scheme="Bearer"),
        Reason.CERTIFICATE_MISSING,
        None,
        id="certificate-missing",
    ),
    pytest.param(
        lambda: Sent(ALICE, scheme="Bearer", certificate=PKI.mallory.pem),
        Reason.CERTIFICATE_MISMATCH,
        None,
        id="certificate-thumbprint-mismatch",
    ),
    pytest.param(
        lambda: Sent(ALICE, scheme="Bearer", certificate=GARBLED_PEM),
        Reason.CERTIFICATE_MALFORMED,
        None,
        id="certificate-malformed",
    ),
]


def _logged_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        message.removeprefix("refused: reason=").split()[0]
        for message in caplog.messages
        if message.startswith("refused: reason=")
    ]


def _served(sent: Sent, caplog: pytest.LogCaptureFixture) -> tuple[Answer, list[str]]:
    """The answer of a server's app, and the reasons it logged."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jwt_middleware.refusals"):
        answer = call(build_app(settings()), sent.scope())
    return answer, _logged_reasons(caplog)


@pytest.mark.parametrize(("make", "reason", "failed_check"), CASES)
def test_explain_reports_the_reason_the_server_logs(
    caplog: pytest.LogCaptureFixture,
    make: Callable[[], Sent],
    reason: Reason | None,
    failed_check: str | None,
) -> None:
    sent = make()
    answer, logged = _served(sent, caplog)
    assert logged == ([reason.value] if reason is not None else [])
    explanation = sent.explained(build_app(settings()))
    assert explanation.reason == (reason.value if reason is not None else None)
    assert explanation.status == answer.status
    assert explanation.let_through is (reason is None)
    shown = dict(explanation.headers)
    assert shown.get("www-authenticate") == answer.headers.get("www-authenticate")
    refused = [
        (name, outcome) for name, outcome in explanation.proof_checks if "refused" in outcome
    ]
    if failed_check is not None:
        assert refused == [(failed_check, f"refused: {reason}")]
    else:
        assert refused == []


def test_a_dpop_request_shows_the_url_its_proof_must_name() -> None:
    explanation = Sent(TOKEN, (proof(htu=BASE_URL + "/other"),)).explained(app)
    assert explanation.proof_target is not None
    assert explanation.proof_target.startswith(f"GET {BASE_URL}/private ")
    assert dict(explanation.proof_checks)["htm"] == "ok"
    assert dict(explanation.proof_checks)["iat"] == "not reached"
    assert "htu       refused: dpop_request" in explanation.render()


def test_replay_is_not_guessed_and_the_servers_memory_is_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Explained twice, the proof is still the server's to see first; the server then
    refuses it the second time, as it always does."""
    served = build_app(settings())
    sent = Sent(TOKEN, (proof(),))
    for _ in range(2):
        explanation = sent.explained(served)
        assert explanation.let_through
        assert explanation.replay == REPLAY_NOT_KNOWABLE
    assert call(served, sent.scope()).status == 200
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jwt_middleware.refusals"):
        assert call(served, sent.scope()).status == 401
    assert _logged_reasons(caplog) == [Reason.DPOP_REPLAY.value]
    assert sent.explained(served).replay == REPLAY_NOT_KNOWABLE  # still not guessed


class CountedReplay:
    """A replay memory that counts what it is asked, as a shared (Redis) one would be."""

    def __init__(self) -> None:
        self.asked = 0

    def first_use_now(self, key: bytes, *, expires_at: float) -> bool | None:
        self.asked += 1
        return True

    async def first_use(self, key: bytes, *, expires_at: float) -> bool:
        self.asked += 1
        return True

    async def aclose(self) -> None:
        """Nothing to release."""


def test_the_apps_own_replay_memory_is_never_asked() -> None:
    replay = CountedReplay()
    served = build_app(settings(), dpop_replay=replay)
    assert Sent(TOKEN, (proof(),)).explained(served).let_through
    assert replay.asked == 0
    assert call(served, Sent(TOKEN, (proof(),)).scope()).status == 200
    assert replay.asked == 1


@pytest.mark.parametrize(
    ("proofs", "said"),
    [
        pytest.param((), "0 DPoP headers sent", id="none"),
        pytest.param((proof(), proof()), "2 DPoP headers sent", id="two"),
    ],
)
def test_a_request_without_exactly_one_proof_says_so(proofs: tuple[str, ...], said: str) -> None:
    explanation = Sent(TOKEN, proofs).explained(app)
    assert explanation.proof_header is not None
    assert explanation.proof_header.startswith(said)
    assert explanation.proof_checks == []


def test_a_refused_proof_has_its_replay_not_reached() -> None:
    explanation = Sent(TOKEN, (proof(htm="POST"),)).explained(app)
    assert explanation.replay == "not reached"


def test_the_certificate_is_shown_by_its_thumbprint() -> None:
    explanation = Sent(ALICE, scheme="Bearer", certificate=PKI.mallory.pem).explained(app)
    assert explanation.certificate is not None
    assert PKI.mallory.x5t in explanation.certificate
    assert PKI.alice.x5t not in explanation.render()  # the token's cnf is not printed
    assert "why         the client certificate is not the one" in explanation.render()


@pytest.mark.parametrize(
    ("given", "code", "said"),
    [
        pytest.param(("--dpop-proof", proof), 0, "verdict     let through", id="dpop"),
        pytest.param(
            ("--dpop-proof", partial(proof, htm="POST")),
            1,
            "log         refused: reason=dpop_request",
            id="dpop-htm",
        ),
        pytest.param(
            ("--scheme", "Bearer"), 1, "log         refused: reason=bound_token", id="as-bearer"
        ),
    ],
)
def test_the_command_explains_a_dpop_request_and_never_prints_it(
    tmp_path: Path, given: tuple[str | Callable[[], str], ...], code: int, said: str
) -> None:
    # A proof is made now, not when the suite was collected: its iat must be fresh.
    options = [option if isinstance(option, str) else option() for option in given]
    (tmp_path / "token").write_text(TOKEN)
    where = "tests.framework.test_explain_bound:app"
    done = explain_command(
        where, "--path", "/private", "--token-file", str(tmp_path / "token"), *options
    )
    assert done.returncode == code, done.stderr
    assert said in done.stdout
    for secret in (TOKEN, *options):
        for part in secret.split("."):
            if len(part) > 20:
                assert part not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("certificate", "code", "said"),
    [
        pytest.param(PKI.alice.pem, 0, "verdict     let through", id="its-certificate"),
        pytest.param(
            PKI.mallory.pem, 1, "refused: reason=certificate_mismatch", id="another-certificate"
        ),
    ],
)
def test_the_command_reads_the_client_certificate_from_a_pem_file(
    tmp_path: Path, certificate: str, code: int, said: str
) -> None:
    (tmp_path / "client.pem").write_text(certificate)
    done = explain_command(
        "tests.framework.test_explain_bound:app",
        "--path",
        "/private",
        "--token",
        ALICE,
        "--client-cert",
        str(tmp_path / "client.pem"),
    )
    assert done.returncode == code, done.stderr
    assert said in done.stdout
    assert "x5t#S256" in done.stdout
